"""Unseen attack types: does a model trained without one attack type still flag it?

Leave one attack type out: for each attack type with at least ``--min-rows`` rows, all its
rows are removed from the dataset, the rest is split as everywhere (stratified 70/30, seed
0, ``benchmarks/_datasets.py``), MoE and XGBoost (the models of ``bench_compare.py``) are
trained on the binary task, and the test set is the test part of the rest plus every row of
the left-out type. Reported per type: the share of its flows flagged as attacks (recall
on the unseen type), false positives on the benign test flows, and the binary F1 on the
whole test set. This is what a held-out test file with new attack names asks of a model
(NSL-KDD's ``KDDTest+`` holds 18 attack names absent from ``KDDTrain+_20Percent``).

Writes ``unseen.md``. ``python benchmarks/bench_unseen.py --help``.
"""

from __future__ import annotations

import time

import _common as C
import numpy as np
import pandas as pd
from sklearn.utils import Bunch

DEFAULT_DATASETS = ("nsl_kdd", "unsw_nb15", "ciciot2023")
MODELS = ("MoE", "XGBoost")


def left_out_types(attack_type, min_rows):
    """Attack types (benign excluded) with at least ``min_rows`` rows, largest first."""
    counts = attack_type[attack_type != C.BENIGN].value_counts()
    return counts[counts >= min_rows].index.tolist()


def leave_out_split(bunch, left_out, args):
    """The documented split of ``bunch`` without ``left_out``; its rows join the test set."""
    unseen = (bunch.attack_type == left_out).to_numpy()
    rest = Bunch(
        data=bunch.data[~unseen],
        target=bunch.target[~unseen],
        attack_type=bunch.attack_type[~unseen],
    )
    split = C.make_split(rest, args.quick, args.max_train)
    X_test = pd.concat([split.X_test, bunch.data[unseen]])
    y_test = pd.concat([split.y_test, bunch.target[unseen]])
    is_unseen = np.r_[np.zeros(len(split.X_test), bool), np.ones(unseen.sum(), bool)]
    return split, X_test, y_test.to_numpy(), is_unseen


def evaluate(dataset, bunch, left_out, args):
    """One row per model: recall on the left-out type, benign FP, F1, fit time."""
    split, X_test, y_test, is_unseen = leave_out_split(bunch, left_out, args)
    models = C.make_models(dataset)
    models["MoE"].set_params(**{f"moe__{k}": v for k, v in args.moe_params.items()})
    rows = []
    for name in MODELS:
        start = time.perf_counter()
        model = models[name].fit(split.X_train, split.y_train)
        fit_s = time.perf_counter() - start
        pred = np.asarray(model.predict(X_test))
        scores = C.binary_scores(y_test, pred)
        rows.append({
            "dataset": dataset.title,
            "left-out type": left_out,
            "rows": int(is_unseen.sum()),
            "model": name,
            "recall on left-out type": pred[is_unseen].mean(),
            "benign FP": scores["fp"],
            "F1 (test part + left-out rows)": scores["f1"],
            "fit s": round(fit_s),
        })  # fmt: skip
        print(
            f"  {left_out} ({is_unseen.sum()} rows) {name}: recall "
            f"{rows[-1]['recall on left-out type']:.4f}, fit {fit_s:.0f} s",
            flush=True,
        )
    return rows


def report(table, cmd, args):
    text = C.header(
        "Unseen attack types (leave one type out)",
        cmd,
        args,
        __doc__.split("\n\n")[1].replace("\n", " ")
        + f" Types with at least {args.min_rows} rows."
        + (
            f" MoE parameters changed from the defaults: `{args.moe_params}`."
            if args.moe_params
            else ""
        )
        + "\n\n",
    )
    wide = table.pivot_table(
        index=["dataset", "left-out type"],
        columns="model",
        values="recall on left-out type",
        sort=False,
    )
    by_dataset = wide.groupby(level=0, sort=False)
    summary = by_dataset.mean().add_prefix("mean recall, ")
    summary["MoE ahead on"] = (wide["MoE"] > wide["XGBoost"]).groupby(level=0, sort=False).sum()
    summary["MoE behind on"] = (wide["MoE"] < wide["XGBoost"]).groupby(level=0, sort=False).sum()
    summary["types"] = by_dataset.size()
    text += "## Summary: mean recall over the left-out types\n\n"
    text += C.markdown_table(summary)
    text += "\n## Per left-out type\n\n"
    text += C.markdown_table(table.set_index(["dataset", "left-out type", "model"]))
    return text


def main(args):
    start = time.perf_counter()
    rows = []
    for name in args.datasets:
        dataset = C.DATASETS[name]
        bunch = dataset.load(C.data_dir(args))
        print(f"[unseen] {name}", flush=True)
        for left_out in left_out_types(bunch.attack_type, args.min_rows):
            rows += evaluate(dataset, bunch, left_out, args)
    table = pd.DataFrame(rows)
    C.write(args.out / "unseen.md", report(table, C.command(), args))
    print(f"[unseen] done in {time.perf_counter() - start:.0f} s")
    return table


if __name__ == "__main__":
    parser = C.make_parser(__doc__)
    parser.set_defaults(datasets=list(DEFAULT_DATASETS))
    parser.add_argument(
        "--min-rows", type=int, default=100, help="leave out attack types with this many rows"
    )
    C.add_moe_params_argument(parser)
    main(C.parse_args(parser, __file__))
