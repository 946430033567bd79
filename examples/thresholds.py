"""Thresholds at a target false-positive rate, and feature drift between two captures.

A detector's default cut (probability 0.5) says nothing about how many benign flows it
flags in *your* network. ``fit_threshold`` moves the cut so that at most ``max_fpr`` of a set
of benign flows from the deployment are flagged. Here a small model is trained on the bundled
sample of the corrected CIC-IDS2017 re-extraction (Engelen et al., 2021) and thresholded on
a real slice of benign flows of the *original* CIC-IDS2017 Friday export (another extractor
version: the distribution shift a deployment sees); ``drift_report`` ranks the features that moved::

    python examples/thresholds.py
"""

import warnings

from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_cicids2017, load_sample
from moeids.features import MissingFeaturesWarning
from moeids.thresholds import drift_report, fit_threshold

warnings.simplefilter("ignore", MissingFeaturesWarning)  # the 2017 export lacks 6 columns
flows = load_sample()
X_train, X_test, y_train, y_test = train_test_split(
    flows.data, flows.target, test_size=0.3, stratify=flows.attack_type, random_state=0
)
friday = load_cicids2017("tests/data/cic_ids2017/cicids2017_original_friday.slice.csv.gz")
calibration, held_out = train_test_split(friday.data, test_size=0.5, random_state=0)
print("benign flows to calibrate on:", len(calibration), "held out:", len(held_out))

small = {"d_model": 16, "n_layers": 1, "epochs": 15, "pretrain_epochs": 1}
model = make_pipeline(
    FeatureSplitter(), MoEClassifier(**small, class_weight="balanced", random_state=0, verbose=0)
).fit(X_train, y_train)
print("false-positive rate at the default cut:", round(model.predict(held_out).mean(), 4))

detector = fit_threshold(model, calibration, max_fpr=0.02)
report = detector.threshold_report_
print(f"threshold (logit margin): {report.threshold:.3f}")
print(f"flagged in calibration: {report.expected_fpr:.4f} (95 % bound {report.fpr_upper_95:.4f})")
print("false-positive rate on the held-out benign flows:", detector.predict(held_out).mean())
attacks = X_test[y_test == 1]
print("share of the test attacks still flagged:", round(detector.predict(attacks).mean(), 4))

drift = drift_report(X_train, friday.data)
print("columns the original export lacks:", list(drift.index[drift["missing_new"] == 1]))
print("features whose distribution moved most (KS statistic, PSI):")
print(drift.dropna(subset=["ks"])[["ks", "psi"]].head(5).round(3).to_string())
