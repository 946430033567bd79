"""MoiraiNLLDetector on windows of real IoT flows; writes ``docs/results/moirai.md``.

    python benchmarks/bench_moirai.py [--data DIR] [--threads 2] [--quick] [--out DIR]

``--data`` defaults to ``$MOEIDS_DATA`` or ``../shared/datasets``. Data: the
shared CICIoT2023 sample (Neto et al., Sensors 2023) and RT-IoT2022 sample (Sharmila &
Nagapadma, UCI 942, CC BY 4.0); see each folder's PROVENANCE.md.

Both files are random row samples, not captures in time order, so windows are built **within
class groups**: the rows of each class (CICIoT2023: ``label_multiclass`` in file order;
RT-IoT2022: ``Attack_type`` sorted by the original per-scenario index ``Unnamed: 0``, which
probably restores capture order within a scenario) are split into a leading 60 % (training)
and a trailing 40 % (test) block, and windows are cut inside each block, so no test window
shares a row with a training window. The standardisation is fitted on the benign training
rows. Training windows are mixed 70/20/10 from benign, synthetic stealthy (stealth 0.85 /
0.90 / 0.95) and real attack windows; every detector is fitted on that mix from random
initialisation and scored on the real test windows only: ``fit`` on the benign windows of
the mix (``fit on all`` rows: on all of its windows), then ``calibrate`` on the whole labelled
mix. ``IsolationForest`` sees the same windows flattened.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import _common as C
import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.ensemble import IsolationForest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

import moeids
from moeids.datasets import RT_IOT2022_BENIGN_CLASSES, load_ciciot2023, load_rt_iot2022
from moeids.moirai.detector import MoiraiNLLDetector
from moeids.moirai.synthetic import make_synthetic_attacks, mix_windows
from moeids.moirai.windower import FlowWindower
from moeids.moirai.windows import CICIOT2023_WINDOW_FEATURES, RT_IOT2022_WINDOW_FEATURES

SEED = 0
TRAIN_SHARE = 0.6
STEALTH = (0.85, 0.90, 0.95)


@dataclass
class Setup:
    """A dataset and the detector configurations run on it."""

    name: str
    path: str
    features: tuple
    seq_length: int
    stride: int
    configs: list = field(default_factory=list)


def _configs(seq_length, short, long, quick):
    """(label, parameters, fit on all windows?) of each detector run; ``long`` is the main
    horizon. The last run is Moirai's own setting: per-window scaling, fit on every window."""
    runs = [
        (f"tiny, horizon {short}", dict(model_size="tiny", prediction_length=short), False),
        (f"tiny, horizon {long}", dict(model_size="tiny", prediction_length=long), False),
        (f"small, horizon {long}", dict(model_size="small", prediction_length=long), False),
        (
            f"tiny, horizon {long}, instance scaling, fit on all",
            dict(model_size="tiny", prediction_length=long, instance_scaling=True),
            True,
        ),
    ]  # fmt: skip
    if quick:
        runs = runs[1:2]
    return [
        (label, {**params, "context_length": seq_length - params["prediction_length"]}, on_all)
        for label, params, on_all in runs
    ]


def setups(quick):
    return [
        Setup(
            "CICIoT2023",
            "ciciot2023/CICIoT2023_sample.shared.csv.gz",
            CICIOT2023_WINDOW_FEATURES,
            seq_length=128,
            stride=8,
            configs=_configs(128, 32, 96, quick),
        ),
        Setup(
            "RT-IoT2022",
            "rt_iot2022/RT_IOT2022.random_sample5000.csv.gz",
            RT_IOT2022_WINDOW_FEATURES,
            seq_length=32,
            stride=4,
            configs=_configs(32, 8, 24, quick),
        ),
    ]


def load_classes(setup, data_dir):
    """Rows and their class (benign classes prefixed ``Benign``), in window order."""
    path = Path(data_dir) / setup.path
    if setup.name == "CICIoT2023":
        bunch = load_ciciot2023(path)
        return bunch.frame.reset_index(drop=True), bunch.attack_type.to_numpy(dtype=str)
    frame = load_rt_iot2022(path).frame
    frame = frame.sort_values(["Attack_type", "Unnamed: 0"], kind="stable")
    classes = frame["Attack_type"].to_numpy(dtype=str)
    benign = np.isin(classes, RT_IOT2022_BENIGN_CLASSES)
    classes = np.where(benign, np.char.add("Benign:", classes), classes)
    return frame.reset_index(drop=True), classes


