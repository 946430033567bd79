"""Tests of training from data read in chunks: FeatureSplitter.partial_fit, merged moments,
and moeids.outofcore.fit_from_files (tiny model, real CIC-IDS2017 sample rows split into
Parquet files)."""

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

import moeids
from moeids import FeatureSplitter, MoEClassifier
from moeids._numeric import column_moments, merge_moments, moments_statistics, standard_statistics
from moeids.moe.network import MoENetwork

pq = pytest.importorskip("pyarrow.parquet")

from moeids.outofcore import ParquetRows, fit_from_files  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {
    "d_model": 8,
    "n_layers": 1,
    "n_heads": 1,
    "epochs": 2,
    "pretrain_epochs": 1,
    "refit_epochs": 1,
    "batch_size": 64,
    "device": "cpu",
    "random_state": 0,
}


@pytest.fixture(scope="module")
def flows():
    bunch = moeids.datasets.load_sample()
    rows = np.random.default_rng(0).permutation(len(bunch.data))[:900]
    X = bunch.data.iloc[rows].reset_index(drop=True)
    return X.assign(label=bunch.target.iloc[rows].to_numpy())


@pytest.fixture(scope="module")
def files(flows, tmp_path_factory):
    """3 training files of 200 rows (row groups of 70) and 1 validation file of 200."""
    folder = tmp_path_factory.mktemp("flows")
    for k in range(4):
        name = "validation" if k == 3 else f"train-{k}"
        rows = flows.iloc[k * 200 : (k + 1) * 200]
        rows.to_parquet(folder / f"{name}.parquet", row_group_size=70)
    return sorted(folder.glob("train-*.parquet")), folder / "validation.parquet"


def test_merged_moments_equal_in_memory_statistics():
    rng = np.random.default_rng(0)
    values = rng.lognormal(3, 2, size=(1000, 4))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:, 2] = 7.0  # constant: scale 1
    values[:, 3] = np.nan  # all missing: center 0, scale 1
    merged = None
    for chunk in np.array_split(values, 7):
        moments = column_moments(chunk)
        merged = moments if merged is None else merge_moments(merged, moments)
    center, scale = moments_statistics(merged)
    expected_center, expected_scale = standard_statistics(values)
    np.testing.assert_allclose(center, expected_center, rtol=1e-12)
    np.testing.assert_allclose(scale, expected_scale, rtol=1e-12)
    assert scale[2] == scale[3] == 1.0 and center[3] == 0.0


