"""Quick start: train, evaluate, explain, save and reload a detector on real flows.

Runs offline on the real CIC-IDS2017 sample bundled with moeids (Sharafaldin et al.,
ICISSP 2018; corrected re-extraction by Engelen et al., 2021), in about a minute on two
CPU cores::

    python examples/quickstart.py
"""

import tempfile
from pathlib import Path

import joblib
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_sample

flows = load_sample()
X_train, X_test, y_train, y_test = train_test_split(
    flows.data, flows.target, test_size=0.3, stratify=flows.attack_type, random_state=0
)

model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, verbose=0))
model.fit(X_train, y_train)
print(classification_report(y_test, model.predict(X_test), target_names=["benign", "attack"]))

# The sensor exports only part of the features: drop them, the pipeline treats them as missing.
partial = X_test.drop(columns=["Flow Duration", "Flow IAT Mean", "Total Fwd Packet"])
print("accuracy with three columns absent:", model.score(partial, y_test))

# Per flow: prediction, confidence, expert weights and which features were missing.
splitter, classifier = model[:-1], model[-1]
print(classifier.explain(splitter.transform(partial.head(3))).to_string())

with tempfile.TemporaryDirectory() as folder:
    joblib.dump(model, Path(folder) / "ids.joblib")  # the whole pipeline
    classifier.save(Path(folder) / "moe.safetensors")  # the classifier, pickle-free
    reloaded = MoEClassifier.load(Path(folder) / "moe.safetensors")
    same = (reloaded.predict(splitter.transform(X_test)) == model.predict(X_test)).all()
    print("safetensors round trip gives the same predictions:", bool(same))
