"""Train a detector from Parquet files larger than memory, streaming minibatches.

:func:`fit_from_files` fits a ``FeatureSplitter + MoEClassifier`` pipeline (or a bare
:class:`~moeids.MoEClassifier`) on a set of Parquet files read in chunks of ``chunk_rows``
rows, so that the process holds a bounded number of rows whatever the size of the set:

1. pass 1: each transformer of the pipeline learns its statistics chunk by chunk
   (:meth:`moeids.FeatureSplitter.partial_fit`: vocabularies from merged value counts,
   numeric statistics from merged moments);
2. pass 2: the classifier's statistics: classes, categorical cardinalities, the
   network's log-standardisation (exact, merged moments:
   :func:`moeids._numeric.merge_moments`) and a uniform sample of ``sample_rows`` rows
   (bottom-k of random keys) for what needs the rows themselves: the quantile bins of the
   piecewise-linear embedding and the novelty score's index and tail (which use at most
   4,096 and 50,000 benign rows in memory too);
3. the same two stages as ``fit`` (:class:`~moeids.moe.training.MoETrainingMixin`: MFM
   pretraining, end-to-end training, the refit), with minibatches streamed from the
   files (:class:`ParquetRows`): each epoch visits the files in a random order, reads them
   row group by row group, and shuffles within a buffer of ``buffer_rows`` rows; early
   stopping on ``validation_files`` (held out as files, read into memory once: keep them
   small).

The schedule, losses, early stopping, weight averaging and progress output are those of
the in-memory ``fit`` (:func:`moeids._training.train_module` takes a
:class:`~moeids._training.BatchStream` instead of tensors); only where the rows come from
differs. A module of its own, not part of :mod:`moeids.distributed`: it runs in one
process, needs pyarrow only (``pip install 'moeids[parquet]'``), not Dask, and trains
rather than scores. The out-of-core scoring counterpart is ``moeids predict`` (chunked) or
:func:`moeids.distributed.score_archive`.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import validate_data

from ._numeric import column_moments, merge_moments, moments_statistics, signed_log1p
from ._training import BatchStream, draw_seed, resolve_device
from .features.names import feature_groups_from_names
from .moe.inputs import (
    UNLABELED,
    UnlabeledRowsWarning,
    check_categorical_codes,
    encode_labels,
)

__all__ = ["fit_from_files"]


def _parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ImportError(
            f"moeids.outofcore reads Parquet with pyarrow ({error}); "
            "install it with: pip install 'moeids[parquet]'"
        ) from error
    return pq


def _files(files, what) -> list[Path]:
    """Sorted Parquet files of a folder, a glob, one file or a list of files."""
    from .distributed import _source_files

    items = [files] if isinstance(files, str | Path) else list(files)
    if not items:
        raise ValueError(f"{what} is empty: give Parquet files, a folder or a glob")
    found: list[Path] = []
    for item in items:
        paths, kind = _source_files(item)
        if kind != "parquet":
            raise ValueError(f"{what}: {item} holds {kind} files; fit_from_files reads Parquet")
        found += paths
    return found


def _chunks(files, chunk_rows, label):
    """(features DataFrame, labels ndarray) of at most ``chunk_rows`` rows, file by file."""
    pq = _parquet()
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            if label not in frame.columns:
                raise ValueError(f"{path}: no label column {label!r} (label=...)")
            yield frame.drop(columns=label), frame[label].to_numpy()


def fit_from_files(
    estimator,
    files,
    *,
    label,
    validation_files,
    chunk_rows=65_536,
    buffer_rows=262_144,
    sample_rows=100_000,
):
    """Fit ``estimator`` on Parquet ``files`` read in chunks, holding bounded memory.

    Parameters
    ----------
    estimator : Pipeline or MoEClassifier
        A Pipeline whose last step is a :class:`~moeids.MoEClassifier` and whose other
        steps have ``partial_fit`` (e.g. :class:`~moeids.FeatureSplitter`, without
        ``missing="median"``), or a bare MoEClassifier for files of ``group__name``
        feature columns. Fitted in place with its own parameters (``epochs``,
        ``batch_size``, ``random_state``, ``verbose``...; the transformers are replaced
        by fitted clones, so a refit starts afresh); ``validation_fraction`` is not
        used: ``validation_files`` are the held-out rows.
    files : str, path-like or list of them
        Training data: Parquet files, folders of them or globs, read in sorted order.
        Each file holds the raw flow columns and the ``label`` column.
    label : str
        The label column (-1 = unlabeled, as in ``fit``).
    validation_files : str, path-like or list of them
        Held-out Parquet files for early stopping and the novelty reference; read into
        memory once (they should be a small fraction of the data).
    chunk_rows : int, default=65536
        Rows per read (Parquet batch; a batch never spans two row groups).
    buffer_rows : int, default=262144
        Rows shuffled together when streaming minibatches: the training order is a
        random file order, then a random order within each buffer of this many rows.
    sample_rows : int, default=100000
        Rows of the uniform sample of the training files kept in memory for the
        quantile bins of ``numeric_embedding="piecewise_linear"`` and the novelty
        score's index and tail (the in-memory fit uses all training rows for the bins).

    Returns
    -------
    estimator : the fitted ``estimator``

    Notes
    -----
    Memory holds about ``max(buffer_rows, batch_size) + chunk_rows + sample_rows`` rows
    plus the validation files and the model, whatever the number of training files. Each
    epoch reads and transforms the files again (CPU time grows with the data, memory does
    not). With ``random_state`` set, the fit is reproducible on the CPU.

    Examples
    --------
    The bundled real CIC-IDS2017 sample, cut into three Parquet files:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> bunch = load_sample()
    >>> flows = bunch.data.assign(label=bunch.target)
    >>> folder = Path(tempfile.mkdtemp())
    >>> for k in range(3):
    ...     flows.iloc[k * 200 : (k + 1) * 200].to_parquet(folder / f"day-{k}.parquet")
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(
    ...     d_model=8, n_layers=1, n_heads=1, epochs=1, pretrain_epochs=1, random_state=0))
    >>> model = fit_from_files(model, [folder / "day-0.parquet", folder / "day-1.parquet"],
    ...                        label="label", validation_files=folder / "day-2.parquet",
    ...                        chunk_rows=100, buffer_rows=200)
    >>> model.predict_proba(bunch.data.iloc[:3]).shape
    (3, 2)
    """
    for name, value in (
        ("chunk_rows", chunk_rows),
        ("buffer_rows", buffer_rows),
        ("sample_rows", sample_rows),
    ):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    files = _files(files, "files")
    validation_files = _files(validation_files, "validation_files")
    if isinstance(estimator, Pipeline):
        for k, (name, step) in enumerate(estimator.steps[:-1]):
            if step not in (None, "passthrough"):  # fitted afresh, as Pipeline.fit does
                estimator.steps[k] = (name, clone(step))
        transformers = [s for _, s in estimator.steps[:-1] if s not in (None, "passthrough")]
        model = estimator.steps[-1][1]
    else:
        transformers, model = [], estimator
    from .moe.classifier import MoEClassifier

    if not isinstance(model, MoEClassifier):
        raise TypeError(
            f"fit_from_files trains a MoEClassifier (or a Pipeline ending in one), "
            f"got {type(model).__name__}"
        )
    for step in transformers:
        if not hasattr(step, "partial_fit"):
            raise TypeError(
                f"pipeline step {type(step).__name__} has no partial_fit: it cannot learn "
                "from data in chunks"
            )

    def transform(X, upto=None):
        for step in transformers[:upto]:
            X = step.transform(X)
        return X

    for k, step in enumerate(transformers):  # pass 1: one pass per transformer
        for X, _ in _chunks(files, chunk_rows, label):
            step.partial_fit(transform(X, k))
    _log(model, f"pass 1: {len(transformers)} transformer(s) fitted on {len(files)} file(s)")
    model._validate_params()
    model._check_params()
    seed = draw_seed(model.random_state)
    stats = _Statistics(model, sample_rows, seed)
    for X, y in _chunks(files, chunk_rows, label):
        stats.add(transform(X), y)
    stats.finish()
    _log(model, f"pass 2: {stats.n_rows:,} training rows, classes {list(model.classes_)}")
    prepare = stats.prepare(transform)
    X_val, y_val = [], []
    for X, y in _chunks(validation_files, chunk_rows, label):
        x, labels = prepare(X, y)
        X_val.append(x)
        y_val.append(labels)
    X_val, y_val = torch.from_numpy(np.concatenate(X_val)), torch.from_numpy(np.concatenate(y_val))
    rows = ParquetRows(files, validation_files, prepare, stats, chunk_rows, buffer_rows, label)
    model.device_ = resolve_device(model.device)
    model._fit_stages(rows, X_val, y_val, seed)
    model.n_iter_ = len(model.history_)
    return estimator


def _log(model, text):
    if model.verbose:
        print(f"[fit_from_files] {text}")


class _Statistics:
    """What the classifier's ``fit`` learns from all rows, gathered chunk by chunk."""

    def __init__(self, model, sample_rows, seed):
        self.model, self.sample_rows = model, sample_rows
        self.rng = np.random.default_rng(seed)
        self.n_rows, self.label_counts, self.moments = 0, pd.Series(dtype=np.int64), None
        self.largest = self.present = None
        self.sample = self.sample_labels = self.sample_keys = None

    def _validated(self, X, reset):
        X = validate_data(
            self.model, X, reset=reset, dtype=np.float32, ensure_all_finite="allow-nan"
        )
        return np.ascontiguousarray(X, dtype=np.float32)

    def add(self, X, y):
        model, first = self.model, self.moments is None
        X = self._validated(X, reset=first)
        if first:
            names = getattr(model, "feature_names_in_", None)
            model.feature_groups_ = feature_groups_from_names(
                names if names is not None else [""] * X.shape[1]
            )
            self.largest = np.zeros((model.feature_groups_ == "categorical").sum())
            self.present = np.zeros(X.shape[1])
        groups = model.feature_groups_
        check_categorical_codes(X, groups, model._feature_names(), fitting=True)
        cat = X[:, groups == "categorical"]
        self.largest = np.maximum(self.largest, np.nanmax(np.nan_to_num(cat), axis=0, initial=0))
        self.present += (~np.isnan(X)).sum(0)
        moments = column_moments(signed_log1p(X[:, self._scaled_columns()].astype(np.float64)))
        self.moments = moments if first else merge_moments(self.moments, moments)
        counts = pd.Series(y).value_counts(sort=False)
        self.label_counts = self.label_counts.add(counts, fill_value=0).astype(np.int64)
        self.n_rows += len(X)
        keys = self.rng.random(len(X))  # bottom-k keys: a uniform sample of all rows
        if self.sample is not None:
            X, y = np.concatenate([self.sample, X]), np.concatenate([self.sample_labels, y])
            keys = np.concatenate([self.sample_keys, keys])
        if len(keys) > self.sample_rows:
            keep = np.sort(np.argpartition(keys, self.sample_rows - 1)[: self.sample_rows])
            X, y, keys = X[keep], y[keep], keys[keep]
        self.sample, self.sample_labels, self.sample_keys = X, y, keys

    def _scaled_columns(self):
        groups = self.model.feature_groups_
        return np.concatenate(
            [np.flatnonzero(groups == "tabular"), np.flatnonzero(groups == "temporal")]
        )

    def finish(self):
        """Set ``classes_`` and ``cat_cardinalities_``; check the rows as ``fit`` does."""
        model = self.model
        if self.n_rows < 2:
            raise ValueError(f"the training files hold {self.n_rows} row(s); at least 2 needed")
        if not self.present.any():
            raise ValueError("the training files have no present feature value (all NaN)")
        labels = self.label_counts.index.to_numpy()
        unlabeled = np.zeros(len(labels), bool)
        if labels.dtype.kind in "iuf":
            unlabeled = labels == UNLABELED
        n_unlabeled = int(self.label_counts.to_numpy()[unlabeled].sum())
        if n_unlabeled:
            warnings.warn(
                f"{n_unlabeled} of {self.n_rows} rows have y == -1 and are treated as "
                "unlabeled (pretraining and novelty reference only, never the supervised "
                "loss); encode a class -1 with another value",
                UnlabeledRowsWarning,
                stacklevel=3,
            )
        model.classes_, _ = encode_labels(labels[~unlabeled], unlabeled=n_unlabeled)
        model.cat_cardinalities_ = self.largest.astype(np.int64) + 1
        self.counts = np.array(
            [self.label_counts[label] for label in model.classes_], dtype=np.int64
        )

    def encode(self, y):
        """Encoded labels of ``y``: index in ``classes_``, -1 for unlabeled rows."""
        classes = self.model.classes_
        unlabeled = (y == UNLABELED) if y.dtype.kind in "iuf" else np.zeros(len(y), bool)
        at = np.clip(np.searchsorted(classes, y[~unlabeled]), 0, len(classes) - 1)
        unknown = classes[at] != y[~unlabeled]
        if unknown.any():
            raise ValueError(
                f"label {y[~unlabeled][unknown][0]!r} of a validation file is not a class "
                f"of the training files ({list(classes)})"
            )
        encoded = np.full(len(y), -1, dtype=np.int64)
        encoded[~unlabeled] = at
        return encoded

    def prepare(self, transform):
        """``prepare(X, y)`` -> (float32 rows, encoded labels) of one raw chunk."""

        def prepare(X, y):
            X = self._validated(transform(X), reset=False)
            check_categorical_codes(
                X, self.model.feature_groups_, self.model._feature_names(), fitting=False
            )
            return X, self.encode(y)

        return prepare


