"""Missing features and sensor profiles: score flows from a sensor that exports fewer columns.

A FeatureSplitter fitted on all CIC-IDS2017 columns turns columns absent at predict time into
*missing* values (the network's [MASK] token), not zeros. This script trains a small model on
the bundled real sample, then scores the held-out flows with three columns dropped, with a
random share of the columns kept, and with only the columns a Zeek ``conn.log`` or a NetFlow v5
export has. It also shows how the splitter recognises which extractor wrote a table::

    python examples/missing_features.py
"""

import warnings

from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.analysis import robustness_curve, sensor_profile_scores
from moeids.datasets import load_sample
from moeids.features import MissingFeaturesWarning, detect_profile

flows = load_sample()
print("extractor profile of the sample's columns:", detect_profile(flows.data.columns))
X_train, X_test, y_train, y_test = train_test_split(
    flows.data, flows.target, test_size=0.3, stratify=flows.attack_type, random_state=0
)
small = {"d_model": 16, "n_layers": 1, "epochs": 15, "pretrain_epochs": 1}
model = make_pipeline(
    FeatureSplitter(),
    MoEClassifier(**small, class_weight="balanced", random_state=0, verbose=0),
).fit(X_train, y_train)
print("accuracy with every column:", round(model.score(X_test, y_test), 4))

# Columns absent at predict time: the splitter warns once and marks them missing.
partial = X_test.drop(columns=["Flow Duration", "Flow IAT Mean", "Total Fwd Packet"])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", MissingFeaturesWarning)
    print("accuracy with three columns absent:", round(model.score(partial, y_test), 4))
print("warning:", str(caught[0].message)[:100], "...")

warnings.simplefilter("ignore", MissingFeaturesWarning)
curve = robustness_curve(
    model, X_test, y_test, fractions=(1.0, 0.5, 0.3), n_draws=2, random_state=0
)
print("F1 by fraction of columns kept:")
print(curve.to_string())
print("F1 with only a sensor's columns:")
print(sensor_profile_scores(model, X_test, y_test).to_string())
