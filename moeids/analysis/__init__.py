"""Evaluation views of a fitted intrusion detector: gating, robustness, baselines.

Three questions users ask before they trust a model, one group of functions each:

- *Why did it decide this?* :func:`gating_weights`, :func:`gating_report` and
  :func:`plot_gating` show which expert a :class:`~moeids.MoEClassifier` trusted, per
  sample and per attack type.
- *What if my sensor exports fewer features?* :func:`robustness_curve` scores a model when
  only a random fraction of the feature columns is present; :func:`sensor_profile_scores`
  when only the columns of a named sensor (:data:`SENSOR_PROFILES`) are present.
- *Is it as good as what I run today?* :func:`compare` fits several models on several
  datasets and puts detection quality and speed in one table.

Every function takes fitted estimators (or, for :func:`compare`, unfitted ones) that follow
the scikit-learn API; a :class:`~sklearn.pipeline.Pipeline` ending in a
:class:`~moeids.MoEClassifier` works wherever gate weights are needed.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

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
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

__all__ = [
    "SENSOR_PROFILES",
    "compare",
    "gating_report",
    "gating_weights",
    "plot_gating",
    "robustness_curve",
    "sensor_profile_scores",
]

_DEFAULT_FRACTIONS = (1.0, 0.9, 0.8, 0.7, 0.5, 0.3)

#: CIC-IDS2017 canonical columns (corrected re-extraction names, see
#: :func:`moeids.datasets.load_cicids2017`) that a sensor's export provides, each mapped to the
#: export field(s) it is taken or computed from. ``list(SENSOR_PROFILES[name])`` is the column
#: set :func:`sensor_profile_scores` keeps.
#:
#: ``zeek_conn``
#:     A Zeek ``conn.log`` (one bidirectional record per connection). Payload byte counts
#:     (``orig_bytes``/``resp_bytes``) match CICFlowMeter's payload lengths. Zeek's
#:     ``history`` marks only the *presence* of flags, so flag counts are not in the profile.
#: ``netflow_v5``
#:     A NetFlow v5 export read strictly: one *unidirectional* record (the forward direction,
#:     no pairing of the two directions). ``dOctets`` counts layer-3 bytes (headers included)
#:     and ``tcp_flags`` is the OR of the flags seen, so the byte and flag columns are
#:     approximations (flag "counts" are 0/1).
#:
#: Units follow CICFlowMeter: durations in microseconds, rates per second.
SENSOR_PROFILES = {
    "zeek_conn": {
        "Dst Port": "id.resp_p",
        "Protocol": "proto (tcp 6, udp 17, icmp 1)",
        "Flow Duration": "duration (s * 1e6)",
        "Total Fwd Packet": "orig_pkts",
        "Total Bwd packets": "resp_pkts",
        "Total Length of Fwd Packet": "orig_bytes",
        "Total Length of Bwd Packet": "resp_bytes",
        "Flow Bytes/s": "(orig_bytes + resp_bytes) / duration",
        "Flow Packets/s": "(orig_pkts + resp_pkts) / duration",
        "Fwd Packets/s": "orig_pkts / duration",
        "Bwd Packets/s": "resp_pkts / duration",
        "Fwd Packet Length Mean": "orig_bytes / orig_pkts",
        "Bwd Packet Length Mean": "resp_bytes / resp_pkts",
        "Fwd Segment Size Avg": "orig_bytes / orig_pkts",
        "Bwd Segment Size Avg": "resp_bytes / resp_pkts",
        "Average Packet Size": "(orig_bytes + resp_bytes) / (orig_pkts + resp_pkts)",
        "Down/Up Ratio": "resp_pkts / orig_pkts",
    },
    "netflow_v5": {
        "Dst Port": "dstport",
        "Protocol": "prot",
        "Flow Duration": "(last - first) (ms * 1e3)",
        "Total Fwd Packet": "dPkts",
        "Total Length of Fwd Packet": "dOctets (approximate: includes IP/TCP headers)",
        "Fwd Packets/s": "dPkts / (last - first)",
        "Fwd Packet Length Mean": "dOctets / dPkts (approximate: includes headers)",
        "FIN Flag Count": "tcp_flags & 0x01 (presence 0/1)",
        "SYN Flag Count": "tcp_flags & 0x02 (presence 0/1)",
        "RST Flag Count": "tcp_flags & 0x04 (presence 0/1)",
        "PSH Flag Count": "tcp_flags & 0x08 (presence 0/1)",
        "ACK Flag Count": "tcp_flags & 0x10 (presence 0/1)",
        "URG Flag Count": "tcp_flags & 0x20 (presence 0/1)",
    },
}


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- gating


def gating_weights(model, X):
    """Per-sample expert weights of a fitted mixture-of-experts model.

    Parameters
    ----------
    model : MoEClassifier or Pipeline
        A fitted estimator with ``predict_gating``, or a fitted Pipeline whose last step
        has it (the steps before it transform ``X`` first; Pipeline does not forward
        ``predict_gating`` itself).
    X : array-like of shape (n_samples, n_features)
        Input of ``model``.

    Returns
    -------
    weights : DataFrame of shape (n_samples, n_experts)
        One float column per expert (e.g. ``tabular``, ``temporal``); rows sum to 1 over
        the experts with any input present. The index is ``X``'s when ``X`` is a DataFrame.
    """
    final, Xt = _final_step(model, X)
    if not hasattr(final, "predict_gating"):
        raise TypeError(
            f"{type(final).__name__} has no predict_gating; gating needs a MoEClassifier "
            "(or a Pipeline ending in one)"
        )
    gates = final.predict_gating(Xt)
    weights = gates.select_dtypes("number").astype(float)
    if weights.shape[1] == 0:
        raise ValueError(f"predict_gating returned no numeric column: {list(gates.columns)}")
    weights.index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(weights))
    return weights


def _gating_frame(model, X, attack_type, y):
    """Weights, attack types, predictions and (when known) per-sample correctness."""
    weights = gating_weights(model, X)
    n_samples = len(weights)
    attack = _labels(attack_type, "attack_type", n_samples).astype(str)
    frame = weights.reset_index(drop=True)
    frame["attack_type"] = attack
    y_pred = np.asarray(model.predict(X))
    if y is not None:
        frame["correct"] = y_pred == _labels(y, "y", n_samples)
    elif set(attack) <= {str(c) for c in model.classes_}:
        frame["correct"] = y_pred.astype(str) == attack
    frame["predicted"] = y_pred
    return frame, list(weights.columns)


def gating_report(model, X, attack_type, y=None):
    """Gate weights and accuracy per attack type.

    Parameters
    ----------
    model : MoEClassifier or Pipeline
        Fitted; see :func:`gating_weights`.
    X : array-like of shape (n_samples, n_features)
        Input of ``model``.
    attack_type : array-like of shape (n_samples,)
        Attack type (or ``"Benign"``) of each sample, e.g. a loader's ``attack_type``.
    y : array-like of shape (n_samples,), optional
        True labels in the model's label space (e.g. a loader's 0/1 ``target``). Without it,
        accuracy is computed against ``attack_type`` when the model was trained on attack
        types (its ``classes_`` contain them all), and is left out otherwise.

    Returns
    -------
    report : DataFrame
        One row per attack type (index ``attack_type``), most frequent first: ``count``,
        ``<expert>_mean`` and ``<expert>_std`` (population std) for each expert,
        ``dominant`` (the expert with the largest mean weight) and, when it can be computed,
        ``accuracy`` (the detection rate of an attack type for a binary model).
    """
    frame, experts = _gating_frame(model, X, attack_type, y)
    grouped = frame.groupby("attack_type", sort=False)
    report = pd.DataFrame({"count": grouped.size()})
    for expert in experts:
        report[f"{expert}_mean"] = grouped[expert].mean()
        report[f"{expert}_std"] = grouped[expert].std(ddof=0)
    means = report[[f"{e}_mean" for e in experts]].to_numpy()
    report["dominant"] = np.asarray(experts)[means.argmax(axis=1)]
    if "correct" in frame:
        report["accuracy"] = grouped["correct"].mean()
    report = report.sort_values("count", ascending=False, kind="stable")
    report.index.name = "attack_type"
    return report


def _figure_class():
    """matplotlib's Figure (no pyplot: the user's backend and figure registry stay as is)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot_gating needs matplotlib: pip install 'moeids[plot]'") from exc
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


