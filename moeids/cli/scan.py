"""``moeids scan``: packet captures -> flows -> verdicts, with the flagged flows listed.

Extracts flows from a capture (or a folder of captures) with :func:`moeids.flows.read_pcap`,
scores them with :func:`moeids.scoring.score_flows` and prints the flows that the model flags:
5-tuple, start time, attack probability, gate weights and the share of the model's features
that the extractor provided. The exit status is 1 when any flow is flagged, 0 when none is and
2 on a usage error, so that a script can act on it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ._common import CommandError, add_allow_pickle, add_command, load_model_arg

_DESCRIPTION = """\
Extract flows from packet captures (NFStream), score them with a fitted model and list the
flows it flags: 5-tuple, start time, attack probability, gate weights and the share of the
model's features that the extractor provided, then a one-line summary."""

_EXAMPLE = """
    moeids scan capture.pcap --model ids.safetensors
    moeids scan captures/ --model ids.safetensors --out verdicts.csv

exit status: 0 nothing flagged, 1 at least one flow flagged, 2 usage error."""

_FIVE_TUPLE = ["capture", "src_ip", "src_port", "dst_ip", "dst_port", "protocol", "first_seen"]
_BATCH = 8192  # flows scored per step of the progress bar


def _flagged(model, flows, decisions):
    """Boolean mask of the flows that ``model`` calls attacks."""
    from sklearn.model_selection import FixedThresholdClassifier

    if isinstance(model, FixedThresholdClassifier):
        return model.predict(flows) == model.classes_[1]
    labels = decisions["label"].astype(str).str.lower()
    return ~labels.isin(["benign", "0", "normal"]).to_numpy()


def _score(model, flows, progress):
    """score_flows over batches, with the flagged mask and the share of features present."""
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import FixedThresholdClassifier
    from tqdm.auto import tqdm

    from moeids.scoring import score_flows, split_model

    inner = model.estimator if isinstance(model, FixedThresholdClassifier) else model
    n_features = split_model(inner)[1].n_features_in_
    parts, flagged = [], []
    starts = range(0, len(flows), _BATCH)
    for start in tqdm(starts, desc="scoring", unit=" batches", disable=not progress):
        batch = flows.iloc[start : start + _BATCH]
        decisions = score_flows(inner, batch)
        parts.append(decisions)
        flagged.append(_flagged(model, batch, decisions))
    decisions = pd.concat(parts) if parts else score_flows(inner, flows)
    decisions["flagged"] = np.concatenate(flagged) if flagged else np.zeros(0, dtype=bool)
    decisions["features_present"] = 1 - decisions["missing_features"].map(len) / n_features
    return decisions, n_features


def _table(metadata, decisions):
    """One row per flow: 5-tuple, start, probability, gates, features present, flagged."""
    import pandas as pd

    proba = [c for c in decisions.columns if c.startswith(("attack_probability", "proba_"))]
    shown = ["label", *proba, "gate_tabular", "gate_temporal", "features_present", "flagged"]
    table = pd.concat([metadata.reindex(columns=_FIVE_TUPLE), decisions[shown]], axis=1)
    table["missing_features"] = decisions["missing_features"].map(";".join)
    return table


def _summary(table, n_captures, n_features, seconds):
    flagged = int(table["flagged"].sum())
    share = flagged / len(table) if len(table) else 0.0
    present = float(table["features_present"].mean()) if len(table) else float("nan")
    return {
        "flows": len(table),
        "captures": n_captures,
        "flagged": flagged,
        "flagged_share": share,
        "features_present_mean": present,
        "model_features": n_features,
        "seconds": seconds,
    }


def _print_text(table, summary, limit):
    flagged = table[table["flagged"]].drop(columns=["flagged", "missing_features"])
    if len(flagged):
        print(f"Flagged flows ({min(limit, len(flagged))} of {len(flagged)} shown):")
        print(flagged.head(limit).to_string(float_format=lambda v: f"{v:.4f}"))
        print()
    print(
        f"{summary['flows']} flows in {summary['captures']} capture(s): {summary['flagged']} "
        f"flagged ({summary['flagged_share']:.1%}); on average "
        f"{summary['features_present_mean']:.0%} of the model's {summary['model_features']} "
        f"features present; {summary['seconds']:.1f} s"
    )
    if summary["flows"] and summary["features_present_mean"] == 0:
        print(
            "warning: the extractor provided none of the model's features; its verdicts rest "
            "on no input (was the model trained on another extractor's column names?)"
        )


def scan(args) -> int:
    """Extract, score and report; see ``moeids scan --help``."""
    from moeids.flows import capture_paths, read_pcap

    start = time.perf_counter()
    sources = capture_paths(args.capture)
    model = load_model_arg(args.model, args.allow_pickle)
    big = any(p.stat().st_size > args.progress_mb * 2**20 for p in sources)
    flows = read_pcap(sources, progress=big, idle_timeout=args.idle_timeout)
    try:
        decisions, n_features = _score(model, flows.data, progress=big)
    except ValueError as exc:  # e.g. the model shares no column with the extractor's flows
        raise CommandError(f"the model cannot score these flows: {exc}") from exc
    table = _table(flows.metadata, decisions)
    summary = _summary(table, len(sources), n_features, time.perf_counter() - start)
    if args.out is not None:
        _write(table, args.out, args.json)
    if args.json:
        flagged = table[table["flagged"]].drop(columns=["flagged"]).head(args.limit)
        records = json.loads(flagged.to_json(orient="records", date_format="iso"))
        print(json.dumps({"summary": summary, "flagged": records}))
    else:
        _print_text(table, summary, args.limit)
    return 1 if summary["flagged"] else 0


def _write(table, path, as_json):
    """Every flow's verdict to ``path``: JSON lines with ``--json``, else CSV."""
    if as_json:
        table.to_json(path, orient="records", lines=True, date_format="iso")
    else:
        table.to_csv(path, index=False)


def add_parser(commands) -> None:
    """Register ``moeids scan`` on the ``commands`` subparsers."""
    run = add_command(
        commands,
        "scan",
        help="extract flows from packet captures, score them and list the flagged ones",
        description=_DESCRIPTION,
        example=_EXAMPLE,
    )
    run.add_argument(
        "capture", nargs="+", type=Path, help="pcap/pcapng file(s) or folder(s) of them"
    )
    run.add_argument(
        "--model",
        type=Path,
        required=True,
        help="model file written by moeids train / moeids.save (required)",
    )
    add_allow_pickle(run)
    run.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write every flow's verdict to this file: CSV, JSON lines with --json (default: none)",
    )
    run.add_argument(
        "--json", action="store_true", help="print one JSON object, not a table (default: off)"
    )
    run.add_argument(
        "--limit", type=int, default=50, help="flagged flows shown at most (default: %(default)s)"
    )
    run.add_argument(
        "--idle-timeout",
        type=int,
        default=120,
        help="seconds of silence that end a flow (default: %(default)s)",
    )
    run.add_argument(
        "--progress-mb", type=float, default=50.0,
        help="show progress bars when a capture is larger than this many MiB "
        "(default: %(default)s)",
    )  # fmt: skip
    run.set_defaults(handler=scan)
