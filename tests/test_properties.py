"""Property-based hardening suite (hypothesis) over the public API (issue 24, item 4).

Every call of FeatureSplitter, MoEClassifier (tiny), FlowWindower and MoiraiNLLDetector (tiny)
on a random frame either returns finite (NaN only where the API documents "missing"),
correctly shaped output, or raises ValueError/TypeError whose message names the offending
column or argument -- never anything else (IndexError, RuntimeError, KeyError, OverflowError).

Frames come from real CIC-IDS2017 rows (``moeids.datasets.load_sample()``) with perturbed
cells, column subsets and orders, or are synthetic (the strategies and fixtures say so).
Expensive models are fitted once per module; fit itself is property-tested on small data.
Examples are few and derandomized so the suite is deterministic and fast in CI.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, FlowWindower, MoEClassifier
from moeids.datasets import load_sample

SETTINGS = dict(
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
    print_blob=True,
)

#: A subset of real CIC-IDS2017 columns covering the three groups (categorical: the first 2).
REAL_COLUMNS = [
    "Dst Port", "Protocol", "Flow Duration", "Total Fwd Packet", "Total Bwd packets",
    "Total Length of Fwd Packet", "Flow Bytes/s", "Flow Packets/s", "Flow IAT Mean",
    "Fwd IAT Mean", "Bwd IAT Mean", "Packet Length Mean", "SYN Flag Count", "Idle Mean",
]  # fmt: skip

TINY_MOE = dict(
    d_model=8,
    n_layers=1,
    n_heads=1,
    epochs=1,
    pretrain_epochs=1,
    refit_epochs=0,
    n_bins=4,
    batch_size=64,
    device="cpu",
    random_state=0,
)

#: Cell values a user's table may hold: missing markers, infinities (also as text), text,
#: numbers as text, huge, negative, boolean and complex values.
ODD_VALUES = [
    np.nan, None, np.inf, -np.inf, "Infinity", "-inf", "NaN", "", "abc", " 12.5 ",
    1e300, -1e300, 1e30, -1e30, 1e9, 2**62, -5.0, -1, 0, 0.5, True, 3 + 4j,
]  # fmt: skip

#: Generic phrases accepted where no column or argument can be named (e.g. an empty frame).
GENERIC = ("is empty", "none of the", "0 sample", "0 feature", "no feature columns")


# ----------------------------------------------------------------------------- helpers
def assert_names_culprit(exc, names, generic=GENERIC):
    """``exc`` is a ValueError/TypeError whose message names one of ``names`` (columns or
    arguments; an argument matches as a whole word) or a generic phrase."""
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    named = any(re.search(rf"(?<!\w){re.escape(str(n))}(?!\w)", message) for n in names if str(n))
    assert named or any(g in message for g in generic), (
        f"{type(exc).__name__} names none of {sorted(map(str, names))[:12]}: {message}"
    )


def call(fn, *args, **kwargs):
    """Result of ``fn`` or the exception it raised (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result, error, outcome = None, None, "returned"
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 -- the property checks the type
            error, outcome = exc, f"{type(exc).__name__}: {str(exc)[:60]}"
    if currently_in_test_context():
        event(f"{getattr(fn, '__name__', 'call')}: {outcome}")  # --hypothesis-show-statistics
    return result, error


def with_cells(frame, cells):
    """Copy of ``frame`` with ``cells`` [(row, column, value)] set; a column stays numeric
    (float64) when all its new values are real numbers, else becomes object."""
    frame = frame.copy()
    by_column = {}
    for row, column, value in cells:
        by_column.setdefault(column, []).append((row, value))
    for column, edits in by_column.items():
        values = frame[column].to_numpy(dtype=object).copy()
        for row, value in edits:
            values[row % len(values)] = value
        real = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) or v is None for v in values
        )
        frame[column] = pd.Series(values, index=frame.index, dtype=np.float64 if real else object)
    return frame


