"""Fine-tuning a Moirai module on the mean NLL of windows, with a validation hold-out."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from .._training import predict_batches, train_module
from .packing import window_nll

__all__ = ["fine_tune", "holdout_indices"]


def holdout_indices(n_windows, validation_fraction, seed):
    """Random train / validation indices of ``n_windows`` windows.

    Parameters
    ----------
    n_windows : int
    validation_fraction : float in [0, 1)
        Share held out, rounded, at least one window and at least one left to train on.
        0 holds out nothing.
    seed : int

    Returns
    -------
    train_idx : ndarray of shape (n_train,)
    val_idx : ndarray of shape (n_val,) or None
        None when ``validation_fraction`` is 0.
    """
    if validation_fraction == 0:
        return np.arange(n_windows), None
    if n_windows < 2:
        raise ValueError(
            f"got {n_windows} sample(s) (windows) to fit on; validation_fraction="
            f"{validation_fraction} needs at least 2 (one to train on, one to validate): "
            "pass more windows or validation_fraction=0"
        )
    n_val = min(max(1, round(validation_fraction * n_windows)), n_windows - 1)
    return train_test_split(np.arange(n_windows), test_size=n_val, random_state=seed)


def fine_tune(module, packer, windows, train_idx, val_idx, *, seed, device, **schedule):
    """Minimise the mean window NLL of ``windows[train_idx]``; early-stop on ``val_idx``.

    Parameters
    ----------
    module : MoiraiModule
        On ``device``; trained in place (best validation epoch restored when
        ``n_iter_no_change`` is set and ``val_idx`` is not None).
    packer : Packer
    windows : Tensor of shape (n_windows, n_steps, n_features)
    train_idx, val_idx : ndarray or None
        From :func:`holdout_indices`.
    seed : int
        Seeds the shuffling.
    device : torch.device
    **schedule
        ``epochs``, ``batch_size``, ``learning_rate``, ``weight_decay``, ``grad_clip``,
        ``n_iter_no_change``, ``verbose`` as :func:`moeids._training.train_module` takes them.

    Returns
    -------
    history : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``val_nll`` (with a hold-out), ``time``.
    """
    validate = None
    if val_idx is not None:
        val = windows[val_idx]

        def validate(net):
            (nll,) = predict_batches(
                lambda b: window_nll(net, packer, b),
                [val],
                batch_size=schedule["batch_size"],
                device=device,
            )
            return {"val_nll": float(nll.mean())}

    else:
        schedule["n_iter_no_change"] = None
    return train_module(
        module,
        lambda net, batch: window_nll(net, packer, batch).mean(),
        [windows[train_idx]],
        device=device,
        generator=torch.Generator().manual_seed(seed),
        validate=validate,
        monitor="val_nll",
        stage="moirai",
        **schedule,
    )
