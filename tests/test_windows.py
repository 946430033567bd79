"""Tests for moeids.moirai.windows: make_windows and FlowWindower."""

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from moeids.moirai.windower import FlowWindower
from moeids.moirai.windows import (
    CICIOT2023_WINDOW_FEATURES,
    DEFAULT_WINDOW_FEATURES,
    RT_IOT2022_WINDOW_FEATURES,
    make_windows,
)

DATA = Path(__file__).resolve().parent / "data"


def default_frame(n_rows=40, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.exponential(size=(n_rows, 12)), columns=list(DEFAULT_WINDOW_FEATURES))
    frame["other"] = np.arange(n_rows)
    return frame


def test_windows_follow_rows_with_stride():
    frame = pd.DataFrame({"a": np.arange(10.0), "b": -np.arange(10.0)})
    windows, labels = make_windows(frame, seq_length=4, stride=3, features=["a", "b"])
    assert windows.shape == (3, 4, 2) and windows.dtype == np.float32
    assert labels is None
    np.testing.assert_array_equal(windows[:, :, 0], [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    np.testing.assert_array_equal(windows[:, :, 1], -windows[:, :, 0])
    # default stride: no overlap; trailing rows that do not fill a window are not used
    windows, _ = make_windows(frame, seq_length=4, features=["a"])
    np.testing.assert_array_equal(windows[:, 0, 0], [0, 4])


def test_default_features_are_the_default_window_features():
    windows, _ = make_windows(default_frame(), seq_length=8)
    assert windows.shape == (5, 8, 12)
    frame = default_frame()
    np.testing.assert_allclose(windows[0, :, 3], frame[DEFAULT_WINDOW_FEATURES[3]].to_numpy()[:8])


def test_missing_default_features_ask_for_features_with_a_hint():
    frame = pd.DataFrame(np.ones((20, 12)), columns=list(RT_IOT2022_WINDOW_FEATURES))
    with pytest.raises(ValueError, match="pass features=.*RT_IOT2022_WINDOW_FEATURES"):
        make_windows(frame, seq_length=4)
    windows, _ = make_windows(frame, seq_length=4, features=RT_IOT2022_WINDOW_FEATURES)
    assert windows.shape == (5, 4, 12)
    with pytest.raises(ValueError, match="'nope' is not in the frame"):
        make_windows(frame, seq_length=4, features=["nope"])


@pytest.mark.parametrize(("rule", "expected"), [("any", [0, 1, 1, 1]), ("majority", [0, 0, 0, 1])])
def test_label_rules(rule, expected):
    frame = pd.DataFrame({"x": np.arange(12.0)})
    y = np.array([0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1])
    _, labels = make_windows(frame, seq_length=3, stride=3, features=["x"], labels=y,
                             label_rule=rule)  # fmt: skip
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.int8


def test_labels_from_column_and_validation():
    frame = pd.DataFrame({"x": np.arange(6.0), "y": [0, 1, 0, 0, 0, 0]})
    _, labels = make_windows(frame, seq_length=3, features=["x"], labels="y")
    np.testing.assert_array_equal(labels, [1, 0])
    with pytest.raises(ValueError, match="binary.*'DDoS'"):
        make_windows(frame, seq_length=3, features=["x"], labels=["DDoS"] * 6)
    with pytest.raises(ValueError, match="shape"):
        make_windows(frame, seq_length=3, features=["x"], labels=[0, 1])


def test_groups_never_mix_and_short_groups_warn():
    frame = pd.DataFrame({"x": np.arange(11.0), "g": list("aabbbabbbac")})
    with pytest.warns(UserWarning, match="fewer than seq_length"):
        windows, _ = make_windows(frame, seq_length=3, features=["x"], groups="g")
    # group a = rows 0, 1, 5, 9 -> one window; group b = rows 2, 3, 4, 6, 7, 8 -> two; c none
    np.testing.assert_array_equal(windows[:, :, 0], [[0, 1, 5], [2, 3, 4], [6, 7, 8]])
    with pytest.raises(ValueError, match="no window"):
        make_windows(frame.iloc[:2], seq_length=3, features=["x"])


def test_missing_values_are_an_error_unless_asked():
    frame = pd.DataFrame({"x": [1.0, np.nan, 2.0, np.inf], "y": [1.0, 2, 3, 4]})
    with pytest.raises(ValueError, match="'x' holds nan in row 1"):
        make_windows(frame, seq_length=2, features=["x", "y"])
    kept, _ = make_windows(frame, seq_length=2, features=["x", "y"], missing="keep")
    assert np.isnan(kept[0, 1, 0]) and np.isnan(kept[1, 1, 0])  # inf -> NaN (unobserved)
    zero, _ = make_windows(frame, seq_length=2, features=["x", "y"], missing="zero")
    assert zero[0, 1, 0] == 0 and zero[1, 1, 0] == 0
    with pytest.raises(ValueError, match="'missing' parameter of make_windows must be"):
        make_windows(frame, seq_length=2, features=["x"], missing="drop")
    with pytest.raises(ValueError, match="not numeric"):
        make_windows(pd.DataFrame({"s": list("abcd")}), seq_length=2, features=["s"])


def test_arrays_use_positions():
    array = np.arange(30.0).reshape(10, 3)
    windows, _ = make_windows(array, seq_length=5, features=[2, 0])
    np.testing.assert_array_equal(windows[0, :, 0], array[:5, 2])
    with pytest.raises(ValueError, match="positions"):
        make_windows(array, seq_length=5, features=["a"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"seq_length": 1}, "seq_length"), ({"stride": 0}, "stride"),
     ({"label_rule": "all"}, "label_rule")],
)  # fmt: skip
def test_bad_window_parameters(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_windows(default_frame(), **{"seq_length": 4, **kwargs})


def test_windower_standardises_on_benign_rows():
    frame = default_frame(60)
    y = np.zeros(60, dtype=int)
    y[40:] = 1
    frame.loc[40:, DEFAULT_WINDOW_FEATURES[0]] = 1e9  # huge attack values must not shift the scaler
    windower = FlowWindower(seq_length=10, stride=5).fit(frame, y)
    assert windower.features_ == list(DEFAULT_WINDOW_FEATURES)
    benign = np.sign(frame.iloc[:40, :12]) * np.log1p(np.abs(frame.iloc[:40, :12]))
    np.testing.assert_allclose(windower.center_, benign.mean().to_numpy())
    windows = windower.transform(frame.iloc[:40])
    assert windows.shape == (7, 10, 12)
    flat = windows[[0, 2, 4, 6]].reshape(-1, 12)  # the non-overlapping windows = all 40 rows
    np.testing.assert_allclose(flat.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(flat.std(axis=0), 1, atol=1e-4)
    np.testing.assert_array_equal(windower.window_labels(y), [0] * 7 + [1] * 4)
    assert len(windower.window_labels(y)) == len(windower.transform(frame))


def test_windower_without_log_and_constant_feature():
    frame = pd.DataFrame({"a": [1.0, 1, 1, 1], "b": [0.0, 2, 4, 6]})
    windower = FlowWindower(seq_length=2, features=["a", "b"], log_transform=False).fit(frame)
    assert windower.scale_[0] == 1.0
    windows = windower.transform(frame)
    np.testing.assert_allclose(windows[:, :, 0], 0)
    np.testing.assert_allclose(windows.reshape(-1, 2)[:, 1].mean(), 0, atol=1e-6)


def test_windower_checks_input():
    frame = default_frame()
    windower = FlowWindower(seq_length=4).fit(frame)
    with pytest.raises(ValueError, match="lacks the fitted feature column"):
        windower.transform(frame.drop(columns=DEFAULT_WINDOW_FEATURES[5]))
    with pytest.raises(ValueError, match="no benign row"):
        FlowWindower(seq_length=4).fit(frame, np.ones(len(frame)))
    with pytest.raises(ValueError, match="seq_length"):
        FlowWindower(seq_length=1).fit(frame)
    copy = clone(windower)
    assert copy.get_params() == windower.get_params() and not hasattr(copy, "center_")


def test_windower_keeps_nan_as_unobserved():
    frame = default_frame()
    frame.iloc[3, 0] = np.nan
    windower = FlowWindower(seq_length=4, missing="keep").fit(frame)
    windows = windower.transform(frame)
    assert np.isnan(windows[0, 3, 0]) and np.isfinite(windows[0, 2, 0])
    assert np.isfinite(windower.center_).all()


@pytest.mark.parametrize(
    ("path", "features", "label"),
    [
        ("rt_iot2022/rt_iot2022.slice.csv.gz", RT_IOT2022_WINDOW_FEATURES, "Attack_type"),
        (
            "ciciot2023/ciciot2023_merged.slice.csv.gz",
            CICIOT2023_WINDOW_FEATURES,
            "label_multiclass",
        ),
    ],
)
def test_real_slices_window_within_classes(path, features, label):
    """Sharmila & Nagapadma (RT-IoT2022, UCI 942); Neto et al. 2023 (CICIoT2023)."""
    frame = pd.read_csv(DATA / path)
    benign = frame[label].isin(["Benign", "MQTT_Publish", "Thing_Speak", "Wipro_bulb"])
    windower = FlowWindower(seq_length=8, stride=4, features=features)
    windower.fit(frame, benign.astype(int))
    short = frame[label].value_counts().min() < 8  # RT-IoT2022 has 1-row classes
    with pytest.warns(UserWarning, match="fewer than seq_length") if short else nullcontext():
        windows = windower.transform(frame, groups=label)
    assert windows.shape[1:] == (8, 12) and np.isfinite(windows).all()
    assert len(windows) >= frame[label].nunique()


def test_transform_checks_groups_and_names_the_argument():
    """Issues 18 and 24: a groups of the wrong length or an unknown column is an error."""
    frame = default_frame()
    windower = FlowWindower(seq_length=4).fit(frame)
    y = np.zeros(len(frame), dtype=int)
    for bad in (np.zeros(len(frame) - 1), np.zeros(len(frame) + 1)):  # short rows were dropped
        with pytest.raises(ValueError, match=r"groups must have shape \(40,\)"):
            windower.transform(frame, groups=bad)
        with pytest.raises(ValueError, match=r"groups must have shape \(40,\)"):
            windower.window_labels(y, groups=bad)
    with pytest.raises(ValueError, match="groups: column 'host' is not in the frame"):
        windower.transform(frame, groups="host")
    with pytest.raises(ValueError, match="groups='host': a column name needs a DataFrame"):
        windower.window_labels(y, groups="host")
    with pytest.raises(ValueError, match=r"y must have shape \(40,\)"):
        windower.window_labels(y[:, None])
    groups = np.repeat(["a", "b"], 20)
    windows = windower.transform(frame, groups=groups)
    assert len(windows) == len(windower.window_labels(y, groups=groups)) == 10


def test_array_after_dataframe_fit_is_a_clear_error():
    frame = default_frame()
    windower = FlowWindower(seq_length=4).fit(frame)
    with pytest.raises(ValueError, match="X is a ndarray, but FlowWindower was fitted on a "):
        windower.transform(frame.to_numpy())
    on_array = FlowWindower(seq_length=4).fit(frame.to_numpy())
    with pytest.raises(ValueError, match="X has 12 features, but FlowWindower is expecting 13"):
        on_array.transform(frame.to_numpy()[:, :12])
    with pytest.warns(UserWarning, match="X has feature names"):
        from_frame = on_array.transform(frame)  # positions, as in fit
    np.testing.assert_array_equal(from_frame, on_array.transform(frame.to_numpy()))


def test_refit_on_an_array_clears_feature_names():
    frame = default_frame()
    windower = FlowWindower(seq_length=4).fit(frame)
    np.testing.assert_array_equal(windower.feature_names_in_, frame.columns)
    windower.fit(frame.to_numpy())
    assert not hasattr(windower, "feature_names_in_") and windower.n_features_in_ == 13
    assert windower.features_ == list(range(13))
    assert windower.transform(frame.to_numpy()).shape == (10, 4, 13)


def test_fit_labels_zero_is_benign_any_other_number_an_attack():
    frame = default_frame(60)
    classes = np.repeat([0, 3, 7], 20)  # benign, two attack classes
    binary = FlowWindower(seq_length=4).fit(frame, (classes > 0).astype(int))
    multi = FlowWindower(seq_length=4).fit(frame, classes)
    np.testing.assert_array_equal(multi.center_, binary.center_)
    by_name = FlowWindower(seq_length=4).fit(frame.assign(label=classes), "label")
    np.testing.assert_array_equal(by_name.center_, binary.center_)
    np.testing.assert_array_equal(multi.window_labels(classes), [0] * 5 + [1] * 10)
    with pytest.raises(ValueError, match="Unknown label type: y must hold numbers"):
        FlowWindower(seq_length=4).fit(frame, np.repeat(["BENIGN", "DDoS", "DDoS"], 20))
    with pytest.raises(ValueError, match="y holds NaN in row 1"):
        FlowWindower(seq_length=4).fit(frame, np.r_[0, np.nan, np.zeros(58)])


def test_complex_values_are_refused_not_cast():
    frame = pd.DataFrame({"a": np.arange(6.0) + 1j, "b": np.arange(6.0)})
    with pytest.raises(ValueError, match="Complex data not supported: 'a'"):
        make_windows(frame, seq_length=2, features=["a", "b"])
    with pytest.raises(ValueError, match="Complex data not supported: 'column 0'"):
        FlowWindower(seq_length=2).fit(frame.to_numpy())


# sklearn's transformer checks expect one output row per input row; windows are not rows.
ROWS_NOT_WINDOWS = "transform returns (n_windows, seq_length, n_features) windows, not rows"
# These checks derive y from X's values, so no row is labelled 0 (benign): nothing to fit on.
NO_BENIGN_ROW = "the check's y has no 0 (benign) label: no row to standardise on"
WINDOWER_EXPECTED_FAILURES = {
    "check_transformer_general": ROWS_NOT_WINDOWS,
    "check_transformer_general(readonly_memmap=True)": ROWS_NOT_WINDOWS,
    "check_transformer_data_not_an_array": ROWS_NOT_WINDOWS,
    "check_transformer_preserve_dtypes": ROWS_NOT_WINDOWS,
    "check_methods_sample_order_invariance": ROWS_NOT_WINDOWS,
    "check_methods_subset_invariance": ROWS_NOT_WINDOWS,
    "check_estimators_dtypes": NO_BENIGN_ROW,
    "check_fit2d_1feature": NO_BENIGN_ROW,
}


@parametrize_with_checks(
    [FlowWindower(seq_length=2)],
    expected_failed_checks=lambda est: WINDOWER_EXPECTED_FAILURES,
)
def test_windower_sklearn_compatible(estimator, check):
    check(estimator)
