"""Per-flow decisions of a fitted detector: the one record that predict, serve, stream and
scan all write.

A decision holds the predicted label, the class probabilities, the gate weights and the
names of the input features that were missing for that flow, so that an analyst reading an
alert sees what the model knew.
"""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline

from .features.names import input_name, missing_names

__all__ = ["decision_arrays", "decision_columns", "score_flows", "split_model"]


def split_model(model):
    """(preprocessing, classifier) of a fitted pipeline, or (None, model) for a bare one.

    Parameters
    ----------
    model : Pipeline or MoEClassifier
        Fitted; a Pipeline's last step must have ``predict_proba`` and ``explain``.

    Returns
    -------
    preprocessing : Pipeline or None
    classifier : estimator

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter
    >>> from moeids.scoring import split_model
    >>> preprocessing, classifier = split_model(make_pipeline(FeatureSplitter(), DummyClassifier()))
    >>> type(preprocessing).__name__, type(preprocessing[0]).__name__, type(classifier).__name__
    ('Pipeline', 'FeatureSplitter', 'DummyClassifier')
    >>> split_model(DummyClassifier())[0] is None
    True
    """
    if isinstance(model, Pipeline):
        return (model[:-1] if len(model) > 1 else None), model[-1]
    return None, model


def decision_columns(model, top_k=None) -> list[str]:
    """Column names of :func:`score_flows`' output for ``model``.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
    top_k : int or None, default=None
        As in :func:`score_flows`: adds ``top_features``.

    Returns
    -------
    columns : list of str

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.scoring import decision_columns
    >>> decision_columns(model)  # doctest: +NORMALIZE_WHITESPACE
    ['label', 'attack_probability', 'gate_tabular', 'gate_temporal', 'missing_features']
    """
    classes = split_model(model)[1].classes_
    if len(classes) == 2:
        probabilities = ["attack_probability"]
    else:
        probabilities = [f"proba_{c}" for c in classes]
    columns = ["label", *probabilities, "gate_tabular", "gate_temporal", "missing_features"]
    return columns if top_k is None else [*columns, "top_features"]


def score_flows(model, flows, top_k=None) -> pd.DataFrame:
    """Score raw flows: label, probabilities, gate weights and missing features per flow.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
        Usually ``make_pipeline(FeatureSplitter(), MoEClassifier())``.
    flows : DataFrame of shape (n_flows, n_columns)
        Raw flow features; absent columns and NaN cells are missing features.
    top_k : int or None, default=None
        Also list each flow's ``top_k`` most supporting features (``top_features``, as in
        :meth:`moeids.MoEClassifier.explain`; needs ``pip install 'moeids[explain]'``,
        and costs one forward pass per feature).

    Returns
    -------
    decisions : DataFrame of shape (n_flows, len(decision_columns(model, top_k)))
        ``label`` (the predicted class), ``attack_probability`` (probability of
        ``classes_[1]``, binary models) or one ``proba_<class>`` column per class,
        ``gate_tabular`` and ``gate_temporal`` (expert weights) and
        ``missing_features`` (list of the input feature names missing in that flow).
        The index is ``flows``' index.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.scoring import score_flows
    >>> decisions = score_flows(model, X.iloc[:3].drop(columns=["Flow Duration"]))
    >>> decisions.shape, decisions["missing_features"].tolist()
    ((3, 5), [['Flow Duration'], ['Flow Duration'], ['Flow Duration']])
    """
    preprocessing, classifier = split_model(model)
    features = preprocessing.transform(flows) if preprocessing is not None else flows
    out = decision_arrays(classifier, classifier.forward(features), top_k)
    index = flows.index if isinstance(flows, pd.DataFrame) else None
    return pd.DataFrame(out, index=index)


def decision_arrays(classifier, output, top_k=None) -> dict:
    """The columns of :func:`score_flows` from the classifier's forward pass.

    Parameters
    ----------
    classifier : MoEClassifier, fitted
    output : MoEOutput
        ``classifier.forward`` of the flows' features.
    top_k : int or None, default=None
        As in :func:`score_flows`.

    Returns
    -------
    columns : dict of str -> ndarray or list
        One entry of length n_flows per name of ``decision_columns``, in that order.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.scoring import decision_arrays
    >>> columns = decision_arrays(model[-1], model[-1].forward(model[0].transform(X.iloc[:3])))
    >>> list(columns), columns["missing_features"]  # doctest: +NORMALIZE_WHITESPACE
    (['label', 'attack_probability', 'gate_tabular', 'gate_temporal', 'missing_features'],
     [[], [], []])
    """
    _, proba, gate, values = output
    missing = missing_names(values, [input_name(n) for n in classifier._feature_names()])
    classes = classifier.classes_
    out = {"label": classes[proba.argmax(1)]}
    if len(classes) == 2:
        out["attack_probability"] = proba[:, 1]
    else:
        out.update({f"proba_{c}": proba[:, k] for k, c in enumerate(classes)})
    out["gate_tabular"] = gate[:, 0]
    out["gate_temporal"] = gate[:, 1]
    out["missing_features"] = missing
    if top_k is not None:
        from .moe.attribution import flow_top_features  # torch: only when asked

        out["top_features"] = flow_top_features(classifier, values, proba, proba.argmax(1), top_k)
    return out
