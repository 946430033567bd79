"""Run every benchmark and regenerate ``docs/results/`` (``nox -s bench`` calls this).

    python benchmarks/run_all.py [--quick] [--data DIR] [--out DIR] [--datasets NAME ...]
                                  [--max-train N]

Order: baselines (fits every model once), robustness and gating (reuse those fitted
models), throughput (fits its own fixed-work model, in a fresh process). ``--quick``
subsamples, trains fewer epochs and draws fewer subsets (under 10 minutes on 2 CPU cores);
the full run takes longer.
Finally writes ``summary.md``: the headline numbers, each linked to its table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import _common as C
import bench_compare
import bench_gating
import bench_robustness
import bench_throughput
import pandas as pd


def summary(tables, curves, inference, cmd, args, splits):
    binary = tables["binary"]
    rows = []
    for name, (dataset, _) in splits.items():
        f1 = binary.loc[dataset.title, "f1"]
        curve = curves[name].set_index(["model", "fraction"])["f1_mean"]
        rows.append({
            "dataset": dataset.title,
            "MoE F1": f1["MoE"],
            "XGBoost F1": f1["XGBoost"],
            "FT-Transformer F1": f1["FT-Transformer"],
            "1D-CNN F1": f1["1D-CNN (temporal)"],
            "MoE F1 @50% features": curve["MoE", 0.5],
            "XGBoost (NaN) @50%": curve["XGBoost (NaN)", 0.5],
            "XGBoost (zero) @50%": curve["XGBoost (zero-fill)", 0.5],
        })  # fmt: skip
    text = C.header(
        "Benchmark summary",
        cmd,
        args,
        "Binary F1 on the test part of each dataset ([compare.md](compare.md)) and mean F1 "
        "when a random 50 % of the feature columns is removed at prediction time "
        "([robustness.md](robustness.md)). Gate weights per attack type: "
        "[gating.md](gating.md)."
        + (" Speed: [throughput.md](throughput.md)." if inference is not None else "")
        + "\n\n",
    )
    text += C.markdown_table(pd.DataFrame(rows).set_index("dataset"))
    if inference is not None:
        text += "\n`predict_proba` end to end on CIC-IDS2017 (flows/s): " + ", ".join(
            f"batch {b}: {v:,.0f}" for b, v in inference["MoE end to end flows/s"].items()
        )
        text += ".\n"
    return text


def main():
    parser = C.add_common_arguments(argparse.ArgumentParser(description=__doc__))
    args = parser.parse_args()
    start = time.perf_counter()
    store = C.ModelStore()
    splits = C.load_splits(args)
    mode = "QUICK mode: subsampled, fewer epochs/draws" if args.quick else "full mode"
    print(f"moeids benchmarks ({mode}) on {', '.join(splits)}; writing to {args.out}", flush=True)
    tables = bench_compare.main(args, store)
    curves, _ = bench_robustness.main(args, store)
    bench_gating.main(args, store)
    inference = None
    if "cicids2017" in splits:  # in a fresh process, so that its memory peaks are its own
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            inference, _, _ = pool.submit(bench_throughput.main, args).result()
    C.write(
        args.out / "summary.md",
        summary(tables, curves, inference, C.command(), args, splits),
    )
    print(f"all benchmarks done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
