"""Baseline table: MoE vs XGBoost vs FT-Transformer vs 1D-CNN, binary and multi-class.

Every model is fitted on the training part of each dataset and scored on the test part
with :func:`moeids.analysis.compare`. Binary: 0 benign / 1 attack. Multi-class: the attack
type; its detection metrics (F1, precision, recall, ROC-AUC, FN, FP) count any attack type
predicted for an attack as detected, ``f1_macro`` scores the types themselves.

Writes ``compare.md`` to the output folder. ``python benchmarks/bench_compare.py --help``.
"""

from __future__ import annotations

import time

import _common as C
import pandas as pd

from moeids.analysis import compare

TASKS = {  # task -> (label attribute of a Split, benign label)
    "binary": ("y", 0),
    "multiclass": ("type", C.BENIGN),
}
COLUMNS = {
    "binary": ["f1", "precision", "recall", "roc_auc", "fn", "fp"],
    "multiclass": ["f1_macro", "accuracy", "f1", "precision", "recall", "fn", "fp"],
}
SPEED = ["fit_time_s", "train_flows_per_s", "predict_flows_per_s"]


def run(args, store, splits):
    """Fit and score every model on every dataset; returns {task: table}."""
    tables = {}
    for task, (attr, benign) in TASKS.items():
        parts = []
        for name, (dataset, split) in splits.items():
            print(f"[compare] {task} {name}", flush=True)
            data = (
                split.X_train,
                getattr(split, f"{attr}_train"),
                split.X_test,
                getattr(split, f"{attr}_test"),
            )
            table, fitted = compare(
                C.make_models(dataset),
                {dataset.title: data},
                benign_label=benign,
                return_estimators=True,
                verbose=1,
            )
            for (_, model_name), model in fitted.items():
                store.put((name, model_name, task), model)
            parts.append(table)
        tables[task] = pd.concat(parts)
    return tables


def report(tables, cmd, args):
    binary = tables["binary"]
    gaps = []
    for dataset in binary.index.get_level_values("dataset").unique():
        moe, xgb = binary.loc[(dataset, "MoE"), "f1"], binary.loc[(dataset, "XGBoost"), "f1"]
        gaps.append(
            {"dataset": dataset, "MoE F1": moe, "XGBoost F1": xgb, "MoE - XGBoost": moe - xgb}
        )
    text = C.header(
        "Baselines: MoE vs XGBoost vs FT-Transformer vs 1D-CNN",
        cmd,
        args,
        "Models (`benchmarks/_common.py::make_models`): **MoE** = FeatureSplitter + "
        "MoEClassifier; **XGBoost** = FeatureSplitter + XGBClassifier (NaN stays missing); "
        "**FT-Transformer** = the MoE's tabular expert alone, reading every feature; "
        "**1D-CNN (temporal)** = the temporal expert alone, on the timing features only. "
        "Detection metrics treat every attack type as *attack*; FN = attacks predicted "
        "benign, FP = benign flows flagged. Throughput: `predict_proba` on the whole test "
        "part, end to end from the raw DataFrame; training flows/s = training rows / fit "
        "time (all epochs, both stages).\n\n",
    )
    text += "## MoE vs XGBoost, binary F1\n\n" + C.markdown_table(
        pd.DataFrame(gaps).set_index("dataset"), floats="{:.4f}"
    )
    for task, table in tables.items():
        text += f"\n## {task.capitalize()}\n\n" + C.markdown_table(table[COLUMNS[task]])
        text += f"\n### {task.capitalize()}: speed\n\n" + C.markdown_table(
            table[SPEED], floats="{:,.1f}"
        )
    return text


def main(args, store=None):
    start = time.perf_counter()
    splits = C.load_splits(args)
    tables = run(args, store or C.ModelStore(), splits)
    C.write(args.out / "compare.md", report(tables, C.command(), args))
    print(f"[compare] done in {time.perf_counter() - start:.0f} s")
    return tables


if __name__ == "__main__":
    main(C.parse_args(C.make_parser(__doc__), __file__))
