"""Robustness: F1 when only a fraction of the features reaches the model.

Each model is trained on all features (binary task). At test time random subsets of the
feature columns are *removed from the DataFrame* (:func:`moeids.analysis.robustness_curve`,
the same subsets for every model): the MoE's FeatureSplitter marks them missing, XGBoost
gets them as NaN (its learned default branch) or as the raw value 0 (zero-fill). On
CIC-IDS2017 the named sensor profiles (:data:`moeids.analysis.SENSOR_PROFILES`: Zeek
``conn.log``, NetFlow v5) are scored too.

Writes ``robustness.md`` and ``robustness_<dataset>.png``.
``python benchmarks/bench_robustness.py --help``.
"""

from __future__ import annotations

import time

import _common as C
import pandas as pd

from moeids.analysis import SENSOR_PROFILES, robustness_curve, sensor_profile_scores

FRACTIONS = (1.0, 0.9, 0.8, 0.7, 0.5, 0.3)


def n_draws(quick):
    return 2 if quick else 5


def models(name, dataset, split, store):
    """Fitted binary models: MoE, XGBoost (NaN) and XGBoost (zero-fill)."""
    built = C.make_models(dataset)
    X, y = split.X_train, split.y_train
    return {
        "MoE": store.get((name, "MoE", "binary"), lambda: built["MoE"], X, y),
        "XGBoost (NaN)": store.get((name, "XGBoost", "binary"), lambda: built["XGBoost"], X, y),
        "XGBoost (zero-fill)": store.get(
            (name, "XGBoost zero-fill", "binary"), lambda: C.xgb_zero_fill(dataset), X, y
        ),
    }


def run(args, store, splits):
    curves, profiles = {}, None
    for name, (dataset, split) in splits.items():
        print(f"[robustness] {name}", flush=True)
        fitted = models(name, dataset, split, store)
        curves[name] = pd.concat(
            {
                model_name: robustness_curve(
                    model,
                    split.X_test,
                    split.y_test,
                    fractions=FRACTIONS,
                    n_draws=n_draws(args.quick),
                    random_state=C.SEED,
                )
                for model_name, model in fitted.items()
            },
            names=["model"],
        ).reset_index(level=0)
        if name == "cicids2017":
            profiles = pd.concat(
                {
                    model_name: sensor_profile_scores(model, split.X_test, split.y_test)
                    for model_name, model in fitted.items()
                },
                names=["model"],
            )
    return curves, profiles


def plot(curve, dataset, path, cmd):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model_name, part in curve.groupby("model", sort=False):
        x = part["fraction"] * 100
        (line,) = ax.plot(x, part["f1_mean"], marker="o", label=model_name)
        ax.fill_between(x, part["f1_min"], part["f1_max"], color=line.get_color(), alpha=0.15)
    ax.set_xlabel("features available (% of columns, random subsets)")
    ax.set_ylabel("binary F1 on the test part")
    ax.set_title(f"{dataset.title}: F1 vs available features\nline: mean of draws, band: min-max",
                 fontsize=10)  # fmt: skip
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.text(0.01, 0.005, f"Produced by: {cmd}", fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def report(curves, profiles, splits, cmd, args):
    text = C.header(
        "Robustness to missing features",
        cmd,
        args,
        "All models are trained on every feature of the binary task. For each fraction, "
        f"{n_draws(args.quick)} random subsets of the feature columns are kept and the others are "
        "removed from the test DataFrame (same subsets for every model; all columns: one "
        "evaluation). **MoE** masks the missing features ([MASK] token / availability "
        "channel); **XGBoost (NaN)** sends them down its learned default branch; **XGBoost "
        "(zero-fill)** sees the raw value 0.\n\n",
    )
    summary = []
    for name, curve in curves.items():
        half = curve[curve["fraction"] == 0.5].set_index("model")["f1_mean"]
        full = curve[curve["fraction"] == 1.0].set_index("model")["f1_mean"]
        summary.append(
            {"dataset": splits[name][0].title}
            | {f"{m} @100%": full[m] for m in full.index}
            | {f"{m} @50%": half[m] for m in half.index}
        )
    text += "## Summary: mean F1 with all and with 50 % of the features\n\n"
    text += C.markdown_table(pd.DataFrame(summary).set_index("dataset"))
    for name, curve in curves.items():
        dataset = splits[name][0]
        shown = curve.copy()
        shown["fraction"] = (shown["fraction"] * 100).round().astype(int).astype(str) + " %"
        text += (
            f"\n## {dataset.title}\n\n![F1 vs available features](robustness_{name}.png)\n\n"
            + C.markdown_table(shown.set_index(["model", "fraction"]))
        )
    if profiles is not None:
        text += (
            "\n## Sensor profiles on CIC-IDS2017\n\nOnly the columns a sensor export provides "
            "are kept (`moeids.analysis.SENSOR_PROFILES`; mapping in `docs/analysis.md`): "
            + ", ".join(f"`{p}` ({len(c)} columns)" for p, c in SENSOR_PROFILES.items())
            + ".\n\n"
            + C.markdown_table(profiles)
        )
    return text


def main(args, store=None):
    start = time.perf_counter()
    splits = C.load_splits(args)
    curves, profiles = run(args, store or C.ModelStore(), splits)
    cmd = C.command()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, curve in curves.items():
        plot(curve, splits[name][0], args.out / f"robustness_{name}.png", cmd)
    C.write(args.out / "robustness.md", report(curves, profiles, splits, cmd, args))
    print(f"[robustness] done in {time.perf_counter() - start:.0f} s")
    return curves, profiles


if __name__ == "__main__":
    main(C.parse_args(C.make_parser(__doc__), __file__))
