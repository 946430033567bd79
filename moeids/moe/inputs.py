"""Input checks of :class:`~moeids.MoEClassifier` beyond ``validate_data``.

Labels that cannot be classes, a matrix with no present value and categorical codes
that are not codes are refused here with an error that names ``y``, ``X`` or the column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from .._numeric import numpy_numeric

__all__ = [
    "MAX_CATEGORICAL_CODE",
    "UNLABELED",
    "UnlabeledRowsWarning",
    "as_float32_rows",
    "categorical_cardinalities",
    "check_categorical_codes",
    "check_has_values",
    "encode_labels",
]

MAX_CATEGORICAL_CODE = 100_000
"""Largest categorical code ``fit`` accepts: each code up to the largest one seen gets an
embedding, so a huge code would allocate a huge table. ``FeatureSplitter`` numbers the
categories of a column 1..k (k at most its ``max_categories``)."""

UNLABELED = -1
"""The label of an unlabeled row (numeric ``y`` only; scikit-learn's semi-supervised
convention)."""


class UnlabeledRowsWarning(UserWarning):
    """Rows with ``y == -1`` were treated as unlabeled (scikit-learn's semi-supervised code).

    Examples
    --------
    >>> import warnings
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> from moeids.moe.inputs import UnlabeledRowsWarning
    >>> flows = load_sample()
    >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
    >>> y = flows.target.iloc[::10].to_numpy().copy()
    >>> y[:100] = -1  # these 100 rows have no label
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=1, pretrain_epochs=0,
    ...                           refit_epochs=0, random_state=0).fit(Z, y)
    >>> [w.category is UnlabeledRowsWarning for w in caught], model.classes_
    ([True], array([0, 1]))
    """


def encode_labels(y: np.ndarray, unlabeled: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Classes and encoded labels of ``y`` (n_samples,); at least two classes.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels of the labeled rows.
    unlabeled : int, default=0
        The number of rows removed as ``y = -1``; it only words the errors.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        Sorted distinct labels.
    encoded : ndarray of int of shape (n_samples,)
        Index of each label in ``classes``.

    Examples
    --------
    >>> import numpy as np
    >>> from moeids.moe.inputs import encode_labels
    >>> classes, encoded = encode_labels(np.array(["DoS", "BENIGN", "DoS"]))
    >>> classes.tolist(), encoded.tolist()
    (['BENIGN', 'DoS'], [1, 0, 1])
    >>> encode_labels(np.array([1, 1]))
    Traceback (most recent call last):
    ...
    ValueError: MoEClassifier needs samples of at least 2 classes in y; got only class 1
    """
    if y.dtype == object:
        missing = pd.isna(y)
        if missing.any():
            raise ValueError(
                f"y has {int(missing.sum())} missing label(s) (None or NaN), the first at "
                f"row {int(np.flatnonzero(missing)[0])}; drop those rows or label them"
            )
    try:
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
    except TypeError as exc:
        kinds = sorted({type(label).__name__ for label in y})
        raise TypeError(
            f"y mixes labels of types {kinds} that cannot be ordered; use one type"
        ) from exc
    if len(classes) < 2:
        got = f"only class {classes.tolist()[0]!r}" if len(classes) else "no labeled row"
        note = (
            f" (besides {unlabeled} unlabeled row(s), y = -1; if -1 is a class, recode it)"
            if unlabeled
            else ""
        )
        raise ValueError(f"MoEClassifier needs samples of at least 2 classes in y; got {got}{note}")
    return classes, encoded


def check_has_values(X: np.ndarray) -> None:
    """Raise unless ``X`` (n_samples, n_features) has at least one present (non-NaN) value.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float
        NaN marks a missing value.

    Examples
    --------
    >>> import numpy as np
    >>> from moeids.moe.inputs import check_has_values
    >>> check_has_values(np.array([[np.nan, 1.0]]))
    >>> check_has_values(np.full((2, 2), np.nan))
    Traceback (most recent call last):
    ...
    ValueError: X has no present value: all 4 entries are NaN (missing), so there is ...
    """
    if np.isnan(X).all():
        raise ValueError(
            f"X has no present value: all {X.size} entries are NaN (missing), so there is "
            "nothing to learn from"
        )


