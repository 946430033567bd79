"""``moeids train``: fit FeatureSplitter + MoEClassifier on labelled flow files and save it.

Writes the model with ``moeids.save`` and a JSON card beside it (``MODEL.card.json``): the
library versions, the data files with their row and label counts, the parameters, the
validation metrics of the training history and the fit time. ``--benign`` appends the
deployment's own flows, believed benign, as benign training rows
(:func:`moeids.features.add_benign_flows`).
"""

from __future__ import annotations

import ast
import platform
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ._common import CommandError, add_command, check_writable, save_model, write_card
from ._io import expand_inputs, read_table
from ._labelled import LabelledFlows, add_labelled_arguments, read_labelled

__all__ = ["add_parser", "parse_settings", "train"]

_WORD = re.compile(r"[A-Za-z_][\w.:-]*")  # a bare word (device=cuda:1) is a string


def parse_settings(items) -> dict:
    """MoEClassifier parameters from ``--set PARAM=VALUE`` items, validated.

    A VALUE is read as a Python literal (``64``, ``0.5``, ``None``, ``{0: 1, 1: 5}``,
    ``'balanced'``); a bare word such as ``cpu`` is a string.

    Raises
    ------
    CommandError
        An item is not ``PARAM=VALUE``, names no MoEClassifier parameter, or its value is
        not a literal or not allowed; the message names the parameter.
    """
    from sklearn.utils._param_validation import InvalidParameterError

    from moeids import MoEClassifier

    valid = MoEClassifier().get_params()
    params = {}
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name:
            raise CommandError(f"--set {item!r}: expected PARAM=VALUE, e.g. --set epochs=20")
        if name not in valid:
            raise CommandError(
                f"--set {name}: MoEClassifier has no parameter {name!r}; "
                f"parameters: {', '.join(valid)}"
            )
        if _WORD.fullmatch(text) and text not in ("True", "False", "None"):
            params[name] = text
            continue
        try:
            params[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise CommandError(
                f"--set {name}: {text!r} is not a number, string or literal"
            ) from None
    try:
        MoEClassifier(**params)._validate_params()
    except InvalidParameterError as exc:
        raise CommandError(f"--set: {exc}") from None
    return params


def _validation(clf) -> dict:
    """Best validation epoch of stage 2 and the number of epochs run."""
    checked = [r for r in clf.history_ if r.get("val_loss") is not None]
    summary = {"epochs": len(clf.history_), "pretrain_epochs": len(clf.pretrain_history_)}
    if checked:
        best = min(checked, key=lambda r: r["val_loss"])
        summary["best_epoch"] = clf.history_.index(best) + 1
        summary.update({k: v for k, v in best.items() if k.startswith("val_")})
    return summary


def with_benign(flows, items) -> LabelledFlows:
    """``flows`` plus the flows of the files ``items`` as benign rows (``--benign``)."""
    from moeids.features import add_benign_flows

    paths = expand_inputs(items)
    parts = [read_table(path) for path in paths]
    own = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    try:
        X, target = add_benign_flows(flows.X, flows.target, own)
    except ValueError as exc:
        raise CommandError(f"--benign: {exc}") from None
    benign = pd.Series("Benign", index=range(len(own)), dtype=object)
    attack_type = pd.concat([flows.attack_type, benign], ignore_index=True)
    files = [
        {"path": str(path), "rows": len(part), "labels": {"Benign": len(part)}, "benign": True}
        for path, part in zip(paths, parts, strict=True)
    ]
    source = f"{flows.source} + {len(own)} benign flows (--benign)"
    return LabelledFlows(X, target, attack_type, flows.files + files, source, flows.preset)


def _card(args, flows, model, fit_seconds) -> dict:
    import torch

    import moeids

    clf = model[-1]
    return {
        "moeids_version": moeids.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "arguments": {
            "data": [str(d) for d in args.data],
            "dataset": args.dataset,
            "label": args.label,
            "benign": args.benign,
            "set": args.set,
        },
        "data": {
            "source": flows.source,
            "rows": len(flows.X),
            "labels": flows.attack_type.value_counts().to_dict(),
            "files": flows.files,
        },
        "classes": clf.classes_.tolist(),
        "feature_groups": model[0].feature_groups_,
        "parameters": {k: v for k, v in clf.get_params().items() if k != "verbose"},
        "splitter_parameters": model[0].get_params(),
        "validation": _validation(clf),
        "history": clf.history_,
        "fit_seconds": round(fit_seconds, 3),
        "device": str(clf.device_),
    }


def train(args) -> int:
    """Fit, save the model and its card; see ``moeids train --help``."""
    from sklearn.pipeline import make_pipeline

    from moeids import FeatureSplitter, MoEClassifier

    out = check_writable(args.out)
    params = {"verbose": args.verbose, **parse_settings(args.set)}
    flows = read_labelled(args.data, dataset=args.dataset, label=args.label)
    if args.benign:
        flows = with_benign(flows, args.benign)
    counts = flows.target.value_counts()
    if len(counts) < 2:
        seen = sorted(flows.attack_type.unique().tolist())[:10]
        raise CommandError(
            f"the labels of DATA ({flows.source}) are all {'attack' if 1 in counts else 'benign'}; "
            f"training needs both (values seen: {seen}; benign values: "
            "benign, normal, 0, ...)"
        )
    print(
        f"Training on {len(flows.X)} flows ({int(counts.get(1, 0))} attacks) from "
        f"{len(flows.files)} file(s), {flows.source}.",
        flush=True,
    )
    model = make_pipeline(FeatureSplitter(feature_groups=flows.preset), MoEClassifier(**params))
    start = time.perf_counter()
    model.fit(flows.X, flows.target)
    fit_seconds = time.perf_counter() - start
    save_model(model, out)
    card = write_card(out, _card(args, flows, model, fit_seconds))
    validation = _validation(model[-1])
    f1 = validation.get("val_f1")
    print(
        f"Trained in {fit_seconds:.1f} s ({validation['epochs']} epochs"
        + (f", best validation F1 {f1:.4f}" if f1 is not None else "")
        + f"). Model: {out}  card: {card}"
    )
    return 0


def add_parser(commands) -> None:
    """Register ``moeids train`` on the ``commands`` subparsers."""
    run = add_command(
        commands,
        "train",
        help="fit a detector on labelled flow files and save it",
        description=(
            "Fit FeatureSplitter + MoEClassifier on labelled flows and save the model with a\n"
            "JSON card beside it (MODEL.card.json: versions, data, parameters, validation\n"
            "metrics, fit time). DATA is files, folders or globs of CSV/Parquet files, either\n"
            "in the layout of a supported dataset (--dataset) or with a label column (--label)\n"
            "whose benign values are benign, normal, 0 or false (any case); other values are\n"
            "attacks. --benign appends flows of the deployment's own sensor that are believed\n"
            "benign (no label needed) as benign rows: canonical names, the features their\n"
            "extractor computes differently missing (moeids.features.add_benign_flows)."
        ),
        example="""
            moeids train CICIDS2017/*.csv --out ids.safetensors
            moeids train flows.parquet --label Label --out ids.safetensors --set epochs=20
            moeids train CICIDS2017/*.csv --benign own/*.csv --out ids.safetensors
        """,
    )
    run.add_argument("data", nargs="+", metavar="DATA", help="CSV/Parquet files, folders, globs")
    run.add_argument("--out", required=True, type=Path, help="model file to write (required)")
    add_labelled_arguments(run)
    run.add_argument(
        "--benign",
        nargs="+",
        metavar="FLOWS",
        help="files, folders or globs of the deployment's own flows believed benign, added to "
        "the training data as benign (default: none)",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PARAM=VALUE",
        help="a MoEClassifier parameter, repeatable (default: none, the class defaults)",
    )
    run.add_argument(
        "--verbose", type=int, default=1, help="0 quiet, 1 one line per epoch and progress bars"
    )
    run.set_defaults(handler=train)
