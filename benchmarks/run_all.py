"""Run every benchmark of ``benchmarks/_registry.py`` (or the ``--only`` ones) and write
their pages into ``docs/results/`` (``nox -s bench`` calls this).

    python benchmarks/run_all.py [--only NAME ...] [--quick] [--data DIR] [--out DIR]
                                 [--datasets NAME ...] [--max-train N] [--list]

Before any work: the modules every chosen benchmark needs are checked (the install command
is printed if one is missing) and the plan is printed with rough durations. ``compare``,
``robustness`` and ``gating`` run in this process and share the models they fit; with
``compare`` and ``robustness`` both run, ``summary.md`` links their headline numbers. Every
other benchmark runs in a fresh process (``python benchmarks/<script> ...``), so that its
memory peaks and timings are its own. ``--quick`` is passed to the scripts that have a quick
mode; the others run at full size. ``--datasets`` and ``--max-train`` go to the scripts that
take them; without ``--datasets`` each script runs its own default datasets. A failed
benchmark is reported and the others still run (exit status 1 at the end).
"""

from __future__ import annotations

import subprocess
import sys
import time
import traceback

import _common as C
import pandas as pd
from _registry import BENCHMARKS, INSTALL, missing_modules

SHARED_ARGS = ("quick", "datasets", "max_train")  # run_all options the scripts may take


def summary(tables, curves, ran, cmd, args):
    binary = tables["binary"]
    rows = []
    for name, curve in curves.items():
        title = C.DATASETS[name].title
        f1 = binary.loc[title, "f1"]
        curve = curve.set_index(["model", "fraction"])["f1_mean"]
        rows.append({
            "dataset": title,
            "MoE F1": f1["MoE"],
            "XGBoost F1": f1["XGBoost"],
            "FT-Transformer F1": f1["FT-Transformer"],
            "1D-CNN F1": f1["1D-CNN (temporal)"],
            "MoE F1 @50% features": curve["MoE", 0.5],
            "XGBoost (NaN) @50%": curve["XGBoost (NaN)", 0.5],
            "XGBoost (zero) @50%": curve["XGBoost (zero-fill)", 0.5],
        })  # fmt: skip
    text = C.header(
        "Benchmark summary",
        cmd,
        args,
        "Binary F1 on the test part of each dataset ([compare.md](compare.md)) and mean F1 "
        "when a random 50 % of the feature columns is removed at prediction time "
        "([robustness.md](robustness.md))."
        + (" Gate weights per attack type: [gating.md](gating.md)." if "gating" in ran else "")
        + (" Speed: [throughput.md](throughput.md)." if "throughput" in ran else "")
        + "\n\n",
    )
    return text + C.markdown_table(pd.DataFrame(rows).set_index("dataset"))


def script_args(benchmark, args):
    """The command-line arguments ``benchmark``'s script gets from this run's ``args``."""
    argv = list(benchmark.args)
    if args.data is not None:
        argv += ["--data", str(args.data)]
    if args.out != C.RESULTS:
        argv += ["--out", str(args.out)]
    if args.quick and "quick" in benchmark.options:
        argv.append("--quick")
    if args.datasets and "datasets" in benchmark.options:
        argv += ["--datasets", *args.datasets]
    if args.max_train is not None and "max_train" in benchmark.options:
        argv += ["--max-train", str(args.max_train)]
    return argv


def run_shared(benchmark, argv, store, results):
    """Run a shared benchmark in this process; keep what its ``main`` returns."""
    module = __import__(benchmark.script.removesuffix(".py"))
    parsed = C.make_parser(module.__doc__).parse_args(argv)
    results[benchmark.name] = module.main(parsed, store)


def run_fresh(benchmark, argv):
    """Run a benchmark script in a fresh Python process; raise if it fails."""
    command = [sys.executable, str(C.ROOT / "benchmarks" / benchmark.script), *argv]
    subprocess.run(command, check=True)


def plan(chosen, args):
    """Print what will run; exit with the install command if a module is missing."""
    lacking = {b.name: missing_modules(b) for b in chosen if missing_modules(b)}
    if lacking:
        lines = [f"  {name}: needs {', '.join(mods)}" for name, mods in lacking.items()]
        extras = sorted({b.extra for b in chosen if b.name in lacking})
        raise SystemExit(
            "missing modules, nothing was run:\n"
            + "\n".join(lines)
            + "\ninstall: "
            + "; ".join(INSTALL[e] for e in extras)
        )
    column = 0 if args.quick else 1
    total = sum(b.minutes[column] for b in chosen)
    mode = "quick where supported" if args.quick else "full"
    print(f"moeids benchmarks ({mode}), writing to {args.out}; roughly {total:.0f} min on 2 "
          "busy CPU cores:")  # fmt: skip
    for b in chosen:
        quick = "" if not args.quick or "quick" in b.options else " (no quick mode: full)"
        print(f"  {b.name:14} ~{b.minutes[column]:>4.0f} min  {', '.join(b.pages)}{quick}")
    sys.stdout.flush()


def parse(argv=None):
    parser = C.make_parser(__doc__.split("\n\n")[0], datasets=False)
    parser.add_argument(
        "--datasets", nargs="+", choices=list(C.DATASETS), metavar="NAME",
        help="datasets for the scripts that take them: %(choices)s (default: each script's own)",
    )  # fmt: skip
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", choices=[b.name for b in BENCHMARKS],
        help="run only these benchmarks: %(choices)s (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--list", action="store_true", help="print the benchmarks and their pages, run nothing"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    chosen = [b for b in BENCHMARKS if args.only is None or b.name in args.only]
    if args.list:
        for b in BENCHMARKS:
            print(f"{b.name:14} benchmarks/{b.script:24} {', '.join(b.pages)}")
        return
    plan(chosen, args)
    start, store, results, failed = time.perf_counter(), C.ModelStore(), {}, []
    for benchmark in chosen:
        argv = script_args(benchmark, args)
        print(f"== {benchmark.name}: benchmarks/{benchmark.script} {' '.join(argv)}", flush=True)
        try:
            if benchmark.shared:
                run_shared(benchmark, argv, store, results)
            else:
                run_fresh(benchmark, argv)
                results[benchmark.name] = None
        except subprocess.CalledProcessError as exc:  # its traceback is printed above
            print(f"== {benchmark.name} failed (exit status {exc.returncode})", flush=True)
            failed.append(benchmark.name)
        except Exception:  # noqa: BLE001 - report it, run the others
            traceback.print_exc()
            failed.append(benchmark.name)
    if "compare" in results and "robustness" in results:
        curves = results["robustness"][0]
        text = summary(results["compare"], curves, results, C.command(), args)
        C.write(args.out / "summary.md", text)
    print(f"benchmarks done in {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (see the errors above)")


if __name__ == "__main__":
    main()
