"""CIC-IDS2017 loader: original MachineLearningCVE CSVs and the corrected re-extraction."""

import re
import warnings
from pathlib import Path

import numpy as np

from moeids.features.vocabulary import CANONICAL_FEATURES, PROFILES, REFERENCE

from ._base import DatasetSpec, FileFormat, load, require_labels

#: Canonical feature names (:data:`moeids.features.vocabulary.CANONICAL_FEATURES`): the
#: corrected re-extraction's, in its column order, identifier columns left out.
CICIDS2017_FEATURES = CANONICAL_FEATURES

_ORIGINAL = PROFILES["cicflowmeter-2017"]

#: Original CIC-IDS2017 column name (leading spaces stripped) -> canonical name, from the
#: ``cicflowmeter-2017`` profile of the feature vocabulary. Covers the MachineLearningCVE files
#: and the identifier columns of the GeneratedLabelledFlows files.
CICIDS2017_RENAME = {old: new for old, new in _ORIGINAL.names.items() if old != new}

_METADATA = ("id", "Flow ID", "Src IP", "Src Port", "Dst IP", "Timestamp", "Attempted Category")

# The corrected files add these columns; the original files lack them.
_CORRECTED_ONLY = _ORIGINAL.unavailable

# pandas names the second ``Fwd Header Length`` of the original files ``Fwd Header Length.1``.
_DUPLICATE = "Fwd Header Length.1"

#: Class names of the corrected re-extraction; original spellings are mapped onto them.
CICIDS2017_LABELS = (
    "Benign", "Botnet", "DDoS", "DoS GoldenEye", "DoS Hulk", "DoS Slowhttptest", "DoS Slowloris",
    "FTP-Patator", "Heartbleed", "Infiltration", "Infiltration - Portscan", "Portscan",
    "SSH-Patator", "Web Attack - Brute Force", "Web Attack - SQL Injection", "Web Attack - XSS",
)  # fmt: skip

_LABEL_LOOKUP = {name.lower(): name for name in CICIDS2017_LABELS} | {"bot": "Botnet"}
# U+FFFD (bytes 0x96 decoded as UTF-8), U+0096 (decoded as Latin-1), en dash (decoded as cp1252).
_DASH = re.compile("\\s*[\ufffd\u0096\u2013]\\s*")
_ATTEMPTED = re.compile(r"\s+-\s+attempted$", re.IGNORECASE)

_DESCR = """\
CIC-IDS2017 network flows (CICFlowMeter features), benign and attack traffic of 3-7 July 2017.

Sharafaldin, Habibi Lashkari & Ghorbani, "Toward Generating a New Intrusion Detection Dataset
and Intrusion Traffic Characterization", ICISSP 2018 (UNB CIC). Corrected re-extraction:
Engelen, Rimmer & Joosen, "Troubleshooting an Intrusion Detection Dataset: the CICIDS2017
Case Study", IEEE SPW/WTMC 2021, doi:10.1109/SPW53761.2021.00009; Liu, Engelen, Lynar, Essam
& Joosen, "Error Prevalence in NIDS datasets: A Case Study on CIC-IDS-2017 and CSE-CIC-IDS-2018",
IEEE CNS 2022. Column names are those of the corrected re-extraction; see docs/datasets.md."""


def normalize_cicids2017_label(values):
    """Map CIC-IDS2017 label spellings of both releases onto the corrected-release names.

    Strips whitespace, turns the mangled dash of the original files (``"Web Attack \\ufffd
    Brute Force"``) into ``" - "``, and matches case-insensitively against
    :data:`CICIDS2017_LABELS` (``BENIGN`` -> ``Benign``, ``PortScan`` -> ``Portscan``,
    ``Bot`` -> ``Botnet``, ``Web Attack - Sql Injection`` -> ``Web Attack - SQL Injection``).
    A ``" - Attempted"`` suffix of the corrected release is kept. Unknown names are returned
    stripped.

    Parameters
    ----------
    values : pandas.Series of str

    Returns
    -------
    labels : pandas.Series of str

    Examples
    --------
    >>> import pandas as pd
    >>> from moeids.datasets import normalize_cicids2017_label
    >>> labels = pd.Series([" BENIGN", "Web Attack \ufffd Brute Force", "Bot", "PortScan"])
    >>> normalize_cicids2017_label(labels).tolist()
    ['Benign', 'Web Attack - Brute Force', 'Botnet', 'Portscan']
    """

    def one(label):
        label = _DASH.sub(" - ", label.strip())
        match = _ATTEMPTED.search(label)
        base = label[: match.start()] if match else label
        base = _LABEL_LOOKUP.get(base.lower(), base)
        return base + " - Attempted" if match else base

    uniques = values.unique()
    return values.map(dict(zip(uniques, map(one, uniques), strict=True)))