def check_categorical_codes(
    X: np.ndarray, groups: np.ndarray, names: np.ndarray, *, fitting: bool
) -> None:
    """Raise unless the categorical columns of ``X`` hold non-negative integer codes.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        NaN marks a missing value.
    groups : ndarray of str of shape (n_features,)
        Group of each column; only ``"categorical"`` columns are checked.
    names : ndarray of str of shape (n_features,)
        Column names for the error message.
    fitting : bool
        In ``fit``, codes above :data:`MAX_CATEGORICAL_CODE` are refused too (at
        predict time a code above the fitted ones reads as unknown).

    Examples
    --------
    >>> import numpy as np
    >>> from moeids.moe.inputs import check_categorical_codes
    >>> groups = np.array(["tabular", "categorical"])
    >>> names = np.array(["bytes", "proto"], dtype=object)
    >>> check_categorical_codes(np.array([[1.5, 2.0], [3.0, np.nan]]), groups, names,
    ...                         fitting=True)
    >>> check_categorical_codes(np.array([[1.5, 2.5]]), groups, names, fitting=True)
    Traceback (most recent call last):
    ...
    ValueError: categorical column 'proto' must hold non-negative integer codes ...; got 2.5
    """
    for j in np.flatnonzero(groups == "categorical"):
        column = X[:, j]
        bad = ~np.isnan(column) & ((column < 0) | (column != np.round(column)))
        if bad.any():
            raise ValueError(
                f"categorical column {names[j]!r} must hold non-negative integer codes "
                f"(0 = unknown); got {column[bad][0].item()!r}"
            )
        if fitting and np.nanmax(column, initial=0) > MAX_CATEGORICAL_CODE:
            raise ValueError(
                f"categorical column {names[j]!r} has code {np.nanmax(column):.0f}, above "
                f"the largest supported code {MAX_CATEGORICAL_CODE}; number its categories "
                "1..k (FeatureSplitter does, with max_categories)"
            )


def categorical_cardinalities(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Largest code plus one of each categorical column of ``X`` (1 when all missing).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        NaN marks a missing value.
    groups : ndarray of str of shape (n_features,)
        Group of each column; only ``"categorical"`` columns count.

    Returns
    -------
    cardinalities : ndarray of int64 of shape (n_categorical,)

    Examples
    --------
    >>> import numpy as np
    >>> from moeids.moe.inputs import categorical_cardinalities
    >>> X = np.array([[0.5, 3.0, np.nan], [0.1, 1.0, np.nan]])
    >>> categorical_cardinalities(X, np.array(["tabular", "categorical", "categorical"]))
    array([4, 1])
    """
    cat = X[:, groups == "categorical"]
    largest = np.nanmax(np.where(np.isnan(cat), 0.0, cat), axis=0, initial=0.0)
    return largest.astype(np.int64) + 1


def as_float32_rows(estimator, X) -> np.ndarray:
    """``X`` validated against the fitted ``estimator`` as a C-contiguous float32 matrix.

    A DataFrame with NumPy numeric columns (FeatureSplitter's output) has its names and
    width checked, then is converted in one step, without sklearn's per-column dtype
    inspection; anything else (or a frame holding +/-inf, or no row) goes through
    ``validate_data``, which raises the usual errors.

    Parameters
    ----------
    estimator : fitted estimator
        Has ``n_features_in_`` (and ``feature_names_in_`` when fitted on a DataFrame).
    X : array-like of shape (n_samples, n_features_in_)

    Returns
    -------
    X : ndarray of float32 of shape (n_samples, n_features_in_), NaN = missing

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from moeids.moe.inputs import as_float32_rows
    >>> frame = pd.DataFrame({"tabular__bytes": [1, 2], "temporal__iat": [0.5, None]})
    >>> fitted = FunctionTransformer().fit(frame)
    >>> as_float32_rows(fitted, frame)
    array([[1. , 0.5],
           [2. , nan]], dtype=float32)
    """
    if isinstance(X, pd.DataFrame) and len(X) and hasattr(estimator, "feature_names_in_"):
        if numpy_numeric(X.dtypes):
            if list(X.columns) != list(estimator.feature_names_in_):  # else nothing to check
                validate_data(estimator, X, reset=False, skip_check_array=True)
            values = np.ascontiguousarray(X.to_numpy(dtype=np.float32))
            if not np.isinf(values).any():
                return values
    X = validate_data(estimator, X, reset=False, dtype=np.float32, ensure_all_finite="allow-nan")
    return np.ascontiguousarray(X, dtype=np.float32)
