"""Scanning a capture: packets -> flows -> one decision per flow.

Needs the ``flows`` extra (``pip install "moeids[flows]"``: NFStream). ``read_pcap`` extracts
flows from the five real captures under ``tests/data/pcaps`` (see their ``PROVENANCE.md``)
and names their features with the canonical CIC-IDS2017 vocabulary, so that a model trained
on the CIC-IDS2017 CSV files reads them; features NFStream does not compute are missing.
A small model trained on the bundled sample then scores every flow. Flows from another
extractor are a distribution shift: read the verdicts with the threshold tutorial in mind.
The command line does the same: ``moeids scan tests/data/pcaps --model ids.safetensors``::

    python examples/scan_capture.py
"""

import warnings

from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_sample
from moeids.features import MissingFeaturesWarning
from moeids.flows import read_pcap
from moeids.scoring import score_flows

flows = read_pcap("tests/data/pcaps")
print("flows per capture:", flows.metadata["capture"].value_counts().to_dict())

sample = load_sample()
small = {"d_model": 16, "n_layers": 1, "epochs": 15, "pretrain_epochs": 1}
model = make_pipeline(
    FeatureSplitter(), MoEClassifier(**small, class_weight="balanced", random_state=0, verbose=0)
).fit(sample.data, sample.target)

warnings.simplefilter("ignore", MissingFeaturesWarning)  # NFStream lacks some CIC features
decisions = score_flows(model, flows.data)
n_inputs = len(model[0].get_feature_names_out())
decisions["features_present"] = 1 - decisions["missing_features"].str.len() / n_inputs
table = flows.metadata[["capture", "src_ip", "dst_ip", "dst_port", "protocol"]].join(decisions)
print("share of the model's features the extractor provided:", table["features_present"].median())
print("share of flows flagged per capture:")
print(table.groupby("capture")["label"].mean().round(3).to_string())
columns = ["capture", "dst_ip", "dst_port", "attack_probability", "gate_tabular"]
print(table.sort_values("attack_probability", ascending=False)[columns].head(5).to_string())
