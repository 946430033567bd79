"""Per-flow feature attributions of a fitted :class:`~moeids.MoEClassifier`.

The contribution of feature ``j`` to a flow's class ``c`` is what its value adds over
not knowing it: the log-odds of ``c`` with the flow as it is, minus the log-odds with
feature ``j`` marked missing (NaN, which the network reads as the learned [MASK] token
of the tabular expert or the availability channel of the temporal expert). It is
computed with Captum's :class:`~captum.attr.FeatureAblation` on a 0/1 presence input
whose baseline 0 marks the feature missing; features already missing contribute 0.
Captum is an optional dependency: ``pip install 'moeids[explain]'``.

The class explained is ``classes_[1]`` (attack) for a binary model, else the predicted
class; :func:`top_features` keeps the features that most support the predicted label.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch

from .._training import iterate_batches, to_tensor
from ..features.names import input_name

__all__ = [
    "class_log_odds",
    "explained_class",
    "feature_attributions",
    "flow_top_features",
    "top_features",
]

#: Flows attributed per Captum call; each call runs ``n_features`` perturbed copies.
ATTRIBUTION_BATCH_SIZE = 128
_PERTURBATIONS_PER_EVAL = 16


def _feature_ablation():
    try:
        from captum.attr import FeatureAblation
    except ImportError as exc:
        raise ImportError(
            "feature attributions (explain(top_k=...)) need Captum: pip install 'moeids[explain]'"
        ) from exc
    return FeatureAblation


def class_log_odds(logits: torch.Tensor) -> torch.Tensor:
    """Log-odds of every class, ``log p_c - log(1 - p_c)``, computed from the logits.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_classes)

    Returns
    -------
    log_odds : Tensor of shape (batch, n_classes)
        For two classes, column 1 is ``logits[:, 1] - logits[:, 0]``.
    """
    n_classes = logits.shape[1]
    others = logits.unsqueeze(1).expand(-1, n_classes, -1)
    diagonal = torch.eye(n_classes, dtype=torch.bool, device=logits.device)
    return logits - torch.logsumexp(others.masked_fill(diagonal, -torch.inf), dim=2)


def explained_class(proba: np.ndarray) -> np.ndarray:
    """Index of the class each flow is explained for: 1 (attack) for a binary model, else
    the predicted class. ``proba`` (n_samples, n_classes) -> (n_samples,) int64."""
    if proba.shape[1] == 2:
        return np.ones(len(proba), dtype=np.int64)
    return proba.argmax(1).astype(np.int64)


def feature_attributions(classifier, values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Signed contribution of every feature to the log-odds of each flow's ``target`` class.

    Parameters
    ----------
    classifier : MoEClassifier
        Fitted.
    values : ndarray of shape (n_samples, n_features), float32
        Validated input (NaN = missing), e.g. ``classifier.forward(X).values``.
    target : ndarray of int of shape (n_samples,)
        Class index explained per flow (see :func:`explained_class`).

    Returns
    -------
    attributions : ndarray of float32 of shape (n_samples, n_features)
        Log-odds with the flow as it is minus log-odds with that feature missing;
        0 where the feature is missing.
    """
    ablation = _feature_ablation()
    net = classifier.module_
    net.eval()
    device = classifier.device_

    def forward(present, x):
        return class_log_odds(net(x.masked_fill(present < 0.5, torch.nan))[0])

    explainer = ablation(forward)
    x_all, t_all = to_tensor(values), torch.as_tensor(target, dtype=torch.long)
    out = np.zeros(values.shape, dtype=np.float32)
    with torch.no_grad():
        for idx in iterate_batches(len(values), ATTRIBUTION_BATCH_SIZE, shuffle=False):
            x = x_all[idx].to(device)
            result = explainer.attribute(
                torch.ones_like(x),
                baselines=0.0,
                target=t_all[idx].to(device),
                additional_forward_args=(x,),
                perturbations_per_eval=_PERTURBATIONS_PER_EVAL,
            )
            out[idx.numpy()] = result.float().cpu().numpy()
    out[np.isnan(values)] = 0.0
    return out


def top_features(
    attributions: np.ndarray, values: np.ndarray, names, supports: np.ndarray, top_k: int
) -> list[dict[str, float]]:
    """The ``top_k`` present features that most support each flow's predicted label.

    Parameters
    ----------
    attributions : ndarray of shape (n_samples, n_features)
        From :func:`feature_attributions`.
    values : ndarray of shape (n_samples, n_features)
        The input (NaN = missing; missing features are never listed).
    names : array-like of str of shape (n_features,)
        Feature names shown.
    supports : ndarray of shape (n_samples,)
        +1 where the predicted label is the explained class, -1 where it is not (a
        binary model predicting benign: features lowering the attack log-odds support it).
    top_k : int
        Features per flow (fewer when fewer are present).

    Returns
    -------
    top : list of n_samples dicts
        Feature name -> signed contribution to the explained class's log-odds, most
        supporting first.
    """
    names = np.asarray(names, dtype=object)
    score = np.where(np.isnan(values), -np.inf, attributions * supports[:, None])
    order = np.argsort(-score, axis=1, kind="stable")[:, :top_k]
    n_present = (~np.isnan(values)).sum(1)
    return [
        {str(names[j]): float(attributions[i, j]) for j in order[i, : min(top_k, n_present[i])]}
        for i in range(len(values))
    ]


def flow_top_features(classifier, values, proba, predicted, top_k) -> list[dict[str, float]]:
    """The ``top_k`` features that most support each flow's label, by input column name.

    Parameters
    ----------
    classifier : MoEClassifier
        Fitted.
    values : ndarray of shape (n_samples, n_features)
        Validated input (NaN = missing), e.g. ``classifier.forward(X).values``.
    proba : ndarray of shape (n_samples, n_classes)
        The classifier's probabilities of those rows.
    predicted : ndarray of int of shape (n_samples,)
        Index of the label shown per flow (the argmax, or a fused decision).
    top_k : int
        Positive; features per flow.

    Returns
    -------
    top : list of n_samples dicts
        As :func:`top_features`, names without the ``group__`` prefix.
    """
    if not isinstance(top_k, Integral) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    target = explained_class(proba)
    scores = feature_attributions(classifier, values, target)
    names = [input_name(name) for name in classifier._feature_names()]
    supports = np.where(predicted == target, 1.0, -1.0)
    return top_features(scores, values, names, supports, top_k)
