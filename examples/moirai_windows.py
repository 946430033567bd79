"""The Moirai detector on flow windows, tested on synthetic stealthy attacks.

Needs uni2ts (``pip install --no-deps uni2ts==2.0.0 && pip install "moeids[moirai]"``).
Windows of 12 flow features are cut from the benign rows of the bundled real RT-IoT2022
slice (``tests/data/rt_iot2022``: a stratified sample, not a contiguous capture, so the
windows show the path, not a realistic traffic rhythm). A *tiny, randomly initialised*
Moirai network is fine-tuned on benign windows (``fit``, unsupervised), then ``calibrate``
picks the score direction and threshold on benign windows mixed with **synthetic** attacks
made from other benign windows (stealth 0.2: far less stealthy than the benchmark's 0.85-0.95).
The held-out windows are scored at the end. Network and data are tiny so that it runs in
seconds; its numbers are not a measurement (``docs/results/moirai.md`` has those)::

    python examples/moirai_windows.py
"""

import numpy as np
from sklearn.metrics import roc_auc_score

from moeids import FlowWindower, MoiraiNLLDetector
from moeids.datasets import load_rt_iot2022
from moeids.moirai import make_synthetic_attacks
from moeids.moirai.windows import RT_IOT2022_WINDOW_FEATURES

flows = load_rt_iot2022("tests/data/rt_iot2022/rt_iot2022.slice.csv.gz")
benign_rows = flows.data[flows.target == 0]
windower = FlowWindower(seq_length=16, stride=1, features=RT_IOT2022_WINDOW_FEATURES)
windows = windower.fit(benign_rows).transform(benign_rows)
print("benign flows:", len(benign_rows), "-> windows:", windows.shape)

rng = np.random.default_rng(0)
order = rng.permutation(len(windows))
train, calib, test = np.array_split(windows[order], 3)
fake_calib, _ = make_synthetic_attacks(calib, stealth=0.2, random_state=0)
fake_test, info = make_synthetic_attacks(test, stealth=0.2, random_state=1)
print("synthetic attack kinds in the test set:", info["kind"].value_counts().to_dict())

detector = MoiraiNLLDetector(
    model_size="tiny",
    context_length=8,
    prediction_length=8,
    epochs=10,
    batch_size=16,
    device="cpu",
    random_state=0,
)
detector.fit(train)  # unsupervised: the NLL of benign windows
labels = np.r_[np.zeros(len(calib)), np.ones(len(fake_calib))]
detector.calibrate(np.concatenate([calib, fake_calib]), labels)  # direction and threshold
print("direction of the score:", detector.direction_)

X_test = np.concatenate([test, fake_test])
y_test = np.r_[np.zeros(len(test)), np.ones(len(fake_test))]
normality = detector.score_samples(X_test)  # higher = more normal
print("ROC-AUC on held-out windows:", round(roc_auc_score(y_test, -normality), 3))
print(
    "flagged: benign",
    (detector.predict(test) == -1).mean().round(3),
    "synthetic",
    (detector.predict(fake_test) == -1).mean().round(3),
)
print("per-feature NLL of one window:", detector.explain(X_test[:1]).feature_nll.round(2))
