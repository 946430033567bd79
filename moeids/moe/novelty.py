"""Novelty score: how badly the pretrained tabular expert reconstructs a flow's features.

Stage 1 of :class:`~moeids.MoEClassifier` trains the tabular expert to reconstruct masked
features (:mod:`moeids.moe.mfm`). The :class:`NoveltyModel` keeps that stage-1 encoder and
its head. It masks the present tabular features of a flow in ``n_masks`` fixed groups (each
feature in exactly one group, chosen once from the seed), reconstructs each group from the
others and scores every feature by its error (squared error of the scaled value, or
cross-entropy of the categorical code), divided by that feature's mean error on benign
reference flows. A flow's raw novelty is the mean of these ratios over its present
features. :func:`tail_score` turns it into the share of benign reference flows that are
reconstructed better: ``1 - p``, with ``p`` the flow's empirical tail probability.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._training import predict_batches, to_tensor
from .ft_transformer import FTTransformer
from .mfm import MFMHead
from .training import PREDICT_BATCH_SIZE

__all__ = [
    "BENIGN_NAMES",
    "NoveltyMixin",
    "NoveltyModel",
    "resolve_benign_class",
    "tail_score",
]

BENIGN_NAMES = frozenset({"benign", "normal", "benigntraffic", "benign_traffic"})
"""Class names (compared lower-case) that ``benign_label="auto"`` reads as benign."""


class NoveltyModel(nn.Module):
    """Per-flow reconstruction error of masked features by a pretrained tabular expert.

    Parameters
    ----------
    encoder : FTTransformer
        The tabular expert (a copy, frozen in eval mode).
    head : MFMHead
        Its masked-feature-modelling head.
    n_masks : int
        Number of fixed masks (at most the number of features).
    seed : int
        Seeds the assignment of features to masks.
    """

    def __init__(self, encoder: FTTransformer, head: MFMHead, n_masks: int, seed: int):
        super().__init__()
        self.encoder, self.head = encoder, head
        n_features = head.n_num + len(head.cat_heads)
        order = torch.randperm(n_features, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("groups", order % max(1, min(n_masks, n_features)))
        self.register_buffer("feature_scale", torch.ones(n_features))
        self.requires_grad_(False)

    def feature_errors(self, x_num, x_cat, missing) -> torch.Tensor:
        """Error of each present feature when its mask hides it.

        Parameters
        ----------
        x_num : Tensor of shape (batch, n_num), float, scaled
        x_cat : Tensor of shape (batch, n_cat), long
        missing : Tensor of shape (batch, n_num + n_cat), bool

        Returns
        -------
        errors : Tensor of shape (batch, n_num + n_cat)
            Squared error (numeric) or cross-entropy (categorical); 0 where missing.
        """
        errors = x_num.new_zeros(missing.shape)
        for k in range(int(self.groups.max()) + 1):
            targets = (self.groups == k).unsqueeze(0) & ~missing
            num, cat = self.head(self.encoder.encode(x_num, x_cat, missing | targets))
            parts = [(num - x_num.nan_to_num()).square()]
            parts += [F.cross_entropy(logits, x_cat[:, j], reduction="none")[:, None]
                      for j, logits in enumerate(cat)]  # fmt: skip
            errors = torch.where(targets, torch.cat(parts, dim=1), errors)
        return errors

    def forward(self, x_num, x_cat, missing) -> torch.Tensor:
        """Raw novelty, shape (batch,): mean over present features of the error divided by
        ``feature_scale``; 0 for a flow with no present tabular feature."""
        present = ~missing
        ratios = self.feature_errors(x_num, x_cat, missing) / self.feature_scale
        return ratios.sum(1) / present.sum(1).clamp(min=1)

    @torch.no_grad()
    def fit_feature_scale(self, errors: torch.Tensor, missing: torch.Tensor) -> None:
        """Set ``feature_scale`` to each feature's mean error over the present entries of
        reference ``errors`` (n_rows, n_features) from :meth:`feature_errors`; 1 for a
        feature never present, at least 1e-6."""
        present = (~missing).float()
        count = present.sum(0)
        mean = (errors * present).sum(0) / count.clamp(min=1)
        self.feature_scale.copy_(torch.where(count > 0, mean.clamp(min=1e-6), 1.0))


def tail_score(raw: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Share of the sorted ``reference`` (n_ref,) strictly below each of ``raw`` (n,).

    Returns an array of shape (n,) in [0, 1]: one minus the empirical tail probability
    of each raw novelty among the benign reference flows (1 beyond the largest).
    """
    return np.searchsorted(reference, raw, side="left") / max(1, len(reference))


def resolve_benign_class(classes: np.ndarray, benign_label):
    """Index in ``classes`` of the benign class, or None when there is none.

    ``benign_label="auto"``: the class 0 (numbers) or a class named as in
    :data:`BENIGN_NAMES` (strings, any case). Any other value must be one of ``classes``.
    """
    if benign_label != "auto":
        hits = np.flatnonzero(classes == benign_label)
        if not len(hits):
            raise ValueError(
                f"benign_label={benign_label!r} is not one of the classes {classes.tolist()}"
            )
        return int(hits[0])
    for i, label in enumerate(classes):
        if isinstance(label, str) and label.lower() in BENIGN_NAMES:
            return i
        if isinstance(label, int | np.integer | float | np.floating) and label == 0:
            if not isinstance(label, bool | np.bool_):
                return i
    return None


MIN_REFERENCE = 50
"""Fewest validation reference flows for the tail; with fewer, the training ones are used."""

