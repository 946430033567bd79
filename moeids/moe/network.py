"""The assembled mixture-of-experts network.

::

    x (batch, n_columns), NaN = missing
      |-- numeric tabular + categorical columns --> FTTransformer --> z_tab  (batch, d)
      |-- temporal columns ----------------------> TemporalCNN   --> z_temp (batch, d)
      |-- fraction present per expert -------------------------------------+
    Gate(z_tab, z_temp, present) --> w (batch, n_experts)                  |
    z = sum_e w_e * z_e --> MLP head --> logits (batch, n_classes)     <---+

The network owns the column layout and the one numeric scaling of path A
(:func:`moeids._numeric.signed_log1p`, then centring and scaling with
:func:`moeids._numeric.standard_statistics` of the training rows), so raw flow values go
in: a plain float matrix, or :class:`~moeids.FeatureSplitter`'s unscaled output. An
expert is built only when it has input columns.
"""

from __future__ import annotations

import torch
from torch import nn

from .._numeric import signed_log1p, standard_statistics
from .ft_transformer import FTTransformer
from .gating import Gate
from .temporal_cnn import TemporalCNN

# inference chunks keep their largest activation within this many bytes (predict_batch_size)
_ACTIVATION_BUDGET = 12 * 2**20


class MoENetwork(nn.Module):
    """Tabular + temporal experts, a gate and a classification head.

    Parameters
    ----------
    num_columns : sequence of int
        Input columns of the numeric tabular features.
    cat_columns : sequence of int
        Input columns of the categorical features (integer codes, 0 = unknown).
    cat_cardinalities : sequence of int
        Codes per categorical feature; larger codes are read as 0 (unknown).
    temporal_columns : sequence of int
        Input columns of the timing features.
    n_classes : int
        Number of output logits.
    d_model, n_layers, n_heads : int
        Size of the experts' embeddings, transformer blocks and heads.
    dropout : float
        Dropout in the experts, the gate and the head.
    gate_temperature : float
        Softmax temperature of the gate.
    sparse_gating : bool
        Top-1 routing instead of a soft mixture.
    numeric_embedding : {"linear", "periodic", "piecewise_linear"}
        Numeric tokens of the tabular expert (see :class:`FeatureTokenizer`).
    n_bins : int
        Bins per feature of the piecewise-linear embedding.

    Examples
    --------
    Input columns 0-1 numeric, 2 categorical (4 codes), 3-4 timing; two classes:

    >>> import torch
    >>> from moeids.moe import MoENetwork
    >>> net = MoENetwork([0, 1], [2], [4], [3, 4], n_classes=2, d_model=8, n_layers=1,
    ...                  n_heads=2)
    >>> nan = float("nan")
    >>> x = torch.tensor([[1.0, 2.0, 1.0, 0.1, 0.2], [3.0, nan, 7.0, 0.3, nan]])
    >>> net.fit_scaling(x)
    >>> logits, weights = net(x)
    >>> logits.shape, weights.shape, net.expert_names
    (torch.Size([2, 2]), torch.Size([2, 2]), ['tabular', 'temporal'])
    """

    def __init__(
        self,
        num_columns: list[int],
        cat_columns: list[int],
        cat_cardinalities: list[int],
        temporal_columns: list[int],
        n_classes: int,
        d_model: int = 32,
        n_layers: int = 2,
        n_heads: int = 4,
        dropout: float = 0.1,
        gate_temperature: float = 1.0,
        sparse_gating: bool = False,
        numeric_embedding: str = "linear",
        n_bins: int = 64,
    ):
        super().__init__()
        if len(cat_columns) != len(cat_cardinalities):
            raise ValueError("cat_columns and cat_cardinalities differ in length")
        self.register_buffer("num_columns", torch.as_tensor(num_columns, dtype=torch.long))
        self.register_buffer("cat_columns", torch.as_tensor(cat_columns, dtype=torch.long))
        self.register_buffer(
            "cat_cardinalities", torch.as_tensor(cat_cardinalities, dtype=torch.long)
        )
        self.register_buffer(
            "temporal_columns", torch.as_tensor(temporal_columns, dtype=torch.long)
        )
        n_scaled = len(num_columns) + len(temporal_columns)
        self.register_buffer("loc", torch.zeros(n_scaled))
        self.register_buffer("scale", torch.ones(n_scaled))
        self.experts = nn.ModuleDict()
        if num_columns or cat_columns:
            self.experts["tabular"] = FTTransformer(
                len(num_columns),
                list(cat_cardinalities),
                d_model,
                n_layers,
                n_heads,
                dropout,
                numeric_embedding,
                n_bins,
            )
        if temporal_columns:
            self.experts["temporal"] = TemporalCNN(
                len(temporal_columns), d_model, channels=max(8, d_model // 2), dropout=dropout
            )
        if not self.experts:
            raise ValueError("MoENetwork needs at least one input column")
        self.gate = Gate(d_model, len(self.experts), gate_temperature, sparse_gating, dropout)
        self.head = nn.Sequential(
            nn.Linear(d_model, 2 * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * d_model, n_classes),
        )

    @property
    def expert_names(self) -> list[str]:
        """Names of the built experts, in the order of the gate's weights."""
        return list(self.experts)

    def predict_batch_size(self) -> int:
        """Rows per inference chunk: a power of two from 64 to 1,024 whose largest
        activation, the tabular expert's q/k/v projection (rows x tokens x 3 d_model
        float32), stays within 12 MiB.

        Larger chunks are not faster, and glibc maps and unmaps blocks that size on every
        chunk (its heap keeps at most twice the largest freed block): faulting their pages
        in again took about a fifth of the CPU time of ``predict_proba`` at 1,024 rows of
        the default network (system CPU time, measured in one process against 512 rows).

        Returns
        -------
        rows : int

        Examples
        --------
        >>> from moeids.moe import MoENetwork
        >>> net = MoENetwork(num_columns=list(range(53)), cat_columns=[], cat_cardinalities=[],
        ...                  temporal_columns=[], n_classes=2, d_model=32, n_heads=2)
        >>> net.predict_batch_size()
        512
        """
        if "tabular" not in self.experts:
            return 1024
        tabular = self.experts["tabular"]
        d_model = tabular.norm.normalized_shape[0]
        row_bytes = (1 + tabular.tokenizer.n_features) * 3 * d_model * 4
        rows = 1024
        while rows > 64 and rows * row_bytes > _ACTIVATION_BUDGET:
            rows //= 2
        return rows

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Numeric tabular then temporal columns, scaled: (batch, n_num + n_temporal).

        Parameters
        ----------
        x : Tensor of shape (batch, n_columns), float
            A raw batch; NaN marks a missing value (it stays NaN).

        Returns
        -------
        scaled : Tensor of shape (batch, n_num + n_temporal)
            ``(signed_log1p(x) - loc) / scale`` of those columns.

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import MoENetwork
        >>> net = MoENetwork([0, 1], [2], [4], [3, 4], n_classes=2, d_model=8, n_layers=1,
        ...                  n_heads=2)
        >>> nan = float("nan")
        >>> x = torch.tensor([[1.0, 2.0, 1.0, 0.1, 0.2], [3.0, nan, 7.0, 0.3, nan]])
        >>> net.fit_scaling(x)
        >>> scaled = net.scaled(x)
        >>> scaled.shape, scaled.isnan().sum().item()
        (torch.Size([2, 4]), 2)
        """
        columns = torch.cat([self.num_columns, self.temporal_columns])
        return (signed_log1p(x[:, columns]) - self.loc) / self.scale

    @torch.no_grad()
    def fit_scaling(self, x: torch.Tensor) -> None:
        """Set the centring and scaling from training rows ``x`` (n_samples, n_columns).

        Uses :func:`~moeids._numeric.standard_statistics` of the present (non-NaN) values
        of each column after ``signed_log1p``: a constant or all-missing column gets
        scale 1. A piecewise-linear tabular expert also gets its bins from these rows.

        Parameters
        ----------
        x : Tensor of shape (n_samples, n_columns), float
            Raw training rows; NaN marks a missing value.

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import MoENetwork
        >>> net = MoENetwork([0, 1], [2], [4], [3, 4], n_classes=2, d_model=8, n_layers=1,
        ...                  n_heads=2)
        >>> nan = float("nan")
        >>> x = torch.tensor([[1.0, 2.0, 1.0, 0.1, 0.2], [3.0, nan, 7.0, 0.3, nan]])
        >>> net.fit_scaling(x)
        >>> net.loc.shape, net.scale[1].item()  # column 1 has one present value: scale 1
        (torch.Size([4]), 1.0)
        """
        logged = signed_log1p(x[:, self.scaled_columns].detach().cpu().double().numpy())
        self.set_scaling(*standard_statistics(logged), x)

    @property
    def scaled_columns(self) -> torch.Tensor:
        """Input columns that are log-standardised: numeric tabular, then temporal."""
        return torch.cat([self.num_columns, self.temporal_columns]).cpu()

    @torch.no_grad()
    def set_scaling(self, center, scale, x: torch.Tensor) -> None:
        """Set the centring and scaling, and a piecewise-linear expert's bins.

        :meth:`fit_scaling` with statistics computed elsewhere (e.g. in chunks) and bins
        from a sample of the training rows.

        Parameters
        ----------
        center, scale : array-like of shape (n_num + n_temporal,)
            Of the ``signed_log1p`` values of :attr:`scaled_columns`.
        x : Tensor of shape (n_samples, n_columns), float
            Raw training rows (a sample) for the bins of a piecewise-linear expert.

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import MoENetwork
        >>> net = MoENetwork([0, 1], [2], [4], [3, 4], n_classes=2, d_model=8, n_layers=1,
        ...                  n_heads=2)
        >>> x = torch.tensor([[1.0, 2.0, 1.0, 0.1, 0.2], [3.0, 4.0, 7.0, 0.3, 0.4]])
        >>> net.set_scaling(torch.zeros(4), 2 * torch.ones(4), x)
        >>> net.scale.tolist()
        [2.0, 2.0, 2.0, 2.0]
        """
        self.loc.copy_(torch.as_tensor(center))
        self.scale.copy_(torch.as_tensor(scale))
        tokenizer = self.experts["tabular"].tokenizer if "tabular" in self.experts else None
        if tokenizer is not None and tokenizer.numeric_embedding == "piecewise_linear":
            n_num = len(self.num_columns)
            tokenizer.set_bin_edges(self.scaled(x)[:, :n_num])

    def split_inputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Expert inputs from a raw batch ``x`` (batch, n_columns).

        Returns a dict with ``x_num`` (batch, n_num) float scaled, ``x_cat``
        (batch, n_cat) long with unseen codes read as 0, ``tabular_missing``
        (batch, n_num + n_cat) bool, ``temporal`` (batch, n_temporal) float scaled and
        ``temporal_missing`` (batch, n_temporal) bool.

        Parameters
        ----------
        x : Tensor of shape (batch, n_columns), float
            NaN marks a missing value.

        Returns
        -------
        inputs : dict of str -> Tensor
            The five tensors above.

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import MoENetwork
        >>> net = MoENetwork([0, 1], [2], [4], [3, 4], n_classes=2, d_model=8, n_layers=1,
        ...                  n_heads=2)
        >>> nan = float("nan")
        >>> x = torch.tensor([[1.0, 2.0, 1.0, 0.1, 0.2], [3.0, nan, 7.0, 0.3, nan]])
        >>> inputs = net.split_inputs(x)
        >>> {name: tuple(value.shape) for name, value in inputs.items()}
        ... # doctest: +NORMALIZE_WHITESPACE
        {'x_num': (2, 2), 'x_cat': (2, 1), 'tabular_missing': (2, 3), 'temporal': (2, 2),
         'temporal_missing': (2, 2)}
        >>> inputs["x_cat"].flatten().tolist()  # code 7 >= 4 codes: unknown, 0
        [1, 0]
        """
        n_num = len(self.num_columns)
        scaled = self.scaled(x)
        raw_cat = x[:, self.cat_columns]
        cat_missing = torch.isnan(raw_cat)
        # compared as floats: a huge code (1e30) must not overflow the cast to long
        unseen = cat_missing | (raw_cat >= self.cat_cardinalities)
        x_cat = torch.where(unseen, 0.0, raw_cat).long()
        x_num, temporal = scaled[:, :n_num], scaled[:, n_num:]
        return {
            "x_num": x_num,
            "x_cat": x_cat,
            "tabular_missing": torch.cat([torch.isnan(x_num), cat_missing], dim=1),
            "temporal": temporal,
            "temporal_missing": torch.isnan(temporal),
        }

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The representation the head classifies, for a raw batch.

        Parameters
        ----------
        x : Tensor of shape (batch, n_columns), float
            NaN marks a missing value.

        Returns
        -------
        combined : Tensor of shape (batch, d_model)
            The experts' embeddings weighted by the gate (what the head reads; also what
            the novelty score measures distances on).
        weights : Tensor of shape (batch, n_experts)
            Gate weights in the order of :attr:`expert_names`.
        stacked : Tensor of shape (batch, n_experts, d_model)
            Each expert's embedding.
        present : Tensor of shape (batch, n_experts), float
            Fraction of each expert's inputs present.

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import MoENetwork
        >>> net = MoENetwork([0, 1], [2], [4], [3, 4], n_classes=2, d_model=8, n_layers=1,
        ...                  n_heads=2)
        >>> x = torch.tensor([[1.0, 2.0, 1.0, 0.1, 0.2], [3.0, float("nan"), 7.0, 0.3, 0.1]])
        >>> net.fit_scaling(x)
        >>> combined, weights, stacked, present = net.embed(x)
        >>> combined.shape, weights.shape, stacked.shape
        (torch.Size([2, 8]), torch.Size([2, 2]), torch.Size([2, 2, 8]))
        """
        inputs = self.split_inputs(x)
        embeddings, present = [], []
        if "tabular" in self.experts:
            missing = inputs["tabular_missing"]
            embeddings.append(self.experts["tabular"](inputs["x_num"], inputs["x_cat"], missing))
            present.append(1.0 - missing.float().mean(1))
        if "temporal" in self.experts:
            missing = inputs["temporal_missing"]
            embeddings.append(self.experts["temporal"](inputs["temporal"], missing))
            present.append(1.0 - missing.float().mean(1))
        stacked = torch.stack(embeddings, dim=1)
        present = torch.stack(present, dim=1)
        weights = self.gate(stacked, present)
        combined = (weights.unsqueeze(-1) * stacked).sum(1)
        return combined, weights, stacked, present

    def forward(self, x: torch.Tensor, return_experts: bool = False) -> tuple[torch.Tensor, ...]:
        """Classify a raw batch.

        Parameters
        ----------
        x : Tensor of shape (batch, n_columns), float
            NaN marks a missing value.
        return_experts : bool
            Also return what the head makes of each expert's embedding alone.

        Returns
        -------
        logits : Tensor of shape (batch, n_classes)
        weights : Tensor of shape (batch, n_experts)
            Gate weights in the order of :attr:`expert_names`.
        expert_logits : Tensor of shape (batch, n_experts, n_classes)
            Only with ``return_experts``: the head applied to each embedding alone.
        present : Tensor of shape (batch, n_experts), float
            Only with ``return_experts``: fraction of each expert's inputs present.

        Examples
        --------
        >>> import torch
        >>> from moeids.moe import MoENetwork
        >>> net = MoENetwork([0, 1], [2], [4], [3, 4], n_classes=2, d_model=8, n_layers=1,
        ...                  n_heads=2)
        >>> nan = float("nan")
        >>> x = torch.tensor([[1.0, 2.0, 1.0, 0.1, 0.2], [3.0, nan, 7.0, 0.3, nan]])
        >>> net.fit_scaling(x)
        >>> logits, weights, expert_logits, present = net(x, return_experts=True)
        >>> expert_logits.shape, present.double().round(decimals=2).tolist()
        (torch.Size([2, 2, 2]), [[1.0, 1.0], [0.67, 0.5]])
        """
        combined, weights, stacked, present = self.embed(x)
        if not return_experts:
            return self.head(combined), weights
        return self.head(combined), weights, self.head(stacked), present
