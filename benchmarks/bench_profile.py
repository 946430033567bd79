"""Where the time of path A goes: inference and training, by phase and by torch operator.

Fits ``FeatureSplitter("cicids2017") + MoEClassifier`` (library defaults, but a fixed
amount of work: 1 pretraining + 1 training epoch, no early stopping, no refit) on
``--train-rows`` rows of the CIC-IDS2017 sample, then profiles:

- end-to-end ``predict_proba`` at batch 4096 and at batch 1 (``cProfile``, the time of
  the splitter, the classifier's input checks and the network, by cumulative time);
- the network's forward pass at batch 4096 (``torch.profiler``, self CPU time by operator
  and input shapes);
- one training epoch of stage 2 (``cProfile``: the loss forward, backward, optimiser step,
  weight average, per-step Python) and its operators (``torch.profiler``, 20 steps).

Writes ``docs/results/profile.md`` (``--out``). ``python benchmarks/bench_profile.py --help``.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import os
import pstats
import time
from functools import partial
from pathlib import Path

import _common as C
import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import validate_data
from torch.profiler import ProfilerActivity, profile

from moeids import FeatureSplitter, MoEClassifier
from moeids._training import _ema_avg_fn, _train_epoch, iterate_batches


def _phases():
    """label -> the Python function whose cumulative time is reported under that label."""
    from moeids import _training
    from moeids.features import canonical, splitter
    from moeids.moe import classifier, ft_transformer, network, temporal_cnn, tokenizer
    from moeids.moe.inputs import check_categorical_codes

    return {
        "FeatureSplitter.transform": splitter.FeatureSplitter.transform,
        "  of which direct read (columns known by name)": (
            splitter.FeatureSplitter._transform_known_columns
        ),
        "  of which reading + renaming columns": splitter.FeatureSplitter._read,
        "    of which to_canonical": canonical.to_canonical,
        "  of which numeric matrix": splitter.FeatureSplitter._numeric_matrix,
        "  of which scaling + categorical codes": splitter.FeatureSplitter._assemble,
        "  of which output DataFrame": splitter.FeatureSplitter._output,
        "MoEClassifier._forward (predict_proba)": classifier.MoEClassifier._forward,
        "  of which sklearn validate_data": validate_data,
        "  of which categorical checks": check_categorical_codes,
        "  of which predict_batches (network)": _training.predict_batches,
        "network forward (MoENetwork.embed)": network.MoENetwork.embed,
        "  of which input split + scaling": network.MoENetwork.split_inputs,
        "  of which tabular expert (FTTransformer)": ft_transformer.FTTransformer.forward,
        "    of which tokenizer": tokenizer.FeatureTokenizer.forward,
        "    of which transformer blocks": ft_transformer.TransformerBlock.forward,
        "  of which temporal expert (TemporalCNN)": temporal_cnn.TemporalCNN.forward,
        "training: loss (forward)": classifier.MoEClassifier.get_loss,
        "training: backward": torch.Tensor.backward,
        "training: optimiser step": torch.optim.AdamW.step,
        "training: weight average (EMA)": torch.optim.swa_utils.AveragedModel.update_parameters,
    }


def cumulative(stats, total):
    """Rows (phase, seconds, share of total) from a ``pstats.Stats``."""
    rows = []
    for label, function in _phases().items():
        code = inspect.unwrap(function).__code__
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        seconds = stats.stats[key][3] if key in stats.stats else 0.0
        if seconds > 0:
            rows.append({"phase": label, "seconds": seconds, "share": seconds / total})
    return pd.DataFrame(rows).set_index("phase")


def cprofiled(fn):
    """(pstats.Stats, wall seconds) of ``fn()``."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(fn)
    wall = time.perf_counter() - start
    return pstats.Stats(profiler, stream=io.StringIO()), wall


