"""Unseen attack types: does a model trained without one attack type still flag it?

Leave one attack type out: for each attack type with at least ``--min-rows`` rows, all its
rows are removed from the dataset, the rest is split as everywhere (stratified 70/30, seed
0, ``benchmarks/_datasets.py``), MoE and XGBoost (the models of ``bench_compare.py``) are
trained on the binary task, and the test set is the test part of the rest plus every row of
the left-out type. The one fitted MoE is read three ways: its classifier alone
(``novelty_fpr=0``), its novelty score alone (flag above ``1 - novelty_fpr``, the tail
calibrated on the benign validation flows) and their fusion (flag when either fires);
an IsolationForest on the same features (median-imputed, fitted on the benign training
flows, flagging the same share of them) is the unsupervised baseline. Reported per type:
the share of its flows flagged as attacks (recall on the unseen type), false positives on
the benign test flows (count and rate) and the binary F1 on the whole test set. This is
what a held-out test file with new attack names asks of a model (NSL-KDD's ``KDDTest+``
holds 18 attack names absent from ``KDDTrain+_20Percent``).

Writes ``unseen.md``. ``python benchmarks/bench_unseen.py --help``.
"""

from __future__ import annotations

import time

import _common as C
import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch

DEFAULT_DATASETS = ("nsl_kdd", "unsw_nb15", "ciciot2023")
MODELS = ("MoE", "MoE novelty", "MoE + novelty", "XGBoost", "IsolationForest")


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


def isolation_forest(dataset, fpr):
    """IsolationForest on the FeatureSplitter features (median-imputed), fitted on benign
    flows only; ``fit(X, y)`` keeps the rows with ``y == 0`` and sets the threshold that
    flags ``fpr`` of them."""
    forest = Pipeline([
        ("split", C.splitter(dataset)),
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("forest", IsolationForest(n_estimators=200, random_state=C.SEED, n_jobs=2)),
    ])  # fmt: skip

    class BenignIsolationForest:
        def fit(self, X, y):
            benign = X[np.asarray(y) == 0]
            forest.fit(benign)
            self.threshold = np.quantile(-forest.score_samples(benign), 1 - fpr)
            return self

        def predict(self, X):
            return (-forest.score_samples(X) > self.threshold).astype(int)

    return BenignIsolationForest()


def moe_predictions(model, X_test, fpr):
    """Classifier alone, novelty alone and fusion predictions of one fitted MoE pipeline,
    and the seconds the novelty score adds to a prediction of ``X_test``."""
    moe = model[-1]
    features = model[:-1].transform(X_test)
    moe.set_params(novelty_fpr=0.0)
    start = time.perf_counter()
    alone = np.asarray(moe.predict(features))
    predict_s = time.perf_counter() - start
    start = time.perf_counter()
    novelty = (moe.novelty_score(features) > 1 - fpr).astype(int)
    novelty_s = time.perf_counter() - start
    moe.set_params(novelty_fpr=fpr)
    fused = np.asarray(moe.predict(features))
    preds = {"MoE": alone, "MoE novelty": novelty, "MoE + novelty": fused}
    return preds, novelty_s / predict_s


def evaluate(dataset, bunch, left_out, args):
    """One row per model: recall on the left-out type, benign FP, F1, fit time."""
    split, X_test, y_test, is_unseen = leave_out_split(bunch, left_out, args)
    models = C.make_models(dataset)
    models["MoE"].set_params(**{f"moe__{k}": v for k, v in args.moe_params.items()})
    models["IsolationForest"] = isolation_forest(dataset, args.novelty_fpr)
    rows, preds, cost = [], {}, None
    for name in ("MoE", "XGBoost", "IsolationForest"):
        start = time.perf_counter()
        model = models[name].fit(split.X_train, split.y_train)
        fit_s = time.perf_counter() - start
        if name == "MoE":
            found, cost = moe_predictions(model, X_test, args.novelty_fpr)
            preds.update({key: (pred, fit_s) for key, pred in found.items()})
        else:
            preds[name] = np.asarray(model.predict(X_test)), fit_s
    benign = y_test == 0
    for name in MODELS:
        pred, fit_s = preds[name]
        scores = C.binary_scores(y_test, pred)
        rows.append({
            "dataset": dataset.title,
            "left-out type": left_out,
            "rows": int(is_unseen.sum()),
            "model": name,
            "recall on left-out type": pred[is_unseen].mean(),
            "benign FP": scores["fp"],
            "benign FPR": scores["fp"] / benign.sum(),
            "F1 (test part + left-out rows)": scores["f1"],
            "fit s": round(fit_s),
            "novelty cost": cost if name.startswith("MoE ") else np.nan,
        })  # fmt: skip
        print(
            f"  {left_out} ({is_unseen.sum()} rows) {name}: recall "
            f"{rows[-1]['recall on left-out type']:.4f}, FPR {rows[-1]['benign FPR']:.4f}, "
            f"fit {fit_s:.0f} s",
            flush=True,
        )
    return rows


def report(table, cmd, args):
    text = C.header(
        "Unseen attack types (leave one type out)",
        cmd,
        args,
        __doc__.split("\n\n")[1].replace("\n", " ")
        + f" Types with at least {args.min_rows} rows; novelty_fpr {args.novelty_fpr}."
        + " ``novelty cost``: seconds of ``novelty_score`` per second of the classifier's"
        + " ``predict`` on the same rows."
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
    summary["types"] = by_dataset.size()
    text += "## Summary: mean recall over the left-out types\n\n"
    text += C.markdown_table(summary)
    fpr = table.pivot_table(index="dataset", columns="model", values="benign FPR", sort=False)
    text += "\n## Summary: mean benign false-positive rate\n\n"
    text += C.markdown_table(fpr[list(MODELS)].add_prefix("mean benign FPR, "))
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
            if args.types and left_out not in args.types:
                continue
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
    parser.add_argument(
        "--types", nargs="+", default=None, metavar="TYPE",
        help="leave out only these attack types (default: every type with --min-rows rows)",
    )  # fmt: skip
    parser.add_argument(
        "--novelty-fpr", type=float, default=0.01,
        help="novelty tail of the fusion and of the IsolationForest (default: %(default)s)",
    )  # fmt: skip
    C.add_moe_params_argument(parser)
    main(C.parse_args(parser, __file__))
