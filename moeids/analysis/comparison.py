"""Fit several models on several datasets; detection quality and speed in one table."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

__all__ = ["compare"]

_COMPARE_COLUMNS = (
    "f1", "precision", "recall", "roc_auc", "fn", "fp", "f1_macro", "accuracy",
    "fit_time_s", "train_flows_per_s", "predict_flows_per_s", "n_train", "n_test",
)  # fmt: skip


def _score_split(model, X_test, y_test, benign_label, name):
    """Detection and speed metrics of a fitted model on one test split."""
    classes = list(model.classes_)
    if benign_label not in classes:
        raise ValueError(
            f"benign_label={benign_label!r} is not a class of the model fitted on dataset "
            f"{name!r}; classes: {classes[:10]}"
        )
    start = time.perf_counter()
    proba = np.asarray(model.predict_proba(X_test))
    predict_time = time.perf_counter() - start
    y_pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    y_true = np.asarray(y_test, dtype=object)
    attack_true = y_true != benign_label
    attack_pred = y_pred != benign_label
    tn, fp, fn, tp = confusion_matrix(attack_true, attack_pred, labels=[False, True]).ravel()
    attack_score = 1.0 - proba[:, classes.index(benign_label)]
    return {
        "f1": f1_score(attack_true, attack_pred, zero_division=0),
        "precision": precision_score(attack_true, attack_pred, zero_division=0),
        "recall": recall_score(attack_true, attack_pred, zero_division=0),
        "roc_auc": roc_auc_score(attack_true, attack_score),
        "fn": int(fn),
        "fp": int(fp),
        "f1_macro": f1_score(
            y_true.astype(str), y_pred.astype(str), average="macro", zero_division=0
        ),
        "accuracy": accuracy_score(y_true.astype(str), y_pred.astype(str)),
        "predict_flows_per_s": len(y_true) / predict_time,
    }


def compare(models, datasets, *, benign_label=0, return_estimators=False, verbose=0):
    """Fit every model on every dataset and tabulate detection quality and speed.

    Detection metrics treat every class other than ``benign_label`` as "attack", so binary
    and multi-class models are scored the same way; ``f1_macro`` and ``accuracy`` score the
    model's own classes.

    Parameters
    ----------
    models : mapping of str to estimator
        Name -> unfitted classifier with ``predict_proba``; it is cloned for each dataset.
    datasets : mapping of str to tuple
        Name -> ``(X_train, y_train, X_test, y_test)``.
    benign_label : object
        The label of normal traffic in every ``y`` (``0`` for 0/1 targets, e.g.
        ``"Benign"`` for attack-type labels).
    return_estimators : bool
        Also return the fitted models.
    verbose : int
        1 prints a line per fitted model (dataset, model, fit time, F1).

    Returns
    -------
    table : DataFrame
        Index (``dataset``, ``model``); columns ``f1``, ``precision``, ``recall``,
        ``roc_auc`` (attack score = 1 - P(benign)), ``fn`` (attacks predicted benign),
        ``fp`` (benign predicted attack), ``f1_macro``, ``accuracy``, ``fit_time_s``,
        ``train_flows_per_s``, ``predict_flows_per_s`` (``predict_proba`` on the whole
        test split), ``n_train``, ``n_test``.
    estimators : dict
        ``(dataset, model)`` -> fitted model; only with ``return_estimators=True``.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from moeids import FeatureSplitter
    >>> from moeids.analysis import compare
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()
    >>> split = train_test_split(flows.data, flows.target, random_state=0, stratify=flows.target)
    >>> X_train, X_test, y_train, y_test = split
    >>> models = {"tree": make_pipeline(FeatureSplitter(), DecisionTreeClassifier(random_state=0)),
    ...           "prior": DummyClassifier()}
    >>> table = compare(models, {"sample": (X_train, y_train, X_test, y_test)})
    >>> table.index.tolist()
    [('sample', 'tree'), ('sample', 'prior')]
    >>> table.columns[:4].tolist(), int(table.loc[("sample", "prior"), "fn"])
    (['f1', 'precision', 'recall', 'roc_auc'], 0)
    """
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty mapping of name -> estimator")
    if not isinstance(datasets, Mapping) or not datasets:
        raise TypeError("datasets must be a non-empty mapping of name -> 4-tuple")
    rows, fitted = [], {}
    for data_name, split in datasets.items():
        if not isinstance(split, tuple | list) or len(split) != 4:
            raise ValueError(
                f"dataset {data_name!r} must be a tuple (X_train, y_train, X_test, y_test), "
                f"got {type(split).__name__}"
            )
        X_train, y_train, X_test, y_test = split
        for model_name, estimator in models.items():
            model = clone(estimator)
            start = time.perf_counter()
            model.fit(X_train, y_train)
            fit_time = time.perf_counter() - start
            row = {"dataset": data_name, "model": model_name}
            row |= _score_split(model, X_test, y_test, benign_label, data_name)
            row |= {
                "fit_time_s": fit_time,
                "train_flows_per_s": len(y_train) / fit_time,
                "n_train": len(y_train),
                "n_test": len(y_test),
            }
            rows.append(row)
            fitted[data_name, model_name] = model
            if verbose:
                print(
                    f"[compare] {data_name} / {model_name}: fit {fit_time:.1f} s, "
                    f"F1 {row['f1']:.4f}",
                    flush=True,
                )
    table = pd.DataFrame(rows).set_index(["dataset", "model"])[list(_COMPARE_COLUMNS)]
    return (table, fitted) if return_estimators else table
