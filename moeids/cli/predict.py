"""``moeids predict``: score flow files of any size in chunks and write one decision per flow.

The files are read in chunks of ``--chunk-size`` rows (memory does not grow with the data)
and each chunk's decisions (:func:`moeids.scoring.score_flows`) are appended to the output
in the input's row order.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from ..features.names import clean_header
from ._common import (
    CommandError,
    add_command,
    add_model_arguments,
    check_classifier,
    check_writable,
    load_model_arg,
)
from ._io import ChunkWriter, count_rows, expand_inputs, iter_chunks, output_format

__all__ = ["add_parser", "predict", "score_files"]


def _kept(chunk, keep):
    """The ``keep`` columns of ``chunk`` (names matched without surrounding spaces)."""
    names = {clean_header(c): c for c in chunk.columns}
    for name in keep:
        if name not in names:
            raise CommandError(
                f"--keep: {chunk.attrs.get('source', 'DATA')} has no column {name!r}"
            )
    return chunk[[names[name] for name in keep]].set_axis(list(keep), axis=1)


def score_files(model, paths, writer, *, chunk_size, keep=(), progress=None):
    """Score CSV/Parquet files chunk by chunk into ``writer``.

    Keeps freed memory in this process's heap between batches
    (:func:`moeids._malloc.retain_batch_memory`, process-wide).

    Parameters
    ----------
    model : fitted Pipeline or MoEClassifier
    paths : list of path-like
        Input files, read in this order.
    writer : ChunkWriter
        Receives each chunk's decisions (``keep`` columns first).
    chunk_size : int
        Most rows read and scored at once.
    keep : sequence of str
        Input columns copied to the output (e.g. a flow id).
    progress : tqdm or None
        Updated with the rows scored.

    Returns
    -------
    rows, chunks, attacks : int
        Flows scored, chunks read, flows labelled as ``classes_[1]`` (binary models; else 0).
    """
    from moeids._malloc import retain_batch_memory
    from moeids.scoring import score_flows, split_model

    retain_batch_memory()
    classes = split_model(model)[1].classes_
    rows = chunks = attacks = 0
    for chunk in iter_chunks(paths, chunk_size):
        decisions = score_flows(model, chunk)
        if keep:
            decisions = pd.concat([_kept(chunk, keep), decisions], axis=1)
        writer.write(decisions)
        rows += len(chunk)
        chunks += 1
        if len(classes) == 2:
            attacks += int((decisions["label"] == classes[1]).sum())
        if progress is not None:
            progress.update(len(chunk))
    return rows, chunks, attacks


def predict(args) -> int:
    """Score DATA into --out; see ``moeids predict --help``."""
    from tqdm.auto import tqdm

    if args.chunk_size < 1:
        raise CommandError(f"--chunk-size must be at least 1, got {args.chunk_size}")
    if args.dask is not None:
        return _predict_on_dask(args)
    output_format(args.out)
    out = check_writable(args.out)
    paths = expand_inputs(args.data)
    model = check_classifier(load_model_arg(args.model, args.allow_pickle), args.model)
    start = time.perf_counter()
    with (
        ChunkWriter(out) as writer,
        tqdm(total=count_rows(paths), unit=" flows", disable=not args.verbose) as bar,
    ):
        rows, chunks, attacks = score_files(
            model,
            paths,
            writer,
            chunk_size=args.chunk_size,
            keep=args.keep,
            progress=bar,
        )
        if rows == 0:
            raise CommandError("DATA holds no rows")
    seconds = time.perf_counter() - start
    print(
        f"Scored {rows} flows from {len(paths)} file(s) in {chunks} chunk(s) in {seconds:.1f} s "
        f"({rows / max(seconds, 1e-9):,.0f} flows/s); {attacks} labelled attack. "
        f"Decisions: {out}"
    )
    return 0


def _predict_on_dask(args) -> int:
    """``--dask SCHEDULER``: score one file, folder or glob on Dask into Parquet."""
    from moeids.distributed import score_archive

    if len(args.data) != 1:
        raise CommandError("--dask takes one DATA: a file, a folder or a glob")
    if args.out.suffix not in ("", ".parquet"):
        raise CommandError("--dask writes Parquet: --out must end in .parquet or be a folder")
    model = check_classifier(load_model_arg(args.model, args.allow_pickle), args.model)
    start = time.perf_counter()
    out, rows = score_archive(
        model, args.data[0], args.out, scheduler=args.dask, keep=tuple(args.keep)
    )
    seconds = time.perf_counter() - start
    print(
        f"Scored {rows} flows on Dask ({args.dask}) in {seconds:.1f} s "
        f"({rows / max(seconds, 1e-9):,.0f} flows/s). Decisions: {out}"
    )
    return 0


def add_parser(commands) -> None:
    """Register ``moeids predict`` on the ``commands`` subparsers."""
    run = add_command(
        commands,
        "predict",
        help="score flow files of any size and write one decision per flow",
        description=(
            "Score CSV/Parquet flow files in chunks (memory does not grow with the data) and\n"
            "write one decision per flow, in the input's row order: label, attack_probability\n"
            "(proba_<class> for multi-class models), gate_tabular, gate_temporal (the expert\n"
            "weights) and missing_features (names of the features absent for that flow).\n"
            "The output format follows the suffix of --out: .csv (missing_features as JSON\n"
            "arrays), .parquet, .jsonl."
        ),
        example="""
            moeids predict ids.safetensors 'captures/2024-*.parquet' --out decisions.parquet
            moeids predict ids.safetensors flows.csv --out decisions.jsonl --keep 'Flow ID'
        """,
    )
    add_model_arguments(run)
    run.add_argument(
        "data", nargs="+", metavar="DATA", help="CSV/Parquet files, folders of them, or globs"
    )
    run.add_argument(
        "--out", required=True, type=Path, help="decision file, .csv/.parquet/.jsonl (required)"
    )
    run.add_argument("--chunk-size", type=int, default=50_000, help="rows read and scored at once")
    run.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="COLUMN",
        help="input column to copy to the output, repeatable (default: none)",
    )
    run.add_argument(
        "--dask",
        metavar="SCHEDULER",
        help="score on Dask instead: 'local:N' (N local worker processes), a tcp:// "
        "scheduler address or a scheduler file; --out is then a .parquet file or a folder "
        "(default: none, in this process)",
    )
    run.add_argument("--verbose", type=int, default=1, help="0 quiet, 1 progress bar")
    run.set_defaults(handler=predict)
