"""Labelled flows for ``moeids train`` and ``moeids evaluate``: a dataset's files or a label column.

Either the files are in the format of one of the :mod:`moeids.datasets` loaders (named, or
recognised from the first file's columns), or ``--label COLUMN`` names the column that holds
the label of any CSV/Parquet file, whose benign values are those of :data:`BENIGN_VALUES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from moeids import datasets
from moeids.datasets import _base, _cicids2017, _ciciot2023, _nsl_kdd, _rt_iot2022, _unsw_nb15

from ..features.names import clean_header
from ._common import CommandError
from ._io import expand_inputs, input_format, read_table

__all__ = [
    "BENIGN_VALUES",
    "DATASETS",
    "LabelledFlows",
    "add_labelled_arguments",
    "read_labelled",
]

#: Dataset name (also the FeatureSplitter preset) -> (loader, its file specification).
DATASETS = {
    "cicids2017": (datasets.load_cicids2017, _cicids2017._SPEC),
    "unsw_nb15": (datasets.load_unsw_nb15, _unsw_nb15._SPEC),
    "ciciot2023": (datasets.load_ciciot2023, _ciciot2023._SPEC),
    "rt_iot2022": (datasets.load_rt_iot2022, _rt_iot2022._SPEC),
    "nsl_kdd": (datasets.load_nsl_kdd, _nsl_kdd._SPEC),
}

#: Label values (stripped, lower case) read as benign with ``--label``; numbers: 0 is benign.
BENIGN_VALUES = frozenset(
    {"benign", "normal", "benigntraffic", "0", "false"}
    | {c.lower() for c in datasets.RT_IOT2022_BENIGN_CLASSES}
)


@dataclass
class LabelledFlows:
    """Flows with their labels, as read by :func:`read_labelled`.

    Attributes
    ----------
    X : DataFrame of shape (n_flows, n_columns)
        Raw flow columns (the label column left out).
    target : Series of shape (n_flows,)
        0 benign, 1 attack.
    attack_type : Series of shape (n_flows,)
        ``"Benign"`` or the attack's name (the label value).
    files : list of dict
        Per file: ``path``, ``rows`` and ``labels`` (count per attack type).
    source : str
        The dataset name, or ``label column 'NAME'``.
    preset : str
        The FeatureSplitter preset to train with (``"auto"`` for a label column).
    """

    X: pd.DataFrame
    target: pd.Series
    attack_type: pd.Series
    files: list
    source: str
    preset: str


def _detect_dataset(path) -> str:
    for name, (_, spec) in DATASETS.items():
        try:
            _base._detect(spec, path)
        except ValueError:
            continue
        return name
    raise CommandError(
        f"{path} is not a file of a known dataset ({', '.join(DATASETS)}); "
        "name its label column with --label COLUMN"
    )


def add_labelled_arguments(run) -> None:
    """Add ``--dataset`` and ``--label``: how :func:`read_labelled` finds the labels."""
    run.add_argument(
        "--dataset",
        choices=["auto", *DATASETS],
        default="auto",
        help="layout of the files; auto recognises it from the first file's columns",
    )
    run.add_argument(
        "--label",
        metavar="COLUMN",
        help="label column of files of any layout (default: none, the dataset's labels)",
    )


def _labels_from_column(values: pd.Series, label: str, path) -> tuple[pd.Series, pd.Series]:
    """(target, attack_type) of one file's label column; error naming the column on gaps."""
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(missing.argmax())
        raise CommandError(f"{path}: label column {label!r} is empty in data row {row}")
    if is_bool_dtype(values.dtype) or is_numeric_dtype(values.dtype):
        benign = values.to_numpy() == 0
        text = label + "=" + values.astype(str)
    else:
        text = values.astype(str).str.strip()
        benign = text.str.lower().isin(BENIGN_VALUES).to_numpy()
    attack_type = pd.Series(np.where(benign, "Benign", text), index=values.index, dtype=object)
    return pd.Series((~benign).astype("int64"), index=values.index), attack_type


def _read_with_label(path, label):
    frame = read_table(path)
    names = {clean_header(c): c for c in frame.columns}
    if label not in names:
        shown = ", ".join(repr(n) for n in list(names)[:12]) + (", ..." if len(names) > 12 else "")
        raise CommandError(f"{path}: no label column {label!r} (columns: {shown})")
    values = frame.pop(names[label])
    target, attack_type = _labels_from_column(values, label, path)
    return frame, target, attack_type


def _read_dataset(path, name):
    if input_format(path) == "parquet":
        raise CommandError(
            f"{path}: the dataset loaders read CSV; for Parquet name the label column with "
            "--label COLUMN"
        )
    bunch = DATASETS[name][0](path)
    return bunch.data, bunch.target, bunch.attack_type


def read_labelled(items, *, dataset="auto", label=None) -> LabelledFlows:
    """Read labelled flows from files, folders or globs.

    Parameters
    ----------
    items : list of str or path-like
        Inputs, as for :func:`moeids.cli._io.expand_inputs`.
    dataset : str
        ``"auto"`` (recognise the dataset from the first file's columns) or a name of
        :data:`DATASETS`. Ignored with ``label``.
    label : str or None
        The label column of CSV/Parquet files of any layout; benign values are those of
        :data:`BENIGN_VALUES` (or 0 in a numeric column), every other value is an attack.

    Returns
    -------
    flows : LabelledFlows
    """
    paths = expand_inputs(items)
    if label is not None:
        if dataset != "auto":
            raise CommandError("give either --dataset or --label, not both")
        parts = [_read_with_label(path, label) for path in paths]
        source, preset = f"label column {label!r}", "auto"
    else:
        name = _detect_dataset(paths[0]) if dataset == "auto" else dataset
        parts = [_read_dataset(path, name) for path in paths]
        source = preset = name
    files = [
        {"path": str(path), "rows": len(X), "labels": attack.value_counts().to_dict()}
        for path, (X, _, attack) in zip(paths, parts, strict=True)
    ]
    if len(parts) == 1:
        X, target, attack_type = parts[0]
    else:
        X = pd.concat([p[0] for p in parts], ignore_index=True, sort=False)
        target = pd.concat([p[1] for p in parts], ignore_index=True)
        attack_type = pd.concat([p[2] for p in parts], ignore_index=True)
    return LabelledFlows(X, target, attack_type, files, source, preset)
