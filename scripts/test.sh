#!/usr/bin/env bash
# Set up ./.venv with everything the tests need, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test,plot,moirai
exec .venv/bin/python -m pytest "$@"