def plot_gating(
    model,
    X,
    attack_type,
    out_dir,
    *,
    y=None,
    class_names=None,
    prefix="gating",
    title=None,
    caption=None,
):
    """Write PNG figures of a model's gate weights.

    Two kinds of figure, one idea each:

    - ``<prefix>_distribution[_<expert>].png``: box plots of the weight on an expert, one box
      per class (the true class ``y`` when given, else the predicted class). With two
      experts only the first is drawn (the other weight is its complement).
    - ``<prefix>_by_attack_type.png``: stacked horizontal bars of the mean weight on each
      expert per attack type, labelled with the count and accuracy of that type.

    Parameters
    ----------
    model : MoEClassifier or Pipeline
        Fitted; see :func:`gating_weights`.
    X : array-like of shape (n_samples, n_features)
        Input of ``model``.
    attack_type : array-like of shape (n_samples,)
        Attack type of each sample.
    out_dir : str or path-like
        Folder for the PNG files (created if absent).
    y : array-like of shape (n_samples,), optional
        True labels in the model's label space, as in :func:`gating_report`.
    class_names : mapping, optional
        Display name of each class in the distribution figure, e.g.
        ``{0: "benign", 1: "attack"}`` (default: the labels themselves).
    prefix : str
        File name prefix.
    title : str, optional
        Prepended to each figure title (e.g. the dataset name).
    caption : str, optional
        Small print at the bottom of each figure (e.g. the command that produced it).

    Returns
    -------
    paths : list of pathlib.Path
        The files written.
    """
    Figure = _figure_class()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame, experts = _gating_frame(model, X, attack_type, y)
    lead = f"{title}: " if title else ""
    classes = frame["predicted"] if y is None else pd.Series(np.asarray(y))
    class_kind = "predicted class" if y is None else "true class"
    shown = dict(class_names or {})
    paths = []
    for expert in experts if len(experts) > 2 else experts[:1]:
        names = sorted(pd.unique(classes), key=str)
        data = [frame.loc[(classes == c).to_numpy(), expert].to_numpy() for c in names]
        fig = Figure(figsize=(8, max(2.8, 1.4 + 0.45 * len(names))))
        ax = fig.subplots()
        ax.boxplot(
            data,
            orientation="horizontal",
            whis=(5, 95),
            showfliers=False,
            showmeans=True,
            widths=0.6,
        )
        ax.set_yticks(
            range(1, len(names) + 1),
            [f"{shown.get(c, c)} (n={len(d)})" for c, d in zip(names, data, strict=True)],
        )
        ax.set_xlim(-0.02, 1.02)
        other = f" (weight on {experts[1]} = 1 - this)" if len(experts) == 2 else ""
        ax.set_xlabel(f"gate weight on the {_expert_label(expert)}{other}")
        ax.set_ylabel(class_kind)
        ax.set_title(
            f"{lead}weight on the {_expert_label(expert)} per {class_kind}\n"
            "box: quartiles, whiskers: 5th-95th percentile, triangle: mean",
            fontsize=10,
        )
        ax.invert_yaxis()  # first class on top
        ax.grid(axis="x", alpha=0.3)
        _finish(fig, caption)
        suffix = f"_{expert}" if len(experts) > 2 else ""
        path = out_dir / f"{prefix}_distribution{suffix}.png"
        fig.savefig(path, dpi=100)
        paths.append(path)

    grouped = frame.groupby("attack_type")
    means = grouped[experts].mean()
    counts = grouped.size()
    means = means.sort_values(experts[0], kind="stable")
    labels = []
    for name in means.index:
        text = f"{name} (n={counts[name]}"
        if "correct" in frame:
            text += f", acc {grouped['correct'].mean()[name]:.1%}"
        labels.append(text + ")")
    fig = Figure(figsize=(9, 1.4 + 0.4 * len(means)))
    ax = fig.subplots()
    left = np.zeros(len(means))
    colors = [f"C{i}" for i in range(len(experts))]
    for i, expert in enumerate(experts):
        ax.barh(labels, means[expert], left=left, color=colors[i], label=_expert_label(expert))
        left += means[expert].to_numpy()
    ax.set_xlim(0, 1)
    ax.set_xlabel("mean gate weight")
    ax.set_ylabel("attack type")
    ax.set_title(f"{lead}mean gate weight per attack type", fontsize=10, pad=24)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(experts), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    _finish(fig, caption)
    path = out_dir / f"{prefix}_by_attack_type.png"
    fig.savefig(path, dpi=100)
    paths.append(path)
    return paths


