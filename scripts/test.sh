#!/usr/bin/env bash
# Run the test suite in two environments, each set up first; arguments go to both pytest runs.
# 1. ./.venv with every extra the tests use (test, plot, moirai): the whole suite. gluonts, a
#    need of the moirai extra, pins pandas<3, so this run sees pandas 2.
# 2. ./.venv-core without the moirai extra, as most users install moeids: the newest pandas
#    (3.x). tests/test_detector.py is left out (MoiraiNLLDetector needs uni2ts); exit status 5
#    (no test selected, e.g. `-k moirai`) counts as a pass there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test,plot,moirai,flows
.venv/bin/python -m pytest "$@"
VENV=.venv-core bash scripts/bootstrap.sh test,plot,flows
status=0
.venv-core/bin/python -m pytest --ignore=tests/test_detector.py "$@" || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 5 ]
