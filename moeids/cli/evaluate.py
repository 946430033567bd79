"""``moeids evaluate``: how a saved detector does on labelled flows.

Prints the detection metrics, the confusion matrix, the share of each traffic type
classified correctly (the recall of each attack type) and the mean gate weights per traffic
type (:func:`moeids.analysis.gating_report`); ``--plots`` writes the gate-weight figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._common import (
    CommandError,
    add_command,
    add_model_arguments,
    check_classifier,
    load_model_arg,
)
from ._labelled import add_labelled_arguments, read_labelled

__all__ = ["add_parser", "evaluate", "metrics_table"]


def metrics_table(y_true, y_pred, proba) -> pd.Series:
    """Binary detection metrics of 0/1 labels.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_flows,)
        True and predicted labels, 1 = attack.
    proba : array-like of shape (n_flows,)
        Attack probability.

    Returns
    -------
    metrics : Series
        F1, precision, recall, ROC-AUC (NaN when ``y_true`` has one class), false
        negatives, false positives and the number of flows.
    """
    from sklearn.metrics import (
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    both = len(np.unique(y_true)) == 2
    return pd.Series(
        {
            "F1": f1_score(y_true, y_pred, zero_division=0),
            "precision": precision_score(y_true, y_pred, zero_division=0),
            "recall": recall_score(y_true, y_pred, zero_division=0),
            "ROC-AUC": roc_auc_score(y_true, proba) if both else float("nan"),
            "false negatives": int(fn),
            "false positives": int(fp),
            "test flows": len(y_true),
        },
        dtype=object,
    )


def _confusion(y_true, y_pred) -> pd.DataFrame:
    from sklearn.metrics import confusion_matrix

    names = ["benign", "attack"]
    return pd.DataFrame(
        confusion_matrix(y_true, y_pred, labels=[0, 1]),
        index=pd.Index([f"true {n}" for n in names]),
        columns=[f"predicted {n}" for n in names],
    )


def _check_binary(model, path):
    from moeids.scoring import split_model

    classes = split_model(model)[1].classes_
    if sorted(classes.tolist()) != [0, 1]:
        raise CommandError(
            f"{path}: evaluate needs a binary model with classes 0 (benign) and 1 (attack), "
            f"this one has classes {classes.tolist()[:10]}"
        )


def _print(title, table):
    print(f"\n== {title} ==")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))


def evaluate(args) -> int:
    """Evaluate MODEL on DATA; see ``moeids evaluate --help``."""
    from moeids.analysis import gating_report, plot_gating
    from moeids.scoring import score_flows

    if args.plots is not None:
        try:
            import matplotlib  # noqa: F401  (fail before the long work, not after)
        except ImportError:
            raise CommandError("--plots needs matplotlib: pip install 'moeids[plot]'") from None
        args.plots.mkdir(parents=True, exist_ok=True)
    model = check_classifier(load_model_arg(args.model, args.allow_pickle), args.model)
    _check_binary(model, args.model)
    flows = read_labelled(args.data, dataset=args.dataset, label=args.label)
    decisions = score_flows(model, flows.X)
    y_true, y_pred = flows.target.to_numpy(), decisions["label"].to_numpy().astype(int)
    print(f"{len(flows.X)} flows from {len(flows.files)} file(s), {flows.source}.")
    _print("Detection", metrics_table(y_true, y_pred, decisions["attack_probability"]))
    _print("Confusion matrix", _confusion(y_true, y_pred))
    report = gating_report(model, flows.X, flows.attack_type, y=flows.target)
    per_type = pd.DataFrame(
        {"flows": report["count"], "correct": report["accuracy"]}, index=report.index
    )
    per_type["wrong"] = (per_type["flows"] * (1 - per_type["correct"])).round().astype(int)
    _print(
        "Share classified correctly per traffic type (recall; for Benign: not flagged)", per_type
    )
    gates = report.drop(columns=["accuracy"]).rename(columns={"count": "flows"})
    _print("Mean gate weight on each expert per traffic type", gates)
    if args.plots is not None:
        paths = plot_gating(
            model, flows.X, flows.attack_type, args.plots, y=flows.target, prefix="evaluate_gating"
        )
        print("\nPlots: " + ", ".join(str(p) for p in paths))
    return 0


def add_parser(commands) -> None:
    """Register ``moeids evaluate`` on the ``commands`` subparsers."""
    run = add_command(
        commands,
        "evaluate",
        help="metrics, confusion matrix, recall and gate weights per traffic type",
        description=(
            "Score labelled flows with a saved model and print the detection metrics, the\n"
            "confusion matrix, the share of each traffic type classified correctly (the\n"
            "recall of each attack type) and the mean gate weight on each expert per traffic\n"
            "type. DATA and its labels are read as by 'moeids train'."
        ),
        example="""
            moeids evaluate ids.safetensors CICIDS2017/Friday*.csv --plots figures/
            moeids evaluate ids.safetensors held_out.parquet --label Label
        """,
    )
    add_model_arguments(run)
    run.add_argument("data", nargs="+", metavar="DATA", help="CSV/Parquet files, folders, globs")
    add_labelled_arguments(run)
    run.add_argument(
        "--plots",
        type=Path,
        metavar="DIR",
        help="folder for the gate-weight figures, PNG (default: none, no plots)",
    )
    run.set_defaults(handler=evaluate)
