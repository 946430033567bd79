"""What the benchmark scripts share: the datasets and splits (from ``_datasets``), the
compared models (one XGBoost baseline), metrics, output pages and the command-line
convention of :func:`add_common_arguments`: ``--data DIR`` (default ``$MOEIDS_DATA`` or
``../shared/datasets``), ``--out`` (a folder; single-page scripts also take the ``.md``
file), ``--quick``, ``--datasets NAME ...``, ``--max-train N``; ``--seeds`` where a script
repeats over seeds. Scripts use it as ``import _common as C``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import sklearn
import torch
from _datasets import (  # noqa: F401  (re-exported: the scripts use C.<name>)
    BENIGN,
    DATASETS,
    QUICK_MAX_TEST,
    QUICK_MAX_TRAIN,
    SEED,
    TEST_SIZE,
    Dataset,
    Split,
    data_dir,
    load_splits,
    make_split,
)
from _registry import require
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

import moeids
from moeids import FeatureSplitter, MoEClassifier

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


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


def moe_params(*, seed=SEED):
    """MoEClassifier parameters: library defaults on the CPU (quick mode too: fewer rows)."""
    return {"random_state": seed, "device": "cpu"}


def xgb_params(*, seed=SEED):
    """The one XGBoost baseline: library defaults, with the torch threads and a seed."""
    return {"random_state": seed, "n_jobs": torch.get_num_threads()}


def xgb_description():
    """The XGBoost baseline of :func:`xgb_params`, in words, for the pages."""
    try:
        xgb_version = version("xgboost")
    except PackageNotFoundError:
        xgb_version = "(not installed)"
    return (
        f"`XGBClassifier` library defaults of xgboost {xgb_version} (100 trees, depth 6, "
        "learning rate 0.3, `hist`; `random_state` = seed, `n_jobs` = torch threads)"
    )


def models_description():
    """The sentence that names the compared models' parameters on every page."""
    return (
        f"MoE: `MoEClassifier` library defaults (`random_state={SEED}`, CPU); XGBoost: "
        f"{xgb_description()}; each after `FeatureSplitter(preset)`."
    )


def splitter(dataset, **kwargs):
    return FeatureSplitter(dataset.preset, **kwargs)


def xgboost(dataset, *, seed=SEED, **splitter_params):
    """FeatureSplitter (``splitter_params``) + the XGBoost baseline of :func:`xgb_params`."""
    from xgboost import XGBClassifier

    return Pipeline([
        ("split", splitter(dataset, **splitter_params)),
        ("xgb", EncodedLabels(XGBClassifier(**xgb_params(seed=seed)))),
    ])  # fmt: skip


def make_models(dataset, *, seed=SEED):
    """The four compared models, unfitted, each taking the raw feature DataFrame.

    - ``MoE``: FeatureSplitter + MoEClassifier (tabular FT-Transformer + temporal 1D CNN).
    - ``XGBoost``: FeatureSplitter (missing cells stay NaN) + XGBClassifier.
    - ``FT-Transformer``: the tabular expert alone, reading every feature (the MoE with
      the temporal columns handed to the tabular expert: one expert, no gate choice).
    - ``1D-CNN (temporal)``: the temporal expert alone, on the timing features only.
    """
    params = moe_params(seed=seed)
    return {
        "MoE": Pipeline([("split", splitter(dataset)), ("moe", MoEClassifier(**params))]),
        "XGBoost": xgboost(dataset, seed=seed),
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


def xgb_zero_fill(dataset, *, seed=SEED):
    """XGBoost whose missing cells are filled with the raw value 0 (FeatureSplitter "zero")."""
    return xgboost(dataset, seed=seed, missing="zero")


def binary_scores(y_true, y_pred):
    """F1, precision and recall of the attack class (1) and the FN / FP counts of 0/1 labels."""
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    return {
        "f1": f1_score(y_true, y_pred, zero_division=0),
        "precision": precision_score(y_true, y_pred, zero_division=0),
        "recall": recall_score(y_true, y_pred, zero_division=0),
        "fn": int(fn),
        "fp": int(fp),
    }


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
    mode = (
        f"**Quick mode**: at most {QUICK_MAX_TRAIN} training / {QUICK_MAX_TEST} test rows "
        "per dataset (stratified), fewer random draws. Numbers are indicative only."
        if args.quick
        else "Full mode: the documented split of each dataset."
    )
    if args.max_train is not None:
        mode += f" Training rows capped at {args.max_train} per dataset (stratified)."
    return (
        f"# {title}\n\n"
        f"Produced by `{cmd}` (do not edit by hand; rerun the command).\n\n"
        f"{mode} Split: stratified by attack type, {int((1 - TEST_SIZE) * 100)} % train / "
        f"{int(TEST_SIZE * 100)} % test, seed {SEED} (see `benchmarks/_datasets.py`). "
        f"Models: {models_description()}\n"
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


def page_path(out, name):
    """Where a single-page script writes: ``out`` if it names a ``.md`` file, else
    ``out / name``."""
    out = Path(out)
    return out if out.suffix == ".md" else out / name


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def add_common_arguments(parser, *, quick=True, datasets=True, max_train=True):
    """The convention of every script: ``--data``, ``--out``, and where they apply
    ``--quick``, ``--datasets`` and ``--max-train``. Returns ``parser``."""
    parser.add_argument(
        "--data", type=Path, default=None, metavar="DIR",
        help="folder of the shared datasets (default: $MOEIDS_DATA or ../shared/datasets)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=RESULTS, metavar="PATH",
        help="output folder; a script that writes one page also takes its .md path "
        "(default: docs/results)",
    )  # fmt: skip
    if quick:
        parser.add_argument(
            "--quick", action="store_true",
            help="quick mode: subsampled rows, fewer epochs and draws",
        )  # fmt: skip
    if datasets:
        parser.add_argument(
            "--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS),
            metavar="NAME", help="datasets to run: %(choices)s (default: %(default)s)",
        )  # fmt: skip
    if max_train:
        parser.add_argument(
            "--max-train", type=int, default=None, metavar="N",
            help="cap the training rows per dataset (stratified subsample)",
        )  # fmt: skip
    return parser


def make_parser(description, **options):
    """An ``ArgumentParser`` with :func:`add_common_arguments` (``options``) added."""
    return add_common_arguments(argparse.ArgumentParser(description=description), **options)


def parse_args(parser, script, argv=None):
    """Parse ``argv``, then exit with the install command if ``script`` lacks a module
    (:func:`_registry.require`), before any data is loaded."""
    args = parser.parse_args(argv)
    require(script)
    return args


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
