"""MoiraiNLLDetector: Moirai fine-tuned with its negative log-likelihood, as an outlier detector.

Each window (seq_length steps x n_features flow features) is split into a context (all but
the last ``prediction_length`` steps) and a horizon. Moirai (Woo et al., "Unified Training of
Universal Time Series Forecasting Transformers", ICML 2024; package ``uni2ts``) reads the
context of all features at once and forecasts a mixture distribution for every horizon value;
the window's NLL is the mean negative log-likelihood of its observed horizon values. ``fit``
fine-tunes the network on that NLL (on the benign windows by default), then calibrates which
NLLs are anomalous:

- with ``y`` (1 = attack window), the direction that separates the classes best on the
  training windows -- ``"low"`` (attacks are *more* predictable, as the design document
  reports for DDoS and scans), ``"high"`` or ``"both"`` -- and the threshold that maximises
  balanced accuracy (Youden's J);
- without ``y``, both tails of the NLL distribution count as anomalous and the threshold
  flags a ``contamination`` share of the training windows, as in ``IsolationForest``.

uni2ts is imported lazily (it takes seconds). Install it with
``pip install --no-deps uni2ts==2.0.0 && pip install "moeids[moirai]"``; nothing is ever
downloaded at run time: ``pretrained`` is a local folder.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._training import (
    draw_seed,
    predict_batches,
    resolve_device,
    seeded,
    to_tensor,
    train_module,
)
from ..persistence import TorchPickleMixin

INSTALL_HINT = 'pip install --no-deps uni2ts==2.0.0 && pip install "moeids[moirai]"'

#: Transformer width and depth of each ``model_size``. ``small``/``base``/``large`` are the
#: Moirai 1.1-R architectures (uni2ts ``cli/conf/pretrain/model/moirai_*.yaml``); ``tiny`` is
#: for tests and CPU experiments.
MODEL_SIZES = {
    "tiny": {"d_model": 64, "num_layers": 2},
    "small": {"d_model": 384, "num_layers": 6},
    "base": {"d_model": 768, "num_layers": 12},
    "large": {"d_model": 1024, "num_layers": 24},
}
_PATCH_SIZES = (8, 16, 32, 64, 128)
_MAX_SEQ_LEN = 512
_DIRECTIONS = ("low", "high", "both")
_SAMPLE_BUDGET = 2**22  # forecast-sample values held at once by explain(method="interval")


def _uni2ts_error():
    return ImportError(
        "MoiraiNLLDetector needs the optional package uni2ts. Install it with:\n"
        f"    {INSTALL_HINT}\n"
        "(uni2ts pins old torch/numpy versions, hence --no-deps and then its real "
        "runtime needs from the moirai extra)."
    )


def _check_uni2ts():
    """Fail fast, without importing uni2ts (slow), if it is not installed."""
    try:
        found = importlib.util.find_spec("uni2ts") is not None
    except ValueError:  # sys.modules["uni2ts"] is set but has no spec
        found = False
    if not found:
        raise _uni2ts_error()


def _moirai_module_class():
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using `json`-module", category=UserWarning)
            from uni2ts.model.moirai.module import MoiraiModule
    except ImportError as exc:
        raise _uni2ts_error() from exc
    return MoiraiModule


def _new_module(model_size, scaling=True):
    """A randomly initialised Moirai 1.1-R style module (distribution mixture included)."""
    MoiraiModule = _moirai_module_class()
    from uni2ts.distribution import (
        LogNormalOutput,
        MixtureOutput,
        NegativeBinomialOutput,
        NormalFixedScaleOutput,
        StudentTOutput,
    )

    distr = MixtureOutput(
        components=[
            StudentTOutput(),
            NormalFixedScaleOutput(),
            NegativeBinomialOutput(),
            LogNormalOutput(),
        ]
    )
    return MoiraiModule(
        distr_output=distr,
        patch_sizes=_PATCH_SIZES,
        max_seq_len=_MAX_SEQ_LEN,
        attn_dropout_p=0.0,
        dropout_p=0.0,
        scaling=scaling,
        **MODEL_SIZES[model_size],
    )


def _load_pretrained(folder):
    folder = Path(folder)
    missing = [f for f in ("config.json", "model.safetensors") if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"pretrained={str(folder)!r} must be a folder with config.json and "
            f"model.safetensors (as written by save_pretrained); missing {missing}"
        )
    MoiraiModule = _moirai_module_class()
    return MoiraiModule.from_pretrained(str(folder))


def _module_state(module):
    """Picklable form of a MoiraiModule (its distribution head holds lambdas)."""
    weights = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    return {"config": copy.deepcopy(module._hub_mixin_config), "weights": weights}


def _module_from_state(state):
    MoiraiModule = _moirai_module_class()
    from uni2ts.distribution import DistributionOutput
    from uni2ts.model.moirai.module import decode_distr_output

    config = dict(state["config"])
    if not isinstance(config["distr_output"], DistributionOutput):
        config["distr_output"] = decode_distr_output(config["distr_output"])
    config["patch_sizes"] = tuple(config["patch_sizes"])
    module = MoiraiModule(**config)
    module.load_state_dict(state["weights"])
    return module.eval()


class _Packer:
    """Turn windows (B, T, F) into Moirai's packed token sequence and back.

    Each feature is a variate; its context (left-padded to whole patches) and its horizon
    (right-padded) are cut into patches of ``patch_size`` steps, context tokens of all
    variates first. Padding and NaN are unobserved: left out of the scaler and of the
    likelihood, and given the dummy input value 0, as uni2ts does for missing values.
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

    def pack(self, x):
        """Model inputs for windows ``x`` (B, T, F), NaN = missing; tokens are (B, L, P)."""
        observed = torch.isfinite(x)
        x = torch.where(observed, x, torch.zeros((), dtype=x.dtype, device=x.device))
        c = self.context
        target = torch.cat(
            [self._tokens(x[:, :c], self.left, 0), self._tokens(x[:, c:], 0, self.right)], 1
        )
        obs = torch.cat(
            [
                self._tokens(observed[:, :c], self.left, 0),
                self._tokens(observed[:, c:], 0, self.right),
            ],
            1,
        )
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
        """(..., B, L, P) per-token values -> (..., B, H, F) horizon values."""
        lead = tokens.shape[:-2]
        h = tokens[..., self.nc * self.F :, :]
        return h.reshape(*lead, self.F, self.nh * self.P)[..., : self.H].transpose(-1, -2)