@pytest.mark.parametrize(
    "params",
    [{}, {"scaling": "log-standard", "missing": "mean"}, {"scaling": "standard",
     "missing": "zero", "max_categories": 3, "min_frequency": 0.01}],
)  # fmt: skip
def test_splitter_partial_fit_in_chunks_equals_fit(flows, params):
    X = flows.drop(columns="label")
    full = FeatureSplitter(**params).fit(X)
    chunked = FeatureSplitter(**params)
    for start in range(0, len(X), 128):
        chunked.partial_fit(X.iloc[start : start + 128])
    assert chunked.n_samples_seen_ == len(X)
    assert chunked.feature_groups_ == full.feature_groups_
    for name in full.categories_:
        np.testing.assert_array_equal(chunked.categories_[name], full.categories_[name])
        np.testing.assert_array_equal(
            chunked.infrequent_categories_[name], full.infrequent_categories_[name]
        )
    np.testing.assert_allclose(chunked.center_, full.center_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(chunked.scale_, full.scale_, rtol=1e-10)
    np.testing.assert_allclose(chunked.fill_values_, full.fill_values_, rtol=1e-6)
    np.testing.assert_allclose(chunked.transform(X), full.transform(X), rtol=1e-5, atol=1e-6)


def test_splitter_partial_fit_refuses_median(flows):
    with pytest.raises(ValueError, match="missing='median'"):
        FeatureSplitter(missing="median").partial_fit(flows.drop(columns="label"))


def test_fit_from_files_statistics_equal_in_memory_fit(flows, files):
    train, validation = files
    model = make_pipeline(FeatureSplitter(), MoEClassifier(**(TINY | {"pretrain_epochs": 0})))
    fit_from_files(model, train, label="label", validation_files=validation, chunk_rows=50)
    rows = flows.iloc[:600]
    splitter = FeatureSplitter().fit(rows.drop(columns="label"))
    assert model[0].categories_.keys() == splitter.categories_.keys()
    for name, vocabulary in splitter.categories_.items():
        np.testing.assert_array_equal(model[0].categories_[name], vocabulary)
    Xt = splitter.transform(rows.drop(columns="label"))
    clf = model[-1]
    assert list(clf.feature_names_in_) == list(Xt.columns)
    np.testing.assert_array_equal(clf.classes_, np.unique(rows["label"]))
    groups = clf.feature_groups_
    expected = Xt.to_numpy()[:, groups == "categorical"]
    np.testing.assert_array_equal(clf.cat_cardinalities_, np.nanmax(expected, axis=0) + 1)
    net = MoENetwork(
        np.flatnonzero(groups == "tabular").tolist(), [], [],
        np.flatnonzero(groups == "temporal").tolist(), 2, d_model=8, n_heads=1,
        numeric_embedding="piecewise_linear",
    )  # fmt: skip
    net.fit_scaling(torch.from_numpy(Xt.to_numpy()))
    np.testing.assert_allclose(clf.module_.loc, net.loc, rtol=1e-6)
    np.testing.assert_allclose(clf.module_.scale, net.scale, rtol=1e-6)
    # the sample holds every training row (600 < sample_rows): the same bins
    edges = clf.module_.experts["tabular"].tokenizer.bin_edges
    np.testing.assert_allclose(edges, net.experts["tabular"].tokenizer.bin_edges, atol=1e-5)


def test_fit_from_files_runs_both_stages_reproducibly(flows, files):
    train, validation = files

    def fit():
        model = make_pipeline(FeatureSplitter(), MoEClassifier(**TINY))
        return fit_from_files(
            model, train, label="label", validation_files=validation, chunk_rows=50,
            buffer_rows=120,
        )  # fmt: skip

    first, second = fit(), fit()
    clf = first[-1]
    assert len(clf.pretrain_history_) == 1 and "val_loss" in clf.pretrain_history_[0]
    assert "val_loss" in clf.history_[0] and clf.n_iter_ == len(clf.history_) == 3
    assert clf.novelty_reference_ is not None
    states = clf.module_.state_dict(), second[-1].module_.state_dict()
    assert states[0].keys() == states[1].keys()
    for name, value in states[0].items():
        torch.testing.assert_close(value, states[1][name], rtol=0, atol=0)
    test = flows.iloc[800:]
    proba = first.predict_proba(test.drop(columns="label"))
    np.testing.assert_array_equal(proba, second.predict_proba(test.drop(columns="label")))
    assert first.score(test.drop(columns="label"), test["label"]) > 0.7


@pytest.mark.parametrize("chunk_rows, buffer_rows", [(40, 100), (25, 30)])
def test_stream_reads_chunks_and_holds_at_most_a_buffer(
    flows, files, monkeypatch, chunk_rows, buffer_rows
):
    """Reads are chunks of at most chunk_rows; each epoch yields every row once, in
    batches of at most batch_size, while the rows held at a time stay under
    max(buffer_rows, batch_size) + chunk_rows (counted, not timed). A buffer smaller than
    a batch (second case) once gave an empty batch and a NaN loss."""
    from moeids import outofcore

    train, validation = files
    reads, held_max, epochs = [], [0], []
    read, flush, batches = outofcore._chunks, ParquetRows._flush, ParquetRows.batches

    def counting_read(paths, chunk_rows, label):
        for X, y in read(paths, chunk_rows, label):
            reads.append(len(X))
            yield X, y

    def counting_flush(self, held, batch_size, generator, *, last):
        held_max[0] = max(held_max[0], sum(len(h[1]) for h in held))
        return (yield from flush(self, held, batch_size, generator, last=last))

    def counting_batches(self, batch_size, generator):
        sizes = []
        for batch in batches(self, batch_size, generator):
            sizes.append(len(batch[0]))
            yield batch
        epochs.append(sizes)

    monkeypatch.setattr(outofcore, "_chunks", counting_read)
    monkeypatch.setattr(ParquetRows, "_flush", counting_flush)
    monkeypatch.setattr(ParquetRows, "batches", counting_batches)
    model = make_pipeline(FeatureSplitter(), MoEClassifier(**TINY))
    fit_from_files(
        model, train, label="label", validation_files=validation, chunk_rows=chunk_rows,
        buffer_rows=buffer_rows,
    )  # fmt: skip
    assert max(reads) <= chunk_rows
    assert len(reads) > 3 * 200 // chunk_rows  # row groups of 70 rows end reads early
    assert held_max[0] < max(buffer_rows, TINY["batch_size"]) + chunk_rows
    # stage 1 (1 epoch), stage 2 (2 epochs), refit (1 epoch, training + validation rows)
    assert [sum(sizes) for sizes in epochs] == [600, 600, 600, 800]
    assert all(0 < min(sizes) and max(sizes) <= TINY["batch_size"] for sizes in epochs)


def test_fit_from_files_names_bad_input(flows, files, tmp_path):
    train, validation = files
    with pytest.raises(ValueError, match="no label column 'attack'"):
        fit_from_files(
            make_pipeline(FeatureSplitter(), MoEClassifier(**TINY)), train, label="attack",
            validation_files=validation,
        )  # fmt: skip
    from sklearn.preprocessing import FunctionTransformer

    with pytest.raises(TypeError, match="no partial_fit"):
        fit_from_files(
            make_pipeline(FunctionTransformer(), MoEClassifier(**TINY)), train, label="label",
            validation_files=validation,
        )  # fmt: skip
    with pytest.raises(ValueError, match="chunk_rows"):
        fit_from_files(MoEClassifier(), train, label="label", validation_files=validation,
                       chunk_rows=0)  # fmt: skip
