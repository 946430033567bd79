"""The one numeric transform of heavy-tailed flow features, shared by every path.

Flow counters, byte totals, durations and rates span many orders of magnitude, so every
numeric input is mapped ``x -> sign(x) * log1p(|x|)`` and then standardised with NaN-aware
statistics of the training rows.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "column_moments",
    "merge_moments",
    "moments_statistics",
    "numpy_numeric",
    "signed_log1p",
    "standard_statistics",
]


def numpy_numeric(dtypes) -> bool:
    """Whether every dtype in ``dtypes`` is a NumPy boolean, integer or float dtype (no
    pandas extension, object or complex dtype): columns of such dtypes convert to a float
    matrix as they are.

    Parameters
    ----------
    dtypes : iterable of dtype
        E.g. a DataFrame's ``dtypes``.

    Returns
    -------
    numeric : bool

    Examples
    --------
    >>> import pandas as pd
    >>> from moeids._numeric import numpy_numeric
    >>> numpy_numeric(pd.DataFrame({"a": [1, 2], "b": [0.5, 1.0]}).dtypes)
    True
    >>> numpy_numeric(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).dtypes)
    False
    """
    return all(isinstance(dtype, np.dtype) and dtype.kind in "biuf" for dtype in dtypes)


def signed_log1p(x):
    """``sign(x) * log1p(|x|)`` of a NumPy array or a torch tensor (same type out).

    Parameters
    ----------
    x : ndarray or Tensor of any shape
        NaN stays NaN.

    Returns
    -------
    y : ndarray or Tensor of the shape of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> signed_log1p(np.array([-9.0, 0.0, 9.0])).round(3)
    array([-2.303,  0.   ,  2.303])
    """
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np.sign(x) * np.log1p(np.abs(x))
    return x.sign() * x.abs().log1p()  # torch.Tensor (torch is imported by its caller)


def standard_statistics(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NaN-aware column means and standard deviations; constant or empty columns get 1.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        NaN marks a missing value.

    Returns
    -------
    center : ndarray of float64 of shape (n_features,)
        Column means over the present values (0 for an all-missing column).
    scale : ndarray of float64 of shape (n_features,)
        Column standard deviations (population), 1 where the column is constant (its
        deviation is only the rounding error of its mean) or has no present value.

    Examples
    --------
    >>> import numpy as np
    >>> center, scale = standard_statistics(np.array([[1.0, 5.0], [3.0, 5.0], [np.nan, 5.0]]))
    >>> center, scale
    (array([2., 5.]), array([1., 1.]))
    """
    return moments_statistics(column_moments(values))


def column_moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaN-aware per-column count, mean and sum of squared deviations of ``values``.

    The mergeable summary of :func:`merge_moments` (Chan et al.'s pairwise update), from
    which :func:`moments_statistics` gives what :func:`standard_statistics` gives on all
    rows at once: statistics of a dataset read in chunks.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        NaN marks a missing value.

    Returns
    -------
    count, mean, m2 : ndarray of float64 of shape (n_features,)
        Present values per column, their mean (0 when none) and ``sum((x - mean)**2)``.
    """
    values = np.asarray(values, dtype=np.float64)
    count = np.sum(~np.isnan(values), axis=0).astype(np.float64)
    mean = np.nansum(values, axis=0) / np.maximum(count, 1)
    m2 = np.nansum((values - mean) ** 2, axis=0)
    return count, mean, m2


def merge_moments(a, b):
    """The :func:`column_moments` of two row sets together, from theirs (Chan et al. 1979)."""
    (n_a, mean_a, m2_a), (n_b, mean_b, m2_b) = a, b
    n = n_a + n_b
    share = np.divide(n_b, n, out=np.zeros_like(n), where=n > 0)
    delta = mean_b - mean_a
    return n, mean_a + delta * share, m2_a + m2_b + delta**2 * n_a * share


def moments_statistics(moments) -> tuple[np.ndarray, np.ndarray]:
    """``(center, scale)`` of :func:`standard_statistics` from :func:`column_moments`."""
    count, mean, m2 = moments
    std = np.sqrt(m2 / np.maximum(count, 1))
    return mean.copy(), np.where(std > 1e-12 * np.abs(mean), std, 1.0)
