"""Thresholds at a target false-positive rate, and feature drift between two captures.

A detector's default cut (probability 0.5) says nothing about how many benign flows it
flags in *your* network. ``fit_threshold`` moves the cut so that at most ``max_fpr`` of a set
of benign flows from the deployment are flagged. Here a small model is trained on a real
slice of the corrected CIC-IDS2017 re-extraction (Engelen et al., 2021) and thresholded on
benign flows of the *original* CIC-IDS2017 Friday export (another extractor version: the
distribution shift a deployment sees); ``drift_report`` ranks the features that moved::

    python examples/thresholds.py
"""

import warnings

from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_cicids2017
from moeids.features import MissingFeaturesWarning
from moeids.thresholds import drift_report, fit_threshold

warnings.simplefilter("ignore", MissingFeaturesWarning)  # the 2017 export lacks 6 columns
train = load_cicids2017("tests/data/cic_ids2017/cicids2017_improved.slice.csv.gz")
friday = load_cicids2017("tests/data/cic_ids2017/cicids2017_original_friday.slice.csv.gz")
benign = friday.data[friday.target == 0]
calibration, held_out = train_test_split(benign, test_size=0.5, random_state=0)
print("training flows:", len(train.data), "benign flows to calibrate on:", len(calibration))

small = {"d_model": 16, "n_layers": 1, "epochs": 10, "pretrain_epochs": 1}
model = make_pipeline(
    FeatureSplitter("cicids2017"), MoEClassifier(**small, random_state=0, verbose=0)
).fit(train.data, train.target)
print("false-positive rate at the default cut:", round(model.predict(held_out).mean(), 4))

detector = fit_threshold(model, calibration, max_fpr=0.02)
report = detector.threshold_report_
print(f"threshold (logit margin): {report.threshold:.3f}")
print(f"flagged on the calibration flows: {report.expected_fpr:.4f} (95 % bound {report.fpr_upper_95:.4f})")
print("false-positive rate on held-out benign flows:", round(detector.predict(held_out).mean(), 4))
attacks = friday.data[friday.target == 1]
print("attacks still flagged:", round(detector.predict(attacks).mean(), 4), "of", len(attacks))

print("features that moved most between the two exports:")
print(drift_report(train.data, friday.data).head(5).to_string())
