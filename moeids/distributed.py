"""Score flow archives on Dask: a fitted detector, partition by partition, on any scheduler.

- :func:`predict_dask`: a ``dask.dataframe`` of raw flows -> a lazy ``dask.dataframe`` of
  per-flow decisions (the columns of :func:`moeids.scoring.score_flows`), in the input's
  row order. The model travels to each worker once; each scoring task sets torch's thread
  count so that torch threads x concurrent tasks stay within the worker machine's cores,
  and keeps freed memory in the worker's heap for the next batch
  (:func:`moeids._malloc.retain_batch_memory`).
- :func:`score_archive`: a file, a folder of Parquet/CSV files or a glob -> a Parquet file
  or folder of decisions (what ``moeids predict MODEL DATA --out OUT --dask SCHEDULER``
  calls).

Needs the optional extra ``moeids[dask]`` (dask[dataframe], distributed, pyarrow).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ._malloc import retain_batch_memory
from .scoring import decision_columns, score_flows, split_model

__all__ = ["connect", "predict_dask", "read_flows", "score_archive"]

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz")


def _require_dask():
    try:
        import dask.dataframe as dd
        import distributed  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"moeids.distributed needs dask[dataframe], distributed and pyarrow ({error}); "
            "install them with: pip install 'moeids[dask]'"
        ) from error
    return dd


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _thread_budget(client):
    """{worker address: torch threads per task} so that, on every host, torch threads x
    the dask threads of all the workers on that host <= that host's cores."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    cores = client.run(_cores)
    per_host: dict[str, int] = {}
    for info in workers.values():
        per_host[info["host"]] = per_host.get(info["host"], 0) + info["nthreads"]
    return {
        address: max(1, cores.get(address, 1) // per_host[info["host"]])
        for address, info in workers.items()
    }


def _current_client():
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _task_threads(threads):
    """Torch threads for this task: ``threads`` when an int, else this worker's budget."""
    if isinstance(threads, int):
        return threads
    try:
        from distributed import get_worker

        return threads.get(get_worker().address, 1)
    except ValueError:  # not on a distributed worker: the local threaded scheduler
        return 1


def _score_partition(part, model, threads, keep):
    import torch

    retain_batch_memory()
    n_threads = _task_threads(threads)
    if torch.get_num_threads() != n_threads:
        torch.set_num_threads(n_threads)
    if len(part) == 0:
        return _meta(model, part[keep])
    decisions = score_flows(model, part)
    return pd.concat([part[keep], decisions], axis=1) if keep else decisions


def _meta(model, kept):
    """Empty decisions frame with the dtypes :func:`score_flows` produces."""
    classes = split_model(model)[1].classes_
    columns = {}
    for name in decision_columns(model):
        if name == "label":
            columns[name] = pd.Series(classes[:0], dtype=classes.dtype)
        elif name == "missing_features":
            columns[name] = pd.Series([], dtype=object)
        else:
            columns[name] = pd.Series([], dtype=np.float32)
    decisions = pd.DataFrame(columns, index=kept.index[:0])
    return pd.concat([kept.iloc[:0], decisions], axis=1) if kept.shape[1] else decisions


def predict_dask(model, ddf, *, threads_per_worker=None, keep=()):
    """Score a dask DataFrame of raw flows partition by partition.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
        Shipped to the workers once (one graph node every partition depends on).
    ddf : dask.dataframe.DataFrame of shape (n_flows, n_columns)
        Raw flows, as :func:`moeids.scoring.score_flows` takes them.
    threads_per_worker : int or None, default=None
        Torch threads per scoring task (``torch.set_num_threads`` in the worker process).
        None: on a ``distributed`` cluster, each host's cores divided by the dask threads
        of all its workers (at least 1); with dask's local schedulers, 1.
    keep : sequence of str, default=()
        Input columns copied in front of the decisions (flow ids, timestamps).

    Returns
    -------
    decisions : dask.dataframe.DataFrame of shape (n_flows, len(keep) + n_decision_columns)
        Lazy; the columns of ``score_flows`` with ``ddf``'s index and partitions, so in
        the input's row order.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> import dask.dataframe as dd
    >>> from moeids.distributed import predict_dask
    >>> decisions = predict_dask(model, dd.from_pandas(X, npartitions=2))
    >>> decisions.npartitions, decisions.compute(scheduler="synchronous").shape
    (2, (507, 5))
    """
    _require_dask()
    from dask import delayed

    keep = list(keep)
    absent = [c for c in keep if c not in ddf.columns]
    if absent:
        raise ValueError(f"keep names columns absent from the flows: {absent}")
    if threads_per_worker is None:
        client = _current_client()
        threads = _thread_budget(client) if client is not None else 1
    elif isinstance(threads_per_worker, int) and threads_per_worker >= 1:
        threads = threads_per_worker
    else:
        raise ValueError(
            f"threads_per_worker must be None or an int >= 1, got {threads_per_worker!r}"
        )
    shipped = delayed(model, traverse=False)
    meta = _meta(model, ddf._meta[keep])
    return ddf.map_partitions(_score_partition, shipped, threads, keep, meta=meta)


def _source_files(source):
    """Sorted data files of a file, folder or glob, and their format."""
    text = str(source)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True))
    elif Path(text).is_dir():
        files = sorted(p for p in Path(text).rglob("*") if p.is_file() and _format(p))
    elif Path(text).is_file():
        files = [Path(text)]
    else:
        raise FileNotFoundError(f"no flow file, folder or glob match at {text}")
    if not files:
        raise ValueError(f"no Parquet or CSV files in {text}")
    formats = {_format(p) for p in files}
    if None in formats or len(formats) > 1:
        odd = [str(p) for p in files if _format(p) != _format(files[0])][:3]
        raise ValueError(
            f"{text}: files must be all Parquet ({'/'.join(PARQUET_SUFFIXES)}) or all CSV "
            f"({'/'.join(CSV_SUFFIXES)}); e.g. {odd}"
        )
    return files, formats.pop()


