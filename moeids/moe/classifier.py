"""MoEClassifier: a gated FT-Transformer + 1D-CNN classifier with a scikit-learn API.

The estimator is a thin wrapper: :mod:`moeids.moe.network` holds the network,
:mod:`moeids.moe.training` the training schedule (overridable methods),
:mod:`moeids.moe.inputs` the input checks, :mod:`moeids._training` the training loop and
:mod:`moeids.persistence` saving, loading and device-safe pickling. ``docs/classifier.md``
describes the design, the defaults and how missing features are handled.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._training import draw_seed, predict_batches, resolve_device, to_tensor
from ..features.names import EXPERTS, feature_groups_from_names, missing_names
from ..persistence import TorchPickleMixin, load, save
from .attribution import flow_top_features
from .inputs import (
    UNLABELED,
    UnlabeledRowsWarning,
    as_float32_rows,
    categorical_cardinalities,
    check_categorical_codes,
    check_has_values,
    encode_labels,
)
from .novelty import NoveltyMixin
from .tokenizer import FeatureTokenizer
from .training import MoETrainingMixin

__all__ = ["MoEClassifier", "MoEOutput"]


class MoEOutput(NamedTuple):
    """What :meth:`MoEClassifier.forward` returns for ``n`` rows.

    Examples
    --------
    >>> import numpy as np
    >>> from moeids.moe.classifier import MoEOutput
    >>> output = MoEOutput(*(np.zeros((3, k), np.float32) for k in (2, 2, 2, 5)))
    >>> output.gate.shape, output._fields
    ((3, 2), ('logits', 'proba', 'gate', 'values'))
    """

    logits: np.ndarray
    """(n, n_classes) float32"""
    proba: np.ndarray
    """(n, n_classes) float32, columns in ``classes_`` order"""
    gate: np.ndarray
    """(n, 2) float32 weights of the experts in :data:`~moeids.features.names.EXPERTS`"""
    values: np.ndarray
    """(n, n_features) float32, the validated input (NaN = missing)"""


class MoEClassifier(
    NoveltyMixin, MoETrainingMixin, TorchPickleMixin, ClassifierMixin, BaseEstimator
):
    """Mixture of a tabular expert (FT-Transformer) and a temporal expert (1D CNN).

    Each expert embeds its own feature group; a gate weighs the two embeddings per sample
    and an MLP head classifies their weighted sum. Missing values (NaN) become the
    learned [MASK] token (tabular) or an availability channel (temporal); an expert whose
    inputs are all missing gets gate weight 0. ``fit`` pretrains the tabular expert with
    masked feature modelling (stage 1), then trains everything end to end with random
    feature dropout, early stopping and restore of the best weights (stage 2). Each
    step of that schedule is a method a subclass may override (see
    :class:`~moeids.moe.training.MoETrainingMixin`: :meth:`get_loss`,
    :meth:`pretrain_loss`, :meth:`validation_scores`, :meth:`learning_rate_phases`,
    :meth:`pretrain_phase`, :meth:`train_phases`, :meth:`train_phase`,
    :meth:`refit_phase`).

    Input columns are grouped by their names, as produced by
    :class:`moeids.FeatureSplitter`: ``tabular__*`` numeric, ``categorical__*`` integer
    codes (0 = unknown, codes above those seen in ``fit`` read as unknown; ``fit``
    accepts codes up to :data:`~moeids.moe.inputs.MAX_CATEGORICAL_CODE`), ``temporal__*``
    timing features, all unscaled (the network log-standardises numeric columns
    itself). A plain array, or a DataFrame with other names, is all tabular (the temporal
    expert is off).

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
    epochs : int, default=30
        Maximum epochs of stage 2 (both learning-rate steps together), not counting
        ``refit_epochs``.
    pretrain_epochs : int, default=3
        Maximum epochs of stage 1 (masked feature modelling); 0 skips it.
    mask_ratio : float, default=0.3
        Fraction of the present tabular features masked per sample in stage 1.
    batch_size : int, default=512
        Training mini-batch size.
    learning_rate : float, default=3e-3
        AdamW learning rate (both stages).
    weight_decay : float, default=1e-4
        AdamW weight decay.
    validation_fraction : float, default=0.1
        Fraction of the training data held out (stratified when possible; at least one
        row) for early stopping, by :func:`moeids._training.holdout_split`. 0 trains on
        everything for the full number of epochs.
    n_iter_no_change : int or None, default=5
        Stop a stage after this many epochs without a lower validation loss; the best
        epoch's weights are kept. In stage 2, training then resumes once from the best
        weights at a tenth of ``learning_rate`` (while epochs remain) and stops the same
        way. None trains all epochs at ``learning_rate`` and keeps the last epoch's
        weights (of the average, with ``ema_decay``).
    ema_decay : float, default=0.99
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
        weights; see :func:`~moeids.moe.losses.expert_losses`). 0 trains the gate
        through the mixture only, which tends to route everything to one expert.
    gate_temperature : float, default=1.0
        Softmax temperature of the gate; lower is sharper.
    gate_target_temperature : float, default=1.0
        Temperature ``T`` of the gate's target in the expert losses: each expert's share
        of ``p_e(y)^(1/T)``. 1 is its share of the true-class probability; lower values
        route more decisively to the expert that is clearly better for a flow and leave
        the weights near equal where the experts are equally sure
        (``docs/results/explain.md`` measures it). Unused when ``expert_loss_weight=0``.
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
    inference_dtype : {"float32", "bfloat16"}, default="float32"
        Precision of prediction (``forward``, ``predict_proba``, ...; training is always
        float32). ``"bfloat16"`` runs the network under ``torch.autocast`` in bfloat16,
        probabilities within a few thousandths of float32's; on a 2-core CPU with AVX-512
        BF16 (no AMX) it was no faster than float32 (``docs/results/throughput.md``).
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, the validation split, batch order, masks and
        dropout. A fixed value gives identical models on the CPU.
    verbose : int, default=0
        1 prints a line per epoch (losses, validation F1, time) and a progress bar for
        long epochs.
    novelty_fpr : float in [0, 0.5], default=0.0
        Fusion with the novelty score (:meth:`novelty_score`): a flow whose score is
        above ``1 - novelty_fpr`` (the tail that holds about this share of the benign
        validation flows) is flagged as an attack even when the classifier calls it
        benign (``predict``, ``predict_proba``, ``decision_function``, ``explain``). Read
        at prediction time, so it can be changed after ``fit``. 0 turns fusion off.
    novelty_neighbors : int, default=5
        Nearest benign training flows whose mean distance is a flow's raw novelty
        (:meth:`novelty_score`).
    unlabeled_benign : bool, default=False
        Whether the unlabeled rows (``y = -1``) are mostly benign: they then join the
        benign reference of the novelty score. They always join stage 1 and never the
        supervised loss.
    benign_label : label or "auto", default="auto"
        The benign class (the novelty score's reference; what fusion overrides).
        ``"auto"``: the class 0 or a class named benign or normal (any case); without
        one, the reference is every labeled flow and fusion is off.

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
        Per-epoch records of stage 1 (empty when skipped: ``pretrain_epochs=0``, or
        no tabular value present in the training rows).
    history_ : list of dict
        Per-epoch records of stage 2 (``train_objective``, ``val_loss``, ``val_f1``,
        ``time``, ``learning_rate``). ``train_objective`` is what training minimises: the
        cross-entropy on rows with features randomly hidden plus the expert losses, so it
        stays well above ``val_loss``, the plain cross-entropy of the mixture on intact
        validation rows. The last
        ``refit_epochs`` records (training plus validation rows) have no validation
        metrics.
    n_iter_ : int
        Epochs run in stage 2, ``refit_epochs`` included.
    novelty_reference_ : ndarray of shape (n_reference,)
        Sorted raw novelty of the benign reference flows (the validation ones when
        there are enough). The benign training representations it is measured against
        are ``module_.novelty`` (:class:`~moeids.moe.novelty.NoveltyIndex`).
    benign_class_ : int or None
        Index in ``classes_`` of the benign class (see ``benign_label``).

    Examples
    --------
    A tiny network (two epochs, ``d_model=8``) on every tenth flow of the bundled
    CIC-IDS2017 sample, so that the example runs in a second; the defaults train the real
    one:

    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny))
    >>> model.fit(X, y).predict(X).shape
    (507,)
    >>> model[-1].classes_, model[-1].n_iter_
    (array([0, 1]), 2)
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
        "gate_target_temperature": [Interval(Real, 0, None, closed="neither")],
        "sparse_gating": ["boolean"],
        "numeric_embedding": [StrOptions(set(FeatureTokenizer.EMBEDDINGS))],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "inference_dtype": [StrOptions({"float32", "bfloat16"})],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "novelty_fpr": [Interval(Real, 0, 0.5, closed="both")],
        "novelty_neighbors": [Interval(Integral, 1, None, closed="left")],
        "unlabeled_benign": ["boolean"],
        "benign_label": "no_validation",
    }

    def __init__(
        self,
        *,
        d_model=32,
        n_layers=2,
        n_heads=2,
        dropout=0.1,
        epochs=30,
        pretrain_epochs=3,
        mask_ratio=0.3,
        batch_size=512,
        learning_rate=3e-3,
        weight_decay=1e-4,
        validation_fraction=0.1,
        n_iter_no_change=5,
        ema_decay=0.99,
        refit_epochs=5,
        class_weight=None,
        feature_dropout=0.4,
        expert_loss_weight=0.5,
        gate_temperature=1.0,
        gate_target_temperature=1.0,
        sparse_gating=False,
        numeric_embedding="piecewise_linear",
        n_bins=64,
        inference_dtype="float32",
        device="auto",
        random_state=None,
        verbose=0,
        novelty_fpr=0.0,
        novelty_neighbors=5,
        unlabeled_benign=False,
        benign_label="auto",
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
        self.gate_target_temperature = gate_target_temperature
        self.sparse_gating = sparse_gating
        self.numeric_embedding = numeric_embedding
        self.n_bins = n_bins
        self.inference_dtype = inference_dtype
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.novelty_fpr = novelty_fpr
        self.novelty_neighbors = novelty_neighbors
        self.unlabeled_benign = unlabeled_benign
        self.benign_label = benign_label

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

    def _feature_names(self) -> np.ndarray:
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return names

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit both stages.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN marks a missing value. Column groups come from ``group__name`` names.
        y : array-like of shape (n_samples,)
            Class labels (at least two classes); -1 (numeric labels) marks an
            unlabeled row (scikit-learn's semi-supervised convention): it takes part
            in stage 1 and, with ``unlabeled_benign``, in the novelty reference, never
            in the supervised loss, and -1 is not a class.

        Returns
        -------
        self : MoEClassifier
            Fitted.

        Examples
        --------
        >>> import numpy as np
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
        >>> model.classes_, model.n_features_in_, len(model.history_)
        (array([0, 1]), 83, 2)
        """
        self._check_params()
        X, y = validate_data(
            self, X, y, dtype=np.float32, ensure_all_finite="allow-nan", ensure_min_samples=2
        )
        X = np.ascontiguousarray(X, dtype=np.float32)
        check_has_values(X)
        unlabeled = (y == UNLABELED) if y.dtype.kind in "iuf" else np.zeros(len(y), bool)
        if unlabeled.any():  # never silent: labels {-1, 1} would otherwise lose their -1 rows
            warnings.warn(
                f"{int(unlabeled.sum())} of {len(y)} rows have y == -1 and are treated as "
                "unlabeled (pretraining and novelty reference only, never the supervised "
                "loss); encode a class -1 with another value",
                UnlabeledRowsWarning,
                stacklevel=2,
            )
        self.classes_, labeled = encode_labels(y[~unlabeled], unlabeled=int(unlabeled.sum()))
        y_encoded = np.full(len(y), -1, dtype=np.int64)
        y_encoded[~unlabeled] = labeled
        names = getattr(self, "feature_names_in_", None)
        self.feature_groups_ = feature_groups_from_names(
            names if names is not None else [""] * X.shape[1]
        )
        check_categorical_codes(X, self.feature_groups_, self._feature_names(), fitting=True)
        self.cat_cardinalities_ = categorical_cardinalities(X, self.feature_groups_)
        self.device_ = resolve_device(self.device)
        self._fit_network(X, y_encoded, draw_seed(self.random_state))
        self.n_iter_ = len(self.history_)
        return self

    # ------------------------------------------------------------------ inference
    def forward(self, X) -> MoEOutput:
        """Run the fitted network on ``X`` in batches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        output : MoEOutput
            ``(logits, proba, gate, values)``: logits and probabilities
            (n_samples, n_classes), gate weights (n_samples, 2) in ``EXPERTS`` order
            (``tabular``, ``temporal``) and the validated input (n_samples, n_features).

        Examples
        --------
        >>> import numpy as np
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
        >>> output = model.forward(Z.iloc[:4])
        >>> output.proba.shape, output.gate.shape, output.values.shape
        ((4, 2), (4, 2), (4, 83))
        """
        return self._forward(X, with_novelty=False)[0]

    def _forward(self, X, with_novelty: bool) -> tuple[MoEOutput, np.ndarray | None]:
        """:meth:`forward`, plus the raw novelty (n_samples,) from the same pass when
        ``with_novelty``, else None."""
        return self._forward_validated(self._validated(X), with_novelty)

    def _forward_validated(self, X, with_novelty: bool) -> tuple[MoEOutput, np.ndarray | None]:
        """:meth:`_forward` of ``X`` as :meth:`_validated` returns it (the service checks
        its own input once per model and calls this directly)."""
        net = self.module_
        if net.training:
            net.eval()

        # getattr: a model pickled before the parameter existed predicts in float32
        bfloat16 = getattr(self, "inference_dtype", "float32") == "bfloat16"

        def run(x):
            with torch.autocast(self.device_.type, dtype=torch.bfloat16, enabled=bfloat16):
                combined, weights, _, _ = net.embed(x)
                logits = net.head(combined).float()
            outputs = logits, F.softmax(logits, dim=1), weights
            return (*outputs, net.novelty(combined)) if with_novelty else outputs

        logits, proba, weights, *raw = predict_batches(
            run, [to_tensor(X)], batch_size=net.predict_batch_size(), device=self.device_
        )
        gate = np.zeros((len(X), len(EXPERTS)), dtype=np.float32)
        for k, name in enumerate(net.expert_names):
            gate[:, EXPERTS.index(name)] = weights[:, k]
        return MoEOutput(logits, proba, gate, X), (raw[0] if raw else None)

    def _validated(self, X) -> np.ndarray:
        """``X`` checked against the fitted columns: float32 (n_samples, n_features)."""
        check_is_fitted(self)
        _check_column_order(X, getattr(self, "feature_names_in_", None))
        X = as_float32_rows(self, X)
        check_categorical_codes(X, self.feature_groups_, self._feature_names(), fitting=False)
        return X

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns as ``classes_``.

        With fusion (``novelty_fpr > 0``), a flow in the novelty tail has benign
        probability 0 (its mass goes to the attack classes, in proportion).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The fitted columns, in the fitted order; NaN marks a missing value.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float32
            Rows sum to 1.

        Examples
        --------
        >>> import numpy as np
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
        >>> proba = model.predict_proba(Z.iloc[:5])
        >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1))
        ((5, 2), True)
        """
        output, raw = self._forward(X, with_novelty=self._fusion_on())
        novelty = self._novelty_fires(raw)
        return output.proba if novelty is None else self._fused_proba(output.proba, novelty[1])

    def predict(self, X) -> np.ndarray:
        """Predicted labels, shape (n_samples,); with fusion, a flow in the novelty tail
        gets its most probable attack class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Values of ``classes_``.

        Examples
        --------
        >>> import numpy as np
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
        >>> labels = model.predict(Z.iloc[:5])
        >>> labels.shape, set(labels) <= set(model.classes_)
        ((5,), True)
        """
        scores = self.decision_function(X)
        return self.classes_[(scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(1)]

    def decision_function(self, X) -> np.ndarray:
        """Logit margins: shape (n_samples,) for binary (> 0 means ``classes_[1]``),
        else the logits, shape (n_samples, n_classes). With fusion, a flow in the
        novelty tail gets the largest float32 margin (binary) or the smallest benign
        logit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes), float32

        Examples
        --------
        >>> import numpy as np
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
        >>> scores = model.decision_function(Z.iloc[:5])
        >>> scores.shape, bool(((scores > 0) == (model.predict(Z.iloc[:5]) == 1)).all())
        ((5,), True)
        """
        output, raw = self._forward(X, with_novelty=self._fusion_on())
        logits, novelty = output.logits.copy(), self._novelty_fires(raw)
        if novelty is not None:
            logits[novelty[1], self.benign_class_] = np.finfo(np.float32).min
        if len(self.classes_) != 2:
            return logits
        largest = np.finfo(np.float32).max
        return np.clip(logits[:, 1] - logits[:, 0], -largest, largest)

    def predict_gating(self, X) -> pd.DataFrame:
        """Per-sample expert weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        weights : DataFrame of shape (n_samples, 2)
            Columns ``tabular`` and ``temporal``; rows sum to 1 unless a sample has no
            input at all. An expert that is off or has no input present gets 0. The
            index is ``X``'s when ``X`` is a DataFrame.

        Examples
        --------
        >>> import numpy as np
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
        >>> weights = model.predict_gating(Z.iloc[:3])
        >>> weights.columns.tolist(), bool(np.allclose(weights.sum(axis=1), 1))
        (['tabular', 'temporal'], True)
        """
        return pd.DataFrame(self.forward(X).gate, columns=list(EXPERTS), index=_index(X))

    def explain(self, X, top_k=None) -> pd.DataFrame:
        """Per-sample prediction, confidence, gate weights, missing and top features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        top_k : int or None, default=None
            Also list each flow's ``top_k`` most supporting features
            (:mod:`moeids.moe.attribution`; needs ``pip install 'moeids[explain]'``).

        Returns
        -------
        explanation : DataFrame with n_samples rows
            ``prediction`` (label), ``confidence`` (its probability), ``tabular`` and
            ``temporal`` (gate weights), ``missing_features`` (list of the names of the
            columns that were NaN in that row) and, with ``top_k``, ``top_features``: a
            dict of input feature name (``group__`` prefix dropped) -> signed
            contribution to the classifier's log-odds of the explained class
            (``classes_[1]`` for a binary model, else the predicted class), most
            supporting the label shown first. The index is ``X``'s for a DataFrame.
            With fusion (``novelty_fpr > 0``), prediction and confidence are the fused
            ones, plus ``novelty_score`` and ``fired`` (``"classifier"``,
            ``"novelty"``, ``"both"`` or ``"none"``: which of the two flags the flow).

        Examples
        --------
        >>> import numpy as np
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
        >>> explanation = model.explain(Z.iloc[:3], top_k=2)
        >>> explanation.shape, explanation.columns[:3].tolist()
        ((3, 6), ['prediction', 'confidence', 'tabular'])
        >>> [len(top) for top in explanation["top_features"]]
        [2, 2, 2]
        """
        (_, proba, gate, values), raw = self._forward(X, with_novelty=self._fusion_on())
        missing = missing_names(values, self._feature_names())
        novelty = self._novelty_fires(raw)
        fused = proba if novelty is None else self._fused_proba(proba, novelty[1])
        best = fused.argmax(1)
        frame = pd.DataFrame(
            {
                "prediction": self.classes_[best],
                "confidence": fused[np.arange(len(fused)), best],
                "tabular": gate[:, 0],
                "temporal": gate[:, 1],
                "missing_features": missing,
            },
            index=_index(X),
        )
        if top_k is not None:
            frame["top_features"] = flow_top_features(self, values, proba, best, top_k)
        return frame if novelty is None else self._with_novelty(frame, proba, *novelty)

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the fitted model to one pickle-free, checksummed ``.safetensors`` file.

        The same as ``moeids.save(self, path)`` (``docs/persistence.md``). Load it with
        :meth:`MoEClassifier.load` or ``moeids.load``.

        Parameters
        ----------
        path : str or path-like
            The file to write (its folder must exist).

        Examples
        --------
        >>> import numpy as np
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> model.save(path)
        >>> os.path.getsize(path) > 0
        True
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
            Fitted; predicts what the saved model predicted.

        Examples
        --------
        >>> import numpy as np
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> model.save(path)
        >>> again = MoEClassifier.load(path, device="cpu")
        >>> bool(np.array_equal(again.predict_proba(Z), model.predict_proba(Z)))
        True
        """
        model = load(path, device=device)
        if type(model) is not cls:
            raise ValueError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def _check_column_order(X, fitted) -> None:
    """Raise, naming the first misplaced column, if ``X`` has the fitted columns reordered."""
    if fitted is None or not isinstance(X, pd.DataFrame) or len(X.columns) != len(fitted):
        return
    columns = [str(c) for c in X.columns]
    if columns != list(fitted) and sorted(columns) == sorted(fitted):
        k = next(i for i, (a, b) in enumerate(zip(columns, fitted, strict=True)) if a != b)
        raise ValueError(
            f"X has the fitted feature columns in another order: column {k} is {columns[k]!r}, "
            f"fit had {fitted[k]!r} there; select them as in fit, e.g. X[feature_names_in_]"
        )


def _index(X):
    return X.index if isinstance(X, pd.DataFrame) else None
