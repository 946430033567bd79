"""``moeids demo``: train, evaluate and explain on the bundled real CIC-IDS2017 sample.

The demo trains ``FeatureSplitter + MoEClassifier`` on the real CIC-IDS2017 sample bundled
with the package, then prints the three views a user asks for before trusting a detector:
detection metrics, the gate weights per attack type, and the F1 when half of the features
are missing. It runs offline.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from ._common import add_command
from .evaluate import metrics_table


def demo(args) -> int:
    """Train, evaluate and explain on the bundled sample; see ``moeids demo --help``."""
    import pandas as pd
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from moeids import FeatureSplitter, MoEClassifier
    from moeids.analysis import gating_report, plot_gating, robustness_curve
    from moeids.datasets import load_sample
    from moeids.features.splitter import MissingFeaturesWarning

    pd.set_option("display.width", 120)
    flows = load_sample()
    print(
        f"Bundled sample: {len(flows.data)} real CIC-IDS2017 flows, "
        f"{flows.data.shape[1]} features, {flows.attack_type.nunique()} traffic types "
        "(Sharafaldin et al. 2018; corrected by Engelen et al. 2021)."
    )
    X_train, X_test, y_train, y_test, _, type_test = train_test_split(
        flows.data,
        flows.target,
        flows.attack_type,
        test_size=args.test_size,
        stratify=flows.attack_type,
        random_state=args.random_state,
    )
    model = make_pipeline(
        FeatureSplitter(),
        MoEClassifier(random_state=args.random_state, verbose=args.verbose, device=args.device),
    )
    start = time.perf_counter()
    model.fit(X_train, y_train)
    clf = model[-1]
    print(
        f"\nTrained on {len(X_train)} flows in {time.perf_counter() - start:.0f} s "
        f"({len(clf.pretrain_history_)} pretraining + {len(clf.history_)} training epochs "
        f"on {clf.device_})."
    )

    print("\n== Detection on held-out flows ==")
    proba = model.predict_proba(X_test)[:, 1]
    y_pred = model.predict(X_test)
    print(metrics_table(y_test, y_pred, proba).to_string())

    print("\n== Which expert the gate trusted, per traffic type ==")
    report = gating_report(model, X_test, type_test, y=y_test)
    print(report.to_string(float_format=lambda v: f"{v:.3f}"))

    print("\n== With features missing from the sensor export ==")
    curve = robustness_curve(
        model,
        X_test,
        y_test,
        fractions=(1.0, 0.5),
        n_draws=args.draws,
        random_state=args.random_state,
    )
    curve = curve.rename(columns={"fraction": "share_of_features_kept"})
    print(curve.to_string(float_format=lambda v: f"{v:.4f}"))

    print("\n== Explanation of five held-out flows: as exported, then without timing columns ==")
    first = type_test.groupby(type_test.to_numpy()).head(1)
    first = first.sort_values(key=lambda types: types != "Benign").head(5)  # benign first
    sample = X_test.loc[first.index]
    timing = model[0].feature_groups_["temporal"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeaturesWarning)
        for flows_shown in (sample, sample.drop(columns=timing)):
            explained = model[-1].explain(model[:-1].transform(flows_shown))
            explained.insert(0, "traffic", first)
            explained["missing_features"] = explained["missing_features"].map(len)
            print(explained.rename(columns={"missing_features": "n_missing"}).to_string())

    if args.out is not None:
        try:
            paths = plot_gating(model, X_test, type_test, args.out, y=y_test, prefix="demo_gating")
        except ImportError as exc:
            print(f"\nNo plots: {exc}")
        else:
            print("\nPlots: " + ", ".join(str(p) for p in paths))
    return 0


def add_parser(commands) -> None:
    """Register ``moeids demo`` on the ``commands`` subparsers."""
    run = add_command(
        commands,
        "demo",
        help="train, evaluate and explain on the bundled real CIC-IDS2017 sample",
        description=(
            "Train FeatureSplitter + MoEClassifier on the real CIC-IDS2017 sample bundled with\n"
            "the package (about 5,000 flows), then print the detection metrics on held-out\n"
            "flows, the gate weights per traffic type, the F1 when part of the features are\n"
            "missing, and the explanation of five flows. Runs offline in a few minutes."
        ),
        example="""
            moeids demo
            moeids demo --draws 1 --out figures/
        """,
    )
    run.add_argument("--test-size", type=float, default=0.3, help="held-out fraction")
    run.add_argument(
        "--draws",
        type=int,
        default=5,
        help="random subsets of the features drawn for each share of features kept",
    )
    run.add_argument("--random-state", type=int, default=0, help="seed of the split and model")
    run.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda', ...")
    run.add_argument("--verbose", type=int, default=1, help="0 quiet, 1 one line per epoch")
    run.add_argument(
        "--out", type=Path, help="folder for gate-weight plots, PNG (default: none, no plots)"
    )
    run.set_defaults(handler=demo)