def _format(path):
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def read_flows(source, *, blocksize="64MB"):
    """A dask DataFrame of the flows in a file, a folder of Parquet/CSV files or a glob.

    Parameters
    ----------
    source : str or path-like
        Files are read in sorted path order; Parquet files are split by row groups of
        about ``blocksize``, plain CSV files by ``blocksize`` bytes (gzip: one per file).
    blocksize : str or int, default="64MB"

    Returns
    -------
    flows : dask.dataframe.DataFrame

    Examples
    --------
    A folder of two CSV files (flows of the bundled sample):

    >>> import os, tempfile
    >>> from moeids.datasets import load_sample
    >>> from moeids.distributed import read_flows
    >>> X = load_sample().data.iloc[::10]
    >>> folder = tempfile.mkdtemp()
    >>> X.iloc[:250].to_csv(os.path.join(folder, "part1.csv"), index=False)
    >>> X.iloc[250:].to_csv(os.path.join(folder, "part2.csv"), index=False)
    >>> flows = read_flows(folder)
    >>> flows.npartitions, len(flows), len(flows.columns)
    (2, 507, 83)
    """
    dd = _require_dask()
    files, kind = _source_files(source)
    paths = [str(p) for p in files]
    if kind == "parquet":
        return dd.read_parquet(paths, split_row_groups="infer", blocksize=blocksize)
    gzipped = any(p.endswith(".gz") for p in paths)
    return dd.read_csv(paths, blocksize=None if gzipped else blocksize, assume_missing=True)


@contextlib.contextmanager
def connect(scheduler=None):
    """Context in which dask computations run on ``scheduler``.

    Parameters
    ----------
    scheduler : None, str or distributed.Client
        None: dask's current default (a running Client, else local threads).
        ``"local"`` / ``"local:N"``: a ``LocalCluster`` of N one-thread worker processes
        (default: the machine's cores), closed on exit. ``"threads"``, ``"processes"``,
        ``"synchronous"``: dask's local schedulers. Any other string: a scheduler
        address (``tcp://host:8786``) or a scheduler file (``.json``). A Client is used
        as is.

    Yields
    ------
    client : distributed.Client or None

    Examples
    --------
    dask's local schedulers have no Client; a Client (here an in-process one, no worker
    processes) is used as is:

    >>> from distributed import Client
    >>> from moeids.distributed import connect
    >>> with connect("synchronous") as client:
    ...     print(client)
    None
    >>> with Client(processes=False, n_workers=1, dashboard_address=":0") as running:
    ...     with connect(running) as client:
    ...         print(client is running)
    True
    """
    _require_dask()
    import dask
    from distributed import Client, LocalCluster

    if scheduler is None:
        yield None
    elif isinstance(scheduler, Client):
        with scheduler.as_current():
            yield scheduler
    elif scheduler in ("threads", "processes", "synchronous", "sync"):
        with dask.config.set(scheduler=scheduler):
            yield None
    elif scheduler == "local" or str(scheduler).startswith("local:"):
        _, _, count = str(scheduler).partition(":")
        if count and not (count.isdigit() and int(count) >= 1):
            raise ValueError(f"scheduler 'local:N' needs N >= 1, got {scheduler!r}")
        n = int(count) if count else _cores()
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
        with cluster, Client(cluster) as client:
            yield client
    elif str(scheduler).endswith(".json"):
        with Client(scheduler_file=str(scheduler)) as client:
            yield client
    else:
        with Client(str(scheduler)) as client:
            yield client