@st.composite
def real_frames(
    draw,
    base,
    columns,
    *,
    min_rows=1,
    max_rows=30,
    min_columns=0,
    min_cells=0,
    max_cells=4,
    values=ODD_VALUES,
    extra=True,
):
    """Real CIC-IDS2017 rows of ``base``: a random row sample, column subset and order,
    perturbed cells (``ODD_VALUES``), maybe a pandas categorical column and an unknown extra
    (synthetic) column."""
    n = draw(st.integers(min_rows, max_rows))
    rows = draw(st.lists(st.integers(0, len(base) - 1), min_size=n, max_size=n))
    chosen = draw(st.permutations(columns))
    k = draw(st.integers(min_columns, len(columns)))
    frame = base.iloc[rows][list(chosen[:k])].reset_index(drop=True)
    if frame.shape[1]:
        cells = draw(
            st.lists(
                st.tuples(
                    st.integers(0, n - 1),
                    st.sampled_from(list(frame.columns)),
                    st.sampled_from(values),
                ),
                min_size=min_cells,
                max_size=max_cells,
            )
        )
        frame = with_cells(frame, cells)
        if draw(st.booleans()):
            column = draw(st.sampled_from(list(frame.columns)))
            frame[column] = frame[column].astype(str).astype("category")
    if extra and draw(st.booleans()):
        frame["Synthetic Extra"] = draw(st.sampled_from(["x", 1.0, np.nan]))
    return frame


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on tiny batches: one thread is faster and immune to busy CI cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def real():
    """300 real CIC-IDS2017 rows (both classes) of ``REAL_COLUMNS`` and their labels."""
    sample = load_sample()
    rng = np.random.RandomState(0)
    benign = rng.choice(np.flatnonzero(sample.target == 0), 150, replace=False)
    attack = rng.choice(np.flatnonzero(sample.target == 1), 150, replace=False)
    rows = np.r_[benign, attack]
    X = sample.data.iloc[rows][REAL_COLUMNS].reset_index(drop=True)
    return X, sample.target.to_numpy()[rows]


# ------------------------------------------------------------------------ FeatureSplitter
@pytest.fixture(scope="module", params=[None, "standard", "log-standard"])
def splitter(request, real):
    X, _ = real
    return FeatureSplitter(scaling=request.param).fit(X)


def splitter_names(fs, frame):
    return [*frame.columns, *(c for g in fs.feature_groups_.values() for c in g)]


def check_transformed(out, n_rows, n_features):
    assert isinstance(out, pd.DataFrame)
    assert out.shape == (n_rows, n_features)
    assert (out.dtypes == np.float32).all()
    assert not np.isinf(out.to_numpy()).any()  # NaN = missing, never inf


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_splitter_transform_real_frames(splitter, real, data):
    frame = data.draw(real_frames(real[0], REAL_COLUMNS))
    out, exc = call(splitter.transform, frame)
    if exc is not None:
        assert_names_culprit(exc, splitter_names(splitter, frame))
        return
    check_transformed(out, len(frame), len(splitter.get_feature_names_out()))
    categorical = [c for c in out.columns if c.startswith("categorical__")]
    codes = out[categorical].to_numpy()
    assert np.all(np.isnan(codes) | ((codes >= 0) & (codes == np.round(codes))))


@settings(max_examples=60, **SETTINGS)
@given(data=st.data(), scaling=st.sampled_from([None, "standard", "log-standard"]))
def test_splitter_fit_transform_real_frames(real, data, scaling):
    frame = data.draw(real_frames(real[0], REAL_COLUMNS))
    fs = FeatureSplitter(scaling=scaling)
    out, exc = call(fs.fit_transform, frame)
    if exc is not None:
        assert_names_culprit(exc, [*frame.columns, "X"])
        return
    check_transformed(out, len(frame), len(fs.get_feature_names_out()))
    again, exc = call(fs.transform, frame)
    assert exc is None, exc
    np.testing.assert_array_equal(again.to_numpy(), out.to_numpy())


@st.composite
def synthetic_frames(draw, max_rows=12):
    """Synthetic (made-up) flow table: random numeric, text and categorical columns."""
    n = draw(st.integers(1, max_rows))
    n_cols = draw(st.integers(1, 4))
    frame = {}
    for j in range(n_cols):
        kind = draw(st.sampled_from(["float", "int", "text", "category", "odd"]))
        name = f"synthetic {kind} {j}"
        if kind == "float":
            values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n,
                                   max_size=n))  # fmt: skip
        elif kind == "int":
            values = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n))
        elif kind == "text":
            values = draw(st.lists(st.text(max_size=3), min_size=n, max_size=n))
        elif kind == "category":
            values = pd.Categorical(draw(st.lists(st.sampled_from("abc"), min_size=n,
                                                  max_size=n)))  # fmt: skip
        else:
            values = draw(st.lists(st.sampled_from(ODD_VALUES), min_size=n, max_size=n))
        frame[name] = values
    return pd.DataFrame(frame)


