"""Kafka record values -> flows -> decision records, without a broker.

A record value is a JSON object of feature name -> value (absent and null fields are
missing features). :func:`score_values` scores a micro-batch of values at once and isolates
the malformed ones: each value yields either a decision (a dict) or the error text that
sends it to the dead-letter topic.
"""

from __future__ import annotations

import json
import sys
import warnings

import pandas as pd

from moeids.features.names import input_name
from moeids.scoring import score_flows, split_model

__all__ = ["attack_labels", "model_inputs", "parse_flow", "score_values"]

_BENIGN_NAMES = frozenset({"benign", "normal", "0"})
_LARGEST_FLOAT = int(sys.float_info.max)


def _reject_constant(token):
    raise ValueError(f"{token} is not valid JSON; send null for a missing feature")


def parse_flow(value, inputs) -> dict:
    """One record value -> a flow ``{feature: value}``.

    Parameters
    ----------
    value : bytes or None
        The Kafka record value: UTF-8 JSON text of an object.
    inputs : frozenset of str
        The model's input feature names (:func:`model_inputs`); at least one must be there.

    Returns
    -------
    flow : dict

    Raises
    ------
    ValueError
        Empty value, not UTF-8, not JSON, not an object, a nested field, or none of the
        model's features; the message names the field.

    Examples
    --------
    >>> from moeids.streaming import parse_flow
    >>> inputs = frozenset({"Flow Duration", "Protocol"})
    >>> parse_flow(b'{"Flow Duration": 120, "Protocol": 6, "note": "x"}', inputs)
    {'Flow Duration': 120, 'Protocol': 6, 'note': 'x'}
    >>> parse_flow(b'{"Flow Duration": NaN}', inputs)
    Traceback (most recent call last):
    ...
    ValueError: NaN is not valid JSON; send null for a missing feature
    """
    if not value:
        raise ValueError("empty record value; expected a JSON object of feature -> value")
    try:
        flow = json.loads(value, parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        raise ValueError(f"record value is not UTF-8 text: {error}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"record value is not JSON: {error}") from None
    if not isinstance(flow, dict):
        raise ValueError(
            f"expected a JSON object of feature -> value, got a JSON {type(flow).__name__}"
        )
    for name, field in flow.items():
        if isinstance(field, (dict, list)):
            raise ValueError(
                f"field {name!r}: expected a number, a string or null, "
                f"got a JSON {type(field).__name__}"
            )
        if isinstance(field, int) and abs(field) > _LARGEST_FLOAT:
            raise ValueError(
                f"field {name!r}: an integer of {len(str(abs(field)))} digits is too large"
            )
    if not inputs.intersection(flow):
        raise ValueError(
            f"none of the model's {len(inputs)} input features is in the record "
            f"(e.g. {sorted(inputs)[:3]}); got fields {list(flow)[:10]}"
        )
    return flow


def model_inputs(model) -> frozenset:
    """Input feature names of a fitted pipeline (raw columns) or bare classifier.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted

    Returns
    -------
    names : frozenset of str
        The raw column names a pipeline reads (``group__`` prefixes dropped), or a bare
        classifier's input names.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.streaming import model_inputs
    >>> inputs = model_inputs(model)
    >>> len(inputs), "Flow Duration" in inputs
    (83, True)
    """
    preprocessing, classifier = split_model(model)
    names = [str(n) for n in classifier._feature_names()]
    if preprocessing is not None:
        names = [input_name(n) for n in names]
    return frozenset(names)


def attack_labels(model, benign=None) -> frozenset:
    """The classes of ``model`` that raise an alert: every class but the benign one.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
    benign : label, optional
        The benign class. Default: ``classes_[0]`` for a binary model; for a multi-class
        model the class named benign/normal (any case) or 0.

    Returns
    -------
    labels : frozenset

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.streaming import attack_labels
    >>> sorted(int(label) for label in attack_labels(model))  # binary: all but classes_[0]
    [1]
    """
    classes = list(split_model(model)[1].classes_)
    if benign is None:
        named = [c for c in classes if str(c).strip().lower() in _BENIGN_NAMES]
        if len(classes) == 2:
            benign = classes[0]
        elif len(named) == 1:
            benign = named[0]
        else:
            raise ValueError(f"Which class is benign? Pass benign=...; classes are {classes}.")
    matches = [c for c in classes if c == benign or str(c) == str(benign)]  # "0" from a CLI
    if not matches:
        raise ValueError(f"benign={benign!r} is not one of the model's classes {classes}.")
    benign = matches[0]
    return frozenset(c for c in classes if c != benign)


def _score(model, flows: list[dict]) -> list[dict]:
    with warnings.catch_warnings():  # missing features are reported per decision
        warnings.simplefilter("ignore")
        frame = pd.DataFrame.from_records(flows)
        return score_flows(model, frame).to_dict("records")


def score_values(model, values, inputs=None) -> list[dict | str]:
    """Score a micro-batch of record values; malformed ones yield their error text.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
    values : sequence of bytes or None, length n
    inputs : frozenset of str, optional
        :func:`model_inputs` of ``model`` (computed when omitted).

    Returns
    -------
    outcomes : list of length n
        Per value, its decision (dict of :func:`moeids.scoring.decision_columns`) or the
        error text (str) of a malformed value. A batch the model rejects (e.g. a string in
        a numeric field) is scored again one flow at a time, so that only the bad flows fail.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.streaming import score_values
    >>> values = [X.iloc[:1].to_json(orient="records")[1:-1].encode(), b"not json", None]
    >>> outcomes = score_values(model, values)
    >>> sorted(outcomes[0]), outcomes[2]  # doctest: +NORMALIZE_WHITESPACE
    (['attack_probability', 'gate_tabular', 'gate_temporal', 'label', 'missing_features'],
     'empty record value; expected a JSON object of feature -> value')
    >>> outcomes[1]  # doctest: +ELLIPSIS
    'record value is not JSON: Expecting value: line 1 column 1 (char 0)'
    """
    inputs = model_inputs(model) if inputs is None else inputs
    outcomes: list[dict | str] = [""] * len(values)
    valid, flows = [], []
    for i, value in enumerate(values):
        try:
            flows.append(parse_flow(value, inputs))
            valid.append(i)
        except ValueError as error:
            outcomes[i] = str(error)
    if not flows:
        return outcomes
    try:
        decisions = _score(model, flows)
    except (TypeError, ValueError, OverflowError):
        decisions = []
        for flow in flows:
            try:
                decisions.extend(_score(model, [flow]))
            except (TypeError, ValueError, OverflowError) as error:
                decisions.append(str(error))
    for i, decision in zip(valid, decisions, strict=True):
        outcomes[i] = decision
    return outcomes
