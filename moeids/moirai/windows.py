"""Flows -> fixed-length windows of flow features, shape (n_windows, seq_length, n_features).

:func:`make_windows` cuts a time-ordered flow table into (optionally overlapping) windows of
raw feature values, with one label per window. :class:`FlowWindower` does the same after a
signed ``log1p`` and a standardisation fitted on benign rows, which is what
:class:`~moeids.MoiraiNLLDetector` expects.

Default features
----------------
The design document names 12 flow features (:data:`DESIGN_FEATURES`). They are the default
when a frame has all of them. Real datasets name them differently; the closest columns are
:data:`RT_IOT2022_WINDOW_FEATURES` (one-to-one) and :data:`CICIOT2023_WINDOW_FEATURES`
(CICIoT2023's merged CSVs aggregate packets without a forward/backward split, so its list
covers the same aspects -- volume, rate, size, timing, flags -- with its own columns).
``docs/moirai.md`` has the table.

Missing values
--------------
``missing="error"`` (default) raises on NaN or +-inf, naming the column and a row.
``missing="keep"`` turns +-inf into NaN and keeps NaN; the detector treats NaN as unobserved
(masked out of its likelihood), never as zero. ``missing="zero"`` replaces NaN and +-inf by 0
(for :class:`FlowWindower`: 0 after standardisation, i.e. the benign mean).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

#: The 12 flow features of the design document (moeids/DESIGN.md, Moirai fine-tuning guide).
DESIGN_FEATURES = (
    "flow_duration", "fwd_pkts_tot", "bwd_pkts_tot", "fwd_data_pkts_tot", "bwd_data_pkts_tot",
    "fwd_pkts_per_sec", "bwd_pkts_per_sec", "flow_pkts_per_sec", "fwd_byts_b_avg",
    "bwd_byts_b_avg", "fwd_iat_mean", "bwd_iat_mean",
)  # fmt: skip

#: RT-IoT2022 columns for :data:`DESIGN_FEATURES`, in the same order (the byte averages are
#: the mean payload bytes per packet, the IAT means are the ``.avg`` columns).
RT_IOT2022_WINDOW_FEATURES = (
    "flow_duration", "fwd_pkts_tot", "bwd_pkts_tot", "fwd_data_pkts_tot", "bwd_data_pkts_tot",
    "fwd_pkts_per_sec", "bwd_pkts_per_sec", "flow_pkts_per_sec", "fwd_pkts_payload.avg",
    "bwd_pkts_payload.avg", "fwd_iat.avg", "bwd_iat.avg",
)  # fmt: skip

#: 12 CICIoT2023 (merged 39-feature CSV) columns covering the aspects of
#: :data:`DESIGN_FEATURES`: packets (``Number``), rate (``Rate``), bytes (``Tot sum``,
#: ``AVG``, ``Std``, ``Header_Length``), timing (``IAT``), TTL and TCP flag counts.
CICIOT2023_WINDOW_FEATURES = (
    "Number", "Rate", "Tot sum", "AVG", "Std", "Header_Length", "IAT", "Time_To_Live",
    "syn_count", "ack_count", "fin_count", "rst_count",
)  # fmt: skip

_MISSING = ("error", "keep", "zero")
_LABEL_RULES = ("any", "majority")


def _resolve_features(frame, features):
    """Column labels (DataFrame) or integer positions (array) of the window features."""
    if isinstance(frame, pd.DataFrame):
        if features is None:
            missing = [c for c in DESIGN_FEATURES if c not in frame.columns]
            if missing:
                hint = ""
                for name, cols in (
                    ("RT_IOT2022_WINDOW_FEATURES", RT_IOT2022_WINDOW_FEATURES),
                    ("CICIOT2023_WINDOW_FEATURES", CICIOT2023_WINDOW_FEATURES),
                ):
                    if all(c in frame.columns for c in cols):
                        hint = f"; these columns look like moeids.moirai.windows.{name}"
                raise ValueError(
                    "features=None uses the 12 design features (moeids.moirai.windows."
                    f"DESIGN_FEATURES), but the frame lacks {missing[:3]}"
                    f"{' ...' if len(missing) > 3 else ''}; pass features=[column names]{hint}"
                )
            return list(DESIGN_FEATURES)
        features = list(features)
        absent = [c for c in features if c not in frame.columns]
        if absent:
            raise ValueError(f"features: column {absent[0]!r} is not in the frame")
        return features
    if features is None:
        return list(range(frame.shape[1]))
    features = list(features)
    for f in features:
        if (
            isinstance(f, bool)
            or not isinstance(f, int | np.integer)
            or not (0 <= f < frame.shape[1])
        ):
            raise ValueError(
                f"features: for an array, give column positions in [0, {frame.shape[1]}), got {f!r}"
            )
    return features


def _feature_matrix(frame, features, missing):
    """(n_rows, n_features) float64 of the chosen columns, missing values handled."""
    if missing not in _MISSING:
        raise ValueError(f"missing must be one of {_MISSING}, got {missing!r}")
    if not features:
        raise ValueError("features is empty; give at least one column")
    if isinstance(frame, pd.DataFrame):
        names = [str(c) for c in features]
        values = []
        for col in features:
            try:
                values.append(pd.to_numeric(frame[col], errors="raise").to_numpy(np.float64))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"column {col!r} is not numeric: {exc}") from exc
        matrix = np.column_stack(values)
    else:
        array = np.asarray(frame)
        if array.ndim != 2:
            raise ValueError(f"expected a DataFrame or a 2-D array of flows, got {array.ndim}-D")
        names = [f"column {f}" for f in features]
        try:
            matrix = array[:, features].astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"flow values must be numeric: {exc}") from exc
    bad = ~np.isfinite(matrix)
    if bad.any():
        if missing == "error":
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"{names[col]!r} holds {matrix[row, col]} in row {row}; pass missing='keep' "
                "(NaN = unobserved) or missing='zero'"
            )
        matrix[bad] = np.nan if missing == "keep" else 0.0
    return matrix, names


def _row_labels(frame, labels, n_rows):
    """Binary int8 labels per row (1 = attack) from a column name or an array-like."""
    if isinstance(labels, str) and isinstance(frame, pd.DataFrame):
        if labels not in frame.columns:
            raise ValueError(f"labels: column {labels!r} is not in the frame")
        labels = frame[labels]
    values = np.asarray(labels)
    if values.shape != (n_rows,):
        raise ValueError(f"labels must have shape ({n_rows},), got {values.shape}")
    ok = np.isin(values, [0, 1])
    if not ok.all():
        raise ValueError(
            f"labels must be binary (0 = benign, 1 = attack); got {values[~ok][0]!r} "
            f"in row {int(np.argmax(~ok))}"
        )
    return values.astype(np.int8)


def _window_starts(n_rows, seq_length, stride):
    return np.arange(0, n_rows - seq_length + 1, stride) if n_rows >= seq_length else []


def _check_window_params(seq_length, stride, label_rule):
    if isinstance(seq_length, bool) or not isinstance(seq_length, int | np.integer):
        raise TypeError(f"seq_length must be an int, got {seq_length!r}")
    if seq_length < 2:
        raise ValueError(f"seq_length must be >= 2, got {seq_length}")
    stride = seq_length if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
        raise ValueError(f"stride must be a positive int or None, got {stride!r}")
    if label_rule not in _LABEL_RULES:
        raise ValueError(f"label_rule must be one of {_LABEL_RULES}, got {label_rule!r}")
    return int(seq_length), int(stride)


def _cut(matrix, row_labels, groups, seq_length, stride, label_rule):
    """Slide windows over each group's rows (in their order); never across groups."""
    if groups is None:
        members = [np.arange(len(matrix))]
        keys = [None]
    else:
        codes, uniques = pd.factorize(pd.Series(groups), sort=False)
        if (codes < 0).any():
            raise ValueError(f"groups holds a missing value in row {int(np.argmax(codes < 0))}")
        members = [np.flatnonzero(codes == k) for k in range(len(uniques))]
        keys = list(uniques)
    windows, labels, short = [], [], []
    for key, rows in zip(keys, members, strict=True):
        starts = _window_starts(len(rows), seq_length, stride)
        if len(starts) == 0:
            short.append(key)
            continue
        index = rows[np.asarray(starts)[:, None] + np.arange(seq_length)]
        windows.append(matrix[index])
        if row_labels is not None:
            per_row = row_labels[index]
            labels.append(
                per_row.max(axis=1)
                if label_rule == "any"
                else (per_row.mean(axis=1) > 0.5).astype(np.int8)
            )
    if not windows:
        raise ValueError(
            f"no window of seq_length={seq_length} fits: "
            + ("the table has" if groups is None else "every group has")
            + " fewer rows"
        )
    if short:
        warnings.warn(
            f"{len(short)} group(s) have fewer than seq_length={seq_length} rows and give no "
            f"window: {short[:5]}",
            UserWarning,
            stacklevel=3,
        )
    out = np.concatenate(windows).astype(np.float32)
    return out, (np.concatenate(labels).astype(np.int8) if row_labels is not None else None)


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
    seq_length : int, default=128
        Rows per window.
    stride : int or None, default=None
        Rows between window starts; ``None`` means ``seq_length`` (no overlap).
    features : list or None, default=None
        Columns (names for a DataFrame, positions for an array). ``None``: the 12
        :data:`DESIGN_FEATURES` for a DataFrame (error if one is absent), all columns for an
        array.
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
    """
    seq_length, stride = _check_window_params(seq_length, stride, label_rule)
    features = _resolve_features(frame, features)
    matrix, _ = _feature_matrix(frame, features, missing)
    row_labels = None if labels is None else _row_labels(frame, labels, len(matrix))
    if isinstance(groups, str) and isinstance(frame, pd.DataFrame):
        if groups not in frame.columns:
            raise ValueError(f"groups: column {groups!r} is not in the frame")
        groups = frame[groups].to_numpy()
    elif groups is not None and len(groups) != len(matrix):
        raise ValueError(f"groups must have {len(matrix)} entries, got {len(groups)}")
    return _cut(matrix, row_labels, groups, seq_length, stride, label_rule)


def _signed_log1p(x):
    return np.sign(x) * np.log1p(np.abs(x))


class FlowWindower(TransformerMixin, BaseEstimator):
    """Standardise flow features and cut them into windows.

    ``fit`` learns a per-feature location and scale (after the optional signed ``log1p``)
    from benign rows (``y == 0``) when ``y`` is given, else from all rows. NaN are ignored
    in these statistics; a constant feature gets scale 1.

    Parameters
    ----------
    seq_length : int, default=128
        Rows per window.
    stride : int or None, default=None
        Rows between window starts; ``None`` means ``seq_length``.
    features : list or None, default=None
        See :func:`make_windows`.
    label_rule : {"any", "majority"}, default="any"
        Used by :meth:`window_labels`.
    log_transform : bool, default=True
        Apply ``sign(x) * log1p(|x|)`` before standardising (flow counts, rates and byte
        totals are heavy-tailed).
    missing : {"error", "keep", "zero"}, default="error"
        NaN/+-inf handling, see the module docstring.

    Attributes
    ----------
    features_ : list
        Columns used.
    center_, scale_ : ndarray of shape (n_features,)
        Standardisation statistics.
    n_features_in_ : int
        Number of columns of the frame seen in ``fit``.
    """

    def __init__(
        self,
        seq_length=128,
        stride=None,
        features=None,
        label_rule="any",
        log_transform=True,
        missing="error",
    ):
        self.seq_length = seq_length
        self.stride = stride
        self.features = features
        self.label_rule = label_rule
        self.log_transform = log_transform
        self.missing = missing

    def _prepared(self, X, features):
        matrix, _ = _feature_matrix(X, features, self.missing)
        return _signed_log1p(matrix) if self.log_transform else matrix

    def fit(self, X, y=None):
        """Learn the standardisation from ``X`` (benign rows only when ``y`` is given).

        Parameters
        ----------
        X : DataFrame or array of shape (n_rows, n_columns)
        y : array-like of shape (n_rows,), default=None
            Row labels, 0 = benign, 1 = attack.

        Returns
        -------
        self : FlowWindower
        """
        _check_window_params(self.seq_length, self.stride, self.label_rule)
        features = _resolve_features(X, self.features)
        matrix = self._prepared(X, features)
        if y is not None:
            benign = _row_labels(X, y, len(matrix)) == 0
            if not benign.any():
                raise ValueError("y has no benign row (0); cannot fit the standardisation")
            matrix = matrix[benign]
        if len(matrix) == 0:
            raise ValueError("X has 0 rows")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column, handled below
            center = np.nanmean(matrix, axis=0)
            scale = np.nanstd(matrix, axis=0)
        empty = np.isnan(center)
        if empty.any():
            raise ValueError(f"feature {features[int(np.argmax(empty))]!r} has no observed value")
        scale[scale == 0] = 1.0
        self.features_ = features
        self.center_, self.scale_ = center, scale
        self.n_features_in_ = X.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X, groups=None):
        """Standardise and window ``X``.

        Parameters
        ----------
        X : DataFrame or array of shape (n_rows, n_columns)
            Flows in time order.
        groups : str or array-like of shape (n_rows,), default=None
            See :func:`make_windows`.

        Returns
        -------
        windows : ndarray of shape (n_windows, seq_length, n_features), float32
        """
        check_is_fitted(self)
        seq_length, stride = _check_window_params(self.seq_length, self.stride, self.label_rule)
        if isinstance(X, pd.DataFrame):
            absent = [c for c in self.features_ if c not in X.columns]
            if absent:
                raise ValueError(f"X lacks the fitted feature column {absent[0]!r}")
        elif np.asarray(X).shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {np.asarray(X).shape[1]} columns, but FlowWindower was fitted with "
                f"{self.n_features_in_}"
            )
        matrix = (self._prepared(X, self.features_) - self.center_) / self.scale_
        if isinstance(groups, str) and isinstance(X, pd.DataFrame):
            groups = X[groups].to_numpy()
        windows, _ = _cut(matrix, None, groups, seq_length, stride, self.label_rule)
        return windows

    def window_labels(self, y, groups=None):
        """Per-window labels matching :meth:`transform` of rows labelled ``y``.

        Parameters
        ----------
        y : array-like of shape (n_rows,)
            Row labels, 0 = benign, 1 = attack.
        groups : array-like of shape (n_rows,), default=None
            The same ``groups`` as given to :meth:`transform`.

        Returns
        -------
        window_labels : ndarray of shape (n_windows,), int8
        """
        check_is_fitted(self)
        seq_length, stride = _check_window_params(self.seq_length, self.stride, self.label_rule)
        row_labels = _row_labels(None, y, len(y))
        placeholder = np.zeros((len(row_labels), 1))
        _, labels = _cut(placeholder, row_labels, groups, seq_length, stride, self.label_rule)
        return labels
