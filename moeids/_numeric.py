"""The one numeric transform of heavy-tailed flow features, shared by every path.

Flow counters, byte totals, durations and rates span many orders of magnitude, so every
numeric input is mapped ``x -> sign(x) * log1p(|x|)`` and then standardised with NaN-aware
statistics of the training rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["signed_log1p", "standard_statistics"]


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
    values = np.asarray(values, dtype=np.float64)
    count = np.maximum(np.sum(~np.isnan(values), axis=0), 1)
    center = np.nansum(values, axis=0) / count
    std = np.sqrt(np.nansum((values - center) ** 2, axis=0) / count)
    return center, np.where(std > 1e-12 * np.abs(center), std, 1.0)
