"""Developer sessions: ``nox -s tests``, ``nox -s tests_core``, ``nox -s lint``, ``nox -s demo``,
``nox -s bench``.

Every session installs torch==2.13.0 (the CPU wheel) before moeids, so that the
``torch>=2.2`` requirement does not pull a CUDA build.
"""

import nox

nox.options.sessions = ["lint", "tests", "tests_core"]


def _install(session, extras):
    session.install("torch==2.13.0")
    if "moirai" in extras:
        session.install("--no-deps", "uni2ts==2.0.0")
    session.install("-e", f".[{','.join(extras)}]")


@nox.session
def tests(session):
    _install(session, ["test", "plot", "explain", "moirai", "flows"])
    session.run("pytest", *session.posargs)


@nox.session
def tests_core(session):
    """Without the moirai extra, as most users install moeids: newest pandas (gluonts pins <3)."""
    _install(session, ["test", "plot", "explain", "flows"])
    session.run("pytest", "--ignore=tests/test_detector.py", *session.posargs)


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "moeids", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "moeids", "tests", "benchmarks", "noxfile.py")


@nox.session
def demo(session):
    _install(session, ["plot"])
    session.run("moeids", "demo", *session.posargs)


@nox.session
def bench(session):
    """``nox -s bench -- --quick`` regenerates docs/results/ in under 10 minutes."""
    _install(session, ["bench", "moirai"])
    session.run("python", "benchmarks/run_all.py", *session.posargs)
