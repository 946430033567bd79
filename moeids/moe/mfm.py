"""Masked feature modelling (MFM): the self-supervised pretraining of the tabular expert.

A random subset of the *present* features of each sample is replaced by the [MASK]
token; the head reconstructs them from the encoder's output tokens: numeric values with
a squared error, categorical codes with a cross-entropy. Features that are really
missing are never targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .ft_transformer import FTTransformer


class MFMHead(nn.Module):
    """Per-feature reconstruction heads on top of :meth:`FTTransformer.encode`.

    Parameters
    ----------
    n_num : int
        Number of numeric features (one linear read-out each).
    cat_cardinalities : sequence of int
        Codes per categorical feature (one classifier each).
    d_model : int
        Token size.

    Examples
    --------
    >>> import torch
    >>> from moeids.moe import MFMHead
    >>> head = MFMHead(n_num=3, cat_cardinalities=[5], d_model=8)
    >>> num, cat = head(torch.randn(4, 1 + 3 + 1, 8))
    >>> num.shape, [logits.shape for logits in cat]
    (torch.Size([4, 3]), [torch.Size([4, 5])])
    """

    def __init__(self, n_num: int, cat_cardinalities: list[int], d_model: int):
        super().__init__()
        self.n_num = n_num
        self.num_weight = nn.Parameter(torch.zeros(n_num, d_model))
        self.num_bias = nn.Parameter(torch.zeros(n_num))
        self.cat_heads = nn.ModuleList(nn.Linear(d_model, c) for c in cat_cardinalities)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Reconstruct every feature.

        Parameters
        ----------
        tokens : Tensor of shape (batch, 1 + n_features, d_model)
            Output of :meth:`FTTransformer.encode` ([CLS] first).

        Returns
        -------
        num : Tensor of shape (batch, n_num)
            Predicted numeric values.
        cat : list of Tensor, one (batch, cardinality_j) per categorical feature
            Logits over the codes.

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import MFMHead
        >>> num, cat = MFMHead(2, [], d_model=4)(torch.randn(6, 3, 4))
        >>> num.shape, cat
        (torch.Size([6, 2]), [])
        """
        features = tokens[:, 1:]
        num = (features[:, : self.n_num] * self.num_weight).sum(-1) + self.num_bias
        cat = [head(features[:, self.n_num + j]) for j, head in enumerate(self.cat_heads)]
        return num, cat


def mfm_loss(
    encoder: FTTransformer,
    head: MFMHead,
    x_num: torch.Tensor,
    x_cat: torch.Tensor,
    missing: torch.Tensor,
    mask_ratio: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor | None:
    """Mean reconstruction loss over randomly masked present features.

    Parameters
    ----------
    encoder, head : FTTransformer, MFMHead
    x_num : Tensor of shape (batch, n_num), float
    x_cat : Tensor of shape (batch, n_cat), long
    missing : Tensor of shape (batch, n_num + n_cat), bool
        Features that are really missing (never masked targets).
    mask_ratio : float
        Probability that a present feature is masked, in (0, 1).
    generator : torch.Generator, optional
        Source of the random mask (a fixed one gives a fixed validation mask).

    Returns
    -------
    loss : scalar Tensor or None
        Squared error over masked numeric features plus cross-entropy over masked
        categorical features, each averaged over its masked entries. None when no
        feature of the batch is present: there is nothing to reconstruct. When some are
        present, at least one is masked (the one of smallest draw if the ratio picked
        none), so a small batch always has a target.

    Examples
    --------
    >>> import torch
    >>> from moeids.moe import FTTransformer, MFMHead, mfm_loss
    >>> encoder = FTTransformer(3, [], d_model=8, n_layers=1, n_heads=2, dropout=0.0)
    >>> head = MFMHead(3, [], d_model=8)
    >>> x_num, x_cat = torch.randn(16, 3), torch.zeros(16, 0, dtype=torch.long)
    >>> missing = torch.zeros(16, 3, dtype=torch.bool)
    >>> loss = mfm_loss(encoder, head, x_num, x_cat, missing, mask_ratio=0.3)
    >>> loss.shape, bool(loss > 0)
    (torch.Size([]), True)
    >>> mfm_loss(encoder, head, x_num, x_cat, torch.ones(16, 3, dtype=torch.bool), 0.3) is None
    True
    """
    if generator is None:
        draw = torch.rand(missing.shape, device=missing.device)
    else:
        draw = torch.rand(missing.shape, generator=generator, device=generator.device)
    draw = draw.to(missing.device).masked_fill(missing, 2.0)  # missing: never a target
    targets = draw < mask_ratio
    if not targets.any():
        if missing.all():
            return None
        targets = draw == draw.min()
    num, cat = head(encoder.encode(x_num, x_cat, missing | targets))
    n_num = head.n_num
    loss = num.new_zeros(())
    num_targets = targets[:, :n_num]
    if num_targets.any():
        loss = loss + F.mse_loss(num[num_targets], x_num[num_targets])
    for j, logits in enumerate(cat):
        rows = targets[:, n_num + j]
        if rows.any():
            loss = loss + F.cross_entropy(logits[rows], x_cat[rows, j]) / len(cat)
    return loss
