"""Helpers the analysis modules share: model unwrapping, label checks, F1, figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline


def _final_step(model, X):
    """The last estimator of ``model`` and ``X`` transformed by the steps before it."""
    if isinstance(model, Pipeline):
        return model[-1], model[:-1].transform(X)
    return model, X


def _labels(values, name, n_samples):
    """``values`` as a 1-d numpy array of length ``n_samples``."""
    array = np.asarray(values)
    if array.ndim != 1 or len(array) != n_samples:
        raise ValueError(
            f"{name} must be 1-d with one entry per row of X ({n_samples}), got shape {array.shape}"
        )
    return array


def _require_frame(X, function):
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            f"{function} removes feature columns by name, so X must be a pandas DataFrame "
            f"of raw flow features, got {type(X).__name__}"
        )


def _f1_average(y):
    """``"binary"`` for 0/1 labels, ``"macro"`` otherwise."""
    labels = set(pd.unique(np.asarray(y)).tolist())
    return "binary" if labels <= {0, 1} and len(labels) == 2 else "macro"


def _f1(y_true, y_pred, average):
    return f1_score(y_true, y_pred, average=average, zero_division=0)


def _figure_class():
    """matplotlib's Figure (no pyplot: the user's backend and figure registry stay as is)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("the analysis plots need matplotlib: pip install 'moeids[plot]'") from exc
    return Figure


def _finish(fig, caption):
    """Lay out ``fig``, with ``caption`` in small print under the axes."""
    if caption:
        fig.text(0.01, 0.005, caption, fontsize=7, color="0.35", ha="left", va="bottom")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
    else:
        fig.tight_layout()


def _expert_label(expert):
    return f"{expert} expert"
