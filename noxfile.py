"""Developer sessions: ``nox -s lint``, ``nox -s tests``, ``nox -s tests_core``, ``nox -s demo``,
``nox -s bench``, ``nox -s docs``.

The test environments are defined once, in ``scripts/test.sh`` (the README's test command);
the test sessions call it, so ``nox -s tests -- -m "not slow"`` and
``bash scripts/test.sh full -m "not slow"`` run the same thing in the same ``./.venv``.
"""

import nox

nox.options.sessions = ["lint", "tests", "tests_core"]


@nox.session(python=False)
def tests(session):
    """Every extra (moirai included, pandas 2): ``scripts/test.sh full``."""
    session.run("bash", "scripts/test.sh", "full", *session.posargs, external=True)


@nox.session(python=False)
def tests_core(session):
    """Without the moirai extra, newest pandas: ``scripts/test.sh core``."""
    session.run("bash", "scripts/test.sh", "core", *session.posargs, external=True)


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "moeids", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "moeids", "tests", "benchmarks", "noxfile.py")


@nox.session(python=False)
def demo(session):
    session.run("bash", "scripts/demo.sh", *session.posargs, external=True)


@nox.session(python=False)
def bench(session):
    """``nox -s bench -- --quick`` regenerates docs/results/ (see benchmarks/run_all.py)."""
    session.run("bash", "scripts/bootstrap.sh", "bench,moirai,serve,stream,flows", external=True)
    session.run(".venv/bin/python", "benchmarks/run_all.py", *session.posargs, external=True)


@nox.session(python=False)
def docs(session):
    """Build the site with ``mkdocs build --strict`` (offline) and run every documented example:
    the ``python`` blocks of docs/*.md, examples/*.py and the docstrings' doctests
    (``tests/test_docs.py``; a missing docs extra fails here instead of skipping)."""
    extras = "docs,test,plot,flows,bench,moirai,explain,serve,stream,broker,dask"
    session.run("bash", "scripts/bootstrap.sh", extras, external=True)  # every doctest runs
    session.run(
        ".venv/bin/python", "-m", "pytest", "tests/test_docs.py", *session.posargs,
        env={"MOEIDS_DOCS_REQUIRED": "1"}, external=True,
    )  # fmt: skip