def build_windows(setup, data_dir):
    frame, classes = load_classes(setup, data_dir)
    benign = np.char.startswith(classes, "Benign")
    train = np.zeros(len(frame), dtype=bool)
    for c in np.unique(classes):
        rows = np.flatnonzero(classes == c)
        train[rows[: int(len(rows) * TRAIN_SHARE)]] = True
    windower = FlowWindower(seq_length=setup.seq_length, stride=setup.stride,
                            features=list(setup.features))  # fmt: skip
    windower.fit(frame[train], (~benign[train]).astype(int))
    blocks = {"train": {}, "test": {}}
    skipped = {}
    for part, mask in (("train", train), ("test", ~train)):
        for c in np.unique(classes):
            rows = frame[mask & (classes == c)]
            if len(rows) < setup.seq_length:
                skipped.setdefault(c, []).append(f"{part} {len(rows)}")
                continue
            blocks[part][c] = windower.transform(rows)
    return blocks, [f"{c} ({', '.join(parts)} rows)" for c, parts in skipped.items()]


def training_mix(blocks):
    train = blocks["train"]
    benign = np.concatenate([w for c, w in train.items() if c.startswith("Benign")])
    attacks = np.concatenate([w for c, w in train.items() if not c.startswith("Benign")])
    synthetic, _ = make_synthetic_attacks(benign, stealth=STEALTH, random_state=SEED)
    mix = mix_windows(benign, synthetic, attacks, validation_fraction=0, random_state=SEED)
    return mix, benign


def test_set(blocks):
    test = blocks["test"]
    X = np.concatenate(list(test.values()))
    classes = np.concatenate([[c] * len(w) for c, w in test.items()])
    y = (~np.char.startswith(classes.astype(str), "Benign")).astype(int)
    return X, y, classes


def run_detector(params, fit_on_all, mix, X_test, y_test, classes, threads):
    torch.set_num_threads(threads)
    det = MoiraiNLLDetector(
        epochs=40, batch_size=16, learning_rate=1e-3, validation_fraction=0.15,
        n_iter_no_change=5, device="cpu", random_state=SEED, **params,
    )  # fmt: skip
    X_fit = mix.X_train if fit_on_all else mix.X_train[mix.y_train == 0]
    start = time.perf_counter()
    det.fit(X_fit).calibrate(mix.X_train, mix.y_train)
    fit_s = time.perf_counter() - start
    det.set_params(batch_size=256)  # inference batches
    scores = det.score_samples(X_test)
    pred = det.predict(X_test) == -1
    interval = det.explain(X_test, method="interval").anomaly_rate
    per_class = {
        c: roc_auc_score(y_test[m], -scores[m])
        for c in np.unique(classes)
        if not c.startswith("Benign")
        for m in [(classes == c) | (y_test == 0)]
    }
    row = {
        "ROC-AUC (NLL)": roc_auc_score(y_test, -scores),
        "ROC-AUC (interval)": roc_auc_score(y_test, interval),
        "balanced acc.": balanced_accuracy_score(y_test, pred),
        "F1 (attack)": f1_score(y_test, pred),
        "direction": det.direction_,
        "patch": det.patch_size_,
        "epochs": len(det.history_),
        "fit s": fit_s,
    }
    return det, row, per_class


def run_forest(X_fit, X_test, y_test):
    flat = lambda X: X.reshape(len(X), -1)  # noqa: E731
    start = time.perf_counter()
    forest = IsolationForest(random_state=SEED).fit(flat(X_fit))
    fit_s = time.perf_counter() - start
    scores = forest.score_samples(flat(X_test))
    pred = forest.predict(flat(X_test)) == -1
    return {
        "ROC-AUC (NLL)": roc_auc_score(y_test, -scores),
        "balanced acc.": balanced_accuracy_score(y_test, pred),
        "F1 (attack)": f1_score(y_test, pred),
        "fit s": fit_s,
    }


