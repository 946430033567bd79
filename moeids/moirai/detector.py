"""MoiraiNLLDetector: Moirai fine-tuned with its negative log-likelihood, as an outlier detector.

Each window (n_steps x n_features flow features) is split into a context (all but the last
``prediction_length`` steps) and a horizon. Moirai (Woo et al., "Unified Training of
Universal Time Series Forecasting Transformers", ICML 2024; package ``uni2ts``) reads the
context of all features at once and forecasts a mixture distribution for every horizon value
(:mod:`.packing`); the window's NLL is the mean negative log-likelihood of its observed
horizon values.

- ``fit(X)`` is unsupervised, like ``IsolationForest``: it fine-tunes the network on the NLL
  of every window of ``X`` (:mod:`.finetune`) and flags both NLL tails, a ``contamination``
  share of the training windows.
- ``calibrate(X, y)`` is the explicit supervised step: from labelled windows (1 = attack) it
  chooses the anomalous direction (``"low"``, ``"high"`` or ``"both"``) and the threshold
  maximising balanced accuracy (:mod:`.calibration`).

uni2ts is imported lazily (it takes seconds; :mod:`._uni2ts`). Install it with
``pip install --no-deps uni2ts==2.0.0 && pip install "moeids[moirai]"``; nothing is ever
downloaded at run time: ``pretrained`` is a local folder.
"""

from __future__ import annotations

import os
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._training import draw_seed, holdout_split, resolve_device, seeded, to_tensor
from ..persistence import TorchPickleMixin
from . import _uni2ts
from ._checks import check_window_labels, check_windows
from .calibration import calibrate
from .finetune import fine_tune
from .inference import NLLScoringMixin

__all__ = ["MoiraiNLLDetector"]


