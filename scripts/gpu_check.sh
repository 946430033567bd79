#!/usr/bin/env bash
# GPU checks, for a machine with a CUDA device (CI has none): the CUDA tests
# (tests/test_cuda.py: fit on the GPU, device moves, GPU pickles loaded without a GPU), then a
# default fit on all rows of the CIC-IDS2017 sample on the GPU, timed, and the pipeline's
# predict_proba throughput there.
# Usage: bash scripts/gpu_check.sh [DATA_DIR]   (default ../shared/datasets; PYTHON=python3)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DATA=${1:-../shared/datasets}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
status=0
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('torch', torch.__version__, 'on', torch.cuda.get_device_name())" || exit 1
timeout 200 $PY -m pytest tests/test_cuda.py -v -p no:cacheprovider || status=1
timeout 200 $PY - "$DATA" <<'PY' || status=1
import sys, time
from pathlib import Path

from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_cicids2017

cic = load_cicids2017(Path(sys.argv[1]) / "cic_ids2017" / "cicids2017_improved_sample.shared.csv.gz")
start = time.perf_counter()
pipe = make_pipeline(FeatureSplitter(), MoEClassifier(device="cuda", random_state=0))
pipe.fit(cic.data, cic.target)
model = pipe[-1]
print(f"default fit on {len(cic.data):,} CIC-IDS2017 rows on {model.device_}: "
      f"{time.perf_counter() - start:.0f} s ({len(model.pretrain_history_)} pretraining + "
      f"{model.n_iter_} training epochs)")
frame = cic.data.sample(20_000, replace=True, random_state=0)
times = []
for _ in range(3):
    start = time.perf_counter()
    pipe.predict_proba(frame)
    times.append(time.perf_counter() - start)
print(f"predict_proba on 20,000 flows: {min(times):.3f} s = {20_000 / min(times):,.0f} flows/s")
PY
exit $status
