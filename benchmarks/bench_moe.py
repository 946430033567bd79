"""MoEClassifier against XGBoost over several random splits; writes docs/results/moe.md.

Usage::

    python benchmarks/bench_moe.py [--data DIR] [--seeds 0 1 2] [--datasets cicids2017 nsl_kdd]
                                   [--no-speed] [--moe-params JSON] [--networks K]
                                   [--threads N] [--out DIR or PATH.md]

``--data`` defaults to ``$MOEIDS_DATA`` or ``../shared/datasets``. For every seed: a
stratified 75/25 split of the shared corrected CIC-IDS2017 sample (binary, benign vs attack),
FeatureSplitter + MoEClassifier with default parameters, test F1, then F1 with 50% of the
feature columns removed from the raw test frame (5 random column subsets), against XGBoost
(the baseline of ``_common.xgb_params``: library defaults) trained on all features and given
NaN (columns absent) or zeros for the removed columns; the same on NSL-KDD
(``KDDTrain+_20Percent``). With several seeds, each table ends with the mean F1 and how
many splits MoE wins, ties and loses against XGBoost (from five splits on, also the mean
F1 difference with a 95% interval that allows for the splits sharing rows), then the wrong
predictions of both models by traffic (attack) type, summed over the splits. Once (unless
``--no-speed``): the time of a default ``fit`` on all 42k CIC-IDS2017 rows, and
``predict_proba`` throughput through the pipeline on a DataFrame of 20,000 flows with the
model's FLOP count against a float32 matmul measured in the same run.
``--moe-params '{"ema_decay": 0.0}'`` gives every MoEClassifier of the run these
non-default parameters. ``--networks 3`` replaces each MoEClassifier by the soft vote
(``sklearn.ensemble.VotingClassifier``, mean of the probabilities) of three, with
``random_state`` seed, seed + 1000, seed + 2000: a deep ensemble at three times the fit time.
"""

from __future__ import annotations

import os
import platform
import time
import warnings

import _common as C
import numpy as np
import pandas as pd
import torch
from _timing import matmul_gflops
from scipy import stats
from sklearn.ensemble import VotingClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from torch.utils.flop_counter import FlopCounterMode

from moeids import MoEClassifier

DEFAULT_DATASETS = ("cicids2017", "nsl_kdd")
N_DRAWS = 5
N_THROUGHPUT = 20_000
MIN_SPLITS_FOR_INTERVAL = 5  # with fewer, the spread of the differences is barely known
MOE_PARAMS: dict = {}  # non-default MoEClassifier parameters, from --moe-params


def difference_interval(differences, test_train_ratio):
    """Mean per-split F1 difference with its 95% interval, as a sentence.

    Random 75/25 splits of one data set share rows, so the plain paired t interval is too
    narrow; this uses the corrected resampled t of Nadeau and Bengio (Machine Learning,
    2003): variance ``(1 / k + n_test / n_train) * var(differences)`` over ``k`` splits.
    """
    k = len(differences)
    half = stats.t.ppf(0.975, k - 1) * np.sqrt((1 / k + test_train_ratio) * differences.var(ddof=1))
    mean = differences.mean()
    return (
        f"Mean difference MoE - XGBoost {mean:+.5f}, 95% interval [{mean - half:+.5f}, "
        f"{mean + half:+.5f}] (corrected resampled t, Nadeau and Bengio 2003: the splits "
        "share rows)."
    )


def moe_pipeline(dataset, seed, n_networks=1):
    """FeatureSplitter + MoEClassifier, or + the soft vote of ``n_networks`` of them."""
    if n_networks == 1:
        model = MoEClassifier(**C.moe_params(seed=seed) | MOE_PARAMS)
    else:
        members = [
            (f"moe{k}", MoEClassifier(**C.moe_params(seed=seed + 1000 * k) | MOE_PARAMS))
            for k in range(n_networks)
        ]
        model = VotingClassifier(members, voting="soft")
    return Pipeline([("split", C.splitter(dataset)), ("moe", model)])