def _distribution(module, patch_size, target, observed, sample_id, time_id, variate_id, pmask):
    """``MoiraiModule.forward`` for tokens that all have ``patch_size`` values.

    uni2ts evaluates the input and output projections of all five patch sizes on 128 values
    per token and masks the unused ones; this computes only the rows of ``patch_size`` and
    returns the same distribution restricted to the token's ``patch_size`` values (B, L, P)
    (tests check it against ``module.forward``), several times faster on CPU.
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


def _point_nll(module, packer, x):
    """Per-value NLL (B, H, F) of the horizon (0 where unobserved) and the observed mask."""
    inputs = packer.pack(x)
    target, observed, prediction_mask = inputs[0], inputs[1], inputs[5]
    distr = _distribution(module, packer.P, *inputs)
    keep = observed & prediction_mask.unsqueeze(-1)
    nll = torch.where(keep, -distr.log_prob(target), torch.zeros((), device=x.device))
    return packer.horizon(nll), packer.horizon(keep)


def _window_nll(module, packer, x):
    nll, keep = _point_nll(module, packer, x)
    return nll.sum(dim=(1, 2)) / keep.sum(dim=(1, 2))


class MoiraiNLLDetector(TorchPickleMixin, OutlierMixin, BaseEstimator):
    """Anomaly detector on flow windows from a Moirai model fine-tuned with its NLL.

    Parameters
    ----------
    model_size : {"tiny", "small", "base", "large"}, default="small"
        Architecture when ``pretrained`` is None (see :data:`MODEL_SIZES`); ignored otherwise.
    pretrained : str, path-like or None, default=None
        Local folder with ``config.json`` and ``model.safetensors`` (the layout of
        :meth:`save_pretrained` and of the Salesforce ``moirai-1.1-R-*`` checkpoints). None
        means random initialisation.
    context_length : int, default=96
        Most context steps a window may have.
    prediction_length : int, default=32
        Horizon steps, the last ones of each window, whose likelihood is scored.
    patch_size : int or "auto", default="auto"
        Steps per token, one of the module's patch sizes (8, 16, 32, 64, 128). ``"auto"``
        takes the largest that divides both the context and the horizon length, else 8.
    epochs : int, default=10
        Maximum fine-tuning epochs.
    batch_size : int, default=32
        Windows per optimisation step (and per inference batch).
    learning_rate : float, default=1e-3
        AdamW learning rate (1e-4 suits fine-tuning a pretrained checkpoint).
    weight_decay : float, default=1e-2
        AdamW weight decay.
    grad_clip : float or None, default=1.0
        Maximum gradient norm; None disables clipping.
    validation_fraction : float in [0, 1), default=0.1
        Share of the windows held out to monitor the validation NLL for early stopping
        (stratified by ``y`` when given). 0 trains on all windows for ``epochs`` epochs.
    n_iter_no_change : int or None, default=3
        Stop after this many epochs without a lower validation NLL and restore the best
        weights. None trains all ``epochs`` (and still restores the best epoch).
    contamination : float in (0, 0.5], default=0.05
        Share of anomalous training windows when ``y`` is not given (split over both NLL
        tails); also the tail mass defining the ``"both"`` score and the per-value anomaly
        thresholds of :meth:`explain`.
    confidence_level : float in (0, 1), default=0.95
        Central forecast interval of ``explain(method="interval")``.
    n_forecast_samples : int, default=100
        Forecast samples drawn to estimate that interval.
    device : str, default="auto"
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, the validation split, shuffling and forecast sampling.
    verbose : int, default=0
        1 prints one line per epoch.
    instance_scaling : bool, default=False
        Give a new network Moirai's per-window standardisation of each feature by its
        context mean and spread (True, as in the pretrained checkpoints). False keeps each
        window's level, which carries most of the signal in flow windows standardised on
        benign traffic (``docs/moirai.md``: CICIoT2023 ROC-AUC 0.70 with it, 0.98 without).
        Ignored with ``pretrained``, whose ``config.json`` decides.
    train_on : {"benign", "all"}, default="benign"
        With ``y``: fine-tune the NLL on the benign windows only (attack windows then only
        calibrate the direction and threshold), or on all windows as the design document
        does. Without ``y`` every window is used.

    Attributes
    ----------
    module_ : uni2ts MoiraiModule
        The fine-tuned network, on ``device_``.
    device_ : torch.device
    config_ : dict
        ``d_model``, ``num_layers``, ``patch_sizes``, ``max_seq_len``, ``scaling`` of
        ``module_``.
    patch_size_ : int
        Patch size used.
    window_length_ : int
        Steps per window seen in ``fit`` (``predict`` needs the same).
    n_features_in_ : int
        Features per step (1 for 2-D input).
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss`` (mean window NLL), ``val_nll``, ``time``.
    direction_ : {"low", "high", "both"}
        Which NLLs count as anomalous.
    center_ : float
        Median NLL of the benign training windows (all windows without ``y``).
    lower_scale_, upper_scale_ : float
        Distance from ``center_`` to the ``contamination / 2`` and ``1 - contamination / 2``
        quantiles of those NLLs; they put :meth:`score_samples` on a common scale.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    point_thresholds_ : tuple of 2 floats
        Per-value NLLs below the first or above the second are anomalous in :meth:`explain`
        (``-inf``/``inf`` for a side ``direction_`` does not use).
    temperature_ : float
        Spread of the training decision values used by :meth:`predict_proba`.

    Notes
    -----
    Input is ``(n_windows, n_steps, n_features)``; a 2-D ``(n_windows, n_steps)`` array is
    one feature. Windows may be shorter than ``context_length + prediction_length`` (the
    context is then shorter), never longer. NaN is an unobserved value (masked, never
    imputed); +-inf is an error. ``y`` is 1 for attack windows and 0 for benign ones.
    """

    _parameter_constraints = {
        "model_size": [StrOptions(set(MODEL_SIZES))],
        "pretrained": [str, os.PathLike, None],
        "context_length": [Interval(Integral, 1, None, closed="left")],
        "prediction_length": [Interval(Integral, 1, None, closed="left")],
        "patch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "grad_clip": [Interval(Real, 0, None, closed="neither"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "confidence_level": [Interval(Real, 0, 1, closed="neither")],
        "n_forecast_samples": [Interval(Integral, 2, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "instance_scaling": ["boolean"],
        "train_on": [StrOptions({"all", "benign"})],
    }

    def __init__(
        self,
        model_size="small",
        pretrained=None,
        context_length=96,
        prediction_length=32,
        patch_size="auto",
        epochs=10,
        batch_size=32,
        learning_rate=1e-3,
        weight_decay=1e-2,
        grad_clip=1.0,
        validation_fraction=0.1,
        n_iter_no_change=3,
        contamination=0.05,
        confidence_level=0.95,
        n_forecast_samples=100,
        device="auto",
        random_state=None,
        verbose=0,
        instance_scaling=False,
        train_on="benign",
    ):
        _check_uni2ts()
        self.model_size = model_size
        self.pretrained = pretrained
        self.context_length = context_length
        self.prediction_length = prediction_length
        self.patch_size = patch_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.contamination = contamination
        self.confidence_level = confidence_level
        self.n_forecast_samples = n_forecast_samples
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.instance_scaling = instance_scaling
        self.train_on = train_on

    def __getstate__(self):
        state = super().__getstate__()  # a copy (TorchPickleMixin)
        if state.get("module_") is not None:
            state["module_"] = _module_state(state["module_"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("module_"), dict):
            state = {**state, "module_": _module_from_state(state["module_"])}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.three_d_array = True
        return tags

    # ------------------------------------------------------------------ input checks
    def _check_windows(self, X, fitting):
        X = check_array(
            X, allow_nd=True, dtype=np.float32, ensure_all_finite="allow-nan", input_name="X"
        )
        if X.ndim == 2:
            X = X[:, :, None]
        if X.ndim != 3:
            raise ValueError(f"X must be (n_windows, n_steps[, n_features]), got {X.ndim}-D")
        n_steps, n_features = X.shape[1:]
        if np.isinf(X).any():
            raise ValueError(f"X holds inf at index {tuple(np.argwhere(np.isinf(X))[0])}")
        if fitting:
            horizon = self.prediction_length
            if n_steps <= horizon:
                raise ValueError(
                    f"windows have {n_steps} steps but need more than prediction_length="
                    f"{horizon} (at least one context step)"
                )
            if n_steps > self.context_length + horizon:
                raise ValueError(
                    f"windows have {n_steps} steps, more than context_length + "
                    f"prediction_length = {self.context_length + horizon}; raise "
                    "context_length or cut shorter windows"
                )
        else:
            if n_steps != self.window_length_ or n_features != self.n_features_in_:
                raise ValueError(
                    f"X has windows of {n_steps} steps x {n_features} features, but "
                    f"{type(self).__name__} is expecting {self.window_length_} x "
                    f"{self.n_features_in_} as in fit"
                )
        horizon_seen = np.isfinite(X[:, -self.prediction_length :]).any(axis=(1, 2))
        if not horizon_seen.all():
            raise ValueError(
                f"window {int(np.argmin(horizon_seen))} has no observed value in its last "
                f"prediction_length={self.prediction_length} steps"
            )
        return X

    @staticmethod
    def _check_y(y, n_windows):
        if y is None:
            return None
        y = np.asarray(y)
        if y.shape != (n_windows,):
            raise ValueError(f"y must have shape ({n_windows},), got {y.shape}")
        ok = np.isin(y, [0, 1])
        if not ok.all():
            raise ValueError(f"y must be 0 (benign) or 1 (attack) per window, got {y[~ok][0]!r}")
        if not (y == 0).any():
            raise ValueError("y has no benign window (0); the NLL needs a benign reference")
        return y.astype(np.int8)

    # ------------------------------------------------------------------ fitting
    def _split(self, n_windows, y, seed):
        if self.validation_fraction == 0:
            return np.arange(n_windows), None
        n_val = min(max(1, round(self.validation_fraction * n_windows)), n_windows - 1)
        stratify = None
        if y is not None and np.bincount(y, minlength=2).min() >= 2:
            stratify = y
        try:
            return train_test_split(
                np.arange(n_windows), test_size=n_val, stratify=stratify, random_state=seed
            )
        except ValueError:  # too few windows per class for a stratified split
            return train_test_split(np.arange(n_windows), test_size=n_val, random_state=seed)

    def _resolve_patch_size(self, module, n_steps):
        sizes = tuple(int(p) for p in module.patch_sizes)
        if self.patch_size == "auto":
            context = n_steps - self.prediction_length
            fits = [p for p in sizes if context % p == 0 and self.prediction_length % p == 0]
            return max(fits) if fits else min(sizes)
        if self.patch_size not in sizes:
            raise ValueError(f"patch_size={self.patch_size} is not one of the module's {sizes}")
        return int(self.patch_size)

    def _packer(self):
        return _Packer(
            self.window_length_,
            self.n_features_in_,
            self.prediction_length,
            self.patch_size_,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fine-tune Moirai on the windows' NLL and calibrate the anomaly threshold.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)
            Windows, e.g. from :class:`~moeids.FlowWindower`.
        y : array-like of shape (n_windows,), default=None
            1 for attack windows, 0 for benign ones. Chooses ``direction_`` and the
            threshold (on all windows of ``X``) and, with ``train_on="benign"``, restricts
            fine-tuning to the benign windows.

        Returns
        -------
        self : MoiraiNLLDetector
        """
        _moirai_module_class()  # ImportError with the install recipe before any work
        module = None if self.pretrained is None else _load_pretrained(self.pretrained)
        X = self._check_windows(X, fitting=True)
        if self.validation_fraction > 0 and len(X) < 2:
            raise ValueError(
                f"got {len(X)} sample(s) (windows); validation_fraction > 0 needs at least 2"
            )
        y = self._check_y(y, len(X))
        device = resolve_device(self.device)
        seed = draw_seed(self.random_state)
        train_idx, val_idx = self._split(len(X), y, seed)
        if self.train_on == "benign" and y is not None:
            train_idx = train_idx[y[train_idx] == 0]
            val_idx = None if val_idx is None else val_idx[y[val_idx] == 0]
        with seeded(seed, device):
            if module is None:
                module = _new_module(self.model_size, self.instance_scaling)
            module = module.to(device)
            self.window_length_, self.n_features_in_ = X.shape[1:]
            self.config_ = {
                "d_model": int(module.d_model),
                "num_layers": int(module.num_layers),
                "patch_sizes": tuple(int(p) for p in module.patch_sizes),
                "max_seq_len": int(module.max_seq_len),
                "scaling": bool(module.scaling),
            }
            self.patch_size_ = self._resolve_patch_size(module, X.shape[1])
            packer = self._packer()
            windows = to_tensor(X)

            def loss_fn(net, batch):
                return _window_nll(net, packer, batch).mean()

            validate = None
            if val_idx is not None:
                val = windows[val_idx]

                def validate(net):
                    (nll,) = predict_batches(
                        lambda b: _window_nll(net, packer, b),
                        [val],
                        batch_size=self.batch_size,
                        device=device,
                    )
                    return {"val_nll": float(nll.mean())}

            self.history_ = train_module(
                module,
                loss_fn,
                [windows[train_idx]],
                epochs=self.epochs,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                weight_decay=self.weight_decay,
                device=device,
                generator=torch.Generator().manual_seed(seed),
                validate=validate,
                monitor="val_nll",
                n_iter_no_change=self.n_iter_no_change if validate else None,
                grad_clip=self.grad_clip,
                verbose=self.verbose,
                stage="moirai",
            )
        self.module_, self.device_ = module, device
        self._seed = seed
        self._calibrate(X, y)
        return self

    def _calibrate(self, X, y):
        point_nll, keep = self._point_values(X)
        nll = point_nll.sum(axis=(1, 2)) / keep.sum(axis=(1, 2))
        benign = np.ones(len(X), bool) if y is None else y == 0
        c = self.contamination
        ref = nll[benign]
        center = float(np.median(ref))
        floor = np.finfo(np.float32).eps * max(1.0, abs(center))
        self.center_ = center
        self.lower_scale_ = max(center - float(np.quantile(ref, c / 2)), floor)
        self.upper_scale_ = max(float(np.quantile(ref, 1 - c / 2)) - center, floor)
        two_classes = y is not None and (y == 1).any()
        if two_classes:
            aucs = {d: roc_auc_score(y, -self._scores(nll, d)) for d in _DIRECTIONS}
            self.direction_ = max(_DIRECTIONS, key=lambda d: (aucs[d], -_DIRECTIONS.index(d)))
        else:
            self.direction_ = "both"
        scores = self._scores(nll, self.direction_)
        if two_classes:
            self.offset_ = _youden_offset(scores, y)
        else:
            self.offset_ = float(np.percentile(scores, 100.0 * c))
        decision = scores - self.offset_
        self.temperature_ = max(float(np.median(np.abs(decision - np.median(decision)))), floor)
        values = point_nll[keep & benign[:, None, None]]
        low, high = -np.inf, np.inf
        if self.direction_ == "low":
            low = float(np.quantile(values, c))
        elif self.direction_ == "high":
            high = float(np.quantile(values, 1 - c))
        else:
            low, high = (float(q) for q in np.quantile(values, [c / 2, 1 - c / 2]))
        self.point_thresholds_ = (low, high)

    def _scores(self, nll, direction):
        above = (nll - self.center_) / self.lower_scale_  # large = far above the low tail
        below = (self.center_ - nll) / self.upper_scale_  # large = far below the high tail
        if direction == "low":
            return above
        if direction == "high":
            return below
        return np.minimum(above, below)

    # ------------------------------------------------------------------ inference
    def _point_values(self, X):
        packer = self._packer()
        with seeded(self._seed, self.device_):
            nll, keep = predict_batches(
                lambda b: _point_nll(self.module_, packer, b),
                [to_tensor(X)],
                batch_size=self.batch_size,
                device=self.device_,
            )
        return nll.astype(np.float64), keep.astype(bool)

    def nll(self, X):
        """Mean negative log-likelihood of each window's observed horizon values.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)

        Returns
        -------
        nll : ndarray of shape (n_windows,)
        """
        check_is_fitted(self)
        point_nll, keep = self._point_values(self._check_windows(X, fitting=False))
        return point_nll.sum(axis=(1, 2)) / keep.sum(axis=(1, 2))

    def score_samples(self, X):
        """Normality score: the higher, the more normal (see ``direction_``).

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)

        Returns
        -------
        scores : ndarray of shape (n_windows,)
        """
        return self._scores(self.nll(X), self.direction_)

    def decision_function(self, X):
        """``score_samples(X) - offset_``; negative means anomalous.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)

        Returns
        -------
        decision : ndarray of shape (n_windows,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for normal windows, -1 for anomalous (attack) windows.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)

        Returns
        -------
        labels : ndarray of shape (n_windows,)
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def predict_proba(self, X):
        """``[P(normal), P(attack)]`` per window: a logistic of the decision function.

        0.5 sits at the threshold and ``temperature_`` sets the slope; the values are a
        monotone squashing of :meth:`decision_function`, not calibrated probabilities.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)

        Returns
        -------
        proba : ndarray of shape (n_windows, 2)
        """
        attack = expit(-self.decision_function(X) / self.temperature_)
        return np.column_stack([1.0 - attack, attack])

    def explain(self, X, method="nll"):
        """Per-feature and per-step view of why windows score as they do.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)
        method : {"nll", "interval"}, default="nll"
            ``"nll"``: per-value NLLs; a value is anomalous when its NLL lies beyond
            ``point_thresholds_``. ``"interval"``: a value is anomalous when it lies outside
            the central ``confidence_level`` interval of ``n_forecast_samples`` forecast
            samples (the document's confidence-interval method).

        Returns
        -------
        explanation : sklearn.utils.Bunch
            ``anomaly_rate`` (n_windows,): share of observed horizon values that are
            anomalous; ``feature_rate`` (n_windows, n_features): the same per feature;
            ``anomalous`` (n_windows, prediction_length, n_features) bool; ``observed`` (same
            shape) bool. With ``"nll"`` also ``nll`` (n_windows,), ``point_nll`` (same shape
            as ``anomalous``, 0 where unobserved) and ``feature_nll`` (n_windows,
            n_features), each feature's contribution (they sum to ``nll``). With
            ``"interval"`` also ``lower``, ``median``, ``upper`` (same shape as
            ``anomalous``).
        """
        check_is_fitted(self)
        if method not in ("nll", "interval"):
            raise ValueError(f"method must be 'nll' or 'interval', got {method!r}")
        X = self._check_windows(X, fitting=False)
        if method == "nll":
            point_nll, keep = self._point_values(X)
            total = keep.sum(axis=(1, 2))
            low, high = self.point_thresholds_
            out = Bunch(
                nll=point_nll.sum(axis=(1, 2)) / total,
                point_nll=point_nll,
                feature_nll=point_nll.sum(axis=1) / total[:, None],
                anomalous=keep & ((point_nll < low) | (point_nll > high)),
            )
        else:
            lower, median, upper, keep = self._intervals(X)
            horizon = X[:, -self.prediction_length :]
            out = Bunch(
                lower=lower,
                median=median,
                upper=upper,
                anomalous=keep & ((horizon < lower) | (horizon > upper)),
            )
        out.observed = keep
        out.anomaly_rate = out.anomalous.sum(axis=(1, 2)) / keep.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out.feature_rate = out.anomalous.sum(axis=1) / keep.sum(axis=1)
        return out

    def _intervals(self, X):
        packer = self._packer()
        alpha = (1.0 - self.confidence_level) / 2.0
        q = torch.tensor([alpha, 0.5, 1.0 - alpha])
        per_window = self.n_forecast_samples * packer.prediction_mask.numel() * packer.P * 4
        batch = max(1, min(self.batch_size, _SAMPLE_BUDGET // per_window))

        def bounds(x):
            inputs = packer.pack(x)
            distr = _distribution(self.module_, packer.P, *inputs)
            samples = packer.horizon(distr.sample(torch.Size((self.n_forecast_samples,))))
            qs = torch.quantile(samples.float(), q.to(samples.device), dim=0)
            return qs[0], qs[1], qs[2], packer.horizon(inputs[1] & inputs[5].unsqueeze(-1))

        with seeded(self._seed, self.device_):
            lower, median, upper, keep = predict_batches(
                bounds, [to_tensor(X)], batch_size=batch, device=self.device_
            )
        return lower, median, upper, keep.astype(bool)

    def save_pretrained(self, folder):
        """Write the fine-tuned network as ``config.json`` + ``model.safetensors``.

        The folder can be given as ``pretrained`` to a new detector (or loaded with uni2ts'
        ``MoiraiModule.from_pretrained``).

        Parameters
        ----------
        folder : str or path-like

        Returns
        -------
        folder : pathlib.Path
        """
        check_is_fitted(self)
        folder = Path(folder)
        self.module_.save_pretrained(folder)
        return folder


def _youden_offset(scores, y):
    """Threshold on ``scores`` (attack when below) maximising TPR - FPR."""
    uniq = np.unique(scores)
    if len(uniq) == 1:
        return float(uniq[0])
    cuts = (uniq[1:] + uniq[:-1]) / 2.0
    attack, benign = np.sort(scores[y == 1]), np.sort(scores[y == 0])
    tpr = np.searchsorted(attack, cuts) / len(attack)
    fpr = np.searchsorted(benign, cuts) / len(benign)
    return float(cuts[np.argmax(tpr - fpr)])