def _labels(frame, source):
    attack_type = normalize_cicids2017_label(require_labels(frame["Label"], "Label", source))
    return attack_type, (attack_type != "Benign").astype("int64")


def _drop_duplicate_header_length(frame, source):
    # The original CICFlowMeter wrote ``Fwd Header Length`` twice (columns 35 and 56) with the
    # same values; the corrected re-extraction has it once. Drop the copy only when it is one.
    if _DUPLICATE not in frame.columns:
        return frame
    first, second = frame["Fwd Header Length"].to_numpy(), frame[_DUPLICATE].to_numpy()
    if np.array_equal(first, second, equal_nan=first.dtype.kind == "f"):
        return frame.drop(columns=_DUPLICATE)
    warnings.warn(
        f"{source}: the two 'Fwd Header Length' columns differ; the second is kept as "
        f"{_DUPLICATE!r}",
        UserWarning,
        stacklevel=4,
    )
    return frame


_SPEC = DatasetSpec(
    name="CIC-IDS2017",
    formats=(
        FileFormat(
            name="corrected re-extraction (Engelen et al.)",
            required=(*CICIDS2017_FEATURES, "Label"),
            labels=_labels,
            profile=REFERENCE,
        ),
        FileFormat(
            name="original MachineLearningCVE",
            required=(*(f for f in CICIDS2017_FEATURES if f not in _CORRECTED_ONLY), "Label"),
            labels=_labels,
            profile=_ORIGINAL.name,
        ),
    ),
    rename=CICIDS2017_RENAME,
    features=CICIDS2017_FEATURES,
    metadata=_METADATA,
    label_columns=("Label",),
    descr=_DESCR,
    clean=_drop_duplicate_header_length,
)


def load_cicids2017(path):
    """Load CIC-IDS2017 flows from original or corrected CSV files.

    Parameters
    ----------
    path : str, path-like or list of them
        A file, a folder (its ``*.csv``, ``*.csv.gz``, ``*.txt`` files, sorted) or a list.
        Original MachineLearningCVE files and corrected re-extraction files may be mixed; a
        column absent from one format (e.g. ``Protocol`` in the original files) is NaN for
        that format's rows.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``frame`` (n_rows, n_columns) every column read, canonical names; ``data``
        (n_rows, n_features) features incl. ``Dst Port`` and ``Protocol``; ``target``
        (n_rows,) 0 benign / 1 attack; ``attack_type`` (n_rows,) normalised class name;
        ``metadata`` identifier columns; ``feature_names``; ``DESCR``.

    Raises
    ------
    ValueError
        If a file is in neither format; the message lists the missing columns.

    Examples
    --------
    The CSV file bundled with the package (:func:`load_sample` reads it too):

    >>> from importlib.resources import files
    >>> from moeids.datasets import load_cicids2017
    >>> flows = load_cicids2017(files("moeids.datasets") / "data" / "cicids2017_sample.csv.gz")
    >>> flows.data.shape, flows.target.dtype, flows.attack_type.iloc[0]
    ((5064, 83), dtype('int64'), 'Benign')
    """
    return load(_SPEC, path)


_SAMPLE = Path(__file__).parent / "data" / "cicids2017_sample.csv.gz"


def load_sample():
    """Load the bundled real sample of the corrected CIC-IDS2017 data (about 5,000 rows).

    A stratified random sample (every class present, fixed seed) of the shared corrected
    CIC-IDS2017 file; ``moeids/datasets/data/README.md`` says how it was drawn.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        As :func:`load_cicids2017`.

    Examples
    --------
    >>> flows = load_sample()
    >>> flows.data.shape, int(flows.target.sum())
    ((5064, 83), 4614)
    """
    bunch = load_cicids2017(_SAMPLE)
    bunch.DESCR = (
        "Bundled stratified sample of the corrected CIC-IDS2017 data "
        "(see moeids/datasets/data/README.md).\n\n" + bunch.DESCR
    )
    return bunch
