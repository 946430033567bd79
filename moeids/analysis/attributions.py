"""Per-flow feature attributions of a fitted pipeline, on raw flows, and their summaries.

- :func:`explain_flows` -- :meth:`MoEClassifier.explain` with ``top_k`` on raw flows
  (through the pipeline's :class:`~moeids.FeatureSplitter`), input column names throughout;
- :func:`flow_attributions` -- every feature's contribution per flow, as a DataFrame;
- :func:`attribution_summary` -- mean |contribution| per feature and attack type (plot it
  with :func:`moeids.analysis.plot_attributions`).

Contributions are log-odds of the explained class (attack for a binary model) with the
flow as it is minus with that feature missing (:mod:`moeids.moe.attribution`; needs
``pip install 'moeids[explain]'``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..features.names import input_name
from ..moe.attribution import explained_class, feature_attributions
from ..scoring import split_model
from ._common import _labels

__all__ = ["attribution_summary", "explain_flows", "flow_attributions"]


def _features(model, flows):
    """(classifier, its input for ``flows``, input names of its columns)."""
    preprocessing, classifier = split_model(model)
    if not hasattr(classifier, "explain"):
        raise TypeError(
            f"{type(classifier).__name__} has no explain; attributions need a MoEClassifier "
            "(or a Pipeline ending in one)"
        )
    features = preprocessing.transform(flows) if preprocessing is not None else flows
    return classifier, features, [input_name(n) for n in classifier._feature_names()]


def explain_flows(model, flows, top_k=5) -> pd.DataFrame:
    """Explain raw flows: prediction, gate weights, missing and top features per flow.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
        Usually ``make_pipeline(FeatureSplitter(), MoEClassifier())``.
    flows : DataFrame of shape (n_flows, n_columns)
        Raw flow features; absent columns and NaN cells are missing features.
    top_k : int or None, default=5
        Features listed per flow in ``top_features``; None leaves the column out.

    Returns
    -------
    explanation : DataFrame with n_flows rows
        The columns of :meth:`moeids.MoEClassifier.explain`, with ``missing_features``
        and ``top_features`` named by the input columns. The index is ``flows``' index.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y, kind = flows.data.iloc[::10], flows.target.iloc[::10], flows.attack_type.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.analysis import explain_flows
    >>> explanation = explain_flows(model, X.iloc[:3], top_k=2)
    >>> explanation.columns.tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['prediction', 'confidence', 'tabular', 'temporal', 'missing_features', 'top_features']
    >>> [len(top) for top in explanation["top_features"]]
    [2, 2, 2]
    """
    classifier, features, names = _features(model, flows)
    frame = classifier.explain(features, top_k=top_k)
    frame["missing_features"] = [[input_name(n) for n in row] for row in frame["missing_features"]]
    frame.index = flows.index if isinstance(flows, pd.DataFrame) else pd.RangeIndex(len(frame))
    return frame


def flow_attributions(model, flows) -> pd.DataFrame:
    """Contribution of every feature of every flow to the explained class's log-odds.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
    flows : DataFrame or array-like of shape (n_flows, n_columns)
        Input of ``model``.

    Returns
    -------
    attributions : DataFrame of shape (n_flows, n_features)
        Columns are the input feature names; 0 where a feature is missing. The explained
        class is ``classes_[1]`` for a binary model, else the predicted class.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y, kind = flows.data.iloc[::10], flows.target.iloc[::10], flows.attack_type.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.analysis import flow_attributions
    >>> attributions = flow_attributions(model, X.iloc[:20])
    >>> attributions.shape
    (20, 83)
    """
    classifier, features, names = _features(model, flows)
    _, proba, _, values = classifier.forward(features)
    scores = feature_attributions(classifier, values, explained_class(proba))
    index = flows.index if isinstance(flows, pd.DataFrame) else None
    return pd.DataFrame(scores, columns=names, index=index)


def attribution_summary(attributions, attack_type) -> pd.DataFrame:
    """Mean |contribution| per feature, over all flows and per attack type.

    Parameters
    ----------
    attributions : DataFrame of shape (n_flows, n_features)
        From :func:`flow_attributions`.
    attack_type : array-like of shape (n_flows,)
        Attack type (or ``"Benign"``) of each flow.

    Returns
    -------
    summary : DataFrame
        Index ``feature``, most important over all flows first; column ``all``, then one
        column per attack type (most frequent first).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y, kind = flows.data.iloc[::10], flows.target.iloc[::10], flows.attack_type.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.analysis import attribution_summary, flow_attributions
    >>> attributions = flow_attributions(model, X.iloc[:20])
    >>> summary = attribution_summary(attributions, kind.iloc[:20])
    >>> summary.index.name, summary.shape, summary.columns[0]
    ('feature', (83, 3), 'all')
    """
    if not isinstance(attributions, pd.DataFrame):
        raise TypeError(
            "attributions must be the DataFrame of flow_attributions, got "
            f"{type(attributions).__name__}"
        )
    attack = pd.Series(
        _labels(attack_type, "attack_type", len(attributions)).astype(str), name="attack_type"
    )
    magnitude = attributions.abs().reset_index(drop=True)
    per_type = magnitude.groupby(attack).mean().T
    per_type = per_type[attack.value_counts().index]
    summary = pd.concat([magnitude.mean().rename("all"), per_type], axis=1)
    summary = summary.sort_values("all", ascending=False, kind="stable")
    summary.index.name = "feature"
    summary.columns.name = None
    return summary.astype(np.float64)
