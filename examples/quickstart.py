"""Train and evaluate a detector on the bundled real sample, then save and reload it.

Runs offline on the real CIC-IDS2017 flows bundled with moeids (Sharafaldin et al.,
ICISSP 2018; corrected re-extraction by Engelen et al., 2021). The settings are small so
that it runs in well under a minute on two CPU cores; the library defaults
(``MoEClassifier()``) train a larger network for longer::

    python examples/quickstart.py
"""

import tempfile
from pathlib import Path

from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import moeids
from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_sample

flows = load_sample()
print("flows:", flows.data.shape, "attacks:", int(flows.target.sum()))
X_train, X_test, y_train, y_test = train_test_split(
    flows.data, flows.target, test_size=0.3, stratify=flows.attack_type, random_state=0
)

small = {
    "d_model": 16,
    "n_layers": 1,
    "epochs": 15,
    "pretrain_epochs": 1,
    "class_weight": "balanced",
}
model = make_pipeline(FeatureSplitter(), MoEClassifier(**small, random_state=0, verbose=0))
model.fit(X_train, y_train)
print(classification_report(y_test, model.predict(X_test), target_names=["benign", "attack"]))

# One pickle-free, checksummed file for the whole pipeline; load gives the same predictions.
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "ids.safetensors"
    moeids.save(model, path)
    reloaded = moeids.load(path)
    same = (reloaded.predict(X_test) == model.predict(X_test)).all()
    print("saved and reloaded, same predictions:", bool(same))
