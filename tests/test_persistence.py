"""Tests of moeids.save / moeids.load: exact round trips, checksums, the type allow-list,
refused pickles and unreadable files (tiny models on real CIC-IDS2017 sample rows)."""

import json
import math
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import make_pipeline

import moeids
from moeids import FeatureSplitter, FlowWindower, MoEClassifier
from moeids.persistence import (
    SUPPORTED_TYPES,
    DeviceFallbackWarning,
    PickleLoadWarning,
)
from moeids.persistence.encoding import Decoder, Encoder
from moeids.persistence.file import _checksum

TINY = {
    "d_model": 8,
    "n_layers": 1,
    "n_heads": 1,
    "epochs": 1,
    "pretrain_epochs": 0,
    "refit_epochs": 0,
    "device": "cpu",
    "random_state": 0,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sample():
    """300 real rows; Protocol as text names so that the splitter has text categories."""
    bunch = moeids.datasets.load_sample()
    X = bunch.data.iloc[:300].reset_index(drop=True)
    X["Protocol"] = X["Protocol"].map({6: "tcp", 17: "udp"}).fillna("other")
    return X, bunch.target.iloc[:300].to_numpy()


@pytest.fixture(scope="module")
def pipeline(sample):
    X, y = sample
    return make_pipeline(FeatureSplitter(), MoEClassifier(**TINY)).fit(X, y)


def assert_same(a, b, where="model"):
    """Recursive exact equality: types, dtypes, dict key order and types, weights."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, BaseEstimator):
        assert sorted(vars(a)) == sorted(vars(b)), where
        for key in vars(a):
            assert_same(vars(a)[key], vars(b)[key], f"{where}.{key}")
    elif isinstance(a, torch.nn.Module):
        sa, sb = a.state_dict(), b.state_dict()
        assert list(sa) == list(sb), where
        for key in sa:
            assert sa[key].dtype == sb[key].dtype and torch.equal(sa[key], sb[key]), where
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True):
            assert_same(x, y, f"{where}[...]")
    elif isinstance(a, dict):
        assert [(type(k), k) for k in a] == [(type(k), k) for k in b], where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.random.RandomState):
        assert_same(a.get_state(), b.get_state(), where)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and (a == b or (a != a and b != b)), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def round_trip(model, tmp_path, name="m.safetensors", **kwargs):
    path = moeids.save(model, tmp_path / name)
    return moeids.load(path, **kwargs)


# ---------------------------------------------------------------- exact round trips
VALUES = {
    "floats": [float("nan"), float("inf"), -float("inf"), -0.0, 1e-310, 0.1],
    "ints": [0, -1, 2**70, True, None, "s"],
    "containers": ((1, "a"), {3, 1}, frozenset({"x"}), {1: 2, "1": 3, (1, 2): None}),
    "numpy scalars": [
        np.float32(0.1),
        np.int8(-3),
        np.bool_(True),
        np.str_("é"),
        np.datetime64("2024-01-02T03:04"),
        np.uint64(2**63),
    ],  # fmt: skip
    "arrays": [
        np.arange(6, dtype=">f8").reshape(2, 3),
        np.array([1.5, np.nan], np.float16),
        np.array(["a", "bcd"]),
        np.array([b"x"]),
        np.array([1 + 2j]),
        np.array(["2024-01-01"], "datetime64[D]"),
        np.empty((0, 3), np.int32),
        np.array(5),
        np.array([1, "a", 2.5, None, [1]], dtype=object),
    ],  # fmt: skip
    "torch": [torch.device("cuda:1"), torch.arange(3.0)],
    "other": [b"\x00\xff", Path("a/b")],
}


@pytest.mark.parametrize("kind", VALUES)
def test_values_round_trip_exactly(kind):
    encoder = Encoder()
    text = json.dumps(encoder.encode(VALUES[kind], kind), allow_nan=False)
    decoded = Decoder(encoder.tensors).decode(json.loads(text))
    if kind == "torch":
        assert decoded[0] == VALUES[kind][0] and torch.equal(decoded[1], VALUES[kind][1])
    else:
        assert_same(VALUES[kind], decoded, kind)


def test_pipeline_round_trip_predicts_the_same(pipeline, sample, tmp_path):
    X, _ = sample
    loaded = round_trip(pipeline, tmp_path)
    assert_same(pipeline, loaded)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X.iloc[:5]), pipeline.predict(X.iloc[:5]))


def test_threshold_classifier_round_trip_keeps_shared_estimator(pipeline, sample, tmp_path):
    X, y = sample
    model = FixedThresholdClassifier(FrozenEstimator(pipeline), threshold=0.3).fit(X, y)
    loaded = round_trip(model, tmp_path)
    assert_same(model, loaded)
    assert loaded.estimator is loaded.estimator_  # one network in the file, not two
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_feature_splitter_state_round_trips_exactly(pipeline, sample, tmp_path):
    X, _ = sample
    splitter = pipeline[0]
    assert splitter.categories_["Protocol"].dtype == object  # text categories
    assert splitter.categories_["Dst Port"].dtype.kind in "if"  # numeric ones
    loaded = round_trip(splitter, tmp_path)
    assert_same(splitter, loaded)
    pd.testing.assert_frame_equal(loaded.transform(X), splitter.transform(X))


def test_flow_windower_round_trips(sample, tmp_path):
    X, y = sample
    windower = FlowWindower(seq_length=16, features=["Flow Duration", "Total Fwd Packet"])
    windower.fit(X, y)
    loaded = round_trip(windower, tmp_path)
    assert_same(windower, loaded)
    np.testing.assert_array_equal(loaded.transform(X), windower.transform(X))


@pytest.fixture(scope="module")
def moirai_pipeline(sample):
    pytest.importorskip("uni2ts")
    from moeids import MoiraiNLLDetector

    X, _ = sample
    windower = FlowWindower(seq_length=32, stride=8, features=["Flow Duration", "Total Fwd Packet"])
    detector = MoiraiNLLDetector(
        model_size="tiny", context_length=24, prediction_length=8, epochs=1, device="cpu",
        random_state=0,
    )  # fmt: skip
    return make_pipeline(windower, detector).fit(X)


@pytest.mark.moirai
def test_moirai_pipeline_round_trips(moirai_pipeline, sample, tmp_path):
    X, _ = sample
    loaded = round_trip(moirai_pipeline, tmp_path)
    assert_same(moirai_pipeline, loaded)
    np.testing.assert_array_equal(loaded.decision_function(X), moirai_pipeline.decision_function(X))


@pytest.mark.moirai
def test_moirai_distribution_config_cannot_import_other_names(moirai_pipeline, tmp_path):
    target = "uni2ts.distribution.mixture.MixtureOutput"

    def swap_target(document):
        text = json.dumps(document)
        assert target in text
        return json.loads(text.replace(target, "os.system"))

    path = moeids.save(moirai_pipeline, tmp_path / "m.safetensors")
    _rewrite(path, swap_target, fix_checksum=True)
    with pytest.raises(ValueError, match="refusing distribution output 'os.system'"):
        moeids.load(path)


def test_every_user_parameter_value_round_trips(sample, tmp_path):
    X, y = sample
    random_state = np.random.RandomState(3)
    model = MoEClassifier(
        **{
            **TINY,
            "device": torch.device("cpu"),
            "class_weight": {0: 1.0, 1: 3.0},
            "random_state": random_state,
            "n_iter_no_change": None,
        },  # fmt: skip
    ).fit(X.select_dtypes("number").iloc[:, :6], y)
    loaded = MoEClassifier.load(moeids.save(model, tmp_path / "m.safetensors"))
    params, again = model.get_params(), loaded.get_params()
    assert_same(params, again)
    assert again["device"] == torch.device("cpu") and list(again["class_weight"]) == [0, 1]
    # the RandomState keeps its exact state (as a pickle would), not None
    assert_same(random_state.get_state(), again["random_state"].get_state())


# ---------------------------------------------------------------- devices
@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a GPU model on a CPU machine")
def test_model_fitted_on_a_gpu_loads_on_the_cpu(pipeline, sample, tmp_path):
    X, _ = sample
    moved = joblib.load(_dump(pipeline, tmp_path / "copy.joblib"))
    moved[-1].device_ = torch.device("cuda")  # as if it had been fitted on a GPU
    path = moeids.save(moved, tmp_path / "gpu.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        assert {handle.get_tensor(k).device.type for k in handle.keys()} == {"cpu"}
    with pytest.warns(DeviceFallbackWarning, match="cuda"):
        loaded = moeids.load(path)
    assert loaded[-1].device_ == torch.device("cpu")
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a chosen device: no fallback warning
        chosen = moeids.load(path, device="cpu")
    assert chosen[-1].device == "cpu" and chosen[-1].device_ == torch.device("cpu")


def _dump(model, path):
    joblib.dump(model, path)
    return path


# ---------------------------------------------------------------- refused files
def _rewrite(path, edit_document=None, edit_tensors=None, fix_checksum=False):
    """Rewrite a saved file with its JSON document and/or tensors edited."""
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    text = metadata["moeids"]
    if edit_document is not None:
        text = json.dumps(edit_document(json.loads(text)), separators=(",", ":"))
    if edit_tensors is not None:
        edit_tensors(tensors)
    checksum = _checksum(text, tensors) if fix_checksum else metadata["moeids.sha256"]
    save_file(tensors, str(path), metadata={"moeids": text, "moeids.sha256": checksum})
    return path


def test_altered_tensor_bytes_are_refused(pipeline, tmp_path):
    path = moeids.save(pipeline, tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a byte of the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{path.name}.*checksum mismatch"):
        moeids.load(path)


def test_altered_metadata_is_refused(pipeline, tmp_path):
    def lower_threshold(document):
        document["versions"]["moeids"] = "9.9"
        return document

    path = _rewrite(moeids.save(pipeline, tmp_path / "m.safetensors"), lower_threshold)
    with pytest.raises(ValueError, match=f"{path.name}.*checksum mismatch"):
        moeids.load(path)


def test_unknown_type_is_refused_even_with_a_valid_checksum(pipeline, tmp_path):
    def swap_class(document):
        document["root"]["class"] = "os.system"
        return document

    path = _rewrite(moeids.save(pipeline, tmp_path / "m.safetensors"), swap_class,
                    fix_checksum=True)  # fmt: skip
    with pytest.raises(ValueError, match=f"{path.name}.*refusing type 'os.system'"):
        moeids.load(path)


def test_weights_that_do_not_fit_are_refused(pipeline, tmp_path):
    def drop_one(tensors):
        tensors.pop(next(k for k in tensors if ".module_." in k))

    path = _rewrite(moeids.save(pipeline, tmp_path / "m.safetensors"),
                    edit_tensors=drop_one, fix_checksum=True)  # fmt: skip
    with pytest.raises(ValueError, match=f"{path.name}.*do not fit"):
        moeids.load(path)


def test_other_sklearn_version_warns(pipeline, tmp_path):
    def old_sklearn(document):
        document["versions"]["sklearn"] = "0.1"
        return document

    path = _rewrite(moeids.save(pipeline, tmp_path / "m.safetensors"), old_sklearn,
                    fix_checksum=True)  # fmt: skip
    with pytest.warns(InconsistentVersionWarning, match="written with scikit-learn 0.1"):
        moeids.load(path)


@pytest.mark.parametrize("compress", [0, 3])
@pytest.mark.parametrize("name", ["m.joblib", "m.safetensors"])
def test_pickle_is_refused_without_the_flag(pipeline, sample, tmp_path, compress, name):
    X, _ = sample
    path = tmp_path / name
    joblib.dump(pipeline, path, compress=compress)
    with pytest.raises(ValueError, match=f"{name} is a pickle.*runs whatever code"):
        moeids.load(path)
    with pytest.raises(ValueError, match="pickle"):
        MoEClassifier.load(path)
    with pytest.warns(PickleLoadWarning, match="can run code"):
        loaded = moeids.load(path, allow_pickle=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))


def _truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _metadata_not_json(path):
    with safe_open(str(path), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    text = "{not json"
    metadata = {"moeids": text, "moeids.sha256": _checksum(text, tensors)}
    save_file(tensors, str(path), metadata=metadata)


BAD_FILES = {
    "truncated": (_truncated, "not a readable safetensors file"),
    "5 bytes": (lambda p: p.write_bytes(b"hello"), "not a file written by"),
    "empty": (lambda p: p.write_bytes(b""), "not a file written by"),
    "text": (lambda p: p.write_text("x,y\n1,2\n" * 20), "not a file written by"),
    "directory": (lambda p: (p.unlink(), p.mkdir()), "is a directory"),
    "metadata not JSON": (_metadata_not_json, "not valid JSON"),
    "other safetensors": (
        lambda p: save_file({"w": torch.zeros(2)}, str(p)),
        "not a file written by MoEClassifier.save",
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_unreadable_files_raise_value_error_naming_the_path(pipeline, tmp_path, case):
    spoil, message = BAD_FILES[case]
    path = moeids.save(pipeline[-1], tmp_path / "model.safetensors")
    spoil(path)
    for load in (moeids.load, MoEClassifier.load):
        with pytest.raises(ValueError, match=f"model.safetensors.*{message}"):
            load(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        moeids.load(tmp_path / "absent.safetensors")


def test_load_as_the_wrong_class_is_refused(pipeline, tmp_path):
    path = moeids.save(pipeline, tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="holds a Pipeline, not a MoEClassifier"):
        MoEClassifier.load(path)


def test_unsupported_types_are_refused_on_save(sample, tmp_path):
    X, y = sample
    model = make_pipeline(FeatureSplitter(), DummyClassifier()).fit(X, y)
    with pytest.raises(TypeError, match=r"Pipeline.steps\[1\]\[1\] of type .*DummyClassifier"):
        moeids.save(model, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
    assert "sklearn.dummy.DummyClassifier" not in SUPPORTED_TYPES
