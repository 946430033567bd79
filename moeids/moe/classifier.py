"""MoEClassifier: a gated FT-Transformer + 1D-CNN classifier with a scikit-learn API.

The estimator is a thin wrapper: :mod:`moeids.moe` holds the network, :mod:`moeids._training`
the training loop, :mod:`moeids.persistence` the device-safe pickling. ``docs/classifier.md``
describes the design, the defaults and how missing features are handled.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._training import (
    draw_seed,
    predict_batches,
    resolve_device,
    seeded,
    to_tensor,
    train_module,
)
from ..persistence import TorchPickleMixin, load, save
from .mfm import MFMHead, mfm_loss
from .network import MoENetwork
from .tokenizer import FeatureTokenizer

EXPERTS = ("tabular", "temporal")
GROUPS = ("tabular", "temporal", "categorical")
_PREDICT_BATCH_SIZE = 1024
# Stage 2 learning-rate steps: after early stopping, training resumes from the best weights
# at the next (smaller) rate, while epochs remain.
_LR_FACTORS = (1.0, 0.1)


def feature_groups_from_names(names) -> np.ndarray:
    """Group of each column from its ``group__name`` feature name.

    Names starting with ``temporal__`` or ``categorical__`` go to those groups; every
    other column (``tabular__...``, any other name, or no names at all) is tabular.

    Parameters
    ----------
    names : array-like of str of shape (n_features,)

    Returns
    -------
    groups : ndarray of str of shape (n_features,)
    """
    groups = []
    for name in names:
        prefix, sep, _ = str(name).partition("__")
        groups.append(prefix if sep and prefix in GROUPS else "tabular")
    return np.asarray(groups, dtype=object)


def expert_losses(weights, expert_logits, present, y, class_weight=None) -> torch.Tensor:
    """Auxiliary losses that tie the gate weights to what each expert knows.

    For each sample, ``p_e(y)`` is the probability of the true class that the head gives
    expert ``e``'s embedding alone. The loss is the mean cross-entropy of the experts
    alone plus the cross-entropy of the gate weights against the target
    ``p_e(y) / sum_k p_k(y)`` (no gradient through the target), both over the experts
    with any input present.

    Parameters
    ----------
    weights : Tensor of shape (batch, n_experts)
        Gate weights.
    expert_logits : Tensor of shape (batch, n_experts, n_classes)
    present : Tensor of shape (batch, n_experts)
        Fraction of each expert's inputs present (0 = the expert has no input).
    y : Tensor of shape (batch,), long
    class_weight : Tensor of shape (n_classes,), optional
        Per-class weights of the samples.

    Returns
    -------
    loss : scalar Tensor
    """
    available = present > 0
    log_p = F.log_softmax(expert_logits, dim=-1)
    index = y.view(-1, 1, 1).expand(-1, log_p.shape[1], 1)
    log_p_true = log_p.gather(2, index).squeeze(2)  # (batch, n_experts)
    target = F.softmax(
        log_p_true.detach().masked_fill(~available, torch.finfo(log_p.dtype).min), dim=1
    )
    gate_ce = -(target * torch.log(weights.clamp_min(1e-6))).sum(1)
    expert_ce = -(log_p_true * available).sum(1) / available.sum(1).clamp(min=1)
    sample_weight = available.any(1).to(log_p.dtype)
    if class_weight is not None:
        sample_weight = sample_weight * class_weight[y]
    return ((gate_ce + expert_ce) * sample_weight).sum() / sample_weight.sum().clamp(min=1e-6)


class MoEClassifier(TorchPickleMixin, ClassifierMixin, BaseEstimator):
    """Mixture of a tabular expert (FT-Transformer) and a temporal expert (1D CNN).

    Each expert embeds its own feature group; a gate weighs the two embeddings per sample
    and an MLP head classifies their weighted sum. Missing values (NaN) become the
    learned [MASK] token (tabular) or an availability channel (temporal); an expert whose
    inputs are all missing gets gate weight 0. ``fit`` pretrains the tabular expert with
    masked feature modelling (stage 1), then trains everything end to end with random
    feature dropout, early stopping and restore of the best weights (stage 2).

    Input columns are grouped by their names, as produced by
    :class:`moeids.FeatureSplitter`: ``tabular__*`` numeric, ``categorical__*`` integer
    codes (0 = unknown, larger unseen codes read as unknown), ``temporal__*`` timing
    features. A plain array, or a DataFrame with other names, is all tabular (the
    temporal expert is off).

    Parameters
    ----------
    d_model : int, default=32
        Size of the tokens and of each expert's embedding.
    n_layers : int, default=2
        Transformer blocks of the tabular expert.
    n_heads : int, default=2
        Attention heads (must divide ``d_model``).
    dropout : float, default=0.1
        Dropout in the experts, the gate and the head.
    epochs : int, default=50
        Maximum epochs of stage 2 (both learning-rate steps together), not counting
        ``refit_epochs``.
    pretrain_epochs : int, default=3
        Maximum epochs of stage 1 (masked feature modelling); 0 skips it.
    mask_ratio : float, default=0.3
        Fraction of the present tabular features masked per sample in stage 1.
    batch_size : int, default=256
        Training mini-batch size.
    learning_rate : float, default=2e-3
        AdamW learning rate (both stages).
    weight_decay : float, default=1e-4
        AdamW weight decay.
    validation_fraction : float, default=0.1
        Fraction of the training data held out (stratified when possible) for early
        stopping. 0 trains on everything for the full number of epochs.
    n_iter_no_change : int or None, default=5
        Stop a stage after this many epochs without a lower validation loss; the best
        epoch's weights are kept. In stage 2, training then resumes once from the best
        weights at a tenth of ``learning_rate`` (while epochs remain) and stops the same
        way. None trains all epochs at ``learning_rate``.
    ema_decay : float, default=0.995
        When positive, stage 2 keeps an exponential moving average of the weights
        (this decay per mini-batch step, so about ``1 / (1 - ema_decay)`` steps are
        averaged; bias-corrected, so a fit of fewer steps averages the steps it has);
        the average is what is validated, kept as the best epoch and used for
        prediction. 0 uses the raw weights.
    refit_epochs : int, default=5
        Stage 2 ends with this many more epochs at a tenth of ``learning_rate`` on the
        training and validation rows together (same loss, no validation), so that the
        rows held out for early stopping are learnt from too. Only when a validation
        split is held out; 0 disables it.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the stage-2 cross-entropy.
    feature_dropout : float, default=0.4
        Each training sample of stage 2 hides each of its features with a probability
        drawn uniformly from ``[0, feature_dropout]``, so that partial inputs are in
        distribution. 0 disables it.
    expert_loss_weight : float, default=0.5
        Weight of two auxiliary stage-2 losses that give the gate weights a meaning:
        the head must also classify each expert's embedding alone (cross-entropy), and
        the gate learns to give each expert the share it supplies of the probability of
        the true class, ``p_e(y) / sum_k p_k(y)`` (cross-entropy against the gate
        weights; see :func:`expert_losses`). 0 trains the gate through the mixture only,
        which tends to route everything to one expert.
    gate_temperature : float, default=1.0
        Softmax temperature of the gate; lower is sharper.
    sparse_gating : bool, default=False
        Route each sample to its top-1 expert instead of mixing both.
    numeric_embedding : {"piecewise_linear", "linear", "periodic"}, \
            default="piecewise_linear"
        Numeric tokens of the tabular expert: the piecewise-linear encoding of the
        value over ``n_bins`` quantile bins of the training data; ``x * w + b`` per
        feature; or periodic features with learned frequencies. The first and last are
        followed by a per-feature linear map and ReLU.
    n_bins : int, default=64
        Quantile bins per numeric feature of the piecewise-linear embedding (fewer
        when a feature has fewer distinct quantiles). Unused by the other embeddings.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, the validation split, batch order, masks and
        dropout. A fixed value gives identical models on the CPU.
    verbose : int, default=0
        1 prints a line per epoch (losses, validation F1, time) and a progress bar for
        long epochs.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str of shape (n_features_in_,)
        Only when ``X`` was a DataFrame with string column names.
    feature_groups_ : ndarray of str of shape (n_features_in_,)
        ``"tabular"``, ``"temporal"`` or ``"categorical"`` per input column.
    cat_cardinalities_ : ndarray of int of shape (n_categorical,)
        Largest code seen in ``fit`` plus one, per categorical column.
    device_ : torch.device
        Where the network lives.
    module_ : moeids.moe.MoENetwork
        The fitted network.
    pretrain_history_ : list of dict
        Per-epoch records of stage 1 (empty when skipped).
    history_ : list of dict
        Per-epoch records of stage 2 (``train_loss``, ``val_loss``, ``val_f1``, ``time``,
        ``learning_rate``). ``train_loss`` includes the expert losses and feature
        dropout; ``val_loss`` is the plain cross-entropy of the mixture. The last
        ``refit_epochs`` records (training plus validation rows) have no validation
        metrics.
    n_iter_ : int
        Epochs run in stage 2, ``refit_epochs`` included.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0))
    >>> model.fit(flows, labels).predict(flows)  # doctest: +SKIP
    """

    _parameter_constraints = {
        "d_model": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 0.99, closed="both")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "mask_ratio": [Interval(Real, 0, 1, closed="right")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 0.5, closed="both")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "ema_decay": [Interval(Real, 0, 1, closed="left")],
        "refit_epochs": [Interval(Integral, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "feature_dropout": [Interval(Real, 0, 0.95, closed="both")],
        "expert_loss_weight": [Interval(Real, 0, None, closed="left")],
        "gate_temperature": [Interval(Real, 0, None, closed="neither")],
        "sparse_gating": ["boolean"],
        "numeric_embedding": [StrOptions(set(FeatureTokenizer.EMBEDDINGS))],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        d_model=32,
        n_layers=2,
        n_heads=2,
        dropout=0.1,
        epochs=50,
        pretrain_epochs=3,
        mask_ratio=0.3,
        batch_size=256,
        learning_rate=2e-3,
        weight_decay=1e-4,
        validation_fraction=0.1,
        n_iter_no_change=5,
        ema_decay=0.995,
        refit_epochs=5,
        class_weight=None,
        feature_dropout=0.4,
        expert_loss_weight=0.5,
        gate_temperature=1.0,
        sparse_gating=False,
        numeric_embedding="piecewise_linear",
        n_bins=64,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dropout = dropout
        self.epochs = epochs
        self.pretrain_epochs = pretrain_epochs
        self.mask_ratio = mask_ratio
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.ema_decay = ema_decay
        self.refit_epochs = refit_epochs
        self.class_weight = class_weight
        self.feature_dropout = feature_dropout
        self.expert_loss_weight = expert_loss_weight
        self.gate_temperature = gate_temperature
        self.sparse_gating = sparse_gating
        self.numeric_embedding = numeric_embedding
        self.n_bins = n_bins
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ validation
    def _check_params(self):
        """What ``_parameter_constraints`` cannot say: heads must divide ``d_model``."""
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")

    def _check_categorical(self, X):
        """Raise unless categorical columns hold non-negative integer codes (or NaN)."""
        for j in np.flatnonzero(self.feature_groups_ == "categorical"):
            column = X[:, j]
            bad = ~np.isnan(column) & ((column < 0) | (column != np.round(column)))
            if bad.any():
                raise ValueError(
                    f"categorical column {self._feature_names()[j]!r} must hold "
                    f"non-negative integer codes (0 = unknown); got {column[bad][0]!r}"
                )

    def _feature_names(self) -> np.ndarray:
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return names

    def _validate_X(self, X, *, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=np.float32, ensure_all_finite="allow-nan")
        return np.ascontiguousarray(X, dtype=np.float32)

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit both stages.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing value. Column groups come from ``group__name`` names.
        y : array-like of shape (n_samples,)
            Class labels (at least two classes).

        Returns
        -------
        self : MoEClassifier
        """
        self._check_params()
        X, y = validate_data(
            self, X, y, dtype=np.float32, ensure_all_finite="allow-nan", ensure_min_samples=2
        )
        X = np.ascontiguousarray(X, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"MoEClassifier needs samples of at least 2 classes in y; got only class "
                f"{self.classes_[0]!r}"
            )
        names = getattr(self, "feature_names_in_", None)
        self.feature_groups_ = feature_groups_from_names(
            names if names is not None else [""] * X.shape[1]
        )
        self._check_categorical(X)
        cat = self.feature_groups_ == "categorical"
        self.cat_cardinalities_ = (
            np.nan_to_num(np.nanmax(X[:, cat], axis=0), nan=0.0).astype(np.int64) + 1
            if cat.any() and not np.isnan(X[:, cat]).all()
            else np.ones(int(cat.sum()), dtype=np.int64)
        )
        self.device_ = resolve_device(self.device)
        seed = draw_seed(self.random_state)

        train_idx, val_idx = self._split(y_encoded, seed)
        X_all = to_tensor(X)
        y_all = torch.from_numpy(y_encoded.astype(np.int64))
        X_train, y_train = X_all[train_idx], y_all[train_idx]
        X_val, y_val = X_all[val_idx], y_all[val_idx]
        with seeded(seed, self.device_):
            self.module_ = self._build_network()
            self.module_.fit_scaling(X_train)
            self.module_.to(self.device_)
            generator = torch.Generator().manual_seed(seed)
            self.pretrain_history_ = self._pretrain(X_train, X_val, generator, seed)
            self.history_ = self._train(X_train, y_train, X_val, y_val, generator)
        self.n_iter_ = len(self.history_)
        return self

    def _split(self, y, seed):
        n = len(y)
        n_val = int(round(self.validation_fraction * n))
        if n_val == 0 or n - n_val < 1:
            return np.arange(n), np.arange(0)
        counts = np.bincount(y)
        stratify = y if counts.min() >= 2 and n_val >= len(counts) else None
        return train_test_split(np.arange(n), test_size=n_val, random_state=seed, stratify=stratify)

    def _build_network(self) -> MoENetwork:
        groups = self.feature_groups_
        return MoENetwork(
            num_columns=np.flatnonzero(groups == "tabular").tolist(),
            cat_columns=np.flatnonzero(groups == "categorical").tolist(),
            cat_cardinalities=self.cat_cardinalities_.tolist(),
            temporal_columns=np.flatnonzero(groups == "temporal").tolist(),
            n_classes=len(self.classes_),
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            dropout=self.dropout,
            gate_temperature=self.gate_temperature,
            sparse_gating=bool(self.sparse_gating),
            numeric_embedding=self.numeric_embedding,
            n_bins=self.n_bins,
        )

    def _train_kwargs(self, generator, has_val):
        return {
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "device": self.device_,
            "generator": generator,
            "n_iter_no_change": self.n_iter_no_change if has_val else None,
            "verbose": self.verbose,
        }

    def _pretrain(self, X_train, X_val, generator, seed) -> list[dict]:
        """Stage 1: masked feature modelling of the tabular expert."""
        net = self.module_
        if self.pretrain_epochs == 0 or "tabular" not in net.experts:
            return []
        encoder = net.experts["tabular"]
        head = MFMHead(len(net.num_columns), net.cat_cardinalities.tolist(), self.d_model).to(
            self.device_
        )
        model = torch.nn.ModuleDict({"encoder": encoder, "head": head})

        def tabular(x):
            with torch.no_grad():
                parts = net.split_inputs(x.to(self.device_))
            return [parts["x_num"].cpu(), parts["x_cat"].cpu(), parts["tabular_missing"].cpu()]

        def loss_fn(model, x_num, x_cat, missing):
            return mfm_loss(model["encoder"], model["head"], x_num, x_cat, missing, self.mask_ratio)

        validate = None
        if len(X_val):
            val = [t.to(self.device_) for t in tabular(X_val)]

            def validate(model):
                fixed = torch.Generator(device=self.device_).manual_seed(seed)
                loss = mfm_loss(
                    model["encoder"], model["head"], *val, self.mask_ratio, generator=fixed
                )
                return {"val_loss": loss.item()}

        return train_module(
            model,
            loss_fn,
            tabular(X_train),
            epochs=self.pretrain_epochs,
            validate=validate,
            stage="pretrain",
            **self._train_kwargs(generator, validate is not None),
        )

    def _train(self, X_train, y_train, X_val, y_val, generator) -> list[dict]:
        """Stage 2: end-to-end classification with feature dropout."""
        weight = None
        if self.class_weight is not None:
            weight = torch.as_tensor(
                compute_class_weight(
                    self.class_weight, classes=self.classes_, y=self.classes_[y_train.numpy()]
                ),
                dtype=torch.float32,
                device=self.device_,
            )
        rate = float(self.feature_dropout)
        aux = float(self.expert_loss_weight)

        def loss_fn(net, x, y):
            if rate > 0:
                hide = torch.rand(len(x), 1, device=x.device) * rate
                x = x.masked_fill(torch.rand(x.shape, device=x.device) < hide, float("nan"))
            if aux == 0:
                return F.cross_entropy(net(x)[0], y, weight=weight)
            logits, *outputs = net(x, return_experts=True)
            loss = F.cross_entropy(logits, y, weight=weight)
            return loss + aux * expert_losses(*outputs, y, weight)

        validate = None
        if len(X_val):
            val_y = y_val.numpy()

            def validate(net):
                logits = torch.cat(
                    [net(x.to(self.device_))[0] for x in X_val.split(_PREDICT_BATCH_SIZE)]
                )
                loss = F.cross_entropy(logits, y_val.to(self.device_), weight=weight)
                pred = logits.argmax(1).cpu().numpy()
                return {"val_loss": loss.item(), "val_f1": self._f1(val_y, pred)}

        kwargs = self._train_kwargs(generator, validate is not None)
        history: list[dict] = []

        def run_phase(factor, tensors, epochs, stage, validate):
            """Train ``epochs`` more at ``factor * learning_rate``; extend ``history``."""
            kwargs["learning_rate"] = self.learning_rate * factor
            records = train_module(
                self.module_,
                loss_fn,
                tensors,
                epochs=epochs,
                validate=validate,
                ema_decay=self.ema_decay,
                stage=stage if factor == 1 else f"{stage} lr={kwargs['learning_rate']:.0e}",
                **kwargs,
            )
            for record in records:
                record["epoch"] += len(history)
                record["learning_rate"] = kwargs["learning_rate"]
            history.extend(records)
            return records

        best_loss, best_state = np.inf, None
        for factor in _LR_FACTORS:
            records = run_phase(
                factor, [X_train, y_train], self.epochs - len(history), "train", validate
            )
            if kwargs["n_iter_no_change"] is None:
                break
            phase_loss = min(record["val_loss"] for record in records)
            if best_state is None or phase_loss < best_loss:
                best_loss = phase_loss
                best_state = copy.deepcopy(self.module_.state_dict())
            else:  # this step did not beat the previous one: keep the earlier weights
                self.module_.load_state_dict(best_state)
            if len(history) >= self.epochs:
                break
        if len(X_val) and self.refit_epochs:  # learn from the validation rows too
            kwargs["n_iter_no_change"] = None
            all_rows = [torch.cat([X_train, X_val]), torch.cat([y_train, y_val])]
            run_phase(_LR_FACTORS[-1], all_rows, self.refit_epochs, "refit", None)
        return history

    def _f1(self, y_true, y_pred) -> float:
        """Binary F1 of ``classes_[1]``, macro F1 for more classes (encoded labels)."""
        if len(self.classes_) == 2:
            return float(f1_score(y_true, y_pred, pos_label=1, zero_division=0.0))
        return float(f1_score(y_true, y_pred, average="macro", zero_division=0.0))

    # ------------------------------------------------------------------ inference
    def _forward(self, X) -> tuple[np.ndarray, ...]:
        """Logits (n, n_classes), probabilities (n, n_classes), gate weights (n, 2) and
        the validated input (n, n_features)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        self._check_categorical(X)
        net = self.module_
        net.eval()

        def run(x):
            logits, weights = net(x)
            return logits, F.softmax(logits, dim=1), weights

        logits, proba, weights = predict_batches(
            run, [to_tensor(X)], batch_size=_PREDICT_BATCH_SIZE, device=self.device_
        )
        gate = np.zeros((len(X), len(EXPERTS)), dtype=np.float32)
        for k, name in enumerate(net.expert_names):
            gate[:, EXPERTS.index(name)] = weights[:, k]
        return logits, proba, gate, X

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns as ``classes_``."""
        return self._forward(X)[1]

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n_samples,)."""
        logits = self._forward(X)[0]
        return self.classes_[logits.argmax(1)]

    def decision_function(self, X) -> np.ndarray:
        """Logit margins: shape (n_samples,) for binary (> 0 means ``classes_[1]``),
        else the logits, shape (n_samples, n_classes)."""
        logits = self._forward(X)[0]
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict_gating(self, X) -> pd.DataFrame:
        """Per-sample expert weights.

        Returns
        -------
        weights : DataFrame of shape (n_samples, 2)
            Columns ``tabular`` and ``temporal``; rows sum to 1 unless a sample has no
            input at all. An expert that is off or has no input present gets 0. The
            index is ``X``'s when ``X`` is a DataFrame.
        """
        gate = self._forward(X)[2]
        return pd.DataFrame(gate, columns=list(EXPERTS), index=_index(X))

    def explain(self, X) -> pd.DataFrame:
        """Per-sample prediction, confidence, gate weights and missing features.

        Returns
        -------
        explanation : DataFrame with n_samples rows
            ``prediction`` (label), ``confidence`` (its probability), ``tabular`` and
            ``temporal`` (gate weights), ``missing_features`` (list of the names of the
            columns that were NaN in that row). The index is ``X``'s for a DataFrame.
        """
        _, proba, gate, values = self._forward(X)
        rows, cols = np.nonzero(np.isnan(values))
        names = self._feature_names()[cols]
        split_at = np.searchsorted(rows, np.arange(1, len(values)))
        missing = [list(part) for part in np.split(names, split_at)]
        best = proba.argmax(1)
        return pd.DataFrame(
            {
                "prediction": self.classes_[best],
                "confidence": proba[np.arange(len(proba)), best],
                "tabular": gate[:, 0],
                "temporal": gate[:, 1],
                "missing_features": missing,
            },
            index=_index(X),
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the fitted model to one pickle-free, checksummed ``.safetensors`` file.

        The same as ``moeids.save(self, path)`` (``docs/persistence.md``). Load it with
        :meth:`MoEClassifier.load` or ``moeids.load``.
        """
        save(self, path)

    @classmethod
    def load(cls, path, device=None) -> MoEClassifier:
        """Read a model written by :meth:`save` (``moeids.load``, for a MoEClassifier).

        Parameters
        ----------
        path : str or path-like
        device : str or None, default=None
            Where to put the network (``"cpu"``, ``"cuda"``, ...; ``device_`` and the
            ``device`` parameter are set to it). None: the device it was fitted on when
            that exists here, else the CPU with a
            :class:`~moeids.persistence.DeviceFallbackWarning`.

        Returns
        -------
        model : MoEClassifier
        """
        model = load(path, device=device)
        if type(model) is not cls:
            raise ValueError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def _index(X):
    return X.index if isinstance(X, pd.DataFrame) else None
