"""moeids.flows.read_pcap on the committed real captures (tests/data/pcaps, see PROVENANCE.md).

Expected counts were checked against an independent reading of the same files with dpkt: every
packet is IPv4 over Ethernet; the captures hold 9, 1, 1, 1994 and 1 distinct 5-tuples, and the
SSH conversation is split in two flows by NFStream's 120 s idle timeout (a 166 s pause).
"""

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("nfstream")

from moeids.flows import read_pcap  # noqa: E402

PCAPS = Path(__file__).parent / "data" / "pcaps"
# capture -> (flows, packets)
EXPECTED = {
    "WebattackSQLinj.pcap": (9, 94),
    "one_flow.pcap": (1, 19),
    "ssh.pcap": (2, 258),
    "synscan.pcap": (1994, 2011),
    "trickbot.pcap": (1, 74),
}


def test_read_pcap_returns_features_and_5_tuple_apart():
    flows = read_pcap(PCAPS / "WebattackSQLinj.pcap", names="extractor")
    assert len(flows.data) == len(flows.metadata) == 9
    five = flows.metadata[["src_ip", "src_port", "dst_ip", "dst_port", "protocol"]]
    assert set(five["src_ip"]) == {"172.16.0.1"}
    assert set(five["dst_ip"]) == {"192.168.10.50"}
    assert set(five["dst_port"]) == {80} and set(five["protocol"]) == {6}
    assert five["src_port"].tolist() == list(range(36196, 36213, 2))
    for identifier in ("src_ip", "dst_ip", "src_port", "src_mac", "bidirectional_first_seen_ms"):
        assert identifier not in flows.data.columns
    assert {"dst_port", "protocol", "bidirectional_duration_ms"} <= set(flows.data.columns)
    assert flows.feature_names == list(flows.data.columns)
    start = flows.metadata["first_seen"]
    assert start.is_monotonic_increasing
    assert start.iloc[0] == pd.Timestamp("2017-07-06 13:40:07.419", tz="UTC")
    assert (flows.metadata["last_seen"] >= start).all()
    assert not flows.data.isna().any().any()


def test_read_pcap_on_a_folder_counts_every_flow_and_packet():
    flows = read_pcap(PCAPS, names="extractor")
    per_capture = flows.data.groupby(flows.metadata["capture"])
    assert per_capture.size().to_dict() == {k: v[0] for k, v in EXPECTED.items()}
    packets = per_capture["bidirectional_packets"].sum().to_dict()
    assert packets == {k: v[1] for k, v in EXPECTED.items()}
    assert flows.data.index.equals(pd.RangeIndex(len(flows.data)))
    assert "synscan.pcap (1994 flows)" in flows.DESCR


def test_read_pcap_passes_options_to_the_extractor():
    # with a 300 s idle timeout the SSH session's 166 s pause no longer splits it
    flows = read_pcap(PCAPS / "ssh.pcap", names="extractor", idle_timeout=300)
    assert len(flows.data) == 1
    assert flows.data["bidirectional_packets"].item() == 258


def test_read_pcap_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="extractor must be one of"):
        read_pcap(PCAPS / "one_flow.pcap", extractor="zeek")
    with pytest.raises(ValueError, match="names must be"):
        read_pcap(PCAPS / "one_flow.pcap", names="zeek")
    with pytest.raises(ValueError, match="Python >= 3.12"):
        read_pcap(PCAPS / "one_flow.pcap", extractor="cicflowmeter")
    with pytest.raises(FileNotFoundError, match="no_such.pcap"):
        read_pcap(tmp_path / "no_such.pcap")
    with pytest.raises(ValueError, match="holds no .pcap"):
        read_pcap(tmp_path)
    text = tmp_path / "notes.pcap"
    text.write_text("not a capture")
    with pytest.raises(ValueError, match="notes.pcap: cannot read as a packet capture"):
        read_pcap(text)


def test_missing_nfstream_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nfstream", None)
    with pytest.raises(ImportError, match=r"moeids\[flows\]"):
        read_pcap(PCAPS / "one_flow.pcap")
