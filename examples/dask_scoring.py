"""Scoring an archive with Dask: a folder of Parquet files -> one decision per flow.

Needs the ``dask`` extra (``pip install "moeids[dask]"``: dask[dataframe], distributed,
pyarrow). The bundled sample is copied as three Parquet files into a temporary folder,
standing in for an archive of flow files; a small model trained on part of it scores the
whole folder on a local Dask cluster (two workers of one thread each, in this process):
``score_archive`` writes the decisions to Parquet, ``predict_dask`` gives them as a lazy
dask DataFrame. The scores equal those of ``predict_proba`` in memory on the same rows.
``moeids predict MODEL FOLDER --out OUT --dask local:2`` does the same from the command
line (docs/scale.md)::

    python examples/dask_scoring.py
"""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from distributed import Client, LocalCluster
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_sample
from moeids.distributed import predict_dask, read_flows, score_archive

sample = load_sample()
X_train, _, y_train, _ = train_test_split(
    sample.data, sample.target, train_size=1500, stratify=sample.attack_type, random_state=0
)
small = {"d_model": 16, "n_layers": 1, "epochs": 10, "pretrain_epochs": 0}
model = make_pipeline(
    FeatureSplitter(), MoEClassifier(**small, class_weight="balanced", random_state=0, verbose=0)
).fit(X_train, y_train)

with tempfile.TemporaryDirectory() as folder:
    # A copy of the bundled sample, split into three files (sorted names = row order).
    archive = Path(folder) / "cicids2017-sample-copy"
    archive.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(sample.data)), 3)):
        sample.data.iloc[rows].to_parquet(archive / f"flows-{i}.parquet", index=False)
    print("archive:", sorted(p.name for p in archive.iterdir()), len(sample.data), "flows")

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with cluster, Client(cluster) as client:
        print("workers:", len(client.scheduler_info()["workers"]), "x 1 thread")

        # Files in, one Parquet file of decisions out, in the input's row order.
        out, n_flows = score_archive(model, archive, Path(folder) / "decisions.parquet",
                                     scheduler=client)  # fmt: skip
        decisions = pd.read_parquet(out)
        print(f"score_archive wrote {n_flows} decisions to {out.name}:")
        print(decisions.head(3).to_string())

        # A lazy dask DataFrame of decisions: a query over the archive, computed on the cluster.
        lazy = predict_dask(model, read_flows(archive))
        alerts = lazy[lazy["label"] == 1]  # nothing computed yet
        print(f"predict_dask: {lazy.npartitions} partitions;", end=" ")
        print(f"{len(alerts)} flows predicted attacks ({int(sample.target.sum())} are)")

expected = model.predict_proba(sample.data)[:, 1]  # in memory, the same rows
difference = np.abs(decisions["attack_probability"].to_numpy() - expected).max()
np.testing.assert_allclose(decisions["attack_probability"], expected, rtol=0, atol=1e-6)
assert (decisions["label"].to_numpy() == model.predict(sample.data)).all()
print(f"equal to predict_proba in memory: max abs difference {difference:.1e}")