MAX_SCALE_ROWS = 20_000
"""Most training reference flows used to set the per-feature error scale."""


class NoveltyMixin:
    """Novelty score and fusion of :class:`~moeids.MoEClassifier` (reads its parameters).

    Fitted state: ``module_.novelty`` (a :class:`NoveltyModel`: the stage-1 tabular
    expert and its MFM head), ``novelty_reference_`` (sorted raw novelty of the benign
    reference flows) and ``benign_class_``.
    """

    def _fit_novelty(self, encoder, head, X_train, y_train, X_val, y_val, seed) -> None:
        """Build and calibrate ``module_.novelty`` from the stage-1 ``encoder`` and ``head``.

        ``X_*`` raw float Tensors, ``y_*`` encoded labels (-1 = unlabeled). The error
        scale of each feature comes from the training reference rows, the tail from the
        validation ones (rows stage 1 did not learn from) when there are
        :data:`MIN_REFERENCE` of them.
        """
        self.benign_class_ = resolve_benign_class(self.classes_, self.benign_label)
        novelty = NoveltyModel(encoder, head, self.novelty_masks, seed).to(self.device_).eval()
        train_ref = X_train[self._reference_rows(y_train)]
        if not len(train_ref):
            train_ref = X_train
        if len(train_ref) > MAX_SCALE_ROWS:
            pick = torch.randperm(len(train_ref), generator=torch.Generator().manual_seed(seed))
            train_ref = train_ref[pick[:MAX_SCALE_ROWS]]
        errors, missing = self._novelty_batches(novelty.feature_errors, train_ref, True)
        novelty.fit_feature_scale(torch.from_numpy(errors), torch.from_numpy(missing) > 0)
        val_ref = X_val[self._reference_rows(y_val)]
        reference = val_ref if len(val_ref) >= MIN_REFERENCE else train_ref
        self.module_.novelty = novelty
        self.novelty_reference_ = np.sort(self._raw_novelty(reference))

    def _reference_rows(self, y: torch.Tensor) -> torch.Tensor:
        """Benign reference rows among encoded labels ``y``: the benign class (every
        labeled row when there is none), plus unlabeled rows with ``unlabeled_benign``."""
        rows = y >= 0 if self.benign_class_ is None else y == self.benign_class_
        return rows | (y < 0) if self.unlabeled_benign else rows

    def _novelty_module(self, net) -> NoveltyModel:
        """An unfitted :class:`NoveltyModel` shaped for ``net`` (to load weights into)."""
        head = MFMHead(len(net.num_columns), net.cat_cardinalities.tolist(), self.d_model)
        return NoveltyModel(copy.deepcopy(net.experts["tabular"]), head, self.novelty_masks, 0)

    def _novelty_batches(self, fn, X: torch.Tensor, with_missing=False) -> tuple:
        net = self.module_

        def run(x):
            inputs = net.split_inputs(x)
            tab = inputs["x_num"], inputs["x_cat"], inputs["tabular_missing"]
            return (fn(*tab), tab[2]) if with_missing else fn(*tab)

        return predict_batches(run, [X], batch_size=PREDICT_BATCH_SIZE, device=self.device_)

    def _raw_novelty(self, X: torch.Tensor) -> np.ndarray:
        self.module_.novelty.eval()
        return self._novelty_batches(self.module_.novelty, X)[0]

    def novelty_score(self, X) -> np.ndarray:
        """How unusual each flow is to the stage-1 tabular expert; higher is more unusual.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        score : ndarray of shape (n_samples,), in [0, 1]
            Share of the benign reference flows whose masked features are reconstructed
            better (one minus the tail probability). About ``novelty_fpr`` of benign
            flows score above ``1 - novelty_fpr``.
        """
        check_is_fitted(self)
        if getattr(self, "novelty_reference_", None) is None:
            raise ValueError(
                "this model has no novelty score: it needs stage 1 (pretrain_epochs > 0) "
                "and tabular features with present values"
            )
        raw = self._raw_novelty(to_tensor(self._validated(X)))
        return tail_score(raw, self.novelty_reference_)

    def _novelty_fires(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(score, fires)`` per row of validated ``values``, or None when fusion is off
        (``novelty_fpr=0``, no novelty model or no benign class)."""
        fitted = getattr(self, "novelty_reference_", None) is not None
        if not (self.novelty_fpr and fitted and self.benign_class_ is not None):
            return None
        score = tail_score(self._raw_novelty(to_tensor(values)), self.novelty_reference_)
        return score, score > 1 - self.novelty_fpr

    def _fused_proba(self, proba: np.ndarray, fires: np.ndarray) -> np.ndarray:
        """``proba`` (n, n_classes) with the benign probability of the rows where the
        novelty tail ``fires`` (n,) moved to the attack classes, in proportion."""
        benign = self.benign_class_
        proba = proba.copy()
        rows = proba[fires]
        attacks = np.delete(np.arange(proba.shape[1]), benign)
        share = rows[:, attacks]
        total = share.sum(1, keepdims=True)
        share = np.where(total > 0, share / np.where(total > 0, total, 1), 1 / len(attacks))
        rows[:, attacks] = share.astype(proba.dtype)
        rows[:, benign] = 0
        proba[fires] = rows
        return proba

    def _with_novelty(self, frame, proba, score, fires):
        """``explain``'s ``frame`` plus ``novelty_score`` and which detector ``fired``."""
        classifier = proba.argmax(1) != self.benign_class_
        fired = np.select(
            [classifier & fires, classifier, fires], ["both", "classifier", "novelty"], "none"
        )
        return frame.assign(novelty_score=score, fired=fired)