def throughput(det, X, threads, repeats=3):
    """Best of ``repeats`` windows/s of ``score_samples`` with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    det.score_samples(X[:16])  # warm-up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        det.score_samples(X)
        best = max(best, len(X) / (time.perf_counter() - start))
    return best


def fmt(value):
    if isinstance(value, float):
        if value <= 1.0:
            return f"{value:.3f}"
        return str(int(value)) if value.is_integer() else f"{value:.1f}"
    return str(value)


def markdown_table(frame):
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join("" if pd.isna(v) else fmt(v) for v in row) + " |")
    return "\n".join(lines)


def environment(threads, load_start):
    try:
        from importlib.metadata import version

        uni2ts = version("uni2ts")
    except Exception:  # noqa: BLE001 - only for the report
        uni2ts = "?"
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"- machine: {platform.platform()}, {os.cpu_count()} CPU cores, no GPU; "
        f"torch threads: {threads}\n"
        f"- 1-minute load average at start / end: {load_start:.1f} / {load_end:.1f} (the "
        "machine is shared: timings are indicative)\n"
        f"- moeids {moeids.__version__}, torch {torch.__version__}, uni2ts {uni2ts}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, Python "
        f"{platform.python_version()}\n"
    )


def main(argv=None):
    parser = C.make_parser(__doc__.splitlines()[0], quick=False, datasets=False, max_train=False)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--quick", action="store_true", help="one tiny configuration each")
    args = C.parse_args(parser, __file__, argv)
    given = sys.argv[1:] if argv is None else argv
    command = "python benchmarks/bench_moirai.py " + shlex.join(given)
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()

    sections, speed = [], []
    for setup in setups(args.quick):
        print(f"== {setup.name}", flush=True)
        blocks, skipped = build_windows(setup, C.data_dir(args))
        mix, benign_train = training_mix(blocks)
        X_test, y_test, classes = test_set(blocks)
        rows, per_class, fitted = [], {}, {}
        for label, params, on_all in setup.configs:
            print(f"  {label}", flush=True)
            det, row, pcs = run_detector(params, on_all, mix, X_test, y_test, classes, args.threads)
            rows.append({"model": f"MoiraiNLLDetector: {label}", **row})
            per_class[label] = pcs
            fitted.setdefault(params["model_size"], det)
            print(f"    {row}", flush=True)
        baselines = (("training mix", mix.X_train), ("benign training windows", benign_train))
        for label, X_fit in baselines:
            forest = run_forest(X_fit, X_test, y_test)
            rows.append({"model": f"IsolationForest ({label})", **forest})
        for size, det in fitted.items():
            speed.append({
                "dataset": setup.name,
                "model_size": size,
                "window": f"{setup.seq_length} x {len(setup.features)}",
                "patch": det.patch_size_,
                "parameters": sum(p.numel() for p in det.module_.parameters()),
                **{f"windows/s, {n} thread(s)": throughput(det, X_test, n)
                   for n in sorted({1, args.threads})},
            })  # fmt: skip
        counts = {part: {c: len(w) for c, w in b.items()} for part, b in blocks.items()}
        sections.append((setup, rows, per_class, counts, skipped, mix, len(X_test), y_test))

    text = [
        "# MoiraiNLLDetector on real IoT flow windows",
        "",
        "Written by `benchmarks/bench_moirai.py`; reproduce with",
        "",
        f"    {command}",
        "",
        environment(args.threads, load_start),
        f"Total run time: {time.perf_counter() - started:.0f} s. Every detector is fitted from "
        "random initialisation on this CPU (`epochs=40`, `batch_size=16`, `learning_rate=1e-3`, "
        "`validation_fraction=0.15`, `n_iter_no_change=5`, `random_state=0`; other parameters "
        "at their defaults unless named). Scores are window-level, on real test windows that "
        "share no row with a training window. ROC-AUC (interval) ranks windows by the share of "
        "horizon values outside the 95 % forecast interval. Balanced accuracy and F1 use the "
        'threshold `calibrate` chose (Youden\'s J on the training mix). "fit on all": `fit` '
        "on every window of the training mix; otherwise on its benign windows. `fit s` is "
        "`fit` plus `calibrate`.",
        "",
    ]
    for setup, rows, per_class, counts, skipped, mix, n_test, y_test in sections:
        text += [
            f"## {setup.name}",
            "",
            f"Windows of {setup.seq_length} rows x {len(setup.features)} features "
            f"(`{', '.join(setup.features)}`), stride {setup.stride}, cut within class groups "
            f"(first {TRAIN_SHARE:.0%} of each class's rows for training, the rest for test).",
            f"Training mix: {len(mix.X_train)} windows ({int((mix.source_train == 'benign').sum())}"
            f" benign, {int((mix.source_train == 'synthetic').sum())} synthetic, "
            f"{int((mix.source_train == 'attack').sum())} real attack). Test: {n_test} windows "
            f"({int((y_test == 0).sum())} benign, {int(y_test.sum())} attack).",
            "",
            "Windows per class (train / test): "
            + ", ".join(
                f"{c} {counts['train'].get(c, 0)} / {counts['test'].get(c, 0)}"
                for c in sorted(set(counts["train"]) | set(counts["test"]))
            )
            + ".",
        ]
        if skipped:
            text.append(f"Too few rows for one window (no windows): {', '.join(skipped)}.")
        text += ["", markdown_table(pd.DataFrame(rows)), "", "Per attack class ROC-AUC (NLL), "
                 "test windows of the class against all benign test windows:", ""]  # fmt: skip
        table = pd.DataFrame(per_class).T.reset_index(names="configuration")
        text += [markdown_table(table), ""]
    text += [
        "## Scoring throughput",
        "",
        "`score_samples` on the test windows, batches of 256, best of 3 runs, with 1 and "
        f"{args.threads} torch threads (on a busy shared machine one thread can be faster).",
        "",
        markdown_table(pd.DataFrame(speed)),
        "",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "moirai.md").write_text("\n".join(text))
    print(f"wrote {out / 'moirai.md'}")


if __name__ == "__main__":
    main()
