"""Tests of moeids.distributed: Dask scores equal in-memory scores row for row, in the
input's order, across partitions and files (tiny model on real CIC-IDS2017 sample rows;
in-process LocalCluster, closed at the end)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

import moeids
from moeids import FeatureSplitter, MoEClassifier
from moeids.scoring import score_flows

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pq = pytest.importorskip("pyarrow.parquet")

from moeids.distributed import connect, predict_dask, read_flows, score_archive  # noqa: E402

TINY = {
    "d_model": 8,
    "n_layers": 1,
    "n_heads": 1,
    "epochs": 1,
    "pretrain_epochs": 0,
    "device": "cpu",
    "random_state": 0,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def flows():
    """400 real rows, shuffled so that row order is visible in the scores."""
    bunch = moeids.datasets.load_sample()
    rows = np.random.default_rng(0).permutation(len(bunch.data))[:400]
    return bunch.data.iloc[rows].reset_index(drop=True), bunch.target.iloc[rows].to_numpy()


@pytest.fixture(scope="module")
def model(flows):
    X, y = flows
    return make_pipeline(FeatureSplitter(), MoEClassifier(**TINY)).fit(X, y)


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_dask_scores_equal_in_memory_predict_proba(model, flows, client):
    X, _ = flows
    decisions = predict_dask(model, dd.from_pandas(X, npartitions=4)).compute()
    np.testing.assert_array_equal(
        decisions["attack_probability"].to_numpy(), model.predict_proba(X)[:, 1]
    )
    pd.testing.assert_frame_equal(decisions, score_flows(model, X))


def test_meta_matches_computed_dtypes(model, flows, client):
    X, _ = flows
    lazy = predict_dask(model, dd.from_pandas(X, npartitions=2), keep=["Dst Port"])
    computed = lazy.compute()
    pd.testing.assert_series_equal(lazy.dtypes, computed.dtypes)
    assert list(computed.columns[:1]) == ["Dst Port"]


def test_row_order_preserved_across_partitions(model, flows, client):
    X, _ = flows
    X = X.set_axis(np.arange(len(X))[::-1] * 7)  # a non-trivial index must survive
    decisions = predict_dask(model, dd.from_pandas(X, npartitions=5, sort=False)).compute()
    assert decisions.index.equals(X.index)
    np.testing.assert_array_equal(
        decisions["attack_probability"].to_numpy(), model.predict_proba(X)[:, 1]
    )


def test_thread_budget_per_worker_fits_the_cores(model, flows, client):
    from moeids.distributed import _cores, _thread_budget

    budget = _thread_budget(client)
    assert set(budget) == set(client.scheduler_info()["workers"])
    assert sum(budget.values()) <= max(_cores(), len(budget))


def test_explicit_threads_per_worker_is_validated(model, flows):
    with pytest.raises(ValueError, match="threads_per_worker"):
        predict_dask(model, dd.from_pandas(flows[0], npartitions=1), threads_per_worker=0)


def test_keep_names_absent_column(model, flows):
    with pytest.raises(ValueError, match="no such column"):
        predict_dask(model, dd.from_pandas(flows[0], npartitions=1), keep=["no such column"])


def _write_parquet_files(X, folder, n_files, row_group_size):
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(X)), n_files)):
        name = folder / f"flows-{k:02d}.parquet"
        X.iloc[part].to_parquet(name, index=False, row_group_size=row_group_size)
    return folder


def test_score_archive_multi_file_parquet_to_one_file(model, flows, client, tmp_path):
    X, _ = flows
    source = _write_parquet_files(X, tmp_path / "archive", n_files=3, row_group_size=50)
    path = tmp_path / "model.safetensors"
    moeids.save(model, path)
    out, n_flows = score_archive(
        path, source, tmp_path / "scores.parquet", scheduler=client, blocksize=1
    )
    assert n_flows == len(X)
    assert pq.ParquetFile(out).num_row_groups > 3  # several partitions, written in order
    scores = pd.read_parquet(out)
    expected = score_flows(model, X)
    # float32 matmuls round differently with the batch size (50-row partitions here)
    np.testing.assert_allclose(
        scores["attack_probability"], expected["attack_probability"], rtol=1e-6
    )
    assert scores["missing_features"].map(list).tolist() == expected["missing_features"].tolist()
    assert not (tmp_path / "scores.parquet.parts").exists()


def test_score_archive_csv_glob_to_folder_keeps_columns(model, flows, tmp_path):
    X, _ = flows
    for k, part in enumerate(np.array_split(np.arange(len(X)), 12)):
        X.iloc[part].to_csv(tmp_path / f"day-{k:02d}.csv", index=False)
    out, n_flows = score_archive(
        model, tmp_path / "day-*.csv", tmp_path / "scores", scheduler="synchronous",
        keep=["Dst Port"],
    )  # fmt: skip
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 12 and n_flows == len(X)
    scores = pd.read_parquet(out)  # part-000010 sorts after part-000009
    np.testing.assert_array_equal(scores["Dst Port"], X["Dst Port"])
    np.testing.assert_allclose(
        scores["attack_probability"], model.predict_proba(X)[:, 1], rtol=1e-6
    )


def test_score_archive_refuses_a_non_empty_output_folder(model, flows, tmp_path):
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "old.parquet").write_bytes(b"")
    flows[0].iloc[:10].to_parquet(tmp_path / "in.parquet")
    with pytest.raises(FileExistsError, match="scores"):
        score_archive(model, tmp_path / "in.parquet", tmp_path / "scores")


def test_read_flows_rejects_mixed_or_missing_sources(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"")
    (tmp_path / "b.csv").write_text("x\n1\n")
    with pytest.raises(ValueError, match="all Parquet"):
        read_flows(tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_flows(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no Parquet or CSV"):
        read_flows(tmp_path / "*.json")


def test_connect_local_starts_and_closes_a_cluster():
    with connect("local:1") as client:
        assert len(client.scheduler_info()["workers"]) == 1
    assert client.status == "closed"
    with pytest.raises(ValueError, match="local:N"):
        with connect("local:0"):
            pass
