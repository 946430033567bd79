"""Scoring windows with a fitted Moirai network: NLL, scores, predictions, explanations."""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import expit
from sklearn.utils.validation import check_is_fitted

from .._training import predict_batches, seeded, to_tensor
from ._checks import check_windows
from .calibration import normality_scores, window_mean
from .explanation import interval_explanation, nll_explanation
from .packing import Packer, forecast_quantiles, point_nll

__all__ = ["NLLScoringMixin"]

_SAMPLE_BUDGET = 2**22  # forecast-sample values held at once by explain(method="interval")


class NLLScoringMixin:
    """The inference half of :class:`~moeids.MoiraiNLLDetector`.

    Needs the fitted attributes ``module_``, ``device_``, ``seed_``, ``window_length_``,
    ``n_features_in_``, ``patch_size_`` and those of :func:`.calibration.calibrate`, and the
    parameters ``prediction_length``, ``batch_size``, ``confidence_level``,
    ``n_forecast_samples``.
    """

    def _packer(self):
        shape = (self.window_length_, self.n_features_in_)
        return Packer(*shape, self.prediction_length, self.patch_size_)

    def _checked(self, X):
        shape = (self.window_length_, self.n_features_in_)
        return check_windows(
            X, self.prediction_length, fitted_shape=shape, owner=type(self).__name__
        )

    def _point_values(self, X):
        packer = self._packer()
        with seeded(self.seed_, self.device_):
            nll, keep = predict_batches(
                lambda b: point_nll(self.module_, packer, b),
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
        return window_mean(*self._point_values(self._checked(X)))

    def score_samples(self, X):
        """Normality score (n_windows,): the higher, the more normal (see ``direction_``)."""
        nll = self.nll(X)
        scales = (self.center_, self.lower_scale_, self.upper_scale_)
        return normality_scores(nll, *scales, self.direction_)

    def decision_function(self, X):
        """``score_samples(X) - offset_`` (n_windows,); negative means anomalous."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for normal windows, -1 for anomalous (attack) windows, shape (n_windows,)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def predict_proba(self, X):
        """``[P(normal), P(attack)]`` (n_windows, 2): a logistic of the decision function.

        0.5 sits at the threshold and ``temperature_`` sets the slope; a monotone squashing
        of :meth:`decision_function`, not calibrated probabilities.
        """
        attack = expit(-self.decision_function(X) / self.temperature_)
        return np.column_stack([1.0 - attack, attack])

    def explain(self, X, method="nll"):
        """Per-feature and per-step view of why windows score as they do.

        Parameters
        ----------
        X : array-like of shape (n_windows, n_steps, n_features) or (n_windows, n_steps)
        method : {"nll", "interval"}, default="nll"
            ``"nll"``: a value is anomalous when its NLL lies beyond ``point_thresholds_``.
            ``"interval"``: when it lies outside the central ``confidence_level`` interval
            of ``n_forecast_samples`` forecast samples.

        Returns
        -------
        explanation : sklearn.utils.Bunch
            ``anomaly_rate`` (n_windows,): share of observed horizon values that are
            anomalous; ``feature_rate`` (n_windows, n_features): the same per feature;
            ``anomalous`` and ``observed`` (n_windows, prediction_length, n_features) bool.
            ``"nll"`` adds ``nll`` (n_windows,), ``point_nll`` (as ``anomalous``, 0 where
            unobserved) and ``feature_nll`` (n_windows, n_features), summing to ``nll``.
            ``"interval"`` adds ``lower``, ``median``, ``upper`` (as ``anomalous``).
        """
        check_is_fitted(self)
        if method not in ("nll", "interval"):
            raise ValueError(f"method must be 'nll' or 'interval', got {method!r}")
        X = self._checked(X)
        if method == "nll":
            return nll_explanation(*self._point_values(X), self.point_thresholds_)
        lower, median, upper, keep = self._intervals(X)
        return interval_explanation(lower, median, upper, keep, X[:, -self.prediction_length :])

    def _intervals(self, X):
        packer = self._packer()
        alpha = (1.0 - self.confidence_level) / 2.0
        q = torch.tensor([alpha, 0.5, 1.0 - alpha])
        per_window = self.n_forecast_samples * packer.prediction_mask.numel() * packer.P * 4
        batch = max(1, min(self.batch_size, _SAMPLE_BUDGET // per_window))
        with seeded(self.seed_, self.device_):
            lower, median, upper, keep = predict_batches(
                lambda x: forecast_quantiles(self.module_, packer, x, q, self.n_forecast_samples),
                [to_tensor(X)],
                batch_size=batch,
                device=self.device_,
            )
        return lower, median, upper, keep.astype(bool)