# --------------------------------------------------------------------------- robustness


def _predict_quietly(model, X):
    """``model.predict(X)`` without the "columns absent" warning the removal causes."""
    from moeids.features.splitter import MissingFeaturesWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeaturesWarning)
        return np.asarray(model.predict(X))


def robustness_curve(
    model,
    X,
    y,
    fractions=_DEFAULT_FRACTIONS,
    n_draws=5,
    random_state=None,
    *,
    columns=None,
    average=None,
):
    """F1 when only a random fraction of the feature columns is available.

    For each fraction, ``n_draws`` random subsets of ``columns`` are kept and every other
    candidate column is *removed from the DataFrame* before ``model.predict``: the model
    sees a sensor that does not export those features (a
    :class:`~moeids.FeatureSplitter` marks them missing; a model that needs a fixed matrix
    must say itself how it fills them). With the same ``random_state`` and ``columns``
    every model sees the same subsets.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict`` accepting a DataFrame with fewer columns.
    X : DataFrame of shape (n_samples, n_features)
        Raw feature columns.
    y : array-like of shape (n_samples,)
        True labels.
    fractions : sequence of float
        Fractions in (0, 1] of ``columns`` to keep; the count kept is
        ``max(1, round(fraction * len(columns)))``. A fraction that keeps every column is
        evaluated once.
    n_draws : int
        Random column subsets per fraction.
    random_state : int, RandomState or None
        Seeds the subsets.
    columns : sequence of str, optional
        Candidate columns to remove (default: all of ``X``); the others are always kept.
    average : str, optional
        ``average`` of :func:`sklearn.metrics.f1_score`; default ``"binary"`` for 0/1
        labels, else ``"macro"``.

    Returns
    -------
    curve : DataFrame
        One row per fraction: ``fraction``, ``n_features`` (candidate columns kept),
        ``n_draws``, ``f1_mean``, ``f1_std`` (population), ``f1_min``, ``f1_max``.
    """
    _require_frame(X, "robustness_curve")
    y = _labels(y, "y", len(X))
    if not isinstance(n_draws, int | np.integer) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    candidates = list(X.columns) if columns is None else list(columns)
    unknown = [c for c in candidates if c not in X.columns]
    if unknown:
        raise ValueError(f"columns {unknown[:5]} are not columns of X")
    if not candidates:
        raise ValueError("columns is empty: nothing to remove")
    fractions = list(fractions)
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"fractions must lie in (0, 1], got {fraction!r}")
    average = average or _f1_average(y)
    rng = check_random_state(random_state)
    rows = []
    for fraction in fractions:
        n_keep = max(1, round(fraction * len(candidates)))
        draws = 1 if n_keep == len(candidates) else n_draws
        scores = []
        for _ in range(draws):
            keep = set(rng.choice(len(candidates), n_keep, replace=False).tolist())
            removed = [c for i, c in enumerate(candidates) if i not in keep]
            y_pred = _predict_quietly(model, X.drop(columns=removed))
            scores.append(_f1(y, y_pred, average))
        rows.append(
            {
                "fraction": float(fraction),
                "n_features": n_keep,
                "n_draws": draws,
                "f1_mean": float(np.mean(scores)),
                "f1_std": float(np.std(scores)),
                "f1_min": float(np.min(scores)),
                "f1_max": float(np.max(scores)),
            }
        )
    return pd.DataFrame(rows)


