"""Flows -> fixed-length windows of flow features, shape (n_windows, seq_length, n_features).

:func:`make_windows` cuts a time-ordered flow table into (optionally overlapping) windows of
raw feature values, with one label per window. :class:`~moeids.FlowWindower`
(:mod:`.windower`) does the same after a signed ``log1p`` and a standardisation fitted on
benign rows, which is what :class:`~moeids.MoiraiNLLDetector` expects.

Default features
----------------
:data:`DEFAULT_WINDOW_FEATURES` are 12 flow features covering volume, rate, payload size and
timing in each direction; they are the default when a frame has all of them. Real datasets
name them differently; the closest columns are :data:`RT_IOT2022_WINDOW_FEATURES`
(one-to-one) and :data:`CICIOT2023_WINDOW_FEATURES` (CICIoT2023's merged CSVs aggregate
packets without a forward/backward split, so its list covers the same aspects -- volume,
rate, size, timing, flags -- with its own columns). ``docs/moirai.md`` has the table.

Missing values
--------------
``missing="error"`` (default) raises on NaN or +-inf, naming the column and a row.
``missing="keep"`` turns +-inf into NaN and keeps NaN; the detector treats NaN as unobserved
(masked out of its likelihood), never as zero. ``missing="zero"`` replaces NaN and +-inf by 0
(for :class:`~moeids.FlowWindower`: 0 after standardisation, i.e. the benign mean).
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = [
    "CICIOT2023_WINDOW_FEATURES",
    "DEFAULT_WINDOW_FEATURES",
    "RT_IOT2022_WINDOW_FEATURES",
    "make_windows",
]

#: The 12 default flow features: packets, data packets, packet rate, mean payload bytes and
#: mean inter-arrival time per direction, the flow's duration and packet rate.
DEFAULT_WINDOW_FEATURES = (
    "flow_duration", "fwd_pkts_tot", "bwd_pkts_tot", "fwd_data_pkts_tot", "bwd_data_pkts_tot",
    "fwd_pkts_per_sec", "bwd_pkts_per_sec", "flow_pkts_per_sec", "fwd_byts_b_avg",
    "bwd_byts_b_avg", "fwd_iat_mean", "bwd_iat_mean",
)  # fmt: skip

#: RT-IoT2022 columns for :data:`DEFAULT_WINDOW_FEATURES`, in the same order (the byte
#: averages are the mean payload bytes per packet, the IAT means are the ``.avg`` columns).
RT_IOT2022_WINDOW_FEATURES = (
    "flow_duration", "fwd_pkts_tot", "bwd_pkts_tot", "fwd_data_pkts_tot", "bwd_data_pkts_tot",
    "fwd_pkts_per_sec", "bwd_pkts_per_sec", "flow_pkts_per_sec", "fwd_pkts_payload.avg",
    "bwd_pkts_payload.avg", "fwd_iat.avg", "bwd_iat.avg",
)  # fmt: skip

#: 12 CICIoT2023 (merged 39-feature CSV) columns covering the aspects of
#: :data:`DEFAULT_WINDOW_FEATURES`: packets (``Number``), rate (``Rate``), bytes (``Tot sum``,
#: ``AVG``, ``Std``, ``Header_Length``), timing (``IAT``), TTL and TCP flag counts.
CICIOT2023_WINDOW_FEATURES = (
    "Number", "Rate", "Tot sum", "AVG", "Std", "Header_Length", "IAT", "Time_To_Live",
    "syn_count", "ack_count", "fin_count", "rst_count",
)  # fmt: skip

#: Constraints of the window parameters, shared by :func:`make_windows` and FlowWindower.
WINDOW_CONSTRAINTS = {
    "seq_length": [Interval(Integral, 2, None, closed="left")],
    "stride": [Interval(Integral, 1, None, closed="left"), None],
    "features": ["array-like", None],
    "label_rule": [StrOptions({"any", "majority"})],
    "missing": [StrOptions({"error", "keep", "zero"})],
}


def flow_table(X):
    """``X`` itself when a DataFrame, else a 2-D ndarray (ValueError naming ``X``)."""
    if isinstance(X, pd.DataFrame):
        return X
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError("X: sparse input is not supported; pass a DataFrame or a dense array")
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(
            f"X: expected a DataFrame or a 2-D array of flows, got {array.ndim}-D; "
            "Reshape your data to one row per flow"
        )
    return array


def resolve_features(frame, features):
    """Column labels (DataFrame) or integer positions (array) of the window features."""
    if isinstance(frame, pd.DataFrame):
        if features is None:
            return _default_features(frame)
        features = list(features)
        absent = [c for c in features if c not in frame.columns]
        if absent:
            raise ValueError(f"features: column {absent[0]!r} is not in the frame")
        return features
    if features is None:
        return list(range(frame.shape[1]))
    features = list(features)
    for f in features:
        if isinstance(f, bool) or not isinstance(f, Integral) or not 0 <= f < frame.shape[1]:
            raise ValueError(
                f"features: for an array, give column positions in [0, {frame.shape[1]}), got {f!r}"
            )
    return features


def _default_features(frame):
    missing = [c for c in DEFAULT_WINDOW_FEATURES if c not in frame.columns]
    if not missing:
        return list(DEFAULT_WINDOW_FEATURES)
    hint = ""
    for name, cols in (
        ("RT_IOT2022_WINDOW_FEATURES", RT_IOT2022_WINDOW_FEATURES),
        ("CICIOT2023_WINDOW_FEATURES", CICIOT2023_WINDOW_FEATURES),
    ):
        if all(c in frame.columns for c in cols):
            hint = f"; these columns look like moeids.moirai.windows.{name}"
    raise ValueError(
        "features=None uses the 12 default window features (moeids.moirai.windows."
        f"DEFAULT_WINDOW_FEATURES), but the frame lacks {missing[:3]}"
        f"{' ...' if len(missing) > 3 else ''}; pass features=[column names]{hint}"
    )


def feature_matrix(frame, features, missing):
    """(n_rows, n_features) float64 of the chosen columns, missing values handled."""
    if not features:
        raise ValueError("features is empty; give at least one column")
    if isinstance(frame, pd.DataFrame):
        names = [str(c) for c in features]
        columns = []
        for col in features:
            try:
                columns.append(pd.to_numeric(frame[col], errors="raise").to_numpy())
            except (ValueError, TypeError) as exc:
                raise ValueError(f"column {col!r} is not numeric: {exc}") from exc
    else:
        names = [f"column {f}" for f in features]
        columns = [frame[:, f] for f in features]
    matrix = np.empty((len(frame), len(features)))
    for j, values in enumerate(columns):
        if np.iscomplexobj(values) or any(isinstance(v, complex) for v in values[:1]):
            raise ValueError(f"Complex data not supported: {names[j]!r} holds complex values")
        try:
            matrix[:, j] = values.astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{names[j]!r} is not numeric: {exc}") from exc  # same class
    bad = ~np.isfinite(matrix)
    if bad.any():
        if missing == "error":
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"{names[col]!r} holds {matrix[row, col]} in row {row}; pass missing='keep' "
                "(NaN = unobserved) or missing='zero'"
            )
        matrix[bad] = np.nan if missing == "keep" else 0.0
    return matrix


def row_labels(frame, labels, n_rows, name="labels"):
    """Binary int8 labels per row (1 = attack) from a column name or an array-like."""
    if isinstance(labels, str) and isinstance(frame, pd.DataFrame):
        if labels not in frame.columns:
            raise ValueError(f"{name}: column {labels!r} is not in the frame")
        labels = frame[labels]
    values = np.asarray(labels)
    if values.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},) (one per row), got {values.shape}")
    ok = np.isin(values, [0, 1])
    if not ok.all():
        raise ValueError(
            f"{name} must be binary (0 = benign, 1 = attack); got {values[~ok][0]!r} "
            f"in row {int(np.argmax(~ok))}"
        )
    return values.astype(np.int8)


def row_groups(frame, groups, n_rows):
    """The group of each row (n_rows,) from a column name or an array-like, or None."""
    if groups is None:
        return None
    if isinstance(groups, str):
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(
                f"groups={groups!r}: a column name needs a DataFrame; give one group per row"
            )
        if groups not in frame.columns:
            raise ValueError(f"groups: column {groups!r} is not in the frame")
        return frame[groups].to_numpy()
    values = np.asarray(groups)
    if values.shape != (n_rows,):
        raise ValueError(
            f"groups must have shape ({n_rows},) (one group per row), got {values.shape}"
        )
    return values


def cut(matrix, labels, groups, seq_length, stride, label_rule):
    """Slide windows over each group's rows (in their order); never across groups."""
    if groups is None:
        members, keys = [np.arange(len(matrix))], [None]
    else:
        codes, uniques = pd.factorize(pd.Series(groups), sort=False)
        if (codes < 0).any():
            raise ValueError(f"groups holds a missing value in row {int(np.argmax(codes < 0))}")
        members = [np.flatnonzero(codes == k) for k in range(len(uniques))]
        keys = list(uniques)
    windows, window_labels, short = [], [], []
    for key, rows in zip(keys, members, strict=True):
        if len(rows) < seq_length:
            short.append(key)
            continue
        starts = np.arange(0, len(rows) - seq_length + 1, stride)
        index = rows[starts[:, None] + np.arange(seq_length)]
        windows.append(matrix[index])
        if labels is not None:
            per_row = labels[index]
            any_attack = per_row.max(axis=1)
            majority = (per_row.mean(axis=1) > 0.5).astype(np.int8)
            window_labels.append(any_attack if label_rule == "any" else majority)
    if not windows:
        where = "the table has" if groups is None else "every group has"
        raise ValueError(f"no window of seq_length={seq_length} fits: {where} fewer rows")
    if short:
        warnings.warn(
            f"{len(short)} group(s) have fewer than seq_length={seq_length} rows and give no "
            f"window: {short[:5]}",
            UserWarning,
            stacklevel=3,
        )
    out = np.concatenate(windows).astype(np.float32)
    return out, (np.concatenate(window_labels).astype(np.int8) if labels is not None else None)


