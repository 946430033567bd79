#!/usr/bin/env bash
# Set up ./.venv and run the demo: train, evaluate and explain on the bundled real sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh plot
exec .venv/bin/moeids demo "$@"
