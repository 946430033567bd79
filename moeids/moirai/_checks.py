"""Input checks of :class:`~moeids.MoiraiNLLDetector`: windows and window labels."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array

__all__ = ["MAX_ABS_VALUE", "check_window_labels", "check_windows"]

MAX_ABS_VALUE = 1e15
"""Largest magnitude of a window value: the NLL squares (value - loc) / scale in float32,
which overflows to inf or NaN near 1e19 (a non-finite score that ``predict`` reads as
normal), so larger values are refused with a margin for small forecast scales."""


def check_windows(X, prediction_length, context_length=None, fitted_shape=None, owner=""):
    """Windows as float32 (n_windows, n_steps, n_features); a 2-D array is one feature.

    Parameters
    ----------
    X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)
    prediction_length : int
        Horizon steps; each window needs an observed value among them.
    context_length : int or None
        At fit: windows may have at most ``context_length + prediction_length`` steps.
    fitted_shape : tuple of 2 ints or None
        After fit: the ``(n_steps, n_features)`` every window must have.
    owner : str
        Estimator name for the messages.

    Returns
    -------
    X : ndarray of shape (n_windows, n_steps, n_features), float32
    """
    X = check_array(
        X, allow_nd=True, dtype=np.float32, ensure_all_finite="allow-nan", input_name="X"
    )
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise ValueError(f"X must be (n_windows, n_steps[, n_features]), got {X.ndim}-D")
    n_steps, n_features = X.shape[1:]
    if np.isinf(X).any():
        raise ValueError(f"X holds inf at index {tuple(np.argwhere(np.isinf(X))[0])}")
    huge = np.abs(X) > MAX_ABS_VALUE
    if huge.any():
        index = tuple(int(i) for i in np.argwhere(huge)[0])
        raise ValueError(
            f"X holds {float(X[index]):g} at index {index}, beyond +/-{MAX_ABS_VALUE:g}: the "
            "float32 likelihood overflows on such values; pass standardised windows "
            "(e.g. from FlowWindower)"
        )
    if fitted_shape is not None and (n_steps, n_features) != tuple(fitted_shape):
        raise ValueError(
            f"X has windows of {n_steps} steps x {n_features} features, but {owner} is "
            f"expecting {fitted_shape[0]} x {fitted_shape[1]} as in fit"
        )
    if n_steps <= prediction_length:
        raise ValueError(
            f"windows have {n_steps} steps but need more than prediction_length="
            f"{prediction_length} (at least one context step)"
        )
    if context_length is not None and n_steps > context_length + prediction_length:
        raise ValueError(
            f"windows have {n_steps} steps, more than context_length + prediction_length = "
            f"{context_length + prediction_length}; raise context_length or cut shorter windows"
        )
    horizon_seen = np.isfinite(X[:, -prediction_length:]).any(axis=(1, 2))
    if not horizon_seen.all():
        raise ValueError(
            f"window {int(np.argmin(horizon_seen))} has no observed value in its last "
            f"prediction_length={prediction_length} steps"
        )
    return X


def check_window_labels(y, n_windows):
    """Window labels as int8 (n_windows,): 0 = benign, 1 = attack, at least one benign."""
    y = np.asarray(y)
    if y.shape != (n_windows,):
        raise ValueError(f"y must have shape ({n_windows},) (one label per window), got {y.shape}")
    ok = np.isin(y, [0, 1])
    if not ok.all():
        raise ValueError(f"y must be 0 (benign) or 1 (attack) per window, got {y[~ok][0]!r}")
    if not (y == 0).any():
        raise ValueError("y has no benign window (0); the NLL needs a benign reference")
    return y.astype(np.int8)
