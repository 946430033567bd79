"""Tests of the novelty score, its fusion with the classifier and unlabeled rows (y = -1).

All data here is synthetic (named so): Gaussian "training-like" flows and a shifted copy.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from moeids.moe import novelty
from moeids.moe.classifier import MoEClassifier
from moeids.moe.inputs import UnlabeledRowsWarning
from moeids.moe.novelty import NoveltyIndex, resolve_benign_class, tail_score

TINY = {
    "ema_decay": 0.0,
    "refit_epochs": 0,
    "d_model": 8,
    "n_layers": 1,
    "n_heads": 2,
    "epochs": 3,
    "pretrain_epochs": 2,
    "batch_size": 32,
    "device": "cpu",
    "random_state": 0,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**kwargs):
    return MoEClassifier(**{**TINY, **kwargs})


def synthetic_flows(n=600, seed=0):
    """Synthetic flows: 5 correlated numeric columns and one categorical code that
    follows the first; label 1 when the first two sum above 1 (about 1 in 4)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2))
    X = pd.DataFrame(
        {
            "tabular__a": base[:, 0],
            "tabular__b": base[:, 1],
            "tabular__c": base[:, 0] + 0.1 * rng.normal(size=n),
            "tabular__d": base[:, 1] - base[:, 0] + 0.1 * rng.normal(size=n),
            "tabular__e": np.exp(base[:, 0]),
            "categorical__proto": (base[:, 0] > 0).astype(float) + 1,
        }
    ).astype(np.float32)
    return X, (base.sum(1) > 1).astype(int)


def shifted(X):
    """A synthetic shifted batch: the correlations of the training-like rows broken."""
    out = X.copy()
    out["tabular__c"] = -3 * out["tabular__a"]
    out["tabular__e"] = out["tabular__e"] * 50
    out["categorical__proto"] = 3 - out["categorical__proto"]
    return out


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic_flows()
    return tiny().fit(X, y), X, y


def test_novelty_score_shape_range_and_determinism(fitted):
    model, X, y = fitted
    score = model.novelty_score(X[:50])
    assert score.shape == (50,)
    assert np.isfinite(score).all() and (score >= 0).all() and (score <= 1).all()
    again = tiny().fit(X, y).novelty_score(X[:50])
    np.testing.assert_array_equal(score, again)


def test_novelty_score_higher_on_shifted_synthetic_batch(fitted):
    model, X, _ = fitted
    test = synthetic_flows(200, seed=1)[0]
    assert np.median(model.novelty_score(shifted(test))) > np.median(model.novelty_score(test))
    # about the benign share of the reference lies below a benign-like flow's score
    assert 0.2 < np.median(model.novelty_score(test)) < 0.8


def test_novelty_index_holds_benign_training_representations(fitted):
    model, X, y = fitted
    index = model.module_.novelty
    assert isinstance(index, NoveltyIndex) and index.n_neighbors == 5
    assert index.reference.shape[1] == model.d_model
    assert 0 < len(index.reference) <= (y == 0).sum()
    # each indexed row is the representation of a benign flow: it has distance 0 to one
    benign = model._embeddings(torch.from_numpy(X[y == 0].to_numpy()))
    exact = torch.cdist(index.reference, benign, compute_mode="donot_use_mm_for_euclid_dist")
    assert exact.min(1).values.max() < 1e-5
    assert np.all(np.diff(model.novelty_reference_) >= 0)
    assert model.classes_[model.benign_class_] == 0


def test_index_is_capped_and_every_benign_training_flow_calibrates(monkeypatch):
    X, y = synthetic_flows(400)
    monkeypatch.setattr(novelty, "MAX_INDEX_ROWS", 40)
    model = tiny(validation_fraction=0.0).fit(X, y)
    assert len(model.module_.novelty.reference) == 40
    assert len(model.novelty_reference_) == (y == 0).sum()


def test_index_leaves_a_reference_flow_out_of_its_own_neighbours():
    index = NoveltyIndex(torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]), n_neighbors=1)
    np.testing.assert_array_equal(index(index.reference).numpy(), [0, 0, 0])
    np.testing.assert_array_equal(index(index.reference, exclude_self=True).numpy(), [1, 1, 2])
    lone = NoveltyIndex(torch.zeros(1, 2), n_neighbors=5)  # nothing else to compare with
    np.testing.assert_allclose(lone(torch.ones(1, 2), exclude_self=True).numpy(), [2**0.5])


def test_novelty_needs_no_pretraining_and_fusion_off_changes_nothing():
    X, y = synthetic_flows(200)
    model = tiny(pretrain_epochs=0, novelty_fpr=0.1).fit(X, y)
    assert model.pretrain_history_ == []
    score = model.novelty_score(X)
    assert score.shape == (200,) and (score > 0.9).any()
    output = model.forward(X)
    np.testing.assert_array_equal(model.set_params(novelty_fpr=0).predict_proba(X), output.proba)


