#!/usr/bin/env bash
# Create a virtual environment (if needed; ./.venv, or $VENV) and install moeids into it
# with the extras given as $1 (comma-separated, e.g. "test,plot,moirai").
# torch==2.13.0 goes first: it is the CPU wheel of this machine's package index; a bare
# `torch` requirement would pull a multi-GB CUDA build. uni2ts pins torch<2.5 / numpy<2,
# which cannot resolve with a current torch, so the `moirai` extra installs its real runtime
# needs (see pyproject.toml) and then uni2ts itself with --no-deps, last: installed in that
# order pip has no conflict to report (installed first, every later install would print a
# red "dependency resolver" ERROR about uni2ts's pins although nothing is wrong).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv="${VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" torch==2.13.0
"${pip[@]}" -e ".${extras:+[$extras]}"
if [[ ",$extras," == *",moirai,"* ]]; then
    "${pip[@]}" --no-deps uni2ts==2.0.0
fi
