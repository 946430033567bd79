"""Explanations that carry information: do the experts differ, is the gate faithful, and are
the per-flow feature attributions faithful?

Per dataset (CIC-IDS2017 by default), a binary MoE (FeatureSplitter + MoEClassifier, library
defaults) fitted on a stratified subsample of the training part (``--max-train``, default
12000 rows), measured on the whole test part:

1. each expert alone (the gate forced to weight 1 on it) beside the mixture: F1 overall and
   detection rate per attack type, with the gate's lead and gate faithfulness
   (:func:`moeids.analysis.gating_report`);
2. gate variants (``--variants``, MoEClassifier parameters): F1 and mean |tabular weight - 0.5|;
3. per-flow attributions (``explain(top_k=5)``) on a stratified sample of test flows
   (``--per-type`` per attack type): flows/s, a deletion test on the detected attacks (marking
   the top-5 attributed features missing against 5 random present features), the mean
   |contribution| per feature and attack type as a table and a heat map.

Writes ``explain.md`` and ``explain_<dataset>_attributions.png``. ``--cache DIR`` keeps the
fitted pipelines (joblib) and reuses them on a rerun with the same arguments.
``python benchmarks/bench_explain.py --help``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import _common as C
import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline

from moeids import MoEClassifier
from moeids.analysis import (
    attribution_summary,
    expert_agreement,
    explain_flows,
    flow_attributions,
    gating_report,
    gating_weights,
    plot_attributions,
)
from moeids.scoring import split_model

TOP_K = 5


def fitted(dataset, split, params, cache):
    """The binary MoE pipeline with ``params`` over the defaults, fitted or from ``cache``."""
    key = (
        re.sub(r"[^A-Za-z0-9_.=-]+", "_", json.dumps(params, sort_keys=True))
        if params
        else "default"
    )
    path = cache / f"{dataset.name}_{key}.joblib" if cache else None
    if path is not None and path.is_file():
        return joblib.load(path)
    model = Pipeline(
        [("split", C.splitter(dataset)), ("moe", MoEClassifier(**(C.moe_params() | params)))]
    )
    start = time.perf_counter()
    model.fit(split.X_train, split.y_train)
    print(f"  fitted {dataset.name} {params} in {time.perf_counter() - start:.0f} s", flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, path)
    return model


def expert_scores(model, split):
    """F1 of the mixture and of each expert alone, and mean |tabular weight - 0.5|."""
    agreement = expert_agreement(model, split.X_test, split.type_test, y=split.y_test)
    y = split.y_test.to_numpy()
    row = {"F1 mixture": f1_score(y, model.predict(split.X_test))}
    for expert in ("tabular", "temporal"):
        alone = agreement[f"{expert}_alone"]
        defined = alone.notna().to_numpy()
        row[f"F1 {expert} alone"] = f1_score(y[defined], alone[defined].astype(int))
    weights = gating_weights(model, split.X_test)
    row["mean abs(tabular - 0.5)"] = float((weights["tabular"] - 0.5).abs().mean())
    row["share of flows with a lead >= 0.2"] = float(
        ((weights["tabular"] - weights["temporal"]).abs() >= 0.2).mean()
    )
    return row


def experts_compared(report, min_difference=0.01):
    """Per attack type: detection rate of each expert alone, their difference with an
    Agresti-Caffo 95 % interval (it treats the two rates as independent: conservative for
    these paired rates), and which expert is better (``"interchangeable"`` unless the
    interval excludes 0 and the difference is at least ``min_difference``)."""
    tab, temp = report["tabular_alone_accuracy"], report["temporal_alone_accuracy"]
    n = report["count"]
    diff = tab - temp
    adj_tab, adj_temp = (tab * n + 1) / (n + 2), (temp * n + 1) / (n + 2)
    center = adj_tab - adj_temp
    half = 1.96 * np.sqrt((adj_tab * (1 - adj_tab) + adj_temp * (1 - adj_temp)) / (n + 2))
    better = np.where(diff > 0, "tabular", "temporal")
    meaningful = (diff.abs() >= min_difference) & (center.abs() > half)
    return pd.DataFrame(
        {
            "count": n,
            "mixture": report["accuracy"],
            "tabular alone": tab,
            "temporal alone": temp,
            "tabular - temporal": diff,
            "interval low": center - half,
            "interval high": center + half,
            "better expert": np.where(meaningful, better, "interchangeable"),
            "tabular weight, defaults": report["tabular_mean"],
            "dominant (report)": report["dominant"],
        }
    )


def sample_per_type(split, per_type):
    """Up to ``per_type`` test flows of each attack type (seeded)."""
    types = split.type_test
    keep = types.groupby(types, group_keys=False).apply(
        lambda part: part.sample(min(len(part), per_type), random_state=C.SEED)
    )
    return split.X_test.loc[keep.index], split.y_test.loc[keep.index], keep


def attack_log_odds(classifier, values):
    """Log-odds of attack in float64 from the logits of ``values`` (n, n_features)."""
    frame = pd.DataFrame(values, columns=classifier.feature_names_in_)
    logits = classifier.forward(frame).logits.astype(np.float64)
    return logits[:, 1] - logits[:, 0]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def deletion_test(model, X, y, attributions, rng):
    """Drop of P(attack) and of its log-odds when the top-5 / 5 random present features are
    marked missing, on the detected attacks of ``X``."""
    preprocessing, classifier = split_model(model)
    values = classifier.forward(preprocessing.transform(X)).values
    before = attack_log_odds(classifier, values)
    detected = (y.to_numpy() == 1) & (before > 0)
    values, before = values[detected], before[detected]
    scores = attributions.to_numpy()[detected]
    present = ~np.isnan(values)
    ranked = np.argsort(-np.where(present, scores, -np.inf), axis=1, kind="stable")[:, :TOP_K]
    random = np.stack([rng.choice(np.flatnonzero(row), TOP_K, replace=False) for row in present])
    row = {"detected attacks tested": int(detected.sum())}
    drops = {}
    for name, columns in (("top-5", ranked), ("random 5", random)):
        hidden = values.copy()
        np.put_along_axis(hidden, columns, np.nan, axis=1)
        after = attack_log_odds(classifier, hidden)
        drops[name] = sigmoid(before) - sigmoid(after)
        row[f"mean log-odds drop, {name}"] = float(np.mean(before - after))
    top, rand = drops["top-5"], drops["random 5"]
    row["share top-5 drop > random drop"] = float(np.mean(top > rand))
    row["share of ties"] = float(np.mean(top == rand))
    for name, drop in drops.items():
        row[f"mean P(attack) drop, {name}"] = float(drop.mean())
        row[f"median P(attack) drop, {name}"] = float(np.median(drop))
    row["share flipped to benign, top-5"] = float(np.mean(sigmoid(before) - top < 0.5))
    row["share flipped to benign, random 5"] = float(np.mean(sigmoid(before) - rand < 0.5))
    return row


def run_dataset(dataset, split, args):
    out = {"gating": None, "variants": {}, "type_weights": {}}
    for params in [{}, *args.variants]:
        model = fitted(dataset, split, params, args.cache)
        label = json.dumps(params) if params else "defaults"
        out["variants"][label] = expert_scores(model, split)
        weights = gating_weights(model, split.X_test)["tabular"].to_numpy()
        out["type_weights"][label] = pd.Series(weights).groupby(split.type_test.to_numpy()).mean()
        if not params:
            base = model
    out["gating"] = gating_report(base, split.X_test, split.type_test, y=split.y_test)
    X, y, types = sample_per_type(split, args.per_type)
    start = time.perf_counter()
    explained = explain_flows(base, X, top_k=TOP_K)
    out["flows_per_s"] = len(X) / (time.perf_counter() - start)
    out["n_explained"] = len(X)
    detected = explained.loc[y == 1].assign(attack_type=types[y == 1])
    out["examples"] = detected.groupby("attack_type").head(1).head(8)
    attributions = flow_attributions(base, X)
    out["deletion"] = deletion_test(base, X, y, attributions, np.random.default_rng(C.SEED))
    out["summary"] = attribution_summary(attributions, types)
    return out


def report(results, splits, cmd, args):
    text = C.header(
        "Explanations: do the experts differ, is the gate faithful, are attributions faithful",
        cmd,
        args,
        "Binary MoE (FeatureSplitter + MoEClassifier, library defaults) measured on the "
        "whole test part. *Alone*: the gate forced to weight 1 on one expert (the head "
        "classifies that expert's embedding). `lead`: mean per-flow weight of the expert "
        "with the larger mean weight minus the other's, with the half-width of its 95 % "
        "confidence interval; `dominant` names an expert only when the lead is at least "
        "0.2 and its interval excludes 0. `keep_dominant` / `keep_other`: share of flows "
        "whose label stays the same when only their own higher-weight / lower-weight "
        "expert is used. Contributions: log-odds of attack with the flow as it is minus "
        "with that feature missing ([MASK]), by Captum's FeatureAblation.\n\n",
    )
    for name, res in results.items():
        dataset, split = splits[name]
        text += f"\n## {dataset.title}\n\n"
        text += f"Training rows: {len(split.X_train)}; test rows: {len(split.X_test)}.\n\n"
        text += experts_section(res)
        text += attributions_section(name, dataset, res, cmd, args)
    return text


def experts_section(res):
    """Markdown: the variants table, the expert comparison and the gating report."""
    text = "### Each expert alone beside the mixture, and gate variants\n\n"
    variants = pd.DataFrame.from_dict(res["variants"], orient="index")
    variants.index.name = "MoEClassifier parameters"
    variants["F1 - default F1"] = variants["F1 mixture"] - variants.loc["defaults", "F1 mixture"]
    routed = variants[
        (variants["mean abs(tabular - 0.5)"] >= 0.15) & (variants["F1 - default F1"].abs() <= 5e-4)
    ]
    text += C.markdown_table(variants) + "\n"
    text += (
        "Routing target (mean |tabular weight - 0.5| >= 0.15 with F1 within 0.0005 of "
        f"the defaults): met by {', '.join(routed.index) or 'no configuration measured'}."
        "\n\n"
    )
    compared = experts_compared(res["gating"])
    for label, weights in res["type_weights"].items():
        if label != "defaults":
            compared[f"tabular weight, {label}"] = weights
    better = compared[compared["better expert"] != "interchangeable"]
    listed = ", ".join(f"{t}: {b}" for t, b in better["better expert"].items()) or "none"
    text += (
        "### Do the experts differ? Detection rate per attack type, each expert alone\n\n"
        "`better expert` names one only when the difference is at least 0.01 and its "
        "Agresti-Caffo 95 % interval excludes 0 (the interval treats the two rates as "
        "independent, which is conservative for rates on the same flows). "
        f"{len(better)} of {len(compared)} traffic types have a better expert ({listed}); "
        "on the others the experts are interchangeable.\n\n"
    )
    text += C.markdown_table(compared, floats="{:.4f}") + "\n"
    text += "### Per attack type (gating report, default model)\n\n"
    return text + C.markdown_table(res["gating"], floats="{:.3f}") + "\n"


def attributions_section(name, dataset, res, cmd, args):
    """Markdown: speed, deletion test, examples and the per-type summary with its plot."""
    text = (
        f"### Feature attributions\n\n`explain_flows(model, flows, top_k={TOP_K})` on "
        f"{res['n_explained']} test flows (at most {args.per_type} per attack type): "
        f"{res['flows_per_s']:.1f} flows/s on this machine.\n\n"
        "Deletion test on the detected attacks of those flows (P(attack) before minus "
        "after marking the features missing):\n\n"
    )
    deletion = pd.Series(res["deletion"], name="value").to_frame()
    deletion.index.name = "measure"
    text += C.markdown_table(deletion) + "\n"
    examples = res["examples"][["attack_type", "prediction", "confidence", "top_features"]].copy()
    examples.index.name = "flow (row of the loaded file)"
    examples["top_features"] = examples["top_features"].map(
        lambda top: ", ".join(f"{k} {v:+.2f}" for k, v in top.items())
    )
    text += "Examples (one detected flow per attack type):\n\n"
    text += C.markdown_table(examples, floats="{:.3f}") + "\n"
    path = plot_attributions(
        res["summary"],
        args.out / f"explain_{name}_attributions.png",
        title=f"{dataset.title}: share of mean |contribution| per attack type",
        caption=f"Produced by: {cmd}",
    )
    text += f"![{path.stem}]({path.name})\n\nMean |contribution| (top 15 features):\n\n"
    return text + C.markdown_table(res["summary"].head(15).iloc[:, :8], floats="{:.3f}")


def main(args):
    start = time.perf_counter()
    splits = C.load_splits(args)
    cmd = C.command()
    results = {}
    for name, (dataset, split) in splits.items():
        print(f"[explain] {name}", flush=True)
        results[name] = run_dataset(dataset, split, args)
    C.write(args.out / "explain.md", report(results, splits, cmd, args))
    print(f"[explain] done in {time.perf_counter() - start:.0f} s")
    return results


def parse_args(argv=None):
    parser = C.add_common_arguments(argparse.ArgumentParser(description=__doc__))
    parser.set_defaults(datasets=["cicids2017"], max_train=12000)
    parser.add_argument(
        "--variants", type=json.loads, default=[], metavar="JSON",
        help='JSON list of MoEClassifier parameter dicts, e.g. \'[{"gate_temperature": 0.25}]\'',
    )  # fmt: skip
    parser.add_argument(
        "--per-type", type=int, default=60, help="test flows attributed per attack type"
    )
    parser.add_argument("--cache", type=Path, default=None, help="folder of fitted pipelines")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