def torch_ops(fn, top=12):
    """Self CPU time by torch operator and input shapes of ``fn()``: the ``top`` largest."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        fn()
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events)
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return pd.DataFrame(
        [
            {
                "operator": e.key,
                "input shapes": str([tuple(s) for s in e.input_shapes if s]),
                "calls": e.count,
                "self CPU ms": e.self_cpu_time_total / 1e3,
                "share": e.self_cpu_time_total / total,
            }
            for e in rows
        ]
    ).set_index("operator")


def fit_model(X, y, seed):
    params = {"epochs": 1, "pretrain_epochs": 1, "n_iter_no_change": None, "refit_epochs": 0}
    splitter = FeatureSplitter("cicids2017").fit(X)
    Xt = splitter.transform(X)
    clf = MoEClassifier(random_state=seed, device="cpu", **params).fit(Xt, y)
    return splitter, clf, Xt


def run(args):
    data = C.DATASETS["cicids2017"].load(C.data_dir(args))
    rows = np.random.default_rng(0).permutation(len(data.data))
    train, test = rows[: args.train_rows], rows[args.train_rows :][:8192]
    X_train, y_train = data.data.iloc[train], data.target.to_numpy()[train]
    start = time.perf_counter()
    splitter, clf, Xt_train = fit_model(X_train, y_train, 0)
    fit_s = time.perf_counter() - start
    frame = data.data.iloc[test].reset_index(drop=True)

    def predict(batch, n):
        for a in range(0, n, batch):
            clf.predict_proba(splitter.transform(frame.iloc[a : a + batch]))

    predict(4096, 4096)  # warm-up
    sections = {}
    for batch, n in ((4096, len(frame)), (1, 300)):
        stats, wall = cprofiled(partial(predict, batch, n))
        table = cumulative(stats, wall)
        sections[f"End to end, batch {batch} ({n} flows, {n / wall:,.0f} flows/s)"] = table
    Xt = torch.from_numpy(splitter.transform(frame.iloc[:4096]).to_numpy(np.float32))
    net = clf.module_.eval()
    with torch.inference_mode():
        ops_predict = torch_ops(lambda: net(Xt))

    loss_fn = partial(clf.get_loss, class_weight=None)
    tensors = [torch.from_numpy(Xt_train.to_numpy(np.float32)), torch.as_tensor(y_train)]
    tensors[1] = torch.as_tensor(np.searchsorted(clf.classes_, y_train))
    optimizer = torch.optim.AdamW(net.parameters(), lr=clf.learning_rate, fused=True)
    averaged = torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=_ema_avg_fn(clf.ema_decay))
    generator = torch.Generator().manual_seed(0)
    epoch = partial(
        _train_epoch, net, loss_fn, tensors, optimizer, averaged, batch_size=clf.batch_size,
        device=torch.device("cpu"), generator=generator, grad_clip=None, desc="", verbose=0,
    )  # fmt: skip
    stats, wall = cprofiled(epoch)
    n_steps = len(list(iterate_batches(len(tensors[0]), clf.batch_size, shuffle=False)))
    sections[
        f"Training, one stage-2 epoch ({len(tensors[0])} rows, batch {clf.batch_size}, "
        f"{n_steps} steps, {wall / n_steps * 1e3:.1f} ms per step)"
    ] = cumulative(stats, wall)
    small = [t[: 20 * clf.batch_size] for t in tensors]
    ops_train = torch_ops(partial(epoch.func, *epoch.args[:2], small, *epoch.args[3:],
                                  **epoch.keywords))  # fmt: skip
    return sections, ops_predict, ops_train, fit_s


def report(sections, ops_predict, ops_train, fit_s, args):
    load = os.getloadavg()
    text = (
        "# Profile of path A (FeatureSplitter + MoEClassifier, CIC-IDS2017, CPU)\n\n"
        f"Produced by `{C.command()}` (do not edit by hand; rerun the command).\n\n"
        f"Environment: {C.environment()}; load average (1/5/15 min) at the end "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}. Method: see the docstring of "
        f"`benchmarks/bench_profile.py`. Model fitted on {args.train_rows} rows in "
        f"{fit_s:.0f} s (1 + 1 epochs). Times under `cProfile` are inflated by its per-call "
        "overhead; compare shares, not absolute numbers, with other files.\n\n"
    )
    for title, table in sections.items():
        text += f"## {title}\n\n" + C.markdown_table(table, "{:.3f}") + "\n"
    text += "## Network forward at batch 4096: torch operators by self CPU time and shapes\n\n"
    text += C.markdown_table(ops_predict, "{:.3f}") + "\n"
    text += "## Training (20 stage-2 steps): torch operators by self CPU time\n\n"
    text += C.markdown_table(ops_train, "{:.3f}")
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="shared datasets folder")
    parser.add_argument("--train-rows", type=int, default=8000)
    parser.add_argument("--out", type=Path, default=C.RESULTS / "profile.md")
    args = parser.parse_args()
    args.quick, args.max_train = False, None
    C.write(args.out, report(*run(args), args))


if __name__ == "__main__":
    main()