class MoiraiNLLDetector(NLLScoringMixin, TorchPickleMixin, OutlierMixin, BaseEstimator):
    """Anomaly detector on flow windows from a Moirai model fine-tuned with its NLL.

    Parameters
    ----------
    model_size : {"tiny", "small", "base", "large"}, default="small"
        Architecture when ``pretrained`` is None (``moeids.moirai._uni2ts.MODEL_SIZES``).
    pretrained : str, path-like or None, default=None
        Local folder with ``config.json`` and ``model.safetensors`` (as written by
        :meth:`save_pretrained`, or a Salesforce ``moirai-1.1-R-*`` checkpoint), loaded
        strictly. None: random initialisation.
    context_length : int, default=96
        Most context steps a window may have.
    prediction_length : int, default=32
        Horizon steps, the last ones of each window, whose likelihood is scored.
    patch_size : int or "auto", default="auto"
        Steps per token, one of the module's patch sizes (8, 16, 32, 64, 128). ``"auto"``:
        the largest that divides both the context and the horizon length, else 8.
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
        Share of the windows held out to monitor the validation NLL. 0 trains on all.
    n_iter_no_change : int or None, default=3
        Stop after this many epochs without a lower validation NLL and restore the best
        epoch's weights. None trains all ``epochs`` and keeps the last weights.
    contamination : float in (0, 0.5], default=0.05
        Tail mass of the benign NLLs: the share flagged by ``fit`` (half in each tail), the
        spread that puts scores on a common scale and the per-value thresholds of
        :meth:`explain`.
    confidence_level : float in (0, 1), default=0.95
        Central forecast interval of ``explain(method="interval")``.
    n_forecast_samples : int, default=100
        Forecast samples drawn to estimate that interval.
    device : str or torch.device, default="auto"
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, the validation split, shuffling and forecast sampling.
    verbose : int, default=0
        1 prints one line per epoch.
    instance_scaling : bool, default=False
        Give a new network Moirai's per-window standardisation of each feature by its
        context mean and spread (as in the pretrained checkpoints). False keeps each window's
        level, most of the signal in windows standardised on benign traffic
        (``docs/moirai.md``). Ignored with ``pretrained``, whose ``config.json`` decides.

    Attributes
    ----------
    module_ : uni2ts MoiraiModule
        The fine-tuned network, on ``device_``.
    device_ : torch.device
    seed_ : int
        Torch seed drawn from ``random_state``; seeds forecast sampling after fit.
    config_ : dict
        ``d_model``, ``num_layers``, ``patch_sizes``, ``max_seq_len``, ``scaling``.
    patch_size_ : int
    window_length_ : int
        Steps per window seen in ``fit`` (later calls need the same).
    n_features_in_ : int
        Features per step (1 for 2-D input).
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss`` (mean window NLL), ``val_nll``, ``time``.
    direction_ : {"low", "high", "both"}
        Which NLLs count as anomalous (``moeids.moirai.calibration``).
    center_ : float
        Median NLL of the benign calibration windows.
    lower_scale_, upper_scale_ : float
        Distances from ``center_`` to their ``contamination / 2`` and
        ``1 - contamination / 2`` quantiles.
    offset_ : float
        ``decision_function = score_samples - offset_``.
    point_thresholds_ : tuple of 2 floats
        Per-value NLL bounds of :meth:`explain` (``-inf``/``inf`` on an unused side).
    temperature_ : float
        Spread of the calibration decision values, the slope of :meth:`predict_proba`.

    Notes
    -----
    Input is ``(n_windows, n_steps, n_features)``; a 2-D ``(n_windows, n_steps)`` array is
    one feature. Windows may be shorter than ``context_length + prediction_length``, never
    longer. NaN is an unobserved value (masked, never imputed); +-inf, and values beyond
    +-1e15 (``moeids.moirai._checks.MAX_ABS_VALUE``: the float32 likelihood overflows), are
    an error.

    Examples
    --------
    A randomly initialised tiny Moirai fine-tuned for one epoch on synthetic benign windows
    (sine waves), so that the example runs in a second once uni2ts is imported; real use
    fine-tunes a pretrained checkpoint on :class:`~moeids.FlowWindower` windows
    (``docs/moirai.md``):

    >>> import numpy as np
    >>> from moeids.moirai import MoiraiNLLDetector
    >>> rng = np.random.default_rng(0)
    >>> steps = np.arange(32)[None, :, None]
    >>> benign = np.sin(steps / 3 + rng.uniform(0, 6, (40, 1, 2))).astype("float32")
    >>> detector = MoiraiNLLDetector(model_size="tiny", context_length=24, prediction_length=8,
    ...                              epochs=1, device="cpu", random_state=0).fit(benign)
    >>> detector.score_samples(benign[:3]).shape, set(detector.predict(benign)) <= {-1, 1}
    ((3,), True)
    """

    _parameter_constraints = {
        "model_size": [StrOptions(set(_uni2ts.MODEL_SIZES))],
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
    ):
        _uni2ts.check_uni2ts()
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

    def __getstate__(self):
        state = super().__getstate__()  # a copy (TorchPickleMixin)
        if state.get("module_") is not None:
            state["module_"] = _uni2ts.module_state(state["module_"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("module_"), dict):
            state = {**state, "module_": _uni2ts.module_from_state(state["module_"])}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.three_d_array = True
        return tags

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fine-tune Moirai on the NLL of the windows ``X``; flag both NLL tails.

        Unsupervised: every window of ``X`` is fine-tuned on (pass only benign windows to
        learn benign traffic) and a ``contamination`` share of them ends up flagged. Use
        :meth:`calibrate` to choose the direction and threshold from labelled windows.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)
            Windows, e.g. from :class:`~moeids.FlowWindower`.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : MoiraiNLLDetector

        Examples
        --------
        >>> import numpy as np
        >>> from moeids.moirai import MoiraiNLLDetector
        >>> rng = np.random.default_rng(0)  # 40 synthetic benign windows: 32 steps, 2 features
        >>> steps = np.arange(32)[None, :, None]
        >>> benign = np.sin(steps / 3 + rng.uniform(0, 6, (40, 1, 2))).astype("float32")
        >>> detector = MoiraiNLLDetector(model_size="tiny", context_length=24, prediction_length=8,
        ...                              epochs=1, device="cpu", random_state=0).fit(benign)
        >>> detector.patch_size_, detector.direction_, len(detector.history_)
        (8, 'both', 1)
        """
        _uni2ts.moirai_module_class()  # ImportError with the install recipe before any work
        module = None if self.pretrained is None else _uni2ts.load_pretrained(self.pretrained)
        X = check_windows(X, self.prediction_length, context_length=self.context_length)
        device = resolve_device(self.device)
        seed = draw_seed(self.random_state)
        if self.validation_fraction and len(X) < 2:
            raise ValueError(
                f"got {len(X)} sample(s) (windows) to fit on; validation_fraction="
                f"{self.validation_fraction} needs at least 2 (one to train on, one to "
                "validate): pass more windows or validation_fraction=0"
            )
        train_idx, val_idx = holdout_split(len(X), self.validation_fraction, seed)
        with seeded(seed, device):
            if module is None:
                module = _uni2ts.new_module(self.model_size, self.instance_scaling)
            module = module.to(device)
            self.window_length_, self.n_features_in_ = X.shape[1:]
            self.config_ = {
                "d_model": int(module.d_model),
                "num_layers": int(module.num_layers),
                "patch_sizes": tuple(int(p) for p in module.patch_sizes),
                "max_seq_len": int(module.max_seq_len),
                "scaling": bool(module.scaling),
            }
            self.patch_size_ = self._resolve_patch_size(self.config_["patch_sizes"])
            self.history_ = fine_tune(
                module, self._packer(), to_tensor(X), train_idx, val_idx, seed=seed,
                device=device, epochs=self.epochs, batch_size=self.batch_size,
                learning_rate=self.learning_rate, weight_decay=self.weight_decay,
                grad_clip=self.grad_clip, n_iter_no_change=self.n_iter_no_change,
                verbose=self.verbose,
            )  # fmt: skip
        self.module_, self.device_, self.seed_ = module, device, seed
        self._set_calibration(X, np.zeros(len(X), dtype=np.int8))
        return self

    def calibrate(self, X, y):
        """Choose ``direction_`` and the threshold from labelled windows.

        On the windows of ``X`` (a mix of benign and attack windows, e.g. the training
        windows), the direction with the highest ROC-AUC becomes ``direction_`` (ties prefer
        ``"low"``, then ``"high"``) and ``offset_`` the threshold maximising TPR - FPR
        (Youden's J); ``center_`` and the scales come from the benign windows. Without an
        attack window in ``y`` the result is ``fit``'s unsupervised calibration on the
        windows of ``X``. The network is not changed.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)
        y : array-like of shape (n_windows,)
            1 for attack windows, 0 for benign ones (at least one).

        Returns
        -------
        self : MoiraiNLLDetector

        Examples
        --------
        >>> import numpy as np
        >>> from moeids.moirai import MoiraiNLLDetector
        >>> rng = np.random.default_rng(0)  # 40 synthetic benign windows: 32 steps, 2 features
        >>> steps = np.arange(32)[None, :, None]
        >>> benign = np.sin(steps / 3 + rng.uniform(0, 6, (40, 1, 2))).astype("float32")
        >>> detector = MoiraiNLLDetector(model_size="tiny", context_length=24, prediction_length=8,
        ...                              epochs=1, device="cpu", random_state=0).fit(benign)
        >>> from moeids.moirai import make_synthetic_attacks
        >>> attacks, _ = make_synthetic_attacks(benign, n_windows=20, random_state=0)
        >>> X, y = np.concatenate([benign, attacks]), np.r_[np.zeros(40), np.ones(20)]
        >>> detector.calibrate(X, y).direction_ in ("low", "high", "both")
        True
        """
        check_is_fitted(self)
        self._validate_params()
        X = self._checked(X)
        self._set_calibration(X, check_window_labels(y, len(X)))
        return self

    def _set_calibration(self, X, y):
        for name, value in calibrate(*self._point_values(X), y, self.contamination).items():
            setattr(self, name, value)

    def _resolve_patch_size(self, sizes):
        if self.patch_size == "auto":
            context = self.window_length_ - self.prediction_length
            fits = [p for p in sizes if context % p == 0 and self.prediction_length % p == 0]
            return max(fits) if fits else min(sizes)
        if self.patch_size not in sizes:
            raise ValueError(f"patch_size={self.patch_size} is not one of the module's {sizes}")
        return int(self.patch_size)

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

        Examples
        --------
        >>> import numpy as np
        >>> from moeids.moirai import MoiraiNLLDetector
        >>> rng = np.random.default_rng(0)  # 40 synthetic benign windows: 32 steps, 2 features
        >>> steps = np.arange(32)[None, :, None]
        >>> benign = np.sin(steps / 3 + rng.uniform(0, 6, (40, 1, 2))).astype("float32")
        >>> detector = MoiraiNLLDetector(model_size="tiny", context_length=24, prediction_length=8,
        ...                              epochs=1, device="cpu", random_state=0).fit(benign)
        >>> import os, tempfile
        >>> folder = detector.save_pretrained(os.path.join(tempfile.mkdtemp(), "moirai"))
        >>> sorted(path.name for path in folder.iterdir())
        ['README.md', 'config.json', 'model.safetensors']
        >>> again = MoiraiNLLDetector(pretrained=folder, context_length=24, prediction_length=8,
        ...                           epochs=1, device="cpu", random_state=0).fit(benign)
        """
        check_is_fitted(self)
        folder = Path(folder)
        self.module_.save_pretrained(folder)
        return folder