def networks(pipe):
    """The fitted MoEClassifier(s) at the end of a ``moe_pipeline``."""
    model = pipe[-1]
    return model.estimators_ if isinstance(model, VotingClassifier) else [model]


def removed_feature_f1(models, X_test, y_test, features, seed):
    """Mean F1 over draws that remove half of ``features`` from the raw test frame.

    ``models`` maps a name to ``(pipeline, mode)``: mode "absent" drops the columns (the
    splitter marks them missing), "zero" sets them to 0.
    """
    rng = np.random.default_rng(seed)
    results = {name: [] for name in models}
    for _ in range(N_DRAWS):
        drop = list(rng.choice(features, len(features) // 2, replace=False))
        absent = X_test.drop(columns=drop)
        zeros = X_test.assign(**dict.fromkeys(drop, 0))
        for name, (model, mode) in models.items():
            frame = absent if mode == "absent" else zeros
            results[name].append(f1_score(y_test, model.predict(frame)))
    return {name: (float(np.mean(f)), float(np.min(f))) for name, f in results.items()}


def evaluate(dataset, data, seed, n_networks):
    """Fit MoE and XGBoost on a stratified 75/25 split; full and 50%-feature F1."""
    y = data.target.to_numpy()
    train, test = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=seed)
    X_train, X_test = data.data.iloc[train], data.data.iloc[test]
    moe = moe_pipeline(dataset, seed, n_networks)
    start = time.perf_counter()
    moe.fit(X_train, y[train])
    fit_time = time.perf_counter() - start
    xgb = C.xgboost(dataset, seed=seed).fit(X_train, y[train])
    splitter = moe[0]
    features = [c for cols in splitter.feature_groups_.values() for c in cols]
    removed = removed_feature_f1(
        {"moe": (moe, "absent"), "xgb_nan": (xgb, "absent"), "xgb_zero": (xgb, "zero")},
        X_test,
        y[test],
        features,
        seed,
    )
    Z_test = moe[:-1].transform(X_test)
    gate = pd.concat([net.predict_gating(Z_test) for net in networks(moe)]).mean()
    moe_pred, xgb_pred = moe.predict(X_test), xgb.predict(X_test)
    errors = pd.DataFrame(
        {"flows": 1, "moe": moe_pred != y[test], "xgb": xgb_pred != y[test]},
        index=pd.Index(np.asarray(data.attack_type)[test], name="traffic type"),
    )
    return {
        "seed": seed,
        "n_train": len(train),
        "n_test": len(test),
        "fit_s": fit_time,
        "epochs": ", ".join(f"{len(n.pretrain_history_)}+{n.n_iter_}" for n in networks(moe)),
        "moe": C.binary_scores(y[test], moe_pred),
        "xgb": C.binary_scores(y[test], xgb_pred),
        "removed": removed,
        "gate_tabular": float(gate["tabular"]),
        "errors": errors.groupby(level=0).sum(),
    }


def throughput(data):
    """Flows/s of predict_proba through the pipeline, model FLOPs, matmul GFLOP/s."""
    pipe = moe_pipeline(C.DATASETS["cicids2017"], C.SEED)
    pipe.fit(data.data, data.target.to_numpy())  # fit on all rows, timed by caller
    rows = np.resize(np.arange(len(data.data)), N_THROUGHPUT)
    frame = data.data.iloc[rows].reset_index(drop=True)
    pipe.predict_proba(frame.iloc[:2000])  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        pipe.predict_proba(frame)
        times.append(time.perf_counter() - start)
    model = pipe[-1]
    X = torch.from_numpy(pipe[:-1].transform(frame.iloc[:1000]).to_numpy(np.float32))
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.module_(X)
    flops_per_flow = counter.get_total_flops() / len(X)
    best = min(times)
    return {
        "flows_per_s": N_THROUGHPUT / best,
        "seconds": best,
        "flops_per_flow": flops_per_flow,
        "model_gflops": flops_per_flow * N_THROUGHPUT / best / 1e9,
        "matmul_gflops": matmul_gflops(),
    }, pipe


def fmt_runs(runs, title):
    lines = [
        f"### {title}",
        "",
        "| seed | model | F1 | precision | recall | FN | FP | F1, 50% features removed "
        "(mean / worst of 5) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        rm = r["removed"]
        m, x = r["moe"], r["xgb"]
        lines.append(
            f"| {r['seed']} | MoEClassifier | {m['f1']:.5f} | {m['precision']:.5f} | "
            f"{m['recall']:.5f} | {m['fn']} | {m['fp']} | "
            f"{rm['moe'][0]:.4f} / {rm['moe'][1]:.4f} |"
        )
        lines.append(
            f"| {r['seed']} | XGBoost | {x['f1']:.5f} | {x['precision']:.5f} | "
            f"{x['recall']:.5f} | {x['fn']} | {x['fp']} | NaN: {rm['xgb_nan'][0]:.4f} / "
            f"{rm['xgb_nan'][1]:.4f}; zero-fill: {rm['xgb_zero'][0]:.4f} / "
            f"{rm['xgb_zero'][1]:.4f} |"
        )
    lines += [
        "",
        "| seed | train rows | test rows | MoE fit (s) | epochs (pretrain+train) | "
        "mean tabular gate weight |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['seed']} | {r['n_train']} | {r['n_test']} | {r['fit_s']:.0f} | {r['epochs']} | "
        f"{r['gate_tabular']:.3f} |"
        for r in runs
    ]
    if len(runs) > 1:
        moe = np.array([r["moe"]["f1"] for r in runs])
        xgb = np.array([r["xgb"]["f1"] for r in runs])
        summary = (
            f"Over {len(runs)} splits: mean F1 MoEClassifier {moe.mean():.5f}, XGBoost "
            f"{xgb.mean():.5f}; MoE ahead on {int((moe > xgb).sum())}, tied on "
            f"{int((moe == xgb).sum())}, behind on {int((moe < xgb).sum())}."
        )
        if len(runs) >= MIN_SPLITS_FOR_INTERVAL:
            ratio = runs[0]["n_test"] / runs[0]["n_train"]
            summary += " " + difference_interval(moe - xgb, ratio)
        lines += ["", summary]
    errors = pd.concat([r["errors"] for r in runs]).groupby(level=0).sum().astype(int)
    errors = errors[(errors.moe > 0) | (errors.xgb > 0)].sort_values("flows", ascending=False)
    lines += [
        "",
        f"Wrong predictions by traffic type, summed over the {len(runs)} test split(s) "
        "(on benign flows these are false positives; types without an error left out):",
        "",
        "| traffic type | test flows | MoEClassifier | XGBoost |",
        "|---|---|---|---|",
    ]
    lines += [f"| {t} | {e.flows} | {e.moe} | {e.xgb} |" for t, e in errors.iterrows()]
    return lines + [""]


def parse(argv):
    parser = C.make_parser(__doc__.splitlines()[0], quick=False, max_train=False)
    parser.set_defaults(datasets=list(DEFAULT_DATASETS))
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[C.SEED],
        metavar="SEED",
        help="split seeds (default: 0)",
    )
    parser.add_argument(
        "--no-speed", action="store_true", help="skip the full-size fit and the throughput"
    )
    C.add_moe_params_argument(parser)
    parser.add_argument(
        "--networks",
        type=int,
        default=1,
        metavar="K",
        help="soft-vote this many MoEClassifiers per model (default: 1)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, metavar="N", help="torch threads (default: torch's)"
    )
    args = C.parse_args(parser, __file__, argv)
    if args.networks < 1:
        parser.error(f"--networks must be at least 1, got {args.networks}")
    if args.networks > 1 and not args.no_speed:
        parser.error("--networks above 1 needs --no-speed (the speed section times one network)")
    return args


def main(argv=None):
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    MOE_PARAMS.update(args.moe_params)
    warnings.filterwarnings("ignore", category=UserWarning)  # splitter: absent columns
    data_dir = C.data_dir(args)
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    datasets = {name: C.DATASETS[name] for name in args.datasets}
    data = {name: dataset.load(data_dir) for name, dataset in datasets.items()}
    runs = {name: [] for name in args.datasets}
    for seed in args.seeds:
        for name, dataset in datasets.items():
            runs[name].append(evaluate(dataset, data[name], seed, args.networks))
            print(dataset.title, runs[name][-1]["moe"], runs[name][-1]["xgb"], flush=True)

    moe_args = ", ".join(f"{k}={v!r}" for k, v in MOE_PARAMS.items())
    ensemble = (
        f" in a soft vote of {args.networks} (`VotingClassifier(voting='soft')`, "
        "`random_state` seed + 1000 k)"
        if args.networks > 1
        else ""
    )
    command = C.command(None if argv is None else [__file__, *argv])
    lines = [
        "# MoEClassifier benchmark",
        "",
        f"Written by `{command}` (`benchmarks/bench_moe.py`).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, load average "
        f"{load_avg:.1f} at start. Models: `MoEClassifier({moe_args})`"
        f"{' (other parameters default)' if MOE_PARAMS else ' defaults'} on the CPU{ensemble}; "
        f"XGBoost: {C.xgb_description()}; each after `FeatureSplitter(preset)`.",
        "",
        "Data: "
        + "; ".join(f"{d.title} ({d.source}), binary benign vs attack" for d in datasets.values())
        + ". "
        'Stratified 75/25 split per seed. "50% features removed": for each of 5 draws, half '
        "of the raw feature columns the splitter uses are removed from the test frame "
        "(MoE and XGBoost-NaN: columns absent, so missing; XGBoost zero-fill: set to 0).",
        "",
    ]
    for name, dataset in datasets.items():
        lines += fmt_runs(runs[name], f"{dataset.title}, binary")
    if not args.no_speed:
        lines += speed_lines(data_dir)
    C.write(C.page_path(args.out, "moe.md"), "\n".join(lines))


def speed_lines(data_dir):
    """Time a fit (default, or with ``MOE_PARAMS``) on all CIC-IDS2017 rows and the
    pipeline's throughput."""
    cic = C.DATASETS["cicids2017"].load(data_dir)
    start = time.perf_counter()
    speed, pipe = throughput(cic)
    full_fit = time.perf_counter() - start - 4 * speed["seconds"]
    print("throughput", speed, "full fit (s)", full_fit, flush=True)
    return [
        "### Training time and inference speed",
        "",
        f"- {'`fit` with the parameters above' if MOE_PARAMS else 'Default `fit`'} (both "
        f"stages, FeatureSplitter included) on all {len(cic.data):,} "
        f"CIC-IDS2017 rows: {full_fit:.0f} s "
        f"({len(pipe[-1].pretrain_history_)} pretraining + {pipe[-1].n_iter_} training epochs).",
        f"- `predict_proba` through the pipeline on a DataFrame of {N_THROUGHPUT:,} flows: "
        f"{speed['seconds']:.2f} s = **{speed['flows_per_s']:,.0f} flows/s** (best of 3).",
        f"- Model cost {speed['flops_per_flow'] / 1e6:.2f} MFLOP per flow "
        "(`torch.utils.flop_counter.FlopCounterMode`), so the network ran at "
        f"{speed['model_gflops']:.1f} GFLOP/s end to end, against "
        f"{speed['matmul_gflops']:.1f} GFLOP/s for a 1024x1024 float32 matmul (best of 5) in "
        "the same run "
        f"({speed['model_gflops'] / speed['matmul_gflops']:.0%}).",
        "",
    ]


if __name__ == "__main__":
    main()
