"""Reading the gate weights: which expert decided, per flow and per attack type.

The classifier weighs a tabular expert (FT-Transformer over the flow statistics) and a
temporal expert (1D CNN over the inter-arrival times) per flow. This script trains a small
model on the bundled real sample and prints the weights three ways: per flow
(``predict_gating``), per flow with the decision (``score_flows``, the record the CLI and the
streaming scorer write) and per attack type (``gating_report``)::

    python examples/gating.py
"""

import warnings

from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.analysis import gating_report
from moeids.datasets import load_sample
from moeids.features import MissingFeaturesWarning
from moeids.scoring import score_flows

flows = load_sample()
X_train, X_test, y_train, y_test, type_train, type_test = train_test_split(
    flows.data,
    flows.target,
    flows.attack_type,
    test_size=0.3,
    stratify=flows.attack_type,
    random_state=0,
)
small = {"d_model": 16, "n_layers": 1, "epochs": 15, "pretrain_epochs": 1}
model = make_pipeline(
    FeatureSplitter(),
    MoEClassifier(**small, class_weight="balanced", random_state=0, verbose=0),
).fit(X_train, y_train)

splitter, classifier = model[:-1], model[-1]
print("gate weights of three flows (rows sum to 1):")
print(classifier.predict_gating(splitter.transform(X_test.head(3))).to_string())

warnings.simplefilter("ignore", MissingFeaturesWarning)  # the absent column is on purpose
decisions = score_flows(model, X_test.head(3).drop(columns=["Flow IAT Mean"]))
print("decision records, one column absent:")
print(decisions.drop(columns="missing_features").to_string())
print("missing in the first flow:", decisions["missing_features"].iloc[0])

print("mean gate weight and detection rate per attack type:")
print(gating_report(model, X_test, type_test, y=y_test).round(3).to_string())
