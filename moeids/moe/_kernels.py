"""Fused linear layers for CPU inference.

On the CPU, ``F.linear`` with a bias first copies the broadcast bias into its output and
then accumulates the matrix product onto it: one extra pass over the output, which for
the thin matrices of this network (``d_model`` = 32 inputs) costs as much as the product.
Activations and residual additions after a linear layer are further passes. The oneDNN
kernels ``mkldnn::_linear_pointwise`` add the bias, apply ReLU/GELU or add a residual in
the same pass, with the same float32 results. They have no autograd formula, so they are
used only when gradients are off (inference), on float32 CPU tensors outside autocast;
everywhere else the plain ``torch.nn.functional`` composition runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_ACTIVATIONS = {"none": lambda y: y, "relu": F.relu, "gelu": F.gelu}
# a private oneDNN operator (the one torch.compile's CPU backend uses): absent from torch
# builds without oneDNN, and not a public API, so its presence is checked, not assumed
_HAS_FUSED_LINEAR = torch.backends.mkldnn.is_available() and hasattr(
    torch.ops.mkldnn, "_linear_pointwise"
)
# oneDNN sets up each call's kernel before it runs; for small inputs that costs more than the
# pass it saves (predict_proba of one flow of the default network was slower fused, of 256
# flows faster; the rows are flows x tokens in the transformer blocks)
MIN_FUSED_ROWS = 4096


def fusable(x: torch.Tensor) -> bool:
    """Whether the fused oneDNN kernels apply to input ``x`` (rows = all but its last
    dimension)."""
    return (
        not torch.is_grad_enabled()
        and x.numel() >= MIN_FUSED_ROWS * x.shape[-1]
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and _HAS_FUSED_LINEAR
    )


def linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    activation: str = "none",
    residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """``activation(x @ weight.T + bias)``, plus ``residual`` when given (then
    ``activation`` must be ``"none"``), in one pass over the output when possible."""
    if fusable(x) and weight.dtype == torch.float32:
        if residual is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(x, residual, weight, bias, "add")
        algorithm = "none" if activation == "gelu" else ""
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, activation, [], algorithm)
    y = _ACTIVATIONS[activation](F.linear(x, weight, bias))
    return y if residual is None else residual + y