@settings(max_examples=60, **SETTINGS)
@given(frame=synthetic_frames(), scaling=st.sampled_from([None, "standard", "log-standard"]))
def test_splitter_fit_transform_synthetic_frames(frame, scaling):
    fs = FeatureSplitter(scaling=scaling)
    out, exc = call(fs.fit_transform, frame)
    if exc is not None:
        assert_names_culprit(exc, [*frame.columns, "X"])
        return
    check_transformed(out, len(frame), len(fs.get_feature_names_out()))


# ---------------------------------------------------------------- pipeline / MoEClassifier
@pytest.fixture(scope="module")
def pipeline(real):
    X, y = real
    model = make_pipeline(FeatureSplitter(), MoEClassifier(**TINY_MOE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_pipeline_predict_real_frames(pipeline, real, data):
    frame = data.draw(real_frames(real[0], REAL_COLUMNS))
    proba, exc = call(pipeline.predict_proba, frame)
    if exc is not None:
        assert_names_culprit(exc, splitter_names(pipeline[0], frame))
        return
    assert proba.shape == (len(frame), 2)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    explanation, exc = call(pipeline.predict, frame)
    assert exc is None, exc
    assert explanation.shape == (len(frame),)


SYNTHETIC_COLUMNS = [
    "tabular__a", "tabular__b", "temporal__c", "temporal__d", "categorical__e",
    "categorical__f",
]  # fmt: skip


def synthetic_matrix(n, seed=0):
    """Synthetic (random) MoEClassifier input: unscaled numeric columns, codes 0..4."""
    rng = np.random.RandomState(seed)
    frame = pd.DataFrame(rng.lognormal(3, 2, size=(n, len(SYNTHETIC_COLUMNS))),
                         columns=SYNTHETIC_COLUMNS)  # fmt: skip
    for c in ("categorical__e", "categorical__f"):
        frame[c] = rng.randint(0, 5, n).astype(float)
    return frame, (frame["tabular__a"] > frame["temporal__c"]).astype(int).to_numpy()


@pytest.fixture(scope="module")
def classifier():
    X, y = synthetic_matrix(120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MoEClassifier(**TINY_MOE).fit(X, y)


#: Values for MoEClassifier input cells (already numeric; codes may be huge or negative).
CLASSIFIER_VALUES = [np.nan, np.inf, -np.inf, 1e300, 1e30, -1e30, 1e9, -3.0, 2.5, 0.0, 7.0]


@settings(max_examples=60, **SETTINGS)
@given(
    n=st.integers(1, 20),
    cells=st.lists(
        st.tuples(
            st.integers(0, 19),
            st.sampled_from(SYNTHETIC_COLUMNS),
            st.sampled_from(CLASSIFIER_VALUES),
        ),
        max_size=4,
    ),  # fmt: skip
    as_array=st.booleans(),
    columns=st.sampled_from(["fitted", "fitted", "one dropped"]),  # "shuffled": see below
)
def test_classifier_predict_synthetic_frames(classifier, n, cells, as_array, columns):
    frame, _ = synthetic_matrix(n, seed=1)
    frame = with_cells(frame, cells)
    if columns == "one dropped":
        frame = frame.drop(columns=SYNTHETIC_COLUMNS[n % len(SYNTHETIC_COLUMNS)])
    X = frame.to_numpy() if as_array else frame
    out, exc = call(classifier.forward, X)
    if exc is not None:
        assert_names_culprit(exc, [*SYNTHETIC_COLUMNS, "X"])
        return
    assert out.proba.shape == (n, 2) and out.gate.shape == (n, 2)
    assert np.isfinite(out.proba).all() and np.isfinite(out.gate).all()
    decision, exc = call(classifier.decision_function, X)
    assert exc is None, exc
    assert decision.shape == (n,) and np.isfinite(decision).all()


def test_classifier_predict_reordered_columns_names_a_column(classifier):
    frame, _ = synthetic_matrix(3, seed=1)
    _, exc = call(classifier.predict_proba, frame[SYNTHETIC_COLUMNS[::-1]])
    assert_names_culprit(exc, SYNTHETIC_COLUMNS)


@settings(max_examples=30, **SETTINGS)
@given(
    n=st.integers(2, 24),
    columns=st.lists(st.sampled_from(SYNTHETIC_COLUMNS), min_size=1, max_size=4, unique=True),
    nan_share=st.sampled_from([0.0, 0.3, 0.9, 1.0]),
    batch=st.integers(1, 24),
    last_batch_of_one=st.booleans(),
    validation_fraction=st.sampled_from([0.0, 0.2]),
    pretrain_epochs=st.sampled_from([0, 1]),
    labels=st.sampled_from(["int", "int", "text", "text with None", "one class"]),
    huge_code=st.booleans(),
)
@example(n=2, columns=["tabular__a"], nan_share=0.0, batch=1, last_batch_of_one=False,
         validation_fraction=0.0, pretrain_epochs=1, labels="int",
         huge_code=False)  # fmt: skip
@example(n=5, columns=["tabular__a", "temporal__c"], nan_share=0.0, batch=4,
         last_batch_of_one=True, validation_fraction=0.0, pretrain_epochs=1,
         labels="text", huge_code=False)  # fmt: skip
def test_classifier_fit_random_small_data(
    n,
    columns,
    nan_share,
    batch,
    last_batch_of_one,
    validation_fraction,
    pretrain_epochs,
    labels,
    huge_code,
):
    frame, y = synthetic_matrix(n, seed=n)
    frame = frame[columns].copy()
    rng = np.random.RandomState(n)
    frame = frame.mask(rng.rand(*frame.shape) < nan_share)
    if huge_code and any(c.startswith("categorical__") for c in columns):
        frame.loc[0, next(c for c in columns if c.startswith("categorical__"))] = 1e9
    y = np.arange(n) % 2 if y.min() == y.max() else y
    if labels.startswith("text"):
        y = np.where(y == 1, "attack", "benign").astype(object)
        if labels == "text with None":
            y[-1] = None
    elif labels == "one class":
        y = np.ones(n, dtype=int)
    batch = n - 1 if last_batch_of_one and n > 2 and not validation_fraction else min(batch, n)
    params = {**TINY_MOE, "batch_size": batch, "validation_fraction": validation_fraction,
              "pretrain_epochs": pretrain_epochs}  # fmt: skip
    model = MoEClassifier(**params)
    fitted, exc = call(model.fit, frame, y)
    if exc is not None:
        assert_names_culprit(exc, [*columns, "X", "y", "batch_size", "validation_fraction"])
        return
    proba, exc = call(fitted.predict_proba, frame)
    assert exc is None, exc
    assert proba.shape == (n, 2) and np.isfinite(proba).all()


# --------------------------------------------------------------------------- FlowWindower
WINDOW_FEATURES = ["Flow Duration", "Total Fwd Packet", "Flow Bytes/s", "Flow IAT Mean"]
#: Cell values for the windower: fewer kinds than ``ODD_VALUES``, huge ones more often.
WINDOWER_VALUES = [1e300, -1e300, 3e38, 1e30, np.nan, np.inf, None, "NaN", "abc", -5.0]


@settings(max_examples=80, **SETTINGS)
@given(
    data=st.data(),
    seq_length=st.integers(2, 6),
    stride=st.sampled_from([None, 1, 2, 5]),
    missing=st.sampled_from(["error", "keep", "zero"]),
    log_transform=st.booleans(),
    with_y=st.booleans(),
    groups=st.sampled_from([None, "array", "column", None, "absent column", None, "long array"]),
    as_array=st.sampled_from([False, False, False, True]),
)
def test_windower_real_frames(
    real, data, seq_length, stride, missing, log_transform, with_y, groups, as_array
):
    X, y = real
    frame = data.draw(
        real_frames(
            X,
            WINDOW_FEATURES,
            max_rows=30,
            min_columns=1,
            min_cells=1,
            max_cells=2,
            values=WINDOWER_VALUES,
            extra=False,
        )  # fmt: skip
    )
    rows = data.draw(st.lists(st.integers(0, len(y) - 1), min_size=len(frame),
                              max_size=len(frame)))  # fmt: skip
    labels = y[rows] if with_y else None
    features = [c for c in WINDOW_FEATURES if c in frame.columns] or WINDOW_FEATURES[:1]
    windower = FlowWindower(seq_length=seq_length, stride=stride, features=features,
                            missing=missing, log_transform=log_transform)  # fmt: skip
    names = [*WINDOW_FEATURES, "X", "y", "features", "seq_length", "groups"]
    fit_on_clean = data.draw(st.booleans())
    if fit_on_clean:
        fitted, exc = call(windower.fit, X[features], y)
    else:
        fitted, exc = call(windower.fit, frame, labels)
    if exc is not None:
        assert_names_culprit(exc, names)
        return
    assert np.isfinite(fitted.center_).all() and np.isfinite(fitted.scale_).all()
    assert (fitted.scale_ > 0).all()
    groups_arg = {
        None: None,
        "column": features[0],
        "absent column": "Synthetic Absent",
        "array": np.arange(len(frame)) % 2,
        "long array": np.zeros(len(frame) + 3),
    }[groups]
    if as_array and groups != "column":
        frame = frame.to_numpy()
    windows, exc = call(fitted.transform, frame, groups=groups_arg)
    if exc is not None:
        assert_names_culprit(exc, names)
        return
    assert windows.ndim == 3 and windows.shape[1:] == (seq_length, len(features))
    assert windows.dtype == np.float32
    assert not np.isinf(windows).any()
    if missing != "keep":
        assert not np.isnan(windows).any()


# ---------------------------------------------------------------------- MoiraiNLLDetector
T, H = 16, 8
TINY_MOIRAI = dict(model_size="tiny", context_length=T - H, prediction_length=H, epochs=1,
                   batch_size=16, device="cpu", random_state=0)  # fmt: skip


@pytest.fixture(scope="module")
def detector_and_windows(real):
    """Tiny detector fitted on windows of real CIC-IDS2017 rows (both classes)."""
    pytest.importorskip("uni2ts")
    from moeids import MoiraiNLLDetector

    X, y = real
    windower = FlowWindower(seq_length=T, stride=4, features=WINDOW_FEATURES).fit(X, y)
    windows = windower.transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MoiraiNLLDetector(**TINY_MOIRAI).fit(windows), windows


#: Cell values for windows: missing, infinite, huge, negative.
WINDOW_VALUES = [np.nan, np.inf, -np.inf, 1e30, -1e30, 3e38, -50.0, 0.0]


@pytest.mark.moirai
@settings(max_examples=30, **SETTINGS)
@given(
    n=st.integers(1, 5),
    cells=st.lists(
        st.tuples(
            st.integers(0, 4),
            st.integers(0, T - 1),
            st.integers(0, 3),
            st.sampled_from(WINDOW_VALUES),
        ),
        max_size=4,
    ),  # fmt: skip
    shape=st.sampled_from(["same", "2-D", "shorter", "fewer features", "all-NaN horizon"]),
)
def test_detector_scores_random_windows(detector_and_windows, n, cells, shape):
    detector, windows = detector_and_windows
    X = windows[:n].copy()
    for i, t, f, value in cells:
        X[i % n, t, f] = value
    if shape == "2-D":
        X = X[:, :, 0]
    elif shape == "shorter":
        X = X[:, 1:]
    elif shape == "fewer features":
        X = X[:, :, :2]
    elif shape == "all-NaN horizon":
        X[0, -H:] = np.nan
    names = ["X", "window", "prediction_length", "steps"]
    scores, exc = call(detector.score_samples, X)
    if exc is not None:
        assert_names_culprit(exc, names)
        return
    assert scores.shape == (n,) and np.isfinite(scores).all()
    proba, exc = call(detector.predict_proba, X)
    assert exc is None, exc
    assert proba.shape == (n, 2) and np.isfinite(proba).all()


@pytest.mark.moirai
@settings(max_examples=15, **SETTINGS)
@given(
    n=st.integers(1, 6),
    validation_fraction=st.sampled_from([0.0, 0.5]),
    batch_size=st.integers(1, 6),
    nan_share=st.sampled_from([0.0, 0.5]),
)
def test_detector_fit_random_small_data(
    detector_and_windows, n, validation_fraction, batch_size, nan_share
):
    from moeids import MoiraiNLLDetector

    _, windows = detector_and_windows
    X = windows[:n].copy()
    X[np.random.RandomState(n).rand(*X.shape) < nan_share] = np.nan
    params = {**TINY_MOIRAI, "validation_fraction": validation_fraction,
              "batch_size": batch_size}  # fmt: skip
    fitted, exc = call(MoiraiNLLDetector(**params).fit, X)
    if exc is not None:
        assert_names_culprit(
            exc, ["X", "window", "prediction_length", "validation_fraction", "sample"]
        )
        return
    scores, exc = call(fitted.score_samples, X)
    assert exc is None, exc
    assert scores.shape == (n,) and np.isfinite(scores).all()
