"""The ``moeids`` command line: help texts, errors, train -> predict -> evaluate on real slices."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moeids.cli import _COMMANDS, build_parser, main
from moeids.cli._common import CommandError, card_path, load_model_arg
from moeids.cli._io import iter_chunks
from moeids.cli._labelled import _detect_dataset
from moeids.scoring import score_flows

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
CIC = DATA / "cic_ids2017" / "cicids2017_improved.slice.csv.gz"  # 292 real flows, 16 classes
TINY = [
    *("--set", "d_model=8", "--set", "n_layers=1", "--set", "n_heads=1"),
    *("--set", "epochs=1", "--set", "pretrain_epochs=0", "--set", "random_state=0"),
    *("--verbose", "0"),
]
MARKUP = ("``", ":class:", ":func:", ":meth:", ":data:", ":mod:", ":attr:")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "ids.safetensors"
    assert main(["train", str(CIC), "--out", str(path), *TINY]) == 0
    return path


@pytest.fixture(scope="module")
def model(model_path):
    return load_model_arg(model_path)


@pytest.fixture(scope="module")
def flows():
    return pd.read_csv(CIC, encoding_errors="replace", low_memory=False)


# ----------------------------------------------------------------------------- help


def _subparsers():
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    return parser, commands.choices


def _action_help(parser, action):
    formatter = parser._get_formatter()
    formatter.add_argument(action)
    return formatter.format_help()


def test_help_lists_every_command_without_markup():
    parser, commands = _subparsers()
    text = parser.format_help()
    assert list(commands) == list(_COMMANDS)
    for name in _COMMANDS:
        assert re.search(rf"^\s+{name}\s+\S", text, re.MULTILINE), name
    assert not [m for m in MARKUP if m in text]


@pytest.mark.parametrize("name", _COMMANDS)
def test_command_help_shows_every_default_and_an_example(name):
    _, commands = _subparsers()
    sub = commands[name]
    text = sub.format_help()
    assert not [m for m in MARKUP if m in text]
    assert "example:\n  moeids " + name in text
    for action in sub._actions:
        takes_value = action.option_strings and action.nargs != 0 and not action.required
        if takes_value:
            assert "default" in _action_help(sub, action), (name, action.option_strings)


def test_demo_help_shows_the_draws_default():
    _, commands = _subparsers()
    assert re.search(r"--draws DRAWS[^-]*\(default: 5\)", commands["demo"].format_help())


# ----------------------------------------------------------------------------- errors


def test_usage_error_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(CIC)])  # --out missing
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("moeids: error: the following arguments are required: --out")


def test_input_error_is_one_line_without_traceback(capsys, tmp_path):
    code = main(["predict", str(tmp_path / "absent.moeids"), str(CIC), "--out", "x.csv"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"moeids: error: model file {str(tmp_path / 'absent.moeids')!r} does not exist\n"


def test_debug_raises_the_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        main(["--debug", "predict", str(tmp_path / "absent"), str(CIC), "--out", "x.csv"])


def test_debug_prints_a_traceback_from_the_console(tmp_path):
    argv = ["predict", str(tmp_path / "absent"), str(CIC), "--out", str(tmp_path / "x.csv")]
    run = [sys.executable, "-m", "moeids"]
    quiet = subprocess.run([*run, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    loud = subprocess.run(
        [*run, *argv, "--debug"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    assert loud.returncode != 0 and "Traceback (most recent call last)" in loud.stderr


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("epoch=3", "--set epoch: MoEClassifier has no parameter 'epoch'"),
        ("epochs=[1", "--set epochs: '[1' is not a number"),
        ("epochs=-1", "The 'epochs' parameter of MoEClassifier"),
        ("epochs", "--set 'epochs': expected PARAM=VALUE"),
    ],
)
def test_bad_setting_is_named(capsys, tmp_path, setting, message):
    assert main(["train", str(CIC), "--out", str(tmp_path / "m"), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_unknown_output_suffix_is_refused(capsys, model_path, tmp_path):
    assert main(["predict", str(model_path), str(CIC), "--out", str(tmp_path / "d.xlsx")]) == 2
    assert "unknown suffix '.xlsx'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- train


def test_train_writes_model_and_card(model_path, model, flows):
    card = json.loads(card_path(model_path).read_text())
    assert card["data"]["source"] == "cicids2017"
    assert card["data"]["files"][0]["rows"] == 292 == card["data"]["rows"]
    assert card["data"]["labels"]["Benign"] == 20 and len(card["data"]["labels"]) == 16
    assert card["parameters"]["d_model"] == 8 and card["parameters"]["epochs"] == 1
    assert {"moeids_version", "torch_version", "fit_seconds", "history"} <= set(card)
    assert 0 <= card["validation"]["val_f1"] <= 1
    assert card["classes"] == [0, 1]
    assert model.predict_proba(flows).shape == (292, 2)


def test_dataset_is_recognised_from_columns():
    expected = {
        "cic_ids2017": "cicids2017",
        "unsw_nb15": "unsw_nb15",
        "ciciot2023": "ciciot2023",
        "rt_iot2022": "rt_iot2022",
        "nsl_kdd": "nsl_kdd",
    }
    for path in sorted(DATA.glob("*/*.csv.gz")):
        assert _detect_dataset(path) == expected[path.parent.name], path


def test_train_with_a_label_column_on_parquet(tmp_path, flows):
    pytest.importorskip("pyarrow")
    flows.to_parquet(tmp_path / "flows.parquet")
    out = tmp_path / "m.moeids"
    data = str(tmp_path / "flows.parquet")
    assert main(["train", data, "--label", "Label", "--out", str(out), *TINY]) == 0
    card = json.loads(card_path(out).read_text())
    assert card["data"]["source"] == "label column 'Label'"
    assert card["data"]["labels"]["Benign"] == 20


FRIDAY = DATA / "cic_ids2017" / "cicids2017_original_friday.slice.csv.gz"  # 2017 extractor


def test_train_with_the_deployments_benign_flows(tmp_path):
    own = pd.read_csv(FRIDAY, low_memory=False).drop(columns=[" Label", " Fwd Header Length.1"])
    own = own.iloc[:64]
    own.to_csv(tmp_path / "own.csv", index=False)
    out = tmp_path / "m.moeids"
    args = ["train", str(CIC), "--benign", str(tmp_path / "own.csv"), "--out", str(out)]
    assert main([*args, *TINY]) == 0
    card = json.loads(card_path(out).read_text())
    assert card["data"]["rows"] == 292 + len(own)
    assert card["data"]["labels"]["Benign"] == 20 + len(own)
    assert card["data"]["files"][1] == {
        "path": str(tmp_path / "own.csv"), "rows": len(own), "labels": {"Benign": len(own)},
        "benign": True,
    }  # fmt: skip
    assert card["data"]["source"] == f"cicids2017 + {len(own)} benign flows (--benign)"
    assert card["arguments"]["benign"] == [str(tmp_path / "own.csv")]
    assert card["splitter_parameters"]["feature_groups"] == "cicids2017"


def test_benign_flows_need_canonical_training_data(capsys, tmp_path):
    own = pd.read_csv(FRIDAY, low_memory=False)
    own.to_csv(tmp_path / "friday.csv", index=False)
    data = str(tmp_path / "friday.csv")
    args = ["train", data, "--label", "Label", "--benign", data, "--out", str(tmp_path / "m")]
    assert main(args) == 2
    assert "--benign: X is in the names or units of extractor profile" in capsys.readouterr().err


def test_label_column_without_benign_values_is_refused(capsys, tmp_path, flows):
    flows[flows["Label"] != "BENIGN"].to_csv(tmp_path / "attacks.csv", index=False)
    data = str(tmp_path / "attacks.csv")
    assert main(["train", data, "--label", "Label", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "label column 'Label'" in err and "all attack" in err


def test_unknown_layout_asks_for_a_label_column(capsys, tmp_path):
    pd.DataFrame({"a": [1, 2], "b": [0, 1]}).to_csv(tmp_path / "x.csv", index=False)
    assert main(["train", str(tmp_path / "x.csv"), "--out", str(tmp_path / "m")]) == 2
    assert "name its label column with --label COLUMN" in capsys.readouterr().err


# ----------------------------------------------------------------------------- predict


def _expected(model, flows):
    return score_flows(model, flows).reset_index(drop=True)


def test_predict_csv_in_chunks_equals_in_memory_scores(capsys, model_path, model, flows, tmp_path):
    out = tmp_path / "decisions.csv"
    args = ["predict", str(model_path), str(CIC), "--out", str(out), "--chunk-size", "100"]
    assert main([*args, "--keep", "Flow ID", "--verbose", "0"]) == 0
    assert "Scored 292 flows from 1 file(s) in 3 chunk(s)" in capsys.readouterr().out
    got, want = pd.read_csv(out), _expected(model, flows)
    assert list(got.columns) == ["Flow ID", "label", "attack_probability", "gate_tabular",
                                 "gate_temporal", "missing_features"]  # fmt: skip
    assert (got["Flow ID"] == flows["Flow ID"]).all()
    np.testing.assert_array_equal(got["label"], want["label"])
    for column in ("attack_probability", "gate_tabular", "gate_temporal"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-5, atol=1e-6)
    assert got["missing_features"].map(json.loads).tolist() == want["missing_features"].tolist()


def test_predict_multi_file_parquet_in_chunks(capsys, model_path, model, flows, tmp_path):
    pytest.importorskip("pyarrow")
    folder = tmp_path / "archive"
    folder.mkdir()
    parts = (flows.iloc[:150], flows.iloc[150:])  # 150 and 142 rows, row groups of 50
    for k, part in enumerate(parts):
        part.to_parquet(folder / f"part{k}.parquet", row_group_size=50)
    paths = sorted(folder.glob("*.parquet"))
    chunks = list(iter_chunks(paths, 50))
    assert [len(c) for c in chunks] == [50, 50, 50, 50, 50, 42]
    assert chunks[-1].index.tolist() == list(range(250, 292))  # global row numbers

    out = tmp_path / "decisions.parquet"
    glob = str(folder / "part*.parquet")
    args = ["predict", str(model_path), glob, "--out", str(out), "--chunk-size", "50"]
    assert main([*args, "--verbose", "0"]) == 0
    assert "Scored 292 flows from 2 file(s) in 6 chunk(s)" in capsys.readouterr().out
    got, want = pd.read_parquet(out), _expected(model, flows)
    np.testing.assert_array_equal(got["label"], want["label"])
    np.testing.assert_allclose(got["attack_probability"], want["attack_probability"], atol=1e-6)
    assert [list(m) for m in got["missing_features"]] == want["missing_features"].tolist()


def test_predict_on_dask_equals_in_memory_scores(capsys, model_path, model, flows, tmp_path):
    pytest.importorskip("distributed")
    folder = tmp_path / "archive"
    folder.mkdir()
    for k, part in enumerate((flows.iloc[:150], flows.iloc[150:])):
        part.to_parquet(folder / f"part{k}.parquet", row_group_size=50)
    out = tmp_path / "decisions.parquet"
    args = ["predict", str(model_path), str(folder), "--out", str(out), "--dask", "threads"]
    assert main(args) == 0
    assert "Scored 292 flows on Dask (threads)" in capsys.readouterr().out
    got, want = pd.read_parquet(out), _expected(model, flows)
    np.testing.assert_array_equal(got["label"], want["label"])
    np.testing.assert_allclose(got["attack_probability"], want["attack_probability"], atol=1e-6)
    bad = [
        "predict",
        str(model_path),
        str(CIC),
        "--out",
        str(tmp_path / "d.csv"),
        "--dask",
        "threads",
    ]
    assert main(bad) == 2  # Dask writes Parquet only
    assert "--out must end in .parquet" in capsys.readouterr().err


def test_predict_json_lines_marks_missing_features(model_path, flows, tmp_path):
    partial = flows.drop(columns=["Flow Duration", "Protocol"]).iloc[:10]
    partial.to_csv(tmp_path / "partial.csv", index=False)
    out = tmp_path / "decisions.jsonl"
    args = ["predict", str(model_path), str(tmp_path / "partial.csv"), "--out", str(out)]
    assert main([*args, "--verbose", "0"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 10
    assert all({"Flow Duration", "Protocol"} <= set(r["missing_features"]) for r in records)


def test_predict_reads_the_original_cicids2017_names_through_the_vocabulary(model_path, tmp_path):
    """The model was trained on the corrected names; the 2017 files use other names for the
    same features (the splitter's extractor profiles rename them): only the features that the
    2017 extractor cannot produce, or computes differently, are missing."""
    from moeids.features import get_profile

    original = DATA / "cic_ids2017" / "cicids2017_original_friday.slice.csv.gz"  # old names
    out = tmp_path / "decisions.jsonl"
    args = ["predict", str(model_path), str(original), "--out", str(out), "--verbose", "0"]
    assert main(args) == 0
    missing = set(json.loads(out.read_text().splitlines()[0])["missing_features"])
    assert not {"Dst Port", "Total Fwd Packet", "Packet Length Min"} & missing
    profile = get_profile("cicflowmeter-2017")
    assert missing <= set(profile.unavailable) | set(profile.variants)


def test_failed_predict_leaves_no_partial_file(model_path, tmp_path):
    out = tmp_path / "decisions.csv"
    args = ["predict", str(model_path), str(CIC), "--out", str(out), "--keep", "nope"]
    assert main([*args, "--verbose", "0"]) == 2
    assert not out.exists()


def test_pickle_is_refused_without_allow_pickle(capsys, model, flows, tmp_path):
    persistence = pytest.importorskip("moeids.persistence")
    if not hasattr(persistence, "load"):
        pytest.skip("the pickle-free moeids.save/load have not landed")
    joblib = pytest.importorskip("joblib")
    joblib.dump(model, tmp_path / "ids.joblib")
    flows.iloc[:5].to_csv(tmp_path / "five.csv", index=False)
    args = ["predict", str(tmp_path / "ids.joblib"), str(tmp_path / "five.csv")]
    args += ["--out", str(tmp_path / "d.csv"), "--verbose", "0"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pickle" in err and "--allow-pickle" in err
    assert main([*args, "--allow-pickle"]) == 0
    assert "moeids: warning: loading the pickle" in capsys.readouterr().err


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_prints_the_tables_and_plots(capsys, model_path, tmp_path):
    pytest.importorskip("matplotlib")
    assert main(["evaluate", str(model_path), str(CIC), "--plots", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for section in (
        "== Detection ==",
        "== Confusion matrix ==",
        "== Share classified correctly per traffic type",
        "== Mean gate weight on each expert per traffic type ==",
    ):
        assert section in out
    assert re.search(r"^F1\s+[0-9.]+$", out, re.MULTILINE)
    assert re.search(r"^Heartbleed\s+8\s", out, re.MULTILINE)  # a row per traffic type
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "evaluate_gating_by_attack_type.png",
        "evaluate_gating_distribution.png",
    ]


# ----------------------------------------------------------------------------- demo


@pytest.mark.slow  # a default-size MoEClassifier on the bundled sample (1-2 min)
def test_demo_trains_evaluates_and_explains(capsys, tmp_path):
    assert main(["demo", "--draws", "1", "--verbose", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for section in (
        "== Detection on held-out flows ==",
        "== Which expert the gate trusted, per traffic type ==",
        "== With features missing from the sensor export ==",
        "== Explanation of five held-out flows",
    ):
        assert section in out
    f1 = float(re.search(r"^F1\s+([0-9.]+)$", out, re.MULTILINE).group(1))
    assert f1 > 0.98
    assert "DoS Hulk" in out and "Benign" in out  # gate report rows per traffic type
    assert "share_of_features_kept" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo_gating_by_attack_type.png",
        "demo_gating_distribution.png",
    ]
