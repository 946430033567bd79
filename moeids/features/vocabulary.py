"""One feature vocabulary for flow extractors: canonical names and per-extractor profiles.

This module is data. The canonical names are those of CICFlowMeter 4 as used for the
corrected CIC-IDS2017 re-extraction (Engelen et al., WTMC 2021): the names a model trained on
the public CSVs knows. Each :class:`Profile` says, for one extractor, which of its column names
means which canonical feature, the factor that converts its unit to the canonical one, values
that encode something else by convention (``-1`` for "no TCP window"), and the features it
computes with other semantics than the reference (``variants``); a canonical feature it does
not name at all is ``unavailable``. :mod:`moeids.features.canonical` applies a profile.

Sources (read, not guessed): CICFlowMeter 4 ``FlowFeature.java`` and ``BasicFlow.java``
(github.com/ahlashkari/CICFlowMeter), the corrected tool's README
(github.com/GintsEngelen/CICFlowMeter), the original MachineLearningCVE CSV headers
(``tests/data/cic_ids2017``), the ``cicflowmeter`` package 0.4.x ``flow.py``
(github.com/hieulw/cicflowmeter), NFStream's ``flow.py`` and ``streamer.py``
(github.com/nfstream/nfstream), Zeek's ``conn.log`` fields and the Cisco NetFlow v5 record.
``docs/preprocessing.md`` explains each entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

__all__ = [
    "CANONICAL_FEATURES",
    "CANONICAL_IDENTIFIERS",
    "PROFILES",
    "REFERENCE",
    "Profile",
]

#: Canonical feature names, in the corrected CIC-IDS2017 files' column order.
CANONICAL_FEATURES = (
    "Dst Port", "Protocol", "Flow Duration", "Total Fwd Packet", "Total Bwd packets",
    "Total Length of Fwd Packet", "Total Length of Bwd Packet", "Fwd Packet Length Max",
    "Fwd Packet Length Min", "Fwd Packet Length Mean", "Fwd Packet Length Std",
    "Bwd Packet Length Max", "Bwd Packet Length Min", "Bwd Packet Length Mean",
    "Bwd Packet Length Std", "Flow Bytes/s", "Flow Packets/s", "Flow IAT Mean", "Flow IAT Std",
    "Flow IAT Max", "Flow IAT Min", "Fwd IAT Total", "Fwd IAT Mean", "Fwd IAT Std", "Fwd IAT Max",
    "Fwd IAT Min", "Bwd IAT Total", "Bwd IAT Mean", "Bwd IAT Std", "Bwd IAT Max", "Bwd IAT Min",
    "Fwd PSH Flags", "Bwd PSH Flags", "Fwd URG Flags", "Bwd URG Flags", "Fwd RST Flags",
    "Bwd RST Flags", "Fwd Header Length", "Bwd Header Length", "Fwd Packets/s", "Bwd Packets/s",
    "Packet Length Min", "Packet Length Max", "Packet Length Mean", "Packet Length Std",
    "Packet Length Variance", "FIN Flag Count", "SYN Flag Count", "RST Flag Count",
    "PSH Flag Count", "ACK Flag Count", "URG Flag Count", "CWR Flag Count", "ECE Flag Count",
    "Down/Up Ratio", "Average Packet Size", "Fwd Segment Size Avg", "Bwd Segment Size Avg",
    "Fwd Bytes/Bulk Avg", "Fwd Packet/Bulk Avg", "Fwd Bulk Rate Avg", "Bwd Bytes/Bulk Avg",
    "Bwd Packet/Bulk Avg", "Bwd Bulk Rate Avg", "Subflow Fwd Packets", "Subflow Fwd Bytes",
    "Subflow Bwd Packets", "Subflow Bwd Bytes", "FWD Init Win Bytes", "Bwd Init Win Bytes",
    "Fwd Act Data Pkts", "Fwd Seg Size Min", "Active Mean", "Active Std", "Active Max",
    "Active Min", "Idle Mean", "Idle Std", "Idle Max", "Idle Min", "ICMP Code", "ICMP Type",
    "Total TCP Flow Time",
)  # fmt: skip

#: Canonical identifier columns: kept apart as metadata, never features.
CANONICAL_IDENTIFIERS = ("Flow ID", "Src IP", "Src Port", "Dst IP", "Timestamp")

#: Name of the reference profile: its semantics define the canonical features.
REFERENCE = "cicflowmeter-4"


@dataclass(frozen=True)
class Profile:
    """What one flow extractor writes, in terms of the canonical vocabulary.

    Parameters
    ----------
    name : str
        Key in :data:`PROFILES`.
    description : str
        The extractor and version, in words.
    names : mapping of str to str
        Extractor column name -> canonical name (features and identifiers).
    units : mapping of str to float
        Canonical name -> factor that converts the extractor's value to the canonical unit
        (microseconds for durations, inter-arrival, active and idle times).
    values : mapping of str to mapping
        Canonical name -> {extractor value: canonical value} for values that encode something
        by convention (applied before the unit factor).
    variants : mapping of str to str
        Canonical name -> how this extractor computes it where that differs from the
        reference; two profiles agree on a feature when their entries are equal (or absent).

    Examples
    --------
    >>> from moeids.features import PROFILES
    >>> profile = PROFILES["nfstream"]
    >>> profile.names["src_ip"], profile.units["Flow Duration"]
    ('Src IP', 1000.0)
    """

    name: str
    description: str
    names: Mapping[str, str]
    units: Mapping[str, float] = field(default_factory=dict)
    values: Mapping[str, Mapping] = field(default_factory=dict)
    variants: Mapping[str, str] = field(default_factory=dict)

    @property
    def unavailable(self) -> tuple[str, ...]:
        """Canonical features this extractor does not produce, in canonical order."""
        produced = set(self.names.values())
        return tuple(f for f in CANONICAL_FEATURES if f not in produced)


_US_PER_S, _US_PER_MS = 1e6, 1e3
_TIMES = tuple(
    f"{prefix} {stat}"
    for prefix, stats in (
        ("Flow IAT", ("Mean", "Std", "Max", "Min")),
        ("Fwd IAT", ("Total", "Mean", "Std", "Max", "Min")),
        ("Bwd IAT", ("Total", "Mean", "Std", "Max", "Min")),
        ("Active", ("Mean", "Std", "Max", "Min")),
        ("Idle", ("Mean", "Std", "Max", "Min")),
    )
    for stat in stats
) + ("Flow Duration",)
_IDENTITY = {name: name for name in CANONICAL_FEATURES + CANONICAL_IDENTIFIERS}

# Variant texts shared by several profiles: equal text means the same computation.
_SUBFLOW_TOTAL = "the flow total (one subflow per flow)"
_FRAME_LENGTH = "link-layer frame lengths (headers included), not transport payload lengths"
_FLAGS_2017 = "not incremented per packet (0 or 1; always 0 backward) in the 2017 extractor"
_FLAG_COUNT_2017 = "0 or 1 per flow in the 2017 extractor (CICFlowMeter 4: packets with the flag)"
_UDP_HEADER_2017 = "20-32 bytes per UDP packet in the 2017 extractor (CICFlowMeter 4: 8)"

# ------------------------------------------------------------------ CICFlowMeter 4 (reference)
_CICFLOWMETER_4 = Profile(
    name=REFERENCE,
    description=(
        "CICFlowMeter 4 as used for the corrected CIC-IDS2017 re-extraction (Engelen et al. "
        "2021; github.com/GintsEngelen/CICFlowMeter); upstream CICFlowMeter 4 writes the same "
        "names without Fwd/Bwd RST Flags, ICMP Code/Type and Total TCP Flow Time"
    ),
    names=_IDENTITY,
)

# ----------------------------------------------------- CICFlowMeter 2017 (MachineLearningCVE)
_RENAMED_2017 = {
    "Source IP": "Src IP",
    "Source Port": "Src Port",
    "Destination IP": "Dst IP",
    "Destination Port": "Dst Port",
    "Total Fwd Packets": "Total Fwd Packet",
    "Total Backward Packets": "Total Bwd packets",
    "Total Length of Fwd Packets": "Total Length of Fwd Packet",
    "Total Length of Bwd Packets": "Total Length of Bwd Packet",
    "Min Packet Length": "Packet Length Min",
    "Max Packet Length": "Packet Length Max",
    "CWE Flag Count": "CWR Flag Count",
    "Avg Fwd Segment Size": "Fwd Segment Size Avg",
    "Avg Bwd Segment Size": "Bwd Segment Size Avg",
    "Fwd Avg Bytes/Bulk": "Fwd Bytes/Bulk Avg",
    "Fwd Avg Packets/Bulk": "Fwd Packet/Bulk Avg",
    "Fwd Avg Bulk Rate": "Fwd Bulk Rate Avg",
    "Bwd Avg Bytes/Bulk": "Bwd Bytes/Bulk Avg",
    "Bwd Avg Packets/Bulk": "Bwd Packet/Bulk Avg",
    "Bwd Avg Bulk Rate": "Bwd Bulk Rate Avg",
    "Init_Win_bytes_forward": "FWD Init Win Bytes",
    "Init_Win_bytes_backward": "Bwd Init Win Bytes",
    "act_data_pkt_fwd": "Fwd Act Data Pkts",
    "min_seg_size_forward": "Fwd Seg Size Min",
}
_NOT_IN_2017 = (
    "Protocol", "Fwd RST Flags", "Bwd RST Flags", "ICMP Code", "ICMP Type", "Total TCP Flow Time",
)  # fmt: skip
# Variants of the 2017 extractor, measured on benign flows of both formats (the corrected
# sample's 5,619 benign rows vs the 9,998 benign flows of the original-format Friday file,
# ``moeids.thresholds.drift_report``; features defined alike drift by KS 0.05-0.22 between
# these two traffic samples, e.g. Flow Duration 0.17):
# - Subflow Fwd/Bwd Packets/Bytes (KS 0.99, 0.87, 0.64, 0.40): equal to the flow totals in
#   100 % of the 2017 rows, in 0-5 % of the corrected ones.
# - Fwd/Bwd Header Length, Fwd Seg Size Min (KS 0.59, 0.50, 0.64): per packet 8 bytes for
#   the corrected DNS flows (port 53), 20-32 for the 2017 ones; alike for TCP (port 443).
# - FIN/SYN/RST/PSH/ACK/URG/CWR/ECE Flag Count (KS up to 0.35): at most 1 in all 2017 rows,
#   counts up to 4,036 in the corrected ones; Fwd/Bwd PSH and URG Flags likewise (Bwd PSH 0).
# - Down/Up Ratio (KS 0.33): floor(bwd/fwd) in 100 % of the 2017 rows, the exact ratio in
#   100 % of the corrected ones.
# Not marked: Active/Idle Mean/Std/Max/Min (KS 0.02-0.09, no value above 1.2e8 us, i.e. no
# absolute timestamp as Engelen et al. 2021 report for some 2017 flows) and the packet-length
# means (Packet Length Mean = total/(n+1) in 34 % of the 2017 rows: a difference of one packet
# in n, KS 0.21, within the traffic drift).
# Not marked either: the payload lengths. A sixth of the 2017 Friday flows hold a packet of
# exactly 6 payload bytes, none of the corrected flows (``benchmarks/bench_transfer.py``, the
# traits table): an empty TCP segment (54-byte frame) padded to the 60-byte Ethernet minimum,
# the padding counted as payload by the 2017 extractor. Only those flows differ, by 6 bytes a
# padded packet; hiding every payload-length feature of every 2017 flow for it would leave
# more than half of that format's cells missing.
_CICFLOWMETER_2017 = Profile(
    name="cicflowmeter-2017",
    description=(
        "CICFlowMeter of the original CIC-IDS2017 release (MachineLearningCVE and "
        "GeneratedLabelledFlows CSVs, Sharafaldin et al. 2018)"
    ),
    names={
        **{
            name: name
            for name in CANONICAL_FEATURES + CANONICAL_IDENTIFIERS
            if name not in _NOT_IN_2017 and name not in _RENAMED_2017.values()
        },
        **_RENAMED_2017,
    },
    values={"FWD Init Win Bytes": {-1: 0}, "Bwd Init Win Bytes": {-1: 0}},  # -1: no window
    variants={
        **dict.fromkeys(
            ("Fwd PSH Flags", "Bwd PSH Flags", "Fwd URG Flags", "Bwd URG Flags"), _FLAGS_2017
        ),
        **dict.fromkeys(
            [f"Subflow {d} {k}" for d in ("Fwd", "Bwd") for k in ("Packets", "Bytes")],
            _SUBFLOW_TOTAL,
        ),
        **dict.fromkeys(
            [f"{f} Flag Count" for f in ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "CWR", "ECE")],
            _FLAG_COUNT_2017,
        ),
        **dict.fromkeys(
            ("Fwd Header Length", "Bwd Header Length", "Fwd Seg Size Min"), _UDP_HEADER_2017
        ),
        "Down/Up Ratio": "floor(Total Bwd packets / Total Fwd Packet) (CICFlowMeter 4: the ratio)",
    },
)  # fmt: skip

# ------------------------------------------------- the Python ``cicflowmeter`` package (0.4.x)
_PY_NAMES = {
    "src_ip": "Src IP", "dst_ip": "Dst IP", "src_port": "Src Port", "dst_port": "Dst Port",
    "protocol": "Protocol", "timestamp": "Timestamp", "flow_duration": "Flow Duration",
    "flow_byts_s": "Flow Bytes/s", "flow_pkts_s": "Flow Packets/s", "fwd_pkts_s": "Fwd Packets/s",
    "bwd_pkts_s": "Bwd Packets/s", "tot_fwd_pkts": "Total Fwd Packet",
    "tot_bwd_pkts": "Total Bwd packets", "totlen_fwd_pkts": "Total Length of Fwd Packet",
    "totlen_bwd_pkts": "Total Length of Bwd Packet",
    "pkt_len_max": "Packet Length Max", "pkt_len_min": "Packet Length Min",
    "pkt_len_mean": "Packet Length Mean", "pkt_len_std": "Packet Length Std",
    "pkt_len_var": "Packet Length Variance", "fwd_header_len": "Fwd Header Length",
    "bwd_header_len": "Bwd Header Length", "fwd_seg_size_min": "Fwd Seg Size Min",
    "fwd_act_data_pkts": "Fwd Act Data Pkts", "fwd_iat_tot": "Fwd IAT Total",
    "bwd_iat_tot": "Bwd IAT Total", "fwd_psh_flags": "Fwd PSH Flags",
    "bwd_psh_flags": "Bwd PSH Flags", "fwd_urg_flags": "Fwd URG Flags",
    "bwd_urg_flags": "Bwd URG Flags", "fin_flag_cnt": "FIN Flag Count",
    "syn_flag_cnt": "SYN Flag Count", "rst_flag_cnt": "RST Flag Count",
    "psh_flag_cnt": "PSH Flag Count", "ack_flag_cnt": "ACK Flag Count",
    "urg_flag_cnt": "URG Flag Count", "ece_flag_cnt": "ECE Flag Count",
    "cwr_flag_count": "CWR Flag Count", "down_up_ratio": "Down/Up Ratio",
    "pkt_size_avg": "Average Packet Size", "init_fwd_win_byts": "FWD Init Win Bytes",
    "init_bwd_win_byts": "Bwd Init Win Bytes", "fwd_byts_b_avg": "Fwd Bytes/Bulk Avg",
    "fwd_pkts_b_avg": "Fwd Packet/Bulk Avg", "bwd_byts_b_avg": "Bwd Bytes/Bulk Avg",
    "bwd_pkts_b_avg": "Bwd Packet/Bulk Avg", "fwd_blk_rate_avg": "Fwd Bulk Rate Avg",
    "bwd_blk_rate_avg": "Bwd Bulk Rate Avg", "fwd_seg_size_avg": "Fwd Segment Size Avg",
    "bwd_seg_size_avg": "Bwd Segment Size Avg", "subflow_fwd_pkts": "Subflow Fwd Packets",
    "subflow_bwd_pkts": "Subflow Bwd Packets", "subflow_fwd_byts": "Subflow Fwd Bytes",
    "subflow_bwd_byts": "Subflow Bwd Bytes",
} | {
    f"{d}_pkt_len_{s}": f"{d.capitalize()} Packet Length {s.capitalize()}"
    for d in ("fwd", "bwd") for s in ("max", "min", "mean", "std")
} | {
    f"{p}_iat_{s}": f"{p.capitalize()} IAT {s.capitalize()}"
    for p in ("flow", "fwd", "bwd") for s in ("max", "min", "mean", "std")
} | {
    f"{p}_{s}": f"{p.capitalize()} {s.capitalize()}"
    for p in ("active", "idle") for s in ("max", "min", "mean", "std")
}  # fmt: skip
_PY_FRAME_LENGTH = (
    "Total Length of Fwd Packet", "Total Length of Bwd Packet", "Fwd Packet Length Max",
    "Fwd Packet Length Min", "Fwd Packet Length Mean", "Fwd Packet Length Std",
    "Bwd Packet Length Max", "Bwd Packet Length Min", "Bwd Packet Length Mean",
    "Bwd Packet Length Std", "Packet Length Max", "Packet Length Min", "Packet Length Mean",
    "Packet Length Std", "Packet Length Variance", "Average Packet Size", "Fwd Segment Size Avg",
    "Bwd Segment Size Avg", "Flow Bytes/s",
)  # fmt: skip
_CICFLOWMETER_PYTHON = Profile(
    name="cicflowmeter-python",
    description=(
        "the Python cicflowmeter package 0.4.x (github.com/hieulw/cicflowmeter): snake_case "
        "names, times in seconds"
    ),
    names=_PY_NAMES,
    units=dict.fromkeys(_TIMES, _US_PER_S),
    variants={
        **dict.fromkeys(_PY_FRAME_LENGTH, _FRAME_LENGTH),
        **dict.fromkeys(
            ("Fwd Header Length", "Bwd Header Length", "Fwd Seg Size Min"),
            "IP header length (IHL x 4), not the transport header length",
        ),
        "Subflow Fwd Packets": _SUBFLOW_TOTAL,
        "Subflow Bwd Packets": _SUBFLOW_TOTAL,
        "Subflow Fwd Bytes": f"{_SUBFLOW_TOTAL}, {_FRAME_LENGTH}",
        "Subflow Bwd Bytes": f"{_SUBFLOW_TOTAL}, {_FRAME_LENGTH}",
        "CWR Flag Count": "a copy of fwd_urg_flags (CWR is not counted)",
        "Bwd Init Win Bytes": "first non-zero backward TCP window (CICFlowMeter 4: the last)",
    },
)  # fmt: skip

# ------------------------------------------------- NFStream with statistical_analysis=True
_NF_DIRECTIONS = {"src2dst": "Fwd", "dst2src": "Bwd"}
_NF_STATS = {"min": "Min", "max": "Max", "mean": "Mean", "stddev": "Std"}
_NF_NAMES = {
    "src_ip": "Src IP", "dst_ip": "Dst IP", "src_port": "Src Port", "dst_port": "Dst Port",
    "protocol": "Protocol", "bidirectional_duration_ms": "Flow Duration",
    "src2dst_packets": "Total Fwd Packet", "dst2src_packets": "Total Bwd packets",
    "src2dst_bytes": "Total Length of Fwd Packet", "dst2src_bytes": "Total Length of Bwd Packet",
} | {
    f"{d}_{s}_ps": f"{D} Packet Length {S}" for d, D in _NF_DIRECTIONS.items()
    for s, S in _NF_STATS.items()
} | {
    f"bidirectional_{s}_ps": f"Packet Length {S}" for s, S in _NF_STATS.items()
} | {
    f"bidirectional_{s}_piat_ms": f"Flow IAT {S}" for s, S in _NF_STATS.items()
} | {
    f"{d}_{s}_piat_ms": f"{D} IAT {S}" for d, D in _NF_DIRECTIONS.items()
    for s, S in _NF_STATS.items()
} | {
    f"{d}_{flag}_packets": f"{D} {flag.upper()} Flags" for d, D in _NF_DIRECTIONS.items()
    for flag in ("psh", "urg", "rst")
} | {
    f"bidirectional_{flag}_packets": f"{flag.upper()} Flag Count"
    for flag in ("fin", "syn", "rst", "psh", "ack", "urg", "cwr", "ece")
}  # fmt: skip
_NF_SIZES = tuple(name for key, name in _NF_NAMES.items() if key.endswith(("_ps", "_bytes")))
_NFSTREAM = Profile(
    name="nfstream",
    description=(
        "NFStream with statistical_analysis=True and the default accounting_mode=0 "
        "(github.com/nfstream/nfstream): times in milliseconds, sizes of link-layer frames"
    ),
    names=_NF_NAMES,
    units={name: _US_PER_MS for key, name in _NF_NAMES.items() if key.endswith("_ms")},
    variants=dict.fromkeys(_NF_SIZES, _FRAME_LENGTH),
)
_NFSTREAM_PAYLOAD = replace(
    _NFSTREAM,
    name="nfstream-payload",
    description=(
        "NFStream with statistical_analysis=True and accounting_mode=3: sizes are payload "
        "lengths as in CICFlowMeter; same names as 'nfstream', so pass it explicitly"
    ),
    variants={},
)

# ------------------------------------------------------------------------- Zeek conn.log
# Field names checked against zeek/zeek (commit a13de64, 2026-08-21):
# scripts/base/protocols/conn/main.zeek, ``Conn::Info`` (ts, uid, id, proto, duration,
# orig_bytes, resp_bytes, orig_pkts, resp_pkts; ``orig_bytes`` is payload bytes "taken from
# sequence numbers" for TCP) and scripts/base/init-bare.zeek, ``conn_id`` (orig_h, orig_p,
# resp_h, resp_p, logged as ``id.orig_h`` ...) and ``transport_proto`` (unknown_transport,
# tcp, udp, icmp). Not mapped: ``orig_ip_bytes``/``resp_ip_bytes`` (IP bytes, headers
# included: no canonical counterpart) and ``ip_proto`` (the IP header's protocol number, which
# ``proto`` already gives for TCP, UDP and ICMP).
_ZEEK_UNSET = {"-": float("nan")}  # Zeek writes "-" for an unset field
_ZEEK = Profile(
    name="zeek-conn",
    description="Zeek conn.log (overlapping fields only; durations in seconds)",
    names={
        "uid": "Flow ID", "id.orig_h": "Src IP", "id.orig_p": "Src Port", "id.resp_h": "Dst IP",
        "ts": "Timestamp", "id.resp_p": "Dst Port", "proto": "Protocol",
        "duration": "Flow Duration", "orig_pkts": "Total Fwd Packet",
        "resp_pkts": "Total Bwd packets", "orig_bytes": "Total Length of Fwd Packet",
        "resp_bytes": "Total Length of Bwd Packet",
    },
    units={"Flow Duration": _US_PER_S},
    values={
        "Protocol": {
            "tcp": 6, "udp": 17, "icmp": 1, "unknown_transport": float("nan"), **_ZEEK_UNSET
        },
        "Flow Duration": _ZEEK_UNSET,
        "Total Length of Fwd Packet": _ZEEK_UNSET,
        "Total Length of Bwd Packet": _ZEEK_UNSET,
    },
    variants=dict.fromkeys(
        ("Total Length of Fwd Packet", "Total Length of Bwd Packet"),
        "payload bytes from TCP sequence numbers (retransmissions counted once)",
    ),
)  # fmt: skip

# ---------------------------------------------------------------------- NetFlow v5 records
# Field names checked against nfdump's netflow_v5.h (mirror pmorch/nfdump, commit 5256a2c;
# ``netflow_v5_record``: srcaddr, dstaddr, nexthop, input, output, dPkts, dOctets, First, Last,
# srcport, dstport, pad1, tcp_flags, prot, tos, src_as, dst_as, src_mask, dst_mask, pad2), the
# layout of Cisco's "NetFlow Export
# Datagram Format" (NetFlow Collection Engine 3.6 user guide). ``dOctets`` counts layer-3
# bytes; First/Last are router uptimes in ms (a duration needs both: not mapped).
_NETFLOW_V5 = Profile(
    name="netflow-v5",
    description="Cisco NetFlow v5 records (unidirectional; overlapping fields only)",
    names={
        "srcaddr": "Src IP", "dstaddr": "Dst IP", "srcport": "Src Port", "dstport": "Dst Port",
        "prot": "Protocol", "dPkts": "Total Fwd Packet", "dOctets": "Total Length of Fwd Packet",
    },
    variants={
        "Total Fwd Packet": "packets of one unidirectional record",
        "Total Length of Fwd Packet": "IP bytes (headers included) of one unidirectional record",
    },
)  # fmt: skip

#: Known extractor profiles by name; detection prefers earlier entries on ties.
PROFILES = {
    profile.name: profile
    for profile in (
        _CICFLOWMETER_4,
        _CICFLOWMETER_2017,
        _CICFLOWMETER_PYTHON,
        _NFSTREAM,
        _NFSTREAM_PAYLOAD,
        _ZEEK,
        _NETFLOW_V5,
    )
}