@validate_params(
    {
        "frame": ["array-like"],
        "labels": [str, "array-like", None],
        "groups": [str, "array-like", None],
        **WINDOW_CONSTRAINTS,
    },
    prefer_skip_nested_validation=True,
)
def make_windows(
    frame,
    seq_length=128,
    stride=None,
    features=None,
    labels=None,
    label_rule="any",
    groups=None,
    missing="error",
):
    """Cut time-ordered flows into windows of raw feature values.

    Window ``i`` holds rows ``i * stride`` to ``i * stride + seq_length - 1`` (of its group).
    Trailing rows that do not fill a whole window are not used.

    Parameters
    ----------
    frame : DataFrame or array of shape (n_rows, n_columns)
        Flows in time order.
    seq_length : int >= 2, default=128
        Rows per window.
    stride : int or None, default=None
        Rows between window starts; ``None`` means ``seq_length`` (no overlap).
    features : list or None, default=None
        Columns (names for a DataFrame, positions for an array). ``None``: the 12
        :data:`DEFAULT_WINDOW_FEATURES` for a DataFrame (error if one is absent), all columns
        for an array.
    labels : str or array-like of shape (n_rows,), default=None
        Row labels, 0 = benign and 1 = attack, or the name of such a column.
    label_rule : {"any", "majority"}, default="any"
        A window is an attack (1) if any of its rows is (``"any"``) or more than half are.
    groups : str or array-like of shape (n_rows,), default=None
        Windows are cut within each group (e.g. capture file, host, class); rows of a group
        keep their order. Groups shorter than ``seq_length`` give no window (warning).
    missing : {"error", "keep", "zero"}, default="error"
        NaN/+-inf handling, see the module docstring.

    Returns
    -------
    windows : ndarray of shape (n_windows, seq_length, n_features), float32
    window_labels : ndarray of shape (n_windows,), int8, or None when ``labels`` is None

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> frame = pd.DataFrame({"bytes": np.arange(10.0), "packets": np.ones(10)})
    >>> windows, labels = make_windows(frame, seq_length=4, features=["bytes", "packets"],
    ...                                labels=[0] * 9 + [1])
    >>> windows.shape, labels.tolist()
    ((2, 4, 2), [0, 0])
    """
    frame = flow_table(frame)
    matrix = feature_matrix(frame, resolve_features(frame, features), missing)
    labels = None if labels is None else row_labels(frame, labels, len(matrix))
    groups = row_groups(frame, groups, len(matrix))
    stride = seq_length if stride is None else stride
    return cut(matrix, labels, groups, seq_length, stride, label_rule)
