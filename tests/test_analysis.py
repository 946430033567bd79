"""Tests for moeids.analysis on real CIC-IDS2017 flows.

Data: the corrected CIC-IDS2017 re-extraction (Sharafaldin et al., ICISSP 2018; Engelen et
al., IEEE SPW 2021), a small slice in tests/data or, failing that, the shared sample.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from moeids import FeatureSplitter, MoEClassifier
from moeids.analysis import (
    SENSOR_PROFILES,
    compare,
    expert_agreement,
    gating_report,
    gating_weights,
    plot_gating,
    robustness_curve,
    sensor_profile_scores,
)
from moeids.datasets import CICIDS2017_FEATURES, load_cicids2017
from moeids.features.splitter import MissingFeaturesWarning

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = (
    ROOT / "tests/data/cic_ids2017/cicids2017_improved.slice.csv.gz",
    ROOT.parent / "shared/datasets/cic_ids2017/cicids2017_improved_sample.shared.csv.gz",
)


@pytest.fixture(scope="module")
def flows():
    path = next((p for p in CANDIDATES if p.is_file()), None)
    if path is None:
        pytest.skip(f"no real CIC-IDS2017 file found (tried {[str(p) for p in CANDIDATES]})")
    bunch = load_cicids2017(path)
    if len(bunch.data) > 400:  # the shared sample: keep a small stratified slice
        keep = bunch.attack_type.groupby(bunch.attack_type).head(20).index
        bunch.data, bunch.target = bunch.data.loc[keep], bunch.target.loc[keep]
        bunch.attack_type = bunch.attack_type.loc[keep]
    return bunch


def tiny_moe():
    return make_pipeline(
        FeatureSplitter("cicids2017"),
        MoEClassifier(
            d_model=8, n_layers=1, n_heads=2, epochs=3, pretrain_epochs=0,
            validation_fraction=0.0, ema_decay=0.0, random_state=0, device="cpu",
        ),
    )  # fmt: skip


def fast_model():
    """A quick non-gated model that accepts DataFrames with columns removed."""
    return make_pipeline(
        FeatureSplitter("cicids2017", missing="zero"), LogisticRegression(max_iter=2000)
    )


@pytest.fixture(scope="module")
def moe(flows):
    return tiny_moe().fit(flows.data, flows.target)


@pytest.fixture(scope="module")
def fast(flows):
    return fast_model().fit(flows.data, flows.target)


class ColumnRecorder:
    """Wraps a fitted model and records the columns of every ``predict`` input."""

    def __init__(self, model):
        self.model, self.seen = model, []

    def predict(self, X):
        self.seen.append(list(X.columns))
        return self.model.predict(X)


# ------------------------------------------------------------------ gating


def test_gating_weights_through_pipeline(moe, flows):
    weights = gating_weights(moe, flows.data)
    assert list(weights.columns) == ["tabular", "temporal"]
    assert weights.index.equals(flows.data.index)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    assert (weights["temporal"] > 0).all()  # the temporal expert gets the timing columns
    direct = moe[-1].predict_gating(moe[:-1].transform(flows.data))
    np.testing.assert_allclose(weights.to_numpy(), direct.to_numpy())


def test_gating_weights_needs_a_gated_model(fast, flows):
    with pytest.raises(TypeError, match="predict_gating"):
        gating_weights(fast, flows.data)


def test_gating_report_per_attack_type(moe, flows):
    report = gating_report(moe, flows.data, flows.attack_type, y=flows.target)
    counts = flows.attack_type.value_counts()
    assert set(report.index) == set(counts.index)
    assert report["count"].sum() == len(flows.data)
    assert report["count"].is_monotonic_decreasing
    assert report.loc["Benign", "count"] == counts["Benign"]
    np.testing.assert_allclose(report["tabular_mean"] + report["temporal_mean"], 1.0, atol=1e-5)
    assert (report[["tabular_std", "temporal_std"]] >= 0).all().all()
    assert set(report["dominant"]) <= {"tabular", "temporal", "none"}
    mask = (flows.attack_type == "DDoS").to_numpy()
    expected = np.mean(moe.predict(flows.data)[mask] == flows.target.to_numpy()[mask])
    assert report.loc["DDoS", "accuracy"] == pytest.approx(expected)
    for column in ["keep_dominant", "keep_other", "tabular_alone_accuracy"]:
        assert report[column].between(0, 1).all()


def test_gating_report_lead_and_dominant(moe, flows):
    weights = gating_weights(moe, flows.data).to_numpy()
    report = gating_report(moe, flows.data, flows.attack_type, min_lead=0.0)
    mask = (flows.attack_type == "DDoS").to_numpy()
    gap = weights[mask, 0] - weights[mask, 1]
    leader = "tabular" if gap.mean() > 0 else "temporal"
    assert report.loc["DDoS", "lead"] == pytest.approx(abs(gap.mean()), rel=1e-5)
    half = 1.96 * gap.std(ddof=1) / np.sqrt(mask.sum())
    assert report.loc["DDoS", "lead_ci95"] == pytest.approx(half, rel=1e-5)
    expected = leader if abs(gap.mean()) > half else "none"
    assert report.loc["DDoS", "dominant"] == expected
    strict = gating_report(moe, flows.data, flows.attack_type, min_lead=1.0)
    assert (strict["dominant"] == "none").all()  # no lead reaches a full weight


def test_expert_agreement_forces_each_expert(moe, flows):
    agreement = expert_agreement(moe, flows.data, flows.attack_type, y=flows.target)
    net, Xt = moe[-1].module_, moe[:-1].transform(flows.data)
    x = torch.as_tensor(Xt.to_numpy(np.float32))
    with torch.no_grad():
        embeddings_alone = net(x, return_experts=True)[2]  # (n, n_experts, n_classes)
    expected = moe[-1].classes_[embeddings_alone[:, net.expert_names.index("temporal")].argmax(1)]
    np.testing.assert_array_equal(agreement["temporal_alone"].astype(int), expected)
    weights = gating_weights(moe, flows.data).to_numpy()
    mixture = moe.predict(flows.data)
    dominant = np.where(weights[:, 0] >= weights[:, 1], "tabular", "temporal")
    alone = np.where(dominant == "tabular", agreement["tabular_alone"], agreement["temporal_alone"])
    np.testing.assert_array_equal(agreement["keep_dominant"], (alone == mixture).astype(float))


def test_expert_agreement_expert_without_input(moe, flows):
    temporal = moe[0].feature_groups_["temporal"]
    with pytest.warns(MissingFeaturesWarning):
        agreement = expert_agreement(moe, flows.data.drop(columns=temporal), flows.attack_type)
    assert agreement["temporal_alone"].isna().all()
    assert agreement["keep_other"].isna().all()  # the other expert has no input to force
    assert agreement["keep_dominant"].notna().all()


def test_gating_report_accuracy_needs_labels(moe, flows):
    report = gating_report(moe, flows.data, flows.attack_type)
    assert "accuracy" not in report  # a 0/1 model cannot be scored against attack names


def test_gating_report_multiclass_uses_attack_type(flows):
    model = tiny_moe().fit(flows.data, flows.attack_type)
    report = gating_report(model, flows.data, flows.attack_type)
    mask = (flows.attack_type == "Portscan").to_numpy()
    expected = np.mean(model.predict(flows.data)[mask] == "Portscan")
    assert report.loc["Portscan", "accuracy"] == pytest.approx(expected)


def test_gating_report_without_timing_columns_routes_to_tabular(moe, flows):
    temporal = moe[0].feature_groups_["temporal"]
    with pytest.warns(MissingFeaturesWarning):
        report = gating_report(moe, flows.data.drop(columns=temporal), flows.attack_type)
    np.testing.assert_array_equal(report["temporal_mean"], 0.0)
    np.testing.assert_allclose(report["tabular_mean"], 1.0, atol=1e-6)


def test_gating_report_checks_lengths(moe, flows):
    with pytest.raises(ValueError, match="attack_type must be 1-d"):
        gating_report(moe, flows.data, flows.attack_type.iloc[:5])


def test_plot_gating_writes_pngs(moe, flows, tmp_path):
    paths = plot_gating(
        moe,
        flows.data,
        flows.attack_type,
        tmp_path / "plots",
        y=flows.target,
        class_names={0: "benign", 1: "attack"},
        title="test",
        caption="made by test_plot_gating_writes_pngs",
    )
    assert [p.name for p in paths] == ["gating_distribution.png", "gating_by_attack_type.png"]
    for path in paths:
        content = path.read_bytes()
        assert content.startswith(b"\x89PNG") and len(content) > 5000


def test_plot_gating_without_matplotlib(moe, flows, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # import matplotlib... now fails
    with pytest.raises(ImportError, match=r"moeids\[plot\]"):
        plot_gating(moe, flows.data, flows.attack_type, tmp_path)


# ------------------------------------------------------------------ robustness


def test_robustness_curve_removes_columns(fast, flows):
    recorder = ColumnRecorder(fast)
    curve = robustness_curve(
        recorder, flows.data, flows.target, fractions=(1, 0.5), n_draws=3, random_state=0
    )
    n = flows.data.shape[1]
    assert curve["fraction"].tolist() == [1.0, 0.5]
    assert curve["n_features"].tolist() == [n, round(n / 2)]
    assert curve["n_draws"].tolist() == [1, 3]  # all columns: one evaluation suffices
    assert len(recorder.seen) == 4
    assert recorder.seen[0] == list(flows.data.columns)
    for kept in recorder.seen[1:]:
        assert len(kept) == round(n / 2) and set(kept) < set(flows.data.columns)
    assert len({tuple(k) for k in recorder.seen[1:]}) == 3  # three different subsets
    full = f1_score(flows.target, fast.predict(flows.data))
    assert curve.loc[0, "f1_mean"] == pytest.approx(full)
    row = curve.loc[1]
    assert row["f1_min"] <= row["f1_mean"] <= row["f1_max"] and row["f1_std"] >= 0


def test_robustness_curve_is_reproducible_and_restricted(fast, flows):
    first, second = ColumnRecorder(fast), ColumnRecorder(fast)
    candidates = ["Flow Duration", "Flow IAT Mean", "Flow IAT Max", "Fwd IAT Total"]
    kwargs = dict(fractions=(0.5,), n_draws=2, random_state=3, columns=candidates)
    a = robustness_curve(first, flows.data, flows.target, **kwargs)
    b = robustness_curve(second, flows.data, flows.target, **kwargs)
    pd.testing.assert_frame_equal(a, b)
    assert first.seen == second.seen
    for kept in first.seen:  # only candidate columns are ever removed
        removed = set(flows.data.columns) - set(kept)
        assert len(removed) == 2 and removed <= set(candidates)


def test_robustness_curve_multiclass_macro_f1(flows):
    model = fast_model().fit(flows.data, flows.attack_type)
    curve = robustness_curve(model, flows.data, flows.attack_type, fractions=(1,))
    expected = f1_score(flows.attack_type, model.predict(flows.data), average="macro")
    assert curve.loc[0, "f1_mean"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fractions": (0.0,)}, ValueError, "fractions must lie in"),
        ({"fractions": (1.5,)}, ValueError, "fractions must lie in"),
        ({"n_draws": 0}, ValueError, "n_draws"),
        ({"columns": ["no such column"]}, ValueError, "no such column"),
    ],
)
def test_robustness_curve_rejects_bad_arguments(fast, flows, kwargs, error, match):
    with pytest.raises(error, match=match):
        robustness_curve(fast, flows.data, flows.target, **kwargs)


def test_robustness_curve_needs_a_dataframe(fast, flows):
    with pytest.raises(TypeError, match="DataFrame"):
        robustness_curve(fast, flows.data.to_numpy(), flows.target)


# ------------------------------------------------------------------ sensor profiles


def test_sensor_profiles_use_canonical_cicids2017_names():
    for name, profile in SENSOR_PROFILES.items():
        unknown = set(profile) - set(CICIDS2017_FEATURES)
        assert not unknown, f"{name}: {unknown}"
        assert all(isinstance(source, str) and source for source in profile.values())


def test_sensor_profile_scores(fast, flows):
    recorder = ColumnRecorder(fast)
    scores = sensor_profile_scores(recorder, flows.data, flows.target)
    assert scores.index.tolist() == ["all columns", *SENSOR_PROFILES]
    assert scores.loc["all columns", "n_features"] == flows.data.shape[1]
    for name, profile in SENSOR_PROFILES.items():
        assert scores.loc[name, "n_features"] == len(profile)
    assert set(recorder.seen[1]) == set(SENSOR_PROFILES["zeek_conn"])
    full = f1_score(flows.target, fast.predict(flows.data))
    assert scores.loc["all columns", "f1"] == pytest.approx(full)
    assert scores[["f1", "precision", "recall"]].stack().between(0, 1).all()


def test_sensor_profile_without_shared_columns(fast, flows):
    with pytest.raises(ValueError, match="'nothing' shares no column"):
        sensor_profile_scores(fast, flows.data, flows.target, profiles={"nothing": ["sbytes"]})


# ------------------------------------------------------------------ compare


def test_compare_binary_and_fitted_models(flows):
    n = len(flows.data)
    order = np.random.default_rng(0).permutation(n)
    train, test = order[: n // 2], order[n // 2 :]
    X, y = flows.data, flows.target
    split = (X.iloc[train], y.iloc[train], X.iloc[test], y.iloc[test])
    models = {"logreg": fast_model(), "tree": make_pipeline(
        FeatureSplitter("cicids2017"), DecisionTreeClassifier(max_depth=4, random_state=0)
    )}  # fmt: skip
    table, fitted = compare(models, {"cic": split}, return_estimators=True)
    assert table.index.tolist() == [("cic", "logreg"), ("cic", "tree")]
    assert table.loc[("cic", "logreg"), "n_train"] == len(train)
    y_test = y.iloc[test].to_numpy()
    y_pred = fitted["cic", "logreg"].predict(X.iloc[test])
    row = table.loc[("cic", "logreg")]
    assert row["fn"] == np.sum((y_test == 1) & (y_pred == 0))
    assert row["fp"] == np.sum((y_test == 0) & (y_pred == 1))
    assert row["f1"] == pytest.approx(f1_score(y_test, y_pred))
    assert (table[["fit_time_s", "train_flows_per_s", "predict_flows_per_s"]] > 0).all().all()
    assert table[["precision", "recall", "roc_auc", "accuracy"]].stack().between(0, 1).all()


def test_compare_multiclass_detection_view(flows):
    X, y = flows.data, flows.attack_type
    split = (X, y, X, y)
    table = compare({"logreg": fast_model()}, {"cic": split}, benign_label="Benign")
    row = table.loc[("cic", "logreg")]
    model = fast_model().fit(X, y)
    y_pred = model.predict(X)
    assert row["fn"] == np.sum((y != "Benign").to_numpy() & (y_pred == "Benign"))
    assert row["f1_macro"] == pytest.approx(f1_score(y, y_pred, average="macro"))


def test_compare_rejects_unknown_benign_label(flows):
    split = (flows.data, flows.attack_type, flows.data, flows.attack_type)
    with pytest.raises(ValueError, match="benign_label=0 is not a class"):
        compare({"logreg": fast_model()}, {"cic": split})


def test_compare_rejects_bad_datasets(flows):
    with pytest.raises(ValueError, match="X_train, y_train, X_test, y_test"):
        compare({"logreg": fast_model()}, {"cic": (flows.data, flows.target)})
