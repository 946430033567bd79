"""Tests of the shared training loop in moeids._training."""

import torch

from moeids._training import train_module


def _fit_linear(ema_decay, trajectory=None):
    """Two epochs of a 3 -> 1 linear regression, 12 rows in batches of 4 (6 steps)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = torch.nn.Linear(3, 1)
    X = torch.arange(36, dtype=torch.float32).reshape(12, 3) / 36
    y = X.sum(1, keepdim=True)

    def loss_fn(net, x, target):
        if trajectory is not None:
            trajectory.append(net.weight.detach().clone())
        return torch.nn.functional.mse_loss(net(x), target)

    train_module(
        module,
        loss_fn,
        [X, y],
        epochs=2,
        batch_size=4,
        learning_rate=0.1,
        weight_decay=0.0,
        device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0),
        ema_decay=ema_decay,
    )
    return module.weight.detach()


def test_ema_returns_the_moving_average_of_the_steps():
    seen = []
    raw_final = _fit_linear(0.0, seen)
    steps = [*seen[1:], raw_final]  # weights after each of the 6 optimiser steps
    # bias-corrected: the mean of the steps' weights, each weighted 0.5 ** (steps after it)
    decays = 0.5 ** torch.arange(len(steps) - 1, -1, -1.0)
    expected = sum(d * w for d, w in zip(decays, steps, strict=True)) / decays.sum()
    averaged = _fit_linear(0.5)
    torch.testing.assert_close(averaged, expected)
    assert not torch.allclose(averaged, raw_final)
