"""Windows -> Moirai's packed tokens -> forecast distribution -> negative log-likelihood.

Each window (B, T, F) is split into a context (all but the last ``horizon`` steps) and a
horizon. Each feature is a variate; its context (left-padded to whole patches) and its
horizon (right-padded) are cut into patches of ``patch_size`` steps, context tokens of all
variates first. Padding and NaN are unobserved: left out of the scaler and of the
likelihood, and given the dummy input value 0, as uni2ts does for missing values.
uni2ts is imported inside the functions that need it.
"""

from __future__ import annotations

import math

import torch

__all__ = ["Packer", "distribution", "forecast_quantiles", "point_nll", "window_nll"]


class Packer:
    """Turn windows (B, T, F) into Moirai's packed token sequence and back.

    Parameters
    ----------
    n_steps, n_features : int
        Window shape.
    horizon : int
        Last steps of a window whose values are forecast (``prediction_length``).
    patch_size : int
        Steps per token.

    Examples
    --------
    Context 24 steps (3 tokens) and horizon 8 (1 token) of 2 features: 8 tokens of 8 values:

    >>> import torch
    >>> from moeids.moirai.packing import Packer
    >>> packer = Packer(n_steps=32, n_features=2, horizon=8, patch_size=8)
    >>> x = torch.randn(3, 32, 2)  # synthetic windows
    >>> target, observed, sample_id, time_id, variate_id, prediction_mask = packer.pack(x)
    >>> target.shape, int(prediction_mask[0].sum())
    (torch.Size([3, 8, 8]), 2)
    """

    def __init__(self, n_steps, n_features, horizon, patch_size):
        self.F, self.H, self.P = n_features, horizon, patch_size
        self.context = n_steps - horizon
        self.nc = math.ceil(self.context / patch_size)
        self.nh = math.ceil(horizon / patch_size)
        self.left = self.nc * patch_size - self.context
        self.right = self.nh * patch_size - horizon
        features = torch.arange(n_features)
        self.time_id = torch.cat(
            [
                torch.arange(self.nc).repeat(n_features),
                self.nc + torch.arange(self.nh).repeat(n_features),
            ]
        )
        self.variate_id = torch.cat(
            [features.repeat_interleave(self.nc), features.repeat_interleave(self.nh)]
        )
        self.prediction_mask = torch.arange(len(self.time_id)) >= self.nc * n_features

    def _tokens(self, x, left, right):
        x = torch.nn.functional.pad(x, (0, 0, left, right))  # (B, n * P, F)
        B, steps, F = x.shape
        x = x.reshape(B, steps // self.P, self.P, F).permute(0, 3, 1, 2)  # (B, F, n, P)
        return x.reshape(B, -1, self.P)

    def _both(self, x):
        c = self.context
        return torch.cat(
            [self._tokens(x[:, :c], self.left, 0), self._tokens(x[:, c:], 0, self.right)], 1
        )

    def pack(self, x):
        """Model inputs for windows ``x`` (B, T, F), NaN = missing.

        Parameters
        ----------
        x : Tensor of shape (B, T, F), float
            Windows of the packer's shape.

        Returns
        -------
        inputs : tuple of Tensor
            ``target`` (B, L, P), ``observed`` (B, L, P), ``sample_id``, ``time_id``,
            ``variate_id``, ``prediction_mask`` (B, L each), as ``MoiraiModule.forward``
            takes them.

        Examples
        --------
        >>> import torch
        >>> from moeids.moirai.packing import Packer
        >>> packer = Packer(n_steps=32, n_features=2, horizon=8, patch_size=8)
        >>> x = torch.randn(3, 32, 2)  # synthetic windows
        >>> [tuple(t.shape) for t in packer.pack(x)]
        [(3, 8, 8), (3, 8, 8), (3, 8), (3, 8), (3, 8), (3, 8)]
        """
        observed = torch.isfinite(x)
        x = torch.where(observed, x, torch.zeros((), dtype=x.dtype, device=x.device))
        target, obs = self._both(x), self._both(observed)
        B, L, device = x.shape[0], target.shape[1], x.device
        return (
            target,
            obs,
            torch.ones(B, L, dtype=torch.long, device=device),
            self.time_id.to(device).expand(B, L),
            self.variate_id.to(device).expand(B, L),
            self.prediction_mask.to(device).expand(B, L),
        )

    def horizon(self, tokens):
        """(..., B, L, P) per-token values -> (..., B, H, F) horizon values.

        Parameters
        ----------
        tokens : Tensor of shape (..., B, L, P)
            Values per token, e.g. ``pack``'s ``target`` or samples of a distribution.

        Returns
        -------
        horizon : Tensor of shape (..., B, H, F)

        Examples
        --------
        >>> import torch
        >>> from moeids.moirai.packing import Packer
        >>> packer = Packer(n_steps=32, n_features=2, horizon=8, patch_size=8)
        >>> x = torch.randn(3, 32, 2)  # synthetic windows
        >>> target = packer.pack(x)[0]
        >>> torch.equal(packer.horizon(target), x[:, -8:])
        True
        """
        lead = tokens.shape[:-2]
        h = tokens[..., self.nc * self.F :, :]
        return h.reshape(*lead, self.F, self.nh * self.P)[..., : self.H].transpose(-1, -2)


def distribution(module, patch_size, target, observed, sample_id, time_id, variate_id, pmask):
    """``MoiraiModule.forward`` for tokens that all have ``patch_size`` values.

    uni2ts evaluates the input and output projections of all five patch sizes on 128 values
    per token and masks the unused ones; this computes only the rows of ``patch_size`` and
    returns the same distribution restricted to the token's ``patch_size`` values (B, L, P)
    (tests check it against ``module.forward``), several times faster on CPU.

    Parameters
    ----------
    module : uni2ts MoiraiModule
    patch_size : int
        One of the module's patch sizes; every token has this many values.
    target, observed, sample_id, time_id, variate_id, pmask : Tensor
        :meth:`Packer.pack`'s output.

    Returns
    -------
    distribution : torch Distribution
        Of batch shape (B, L, P): one distribution per value of each token.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from moeids.moirai import MoiraiNLLDetector
    >>> from moeids.moirai.packing import Packer
    >>> benign = np.sin(np.arange(32)[None, :, None] / 3 + np.linspace(0, 6, 40)[:, None, None])
    >>> detector = MoiraiNLLDetector(model_size="tiny", context_length=24, prediction_length=8,
    ...                              epochs=1, device="cpu", random_state=0).fit(benign)
    >>> module = detector.module_.eval()
    >>> packer = Packer(n_steps=32, n_features=1, horizon=8, patch_size=8)
    >>> x = torch.as_tensor(benign[:3], dtype=torch.float32)
    >>> from moeids.moirai.packing import distribution
    >>> inputs = packer.pack(x)
    >>> with torch.no_grad():
    ...     log_prob = distribution(module, 8, *inputs).log_prob(inputs[0])
    >>> log_prob.shape
    torch.Size([3, 4, 8])
    """
    from einops import rearrange
    from torch.utils._pytree import tree_map
    from uni2ts.common.torch_util import mask_fill, packed_attention_mask
    from uni2ts.distribution._base import convert_to_container, tree_map_multi

    idx = list(module.patch_sizes).index(patch_size)
    loc, scale = module.scaler(target, observed & ~pmask.unsqueeze(-1), sample_id, variate_id)
    layer = module.in_proj
    weight = (layer.weight[idx] * layer.mask[idx])[:, :patch_size]
    reprs = torch.nn.functional.linear((target - loc) / scale, weight, layer.bias[idx])
    reprs = mask_fill(reprs, pmask, module.mask_encoding.weight)
    reprs = module.encoder(
        reprs, packed_attention_mask(sample_id), time_id=time_id, var_id=variate_id
    )
    proj = module.param_proj
    steps = torch.arange(patch_size, device=reprs.device)

    def head(linear):
        rows = torch.arange(linear.dim, device=reprs.device)[:, None] * proj.out_size + steps
        rows = rows.reshape(-1)
        weight = (linear.weight[idx] * linear.mask[idx])[rows]
        out = torch.nn.functional.linear(reprs, weight, linear.bias[idx][rows])
        return rearrange(out, "... (dim p) -> ... p dim", dim=linear.dim)

    params = tree_map(head, convert_to_container(proj.proj))
    params = tree_map_multi(lambda fn, p: fn(p), proj.domain_map, params)
    return module.distr_output.distribution(params, loc=loc, scale=scale)


def point_nll(module, packer, x):
    """Per-value NLL (B, H, F) of the horizon (0 where unobserved) and the observed mask.

    Parameters
    ----------
    module : uni2ts MoiraiModule
        E.g. a fitted :class:`~moeids.MoiraiNLLDetector`'s ``module_``.
    packer : Packer
        Of the windows' shape; its ``P`` is one of the module's patch sizes.
    x : Tensor of shape (B, T, F), float
        Windows; NaN = missing.

    Returns
    -------
    nll : Tensor of shape (B, H, F)
    keep : Tensor of shape (B, H, F), bool
        Observed horizon values.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from moeids.moirai import MoiraiNLLDetector
    >>> from moeids.moirai.packing import Packer
    >>> benign = np.sin(np.arange(32)[None, :, None] / 3 + np.linspace(0, 6, 40)[:, None, None])
    >>> detector = MoiraiNLLDetector(model_size="tiny", context_length=24, prediction_length=8,
    ...                              epochs=1, device="cpu", random_state=0).fit(benign)
    >>> module = detector.module_.eval()
    >>> packer = Packer(n_steps=32, n_features=1, horizon=8, patch_size=8)
    >>> x = torch.as_tensor(benign[:3], dtype=torch.float32)
    >>> from moeids.moirai.packing import point_nll
    >>> with torch.no_grad():
    ...     nll, keep = point_nll(module, packer, x)
    >>> nll.shape, bool(keep.all())
    (torch.Size([3, 8, 1]), True)
    """
    inputs = packer.pack(x)
    target, observed, prediction_mask = inputs[0], inputs[1], inputs[5]
    distr = distribution(module, packer.P, *inputs)
    keep = observed & prediction_mask.unsqueeze(-1)
    nll = torch.where(keep, -distr.log_prob(target), torch.zeros((), device=x.device))
    return packer.horizon(nll), packer.horizon(keep)


def window_nll(module, packer, x):
    """Mean NLL (B,) of each window's observed horizon values.

    Parameters
    ----------
    module : uni2ts MoiraiModule
        E.g. a fitted :class:`~moeids.MoiraiNLLDetector`'s ``module_``.
    packer : Packer
        Of the windows' shape; its ``P`` is one of the module's patch sizes.
    x : Tensor of shape (B, T, F), float
        Windows; NaN = missing.

    Returns
    -------
    nll : Tensor of shape (B,)

    Examples
    --------
    >>> import numpy as np, torch
    >>> from moeids.moirai import MoiraiNLLDetector
    >>> from moeids.moirai.packing import Packer
    >>> benign = np.sin(np.arange(32)[None, :, None] / 3 + np.linspace(0, 6, 40)[:, None, None])
    >>> detector = MoiraiNLLDetector(model_size="tiny", context_length=24, prediction_length=8,
    ...                              epochs=1, device="cpu", random_state=0).fit(benign)
    >>> module = detector.module_.eval()
    >>> packer = Packer(n_steps=32, n_features=1, horizon=8, patch_size=8)
    >>> x = torch.as_tensor(benign[:3], dtype=torch.float32)
    >>> from moeids.moirai.packing import window_nll
    >>> with torch.no_grad():
    ...     window_nll(module, packer, x).shape
    torch.Size([3])
    """
    nll, keep = point_nll(module, packer, x)
    return nll.sum(dim=(1, 2)) / keep.sum(dim=(1, 2))


def forecast_quantiles(module, packer, x, quantiles, n_samples):
    """Quantiles of ``n_samples`` forecast samples of each horizon value.

    Parameters
    ----------
    module : uni2ts MoiraiModule
        E.g. a fitted :class:`~moeids.MoiraiNLLDetector`'s ``module_``.
    packer : Packer
        Of the windows' shape; its ``P`` is one of the module's patch sizes.
    x : Tensor of shape (B, T, F), float
        Windows; NaN = missing.
    quantiles : Tensor of shape (n_quantiles,)
        Levels in [0, 1].
    n_samples : int
        Forecast samples drawn per value.

    Returns
    -------
    bounds : tuple of Tensor
        One (B, H, F) tensor per entry of ``quantiles``, then the observed mask (B, H, F).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from moeids.moirai import MoiraiNLLDetector
    >>> from moeids.moirai.packing import Packer
    >>> benign = np.sin(np.arange(32)[None, :, None] / 3 + np.linspace(0, 6, 40)[:, None, None])
    >>> detector = MoiraiNLLDetector(model_size="tiny", context_length=24, prediction_length=8,
    ...                              epochs=1, device="cpu", random_state=0).fit(benign)
    >>> module = detector.module_.eval()
    >>> packer = Packer(n_steps=32, n_features=1, horizon=8, patch_size=8)
    >>> x = torch.as_tensor(benign[:3], dtype=torch.float32)
    >>> from moeids.moirai.packing import forecast_quantiles
    >>> with torch.no_grad():
    ...     *bounds, keep = forecast_quantiles(module, packer, x, torch.tensor([0.1, 0.9]), 20)
    >>> len(bounds), bounds[0].shape, bool((bounds[0] <= bounds[1]).all())
    (2, torch.Size([3, 8, 1]), True)
    """
    inputs = packer.pack(x)
    distr = distribution(module, packer.P, *inputs)
    samples = packer.horizon(distr.sample(torch.Size((n_samples,))))
    qs = torch.quantile(samples.float(), quantiles.to(samples.device), dim=0)
    return (*qs, packer.horizon(inputs[1] & inputs[5].unsqueeze(-1)))
