"""Feature tokenizer: one ``d_token`` vector per feature, plus a leading [CLS] token.

Numeric feature ``i`` becomes ``x_i * w_i + b_i`` (``"linear"``) or
``ReLU(W_i [cos(2 pi c_i x_i), sin(2 pi c_i x_i)]) + b_i`` with learned frequencies
``c_i`` (``"periodic"``), or ``ReLU(W_i ple_i(x_i)) + b_i`` where ``ple_i`` is the
piecewise-linear encoding of ``x_i`` over ``n_bins`` quantile bins of the training data
(``"piecewise_linear"``; both from Gorishniy et al., "On Embeddings for Numerical
Features in Tabular Deep Learning", NeurIPS 2022), and categorical feature ``j`` becomes
``E_j[code] + b_j`` (Gorishniy et al., "Revisiting Deep Learning Models for Tabular
Data", NeurIPS 2021). A *missing* feature becomes ``m + b_i``: the learned [MASK] token
``m`` plus the feature's own bias, so the encoder knows which feature is absent. The
value of a missing feature never reaches the output.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def _uniform_(tensor: torch.Tensor, d_token: int) -> torch.Tensor:
    bound = 1.0 / math.sqrt(d_token)
    return nn.init.uniform_(tensor, -bound, bound)


class FeatureTokenizer(nn.Module):
    """Turn numeric and categorical features into tokens.

    Parameters
    ----------
    n_num : int
        Number of numeric features.
    cat_cardinalities : sequence of int
        Number of codes of each categorical feature (code 0 = unknown category).
    d_token : int
        Token size.
    numeric_embedding : {"linear", "periodic", "piecewise_linear"}
        How a numeric value becomes a token.
    n_frequencies : int
        Frequencies per feature of the periodic embedding.
    frequency_scale : float
        Standard deviation of the initial frequencies (periodic embedding).
    n_bins : int
        Bins per feature of the piecewise-linear embedding; their edges are set from
        training data with :meth:`set_bin_edges`.

    Examples
    --------
    Three numeric features and one categorical feature of 5 codes, 8-wide tokens:

    >>> import torch
    >>> from moeids.moe import FeatureTokenizer
    >>> tokenizer = FeatureTokenizer(3, [5], d_token=8)
    >>> x_num, x_cat = torch.randn(4, 3), torch.tensor([[0], [1], [4], [2]])
    >>> missing = torch.zeros(4, 4, dtype=torch.bool)
    >>> tokenizer(x_num, x_cat, missing).shape
    torch.Size([4, 5, 8])
    """

    EMBEDDINGS = ("linear", "periodic", "piecewise_linear")

    def __init__(
        self,
        n_num: int,
        cat_cardinalities: list[int],
        d_token: int,
        numeric_embedding: str = "linear",
        n_frequencies: int = 8,
        frequency_scale: float = 0.1,
        n_bins: int = 64,
    ):
        super().__init__()
        if numeric_embedding not in self.EMBEDDINGS:
            raise ValueError(
                f"numeric_embedding must be one of {self.EMBEDDINGS}, got {numeric_embedding!r}"
            )
        self.numeric_embedding = numeric_embedding
        self.n_num = n_num
        self.cat_cardinalities = list(cat_cardinalities)
        n_features = n_num + len(self.cat_cardinalities)
        if n_features == 0:
            raise ValueError("FeatureTokenizer needs at least one feature")
        if numeric_embedding == "linear":
            self.num_weight = nn.Parameter(_uniform_(torch.empty(n_num, d_token), d_token))
        elif numeric_embedding == "piecewise_linear":
            edges = torch.linspace(-2.0, 2.0, n_bins + 1).expand(n_num, -1).contiguous()
            self.register_buffer("bin_edges", edges)
            self.num_weight = nn.Parameter(_uniform_(torch.empty(n_num, n_bins, d_token), n_bins))
        else:
            self.frequencies = nn.Parameter(torch.randn(n_num, n_frequencies) * frequency_scale)
            self.num_weight = nn.Parameter(
                _uniform_(torch.empty(n_num, 2 * n_frequencies, d_token), 2 * n_frequencies)
            )
        self.bias = nn.Parameter(_uniform_(torch.empty(n_features, d_token), d_token))
        self.cls = nn.Parameter(_uniform_(torch.empty(d_token), d_token))
        self.mask = nn.Parameter(_uniform_(torch.empty(d_token), d_token))
        offsets = torch.tensor([0, *self.cat_cardinalities[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("cat_offsets", offsets[: len(self.cat_cardinalities)], False)
        self.cat_embeddings = nn.Embedding(max(sum(self.cat_cardinalities), 1), d_token)
        _uniform_(self.cat_embeddings.weight, d_token)

    @property
    def n_features(self) -> int:
        return self.n_num + len(self.cat_cardinalities)

    @torch.no_grad()
    def set_bin_edges(self, x_num: torch.Tensor) -> None:
        """Set the piecewise-linear bins from training values ``x_num`` (n_samples, n_num).

        Edges are the distinct quantiles of each feature's present (non-NaN) values; a
        feature with fewer distinct quantiles than bins repeats its last edge, which
        leaves the extra bins empty (always encoded as 0).

        Parameters
        ----------
        x_num : Tensor of shape (n_samples, n_num), float
            Scaled training values; NaN marks a missing value.

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import FeatureTokenizer
        >>> tokenizer = FeatureTokenizer(1, [], 4, numeric_embedding="piecewise_linear", n_bins=4)
        >>> tokenizer.set_bin_edges(torch.arange(9.0).reshape(9, 1))
        >>> tokenizer.bin_edges
        tensor([[0., 2., 4., 6., 8.]])
        """
        n_bins = self.bin_edges.shape[1] - 1
        values = x_num.detach().cpu().double().numpy()
        for i, column in enumerate(values.T):
            present = column[~np.isnan(column)]
            if len(present) == 0:
                continue
            edges = np.unique(np.quantile(present, np.linspace(0, 1, n_bins + 1)))
            padded = np.concatenate([edges, np.repeat(edges[-1], n_bins + 1 - len(edges))])
            self.bin_edges[i] = torch.from_numpy(padded).to(self.bin_edges)

    def _bins(self) -> tuple:
        """What :meth:`_piecewise_linear` derives from the bin edges and ``num_weight``
        alone; remembered while no gradient is recorded (inference) and neither changed
        (an in-place update bumps a tensor's ``_version``), which saves most of the cost of
        a small batch. Autocast leaves these elementwise ops and ``cumsum`` in float32, so
        the remembered tensors are those a call would compute."""
        inference = not torch.is_grad_enabled()
        tensors = (self.bin_edges, self.num_weight)
        key = tuple((t.device, t.data_ptr(), t._version, t.dtype) for t in tensors)
        cached = getattr(self, "_inference_bins", None)
        if inference and cached is not None and cached[0] == key:
            return cached[1]
        left, right = self.bin_edges[:, :-1], self.bin_edges[:, 1:]
        width = right - left
        filled = width > 0  # (n_num, n_bins); the filled bins come first
        last = (filled.sum(1, keepdim=True) - 1).clamp(min=0)  # (n_num, 1)
        weight = self.num_weight * filled.unsqueeze(-1)
        # before[i, k] = sum of the rows of W_i of the bins left of bin k
        before = torch.cumsum(weight, dim=1) - weight
        bins = (left, right.contiguous(), width, filled, last, weight, before)
        if inference:
            self._inference_bins = (key, bins)
        return bins

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_inference_bins", None)  # derived: the next call rebuilds it
        return state

    def _piecewise_linear(
        self, x: torch.Tensor, offset: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(batch, n_num) -> (batch, n_num, d_token): ``W_i ple_i(x_i)`` (plus ``offset[i]``,
        shape (n_num, d_token), when given) without the (batch, n_num, n_bins) encoding.

        ``ple_i(x)`` is 1 for the bins left of ``x``, the fraction of ``x``'s own bin and 0
        for bins to its right (the first and last non-empty bins extend linearly past the
        training range; empty bins are always 0), so ``W_i ple_i(x)`` is the sum of the
        rows of ``W_i`` of the bins left of ``x`` plus the fraction times the row of its
        own bin: one gather from the running sums of ``W_i`` per value.
        """
        left, right, width, filled, last, weight, before = self._bins()
        n_bins = width.shape[1]
        if offset is not None:
            before = before + offset.unsqueeze(1)
        # the bin of x: the number of bins whose right edge is <= x, at most the last one
        xt = x.t().contiguous()  # (n_num, batch)
        k = torch.searchsorted(right, xt, right=True).clamp_(max=last)
        position = (xt - left.gather(1, k)) / torch.where(filled, width, 1.0).gather(1, k)
        low = torch.where(k == 0, -torch.inf, 0.0)
        high = torch.where(k == last, torch.inf, 1.0)
        fraction = torch.where(filled.gather(1, k), torch.clamp(position, low, high), 0.0)
        rows = (k + torch.arange(len(k), device=k.device).unsqueeze(1) * n_bins).t().reshape(-1)
        d_token = weight.shape[-1]
        own = weight.reshape(-1, d_token).index_select(0, rows).view(*x.shape, d_token)
        summed = before.reshape(-1, d_token).index_select(0, rows).view(*x.shape, d_token)
        return torch.addcmul(summed, fraction.t().unsqueeze(-1), own)

    def forward(
        self, x_num: torch.Tensor, x_cat: torch.Tensor, missing: torch.Tensor
    ) -> torch.Tensor:
        """Tokenize a batch.

        Parameters
        ----------
        x_num : Tensor of shape (batch, n_num), float
            Numeric values; entries flagged in ``missing`` are ignored (may be NaN).
        x_cat : Tensor of shape (batch, n_cat), long
            Category codes in ``[0, cardinality)``; missing entries are ignored.
        missing : Tensor of shape (batch, n_num + n_cat), bool
            True where a feature is missing (numeric columns first).

        Returns
        -------
        tokens : Tensor of shape (batch, 1 + n_num + n_cat, d_token)
            The [CLS] token first, then one token per feature.

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import FeatureTokenizer
        >>> tokenizer = FeatureTokenizer(2, [], d_token=4)
        >>> missing = torch.tensor([[False, True], [False, False]])
        >>> x_num = torch.tensor([[1.0, float("nan")], [0.5, 2.0]])
        >>> tokens = tokenizer(x_num, torch.zeros(2, 0, dtype=torch.long), missing)
        >>> tokens.shape, bool(tokens.isnan().any())
        (torch.Size([2, 3, 4]), False)
        """
        # relu(y) + b is computed as max(y + b, b) (the same number), with the bias added
        # inside the embedding's own product; the tokens are assembled in one concatenation,
        # then the missing ones (usually few) are overwritten with [MASK] + bias.
        batch, n_num = missing.shape[0], self.n_num
        bias = self.bias
        parts = [self.cls.expand(batch, 1, -1)]
        if n_num:
            x = torch.where(missing[:, :n_num], 0.0, x_num)
            num_bias = bias[:n_num]
            if self.numeric_embedding == "linear":
                parts.append(torch.addcmul(num_bias, x.unsqueeze(-1), self.num_weight))
            elif self.numeric_embedding == "piecewise_linear":
                parts.append(torch.maximum(self._piecewise_linear(x, num_bias), num_bias))
            else:
                angles = (2 * math.pi) * x.unsqueeze(-1) * self.frequencies  # (batch, n_num, k)
                periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
                offset = num_bias.unsqueeze(1)
                projected = torch.baddbmm(offset, periodic.transpose(0, 1), self.num_weight)
                parts.append(torch.maximum(projected, offset).transpose(0, 1))
        if self.cat_cardinalities:
            codes = torch.where(missing[:, n_num:], 0, x_cat) + self.cat_offsets
            parts.append(self.cat_embeddings(codes) + bias[n_num:])
        tokens = torch.cat(parts, dim=1)
        rows, features = missing.nonzero(as_tuple=True)
        # index_select, not indexing: the backward of indexing adds into the gradient of
        # [MASK] + bias with atomic adds on the CPU (a different sum from run to run)
        masked = (self.mask + bias).index_select(0, features)
        return tokens.index_put_((rows, features + 1), masked)
