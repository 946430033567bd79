"""Throughput on CIC-IDS2017: inference flows/s and latency by batch size, the fit time and
held-out F1 of a default fit, memory, and the model's achieved GFLOP/s against a float32
matmul measured in the same run.

- Fit: FeatureSplitter + MoEClassifier with library defaults on the training part (full
  mode: the 70 % split of all 42,209 rows), wall time, epochs, F1 on the test part; training
  flows/s per stage = training rows / mean epoch time (validation pass included).
- Inference: ``predict_proba`` on test flows tiled to 20,000 rows (quick: 8,192), in
  batches of 1, 32, 256 and 4096 (batch 1: the first 1,000 flows, quick: 200); a
  measurement stops early after 30 s (quick: 5 s) and the table says how many flows were
  timed. The last row predicts all the rows in one call. *End to end* = raw DataFrame
  through the Pipeline; *model only* = the MoEClassifier on the FeatureSplitter's output.
  XGBoost (FeatureSplitter + XGBClassifier, same data) for reference. Batch 1 also gives the
  latency percentiles of single calls. Every measurement records the 1-minute load average
  when it ended: the machine may be shared, so compare rows of one run only.
- GFLOP/s: FLOPs per flow counted by ``torch.utils.flop_counter.FlopCounterMode`` on one
  4096-flow batch (with formulas from ``_timing`` for the CPU flash attention and the fused
  inference linear, which torch counts as 0), times the model-only flows/s at batch 4096;
  reference: the best of 5 timed ``n x n`` float32 matmuls (2 n^3 FLOPs) with the same
  torch threads.
- Shape-matched ceiling: the matrix products of one batch-4096 forward pass (linear layers,
  attention), each shape timed alone with torch in the same run
  (``_timing.shape_matched_products``); their total FLOPs over their total time is the rate
  this network's own shapes reach on this CPU, the bound for the model's achieved rate.
- Memory: peak resident memory of the process during the fit and during the batch-4096
  end-to-end pass (Linux ``VmHWM``, reset per phase; see ``_common.PeakMemory``).

Writes ``throughput.md``. ``python benchmarks/bench_throughput.py --help``.
"""

from __future__ import annotations

import copy
import os
import time

import _common as C
import _timing as T
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score
from torch.utils.flop_counter import FlopCounterMode

BATCHES = (1, 32, 256, 4096)


def sizes(quick):
    """(flows to predict, flows at batch 1, matmul n, seconds per measurement at most)."""
    return (8192, 200, 1024, 5.0) if quick else (20000, 1000, 2048, 30.0)


def flows_per_s(predict, X, batch, n, max_seconds=np.inf):
    """(flows/s, flows timed, seconds per call) of ``predict`` over the first ``n`` rows of
    ``X`` in chunks of ``batch``, stopping after the first chunk that ends past
    ``max_seconds``."""
    take = (lambda a, b: X.iloc[a:b]) if isinstance(X, pd.DataFrame) else (lambda a, b: X[a:b])
    predict(take(0, batch))  # warm-up
    done, calls, start = 0, [], time.perf_counter()
    while done < n and time.perf_counter() - start < max_seconds:
        begin = time.perf_counter()
        predict(take(done, min(done + batch, n)))
        calls.append(time.perf_counter() - begin)
        done = min(done + batch, n)
    return done / (time.perf_counter() - start), done, np.asarray(calls)


def load_average():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def inference_table(models, X_pred, Xt, n_predict, n_single, budget):
    """Flows/s (and batch-1 latency) of each model by batch size, with the load average."""
    rows = []
    for batch in (*BATCHES, n_predict):  # the last: the whole DataFrame in one call
        n = n_single if batch == 1 else n_predict
        row = {"batch size": batch}
        for label, predict, raw in models:
            speed, timed, calls = flows_per_s(predict, X_pred if raw else Xt, batch, n, budget)
            row |= {f"{label} flows/s": speed, f"{label} flows timed": timed}
            if batch == 1:
                row |= {f"{label} p50 ms": np.percentile(calls, 50) * 1e3,
                        f"{label} p99 ms": np.percentile(calls, 99) * 1e3}  # fmt: skip
        rows.append(row | {"load average": load_average()})
    return pd.DataFrame(rows).set_index("batch size")


