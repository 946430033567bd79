"""Flow files in and decision files out, in chunks of bounded size.

:func:`expand_inputs` turns files, folders and globs into a list of CSV/Parquet files;
:func:`iter_chunks` reads them as DataFrames of at most ``chunk_size`` rows (CSV through
pandas' ``chunksize``, Parquet through pyarrow's ``iter_batches``), so memory does not grow
with the data; :class:`ChunkWriter` appends DataFrames to one CSV, Parquet or JSON-lines file.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ._common import CommandError

__all__ = [
    "CSV_SUFFIXES",
    "OUTPUT_FORMATS",
    "PARQUET_SUFFIXES",
    "ChunkWriter",
    "count_rows",
    "expand_inputs",
    "input_format",
    "iter_chunks",
    "iter_file_chunks",
    "output_format",
    "read_table",
]

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst", ".txt", ".txt.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Output suffix -> format written by :class:`ChunkWriter`.
OUTPUT_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("Parquet files need pyarrow: pip install 'moeids[parquet]'") from exc
    return pq


def input_format(path) -> str | None:
    """``"csv"`` or ``"parquet"`` from a file name's suffix, None for other files."""
    name = Path(path).name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _supported():
    return ", ".join((*CSV_SUFFIXES, *PARQUET_SUFFIXES))


def expand_inputs(items) -> list[Path]:
    """Files named by a file, a folder (its CSV/Parquet files) or a glob, in order.

    Parameters
    ----------
    items : str, path-like or list of them
        Each a file, a folder (its files with a CSV or Parquet suffix, sorted by name) or a
        glob pattern such as ``"flows/2024-*.parquet"`` (matches sorted by name).

    Returns
    -------
    paths : list of Path
        In the order given; within a folder or glob, sorted.

    Raises
    ------
    CommandError
        An item matches nothing, a folder holds no CSV/Parquet file, or a file has an
        unsupported suffix.
    """
    if isinstance(items, str | Path):
        items = [items]
    paths = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and input_format(p))
            if not found:
                raise CommandError(f"folder {str(path)!r} holds no file ending {_supported()}")
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True))
            found = [p for p in found if p.is_file()]
            if not found:
                raise CommandError(f"no such file, folder or glob match: {str(item)!r}")
        for file in found:
            if input_format(file) is None:
                raise CommandError(f"{str(file)!r} is not a CSV or Parquet file ({_supported()})")
        paths.extend(found)
    return paths


def _read_csv(path, **kwargs):
    # Dataset CSVs carry stray non-UTF-8 bytes in label text; the loaders read them the same way.
    return pd.read_csv(path, encoding="utf-8", encoding_errors="replace", **kwargs)


def read_table(path) -> pd.DataFrame:
    """The whole of one CSV or Parquet file as a DataFrame."""
    try:
        if input_format(path) == "parquet":
            return _pyarrow_parquet().read_table(path).to_pandas()
        return _read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise CommandError(f"{path}: file is empty") from None


def iter_file_chunks(path, chunk_size: int) -> Iterator[pd.DataFrame]:
    """DataFrames of at most ``chunk_size`` rows of one CSV or Parquet file, in file order.

    Parquet is read batch by batch (``ParquetFile.iter_batches``), which holds at most
    one row group in memory besides the batch; pyarrow may end a batch early at a row-group
    boundary, so a file yields between ``ceil(rows / chunk_size)`` and
    ``sum(ceil(group_rows / chunk_size))`` chunks.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if input_format(path) == "parquet":
        parquet = _pyarrow_parquet().ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=chunk_size):
            yield batch.to_pandas()
        return
    try:
        with _read_csv(path, chunksize=chunk_size) as reader:
            yield from reader
    except pd.errors.EmptyDataError:
        raise CommandError(f"{path}: file is empty") from None


def iter_chunks(paths, chunk_size: int) -> Iterator[pd.DataFrame]:
    """DataFrames of at most ``chunk_size`` rows of the files in ``paths``, file after file.

    Parameters
    ----------
    paths : list of path-like
        CSV and Parquet files (see :func:`expand_inputs`).
    chunk_size : int
        Most rows per chunk; a chunk never spans two files.

    Yields
    ------
    chunk : DataFrame of shape (<= chunk_size, n_columns)
        Index: the row's number in the concatenation of all files (0, 1, ...), so the
        chunks put together keep the input's row order; ``chunk.attrs["source"]`` is
        the file's path (for messages). Empty chunks are skipped.
    """
    start = 0
    for path in paths:
        for chunk in iter_file_chunks(path, chunk_size):
            if len(chunk) == 0:
                continue
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            chunk.attrs["source"] = str(path)
            start += len(chunk)
            yield chunk


def count_rows(paths) -> int | None:
    """Total rows when every file is Parquet (from its metadata), else None."""
    if not all(input_format(p) == "parquet" for p in paths):
        return None
    pq = _pyarrow_parquet()
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def output_format(path) -> str:
    """The format written for ``path``, from its suffix; CommandError for other suffixes."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise CommandError(
            f"--out {str(path)!r}: unknown suffix {suffix!r}; use one of "
            + ", ".join(OUTPUT_FORMATS)
        )
    return OUTPUT_FORMATS[suffix]


def _list_columns(frame):
    return [
        c for c in frame.columns if frame[c].dtype == object and isinstance(frame[c].iat[0], list)
    ]


class ChunkWriter:
    """Append DataFrames to one CSV, Parquet or JSON-lines file (format from the suffix).

    The index is not written. In CSV, list cells (``missing_features``) are JSON arrays;
    Parquet keeps them as lists of strings. Use as a context manager: on an error the
    partly written file is removed, so a file that exists is complete.

    Parameters
    ----------
    path : str or path-like
        Output file; its suffix picks the format (:data:`OUTPUT_FORMATS`).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.format = output_format(self.path)
        self.rows = 0
        self._file = None
        self._parquet = None

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame``'s rows (same columns in every call)."""
        if len(frame) == 0:
            return
        if self.format == "parquet":
            self._write_parquet(frame)
        elif self.format == "csv":
            frame = frame.copy()
            for column in _list_columns(frame):
                frame[column] = [json.dumps(v) for v in frame[column]]
            if self._file is None:
                self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            frame.to_csv(self._file, index=False, header=self.rows == 0)
        else:
            if self._file is None:
                self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
            text = frame.to_json(orient="records", lines=True)
            self._file.write(text if text.endswith("\n") else text + "\n")
        self.rows += len(frame)

    def _write_parquet(self, frame):
        import pyarrow as pa

        pq = _pyarrow_parquet()
        if self._parquet is None:
            schema = pa.Schema.from_pandas(frame, preserve_index=False)
            for column in _list_columns(frame):  # an all-empty first chunk infers list<null>
                index = schema.get_field_index(column)
                schema = schema.set(index, pa.field(column, pa.list_(pa.string())))
            self._parquet = pq.ParquetWriter(self.path, schema)
        table = pa.Table.from_pandas(frame, schema=self._parquet.schema, preserve_index=False)
        self._parquet.write_table(table)

    def close(self) -> None:
        """Finish the file (Parquet writes its footer here)."""
        if self._parquet is not None:
            self._parquet.close()
        if self._file is not None:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        if exc_type is not None:
            self.path.unlink(missing_ok=True)
