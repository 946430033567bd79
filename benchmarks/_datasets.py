"""The one dataset registry of the benchmarks and the split every script but ``bench_moe.py``
uses (that one draws a stratified 75/25 split per seed).

Datasets (:data:`DATASETS`, real, from the shared folder; authors cited in each dataset's
PROVENANCE.md): CIC-IDS2017 (corrected, 42,209 rows, 16 classes), UNSW-NB15 (official
45-column subset, 4,528 rows), CICIoT2023 (merged 39-feature sample, 14,396 rows),
NSL-KDD (``KDDTrain+_20Percent``, 25,192 rows, 22 classes).

Split: stratified by attack type, 70 % train / 30 % test, ``random_state=SEED``; attack
types with fewer than 2 rows are stratified together. Quick mode then keeps a stratified
subsample of at most ``QUICK_MAX_TRAIN`` / ``QUICK_MAX_TEST`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from moeids import datasets as loaders

__all__ = [
    "BENIGN", "DATASETS", "QUICK_MAX_TEST", "QUICK_MAX_TRAIN", "SEED", "TEST_SIZE", "Dataset",
    "Split", "data_dir", "load_splits", "make_split",
]  # fmt: skip

SEED = 0
TEST_SIZE = 0.3
QUICK_MAX_TRAIN = 2000
QUICK_MAX_TEST = 2000
BENIGN = "Benign"  # every loader maps normal traffic to this attack type


@dataclass(frozen=True)
class Dataset:
    """One benchmark dataset: loader, file, FeatureSplitter preset, display name, source."""

    name: str
    title: str
    path: str
    preset: str
    source: str

    def load(self, data_dir):
        loader = getattr(loaders, f"load_{self.name}")
        return loader(Path(data_dir) / self.path)


DATASETS = {
    d.name: d
    for d in (
        Dataset("cicids2017", "CIC-IDS2017 (corrected)",
                "cic_ids2017/cicids2017_improved_sample.shared.csv.gz", "cicids2017",
                "shared sample of the Engelen et al. 2021/2022 re-extraction of Sharafaldin "
                "et al., ICISSP 2018"),
        Dataset("unsw_nb15", "UNSW-NB15 (official 45-col subset)",
                "unsw_nb15/UNSW_NB15_testing-set.subset4528.csv.gz", "unsw_nb15",
                "Moustafa & Slay, MilCIS 2015"),
        Dataset("ciciot2023", "CICIoT2023 (merged sample)",
                "ciciot2023/CICIoT2023_sample.shared.csv.gz", "ciciot2023",
                "Neto et al., Sensors 2023"),
        Dataset("nsl_kdd", "NSL-KDD (KDDTrain+_20Percent)", "nsl_kdd/KDDTrain+_20Percent.csv.gz",
                "nsl_kdd", "Tavallaee et al., CISDA 2009"),
    )
}  # fmt: skip


@dataclass
class Split:
    """Train/test parts of one dataset: raw feature frames, 0/1 targets, attack types."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    type_train: pd.Series
    type_test: pd.Series


def _strata(attack_type):
    """Attack types, with the ones too rare to stratify merged into one stratum."""
    counts = attack_type.map(attack_type.value_counts())
    return attack_type.where(counts >= 2, "(rare)")


def _subsample(split_parts, max_rows, seed):
    X, y, types = split_parts
    if len(X) <= max_rows:
        return X, y, types
    X, _, y, _, types, _ = train_test_split(
        X, y, types, train_size=max_rows, stratify=_strata(types), random_state=seed
    )
    return X, y, types


def make_split(bunch, quick, max_train=None):
    """The documented split of a loaded dataset (see the module docstring); ``max_train``
    caps the training rows (stratified subsample)."""
    X_train, X_test, y_train, y_test, t_train, t_test = train_test_split(
        bunch.data,
        bunch.target,
        bunch.attack_type,
        test_size=TEST_SIZE,
        stratify=_strata(bunch.attack_type),
        random_state=SEED,
    )
    cap = min(QUICK_MAX_TRAIN if quick else np.inf, max_train or np.inf)
    if cap < np.inf:
        X_train, y_train, t_train = _subsample((X_train, y_train, t_train), int(cap), SEED)
    if quick:
        X_test, y_test, t_test = _subsample((X_test, y_test, t_test), QUICK_MAX_TEST, SEED)
    return Split(X_train, X_test, y_train, y_test, t_train, t_test)


def load_splits(args, names=None):
    """``{name: (Dataset, Split)}`` for ``names`` (default ``args.datasets``), in order."""
    out = {}
    for name in names or args.datasets:
        dataset = DATASETS[name]
        out[name] = dataset, make_split(dataset.load(data_dir(args)), args.quick, args.max_train)
    return out


def data_dir(args):
    """``args.data``, else :func:`moeids.datasets.shared_data_home` ($MOEIDS_DATA or
    ``../shared/datasets``)."""
    return args.data if args.data is not None else loaders.shared_data_home()
