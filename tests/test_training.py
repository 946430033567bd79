"""Tests of the shared training loop and hold-out split in moeids._training."""

import numpy as np
import pytest
import torch

from moeids._training import holdout_split, train_module

X = torch.arange(36, dtype=torch.float32).reshape(12, 3) / 36
Y = X.sum(1, keepdim=True)


def _linear():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return torch.nn.Linear(3, 1)


def _mse(net, x, target):
    return torch.nn.functional.mse_loss(net(x), target)


def _train(module, loss_fn=_mse, **kwargs):
    """Train on the 12 rows of X in batches of 4 (3 steps per epoch)."""
    defaults = {
        "epochs": 2,
        "batch_size": 4,
        "learning_rate": 0.1,
        "weight_decay": 0.0,
        "device": torch.device("cpu"),
        "generator": torch.Generator().manual_seed(0),
    }
    return train_module(module, loss_fn, [X, Y], **{**defaults, **kwargs})


def _scripted_validation(losses):
    """validate() returning ``losses`` in turn and keeping the weights it saw."""
    seen = []

    def validate(net):
        seen.append(net.weight.detach().clone())
        return {"val_loss": losses[len(seen) - 1]}

    return validate, seen


def test_ema_returns_the_moving_average_of_the_steps():
    seen = []

    def recording(net, x, target):
        seen.append(net.weight.detach().clone())
        return _mse(net, x, target)

    raw = _linear()
    _train(raw, recording)
    steps = [*seen[1:], raw.weight.detach()]  # weights after each of the 6 optimiser steps
    # bias-corrected: the mean of the steps' weights, each weighted 0.5 ** (steps after it)
    decays = 0.5 ** torch.arange(len(steps) - 1, -1, -1.0)
    expected = sum(d * w for d, w in zip(decays, steps, strict=True)) / decays.sum()
    averaged = _linear()
    _train(averaged, ema_decay=0.5)
    torch.testing.assert_close(averaged.weight.detach(), expected)
    assert not torch.allclose(averaged.weight, raw.weight)


def test_early_stopping_stops_after_n_iter_no_change_epochs_without_improvement():
    validate, _ = _scripted_validation([3.0, 2.0, 2.5, 2.0, 1.0, 0.5])
    history = _train(_linear(), epochs=6, validate=validate, n_iter_no_change=2)
    # best at epoch 2; epochs 3 and 4 do not go below 2.0 (equal is no improvement)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert [r["val_loss"] for r in history] == [3.0, 2.0, 2.5, 2.0]


def test_early_stopping_restores_the_best_epochs_weights():
    validate, seen = _scripted_validation([3.0, 1.0, 2.0, 2.5])
    module = _linear()
    _train(module, epochs=4, validate=validate, n_iter_no_change=5)
    assert not torch.equal(seen[1], seen[-1])
    torch.testing.assert_close(module.weight.detach(), seen[1], rtol=0, atol=0)


def test_without_n_iter_no_change_the_last_weights_are_kept():
    validate, seen = _scripted_validation([3.0, 1.0, 2.0, 2.5])
    module = _linear()
    history = _train(module, epochs=4, validate=validate, n_iter_no_change=None)
    assert len(history) == 4
    torch.testing.assert_close(module.weight.detach(), seen[-1], rtol=0, atol=0)


def test_batch_without_loss_takes_no_step():
    calls = []

    def every_other(net, x, target):
        calls.append(len(calls))
        return None if len(calls) % 2 else _mse(net, x, target)

    module = _linear()
    before = module.weight.detach().clone()
    history = _train(module, lambda net, x, t: None, epochs=1)
    torch.testing.assert_close(module.weight.detach(), before, rtol=0, atol=0)
    assert np.isnan(history[0]["train_loss"])
    history = _train(module, every_other, epochs=1)
    assert len(calls) == 3 and np.isfinite(history[0]["train_loss"])
    assert not torch.equal(module.weight.detach(), before)


# ---------------------------------------------------------------- holdout_split
def test_holdout_split_stratifies_labels():
    y = np.r_[[0] * 90, [1] * 10]
    train, val = holdout_split(y, 0.2, seed=0)
    assert len(val) == 20 and len(train) == 80
    assert sorted(np.r_[train, val]) == list(range(100))
    assert np.bincount(y[val]).tolist() == [18, 2]


def test_holdout_split_of_a_row_count_and_same_seed_same_split():
    train, val = holdout_split(50, 0.1, seed=3)
    assert len(val) == 5 and sorted(np.r_[train, val]) == list(range(50))
    again = holdout_split(50, 0.1, seed=3)
    np.testing.assert_array_equal(val, again[1])
    assert not np.array_equal(val, holdout_split(50, 0.1, seed=4)[1])


@pytest.mark.parametrize(
    ("y_or_n", "fraction", "n_val"),
    [
        (10, 0.0, 0),  # no validation
        (1, 0.5, 0),  # one row: nothing to hold out
        (4, 0.1, 1),  # rounds to 0: at least one row
        (3, 0.9, 2),  # at least one training row
        (np.array(["a", "a", "b", "c", "c"]), 0.4, 2),  # "b" alone: not stratified
    ],
)
def test_holdout_split_sizes(y_or_n, fraction, n_val):
    train, val = holdout_split(y_or_n, fraction, seed=0)
    n = y_or_n if isinstance(y_or_n, int) else len(y_or_n)
    assert len(val) == n_val and len(train) == n - n_val


def test_holdout_split_rejects_a_fraction_of_one():
    with pytest.raises(ValueError, match="fraction"):
        holdout_split(10, 1.0, seed=0)
