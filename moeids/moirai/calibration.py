"""Which window NLLs are anomalous: direction, normality scores and thresholds.

The benign windows' NLLs define a centre (their median) and two spreads (the distances to
their ``contamination / 2`` and ``1 - contamination / 2`` quantiles). Three normality scores
follow, the higher the more normal:

- ``"low"``: a *low* NLL is anomalous (attacks more predictable than benign traffic, as
  flooding and scanning windows often are): ``(nll - center) / lower_scale``;
- ``"high"``: a high NLL is anomalous: ``(center - nll) / upper_scale``;
- ``"both"``: the smaller of the two, both tails anomalous.

Without attack labels the direction is ``"both"`` and the threshold flags a
``contamination`` share of the windows, as ``IsolationForest`` does; with labels the
direction of highest ROC-AUC and the threshold maximising TPR - FPR (Youden's J).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ["DIRECTIONS", "calibrate", "normality_scores", "window_mean"]

DIRECTIONS = ("low", "high", "both")


def window_mean(point_nll, keep):
    """Mean (n_windows,) of per-value NLLs (n_windows, H, F) over the observed ones.

    Parameters
    ----------
    point_nll : ndarray of shape (n_windows, H, F)
        Per-value NLLs, 0 where unobserved.
    keep : ndarray of shape (n_windows, H, F), bool
        Observed horizon values.

    Returns
    -------
    nll : ndarray of shape (n_windows,)

    Examples
    --------
    Two windows of 2 horizon steps and 2 features; the first has one unobserved value:

    >>> from moeids.moirai.calibration import window_mean
    >>> import numpy as np
    >>> point_nll = np.array([[[1.0, 2.0], [3.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]]])
    >>> keep = np.array([[[True, True], [True, False]], [[True, True], [True, True]]])
    >>> window_mean(point_nll, keep)
    array([2. , 0.5])
    """
    return point_nll.sum(axis=(1, 2)) / keep.sum(axis=(1, 2))


def normality_scores(nll, center, lower_scale, upper_scale, direction):
    """Normality score (n_windows,) of window NLLs (n_windows,); see the module docstring.

    Parameters
    ----------
    nll : ndarray of shape (n_windows,)
        Window NLLs (:func:`window_mean`).
    center, lower_scale, upper_scale : float
        Median of the benign NLLs and the distances to their low and high tails.
    direction : {"low", "high", "both"}
        Which NLLs are anomalous.

    Returns
    -------
    scores : ndarray of shape (n_windows,)
        The higher, the more normal.

    Examples
    --------
    >>> import numpy as np
    >>> from moeids.moirai.calibration import normality_scores
    >>> nll = np.array([0.0, 1.0, 3.0])
    >>> normality_scores(nll, center=1.0, lower_scale=0.5, upper_scale=1.0, direction="low")
    array([-2.,  0.,  4.])
    >>> normality_scores(nll, center=1.0, lower_scale=0.5, upper_scale=1.0, direction="both")
    array([-2.,  0., -2.])
    """
    above = (nll - center) / lower_scale  # large = far above the low tail
    below = (center - nll) / upper_scale  # large = far below the high tail
    if direction == "low":
        return above
    if direction == "high":
        return below
    return np.minimum(above, below)


def calibrate(point_nll, keep, y, contamination):
    """Fit the anomaly direction and thresholds on scored windows.

    Parameters
    ----------
    point_nll : ndarray of shape (n_windows, H, F)
        Per-value NLLs, 0 where unobserved.
    keep : ndarray of shape (n_windows, H, F), bool
        Observed horizon values.
    y : ndarray of shape (n_windows,)
        0 = benign, 1 = attack; at least one benign window. All zeros: no labels.
    contamination : float in (0, 0.5]
        Tail mass of the benign NLLs (see the module docstring).

    Returns
    -------
    fitted : dict
        The detector's fitted attributes: ``center_``, ``lower_scale_``, ``upper_scale_``,
        ``direction_``, ``offset_``, ``temperature_``, ``point_thresholds_``.

    Examples
    --------
    Synthetic NLLs: 50 benign windows around 2, 10 attack windows far below (too
    predictable, as flooding often is):

    >>> import numpy as np
    >>> from moeids.moirai.calibration import calibrate
    >>> rng = np.random.default_rng(0)
    >>> point_nll = np.concatenate([rng.normal(2, 0.1, (50, 4, 2)), rng.normal(0, 0.1, (10, 4, 2))])
    >>> keep = np.ones(point_nll.shape, bool)
    >>> fitted = calibrate(point_nll, keep, np.r_[np.zeros(50), np.ones(10)], contamination=0.05)
    >>> fitted["direction_"], sorted(fitted)[:3]
    ('low', ['center_', 'direction_', 'lower_scale_'])
    """
    nll = window_mean(point_nll, keep)
    benign, c = y == 0, contamination
    ref = nll[benign]
    center = float(np.median(ref))
    floor = np.finfo(np.float32).eps * max(1.0, abs(center))
    lower_scale = max(center - float(np.quantile(ref, c / 2)), floor)
    upper_scale = max(float(np.quantile(ref, 1 - c / 2)) - center, floor)

    def scores(direction):
        return normality_scores(nll, center, lower_scale, upper_scale, direction)

    if (y == 1).any():
        aucs = {d: roc_auc_score(y, -scores(d)) for d in DIRECTIONS}
        direction = max(DIRECTIONS, key=lambda d: (aucs[d], -DIRECTIONS.index(d)))
        offset = _youden_offset(scores(direction), y)
    else:
        direction = "both"
        offset = float(np.percentile(scores(direction), 100.0 * c))
    decision = scores(direction) - offset
    return {
        "center_": center,
        "lower_scale_": lower_scale,
        "upper_scale_": upper_scale,
        "direction_": direction,
        "offset_": offset,
        "temperature_": max(float(np.median(np.abs(decision - np.median(decision)))), floor),
        "point_thresholds_": _point_thresholds(
            point_nll[keep & benign[:, None, None]], c, direction
        ),
    }


def _point_thresholds(values, contamination, direction):
    """Per-value NLL bounds: the ``contamination`` tail(s) of benign values on ``direction``."""
    c = contamination
    if direction == "low":
        return float(np.quantile(values, c)), np.inf
    if direction == "high":
        return -np.inf, float(np.quantile(values, 1 - c))
    low, high = np.quantile(values, [c / 2, 1 - c / 2])
    return float(low), float(high)


def _youden_offset(scores, y):
    """Threshold on ``scores`` (attack when below) maximising TPR - FPR."""
    uniq = np.unique(scores)
    if len(uniq) == 1:
        return float(uniq[0])
    cuts = (uniq[1:] + uniq[:-1]) / 2.0
    attack, benign = np.sort(scores[y == 1]), np.sort(scores[y == 0])
    tpr = np.searchsorted(attack, cuts) / len(attack)
    fpr = np.searchsorted(benign, cuts) / len(benign)
    return float(cuts[np.argmax(tpr - fpr)])
