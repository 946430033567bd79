"""moeids.thresholds: thresholds fitted on benign deployment flows, and the drift report.

Real data: the committed CIC-IDS2017 slices (corrected sample for training, the original-format
Friday file as the "deployment's" benign traffic).
"""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_cicids2017
from moeids.thresholds import _threshold_at, drift_report, fit_threshold, plot_drift

DATA = Path(__file__).parent / "data" / "cic_ids2017"
# the original format lacks six columns of the corrected one: expected here
pytestmark = pytest.mark.filterwarnings("ignore::moeids.features.splitter.MissingFeaturesWarning")


@pytest.fixture(scope="module")
def corrected():
    return load_cicids2017(DATA / "cicids2017_improved.slice.csv.gz")


@pytest.fixture(scope="module")
def friday():
    return load_cicids2017(DATA / "cicids2017_original_friday.slice.csv.gz")


@pytest.fixture(scope="module")
def model(corrected):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    pipe = make_pipeline(
        FeatureSplitter("cicids2017"),
        MoEClassifier(
            d_model=8, n_layers=1, n_heads=2, epochs=3, pretrain_epochs=0,
            validation_fraction=0.0, ema_decay=0.0, random_state=0, device="cpu",
        ),
    )  # fmt: skip
    pipe.fit(corrected.data, corrected.target)
    yield pipe
    torch.set_num_threads(threads)


@pytest.mark.parametrize("max_fpr", [0.01, 0.05, 0.2])
def test_fit_threshold_flags_at_most_max_fpr_of_the_benign_flows(model, friday, max_fpr):
    clf = fit_threshold(model, friday.data, max_fpr=max_fpr)
    assert isinstance(clf, FixedThresholdClassifier)
    report = clf.threshold_report_
    flagged = (clf.predict(friday.data) == 1).sum()
    assert flagged == report.n_flagged <= np.floor(max_fpr * len(friday.data))
    assert report.expected_fpr == flagged / len(friday.data) <= max_fpr
    assert report.expected_fpr <= report.fpr_upper_95 <= 1
    assert report.response_method == "decision_function"
    assert clf.threshold == report.threshold
    assert report.probability_threshold == pytest.approx(1 / (1 + np.exp(-report.threshold)))
    assert 0 <= report.saturated <= 1


def test_fitted_threshold_keeps_the_model_and_pickles(model, friday, corrected):
    clf = fit_threshold(model, friday.data, max_fpr=0.05)
    np.testing.assert_array_equal(
        clf.predict_proba(corrected.data), model.predict_proba(corrected.data)
    )
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(corrected.data), clf.predict(corrected.data))
    assert again.threshold_report_ == clf.threshold_report_


def test_threshold_with_ties_never_exceeds_the_allowed_count():
    # saturated scores: most of them tie at 1.0
    scores = np.r_[np.ones(50), np.linspace(0, 0.5, 50)]
    for max_fpr in (0.01, 0.3, 0.6):
        t = _threshold_at(scores, max_fpr)
        assert (scores >= t).sum() <= np.floor(max_fpr * len(scores))
    t = _threshold_at(np.r_[np.zeros(9), 2.0], 0.1)  # one may pass: midway below it
    assert t == 1.0


def test_fit_threshold_falls_back_to_probabilities(corrected, friday):
    forest = make_pipeline(
        FeatureSplitter("cicids2017", missing="zero"),
        RandomForestClassifier(n_estimators=10, random_state=0),
    ).fit(corrected.data, corrected.target)
    clf = fit_threshold(forest, friday.data, max_fpr=0.02)
    assert clf.threshold_report_.response_method == "predict_proba"
    assert np.isnan(clf.threshold_report_.saturated)
    assert (clf.predict(friday.data) == 1).mean() <= 0.02


def test_fit_threshold_rejects_bad_input(model, friday, corrected):
    for bad in (0, 1, 1.5, "0.1"):
        with pytest.raises(ValueError, match="max_fpr"):
            fit_threshold(model, friday.data, max_fpr=bad)
    with pytest.raises(ValueError, match="empty"):
        fit_threshold(model, friday.data.iloc[:0])
    multi = make_pipeline(
        FeatureSplitter("cicids2017", missing="zero"),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ).fit(corrected.data, corrected.attack_type)
    with pytest.raises(ValueError, match="binary"):
        fit_threshold(multi, friday.data)


def test_drift_report_ranks_moved_and_missing_features_first(friday):
    ref = friday.data.iloc[:128].reset_index(drop=True)
    new = friday.data.iloc[128:].reset_index(drop=True).copy()
    new["Flow Duration"] = new["Flow Duration"] * 1000 + 1e9  # a unit change
    new = new.drop(columns=["FWD Init Win Bytes"])
    new["Src IP"] = "10.0.0.1"  # identifiers are not compared
    new["service"] = "http"
    report = drift_report(ref, new)
    assert set(report.index[:2]) == {"Flow Duration", "FWD Init Win Bytes"}
    assert report.loc["Flow Duration", "ks"] == 1.0
    assert report.loc["Flow Duration", "psi"] > 5  # every new value beyond the last bin edge
    assert report.loc["FWD Init Win Bytes", "missing_new"] == 1.0
    assert report.loc["FWD Init Win Bytes", "missing_change"] == 1.0
    assert "Src IP" not in report.index
    assert report.loc["service", "kind"] == "text"
    assert report.loc["service", "missing_reference"] == 1.0
    assert report["shift"].is_monotonic_decreasing


def test_drift_report_of_identical_flows_is_zero_and_counts_inf_missing(friday):
    frame = friday.data.copy()
    report = drift_report(frame, frame)
    assert (report["ks"].fillna(0) == 0).all() and (report["psi"].fillna(0) < 1e-9).all()
    inf_share = np.isinf(pd.to_numeric(frame["Flow Bytes/s"], errors="coerce")).mean()
    assert inf_share > 0
    assert report.loc["Flow Bytes/s", "missing_reference"] >= inf_share


def test_drift_report_rejects_bad_input(friday):
    with pytest.raises(ValueError, match="new_flows"):
        drift_report(friday.data, friday.data.iloc[:0])
    with pytest.raises(ValueError, match="bins"):
        drift_report(friday.data, friday.data, bins=1)


def test_plot_drift_draws_the_top_features(friday):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    report = drift_report(friday.data.iloc[:100], friday.data.iloc[100:])
    ax = plot_drift(report, top=5)
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(i) for i in report.index[:5]][::-1]
