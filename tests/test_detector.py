"""Tests for MoiraiNLLDetector on tiny random Moirai models (needs uni2ts; runs in CI)."""

import json
import subprocess
import sys

import joblib
import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from moeids.moirai._uni2ts import INSTALL_HINT, new_module
from moeids.moirai.calibration import normality_scores
from moeids.moirai.detector import MoiraiNLLDetector
from moeids.moirai.packing import Packer, distribution

pytestmark = pytest.mark.moirai

T, H, F = 32, 8, 3
TINY = dict(
    model_size="tiny",
    context_length=T - H,
    prediction_length=H,
    epochs=3,
    batch_size=32,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on tiny batches: one thread is faster and immune to busy CI cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def toy_windows(n_benign=90, n_attack=30, kind="constant", seed=0):
    """Benign = smooth noisy cycles; attacks are flat (predictable) or jump in the horizon."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n_benign, 1, F))
    benign = np.sin(t / 3 + phase) + 0.3 * rng.normal(size=(n_benign, T, F))
    if kind == "constant":
        attack = np.repeat(rng.normal(size=(n_attack, 1, F)), T, axis=1)
        attack += 1e-3 * rng.normal(size=attack.shape)
    else:
        phase = rng.uniform(0, 2 * np.pi, size=(n_attack, 1, F))
        attack = np.sin(t / 3 + phase) + 0.3 * rng.normal(size=(n_attack, T, F))
        attack[:, -H:] += rng.choice([-6.0, 6.0], size=(n_attack, 1, F))
    X = np.concatenate([benign, attack]).astype(np.float32)
    y = np.r_[np.zeros(n_benign), np.ones(n_attack)].astype(int)
    return X, y


@pytest.fixture(scope="module")
def data():
    return toy_windows()


# Moirai's own per-window scaling (as in the pretrained checkpoints).
PER_WINDOW = {**TINY, "instance_scaling": True}


@pytest.fixture(scope="module")
def supervised(data):
    """Fine-tuned on all windows, then calibrated on their labels."""
    X, y = data
    return MoiraiNLLDetector(**PER_WINDOW).fit(X).calibrate(X, y)


@pytest.fixture(scope="module")
def unsupervised(data):
    X, y = data
    return MoiraiNLLDetector(**PER_WINDOW).fit(X[y == 0])


@pytest.mark.parametrize("patch_size", [8, 16, 32])
def test_fast_distribution_matches_uni2ts_forward(patch_size):
    """_distribution must equal MoiraiModule.forward (which pads tokens to 128 values)."""
    torch.manual_seed(0)
    module = new_module("tiny").eval()
    packer = Packer(64, 4, 32, patch_size)
    x = torch.randn(5, 64, 4)
    x[0, 10, 1] = float("nan")
    inputs = packer.pack(x)
    pad = lambda t: torch.nn.functional.pad(t, (0, 128 - patch_size))  # noqa: E731
    with torch.no_grad():
        ours = distribution(module, patch_size, *inputs).log_prob(inputs[0])
        full = module(pad(inputs[0]), pad(inputs[1]), *inputs[2:],
                      torch.full(inputs[2].shape, patch_size))  # fmt: skip
        theirs = full.log_prob(pad(inputs[0]))[..., :patch_size]
    # the fixed-scale normal component (scale 1e-3) amplifies float32 rounding of its mean
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-3, atol=5e-3)


def test_packer_round_trip():
    packer = Packer(30, 2, 8, 8)  # context 22 -> 3 tokens, 2 left-padded steps
    x = torch.arange(60.0).reshape(1, 30, 2)
    target, observed, *_, prediction_mask = packer.pack(x)
    assert target.shape == (1, 2 * (3 + 1), 8)
    assert prediction_mask.sum() == 2 and observed.sum() == 60
    np.testing.assert_array_equal(packer.horizon(target)[0].numpy(), x[0, -8:].numpy())


def test_calibrate_finds_low_nll_attacks(supervised, data):
    X, y = data
    det = supervised
    assert det.direction_ == "low"  # flat windows are more predictable than benign ones
    nll = det.nll(X)
    assert nll.shape == (len(X),) and nll[y == 1].mean() < nll[y == 0].mean()
    assert roc_auc_score(y, -det.score_samples(X)) > 0.95
    np.testing.assert_allclose(det.decision_function(X), det.score_samples(X) - det.offset_)
    pred = det.predict(X)
    assert set(np.unique(pred)) <= {-1, 1}
    assert ((pred == -1) == (y == 1)).mean() > 0.9
    proba = det.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(proba[:, 1] > 0.5, pred == -1)
    assert [h["epoch"] for h in det.history_] == [1, 2, 3]
    assert {"train_loss", "val_nll", "time"} <= set(det.history_[0])
    assert det.history_[-1]["train_loss"] < det.history_[0]["train_loss"]
    assert det.window_length_ == T and det.n_features_in_ == F and det.patch_size_ == 8


def test_default_fit_on_benign_windows_then_calibrate():
    X, y = toy_windows(kind="jump", seed=1)
    det = MoiraiNLLDetector(**TINY).fit(X[y == 0]).calibrate(X, y)
    assert det.config_["scaling"] is False
    assert roc_auc_score(y, -det.score_samples(X)) > 0.95
    assert det.direction_ in ("high", "both")
    assert det.nll(X[y == 1]).mean() > det.nll(X[y == 0]).mean()


def test_fit_ignores_y_and_calibrate_keeps_the_network(data):
    X, y = data
    a = MoiraiNLLDetector(**{**TINY, "epochs": 1}).fit(X, y)
    b = MoiraiNLLDetector(**{**TINY, "epochs": 1}).fit(X)
    np.testing.assert_array_equal(a.nll(X), b.nll(X))
    assert a.direction_ == b.direction_ == "both" and a.offset_ == b.offset_
    before = a.nll(X)
    assert a.calibrate(X, y) is a
    np.testing.assert_array_equal(a.nll(X), before)
    # the scales now come from the benign windows, the threshold from both classes
    assert a.center_ == pytest.approx(np.median(before[y == 0])) != b.center_
    accuracy = [balanced_accuracy_score(y, d.predict(X) == -1) for d in (a, b)]
    assert accuracy[0] > accuracy[1]


def test_scarce_benign_windows_fit_or_fail_clearly():
    """Issue 24: 3 benign windows of 40 crashed the benign-only fit with a reshape error."""
    Xw = np.random.RandomState(0).randn(40, 16, 3).astype("float32")
    yw = np.r_[[0] * 3, [1] * 37]
    small = dict(model_size="tiny", context_length=8, prediction_length=8, epochs=1,
                 random_state=0, device="cpu")  # fmt: skip
    det = MoiraiNLLDetector(**small).fit(Xw, yw)  # y is ignored: all 40 windows
    assert len(det.history_) == 1 and np.isfinite(det.history_[0]["val_nll"])
    det = MoiraiNLLDetector(**small).fit(Xw[yw == 0])  # 2 to train on, 1 to validate
    assert det.calibrate(Xw, yw).direction_ in ("low", "high", "both")
    with pytest.raises(ValueError, match=r"got 1 sample.*validation_fraction=0.1 needs at least 2"):
        MoiraiNLLDetector(**small).fit(Xw[:1])
    one = MoiraiNLLDetector(**{**small, "validation_fraction": 0}).fit(Xw[:1])
    assert "val_nll" not in one.history_[0]
    with pytest.raises(ValueError, match="no benign window"):
        det.calibrate(Xw, np.ones(40))


def test_unsupervised_flags_both_tails(unsupervised, data):
    X, y = data
    det = unsupervised
    assert det.direction_ == "both"
    flagged = det.predict(X[y == 0])
    assert abs((flagged == -1).mean() - det.contamination) <= 0.02
    nll = det.nll(X[y == 0])
    low, high = det.center_ - 3 * det.lower_scale_, det.center_ + 3 * det.upper_scale_
    # far below or far above the benign NLLs are both anomalous
    scales = (det.center_, det.lower_scale_, det.upper_scale_)
    scores = normality_scores(np.array([low, det.center_, high]), *scales, det.direction_)
    assert scores[0] < det.offset_ and scores[2] < det.offset_ and scores[1] > det.offset_
    assert np.median(nll) == pytest.approx(det.center_, rel=1e-6)
    # flat attack windows sit in the low tail
    assert (det.predict(X[y == 1]) == -1).mean() > 0.9


def test_explain_nll(supervised, data):
    X, y = data
    out = supervised.explain(X[::10])
    n = len(X[::10])
    assert out.point_nll.shape == out.anomalous.shape == out.observed.shape == (n, H, F)
    assert out.feature_nll.shape == out.feature_rate.shape == (n, F)
    np.testing.assert_allclose(out.feature_nll.sum(axis=1), out.nll, rtol=1e-6)
    np.testing.assert_allclose(out.nll, supervised.nll(X[::10]), rtol=1e-6)
    assert ((out.anomaly_rate >= 0) & (out.anomaly_rate <= 1)).all()
    attack = y[::10] == 1
    assert out.anomaly_rate[attack].mean() > out.anomaly_rate[~attack].mean()
    with pytest.raises(ValueError, match="method"):
        supervised.explain(X, method="shap")


def test_explain_interval(supervised, data):
    X, y = data
    Xs = X[::6]
    out = supervised.explain(Xs, method="interval")
    assert out.lower.shape == out.upper.shape == out.median.shape == (len(Xs), H, F)
    assert (out.lower <= out.median).all() and (out.median <= out.upper).all()
    assert ((out.anomaly_rate >= 0) & (out.anomaly_rate <= 1)).all()
    again = supervised.explain(Xs, method="interval")  # forecast sampling is seeded
    np.testing.assert_array_equal(out.lower, again.lower)
    # the jump attacks of the "jump" toy set fall outside the forecast intervals
    Xj, yj = toy_windows(n_benign=10, n_attack=10, kind="jump", seed=2)
    rate = supervised.explain(Xj, method="interval").anomaly_rate
    assert rate[yj == 1].mean() > rate[yj == 0].mean() + 0.3


def test_fit_is_deterministic_and_leaves_global_rng_alone(data):
    X, y = data
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = MoiraiNLLDetector(**{**TINY, "epochs": 1}).fit(X, y)
    after = torch.rand(1)
    assert before == after
    b = MoiraiNLLDetector(**{**TINY, "epochs": 1}).fit(X, y)
    np.testing.assert_array_equal(a.nll(X), b.nll(X))


def test_early_stopping_restores_best_epoch(data):
    X, _ = data
    # a learning rate this high makes the validation NLL rise after the first epochs
    stopping = {**TINY, "epochs": 8, "n_iter_no_change": 1, "learning_rate": 0.05}
    det = MoiraiNLLDetector(**stopping).fit(X)
    val = [h["val_nll"] for h in det.history_]
    best = int(np.argmin(val)) + 1
    assert len(val) < 8 and best == len(val) - 1  # stopped after one epoch without progress
    # same seed, same split and batches: the run cut at the best epoch has the same weights
    at_best = MoiraiNLLDetector(**{**stopping, "epochs": best, "n_iter_no_change": None}).fit(X)
    np.testing.assert_array_equal(det.nll(X), at_best.nll(X))
    at_last = MoiraiNLLDetector(**{**stopping, "epochs": len(val), "n_iter_no_change": None})
    assert not np.array_equal(det.nll(X), at_last.fit(X).nll(X))  # the last epoch was undone


def test_nan_values_are_masked_not_imputed(supervised, data):
    X, _ = data
    x = X[:4].copy()
    x[:, 5, 0] = np.nan  # context
    x[:, -2, 1] = np.nan  # horizon
    nll = supervised.nll(x)
    assert np.isfinite(nll).all()
    out = supervised.explain(x)
    assert not out.observed[:, -2, 1].any() and (out.point_nll[:, -2, 1] == 0).all()
    x[:, -H:] = np.nan
    with pytest.raises(ValueError, match="no observed value"):
        supervised.nll(x)
    x = X[:2].copy()
    x[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="inf"):
        supervised.nll(x)


def test_window_shape_checks(supervised, data):
    X, y = data
    with pytest.raises(ValueError, match="expecting 32 x 3"):
        supervised.nll(X[:, 1:])
    with pytest.raises(ValueError, match="more than context_length"):
        MoiraiNLLDetector(**{**TINY, "context_length": 8}).fit(X)
    with pytest.raises(ValueError, match="prediction_length"):
        MoiraiNLLDetector(**{**TINY, "prediction_length": 32}).fit(X)
    with pytest.raises(ValueError, match="patch_size=12"):
        MoiraiNLLDetector(**{**TINY, "patch_size": 12}).fit(X)
    with pytest.raises(ValueError, match="0 .benign. or 1 .attack."):
        supervised.calibrate(X, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match="one label per window"):
        supervised.calibrate(X, y[:-1])
    with pytest.raises(NotFittedError):
        MoiraiNLLDetector(**TINY).calibrate(X, y)


def test_two_dimensional_input_is_one_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 16)).astype(np.float32)
    det = MoiraiNLLDetector(**{**TINY, "context_length": 12, "prediction_length": 4}).fit(X)
    assert det.n_features_in_ == 1 and det.window_length_ == 16
    np.testing.assert_allclose(det.nll(X), det.nll(X[:, :, None]))


def test_joblib_round_trip(supervised, data, tmp_path):
    X, _ = data
    path = tmp_path / "det.joblib"
    joblib.dump(supervised, path)
    loaded = joblib.load(path)
    np.testing.assert_allclose(loaded.decision_function(X), supervised.decision_function(X))
    assert loaded.device_ == torch.device("cpu")


def test_save_pretrained_round_trip(supervised, data, tmp_path):
    X, y = data
    folder = supervised.save_pretrained(tmp_path / "moirai")
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    # a fit with a vanishing learning rate keeps the loaded weights: same NLLs
    again = MoiraiNLLDetector(**{**TINY, "pretrained": folder, "epochs": 1,
                                 "learning_rate": 1e-30}).fit(X)  # fmt: skip
    np.testing.assert_allclose(again.nll(X), supervised.nll(X), rtol=1e-5, atol=1e-5)
    assert again.config_ == supervised.config_
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        MoiraiNLLDetector(**{**TINY, "pretrained": tmp_path}).fit(X)


@pytest.fixture(scope="module")
def saved(supervised, tmp_path_factory):
    return supervised.save_pretrained(tmp_path_factory.mktemp("saved") / "moirai")


def _edited(saved, **changes):
    """The saved config.json text with ``changes`` applied (None deletes a key)."""
    config = {**json.loads((saved / "config.json").read_text()), **changes}
    return json.dumps({k: v for k, v in config.items() if v is not None})


def _drop_mask(tensors):
    return {k: v for k, v in tensors.items() if k != "mask_encoding.weight"}


def _broken_copy(saved, folder, case):
    """A copy of the saved folder, broken as ``case`` says."""
    from safetensors.torch import load_file, save_file

    config = {
        "invalid_json": "{not json",
        "not_an_object": "[1, 2]",
        "lacks_keys": _edited(saved, d_model=None),
        "unknown_key": _edited(saved, hidden=3),
        "bad_value": _edited(saved, num_layers="two"),
        "bad_distribution": _edited(saved, distr_output={"_target_": "uni2ts.distribution.No"}),
        "impossible_width": _edited(saved, d_model=32),  # uni2ts needs multiples of 64
        "wider_than_weights": _edited(saved, d_model=128),
        "deeper_than_weights": _edited(saved, num_layers=3),
    }.get(case, (saved / "config.json").read_text())
    tensors = load_file(saved / "model.safetensors")
    tensors = {
        "missing_weight": _drop_mask(tensors),
        "unexpected_weight": {**tensors, "extra": torch.zeros(2)},
    }.get(case, tensors)
    folder.mkdir()
    (folder / "config.json").write_text(config)
    save_file(tensors, folder / "model.safetensors")
    if case == "unreadable_weights":
        (folder / "model.safetensors").write_bytes(b"12345")
    return folder


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("invalid_json", "config.json is not valid JSON"),
        ("not_an_object", "must hold a JSON object"),
        ("lacks_keys", r"missing keys \['d_model'\]"),
        ("unknown_key", r"unknown keys \['hidden'\]"),
        ("bad_value", "invalid 'num_layers'"),
        ("bad_distribution", "invalid 'distr_output'"),
        ("impossible_width", "describes no valid MoiraiModule"),
        ("wider_than_weights", "the weights do not match config.json"),
        ("deeper_than_weights", r"the weights do not match config.json: \d+ missing"),
        ("missing_weight", r"1 missing \(e.g. \['mask_encoding.weight'\]\)"),
        ("unexpected_weight", r"1 unexpected \(e.g. \['extra'\]\)"),
        ("unreadable_weights", "model.safetensors cannot be read"),
    ],
)
def test_pretrained_folders_load_strictly(saved, tmp_path, data, case, match):
    """Issues 18 and 24: a broken folder is a ValueError naming it, never random weights."""
    folder = _broken_copy(saved, tmp_path / case, case)
    with pytest.raises(ValueError, match=match) as info:
        MoiraiNLLDetector(**{**TINY, "pretrained": folder}).fit(data[0])
    assert str(folder) in str(info.value)


def test_missing_uni2ts_raises_install_recipe(monkeypatch, data):
    det = MoiraiNLLDetector(**TINY)  # constructed while uni2ts is importable
    for name in [m for m in sys.modules if m == "uni2ts" or m.startswith("uni2ts.")]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now fails
    with pytest.raises(ImportError) as info:
        MoiraiNLLDetector(model_size="tiny")
    assert INSTALL_HINT in str(info.value)
    assert 'pip install --no-deps uni2ts==2.0.0 && pip install "moeids[moirai]"' in INSTALL_HINT
    with pytest.raises(ImportError, match=r"moeids\[moirai\]"):
        det.fit(data[0])


# sklearn's checks feed 2-D data: (n_windows, n_steps) of one feature.
CHECKS_CONFIG = dict(
    model_size="tiny",
    context_length=40,
    prediction_length=1,
    epochs=1,
    batch_size=64,
    validation_fraction=0.1,
    device="cpu",
    random_state=0,
)
EXPECTED_FAILED_CHECKS = {
    "check_n_features_in": "2-D X is (n_windows, n_steps) of one feature: n_features_in_ is 1",
    "check_n_features_in_after_fitting": "the error names window steps x features",
    "check_fit2d_1feature": "a 1-step window has no context step before its horizon",
    "check_estimators_pickle": "puts NaN in the last (horizon) step: nothing left to score",
    "check_methods_subset_invariance": (
        "float32 network: scores of a batch and of its subsets differ by ~1e-7 (rtol 1e-7)"
    ),
}


@parametrize_with_checks(
    [MoiraiNLLDetector(**CHECKS_CONFIG)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_importing_moirai_does_not_import_uni2ts():
    code = "import sys, moeids.moirai; assert not any(m.startswith('uni2ts') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
