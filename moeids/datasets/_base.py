"""Machinery shared by the dataset loaders: path expansion, format detection, Bunch assembly.

Each loader describes its dataset with a :class:`DatasetSpec` (canonical feature order, rename
mapping, identifier columns) and one :class:`FileFormat` per supported file layout. A file is
read with pandas, its header names are stripped of whitespace (and a UTF-8 BOM) and renamed to
the canonical names, and its format is the first one whose required columns are all present.
"""

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.utils import Bunch

from moeids.features.canonical import PROFILE_ATTR

_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz")

#: Identifier column that re-saved CSVs often carry; it never belongs in ``data``.
PANDAS_INDEX_COLUMN = "Unnamed: 0"


@dataclass(frozen=True)
class FileFormat:
    """One supported file layout of a dataset.

    Parameters
    ----------
    name : str
        Human-readable name used in ``DESCR`` and in error messages.
    required : tuple of str
        Canonical column names that a file of this layout must have.
    labels : callable
        ``labels(frame, source) -> (attack_type, target)`` for one file's renamed frame.
    headerless_names : tuple of str
        Column names (as written in the original documentation) of files that have no
        header row; empty when the layout always has a header.
    profile : str or None
        Extractor profile of :mod:`moeids.features.vocabulary` that wrote this layout.
    """

    name: str
    required: tuple[str, ...]
    labels: Callable[[pd.DataFrame, str], tuple[pd.Series, pd.Series]]
    headerless_names: tuple[str, ...] = ()
    profile: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """What a loader needs to know about a dataset.

    Parameters
    ----------
    name : str
        Dataset name used in messages.
    formats : tuple of FileFormat
        Supported layouts, most specific first.
    rename : mapping
        Stripped original column name -> canonical name.
    features : tuple of str
        Canonical feature names, in canonical order.
    metadata : tuple of str
        Canonical identifier columns that go to ``metadata`` instead of ``data``.
    label_columns : tuple of str
        Columns holding labels; they are in ``frame`` but neither in ``data`` nor ``metadata``.
    descr : str
        Short description with the citation.
    clean : callable or None
        Optional ``clean(frame, source) -> frame`` applied to each file after renaming.
    """

    name: str
    formats: tuple[FileFormat, ...]
    rename: Mapping[str, str]
    features: tuple[str, ...]
    metadata: tuple[str, ...]
    label_columns: tuple[str, ...]
    descr: str
    clean: Callable[[pd.DataFrame, str], pd.DataFrame] | None = None


def shared_data_home():
    """Locate the folder of shared real datasets used by benchmarks.

    The environment variable ``MOEIDS_DATA`` wins; otherwise ``../shared/datasets`` relative
    to the repository root, then relative to the current directory.

    Returns
    -------
    path : pathlib.Path
        An existing folder.

    Raises
    ------
    FileNotFoundError
        If ``MOEIDS_DATA`` names a missing folder, or no candidate folder exists.

    Examples
    --------
    >>> import os, tempfile
    >>> from unittest import mock
    >>> from moeids.datasets import shared_data_home
    >>> folder = tempfile.mkdtemp()
    >>> with mock.patch.dict(os.environ, {"MOEIDS_DATA": folder}):
    ...     str(shared_data_home()) == folder
    True
    """
    env = os.environ.get("MOEIDS_DATA")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"MOEIDS_DATA={env!r} is not a folder")
        return path
    repo_root = Path(__file__).resolve().parents[2]
    candidates = [
        repo_root.parent / "shared" / "datasets",
        Path.cwd().parent / "shared" / "datasets",
    ]
    for path in candidates:
        if path.is_dir():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(f"no shared dataset folder found (tried {tried}); set MOEIDS_DATA")


def expand_paths(path, suffixes=None, what="file"):
    """Turn a file, a folder or a list of them into a list of files.

    Parameters
    ----------
    path : str, path-like or list of them
    suffixes : tuple of str, optional
        A folder contributes its files ending in one of these (any case), sorted by name;
        default: the dataset files ``*.csv``, ``*.csv.gz``, ``*.txt``, ``*.txt.gz``.
    what : str, default="file"
        What a file is, for the error messages (e.g. ``"capture file"``).

    Returns
    -------
    files : list of pathlib.Path
    """
    suffixes = _SUFFIXES if suffixes is None else tuple(suffixes)
    if isinstance(path, str | os.PathLike):
        items = [path]
    elif isinstance(path, list | tuple):
        items = list(path)
    else:
        raise TypeError(
            f"path must be a str, a path-like object or a list of them, got {type(path).__name__}"
        )
    if not items:
        raise ValueError("path is an empty list")
    files = []
    for item in items:
        if not isinstance(item, str | os.PathLike):
            raise TypeError(f"path entries must be str or path-like, got {item!r}")
        item = Path(item)
        if item.is_dir():
            found = sorted(
                p for p in item.iterdir() if p.is_file() and p.name.lower().endswith(suffixes)
            )
            if not found:
                raise ValueError(f"folder {str(item)!r} holds no {', '.join(suffixes)} file")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(f"no such {what} or folder: {str(item)!r}")
    return files


