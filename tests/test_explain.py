"""Tests for per-flow feature attributions: MoEClassifier.explain(top_k) and the analysis views.

Data: the corrected CIC-IDS2017 re-extraction (Sharafaldin et al., ICISSP 2018; Engelen et
al., IEEE SPW 2021), the small slice in tests/data.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from moeids import FeatureSplitter, MoEClassifier
from moeids.analysis import (
    attribution_summary,
    explain_flows,
    flow_attributions,
    plot_attributions,
)
from moeids.datasets import load_cicids2017
from moeids.features.splitter import MissingFeaturesWarning
from moeids.moe.attribution import class_log_odds

pytest.importorskip("captum")

SLICE = Path(__file__).parent / "data/cic_ids2017/cicids2017_improved.slice.csv.gz"


@pytest.fixture(scope="module")
def flows():
    return load_cicids2017(SLICE)


def tiny(**kwargs):
    params = dict(
        d_model=8, n_layers=1, n_heads=2, epochs=2, pretrain_epochs=0,
        validation_fraction=0.0, ema_decay=0.0, random_state=0, device="cpu",
    )  # fmt: skip
    return MoEClassifier(**(params | kwargs))


@pytest.fixture(scope="module")
def fitted(flows):
    """(splitter, classifier, transformed rows) of a binary model on 80 flows."""
    splitter = FeatureSplitter("cicids2017").fit(flows.data)
    Xt = splitter.transform(flows.data)
    return splitter, tiny().fit(Xt, flows.target), Xt.iloc[:40]


def log_odds(clf, X, target):
    logits = clf.forward(X).logits
    return class_log_odds(torch.as_tensor(logits)).numpy()[np.arange(len(X)), target]


def test_explain_top_k_lists_input_names_with_finite_values(fitted):
    splitter, clf, X = fitted
    frame = clf.explain(X, top_k=5)
    assert list(frame.columns)[-1] == "top_features"
    inputs = set(splitter.feature_names_in_)
    for top in frame["top_features"]:
        assert len(top) == 5
        assert set(top) <= inputs  # user's column names, no group__ prefix
        assert np.isfinite(list(top.values())).all()


def test_explain_without_top_k_keeps_todays_columns(fitted):
    _, clf, X = fitted
    frame = clf.explain(X)
    assert list(frame.columns) == [
        "prediction", "confidence", "tabular", "temporal", "missing_features"
    ]  # fmt: skip


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True, "5"])
def test_explain_rejects_bad_top_k(fitted, top_k):
    _, clf, X = fitted
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        clf.explain(X, top_k=top_k)


def test_contribution_is_log_odds_over_the_feature_missing(fitted):
    _, clf, X = fitted
    row = X.iloc[:3]
    scores = flow_attributions(clf, row).to_numpy()
    attack = np.ones(3, dtype=int)  # binary: explained for classes_[1]
    for j in (0, 10, X.shape[1] - 1):
        hidden = row.copy()
        hidden.iloc[:, j] = np.nan
        expected = log_odds(clf, row, attack) - log_odds(clf, hidden, attack)
        np.testing.assert_allclose(scores[:, j], expected, rtol=1e-4, atol=1e-5)


def test_top_features_order_and_sign(fitted):
    _, clf, X = fitted
    frame = clf.explain(X, top_k=3)
    scores = flow_attributions(clf, X)
    pairs = zip(frame["prediction"], frame["top_features"], strict=True)
    for i, (prediction, top) in enumerate(pairs):
        sign = 1.0 if prediction == clf.classes_[1] else -1.0  # supports the label shown
        best = (scores.iloc[i] * sign).nlargest(3)
        assert list(top.values()) == pytest.approx(list(scores.iloc[i][list(top)]))
        assert sign * np.array(list(top.values())) == pytest.approx(best.to_numpy())


def test_missing_features_are_never_top(fitted):
    _, clf, X = fitted
    rows = X.iloc[:2].copy()
    rows.iloc[0, :-2] = np.nan  # two features left
    rows.iloc[1, :5] = np.nan
    frame = clf.explain(rows, top_k=5)
    assert len(frame["top_features"].iloc[0]) == 2
    hidden = {c.partition("__")[2] for c in rows.columns[:5]}
    assert not hidden & set(frame["top_features"].iloc[1])


def test_multiclass_explains_the_predicted_class(flows):
    splitter = FeatureSplitter("cicids2017").fit(flows.data)
    Xt = splitter.transform(flows.data)
    clf = tiny().fit(Xt, flows.attack_type)
    row = Xt.iloc[:4]
    predicted = clf.forward(row).proba.argmax(1)
    scores = flow_attributions(clf, row).to_numpy()
    hidden = row.copy()
    hidden.iloc[:, 3] = np.nan
    expected = log_odds(clf, row, predicted) - log_odds(clf, hidden, predicted)
    np.testing.assert_allclose(scores[:, 3], expected, rtol=1e-4, atol=1e-5)


def test_explain_flows_on_raw_flows(flows, fitted):
    splitter, clf, _ = fitted
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([("split", splitter), ("moe", clf)])
    raw = flows.data.iloc[:10].drop(columns=["Flow Duration"])
    with pytest.warns(MissingFeaturesWarning):
        frame = explain_flows(pipeline, raw, top_k=4)
    assert frame.index.equals(raw.index)
    assert all("Flow Duration" in missing for missing in frame["missing_features"])
    assert all("Flow Duration" not in top and len(top) == 4 for top in frame["top_features"])


def test_attribution_summary_per_attack_type(fitted, flows):
    _, clf, X = fitted
    scores = flow_attributions(clf, X)
    types = flows.attack_type.iloc[: len(X)]
    summary = attribution_summary(scores, types)
    assert summary.columns[0] == "all"
    assert set(summary.columns[1:]) == set(types)
    assert set(summary.index) == set(scores.columns)
    assert summary["all"].is_monotonic_decreasing
    kind = types.iloc[0]
    expected = scores.abs()[(types == kind).to_numpy()].mean()
    np.testing.assert_allclose(summary[kind], expected[summary.index])
    with pytest.raises(TypeError, match="flow_attributions"):
        attribution_summary(scores.to_numpy(), types)


def test_plot_attributions_writes_png(fitted, flows, tmp_path):
    pytest.importorskip("matplotlib")
    _, clf, X = fitted
    summary = attribution_summary(flow_attributions(clf, X), flows.attack_type.iloc[: len(X)])
    path = plot_attributions(summary, tmp_path / "a" / "attr.png", top=5, caption="test")
    content = path.read_bytes()
    assert content.startswith(b"\x89PNG") and len(content) > 3000


def test_explain_without_captum_names_the_extra(fitted, monkeypatch):
    _, clf, X = fitted
    for name in [m for m in sys.modules if m.split(".")[0] == "captum"] + ["captum"]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"moeids\[explain\]"):
        clf.explain(X, top_k=5)


def test_attributions_of_a_frame_keep_its_index(fitted):
    _, clf, X = fitted
    scores = flow_attributions(clf, X)
    assert isinstance(scores, pd.DataFrame) and scores.index.equals(X.index)


# ------------------------------------------------------------------ gate routing target


def _logits_for(p_true):
    """Binary logits (n_experts, 2) whose class-1 probability is each of ``p_true``."""
    p = torch.as_tensor(p_true)
    return torch.stack([torch.zeros_like(p), torch.log(p / (1 - p))], dim=-1)


def test_gate_target_temperature_routes_to_the_clearly_better_expert():
    from moeids.moe.losses import expert_losses

    y = torch.tensor([1])
    logits = _logits_for([0.99, 0.3]).unsqueeze(0)  # tabular sure and right, temporal not
    both = torch.ones(1, 2)
    share = torch.tensor([[0.99 / 1.29, 0.3 / 1.29]])  # T = 1: share of p(y)
    sharp = torch.tensor([[0.999, 0.001]])
    assert expert_losses(share, logits, both, y) < expert_losses(sharp, logits, both, y)
    loss_share = expert_losses(share, logits, both, y, target_temperature=0.1)
    assert expert_losses(sharp, logits, both, y, target_temperature=0.1) < loss_share


def test_gate_target_temperature_keeps_equally_sure_experts_equal():
    from moeids.moe.losses import expert_losses

    y = torch.tensor([1])
    logits = _logits_for([0.98, 0.98]).unsqueeze(0)
    both, half = torch.ones(1, 2), torch.full((1, 2), 0.5)
    tilted = torch.tensor([[0.7, 0.3]])
    assert expert_losses(half, logits, both, y, target_temperature=0.1) < expert_losses(
        tilted, logits, both, y, target_temperature=0.1
    )
    no_input = torch.zeros(1, 2)  # a row without any input stays finite at a low T
    assert torch.isfinite(expert_losses(half, logits, no_input, y, target_temperature=0.01))


def test_gate_target_temperature_is_validated():
    with pytest.raises(ValueError, match="gate_target_temperature"):
        tiny(gate_target_temperature=0.0).fit(np.ones((4, 2)), [0, 1, 0, 1])


def test_score_flows_top_k(flows, fitted):
    from sklearn.pipeline import Pipeline

    from moeids.scoring import decision_columns, score_flows

    splitter, clf, _ = fitted
    pipeline = Pipeline([("split", splitter), ("moe", clf)])
    raw = flows.data.iloc[:6]
    decisions = score_flows(pipeline, raw, top_k=3)
    assert list(decisions.columns) == decision_columns(pipeline, top_k=3)
    assert "top_features" not in decision_columns(pipeline)
    expected = explain_flows(pipeline, raw, top_k=3)["top_features"]
    assert decisions["top_features"].tolist() == expected.tolist()
