"""``moeids scan`` on the committed real captures (tests/data/pcaps).

The tiny model is trained on the flows of those captures themselves, labelled by their
PROVENANCE.md (SQL injection, SYN scan and TrickBot: attack; SSH and TLS: benign), so that it
knows the extractor's columns; thresholds far out make "nothing flagged" and "all flagged"
certain whatever the tiny network learnt.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.pipeline import make_pipeline

pytest.importorskip("nfstream")

from moeids import FeatureSplitter, MoEClassifier, load, save  # noqa: E402
from moeids.cli import main  # noqa: E402
from moeids.flows import read_pcap  # noqa: E402
from moeids.thresholds import fit_threshold  # noqa: E402

PCAPS = Path(__file__).parent / "data" / "pcaps"
ATTACKS = {"WebattackSQLinj.pcap", "synscan.pcap", "trickbot.pcap"}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    flows = read_pcap(PCAPS)
    y = flows.metadata["capture"].isin(ATTACKS).astype(int)
    pipe = make_pipeline(
        FeatureSplitter(),
        MoEClassifier(
            d_model=8, n_layers=1, n_heads=2, epochs=2, pretrain_epochs=0,
            validation_fraction=0.0, ema_decay=0.0, random_state=0, device="cpu",
        ),
    ).fit(flows.data, y)  # fmt: skip
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for name, model in {
        "plain": pipe,
        "none": fit_threshold(pipe, flows.data, 0.5).set_params(threshold=1e9),
        "all": fit_threshold(pipe, flows.data, 0.5).set_params(threshold=-1e9),
    }.items():
        paths[name] = save(model, folder / f"{name}.safetensors")
    yield paths
    torch.set_num_threads(threads)


def scan(*args):
    return main(["scan", *map(str, args)])


def test_scan_lists_every_flagged_flow_and_exits_1(model_files, capsys, tmp_path):
    out = tmp_path / "verdicts.csv"
    assert scan(PCAPS / "WebattackSQLinj.pcap", "--model", model_files["all"], "--out", out) == 1
    text = capsys.readouterr().out
    assert "Flagged flows (9 of 9 shown)" in text
    assert text.count("192.168.10.50") == 9 and "2017-07-06 13:40:07.419" in text
    assert "9 flows in 1 capture(s): 9 flagged (100.0%)" in text
    table = pd.read_csv(out)
    assert len(table) == 9 and table["flagged"].all()
    assert {"src_ip", "src_port", "dst_ip", "dst_port", "protocol", "first_seen"} <= set(table)
    assert table["features_present"].eq(1.0).all()  # the model knows NFStream's columns
    np.testing.assert_allclose(table["gate_tabular"] + table["gate_temporal"], 1, atol=1e-5)


def test_scan_of_a_folder_flagging_nothing_exits_0(model_files, capsys):
    assert scan(PCAPS, "--model", model_files["none"]) == 0
    text = capsys.readouterr().out
    assert "Flagged flows" not in text
    assert "2007 flows in 5 capture(s): 0 flagged (0.0%)" in text


def test_scan_json_matches_the_model(model_files, capsys):
    status = scan(PCAPS / "ssh.pcap", PCAPS / "one_flow.pcap", "--model", model_files["plain"],
                  "--json")  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    summary = result["summary"]
    assert summary["flows"] == 3 and summary["captures"] == 2
    assert status == int(summary["flagged"] > 0)
    assert len(result["flagged"]) == summary["flagged"]
    model = load(model_files["plain"])
    flows = read_pcap([PCAPS / "ssh.pcap", PCAPS / "one_flow.pcap"])
    assert summary["flagged"] == int(model.predict(flows.data).sum())
    for row in result["flagged"]:
        assert 0 <= row["attack_probability"] <= 1 and row["features_present"] == 1.0


def test_scan_usage_errors_exit_2(model_files, capsys, tmp_path):
    import joblib

    pickled = tmp_path / "model.joblib"
    joblib.dump(load(model_files["plain"]), pickled)
    assert scan(PCAPS / "ssh.pcap", "--model", pickled) == 2  # a pickle, refused
    assert "allow_pickle" in capsys.readouterr().err
    assert scan(tmp_path / "missing.pcap", "--model", model_files["plain"]) == 2
    assert "missing.pcap" in capsys.readouterr().err
    assert scan(PCAPS / "ssh.pcap", "--model", tmp_path / "missing.joblib") == 2
    with pytest.raises(SystemExit) as exc:
        main(["scan", str(PCAPS / "ssh.pcap")])
    assert exc.value.code == 2


def test_scan_of_flows_the_model_cannot_read_exits_2(capsys, tmp_path):
    # synthetic columns that no extractor writes: the splitter finds none of them
    X = pd.DataFrame({"alpha": np.arange(40.0), "beta": np.arange(40.0) % 3})
    y = np.arange(40) % 2
    model = make_pipeline(
        FeatureSplitter(), MoEClassifier(d_model=8, n_layers=1, n_heads=2, epochs=1,
                                         pretrain_epochs=0, validation_fraction=0.0,
                                         random_state=0, device="cpu"),
    ).fit(X, y)  # fmt: skip
    save(model, tmp_path / "other.safetensors")
    assert scan(PCAPS / "one_flow.pcap", "--model", tmp_path / "other.safetensors") == 2
    assert "the model cannot score these flows" in capsys.readouterr().err


def test_scan_help_shows_an_example_and_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    text = capsys.readouterr().out
    assert "moeids scan capture.pcap --model" in text
    assert "(default: 50)" in text and "(default: 120)" in text
    assert ":func:" not in text and "``" not in text