def _clean_name(name):
    return str(name).lstrip("\ufeff").strip()


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _missing_report(spec, columns):
    parts = []
    for fmt in spec.formats:
        missing = [c for c in fmt.required if c not in columns]
        shown = ", ".join(repr(c) for c in missing[:6]) + (", ..." if len(missing) > 6 else "")
        parts.append(f"{fmt.name} (missing {len(missing)} required columns: {shown})")
    headerless = sorted({len(f.headerless_names) for f in spec.formats if f.headerless_names})
    text = "; ".join(parts)
    if headerless:
        text += f"; or a headerless file with {' or '.join(map(str, headerless))} columns"
    return text


def _read_csv(source, **kwargs):
    return pd.read_csv(source, encoding="utf-8", encoding_errors="replace", **kwargs)


def _detect(spec, source):
    """Return ``(format, header_names or None)`` for one file, or raise ``ValueError``."""
    try:
        first = _read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{source}: file is empty, expected a {spec.name} file") from None
    fields = [_clean_name(v) for v in first.iloc[0]]
    renamed = {spec.rename.get(f, f) for f in fields}
    for fmt in spec.formats:
        if set(fmt.required) <= renamed:
            return fmt, None
    if any(_is_number(f) for f in fields):
        for fmt in spec.formats:
            if len(fmt.headerless_names) == len(fields):
                return fmt, fmt.headerless_names
    raise ValueError(
        f"{source} is not a {spec.name} file in a supported format; expected "
        f"{_missing_report(spec, renamed)}"
    )


def read_file(spec, source):
    """Read one file: returns ``(frame, attack_type, target, format)``."""
    fmt, names = _detect(spec, source)
    if names is None:
        frame = _read_csv(source, index_col=False, low_memory=False)
        frame.columns = [_clean_name(c) for c in frame.columns]
    else:
        frame = _read_csv(source, header=None, names=list(names), index_col=False, low_memory=False)
    frame = frame.rename(columns=spec.rename)
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise ValueError(f"{source}: column names {duplicated} occur twice after renaming")
    if spec.clean is not None:
        frame = spec.clean(frame, str(source))
    empty = frame.isna().all(axis=1)
    if empty.any():
        warnings.warn(
            f"{source}: dropped {int(empty.sum())} rows whose cells are all empty "
            f"(first at data row {int(empty.to_numpy().argmax())})",
            UserWarning,
            stacklevel=3,
        )
        frame = frame.loc[~empty].reset_index(drop=True)
    attack_type, target = fmt.labels(frame, str(source))
    return frame, attack_type, target, fmt


def require_labels(values, column, source):
    """Return ``values`` stripped as str; raise if a label cell is missing."""
    missing = values.isna()
    if missing.any():
        row = int(missing.to_numpy().argmax())
        raise ValueError(f"{source}: label column {column!r} is empty in data row {row}")
    return values.astype(str).str.strip()


def binary_target(values, column, source):
    """Validate a 0/1 label column and return it as int64."""
    numeric = pd.to_numeric(values, errors="coerce")
    bad = ~numeric.isin([0, 1])
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise ValueError(
            f"{source}: column {column!r} must hold 0 or 1, got {values.iloc[row]!r} "
            f"in data row {row}"
        )
    return numeric.astype("int64")


def check_consistent(attack_type, target, column, source):
    """Raise if the binary label disagrees with the class label (benign <=> 0)."""
    bad = (attack_type == "Benign") != (target == 0)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise ValueError(
            f"{source}: binary label {column!r}={int(target.iloc[row])} contradicts class "
            f"{attack_type.iloc[row]!r} in data row {row}"
        )


def load(spec, path):
    """Load one or more files of a dataset into a Bunch (see the public loaders)."""
    sources = expand_paths(path)
    parts = [read_file(spec, source) for source in sources]
    if len(parts) == 1:
        frame = parts[0][0]
    else:
        frame = pd.concat([p[0] for p in parts], ignore_index=True, sort=False)
    attack_type = pd.concat([p[1] for p in parts], ignore_index=True).astype(str)
    target = pd.concat([p[2] for p in parts], ignore_index=True).astype("int64")
    attack_type.index = target.index = frame.index
    attack_type.name, target.name = "attack_type", "target"

    label_cols = set(spec.label_columns)
    meta_set = {*spec.metadata, PANDAS_INDEX_COLUMN}
    meta_cols = [c for c in frame.columns if c in meta_set]
    canonical = [c for c in spec.features if c in frame.columns]
    known = set(canonical) | meta_set | label_cols
    extra = [c for c in frame.columns if c not in known]
    feature_names = canonical + extra

    loaded = "\n".join(
        f"  - {source} ({fmt.name}, {len(part)} rows)"
        for source, (part, _, _, fmt) in zip(sources, parts, strict=True)
    )
    # The extractor profile travels with the frames (``FeatureSplitter(profile="auto")`` reads
    # it) when every file has the same one; a mixed load has none.
    profiles = {p[3].profile for p in parts}
    if len(profiles) == 1 and None not in profiles:
        frame.attrs[PROFILE_ATTR] = profiles.pop()
    # reindex makes one independent copy (``frame[cols].copy()`` would make two)
    return Bunch(
        frame=frame,
        data=frame.reindex(columns=feature_names),
        target=target,
        attack_type=attack_type,
        metadata=frame.reindex(columns=meta_cols),
        feature_names=feature_names,
        DESCR=f"{spec.descr}\n\nLoaded {len(frame)} rows from:\n{loaded}\n",
    )
