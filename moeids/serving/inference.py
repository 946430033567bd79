"""Scoring of a micro-batch: stack the requests' flows, one :func:`score_flows` call, split.

If the whole batch fails, each request is scored alone, so that one request the model cannot
score never fails the others that shared its batch.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..features.splitter import MissingFeaturesWarning
from ..scoring import score_flows, split_model

__all__ = ["Scorer", "benign_label"]

_BENIGN_NAMES = {"benign", "normal"}


def benign_label(classes):
    """The class that is not an alert: ``classes[0]`` of a binary model, else the class
    named benign/normal (any case), else None (every label then counts as an alert)."""
    classes = list(classes)
    if len(classes) == 2:
        return classes[0]
    return next((c for c in classes if str(c).strip().lower() in _BENIGN_NAMES), None)


class Scorer:
    """Callable for :class:`MicroBatcher`: ParsedFlows per request -> decision records.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
    spec : FeatureSpec
        The model's input fields (see :meth:`FeatureSpec.from_model`).
    """

    def __init__(self, model, spec):
        self.model = model
        self.spec = spec
        self.classes = split_model(model)[1].classes_

    def _records(self, numeric, categorical, profile) -> list[dict]:
        with warnings.catch_warnings():  # the missing features are in every decision
            warnings.simplefilter("ignore", MissingFeaturesWarning)
            flows = self.spec.frame(numeric, categorical, profile)
            decisions = score_flows(self.model, flows)
        columns = {name: decisions[name].tolist() for name in decisions.columns}  # plain types
        return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]

    def __call__(self, payloads) -> list:
        """Decision records (a list of dicts, one per flow) per payload, or the exception
        that scoring that payload alone raised. Payloads named by one extractor are
        scored together."""
        out = [None] * len(payloads)
        by_profile = {}
        for k, payload in enumerate(payloads):
            by_profile.setdefault(payload.profile, []).append(k)
        for profile, members in by_profile.items():
            results = self._score_together([payloads[k] for k in members], profile)
            for k, result in zip(members, results, strict=True):
                out[k] = result
        return out

    def _score_together(self, payloads, profile) -> list:
        try:
            records = self._records(
                np.concatenate([p.numeric for p in payloads]),
                np.concatenate([p.categorical for p in payloads]),
                profile,
            )
        except Exception:
            return [self._alone(p, profile) for p in payloads]
        out, start = [], 0
        for p in payloads:
            out.append(records[start : start + p.n_flows])
            start += p.n_flows
        return out

    def _alone(self, payload, profile):
        try:
            return self._records(payload.numeric, payload.categorical, profile)
        except Exception as exc:
            return exc
