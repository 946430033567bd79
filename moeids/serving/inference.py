"""Scoring of a micro-batch: stack the requests' flows, score them at once, split.

If the whole batch fails, each request is scored alone, so that one request the model cannot
score never fails the others that shared its batch.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..features.splitter import FeatureSplitter, MissingFeaturesWarning
from ..moe.classifier import MoEClassifier
from ..moe.inputs import check_categorical_codes
from ..scoring import decision_arrays, score_flows, split_model

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

    A ``Pipeline(FeatureSplitter, MoEClassifier)`` reads the parsed matrices directly
    (:meth:`FeatureSplitter._transform_matrices`, no DataFrame in between); any flows that
    path cannot take -- other models, names that convert units, values beyond float32 --
    go through :func:`score_flows` on the DataFrame :meth:`FeatureSpec.frame` builds, which
    gives the same decisions and names every problem.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
    spec : FeatureSpec
        The model's input fields (see :meth:`FeatureSpec.from_model`).
    """

    def __init__(self, model, spec):
        self.model = model
        self.spec = spec
        preprocessing, self.classifier = split_model(model)
        self.classes = self.classifier.classes_
        self.splitter = _direct_splitter(preprocessing, self.classifier, spec)
        self.plans = {}  # profile -> FeatureSplitter._matrix_plan (None: DataFrame path)

    def _records(self, numeric, categorical, profile) -> list[dict]:
        columns = self._direct(numeric, categorical, profile)
        if columns is None:
            with warnings.catch_warnings():  # the missing features are in every decision
                warnings.simplefilter("ignore", MissingFeaturesWarning)
                flows = self.spec.frame(numeric, categorical, profile)
                columns = score_flows(self.model, flows).items()
        else:
            columns = columns.items()
        columns = {  # plain Python types
            name: values if isinstance(values, list) else values.tolist()
            for name, values in columns
        }
        return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]

    def _direct(self, numeric, categorical, profile):
        """:func:`decision_arrays` of the flows without a DataFrame, or None when they need
        the DataFrame path."""
        if self.splitter is None:
            return None
        if profile not in self.plans:
            probe = self.spec.frame(numeric[:0], categorical[:0], profile)
            try:
                self.plans[profile] = self.splitter._matrix_plan(probe)
            except ValueError:  # e.g. two names that rename to one: transform says so
                self.plans[profile] = None
        plan = self.plans[profile]
        if plan is None:
            return None
        values = self.splitter._transform_matrices(numeric, categorical, plan)
        if values is None or np.isinf(values).any():
            return None
        classifier = self.classifier
        check_categorical_codes(
            values, classifier.feature_groups_, classifier._feature_names(), fitting=False
        )
        output, _ = classifier._forward_validated(values, with_novelty=False)
        return decision_arrays(classifier, output)

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


def _direct_splitter(preprocessing, classifier, spec):
    """The splitter whose output the classifier reads directly, or None: only a fitted
    ``Pipeline(FeatureSplitter, MoEClassifier)`` whose classifier was fitted on the
    splitter's output columns, as they are named now."""
    if (
        preprocessing is None
        or len(preprocessing) != 1
        or type(preprocessing[0]) is not FeatureSplitter
        or type(classifier) is not MoEClassifier  # a subclass may score otherwise
        or not spec.named
    ):
        return None
    splitter = preprocessing[0]
    fitted = getattr(classifier, "feature_names_in_", None)
    if fitted is None or list(splitter.get_feature_names_out()) != list(fitted):
        return None
    return splitter
