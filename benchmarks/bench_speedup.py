"""This checkout against an earlier one (``--baseline``): same fitted model, same rows.

Fits FeatureSplitter("cicids2017") + MoEClassifier (library architecture, 1 pretraining + 2
training epochs, no early stopping: the weights only need to be realistic) on 4,000 rows of
the CIC-IDS2017 sample, pickles it, and scores 8,192 other rows with this checkout and with
the baseline's ``moeids`` (a subprocess with the baseline first on ``sys.path``, loading the
same pickle). Reports the largest absolute difference of ``predict_proba`` and whether the
predicted labels agree, and the CPU time (``time.process_time``, so less sensitive to other
processes than wall time; best of 3) of each checkout for the pipeline end to end and for
the classifier alone at batch 4096 and batch 1 (200 flows), with the load average.

``python benchmarks/bench_speedup.py --baseline /tmp/main-checkout`` (e.g. made with
``git archive main | tar -x -C /tmp/main-checkout``). Writes ``docs/results/speedup.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SCORE = r"""
import json, sys, time
import joblib, numpy as np
pipe, frame = joblib.load(sys.argv[1])
splitter, clf = pipe[0], pipe[-1]
Xt = splitter.transform(frame)
def cpu(fn, repeat=3):
    fn()
    best = np.inf
    for _ in range(repeat):
        start = time.process_time(); fn(); best = min(best, time.process_time() - start)
    return best
def batches(fn, X, batch, n):
    take = X.iloc if hasattr(X, "iloc") else X
    return lambda: [fn(take[a : a + batch]) for a in range(0, n, batch)]
n = len(frame)
times = {
    "end to end, batch 4096": cpu(batches(pipe.predict_proba, frame, 4096, n)) / n,
    "model only, batch 4096": cpu(batches(clf.predict_proba, Xt, 4096, n)) / n,
    "end to end, batch 1": cpu(batches(pipe.predict_proba, frame, 1, 200), 1) / 200,
    "model only, batch 1": cpu(batches(clf.predict_proba, Xt, 1, 200), 1) / 200,
}
np.save(sys.argv[2], pipe.predict_proba(frame))
print(json.dumps(times))
"""


def score(python_path, model_file, out_file):
    env = dict(os.environ, PYTHONPATH=str(python_path), PYTHONWARNINGS="ignore")
    # cwd outside the checkout: "-c" puts the working directory first on sys.path
    result = subprocess.run(
        [sys.executable, "-c", SCORE, model_file, out_file],
        env=env, cwd=Path(model_file).parent, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode:
        raise RuntimeError(f"scoring with {python_path} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), np.load(out_file)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True, help="earlier checkout")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import _common as C
    import joblib
    from sklearn.pipeline import make_pipeline

    from moeids import FeatureSplitter, MoEClassifier

    data = C.DATASETS["cicids2017"].load(C.data_dir(argparse.Namespace(data=None)))
    rows = np.random.default_rng(0).permutation(len(data.data))
    train, test = rows[:4000], rows[4000 : 4000 + 8192]
    params = {"epochs": 2, "pretrain_epochs": 1, "n_iter_no_change": None, "refit_epochs": 0}
    pipe = make_pipeline(
        FeatureSplitter("cicids2017"), MoEClassifier(random_state=0, device="cpu", **params)
    ).fit(data.data.iloc[train], data.target.to_numpy()[train])
    frame = data.data.iloc[test].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        model_file = str(Path(tmp) / "model.joblib")
        joblib.dump((pipe, frame), model_file)
        new_t, new_p = score(C.ROOT, model_file, str(Path(tmp) / "new.npy"))
        old_t, old_p = score(args.baseline.resolve(), model_file, str(Path(tmp) / "old.npy"))
    load = os.getloadavg()
    lines = [
        "# Speed-up against an earlier checkout (CIC-IDS2017, CPU)",
        "",
        f"Produced by `{C.command()}` (do not edit by hand; rerun the command). Method: see "
        "the docstring of `benchmarks/bench_speedup.py`.",
        f"Environment: {C.environment()}; load average (1/5/15 min) at the end "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}.",
        "",
        f"- Same predictions: max |predict_proba difference| over {len(frame):,} held-out "
        f"flows = {np.abs(new_p - old_p).max():.3g}; predicted labels agree on "
        f"{np.mean(new_p.argmax(1) == old_p.argmax(1)):.4%} of them.",
        "",
        "| measurement | baseline CPU us/flow | this checkout CPU us/flow | speed-up |",
        "|---|---|---|---|",
    ]
    for key in new_t:
        lines.append(
            f"| {key} | {old_t[key] * 1e6:,.1f} | {new_t[key] * 1e6:,.1f} | "
            f"{old_t[key] / new_t[key]:.2f}x |"
        )
    C.write(args.out or C.RESULTS / "speedup.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
