"""Fine-tuning a Moirai module on the mean NLL of windows, with a validation hold-out."""

from __future__ import annotations

import torch

from .._training import predict_batches, train_module
from .packing import window_nll

__all__ = ["fine_tune"]


def fine_tune(module, packer, windows, train_idx, val_idx, *, seed, device, **schedule):
    """Minimise the mean window NLL of ``windows[train_idx]``; early-stop on ``val_idx``.

    Parameters
    ----------
    module : MoiraiModule
        On ``device``; trained in place (best validation epoch restored when
        ``n_iter_no_change`` is set and ``val_idx`` is not empty).
    packer : Packer
    windows : Tensor of shape (n_windows, n_steps, n_features)
    train_idx, val_idx : ndarray
        From :func:`moeids._training.holdout_split`; ``val_idx`` empty: no validation.
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
    if len(val_idx):
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