def test_novelty_survives_save_load_and_pickle(fitted, tmp_path):
    model, X, _ = fitted
    model.save(tmp_path / "model.safetensors")
    loaded = MoEClassifier.load(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(loaded.novelty_score(X[:50]), model.novelty_score(X[:50]))
    unpickled = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(unpickled.novelty_score(X[:50]), model.novelty_score(X[:50]))


def test_fusion_flags_a_flow_when_the_novelty_tail_fires(fitted):
    model, X, _ = fitted
    test = shifted(synthetic_flows(200, seed=1)[0])
    alone = model.set_params(novelty_fpr=0.0).predict(test)
    fires = model.novelty_score(test) > 1 - 0.05
    assert fires.any()
    model.set_params(novelty_fpr=0.05)
    try:
        fused, proba = model.predict(test), model.predict_proba(test)
        explanation = model.explain(test)
        margin = model.decision_function(test)
    finally:
        model.set_params(novelty_fpr=0.0)
    assert (fused[fires] == 1).all()
    np.testing.assert_array_equal(fused[~fires], alone[~fires])
    assert (proba[fires, 0] == 0).all() and np.allclose(proba.sum(1), 1)
    assert (margin[fires] > 0).all()
    expected = np.where(fires, np.where(alone == 1, "both", "novelty"), "")
    expected = np.where(~fires, np.where(alone == 1, "classifier", "none"), expected)
    assert explanation["fired"].tolist() == expected.tolist()
    assert (explanation["prediction"].to_numpy() == fused).all()


def test_fusion_multiclass_moves_benign_mass_to_attacks():
    X, y = synthetic_flows(400)
    y = np.where(y == 1, np.where(X["tabular__a"] > 1, "dos", "scan"), "Benign")
    model = tiny(novelty_fpr=0.05).fit(X, y)
    assert model.classes_[model.benign_class_] == "Benign"
    test = shifted(synthetic_flows(200, seed=1)[0])
    fires = model.novelty_score(test) > 0.95
    proba = model.predict_proba(test)
    assert fires.any() and (proba[fires, model.benign_class_] == 0).all()
    assert set(model.predict(test)[fires]) <= {"dos", "scan"}


def test_unlabeled_rows_are_not_a_class_and_not_in_the_supervised_loss(monkeypatch):
    X, y = synthetic_flows(400)
    partial = np.full_like(y, -1)
    labeled = np.r_[np.flatnonzero(y == 0)[:10], np.flatnonzero(y == 1)[:10]]
    partial[labeled] = y[labeled]
    seen = []
    get_loss = MoEClassifier.get_loss

    def recording_loss(self, net, x, y, class_weight=None):
        seen.append(y.clone())
        return get_loss(self, net, x, y, class_weight)

    monkeypatch.setattr(MoEClassifier, "get_loss", recording_loss)
    with pytest.warns(UnlabeledRowsWarning, match="380 of 400 rows have y == -1"):
        model = tiny(validation_fraction=0.0, epochs=2).fit(X, partial)
    assert model.classes_.tolist() == [0, 1]
    assert model.predict_proba(X).shape == (400, 2)
    labels = torch.cat(seen)
    assert len(labels) == 2 * len(labeled)  # two epochs of the 20 labeled rows
    assert set(labels.tolist()) == {0, 1}
    assert len(model.pretrain_history_) == 2  # stage 1 ran, on all 400 rows


@pytest.mark.filterwarnings("ignore::moeids.moe.inputs.UnlabeledRowsWarning")
def test_unlabeled_rows_join_the_reference_only_when_benign():
    X, y = synthetic_flows(600)
    partial = np.where(np.arange(600) < 300, y, -1)
    plain = tiny(validation_fraction=0.5).fit(X, partial)
    benign = tiny(validation_fraction=0.5, unlabeled_benign=True).fit(X, partial)
    # the reference is the validation half: its benign rows, plus its unlabeled ones
    n_benign, n_unlabeled = len(plain.novelty_reference_), len(benign.novelty_reference_)
    assert n_benign >= 50 and n_unlabeled > n_benign + 100


@pytest.mark.filterwarnings("ignore::moeids.moe.inputs.UnlabeledRowsWarning")
def test_only_unlabeled_rows_is_a_clear_error():
    X, y = synthetic_flows(50)
    with pytest.raises(ValueError, match="unlabeled"):
        tiny().fit(X, np.where(y == 0, -1, 1))


def test_tail_score_and_benign_class():
    reference = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(tail_score(np.array([0.5, 2.5, 9.0]), reference), [0, 0.5, 1])
    assert resolve_benign_class(np.array(["BENIGN", "DoS"]), "auto") == 0
    assert resolve_benign_class(np.array([1, 2]), "auto") is None
    assert resolve_benign_class(np.array(["a", "b"]), "b") == 1
    with pytest.raises(ValueError, match="benign_label"):
        resolve_benign_class(np.array(["a", "b"]), "c")


EXPECTED_FAILED_CHECKS = {  # as in test_classifier.py, with the same reasons
    "check_methods_sample_order_invariance": "float32 rounding depends on row position",
    "check_classifiers_classes": "y = -1 means unlabeled (labels {-1, 1} leave one class)",
    # with fusion, flows in the novelty tail (this check's noisy blobs have far-out test
    # rows) are flagged away from class 0 (read as benign), whatever its class weight
    "check_class_weight_classifiers": "fusion overrides class 0 on novelty-tail rows",
}


@parametrize_with_checks(
    [
        MoEClassifier(
            **{**TINY, "epochs": 30, "pretrain_epochs": 1, "learning_rate": 1e-2},
            validation_fraction=0.0,
            novelty_fpr=0.01,
        )
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_with_fusion(estimator, check):
    check(estimator)
