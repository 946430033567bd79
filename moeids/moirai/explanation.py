"""Per-feature and per-step explanations of window scores (``MoiraiNLLDetector.explain``)."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from .calibration import window_mean

__all__ = ["nll_explanation", "interval_explanation"]


def nll_explanation(point_nll, keep, thresholds):
    """Values whose NLL lies beyond ``thresholds`` are anomalous.

    Parameters
    ----------
    point_nll : ndarray of shape (n_windows, H, F)
        Per-value NLLs, 0 where unobserved.
    keep : ndarray of shape (n_windows, H, F), bool
        Observed horizon values.
    thresholds : tuple of 2 floats
        Per-value NLLs below the first or above the second are anomalous.

    Returns
    -------
    explanation : Bunch
        ``nll``, ``point_nll``, ``feature_nll`` and the fields of :func:`_with_rates`.

    Examples
    --------
    >>> from moeids.moirai.explanation import nll_explanation
    >>> import numpy as np
    >>> point_nll = np.array([[[1.0, 2.0], [3.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]]])
    >>> keep = np.array([[[True, True], [True, False]], [[True, True], [True, True]]])
    >>> explanation = nll_explanation(point_nll, keep, thresholds=(0.2, 2.5))
    >>> explanation.nll, explanation.anomaly_rate
    (array([2. , 0.5]), array([0.33333333, 0.        ]))
    """
    low, high = thresholds
    return _with_rates(
        Bunch(
            nll=window_mean(point_nll, keep),
            point_nll=point_nll,
            feature_nll=point_nll.sum(axis=1) / keep.sum(axis=(1, 2))[:, None],
            anomalous=keep & ((point_nll < low) | (point_nll > high)),
        ),
        keep,
    )


def interval_explanation(lower, median, upper, keep, horizon):
    """Values outside their forecast interval ``[lower, upper]`` are anomalous.

    Parameters
    ----------
    lower, median, upper : ndarray of shape (n_windows, H, F)
        Forecast quantiles.
    keep : ndarray of shape (n_windows, H, F), bool
        Observed horizon values.
    horizon : ndarray of shape (n_windows, H, F)
        The observed values.

    Returns
    -------
    explanation : Bunch
        ``lower``, ``median``, ``upper`` and the fields of :func:`_with_rates`.

    Examples
    --------
    One window, 2 horizon steps, 1 feature; the second value is above its interval:

    >>> import numpy as np
    >>> from moeids.moirai.explanation import interval_explanation
    >>> lower, median, upper = (np.full((1, 2, 1), v) for v in (0.0, 1.0, 2.0))
    >>> horizon = np.array([[[1.5], [5.0]]])
    >>> keep = np.ones((1, 2, 1), bool)
    >>> explanation = interval_explanation(lower, median, upper, keep, horizon)
    >>> explanation.anomalous[0, :, 0], explanation.anomaly_rate
    (array([False,  True]), array([0.5]))
    """
    anomalous = keep & ((horizon < lower) | (horizon > upper))
    return _with_rates(Bunch(lower=lower, median=median, upper=upper, anomalous=anomalous), keep)


def _with_rates(out, keep):
    """Add ``observed``, ``anomaly_rate`` (n_windows,) and ``feature_rate`` (n_windows, F)."""
    out.observed = keep
    out.anomaly_rate = out.anomalous.sum(axis=(1, 2)) / keep.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        out.feature_rate = out.anomalous.sum(axis=1) / keep.sum(axis=1)
    return out
