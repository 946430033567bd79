"""FlowWindower: standardise flow features on benign rows and cut them into windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils.validation import check_is_fitted, validate_data

from .._numeric import signed_log1p, standard_statistics
from .windows import (
    WINDOW_CONSTRAINTS,
    cut,
    feature_matrix,
    flow_table,
    resolve_features,
    row_groups,
)

__all__ = ["FlowWindower"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


class FlowWindower(TransformerMixin, BaseEstimator):
    """Standardise flow features and cut them into windows.

    ``fit`` learns a per-feature location and scale (after the optional signed ``log1p``)
    from benign rows (``y == 0``) when ``y`` is given, else from all rows. NaN are ignored
    in these statistics; a constant feature gets scale 1.

    Parameters
    ----------
    seq_length : int >= 2, default=128
        Rows per window.
    stride : int or None, default=None
        Rows between window starts; ``None`` means ``seq_length``.
    features : list or None, default=None
        See :func:`~moeids.make_windows`: column names for a DataFrame (``None``: the 12
        default window features), positions for an array (``None``: all columns).
    label_rule : {"any", "majority"}, default="any"
        Used by :meth:`window_labels`.
    log_transform : bool, default=True
        Apply ``sign(x) * log1p(|x|)`` before standardising (flow counts, rates and byte
        totals are heavy-tailed).
    missing : {"error", "keep", "zero"}, default="error"
        NaN/+-inf handling, see :mod:`moeids.moirai.windows`.

    Attributes
    ----------
    features_ : list
        Columns used: names when fitted on a DataFrame (``transform`` then needs a DataFrame
        with these columns, in any order, other columns ignored), positions for an array
        (``transform`` then needs ``n_features_in_`` columns).
    center_, scale_ : ndarray of shape (n_features,)
        Standardisation statistics.
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X``, only when fitted on a DataFrame with string column names
        (a refit on an array removes it).

    Examples
    --------
    Windows of 32 consecutive flows of the bundled CIC-IDS2017 sample, three features,
    standardised on the benign rows:

    >>> from moeids import FlowWindower
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()
    >>> columns = ["Flow Duration", "Total Fwd Packet", "Flow IAT Mean"]
    >>> windower = FlowWindower(seq_length=32, features=columns)
    >>> windows = windower.fit(flows.data, flows.target).transform(flows.data)
    >>> windows.shape, windows.dtype
    ((158, 32, 3), dtype('float32'))
    """

    _parameter_constraints = {**WINDOW_CONSTRAINTS, "log_transform": ["boolean"]}

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing != "error"
        return tags

    def _prepared(self, X):
        matrix = feature_matrix(X, self.features_, self.missing)
        return signed_log1p(matrix) if self.log_transform else self._in_range(matrix, "holds")

    def _in_range(self, matrix, what):
        """``matrix`` unless a value is beyond the float32 range of the windows (ValueError)."""
        big = np.abs(matrix) > _FLOAT32_MAX  # NaN compares False
        if big.any():
            row, j = (int(i) for i in np.argwhere(big)[0])
            raise ValueError(
                f"feature {self.features_[j]!r} {what} {matrix[row, j]:g} in row {row}, beyond "
                f"the float32 range (+/-{_FLOAT32_MAX:.3g}) of the windows; use "
                "log_transform=True or rescale the column"
            )
        return matrix

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the standardisation from ``X`` (benign rows only when ``y`` is given).

        Parameters
        ----------
        X : DataFrame or array of shape (n_rows, n_columns)
        y : array-like of shape (n_rows,) or str, default=None
            Row labels: 0 = benign, any other number = attack (e.g. an attack class
            code), or the name of such a column of ``X``. None: every row is benign.

        Returns
        -------
        self : FlowWindower

        Examples
        --------
        >>> from moeids import FlowWindower
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> columns = ["Flow Duration", "Total Fwd Packet", "Flow IAT Mean"]
        >>> windower = FlowWindower(seq_length=32, features=columns).fit(flows.data, flows.target)
        >>> windower.features_, windower.center_.shape
        (['Flow Duration', 'Total Fwd Packet', 'Flow IAT Mean'], (3,))
        """
        X = flow_table(X)
        validate_data(self, X, skip_check_array=True)  # n_features_in_, feature_names_in_
        self._fitted_on_frame_ = isinstance(X, pd.DataFrame)
        for axis, what in ((0, "sample(s) (rows)"), (1, "feature(s)")):
            if X.shape[axis] == 0:
                raise ValueError(
                    f"X has 0 {what} (shape={X.shape}) while a minimum of 1 is required."
                )
        self.features_ = resolve_features(X, self.features)
        matrix = self._prepared(X)
        if y is not None:
            benign = _benign_rows(X, y, len(X))
            if not benign.any():
                raise ValueError(
                    f"y has no benign row (0) among its {len(X)} sample(s); cannot fit the "
                    "standardisation"
                )
            matrix = matrix[benign]
        empty = np.isnan(matrix).all(axis=0)
        if empty.any():
            raise ValueError(
                f"feature {self.features_[int(np.argmax(empty))]!r} has no observed value"
            )
        self.center_, self.scale_ = standard_statistics(matrix)
        return self

    def _checked(self, X):
        """``X`` as a flow table holding the fitted features (ValueError naming ``X``)."""
        X = flow_table(X)
        by_name = self._fitted_on_frame_
        if by_name and not isinstance(X, pd.DataFrame):
            raise ValueError(
                f"X is a {type(X).__name__}, but {type(self).__name__} was fitted on a "
                f"DataFrame and selects its features by column name; pass a DataFrame with "
                f"the columns {self.features_[:3]}{' ...' if len(self.features_) > 3 else ''}"
            )
        if by_name:
            absent = [c for c in self.features_ if c not in X.columns]
            if absent:
                raise ValueError(f"X lacks the fitted feature column {absent[0]!r}")
            return X
        validate_data(self, X, reset=False, skip_check_array=True)  # the number of columns
        return np.asarray(X)

    def _stride(self):
        return self.seq_length if self.stride is None else self.stride

    def transform(self, X, groups=None):
        """Standardise and window ``X``.

        Parameters
        ----------
        X : DataFrame or array of shape (n_rows, n_columns)
            Flows in time order, of the kind seen in ``fit`` (DataFrame or array).
        groups : str or array-like of shape (n_rows,), default=None
            See :func:`~moeids.make_windows`.

        Returns
        -------
        windows : ndarray of shape (n_windows, seq_length, n_features), float32

        Examples
        --------
        >>> from moeids import FlowWindower
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> columns = ["Flow Duration", "Total Fwd Packet", "Flow IAT Mean"]
        >>> windower = FlowWindower(seq_length=32, stride=16, features=columns).fit(flows.data)
        >>> windower.transform(flows.data).shape  # overlapping windows, every 16 flows
        (315, 32, 3)
        """
        check_is_fitted(self)
        X = self._checked(X)
        matrix = (self._prepared(X) - self.center_) / self.scale_
        self._in_range(matrix, "standardises to")
        groups = row_groups(X, groups, len(matrix))
        windows, _ = cut(matrix, None, groups, self.seq_length, self._stride(), self.label_rule)
        return windows

    def window_labels(self, y, groups=None):
        """Per-window labels matching :meth:`transform` of rows labelled ``y``.

        Parameters
        ----------
        y : array-like of shape (n_rows,)
            Row labels, 0 = benign, any other number = attack (as in ``fit``).
        groups : array-like of shape (n_rows,), default=None
            The group of each row, as given to :meth:`transform` (values, not a column name).

        Returns
        -------
        window_labels : ndarray of shape (n_windows,), int8
            1 = attack window under ``label_rule``.

        Examples
        --------
        >>> from moeids import FlowWindower
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> columns = ["Flow Duration", "Total Fwd Packet", "Flow IAT Mean"]
        >>> windower = FlowWindower(seq_length=32, features=columns).fit(flows.data, flows.target)
        >>> labels = windower.window_labels(flows.target)
        >>> labels.shape, int(labels.sum())  # "any": a window with an attack flow is an attack
        ((158,), 155)
        """
        check_is_fitted(self)
        y = np.asarray(y)
        n_rows = y.shape[0] if y.ndim else 1
        labels = (~_benign_rows(None, y, n_rows)).astype(np.int8)
        groups = row_groups(None, groups, n_rows)
        rows = np.zeros((n_rows, 1))
        _, out = cut(rows, labels, groups, self.seq_length, self._stride(), self.label_rule)
        return out


def _benign_rows(X, y, n_rows):
    """Mask (n_rows,) of rows labelled 0 in ``y`` (a column name of ``X`` or one number per
    row; any other number is an attack)."""
    if isinstance(y, str) and isinstance(X, pd.DataFrame):
        if y not in X.columns:
            raise ValueError(f"y: column {y!r} is not in the frame")
        y = X[y]
    values = np.asarray(y)
    if values.shape != (n_rows,):
        raise ValueError(f"y must have shape ({n_rows},) (one label per row), got {values.shape}")
    try:
        casting = "unsafe" if values.dtype == object else "same_kind"  # no text, no complex
        values = values.astype(np.float64, casting=casting)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "Unknown label type: y must hold numbers, 0 = benign and any other value = an "
            f"attack (class), got {values[:3]!r}"
        ) from exc
    if np.isnan(values).any():
        raise ValueError(f"y holds NaN in row {int(np.argmax(np.isnan(values)))}")
    return values == 0