class ParquetRows(BatchStream):
    """Training rows in Parquet files, streamed in shuffled minibatches.

    The out-of-core counterpart of :class:`moeids.moe.training.TensorRows` (what
    :meth:`~moeids.moe.training.MoETrainingMixin._fit_stages` trains on), made by
    :func:`fit_from_files`. Each epoch (:meth:`batches`) visits the sources (the training
    files, plus the validation rows for the refit) in a random order, reads each in
    chunks, and shuffles within a buffer of ``buffer_rows`` rows before cutting
    minibatches.
    """

    def __init__(
        self, files, validation_files, prepare, stats, chunk_rows, buffer_rows, label,
        *, labeled_only=False, extra=None, fn=None,
    ):  # fmt: skip
        self.files, self.validation_files = files, validation_files
        self.prepare, self.stats, self.label = prepare, stats, label
        self.chunk_rows, self.buffer_rows = chunk_rows, buffer_rows
        self.labeled_only, self.extra, self.fn = labeled_only, extra, fn

    def _with(self, **changes):
        rows = ParquetRows(
            self.files, self.validation_files, self.prepare, self.stats, self.chunk_rows,
            self.buffer_rows, self.label, labeled_only=self.labeled_only, extra=self.extra,
            fn=self.fn,
        )  # fmt: skip
        rows.__dict__.update(changes)
        return rows

    # -------------------------------------------------------------- TensorRows' protocol
    def fit_scaling(self, net) -> None:
        """The network's scaling from the merged moments, bins from the sample."""
        center, scale = moments_statistics(self.stats.moments)
        net.set_scaling(center, scale, torch.from_numpy(self.stats.sample))

    def features(self) -> ParquetRows:
        return self._with(fn=lambda x, y: (x,))

    def labeled(self) -> ParquetRows:
        return self._with(labeled_only=True)

    def labeled_with(self, X_val, y_val) -> ParquetRows:
        return self._with(labeled_only=True, extra=(X_val, y_val))

    def class_weight(self, estimator) -> torch.Tensor | None:
        """The weights of ``class_weight`` from the label counts of pass 2."""
        return _class_weight(estimator, self.stats.counts)

    def novelty_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.stats.sample), torch.from_numpy(self.stats.encode(
            self.stats.sample_labels
        ))  # fmt: skip

    def has_tabular_values(self, net) -> bool:
        columns = torch.cat([net.num_columns, net.cat_columns]).cpu().numpy()
        return bool(self.stats.present[columns].any())

    def map(self, fn) -> ParquetRows:
        """Batches of ``fn(x)`` (a sequence of Tensors) of the rows' features ``x``."""
        return self._with(fn=lambda x, y: tuple(fn(x)))

    # -------------------------------------------------------------- BatchStream
    def n_batches(self, batch_size: int) -> int:
        counts = self.stats.counts.sum() if self.labeled_only else self.stats.n_rows
        extra = len(self.extra[0]) if self.extra is not None else 0
        return math.ceil((counts + extra) / batch_size)

    def _chunks(self, source):
        if isinstance(source, tuple):  # rows in memory: in chunks too, to bound the buffer
            for start in range(0, len(source[1]), self.chunk_rows):
                yield tuple(t[start : start + self.chunk_rows] for t in source)
            return
        for X, y in _chunks([source], self.chunk_rows, self.label):
            x, labels = self.prepare(X, y)
            yield torch.from_numpy(x), torch.from_numpy(labels)

    def batches(self, batch_size, generator):
        sources = list(self.files) + ([self.extra] if self.extra is not None else [])
        order = torch.randperm(len(sources), generator=generator).tolist()
        held, n_held = [], 0
        for k in order:
            for x, y in self._chunks(sources[k]):
                if self.labeled_only:
                    keep = y >= 0
                    x, y = x[keep], y[keep]
                held.append((x, y))
                n_held += len(y)
                if n_held >= self.buffer_rows:
                    held, n_held = yield from self._flush(held, batch_size, generator, last=False)
        yield from self._flush(held, batch_size, generator, last=True)

    def _flush(self, held, batch_size, generator, *, last):
        """Yield the held rows' shuffled full batches (all of them when ``last``); return
        the rows left over."""
        if not held:
            return [], 0
        x = torch.cat([h[0] for h in held])
        y = torch.cat([h[1] for h in held])
        order = torch.randperm(len(y), generator=generator)
        n_out = len(y) if last else len(y) // batch_size * batch_size
        for idx in order[:n_out].split(batch_size) if n_out else ():
            batch = (x[idx], y[idx])
            yield batch if self.fn is None else self.fn(*batch)
        rest = order[n_out:]
        return ([(x[rest], y[rest])], len(rest)) if len(rest) else ([], 0)


def _class_weight(estimator, counts) -> torch.Tensor | None:
    """``estimator.class_weight`` as per-class weights from the class ``counts``, as
    :func:`sklearn.utils.class_weight.compute_class_weight` gives them from the labels."""
    if estimator.class_weight is None:
        return None
    classes = estimator.classes_
    if estimator.class_weight == "balanced":
        if (counts == 0).any():
            raise ValueError("classes should have valid labels that are in y")
        weight = counts.sum() / (len(classes) * counts.astype(np.float64))
    else:
        from sklearn.utils.class_weight import compute_class_weight

        weight = compute_class_weight(estimator.class_weight, classes=classes, y=classes)
    return torch.as_tensor(weight, dtype=torch.float32, device=estimator.device_)