def sensor_profile_scores(model, X, y, profiles=None, *, average=None):
    """Scores when only the columns of a named sensor's export are available.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict`` accepting a DataFrame with fewer columns.
    X : DataFrame of shape (n_samples, n_features)
        Raw feature columns (CIC-IDS2017 canonical names for the default profiles).
    y : array-like of shape (n_samples,)
        True labels.
    profiles : mapping of str to iterable of str, optional
        Profile name -> the columns that sensor provides (default :data:`SENSOR_PROFILES`).
        Every other column of ``X`` is removed; profile columns absent from ``X`` are
        ignored, but a profile sharing no column with ``X`` raises ``ValueError``.
    average : str, optional
        As in :func:`robustness_curve`.

    Returns
    -------
    scores : DataFrame
        Index ``profile``: first ``"all columns"`` (nothing removed), then one row per
        profile; columns ``n_features``, ``f1``, ``precision``, ``recall``.
    """
    _require_frame(X, "sensor_profile_scores")
    y = _labels(y, "y", len(X))
    profiles = SENSOR_PROFILES if profiles is None else profiles
    if not isinstance(profiles, Mapping) or not profiles:
        raise TypeError("profiles must be a non-empty mapping of name -> columns")
    average = average or _f1_average(y)
    subsets = {"all columns": list(X.columns)}
    for name, profile in profiles.items():
        if isinstance(profile, str) or not isinstance(profile, Iterable):
            raise TypeError(f"profile {name!r} must be an iterable of column names")
        wanted = set(profile)
        kept = [c for c in X.columns if c in wanted]
        if not kept:
            raise ValueError(
                f"profile {name!r} shares no column with X (e.g. {sorted(wanted)[:3]} are "
                f"absent; X has {list(X.columns)[:3]}...)"
            )
        subsets[name] = kept
    rows = {}
    for name, kept in subsets.items():
        y_pred = _predict_quietly(model, X[kept])
        rows[name] = {
            "n_features": len(kept),
            "f1": _f1(y, y_pred, average),
            "precision": precision_score(y, y_pred, average=average, zero_division=0),
            "recall": recall_score(y, y_pred, average=average, zero_division=0),
        }
    scores = pd.DataFrame.from_dict(rows, orient="index")
    scores.index.name = "profile"
    return scores


# --------------------------------------------------------------------------- comparison

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
