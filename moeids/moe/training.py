"""The training schedule of :class:`~moeids.MoEClassifier`, as named, overridable methods.

``fit`` runs, on a hold-out split of the rows (:func:`moeids._training.holdout_split`):

1. stage 1 (:meth:`MoETrainingMixin.pretrain_phase`): masked feature modelling of the tabular
   expert, one batch scored by :meth:`~MoETrainingMixin.pretrain_loss`;
2. stage 2 (:meth:`~MoETrainingMixin.train_phases`): the whole network, one batch scored
   by :meth:`~MoETrainingMixin.get_loss`, each epoch by
   :meth:`~MoETrainingMixin.validation_scores`, in the phases of
   :meth:`~MoETrainingMixin.learning_rate_phases`;
3. the refit (:meth:`~MoETrainingMixin.refit_phase`) on the training and validation rows.

A subclass changes one step by overriding its method, as with skorch's ``get_loss``.
"""

from __future__ import annotations

import copy
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from sklearn.utils.class_weight import compute_class_weight

from .._training import BatchStream, holdout_split, seeded, to_tensor, train_module
from .losses import expert_losses, hide_features
from .mfm import MFMHead, mfm_loss
from .network import MoENetwork

__all__ = ["MoETrainingMixin"]


class MoETrainingMixin:
    """Training steps of :class:`~moeids.MoEClassifier` (reads its parameters).

    Examples
    --------
    A subclass changes one step by overriding its method; here the stage-2 loss gets
    label smoothing (a tiny network on every tenth flow of the bundled sample):

    >>> import torch.nn.functional as F
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> class Smoothed(MoEClassifier):
    ...     def get_loss(self, net, x, y, class_weight=None):
    ...         logits = net(x)[0]
    ...         return F.cross_entropy(logits, y, weight=class_weight, label_smoothing=0.1)
    >>> flows = load_sample()
    >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
    >>> model = Smoothed(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
    ...                  refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
    >>> model.n_iter_
    2
    """

    # ------------------------------------------------------------------ the whole fit
    def _fit_network(self, X: np.ndarray, y: np.ndarray, seed: int) -> None:
        """Split, build, scale and train ``module_``; set the histories.

        ``X`` (n_samples, n_features) float32, ``y`` (n_samples,) encoded labels, -1 for
        unlabeled rows: they join stage 1 and the novelty reference, not stage 2.
        """
        train, val = holdout_split(y, self.validation_fraction, seed)
        X_all, y_all = to_tensor(X), torch.from_numpy(y.astype(np.int64))
        self._fit_stages(TensorRows(X_all[train], y_all[train]), X_all[val], y_all[val], seed)

    def _fit_stages(self, rows, X_val, y_val, seed: int) -> None:
        """Build, scale and train ``module_`` on the training ``rows`` (a
        :class:`TensorRows`, or :class:`moeids.outofcore.ParquetRows` for files) with
        early stopping on ``X_val``, ``y_val`` (Tensors, -1 = unlabeled); set the
        histories."""
        self.novelty_reference_ = None
        with seeded(seed, self.device_):
            self.module_ = self._build_network()
            rows.fit_scaling(self.module_)
            self.module_.to(self.device_)
            generator = torch.Generator().manual_seed(seed)
            self.pretrain_history_ = self.pretrain_phase(rows.features(), X_val, generator, seed)
            X_val_all, y_val_all = X_val, y_val
            X_val, y_val = X_val[y_val >= 0], y_val[y_val >= 0]
            class_weight = rows.class_weight(self)
            loss_fn = partial(self.get_loss, class_weight=class_weight)
            validate = None
            if len(X_val):
                validate = partial(
                    self.validation_scores, X_val=X_val, y_val=y_val, class_weight=class_weight
                )
            history = self.train_phases(loss_fn, rows.labeled(), validate, generator)
            if len(X_val) and self.refit_epochs:
                all_rows = rows.labeled_with(X_val, y_val)
                history += self.refit_phase(loss_fn, all_rows, generator, first_epoch=len(history))
            self._fit_novelty(*rows.novelty_rows(), X_val_all, y_val_all, seed)
        self.history_ = history

    def _build_network(self) -> MoENetwork:
        net = self._build_classifier_network()
        if getattr(self, "novelty_reference_", None) is not None:  # loading a fitted model
            net.novelty = self._novelty_module(net)
        return net

    def _build_classifier_network(self) -> MoENetwork:
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

    def _train_module(self, module, loss_fn, tensors, generator, **kwargs) -> list[dict]:
        """:func:`~moeids._training.train_module` with this estimator's settings."""
        kwargs.setdefault("learning_rate", self.learning_rate)
        return train_module(
            module,
            loss_fn,
            tensors,
            batch_size=self.batch_size,
            weight_decay=self.weight_decay,
            device=self.device_,
            generator=generator,
            verbose=self.verbose,
            **kwargs,
        )

    # ------------------------------------------------------------------ stage 1
    def pretrain_loss(self, model, x_num, x_cat, missing, generator=None):
        """Stage-1 loss of one batch: masked feature modelling.

        Parameters
        ----------
        model : ModuleDict with ``encoder`` (the tabular expert) and ``head`` (MFMHead)
        x_num : Tensor of shape (batch, n_num), float, scaled
        x_cat : Tensor of shape (batch, n_cat), long
        missing : Tensor of shape (batch, n_num + n_cat), bool
        generator : torch.Generator, optional
            Source of the mask (a fixed one for validation).

        Returns
        -------
        loss : scalar Tensor, or None when the batch has no present tabular value

        Examples
        --------
        >>> import torch
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> y = flows.target.iloc[::10]
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=1,
        ...                       refit_epochs=1, class_weight="balanced", random_state=0).fit(Z, y)
        >>> x = torch.as_tensor(Z.to_numpy(dtype="float32")[:64])
        >>> labels = torch.as_tensor(y.to_numpy()[:64])
        >>> from moeids.moe import MFMHead
        >>> net = model.module_
        >>> head = MFMHead(len(net.num_columns), net.cat_cardinalities.tolist(), d_model=8)
        >>> pair = torch.nn.ModuleDict({"encoder": net.experts["tabular"], "head": head})
        >>> inputs = net.split_inputs(x)
        >>> loss = model.pretrain_loss(
        ...     pair, inputs["x_num"], inputs["x_cat"], inputs["tabular_missing"])
        >>> loss.shape
        torch.Size([])
        """
        return mfm_loss(
            model["encoder"], model["head"], x_num, x_cat, missing, self.mask_ratio, generator
        )

    def pretrain_phase(self, X_train, X_val, generator, seed) -> list[dict]:
        """Stage 1 on ``module_``'s tabular expert; returns its per-epoch records.

        Skipped (``[]``) when ``pretrain_epochs == 0``, without a tabular expert, or
        when no tabular value of the training rows is present. Validated (with a fixed
        mask) only when a validation row has a present tabular value.

        Parameters
        ----------
        X_train : Tensor of shape (n_train, n_features), or BatchStream
            Raw float rows (NaN = missing), on the CPU, or a
            :class:`~moeids._training.BatchStream` of them (with ``has_tabular_values``).
        X_val : Tensor of shape (n_val, n_features)
            Raw float rows (NaN = missing), on the CPU.
        generator : torch.Generator
            Source of the batch order and the training masks.
        seed : int
            Seed of the fixed validation mask.

        Returns
        -------
        history : list of dict
            One record per epoch: ``epoch``, ``train_loss``, ``val_loss`` (when
            validated) and ``time``; stored as ``pretrain_history_`` by ``fit``.

        Examples
        --------
        >>> import torch
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> y = flows.target.iloc[::10]
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=1,
        ...                       refit_epochs=1, class_weight="balanced", random_state=0).fit(Z, y)
        >>> [sorted(record) for record in model.pretrain_history_]
        [['epoch', 'time', 'train_loss', 'val_loss']]
        """
        net = self.module_
        if self.pretrain_epochs == 0 or "tabular" not in net.experts:
            return []
        if isinstance(X_train, BatchStream):
            if not X_train.has_tabular_values(net):
                return []
            train = X_train.map(self._tabular_inputs)
        else:
            train = self._tabular_inputs(X_train)
            if train[2].all():
                return []
        head = MFMHead(len(net.num_columns), net.cat_cardinalities.tolist(), self.d_model)
        model = torch.nn.ModuleDict({"encoder": net.experts["tabular"], "head": head})
        model.to(self.device_)
        validate = None
        val = [t.to(self.device_) for t in self._tabular_inputs(X_val)]
        if not val[2].all():

            def validate(model):
                fixed = torch.Generator(device=self.device_).manual_seed(seed)
                return {"val_loss": self.pretrain_loss(model, *val, generator=fixed).item()}

        return self._train_module(
            model,
            self.pretrain_loss,
            train,
            generator,
            epochs=self.pretrain_epochs,
            validate=validate,
            n_iter_no_change=self.n_iter_no_change if validate else None,
            stage="pretrain",
        )

    def _tabular_inputs(self, X) -> list[torch.Tensor]:
        """The tabular expert's CPU inputs (x_num, x_cat, missing) of raw rows ``X``."""
        with torch.no_grad():
            parts = self.module_.split_inputs(X.to(self.device_))
        return [parts[k].cpu() for k in ("x_num", "x_cat", "tabular_missing")]

    # ------------------------------------------------------------------ stage 2
    def loss_class_weight(self, y_train) -> torch.Tensor | None:
        """Per-class weights of the stage-2 losses from ``class_weight`` and the encoded
        training labels ``y_train`` (n_train,); None without ``class_weight``.

        Parameters
        ----------
        y_train : Tensor of shape (n_train,), long
            Encoded labels (indices into ``classes_``).

        Returns
        -------
        weight : Tensor of shape (n_classes,) or None
            On ``device_``, in ``classes_`` order.

        Examples
        --------
        >>> import torch
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> y = flows.target.iloc[::10]
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=1,
        ...                       refit_epochs=1, class_weight="balanced", random_state=0).fit(Z, y)
        >>> model.loss_class_weight(torch.tensor([0, 0, 0, 1]))  # "balanced"
        tensor([0.6667, 2.0000])
        """
        if self.class_weight is None:
            return None
        labels = self.classes_[y_train.numpy()]
        weight = compute_class_weight(self.class_weight, classes=self.classes_, y=labels)
        return torch.as_tensor(weight, dtype=torch.float32, device=self.device_)

    def get_loss(self, net, x, y, class_weight=None) -> torch.Tensor:
        """Stage-2 training loss of one batch.

        Hides features (:func:`~moeids.moe.losses.hide_features` at
        ``feature_dropout``), then the cross-entropy of the mixture plus
        ``expert_loss_weight`` times :func:`~moeids.moe.losses.expert_losses`.

        Parameters
        ----------
        net : MoENetwork, in train mode
        x : Tensor of shape (batch, n_features), float, raw (NaN = missing)
        y : Tensor of shape (batch,), long, encoded labels
        class_weight : Tensor of shape (n_classes,), optional

        Returns
        -------
        loss : scalar Tensor

        Examples
        --------
        >>> import torch
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> y = flows.target.iloc[::10]
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=1,
        ...                       refit_epochs=1, class_weight="balanced", random_state=0).fit(Z, y)
        >>> x = torch.as_tensor(Z.to_numpy(dtype="float32")[:64])
        >>> labels = torch.as_tensor(y.to_numpy()[:64])
        >>> loss = model.get_loss(model.module_.train(), x, labels)
        >>> loss.shape, loss.requires_grad
        (torch.Size([]), True)
        """
        x = hide_features(x, float(self.feature_dropout))
        if self.expert_loss_weight == 0:
            return F.cross_entropy(net(x)[0], y, weight=class_weight)
        logits, *outputs = net(x, return_experts=True)
        loss = F.cross_entropy(logits, y, weight=class_weight)
        gate_terms = expert_losses(
            *outputs, y, class_weight, target_temperature=self.gate_target_temperature
        )
        return loss + self.expert_loss_weight * gate_terms

    def validation_scores(self, net, X_val, y_val, class_weight=None) -> dict:
        """Stage-2 validation metrics of ``net`` (eval mode) on the held-out rows.

        Parameters
        ----------
        net : MoENetwork, in eval mode
        X_val : Tensor of shape (n_val, n_features), float, raw (NaN = missing)
        y_val : Tensor of shape (n_val,), long, encoded labels
        class_weight : Tensor of shape (n_classes,), optional

        Returns
        -------
        scores : dict
            ``val_loss`` (weighted cross-entropy of the mixture, monitored for early
            stopping) and ``val_f1`` (binary F1 of ``classes_[1]``, else macro F1).

        Examples
        --------
        >>> import torch
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> y = flows.target.iloc[::10]
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=1,
        ...                       refit_epochs=1, class_weight="balanced", random_state=0).fit(Z, y)
        >>> x = torch.as_tensor(Z.to_numpy(dtype="float32")[:64])
        >>> labels = torch.as_tensor(y.to_numpy()[:64])
        >>> sorted(model.validation_scores(model.module_.eval(), x, labels))
        ['val_f1', 'val_loss']
        """
        chunks = X_val.split(net.predict_batch_size())
        logits = torch.cat([net(x.to(self.device_))[0] for x in chunks])
        loss = F.cross_entropy(logits, y_val.to(self.device_), weight=class_weight)
        pred, true = logits.argmax(1).cpu().numpy(), y_val.numpy()
        if len(self.classes_) == 2:
            f1 = f1_score(true, pred, pos_label=1, zero_division=0.0)
        else:
            f1 = f1_score(true, pred, average="macro", zero_division=0.0)
        return {"val_loss": loss.item(), "val_f1": float(f1)}

    def learning_rate_phases(self) -> tuple[float, ...]:
        """Factors of ``learning_rate`` of the stage-2 phases, run in order while epochs
        remain; each after the first starts from the best weights so far. (1.0, 0.1).

        Returns
        -------
        factors : tuple of float

        Examples
        --------
        >>> from moeids import MoEClassifier
        >>> MoEClassifier().learning_rate_phases()
        (1.0, 0.1)
        """
        return (1.0, 0.1)

    def train_phase(self, loss_fn, tensors, generator, *, factor, epochs, validate, stage):
        """``epochs`` epochs of ``module_`` at ``factor * learning_rate``, with early
        stopping when ``validate`` is given and ``n_iter_no_change`` is set.

        Parameters
        ----------
        loss_fn : callable
            ``loss_fn(net, x, y) -> scalar Tensor`` (:meth:`get_loss` with the class
            weights bound).
        tensors : list of Tensor
            ``[x, y]``: raw float rows (n, n_features) and encoded labels (n,).
        generator : torch.Generator
            Source of the batch order.
        factor : float
            Multiplies ``learning_rate``.
        epochs : int
            Most epochs to run.
        validate : callable or None
            ``validate(net) -> dict`` (:meth:`validation_scores` bound to the validation
            rows); None: no validation, no early stopping.
        stage : str
            Name of the phase in the progress lines (``verbose``).

        Returns
        -------
        records : list of dict
            One per epoch: ``epoch`` (from 1), ``train_objective``, ``time``,
            ``learning_rate`` and, when validated, ``val_loss`` and ``val_f1``.

        Examples
        --------
        >>> import torch
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> y = flows.target.iloc[::10]
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=1,
        ...                       refit_epochs=1, learning_rate=0.002, class_weight="balanced",
        ...                       random_state=0).fit(Z, y)
        >>> [record["learning_rate"] for record in model.history_]
        [0.002, 0.002, 0.0002]
        """
        rate = self.learning_rate * factor
        records = self._train_module(
            self.module_,
            loss_fn,
            tensors,
            generator,
            learning_rate=rate,
            epochs=epochs,
            validate=validate,
            n_iter_no_change=self.n_iter_no_change if validate else None,
            ema_decay=self.ema_decay,
            stage=stage if factor == 1 else f"{stage} lr={rate:.0e}",
            loss_name="train_objective",  # not val_loss's plain cross-entropy: see history_
        )
        for record in records:
            record["learning_rate"] = rate
        return records

    def train_phases(self, loss_fn, tensors, validate, generator) -> list[dict]:
        """Stage 2: the phases of :meth:`learning_rate_phases` within ``epochs``.

        Without early stopping (no validation rows or ``n_iter_no_change=None``) only
        the first phase runs, for all ``epochs``. A phase that does not beat the best
        validation loss of the earlier ones gives their weights back.

        Parameters
        ----------
        loss_fn : callable
            ``loss_fn(net, x, y) -> scalar Tensor`` (:meth:`get_loss` with the class
            weights bound).
        tensors : list of Tensor
            ``[x, y]``: raw float rows (n, n_features) and encoded labels (n,).
        validate : callable or None
            As for :meth:`train_phase`.
        generator : torch.Generator
            Source of the batch order.

        Returns
        -------
        history : list of dict
            The records of :meth:`train_phase`, numbered on from phase to phase.

        Examples
        --------
        >>> import torch
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> y = flows.target.iloc[::10]
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=1,
        ...                       refit_epochs=1, class_weight="balanced", random_state=0).fit(Z, y)
        >>> [sorted(record) for record in model.history_[:1]]  # doctest: +NORMALIZE_WHITESPACE
        [['epoch', 'learning_rate', 'time', 'train_objective', 'val_f1', 'val_loss']]
        """
        early_stopping = validate is not None and self.n_iter_no_change is not None
        phases = self.learning_rate_phases() if early_stopping else (1.0,)
        history: list[dict] = []
        best_loss, best_state = np.inf, None
        for factor in phases:
            records = self.train_phase(
                loss_fn,
                tensors,
                generator,
                factor=factor,
                epochs=self.epochs - len(history),
                validate=validate,
                stage="train",
            )
            history += _renumbered(records, len(history))
            if early_stopping:
                phase_loss = min(record["val_loss"] for record in records)
                if best_state is None or phase_loss < best_loss:
                    best_loss, best_state = phase_loss, copy.deepcopy(self.module_.state_dict())
                else:
                    self.module_.load_state_dict(best_state)
            if len(history) >= self.epochs:
                break
        return history

    def refit_phase(self, loss_fn, tensors, generator, *, first_epoch) -> list[dict]:
        """``refit_epochs`` epochs on the training plus validation rows ``tensors``, at
        the last phase's rate, without validation; records numbered after
        ``first_epoch``.

        Parameters
        ----------
        loss_fn : callable
            ``loss_fn(net, x, y) -> scalar Tensor`` (:meth:`get_loss` with the class
            weights bound).
        tensors : list of Tensor
            ``[x, y]``: raw float rows (n, n_features) and encoded labels (n,).
        generator : torch.Generator
            Source of the batch order.
        first_epoch : int
            Epochs run before (the records count on from it).

        Returns
        -------
        records : list of dict
            As for :meth:`train_phase`, without validation metrics.

        Examples
        --------
        With ``refit_epochs=1``, the last record of ``history_`` is the refit's:

        >>> import torch
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()
        >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
        >>> y = flows.target.iloc[::10]
        >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=1,
        ...                       refit_epochs=1, class_weight="balanced", random_state=0).fit(Z, y)
        >>> last = model.history_[-1]
        >>> last["epoch"], "val_loss" in last
        (3, False)
        """
        factor = self.learning_rate_phases()[-1]
        records = self.train_phase(
            loss_fn,
            tensors,
            generator,
            factor=factor,
            epochs=self.refit_epochs,
            validate=None,
            stage="refit",
        )
        return _renumbered(records, first_epoch)


