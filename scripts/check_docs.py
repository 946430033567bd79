"""Check that the documentation builds and that its examples run.

    python scripts/check_docs.py            # everything below; exit 1 on any failure
    python scripts/check_docs.py --no-build --no-examples   # only the pages' code blocks

1. ``mkdocs build --strict`` into a temporary folder (warnings are errors; offline).
2. The runnable code blocks of ``docs/*.md``: every fence whose info string is exactly
   ``python``. The blocks of one page run in order in one namespace, in a fresh interpreter,
   in a temporary folder where ``tests/`` points at the repository's ``tests/`` (so pages
   read ``tests/data/...`` and write files next to them freely). Illustrative code that
   cannot run as written (your data, a broker, a GPU, a long training) is fenced ``py``.
3. ``examples/*.py``, each in a fresh interpreter from the repository root.
4. The doctests (numpydoc ``Examples`` sections) of every ``moeids`` module.

A page, script or module that fails on a missing optional dependency (xgboost, nfstream,
uni2ts, confluent-kafka, ...) is reported as skipped, not failed.
"""

from __future__ import annotations

import argparse
import doctest
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNABLE = "python"  # the fence info string of a block the check runs
OPTIONAL_MODULES = {
    "confluent_kafka",
    "dask",
    "distributed",
    "fastapi",
    "httpx",
    "matplotlib",
    "nfstream",
    "pyarrow",
    "pyspark",
    "uni2ts",
    "uvicorn",
    "xgboost",
}
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([^\s`{]*)")
_SKIPPED = 3  # exit status of a page run that stopped on a missing optional dependency
_MISSING = re.compile(r"No module named '([\w.]+)'|moeids\[(\w+)\]")
_EXCEPTION = re.compile(r"^[\w.]*(Error|Exception)\b")


@dataclass
class Result:
    """Outcome of one checked item: ``status`` is "passed", "failed" or "skipped"."""

    name: str
    status: str
    detail: str = ""


def code_blocks(text: str) -> list[tuple[int, str, str]]:
    """Fenced code blocks of a Markdown text.

    Returns
    -------
    blocks : list of (line, info, source)
        ``line`` is the 1-based line of the opening fence, ``info`` the first word of the
        info string (``"python"``, ``"py"``, ``"bash"``, ``""``, ...).
    """
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        match = _FENCE.match(lines[i].lstrip())
        if not match:
            i += 1
            continue
        fence, info, start, body = match.group(1), match.group(2), i + 1, []
        indent = len(lines[i]) - len(lines[i].lstrip())
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:])
            i += 1
        blocks.append((start, info, "\n".join(body) + "\n"))
        i += 1
    return blocks


def runnable_blocks(page: Path) -> list[tuple[int, str]]:
    """``(line, source)`` of the blocks of ``page`` fenced exactly ``python``."""
    blocks = code_blocks(page.read_text(encoding="utf-8"))
    return [(line, source) for line, info, source in blocks if info == RUNNABLE]


def _last_exception(stderr: str) -> str:
    """The message of the last exception of a traceback (all its lines), else ``""``."""
    lines = stderr.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if _EXCEPTION.match(line)]
    return "\n".join(lines[starts[-1] :]) if starts else ""


def _missing_optional(text: str) -> str | None:
    """The optional dependency an error message names, if any."""
    for module, extra in _MISSING.findall(text):
        name = module.split(".")[0]
        if extra or name in OPTIONAL_MODULES:
            return extra or name
    return None


def _environment() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg", NO_MKDOCS_2_WARNING="1")
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny models: one thread is fastest
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_page(page: Path, timeout: float = 300) -> Result:
    """Run the runnable blocks of one page in a fresh interpreter."""
    blocks = runnable_blocks(page)
    name = str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name
    if not blocks:
        return Result(name, "passed", "no runnable block")
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "tests").symlink_to(ROOT / "tests")
        payload = json.dumps({"page": name, "blocks": blocks})
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--exec-page"],
                input=payload,
                cwd=folder,
                env=_environment(),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return Result(name, "failed", f"did not finish in {timeout} s")
    if done.returncode == 0:
        return Result(name, "passed", f"{len(blocks)} block(s)")
    if done.returncode == _SKIPPED:
        return Result(name, "skipped", done.stderr.strip().splitlines()[-1])
    return Result(name, "failed", done.stderr.strip()[-3000:])


def _exec_page() -> int:
    """Child side of :func:`run_page`: blocks as JSON on stdin, one shared namespace."""
    payload = json.loads(sys.stdin.read())
    namespace = {"__name__": "__main__"}
    for line, source in payload["blocks"]:
        where = f"{payload['page']}:{line}"
        try:
            exec(compile(source, where, "exec"), namespace)
        except ImportError as error:
            missing = _missing_optional(str(error))
            if missing is None:
                raise
            print(f"skipped at {where}: needs {missing}", file=sys.stderr)
            return _SKIPPED
        except Exception as error:
            traceback.print_exc()
            frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == where]
            at = f"{payload['page']}:{line + frames[-1].lineno}" if frames else where
            print(f"failed at {at}: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
    return 0


def run_example(script: Path, timeout: float = 300) -> Result:
    """Run one example script from the repository root."""
    name = script.name
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=ROOT,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return Result(name, "failed", f"did not finish in {timeout} s")
    if done.returncode == 0:
        return Result(name, "passed", done.stdout)
    missing = _missing_optional(_last_exception(done.stderr))
    if missing is not None:
        return Result(name, "skipped", f"needs {missing}")
    return Result(name, "failed", done.stderr.strip()[-3000:])


def package_modules(package: str = "moeids") -> list[str]:
    """Every module of ``package`` (private ones too: a doctest anywhere must pass) but
    ``__main__``, which runs the command line when imported."""
    root = importlib.import_module(package)
    found = pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
    return [package] + [m.name for m in found if not m.name.endswith(".__main__")]


class _DocTestRunner(doctest.DocTestRunner):
    """Records the optional dependency whose absence an example's ImportError names (or
    its FileNotFoundError, for a binary an extra ships: the tansu broker of ``broker``)."""

    missing: str | None = None

    def report_unexpected_exception(self, out, test, example, exc_info):
        if issubclass(exc_info[0], ImportError | FileNotFoundError) and self.missing is None:
            self.missing = _missing_optional(str(exc_info[1]))
        super().report_unexpected_exception(out, test, example, exc_info)


def run_doctests(module_name: str) -> Result:
    """Run the doctests of one module (numpydoc ``Examples`` sections).

    A docstring whose example stops on a missing optional dependency (uni2ts, ...) is
    skipped, not failed; the module is then reported skipped when nothing else failed.
    """
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        missing = _missing_optional(str(error))
        if missing is None:
            return Result(module_name, "failed", traceback.format_exc())
        return Result(module_name, "skipped", f"needs {missing}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = _DocTestRunner(optionflags=flags, verbose=False)
    report, skipped, failed, attempted = [], set(), 0, 0
    for test in finder.find(module, module_name):
        if not test.examples:
            continue
        runner.missing, lines = None, []
        outcome = runner.run(test, out=lines.append)
        attempted += outcome.attempted
        if outcome.failed and runner.missing is not None:
            skipped.add(runner.missing)
        elif outcome.failed:
            failed += outcome.failed
            report += lines
    if failed:
        return Result(module_name, "failed", "".join(report)[-3000:])
    if skipped:
        return Result(module_name, "skipped", f"needs {', '.join(sorted(skipped))}")
    return Result(module_name, "passed", f"{attempted} example(s)")


def build_site(site_dir: Path, config: Path = ROOT / "mkdocs.yml") -> Result:
    """``mkdocs build --strict`` into ``site_dir`` (not ``-q``: it hides the warnings that
    ``--strict`` counts)."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
        + ["--site-dir", str(site_dir)],
        cwd=config.parent,
        env=_environment(),
        capture_output=True,
        text=True,
    )
    status = "passed" if done.returncode == 0 else "failed"
    return Result("mkdocs build --strict", status, done.stderr.strip()[-3000:])


def main(argv=None) -> int:
    if argv is None and sys.argv[1:] == ["--exec-page"]:
        return _exec_page()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for part in ("build", "pages", "examples", "doctests"):
        parser.add_argument(f"--no-{part}", action="store_true", help=f"skip the {part}")
    args = parser.parse_args(argv)
    results = []
    if not args.no_build:
        with tempfile.TemporaryDirectory() as site:
            results.append(build_site(Path(site)))
    if not args.no_pages:
        results += [run_page(page) for page in sorted((ROOT / "docs").glob("*.md"))]
    if not args.no_examples:
        results += [run_example(script) for script in sorted((ROOT / "examples").glob("*.py"))]
    if not args.no_doctests:
        results += [run_doctests(name) for name in package_modules()]
    for result in results:
        print(f"{result.status:8} {result.name}")
        if result.status == "failed":
            print("    " + result.detail.replace("\n", "\n    "))
    return int(any(result.status == "failed" for result in results))


if __name__ == "__main__":
    sys.exit(main())
