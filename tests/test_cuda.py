"""Real-GPU checks: fitting on CUDA, device moves, and CUDA pickles loaded without a GPU.

Skipped where no CUDA device is present (CI). The CPU suite covers the same code paths
with a model whose ``device_`` is set to ``cuda`` by hand (``test_classifier.py``).
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_cicids2017

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

ROOT = Path(__file__).resolve().parents[1]
SLICE = "cicids2017_improved.slice.csv.gz"
TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2, "epochs": 4, "pretrain_epochs": 1}
# GPU and CPU kernels sum in different orders: probabilities agree to float32 rounding.
ATOL = 1e-4


def cic_slice():
    """The committed real CIC-IDS2017 slice: (flows DataFrame, 0 benign / 1 attack)."""
    bunch = load_cicids2017(ROOT / "tests" / "data" / "cic_ids2017" / SLICE)
    return bunch.data, bunch.target


@pytest.fixture(scope="module")
def gpu_pipeline():
    X, y = cic_slice()
    pipe = make_pipeline(FeatureSplitter(), MoEClassifier(device="cuda", random_state=0, **TINY))
    return pipe.fit(X, y), X, y


def run_without_gpu(code, *args):
    """Run ``code`` in a fresh interpreter that sees no CUDA device; fail on its error."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_fit_keeps_the_network_on_the_gpu(gpu_pipeline):
    pipe, X, y = gpu_pipeline
    model = pipe[-1]
    assert model.device_.type == "cuda"
    tensors = [*model.module_.parameters(), *model.module_.buffers()]
    assert all(t.device.type == "cuda" for t in tensors)
    proba = pipe.predict_proba(X)
    assert isinstance(proba, np.ndarray) and proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (pipe.predict(X) == y).mean() > 0.9
    gates = pipe[-1].predict_gating(pipe[0].transform(X))
    np.testing.assert_allclose(gates.sum(axis=1), 1.0, rtol=1e-5)


def test_auto_device_picks_cuda():
    X, y = cic_slice()
    pipe = make_pipeline(FeatureSplitter(), MoEClassifier(device="auto", random_state=0, **TINY))
    assert pipe.fit(X, y)[-1].device_.type == "cuda"


def test_same_random_state_on_gpu_gives_same_predictions(gpu_pipeline):
    pipe, X, y = gpu_pipeline
    again = make_pipeline(FeatureSplitter(), MoEClassifier(device="cuda", random_state=0, **TINY))
    np.testing.assert_allclose(again.fit(X, y).predict_proba(X), pipe.predict_proba(X), atol=1e-6)


def test_pickle_on_gpu_machine_stays_on_gpu(gpu_pipeline):
    pipe, X, _ = gpu_pipeline
    loaded = pickle.loads(pickle.dumps(pipe))
    assert loaded[-1].device_.type == "cuda"
    assert next(loaded[-1].module_.parameters()).device.type == "cuda"
    assert next(pipe[-1].module_.parameters()).device.type == "cuda"  # pickling moved nothing
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


def test_joblib_of_gpu_model_loads_on_a_machine_without_one(gpu_pipeline, tmp_path):
    pipe, X, _ = gpu_pipeline
    joblib.dump(pipe, tmp_path / "ids.joblib")
    X.to_csv(tmp_path / "X.csv", index=False)
    code = """
import sys, warnings, joblib, numpy as np, pandas as pd, torch
from moeids.persistence import DeviceFallbackWarning
assert not torch.cuda.is_available()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    pipe = joblib.load(sys.argv[1])
assert any(issubclass(w.category, DeviceFallbackWarning) for w in caught), caught
assert str(pipe[-1].device_) == "cpu"
np.save(sys.argv[3], pipe.predict_proba(pd.read_csv(sys.argv[2])))
"""
    run_without_gpu(code, tmp_path / "ids.joblib", tmp_path / "X.csv", tmp_path / "p.npy")
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), pipe.predict_proba(X), atol=ATOL)


def test_safetensors_file_from_gpu_loads_on_cpu_and_moves_back(gpu_pipeline, tmp_path):
    pipe, X, _ = gpu_pipeline
    model, Z = pipe[-1], pipe[0].transform(X)
    model.save(tmp_path / "m.safetensors")
    expected = model.predict_proba(Z)
    on_gpu = MoEClassifier.load(tmp_path / "m.safetensors")
    assert on_gpu.device_.type == "cuda"
    np.testing.assert_array_equal(on_gpu.predict_proba(Z), expected)
    on_cpu = MoEClassifier.load(tmp_path / "m.safetensors", device="cpu")
    assert next(on_cpu.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(on_cpu.predict_proba(Z), expected, atol=ATOL)
    Z.to_csv(tmp_path / "Z.csv", index=False)
    code = """
import sys, warnings, numpy as np, pandas as pd
from moeids import MoEClassifier
from moeids.persistence import DeviceFallbackWarning
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = MoEClassifier.load(sys.argv[1])
assert any(issubclass(w.category, DeviceFallbackWarning) for w in caught), caught
np.save(sys.argv[3], model.predict_proba(pd.read_csv(sys.argv[2])))
"""
    run_without_gpu(code, tmp_path / "m.safetensors", tmp_path / "Z.csv", tmp_path / "p.npy")
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, atol=ATOL)


def test_cpu_fit_moved_to_gpu_predicts_the_same(tmp_path):
    X, y = cic_slice()
    splitter = FeatureSplitter().fit(X)
    Z = splitter.transform(X)
    model = MoEClassifier(device="cpu", random_state=0, **TINY).fit(Z, y)
    model.save(tmp_path / "m.safetensors")
    on_gpu = MoEClassifier.load(tmp_path / "m.safetensors", device="cuda")
    assert next(on_gpu.module_.parameters()).device.type == "cuda"
    np.testing.assert_allclose(on_gpu.predict_proba(Z), model.predict_proba(Z), atol=ATOL)


def test_moirai_detector_on_gpu_loads_on_cpu(tmp_path):
    pytest.importorskip("uni2ts")
    from moeids import MoiraiNLLDetector

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 32, 3)).astype(np.float32)
    det = MoiraiNLLDetector(
        model_size="tiny", context_length=24, prediction_length=8, epochs=2, batch_size=16,
        device="cuda", random_state=0,
    ).fit(X)  # fmt: skip
    assert det.device_.type == "cuda"
    scores = det.score_samples(X)
    folder = det.save_pretrained(tmp_path / "moirai")
    again = MoiraiNLLDetector(**{**det.get_params(), "pretrained": folder, "epochs": 1,
                                 "learning_rate": 1e-30}).fit(X)  # fmt: skip
    np.testing.assert_allclose(again.nll(X), det.nll(X), rtol=1e-5, atol=1e-5)
    joblib.dump(det, tmp_path / "det.joblib")
    np.save(tmp_path / "X.npy", X)
    code = """
import sys, warnings, joblib, numpy as np
warnings.simplefilter("ignore")
det = joblib.load(sys.argv[1])
assert str(det.device_) == "cpu"
np.save(sys.argv[3], det.score_samples(np.load(sys.argv[2])))
"""
    run_without_gpu(code, tmp_path / "det.joblib", tmp_path / "X.npy", tmp_path / "s.npy")
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), scores, rtol=1e-3, atol=1e-3)