def run(args, splits):
    dataset, split = splits["cicids2017"]
    n_predict, n_single, n_matmul, budget = sizes(args.quick)
    repeats = -(-n_predict // len(split.X_test))
    X_pred = pd.concat([split.X_test] * repeats, ignore_index=True).iloc[:n_predict]

    moe = C.make_models(dataset)["MoE"]
    print(f"[throughput] fitting MoE on {len(split.X_train)} flows", flush=True)
    with T.PeakMemory() as fit_memory:
        start = time.perf_counter()
        moe.fit(split.X_train, split.y_train)
        fit_seconds = time.perf_counter() - start
    fit_load = load_average()
    test_f1 = f1_score(split.y_test, moe.predict(split.X_test))
    clf = moe[-1]
    n_rows = round(len(split.X_train) * (1 - clf.validation_fraction))
    training = pd.DataFrame([
        {"stage": stage, "epochs": len(history), "rows per epoch": n_rows,
         "mean epoch s": np.mean([h["time"] for h in history]),
         "training flows/s": n_rows / np.mean([h["time"] for h in history])}
        for stage, history in (("1: pretraining (MFM)", clf.pretrain_history_),
                               ("2: end-to-end", clf.history_))
    ]).set_index("stage")  # fmt: skip
    xgb = C.xgboost(dataset).fit(split.X_train, split.y_train)
    bf16 = copy.deepcopy(moe).set_params(moe__inference_dtype="bfloat16")
    exact_proba, bf16_proba = moe.predict_proba(split.X_test), bf16.predict_proba(split.X_test)
    bf16_f1 = f1_score(split.y_test, bf16.classes_[bf16_proba.argmax(1)])

    print("[throughput] inference", flush=True)
    Xt = moe[:-1].transform(X_pred)
    models = [("MoE end to end", moe.predict_proba, True),
              ("MoE model only", clf.predict_proba, False),
              ("MoE bfloat16 end to end", bf16.predict_proba, True),
              ("MoE bfloat16 model only", bf16[-1].predict_proba, False),
              ("XGBoost end to end", xgb.predict_proba, True)]  # fmt: skip
    inference = inference_table(models, X_pred, Xt, n_predict, n_single, budget)
    with T.PeakMemory() as predict_memory:
        flows_per_s(moe.predict_proba, X_pred, 4096, n_predict, budget)

    with FlopCounterMode(display=False) as counter:
        clf.predict_proba(Xt.iloc[:4096])
    flops_per_flow = counter.get_total_flops() / min(4096, len(Xt))
    achieved = flops_per_flow * inference.loc[4096, "MoE model only flows/s"] / 1e9
    reference = T.matmul_gflops(n_matmul)
    x4096 = torch.from_numpy(Xt.iloc[:4096].to_numpy(np.float32))
    with torch.inference_mode():
        products = T.shape_matched_products(lambda: clf.module_.eval()(x4096))
    product_flops = (products["calls"] * products["GFLOP per call"]).sum()
    product_seconds = (products["calls"] * products["GFLOP per call"]
                       / products["isolated GFLOP/s"]).sum()  # fmt: skip
    ceiling = product_flops / product_seconds
    batch_seconds = min(4096, len(Xt)) / inference.loc[4096, "MoE model only flows/s"]
    compute = pd.DataFrame([
        {"quantity": "MoE FLOPs per flow (forward)", "value": flops_per_flow},
        {"quantity": "MoE achieved GFLOP/s (model only, batch 4096)", "value": achieved},
        {"quantity": f"float32 matmul GFLOP/s ({n_matmul}x{n_matmul})", "value": reference},
        {"quantity": "achieved / matmul", "value": achieved / reference},
        {"quantity": "shape-matched ceiling GFLOP/s (the model's products alone, table below)",
         "value": ceiling},
        {"quantity": "  share of the forward FLOPs in those products",
         "value": product_flops * 1e9 / (flops_per_flow * min(4096, len(Xt)))},
        {"quantity": "  achieved / shape-matched ceiling", "value": achieved / ceiling},
        {"quantity": "  products alone / model-only batch time (batch 4096)",
         "value": product_seconds / batch_seconds},
        {"quantity": "load average after the matmul", "value": load_average()},
        {"quantity": f"default fit wall time (s, {len(split.X_train)} flows)",
         "value": fit_seconds},
        {"quantity": "  epochs (pretraining + training)",
         "value": float(len(clf.pretrain_history_) + len(clf.history_))},
        {"quantity": "  load average at the end of the fit", "value": fit_load},
        {"quantity": f"  test F1 ({len(split.X_test)} flows)", "value": test_f1},
        {"quantity": "  test F1 with inference_dtype='bfloat16'", "value": bf16_f1},
        {"quantity": "  max abs predict_proba difference bfloat16 vs float32 (test)",
         "value": float(np.abs(bf16_proba - exact_proba).max())},
        {"quantity": f"peak RSS during fit (MiB, {fit_memory.scope})", "value": fit_memory.peak},
        {"quantity": "  above the resident memory before the fit (MiB)", "value": fit_memory.added},
        {"quantity": f"peak RSS during batch-4096 inference (MiB, {predict_memory.scope})",
         "value": predict_memory.peak},
        {"quantity": "  above the resident memory before the inference (MiB)",
         "value": predict_memory.added},
        {"quantity": "torch threads", "value": float(torch.get_num_threads())},
    ]).set_index("quantity")  # fmt: skip
    return training, inference, compute, products.set_index("product"), len(split.X_train)


def report(training, inference, compute, products, n_train, cmd, args):
    text = C.header(
        "Throughput, memory and compute efficiency (CIC-IDS2017, CPU)",
        cmd,
        args,
        f"Method: see the docstring of `benchmarks/bench_throughput.py`. Default fit on "
        f"{n_train} flows. Timings depend on the machine and its load; compare rows of one "
        "run, not runs.\n\n",
    )
    text += "## Inference (`predict_proba`)\n\n" + C.markdown_table(inference, "{:,.2f}")
    text += "\n## Training\n\n" + C.markdown_table(training, "{:,.1f}")
    text += "\n## Compute and memory\n\n" + C.markdown_table(compute, "{:,.3f}")
    text += (
        "\n## Shape-matched ceiling: the model's products at batch 4096, each timed alone\n\n"
        "Each matrix product of one batch-4096 forward pass (linear layers as a bare "
        "`(rows, in) x (in, out)` float32 product, attention as "
        "`scaled_dot_product_attention`), timed in isolation with torch in this run "
        "(`_timing.shape_matched_products`). The ceiling above is their total FLOPs over "
        "their total isolated time: what this network's shapes reach on this CPU even "
        "without any other operator.\n\n"
    ) + C.markdown_table(products, "{:,.3f}")
    return text


def main(args, store=None):
    del store  # this script fits its own models with a fixed amount of work
    start = time.perf_counter()
    splits = C.load_splits(args, ["cicids2017"])
    training, inference, compute, products, n_train = run(args, splits)
    C.write(
        args.out / "throughput.md",
        report(training, inference, compute, products, n_train, C.command(), args),
    )
    print(f"[throughput] done in {time.perf_counter() - start:.0f} s")
    return inference, training, compute


if __name__ == "__main__":
    parser = C.make_parser(__doc__, datasets=False)
    main(C.parse_args(parser, __file__))
