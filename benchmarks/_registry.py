"""Every benchmark script, in one place: what it writes, how long it takes, what it needs.

``run_all.py`` runs the entries in this order (``--only NAME`` picks some); each script
checks its own entry's modules when started alone (:func:`require`). A new script is added
here and follows the command-line convention of ``_common.add_common_arguments``
(``--data DIR``, ``--out DIR``, ``--quick``, ``--datasets``, ``--max-train N``, ``--seeds``
where they apply).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BENCHMARKS", "INSTALL", "Benchmark", "missing_modules", "require"]

INSTALL = {
    "bench": "pip install 'moeids[bench]' (from a checkout: pip install -e '.[bench]')",
    "moirai": "pip install --no-deps uni2ts==2.0.0 && pip install 'moeids[moirai,bench]'",
    "serve": "pip install 'moeids[serve]' (from a checkout: pip install -e '.[serve]')",
    "stream": "pip install 'moeids[stream,broker]' (from a checkout: "
    "pip install -e '.[stream,broker]')",
    "dask": "pip install 'moeids[dask]' (from a checkout: pip install -e '.[dask]')",
}


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script.

    Attributes
    ----------
    name : str
        What ``run_all.py --only`` takes.
    script : str
        File name in ``benchmarks/``.
    pages : tuple of str
        What it writes into the ``--out`` folder.
    minutes : tuple of (float, float)
        Rough wall time (quick, full) on 2 busy CPU cores; quick equals full without
        ``--quick`` support.
    needs : tuple of str
        Modules beyond the core install, checked before any work starts.
    extra : str
        The extra of :data:`INSTALL` that provides ``needs``.
    options : frozenset of str
        The ``run_all.py`` options the script takes: ``quick``, ``datasets``, ``max_train``
        (``--data`` and ``--out`` are taken by every script).
    args : tuple of str
        Arguments of the committed pages beyond those options (e.g. the seeds).
    shared : bool
        Runs in ``run_all.py``'s process and reuses the models other shared benchmarks
        fitted: the script takes the common arguments only and has ``main(args, store)``.
        The others run in a fresh process each (``python benchmarks/<script> ...``).
    """

    name: str
    script: str
    pages: tuple
    minutes: tuple
    needs: tuple = ()
    extra: str = "bench"
    options: frozenset = frozenset()
    args: tuple = ()
    shared: bool = False


_SPLITS = frozenset({"quick", "datasets", "max_train"})
BENCHMARKS = (
    Benchmark("compare", "bench_compare.py", ("compare.md",), (4, 240), ("xgboost",),
              options=_SPLITS, shared=True),
    Benchmark("robustness", "bench_robustness.py", ("robustness.md", "robustness_<dataset>.png"),
              (1, 30), ("xgboost", "matplotlib"), options=_SPLITS, shared=True),
    Benchmark("gating", "bench_gating.py",
              ("gating.md", "gating_<dataset>_distribution.png",
               "gating_<dataset>_by_attack_type.png"),
              (1, 10), ("matplotlib",), options=_SPLITS, shared=True),
    Benchmark("throughput", "bench_throughput.py", ("throughput.md",), (2, 6), ("xgboost",),
              options=frozenset({"quick", "max_train"})),
    Benchmark("preprocessing", "bench_preprocessing.py", ("preprocessing.md",), (1, 1)),
    Benchmark("unseen", "bench_unseen.py", ("unseen.md",), (8, 40), ("xgboost",),
              options=_SPLITS),
    Benchmark("transfer", "bench_transfer.py", ("transfer.md",), (25, 25), ("xgboost",),
              options=frozenset({"max_train"}), args=("--max-train", "8000")),
    Benchmark("stream", "bench_stream.py", ("stream.md",), (3, 8), ("confluent_kafka",),
              extra="stream", options=frozenset({"quick", "max_train"})),
    Benchmark("scale", "bench_scale.py", ("scale.md", "scale_training.md"), (10, 60),
              ("distributed", "pyarrow"), extra="dask"),
    Benchmark("moe", "bench_moe.py", ("moe.md",), (30, 30), ("xgboost",),
              options=frozenset({"datasets"}), args=("--seeds", "0", "1")),
    Benchmark("moirai", "bench_moirai.py", ("moirai.md",), (2, 7), ("uni2ts",), extra="moirai",
              options=frozenset({"quick"})),
    Benchmark("serve", "bench_serve.py", ("serve.md",), (5, 5), ("fastapi", "uvicorn", "httpx"),
              extra="serve", options=frozenset({"max_train"})),
)  # fmt: skip


def missing_modules(benchmark):
    """The modules of ``benchmark.needs`` that cannot be imported here."""
    return [name for name in benchmark.needs if importlib.util.find_spec(name) is None]


def require(script):
    """Exit with the install command if the benchmark of ``script`` (a path) lacks a module.

    Called by each script before it loads data or fits anything.
    """
    name = Path(script).name
    benchmark = next(b for b in BENCHMARKS if b.script == name)
    missing = missing_modules(benchmark)
    if missing:
        raise SystemExit(
            f"benchmarks/{name} needs {', '.join(missing)}: {INSTALL[benchmark.extra]}"
        )