def _load(model, allow_pickle):
    if isinstance(model, str | os.PathLike):
        from .persistence import load

        return load(model, allow_pickle=allow_pickle)
    return model


def score_archive(
    model,
    source,
    out,
    *,
    scheduler=None,
    threads_per_worker=None,
    keep=(),
    blocksize="64MB",
    allow_pickle=False,
):
    """Score every flow of a file, folder or glob and write the decisions to Parquet.

    Parameters
    ----------
    model : Pipeline, MoEClassifier or path
        A fitted model or a file written by :func:`moeids.save` (read with
        :func:`moeids.load` and ``allow_pickle``).
    source : str or path-like
        A Parquet/CSV file, a folder of them, or a glob (see :func:`read_flows`).
    out : str or path-like
        Ending in ``.parquet``: one file (row groups in input order); otherwise a
        folder of ``part-000000.parquet``... files, one per partition, in input order.
        A local path: on a remote cluster, one that every worker and this process share.
    scheduler, threads_per_worker, keep, blocksize
        See :func:`connect`, :func:`predict_dask` and :func:`read_flows`.
    allow_pickle : bool, default=False
        Passed to :func:`moeids.load` when ``model`` is a path.

    Returns
    -------
    out : pathlib.Path
    n_flows : int
        Flows scored.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from moeids.distributed import score_archive
    >>> folder = tempfile.mkdtemp()
    >>> X.to_csv(os.path.join(folder, "flows.csv"), index=False)
    >>> source = os.path.join(folder, "flows.csv")
    >>> target = os.path.join(folder, "decisions.parquet")
    >>> out, n_flows = score_archive(model, source, target, scheduler="synchronous")
    >>> out.name, n_flows, pd.read_parquet(out).shape
    ('decisions.parquet', 507, (507, 5))
    """
    _require_dask()
    model = _load(model, allow_pickle)
    out = Path(out)
    single = out.suffix.lower() in PARQUET_SUFFIXES
    folder = out.with_name(out.name + ".parts") if single else out
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} exists and is not empty; remove it or choose another")
    with connect(scheduler):
        decisions = predict_dask(
            model, read_flows(source, blocksize=blocksize),
            threads_per_worker=threads_per_worker, keep=keep,
        )  # fmt: skip
        decisions.to_parquet(
            folder, write_index=False, schema=_arrow_schema(model, decisions._meta, keep),
            name_function=lambda i: f"part-{i:06d}.parquet",
        )  # fmt: skip
    parts = sorted(folder.glob("part-*.parquet"))
    n_flows = _concatenate(parts, out) if single else _count(parts)
    if single:
        shutil.rmtree(folder)
    return out, n_flows


def _arrow_schema(model, meta, keep):
    """The whole Arrow schema of the output: the ``keep`` columns, then the decisions.

    Given in full, so that dask infers no type from its placeholder rows (with pandas 3 an
    object column's placeholder is a bare ``object()``, which Arrow cannot type).
    """
    import pyarrow as pa

    def arrow_type(dtype):
        kind = getattr(dtype, "kind", "O")
        return pa.string() if kind in "OUS" else pa.from_numpy_dtype(dtype)

    classes = split_model(model)[1].classes_
    types = {name: pa.float32() for name in decision_columns(model)}
    types |= {"label": arrow_type(classes.dtype), "missing_features": pa.list_(pa.string())}
    fields = [(name, arrow_type(meta[name].dtype)) for name in keep] + list(types.items())
    return pa.schema(fields)


def _count(parts):
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in parts)


def _concatenate(parts, out):
    """Copy the row groups of ``parts`` in order into one Parquet file; rows written."""
    import pyarrow.parquet as pq

    rows, writer = 0, None
    try:
        for part in parts:
            source = pq.ParquetFile(part)
            if writer is None:
                writer = pq.ParquetWriter(out, source.schema_arrow)
            for group in range(source.num_row_groups):
                table = source.read_row_group(group)
                writer.write_table(table)
                rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows
