"""FT-Transformer: the tabular expert.

A pre-norm transformer encoder over the tokens of :class:`FeatureTokenizer`; the
embedding of a sample is the final [CLS] token (Gorishniy et al., NeurIPS 2021, after
``rtdl_revisiting_models``). When only the [CLS] output is needed, the last block
computes attention and its feed-forward network for the [CLS] query alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._kernels import fusable, linear
from .tokenizer import FeatureTokenizer


class ReGLU(nn.Module):
    """``a * relu(b)`` for the two halves ``a, b`` of the last dimension."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=-1)
        return a * F.relu(b)


class TransformerBlock(nn.Module):
    """Pre-norm multi-head self-attention followed by a ReGLU feed-forward network."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        d_ffn = max(2, round(d_model * 4 / 3))
        self.n_heads = n_heads
        self.attn_norm = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ffn_norm = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, 2 * d_ffn), ReGLU(), nn.Dropout(dropout), nn.Linear(d_ffn, d_model)
        )

    def forward(self, x: torch.Tensor, cls_only: bool = False) -> torch.Tensor:
        """(batch, tokens, d_model) -> (batch, tokens or 1, d_model)."""
        batch, n_tokens, d_model = x.shape
        d_head = d_model // self.n_heads
        h = self.attn_norm(x)
        if cls_only:  # keys and values of every token, the query of [CLS] alone
            x, w, b = x[:, :1], self.qkv.weight, self.qkv.bias
            q = linear(h[:, :1], w[:d_model], b[:d_model]).view(batch, 1, self.n_heads, d_head)
            kv = linear(h, w[d_model:], b[d_model:]).view(batch, n_tokens, 2, self.n_heads, d_head)
            q, (k, v) = q.transpose(1, 2), kv.permute(2, 0, 3, 1, 4)
        else:
            qkv = linear(h, self.qkv.weight, self.qkv.bias)
            q, k, v = qkv.view(batch, n_tokens, 3, self.n_heads, d_head).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v)  # (batch, heads, tokens, d_head)
        attended = attended.transpose(1, 2).reshape(batch, q.shape[2], d_model)
        x = linear(attended, self.out.weight, self.out.bias, residual=x)
        h = self.ffn_norm(x)
        first, dropout, last = self.ffn[0], self.ffn[2], self.ffn[3]
        if fusable(h):  # ReGLU's halves as two products, the ReLU fused into the second
            d_ffn = last.in_features
            w, b = first.weight, first.bias
            gated = linear(h, w[:d_ffn], b[:d_ffn]).mul_(linear(h, w[d_ffn:], b[d_ffn:], "relu"))
            return linear(dropout(gated), last.weight, last.bias, residual=x)
        return x + self.ffn(h)


class FTTransformer(nn.Module):
    """Feature tokenizer + transformer encoder, read out at the [CLS] token.

    Parameters
    ----------
    n_num : int
        Number of numeric features.
    cat_cardinalities : sequence of int
        Codes per categorical feature (0 = unknown category).
    d_model, n_layers, n_heads : int
        Token size, number of blocks, attention heads (``d_model % n_heads == 0``).
    dropout : float
        Dropout inside the feed-forward networks. (No dropout on attention weights: on
        the CPU it costs more than the rest of a training step.)
    numeric_embedding : {"linear", "periodic", "piecewise_linear"}
        See :class:`FeatureTokenizer`.
    n_bins : int
        Bins per feature of the piecewise-linear embedding.

    Examples
    --------
    >>> import torch
    >>> from moeids.moe import FTTransformer
    >>> encoder = FTTransformer(3, [5], d_model=8, n_layers=1, n_heads=2, dropout=0.0)
    >>> x_num, x_cat = torch.randn(4, 3), torch.tensor([[0], [1], [4], [2]])
    >>> encoder(x_num, x_cat, torch.zeros(4, 4, dtype=torch.bool)).shape
    torch.Size([4, 8])
    """

    def __init__(
        self,
        n_num: int,
        cat_cardinalities: list[int],
        d_model: int,
        n_layers: int,
        n_heads: int,
        dropout: float,
        numeric_embedding: str = "linear",
        n_bins: int = 64,
    ):
        super().__init__()
        self.tokenizer = FeatureTokenizer(
            n_num, cat_cardinalities, d_model, numeric_embedding=numeric_embedding, n_bins=n_bins
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, dropout) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def encode(
        self, x_num: torch.Tensor, x_cat: torch.Tensor, missing: torch.Tensor
    ) -> torch.Tensor:
        """All output tokens, shape (batch, 1 + n_features, d_model); [CLS] first.

        Parameters
        ----------
        x_num : Tensor of shape (batch, n_num), float
        x_cat : Tensor of shape (batch, n_cat), long
        missing : Tensor of shape (batch, n_num + n_cat), bool
            See :meth:`FeatureTokenizer.forward`.

        Returns
        -------
        tokens : Tensor of shape (batch, 1 + n_num + n_cat, d_model)

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import FTTransformer
        >>> encoder = FTTransformer(3, [5], d_model=8, n_layers=1, n_heads=2, dropout=0.0)
        >>> x_num, x_cat = torch.randn(4, 3), torch.tensor([[0], [1], [4], [2]])
        >>> missing = torch.zeros(4, 4, dtype=torch.bool)
        >>> encoder.encode(x_num, x_cat, missing).shape
        torch.Size([4, 5, 8])
        """
        x = self.tokenizer(x_num, x_cat, missing)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(
        self, x_num: torch.Tensor, x_cat: torch.Tensor, missing: torch.Tensor
    ) -> torch.Tensor:
        """The [CLS] embedding, shape (batch, d_model).

        Parameters
        ----------
        x_num : Tensor of shape (batch, n_num), float
        x_cat : Tensor of shape (batch, n_cat), long
        missing : Tensor of shape (batch, n_num + n_cat), bool
            See :meth:`FeatureTokenizer.forward`.

        Returns
        -------
        embedding : Tensor of shape (batch, d_model)

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import FTTransformer
        >>> encoder = FTTransformer(3, [5], d_model=8, n_layers=1, n_heads=2, dropout=0.0)
        >>> x_num, x_cat = torch.randn(4, 3), torch.tensor([[0], [1], [4], [2]])
        >>> missing = torch.zeros(4, 4, dtype=torch.bool)
        >>> encoder(x_num, x_cat, missing).shape
        torch.Size([4, 8])
        """
        x = self.tokenizer(x_num, x_cat, missing)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, cls_only=i == last)
        return self.norm(x[:, 0])
