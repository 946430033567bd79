"""Gating network: per-sample weights over the experts.

The gate sees every expert's embedding and the fraction of that expert's input features
that are present. Its logits go through a softmax with a temperature (or a top-1 choice
with a straight-through gradient when sparse). An expert with no input present gets a
weight of exactly 0; a sample with no input at all gets all-zero weights.

:func:`forced_expert_proba` answers what each expert alone predicts (the gate forced to
weight 1 on it), the measure of whether the experts differ.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._training import predict_batches, to_tensor
from ..features.names import EXPERTS

__all__ = ["Gate", "forced_expert_proba"]


class Gate(nn.Module):
    """Softmax gate over ``n_experts`` embeddings of size ``d_model``.

    Parameters
    ----------
    d_model : int
        Size of each expert embedding.
    n_experts : int
        Number of experts.
    temperature : float
        Softmax temperature (> 0); lower is sharper.
    sparse : bool
        Route each sample to its top-1 expert (weight 1) instead of mixing.
    dropout : float
        Dropout inside the gate's hidden layer.

    Examples
    --------
    >>> import torch
    >>> from moeids.moe import Gate
    >>> gate = Gate(d_model=8, n_experts=2)
    >>> weights = gate(torch.randn(3, 2, 8), torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.5, 0.2]]))
    >>> weights.shape, weights[1, 1].item(), torch.allclose(weights.sum(1), torch.ones(3))
    (torch.Size([3, 2]), 0.0, True)
    """

    def __init__(
        self,
        d_model: int,
        n_experts: int,
        temperature: float = 1.0,
        sparse: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.sparse = sparse
        self.mlp = nn.Sequential(
            nn.Linear(n_experts * (d_model + 1), d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_model, n_experts),
        )

    def forward(self, embeddings: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Expert weights.

        Parameters
        ----------
        embeddings : Tensor of shape (batch, n_experts, d_model)
        present : Tensor of shape (batch, n_experts), float
            Fraction of each expert's input features that are present, in [0, 1].

        Returns
        -------
        weights : Tensor of shape (batch, n_experts)
            Non-negative, summing to 1 over the experts that have any input present
            (to 0 when none has); exactly 0 for experts without input.

        Examples
        --------
        An expert without input (``present`` 0) gets weight 0; no input at all, weights 0:

        >>> import torch
        >>> from moeids.moe import Gate
        >>> gate = Gate(d_model=4, n_experts=2)
        >>> gate(torch.randn(2, 2, 4), torch.tensor([[0.0, 1.0], [0.0, 0.0]])).tolist()
        [[0.0, 1.0], [0.0, 0.0]]
        """
        features = torch.cat([embeddings.flatten(1), present], dim=1)
        logits = self.mlp(features) / self.temperature
        available = present > 0
        logits = logits.masked_fill(~available, torch.finfo(logits.dtype).min)
        weights = F.softmax(logits, dim=1)
        if self.sparse:
            hard = F.one_hot(weights.argmax(dim=1), weights.shape[1]).to(weights.dtype)
            weights = hard + weights - weights.detach() if self.training else hard
        return weights * available


def forced_expert_proba(classifier, X) -> np.ndarray:
    """Class probabilities of each expert alone: the gate forced to weight 1 on it.

    The head classifies the expert's embedding alone, which is what the mixture computes
    when the gate gives that expert weight 1 (the auxiliary per-expert heads of
    :func:`~moeids.moe.losses.expert_losses` are the same computation).

    Parameters
    ----------
    classifier : MoEClassifier
        Fitted.
    X : array-like of shape (n_samples, n_features)
        Input of ``classifier``.

    Returns
    -------
    proba : ndarray of float32 of shape (n_samples, len(EXPERTS), n_classes)
        Experts in :data:`~moeids.features.names.EXPERTS` order; NaN for an expert that
        is off or has no input present in that row.
    """
    values = classifier.forward(X).values
    net = classifier.module_
    net.eval()

    def run(x):
        _, _, expert_logits, present = net(x, return_experts=True)
        return F.softmax(expert_logits, dim=-1), present

    proba, present = predict_batches(
        run, [to_tensor(values)], batch_size=net.predict_batch_size(), device=classifier.device_
    )
    out = np.full((len(values), len(EXPERTS), proba.shape[2]), np.nan, dtype=np.float32)
    for k, name in enumerate(net.expert_names):
        out[:, EXPERTS.index(name)] = np.where(present[:, k, None] > 0, proba[:, k], np.nan)
    return out
