"""The stage-2 objective of :class:`~moeids.MoEClassifier` beyond plain cross-entropy.

- :func:`hide_features` -- random feature dropout of a training batch, so that rows with
  many missing features are in the training distribution;
- :func:`expert_losses` -- auxiliary losses that give the gate weights a meaning.

The stage-1 loss (masked feature modelling) is :func:`moeids.moe.mfm.mfm_loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["expert_losses", "hide_features"]


def hide_features(x: torch.Tensor, rate: float) -> torch.Tensor:
    """Hide each feature of each row with a probability drawn per row from ``[0, rate]``.

    Parameters
    ----------
    x : Tensor of shape (batch, n_features)
        NaN marks a missing value.
    rate : float
        Largest hiding probability; 0 returns ``x`` unchanged.

    Returns
    -------
    hidden : Tensor of shape (batch, n_features)
        ``x`` with the hidden entries set to NaN.

    Examples
    --------
    >>> import torch
    >>> from moeids.moe import hide_features
    >>> _ = torch.manual_seed(0)
    >>> hidden = hide_features(torch.ones(1000, 10), rate=0.5)
    >>> hidden.shape, 0.1 < hidden.isnan().float().mean().item() < 0.4
    (torch.Size([1000, 10]), True)
    """
    if rate <= 0:
        return x
    hide = torch.rand(len(x), 1, device=x.device) * rate
    return x.masked_fill(torch.rand(x.shape, device=x.device) < hide, float("nan"))


def expert_losses(
    weights, expert_logits, present, y, class_weight=None, target_temperature=1.0
) -> torch.Tensor:
    """Auxiliary losses that tie the gate weights to what each expert knows.

    For each sample, ``p_e(y)`` is the probability of the true class that the head gives
    expert ``e``'s embedding alone. The loss is the mean cross-entropy of the experts
    alone plus the cross-entropy of the gate weights against the target
    ``p_e(y)^(1/T) / sum_k p_k(y)^(1/T)`` with ``T = target_temperature`` (no gradient
    through the target), both over the experts with any input present. ``T = 1`` is
    each expert's share of the true-class probability; a lower ``T`` sends the target to
    the better expert where one is clearly better and leaves it near uniform where the
    experts are equally sure.

    Parameters
    ----------
    weights : Tensor of shape (batch, n_experts)
        Gate weights.
    expert_logits : Tensor of shape (batch, n_experts, n_classes)
    present : Tensor of shape (batch, n_experts)
        Fraction of each expert's inputs present (0 = the expert has no input).
    y : Tensor of shape (batch,), long
    class_weight : Tensor of shape (n_classes,), optional
        Per-class weights of the samples.
    target_temperature : float
        ``T`` above (> 0).

    Returns
    -------
    loss : scalar Tensor

    Examples
    --------
    >>> import torch
    >>> from moeids.moe import expert_losses
    >>> weights = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    >>> expert_logits = torch.zeros(2, 2, 3)  # 2 samples, 2 experts, 3 classes
    >>> present = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    >>> loss = expert_losses(weights, expert_logits, present, torch.tensor([0, 2]))
    >>> round(loss.item(), 4)  # log 3 (uniform experts) + log 2 / 2 (gate cross-entropy)
    1.4452
    """
    available = present > 0
    log_p = F.log_softmax(expert_logits, dim=-1)
    index = y.view(-1, 1, 1).expand(-1, log_p.shape[1], 1)
    log_p_true = log_p.gather(2, index).squeeze(2)  # (batch, n_experts)
    sharpened = log_p_true.detach() / target_temperature
    target = F.softmax(sharpened.masked_fill(~available, torch.finfo(log_p.dtype).min), dim=1)
    gate_ce = -(target * torch.log(weights.clamp_min(1e-6))).sum(1)
    expert_ce = -(log_p_true * available).sum(1) / available.sum(1).clamp(min=1)
    sample_weight = available.any(1).to(log_p.dtype)
    if class_weight is not None:
        sample_weight = sample_weight * class_weight[y]
    return ((gate_ce + expert_ce) * sample_weight).sum() / sample_weight.sum().clamp(min=1e-6)