class TensorRows:
    """In-memory training rows of :meth:`MoETrainingMixin._fit_stages`: raw ``X``
    (n_samples, n_features) float Tensor, encoded ``y`` (n_samples,) long, -1 = unlabeled.
    (Its out-of-core counterpart is :class:`moeids.outofcore.ParquetRows`.)"""

    def __init__(self, X: torch.Tensor, y: torch.Tensor):
        self.X, self.y = X, y

    def fit_scaling(self, net) -> None:
        """The network's scaling statistics (and bins) from these rows."""
        net.fit_scaling(self.X)

    def features(self) -> torch.Tensor:
        """All rows' features (stage 1 also learns from unlabeled rows)."""
        return self.X

    def labeled(self) -> list[torch.Tensor]:
        """``[X, y]`` of the labeled rows (stage 2)."""
        if not hasattr(self, "_labeled"):
            keep = self.y >= 0
            self._labeled = [self.X[keep], self.y[keep]]
        return self._labeled

    def labeled_with(self, X_val, y_val) -> list[torch.Tensor]:
        """:meth:`labeled` followed by the labeled validation rows (the refit)."""
        X, y = self.labeled()
        return [torch.cat([X, X_val]), torch.cat([y, y_val])]

    def class_weight(self, estimator) -> torch.Tensor | None:
        """``estimator.loss_class_weight`` of the labeled rows."""
        return estimator.loss_class_weight(self.labeled()[1])

    def novelty_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, y)`` of the training rows the novelty index and its tail are drawn from."""
        return self.X, self.y


def _renumbered(records: list[dict], offset: int) -> list[dict]:
    for record in records:
        record["epoch"] += offset
    return records
