#!/usr/bin/env bash
# Create a virtual environment (if needed; ./.venv, or $VENV) and install moeids into it
# with the extras given as $1.
# torch==2.13.0 goes first: it is the CPU wheel; a bare `torch` requirement in a fresh
# environment would pull a multi-GB CUDA build. uni2ts pins torch<2.5 / numpy<2, so the
# `moirai` extra installs it with --no-deps plus its real runtime needs (see pyproject).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv="${VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" torch==2.13.0
if [[ ",$extras," == *",moirai,"* ]]; then
    "${pip[@]}" --no-deps uni2ts==2.0.0
fi
"${pip[@]}" -e ".${extras:+[$extras]}"
