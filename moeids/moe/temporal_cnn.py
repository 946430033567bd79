"""1D CNN over the timing features: the temporal expert.

The timing features of a flow (duration, inter-arrival and active/idle statistics) are
read as a short sequence with two input channels: the value and its availability (1
present, 0 missing). A missing value enters as 0 *with* availability 0, so the network
can tell "missing" from "zero". Convolutions find patterns among neighbouring statistics;
the flattened feature maps keep each statistic's position.
"""

from __future__ import annotations

import torch
from torch import nn


class TemporalCNN(nn.Module):
    """Two same-padded convolutions, then a linear projection to ``d_model``.

    Parameters
    ----------
    n_features : int
        Length of the sequence (number of timing features).
    d_model : int
        Size of the output embedding.
    channels : int
        Feature maps per convolution.
    kernel_size : int
        Odd convolution width.
    dropout : float
        Dropout before the projection.

    Examples
    --------
    >>> import torch
    >>> from moeids.moe import TemporalCNN
    >>> cnn = TemporalCNN(n_features=6, d_model=8, channels=4)
    >>> cnn(torch.randn(3, 6), torch.zeros(3, 6, dtype=torch.bool)).shape
    torch.Size([3, 8])
    """

    def __init__(
        self,
        n_features: int,
        d_model: int,
        channels: int = 16,
        kernel_size: int = 3,
        dropout: float = 0.0,
    ):
        super().__init__()
        if n_features < 1:
            raise ValueError("TemporalCNN needs at least one feature")
        pad = kernel_size // 2
        self.convs = nn.Sequential(
            nn.Conv1d(2, channels, kernel_size, padding=pad),
            nn.GELU(),
            nn.Conv1d(channels, channels, kernel_size, padding=pad),
            nn.GELU(),
        )
        self.project = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels * n_features, d_model),
            nn.LayerNorm(d_model),
        )

    def forward(self, x: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        """Embed a batch.

        Parameters
        ----------
        x : Tensor of shape (batch, n_features), float
            Values; entries flagged in ``missing`` are ignored (may be NaN).
        missing : Tensor of shape (batch, n_features), bool

        Returns
        -------
        embedding : Tensor of shape (batch, d_model)

        Examples
        --------
        Missing entries (here NaN) are ignored:

        >>> import torch
        >>> from moeids.moe import TemporalCNN
        >>> x = torch.tensor([[1.0, float("nan"), 3.0]])
        >>> embedding = TemporalCNN(3, d_model=4)(x, torch.isnan(x))
        >>> embedding.shape, bool(embedding.isnan().any())
        (torch.Size([1, 4]), False)
        """
        available = (~missing).to(x.dtype)
        values = torch.where(missing, 0.0, x)
        return self.project(self.convs(torch.stack([values, available], dim=1)))
