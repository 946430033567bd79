"""Gating analysis: which expert the MoE trusts, per attack type, on each dataset.

Uses the binary MoE (trained on the training part) on the test part:
:func:`moeids.analysis.gating_report` (mean/std gate weight per expert, the lead of one expert
with its confidence interval, a dominant expert only where the lead is meaningful, count and
detection accuracy per attack type, the same with each expert alone, and gate faithfulness)
and :func:`moeids.analysis.plot_gating`.

Writes ``gating.md`` and ``gating_<dataset>_distribution.png`` /
``gating_<dataset>_by_attack_type.png``. ``python benchmarks/bench_gating.py --help``.
"""

from __future__ import annotations

import time

import _common as C

from moeids.analysis import gating_report, gating_weights, plot_gating


def run(args, store, splits, cmd):
    reports, overall, figures = {}, {}, {}
    for name, (dataset, split) in splits.items():
        print(f"[gating] {name}", flush=True)
        model = store.get(
            (name, "MoE", "binary"),
            lambda dataset=dataset: C.make_models(dataset)["MoE"],
            split.X_train,
            split.y_train,
        )
        reports[name] = gating_report(model, split.X_test, split.type_test, y=split.y_test)
        overall[name] = gating_weights(model, split.X_test).mean()
        figures[name] = plot_gating(
            model,
            split.X_test,
            split.type_test,
            args.out,
            y=split.y_test,
            class_names={0: "benign (0)", 1: "attack (1)"},
            prefix=f"gating_{name}",
            title=f"{dataset.title}, test part",
            caption=f"Produced by: {cmd}",
        )
    return reports, overall, figures


def report(reports, overall, figures, splits, cmd, args):
    text = C.header(
        "Gating analysis: which expert the MoE trusts",
        cmd,
        args,
        "Binary MoE (FeatureSplitter + MoEClassifier) on the test part. `accuracy` of an "
        "attack type is its detection rate (of `Benign`: the share of benign flows not "
        "flagged). `std` is the population standard deviation of the per-flow gate weight. "
        "`lead`: mean per-flow weight of the expert with the larger mean weight minus the "
        "other's, `lead_ci95` the half-width of its 95 % confidence interval; `dominant` "
        "names that expert only when the lead is at least 0.2 and its interval excludes 0 "
        "(else `none`: the gate does not prefer an expert). `<expert>_alone_accuracy`: the "
        "detection rate with the gate forced to weight 1 on that expert. `keep_dominant` / "
        "`keep_other`: share of flows whose label stays the same when only their own "
        "higher-weight / lower-weight expert is used (gate faithfulness). Where both experts "
        "alone match the mixture, they are interchangeable for that traffic and the gate "
        "weights say nothing about it (`docs/results/explain.md`). "
        "Which columns each expert reads: `docs/preprocessing.md`.\n\n",
    )
    for name, table in reports.items():
        dataset = splits[name][0]
        mean = ", ".join(f"{expert} {weight:.3f}" for expert, weight in overall[name].items())
        text += f"\n## {dataset.title}\n\nMean gate weight over all test flows: {mean}.\n\n"
        text += "".join(f"![{path.stem}]({path.name})\n" for path in figures[name])
        text += "\n" + C.markdown_table(table, floats="{:.3f}")
    return text


def main(args, store=None):
    start = time.perf_counter()
    splits = C.load_splits(args)
    cmd = C.command()
    reports, overall, figures = run(args, store or C.ModelStore(), splits, cmd)
    C.write(args.out / "gating.md", report(reports, overall, figures, splits, cmd, args))
    print(f"[gating] done in {time.perf_counter() - start:.0f} s")
    return reports


if __name__ == "__main__":
    main(C.parse_args(C.make_parser(__doc__), __file__))
