"""Novelty score: how far a flow's representation lies from the benign training flows.

The head of :class:`~moeids.MoEClassifier` reads one vector per flow, the experts'
embeddings weighted by the gate (:meth:`~moeids.moe.MoENetwork.embed`). Trained to separate
benign flows from the known attacks, that representation also moves flows unlike any benign
training flow away from them, even when the head calls them benign. The
:class:`NoveltyIndex` keeps the representations of (up to :data:`MAX_INDEX_ROWS`) benign
training flows; a flow's raw novelty is the mean Euclidean distance to its
``novelty_neighbors`` nearest ones, and :func:`tail_score` turns it into the share of benign
reference flows that lie closer (each indexed one measured against the others): ``1 - p``,
with ``p`` the flow's empirical tail probability.

A first version scored how badly the stage-1 masked-feature head reconstructs a flow's
features. Measured on NSL-KDD with attack types left out of training it flagged none of the
missed types (their flows are regular and easy to reconstruct), while the distance on the
classifier's representation flags most neptune and smurf flows
(``docs/results/unseen_novelty``), so it replaced it.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._training import predict_batches, to_tensor

__all__ = [
    "BENIGN_NAMES",
    "NoveltyIndex",
    "NoveltyMixin",
    "resolve_benign_class",
    "tail_score",
]

BENIGN_NAMES = frozenset({"benign", "normal", "benigntraffic", "benign_traffic"})
"""Class names (compared lower-case) that ``benign_label="auto"`` reads as benign."""


class NoveltyIndex(nn.Module):
    """Mean distance of representations to their nearest benign reference representations.

    Parameters
    ----------
    reference : Tensor of shape (n_reference, d_model)
        Representations of benign training flows (:meth:`MoENetwork.embed`'s
        ``combined``). Loading a state dict resizes it to the stored shape.
    n_neighbors : int
        Neighbours averaged (at most ``n_reference``).

    Examples
    --------
    >>> import torch
    >>> index = NoveltyIndex(torch.zeros(4, 2), n_neighbors=2)
    >>> index(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    tensor([0., 5.])
    """

    def __init__(self, reference: torch.Tensor, n_neighbors: int):
        super().__init__()
        self.n_neighbors = n_neighbors
        self.register_buffer("reference", reference)
        self.requires_grad_(False)

    def forward(self, embedding: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
        """Raw novelty, shape (batch,), of ``embedding`` (batch, d_model).

        ``exclude_self``: the rows are reference rows themselves; each one's nearest
        match (itself, at distance 0) is left out, as for a flow not in the reference.
        """
        n = len(self.reference)
        skip = int(exclude_self and n > 1)
        k = max(1, min(self.n_neighbors, n - skip))
        # the direct form: the matmul form's rounding depends on the batch size, which
        # would let a flow near the tail threshold flip with the rows scored beside it
        distances = torch.cdist(
            embedding.float(), self.reference, compute_mode="donot_use_mm_for_euclid_dist"
        )
        return distances.topk(k + skip, dim=1, largest=False).values[:, skip:].mean(1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        stored = state_dict.get(prefix + "reference")
        if stored is not None:  # a fitted index: its size is the stored one
            self.reference = torch.empty_like(stored, device=self.reference.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


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


MAX_INDEX_ROWS = 4096
"""Most benign training flows kept in the index (its cost per scored flow grows with it)."""

MAX_REFERENCE_ROWS = 50_000
"""Most benign training flows whose raw novelty calibrates the tail."""


class NoveltyMixin:
    """Novelty score and fusion of :class:`~moeids.MoEClassifier` (reads its parameters).

    Fitted state: ``module_.novelty`` (a :class:`NoveltyIndex`), ``novelty_reference_``
    (sorted raw novelty of the benign reference flows) and ``benign_class_``.
    """

    def _fit_novelty(self, X_train, y_train, X_val, y_val, seed) -> None:
        """Build ``module_.novelty`` from the fitted network and calibrate its tail.

        ``X_*`` raw float Tensors, ``y_*`` encoded labels (-1 = unlabeled). The index
        holds benign training flows (:data:`MAX_INDEX_ROWS` at most, drawn with
        ``seed``). The tail comes from every benign reference flow, training (up to
        :data:`MAX_REFERENCE_ROWS`) and validation: an indexed flow is measured against
        the others (leave one out), so it counts as a flow the index has not seen. On
        the leave-one-type-out benchmark this held the benign test FPR at the tail's
        share, where the few hundred validation flows alone set it about twice too low.
        """
        self.benign_class_ = resolve_benign_class(self.classes_, self.benign_label)
        train_ref = X_train[self._reference_rows(y_train)]
        if not len(train_ref):
            train_ref = X_train
        order = torch.randperm(len(train_ref), generator=torch.Generator().manual_seed(seed))
        train_ref = train_ref[order[:MAX_REFERENCE_ROWS]]
        indexed, others = train_ref[:MAX_INDEX_ROWS], train_ref[MAX_INDEX_ROWS:]
        index = NoveltyIndex(self._embeddings(indexed), self.novelty_neighbors)
        self.module_.novelty = index.to(self.device_)
        others = torch.cat([others, X_val[self._reference_rows(y_val)]])
        raw = [self._raw_novelty(indexed, exclude_self=True)]
        if len(others):
            raw.append(self._raw_novelty(others))
        self.novelty_reference_ = np.sort(np.concatenate(raw))

    def _reference_rows(self, y: torch.Tensor) -> torch.Tensor:
        """Benign reference rows among encoded labels ``y``: the benign class (every
        labeled row when there is none), plus unlabeled rows with ``unlabeled_benign``."""
        rows = y >= 0 if self.benign_class_ is None else y == self.benign_class_
        return rows | (y < 0) if self.unlabeled_benign else rows

    def _novelty_module(self, net) -> NoveltyIndex:
        """An empty :class:`NoveltyIndex` for ``net`` (loading resizes it)."""
        return NoveltyIndex(torch.zeros(0, self.d_model), self.novelty_neighbors)

    def _embeddings(self, X: torch.Tensor) -> torch.Tensor:
        """The network's ``combined`` representation of raw rows ``X``: (n, d_model)."""
        net = self.module_
        net.eval()
        (combined,) = predict_batches(
            lambda x: (net.embed(x)[0],),
            [X],
            batch_size=net.predict_batch_size(),
            device=self.device_,
        )
        return torch.from_numpy(combined)

    def _raw_novelty(self, X: torch.Tensor, exclude_self: bool = False) -> np.ndarray:
        """Raw novelty (n,) of raw rows ``X`` (see :meth:`NoveltyIndex.forward`)."""
        net = self.module_
        net.eval()
        (raw,) = predict_batches(
            lambda x: (net.novelty(net.embed(x)[0], exclude_self),),
            [X],
            batch_size=net.predict_batch_size(),
            device=self.device_,
        )
        return raw

    def novelty_score(self, X) -> np.ndarray:
        """How unusual each flow is next to the benign training flows; higher is more unusual.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        score : ndarray of shape (n_samples,), in [0, 1]
            Share of the benign reference flows that lie closer to their nearest benign
            training flows (one minus the tail probability). About ``novelty_fpr`` of
            benign flows score above ``1 - novelty_fpr``.
        """
        check_is_fitted(self)
        return tail_score(self._raw_novelty(to_tensor(self._validated(X))), self.novelty_reference_)

    def _fusion_on(self) -> bool:
        """Whether predictions fuse the novelty tail (``novelty_fpr > 0`` and a benign class)."""
        return bool(self.novelty_fpr) and getattr(self, "benign_class_", None) is not None

    def _novelty_fires(self, raw: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """``(score, fires)`` from raw novelty (n,), or None when ``raw`` is None."""
        if raw is None:
            return None
        score = tail_score(raw, self.novelty_reference_)
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
