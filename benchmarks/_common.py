"""What the benchmark scripts share: datasets and splits, the models compared, and output.

Datasets (real, from the shared folder; authors cited in each dataset's PROVENANCE.md):

========== ============================================== ========================================
name       file (relative to the data folder)             source
========== ============================================== ========================================
cicids2017 cic_ids2017/cicids2017_improved_sample.shared  CIC-IDS2017 (Sharafaldin et al. 2018),
           .csv.gz                                        corrected re-extraction (Engelen et al.
                                                          2021), 42,209 rows, 16 classes
unsw_nb15  unsw_nb15/UNSW_NB15_testing-set.subset4528     UNSW-NB15 (Moustafa & Slay 2015), official
           .csv.gz                                        45-column format, 4,528 rows
ciciot2023 ciciot2023/CICIoT2023_sample.shared.csv.gz     CICIoT2023 (Neto et al. 2023), 39-feature
                                                          merged CSV, 14,396 rows, 10 families
nsl_kdd    nsl_kdd/KDDTrain+_20Percent.csv.gz             NSL-KDD (Tavallaee et al. 2009), 25,192
                                                          rows, 22 classes
========== ============================================== ========================================

Split (every script, every dataset): stratified by attack type, 70 % train / 30 % test,
``random_state=SEED``; attack types with fewer than 2 rows are stratified together. Quick mode
then keeps a stratified subsample of at most ``QUICK_MAX_TRAIN`` / ``QUICK_MAX_TEST`` rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

import moeids
from moeids import FeatureSplitter, MoEClassifier
from moeids import datasets as loaders

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
SEED = 0
TEST_SIZE = 0.3
QUICK_MAX_TRAIN = 2000
QUICK_MAX_TEST = 2000
BENIGN = "Benign"  # every loader maps normal traffic to this attack type


@dataclass(frozen=True)
class Dataset:
    """One benchmark dataset: loader, file, FeatureSplitter preset and display name."""

    name: str
    title: str
    path: str
    preset: str

    def load(self, data_dir):
        loader = getattr(loaders, f"load_{self.name}")
        return loader(Path(data_dir) / self.path)


DATASETS = {
    d.name: d
    for d in (
        Dataset(
            "cicids2017",
            "CIC-IDS2017 (corrected)",
            "cic_ids2017/cicids2017_improved_sample.shared.csv.gz",
            "cicids2017",
        ),
        Dataset(
            "unsw_nb15",
            "UNSW-NB15 (official 45-col subset)",
            "unsw_nb15/UNSW_NB15_testing-set.subset4528.csv.gz",
            "unsw_nb15",
        ),
        Dataset(
            "ciciot2023",
            "CICIoT2023 (merged sample)",
            "ciciot2023/CICIoT2023_sample.shared.csv.gz",
            "ciciot2023",
        ),
        Dataset("nsl_kdd", "NSL-KDD (KDDTrain+_20Percent)", "nsl_kdd/KDDTrain+_20Percent.csv.gz",
                "nsl_kdd"),
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


# --------------------------------------------------------------------------- models


class EncodedLabels(ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` on label codes 0..k-1 (XGBoost needs them) and decode predictions.

    Parameters
    ----------
    estimator : classifier
        Cloned and fitted on ``np.unique(y, return_inverse=True)[1]``.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y):
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(X, codes)
        return self

    def predict_proba(self, X):
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def tabular_only(frame):
    """Rename ``temporal__*`` columns to ``tabular__*``: the tabular expert reads them all."""
    return frame.rename(columns=lambda c: "tabular__" + c[10:] if c.startswith("temporal__") else c)


def temporal_only(frame):
    """Keep the ``temporal__*`` columns: only the temporal expert has input."""
    return frame[[c for c in frame.columns if c.startswith("temporal__")]]


def moe_params():
    """MoEClassifier parameters: library defaults (in quick mode too: fewer rows only)."""
    return {"random_state": SEED, "device": "cpu"}


def xgb_params(quick):
    return {
        "n_estimators": 100 if quick else 300,
        "max_depth": 6,
        "learning_rate": 0.1,
        "tree_method": "hist",
        "n_jobs": 2,
        "random_state": SEED,
    }


def splitter(dataset, **kwargs):
    return FeatureSplitter(dataset.preset, **kwargs)


def make_models(dataset, quick):
    """The four compared models, unfitted, each taking the raw feature DataFrame.

    - ``MoE``: FeatureSplitter + MoEClassifier (tabular FT-Transformer + temporal 1D CNN).
    - ``XGBoost``: FeatureSplitter (missing cells stay NaN) + XGBClassifier.
    - ``FT-Transformer``: the tabular expert alone, reading every feature (the MoE with
      the temporal columns handed to the tabular expert: one expert, no gate choice).
    - ``1D-CNN (temporal)``: the temporal expert alone, on the timing features only.
    """
    from xgboost import XGBClassifier

    params = moe_params()
    return {
        "MoE": Pipeline([("split", splitter(dataset)), ("moe", MoEClassifier(**params))]),
        "XGBoost": Pipeline([
            ("split", splitter(dataset)),
            ("xgb", EncodedLabels(XGBClassifier(**xgb_params(quick)))),
        ]),
        "FT-Transformer": Pipeline([
            ("split", splitter(dataset)),
            ("tabular_only", FunctionTransformer(tabular_only)),
            ("moe", MoEClassifier(**params)),
        ]),
        "1D-CNN (temporal)": Pipeline([
            ("split", splitter(dataset)),
            ("temporal_only", FunctionTransformer(temporal_only)),
            ("moe", MoEClassifier(**params)),
        ]),
    }  # fmt: skip


def xgb_zero_fill(dataset, quick):
    """XGBoost whose missing cells are filled with the raw value 0 (FeatureSplitter "zero")."""
    from xgboost import XGBClassifier

    return Pipeline([
        ("split", splitter(dataset, missing="zero")),
        ("xgb", EncodedLabels(XGBClassifier(**xgb_params(quick)))),
    ])  # fmt: skip


class ModelStore:
    """Fitted models shared by the scripts of one run, keyed by (dataset, model, task)."""

    def __init__(self):
        self.models = {}

    def put(self, key, model):
        self.models[key] = model

    def get(self, key, build, X, y):
        """The fitted model for ``key``; ``build()`` is fitted on ``(X, y)`` the first time."""
        if key not in self.models:
            start = time.perf_counter()
            self.models[key] = build().fit(X, y)
            print(f"  fitted {key} in {time.perf_counter() - start:.0f} s", flush=True)
        return self.models[key]


def best_of(function, repeat=7):
    """Shortest wall-clock time (s) of ``repeat`` calls of ``function()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_gflops(n=1024, repeat=5):
    """GFLOP/s of an ``n`` x ``n`` float32 matmul on the CPU (best of ``repeat``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    return 2 * n**3 / best_of(lambda: a @ b, repeat) / 1e9


class PeakMemory:
    """Peak resident memory (MiB) of this process inside a ``with`` block.

    Linux: the kernel's high-water mark (``VmHWM``) is reset on entry through
    ``/proc/self/clear_refs``, so the peak is the block's own. Elsewhere (or if the reset is
    refused) it is the process's lifetime peak from ``getrusage`` and ``scope`` says so.
    ``added`` is the peak minus the resident memory on entry (NaN without the reset).
    Torch's allocations are included (unlike ``tracemalloc``).
    """

    def __enter__(self):
        self.scope = "block"
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.baseline = self._status("VmRSS")
        except OSError:
            self.scope, self.baseline = "process lifetime", None
        return self

    def __exit__(self, *exc):
        if self.scope == "block":
            self.peak = self._status("VmHWM")
            self.added = self.peak - self.baseline
        else:
            import resource

            scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
            self.added = float("nan")
        return False

    @staticmethod
    def _status(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise OSError(f"{field} not in /proc/self/status")


# --------------------------------------------------------------------------- output


def command(argv=None):
    """The command line that reproduces this run, as a user would type it."""
    argv = sys.argv if argv is None else argv
    script = Path(argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return shlex.join(["python", str(script), *argv[1:]])


def environment():
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"moeids {moeids.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), scikit-learn {sklearn.__version__}, "
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} when the file was written (timings are only comparable "
        "at low load)"
    )


def header(title, cmd, args, extra=""):
    """Markdown preamble every results file starts with."""
    quick = args.quick
    mode = (
        f"**Quick mode**: at most {QUICK_MAX_TRAIN} training / {QUICK_MAX_TEST} test rows "
        f"per dataset (stratified), library-default MoE, {xgb_params(True)['n_estimators']} "
        "XGBoost trees, fewer random draws. Numbers are indicative only."
        if quick
        else "Full mode: the documented split of each dataset, library defaults."
    )
    if args.max_train is not None:
        mode += f" Training rows capped at {args.max_train} per dataset (stratified)."
    return (
        f"# {title}\n\n"
        f"Produced by `{cmd}` (do not edit by hand; rerun the command).\n\n"
        f"{mode} Split: stratified by attack type, {int((1 - TEST_SIZE) * 100)} % train / "
        f"{int(TEST_SIZE * 100)} % test, seed {SEED} (see `benchmarks/_common.py`).\n"
        f"Environment: {environment()}.\n\n{extra}"
    )


def markdown_table(frame, floats="{:.4f}", index=True):
    """A pipe table of ``frame``; floats formatted with ``floats``, ints as ints."""
    frame = frame.reset_index() if index else frame

    def cell(value):
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else floats.format(value)
        return str(value)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([head, rule, *rows]) + "\n"


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def add_common_arguments(parser):
    parser.add_argument(
        "--quick", action="store_true", help="subsample, fewer epochs and draws (< 10 min)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder of the shared datasets (default: $MOEIDS_DATA or ../shared/datasets)",
    )
    parser.add_argument(
        "--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS),
        help="datasets to run (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-train", type=int, default=None, metavar="N",
        help="cap the training rows per dataset (stratified subsample)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS, help="output folder")
    return parser


def moe_params_json(text):
    """``--moe-params`` value: a JSON dict of MoEClassifier parameters, validated at once
    (an argparse error naming the bad parameter, before any model is fitted)."""
    try:
        params = json.loads(text)
        if not isinstance(params, dict):
            raise ValueError(f"expected a JSON object, got {text!r}")
        MoEClassifier(**params)._validate_params()
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return params


def add_moe_params_argument(parser):
    parser.add_argument(
        "--moe-params", type=moe_params_json, default={}, metavar="JSON",
        help="non-default MoEClassifier parameters as a JSON dict, e.g. '{\"ema_decay\": 0.0}'",
    )  # fmt: skip


def data_dir(args):
    return args.data if args.data is not None else loaders.shared_data_home()
