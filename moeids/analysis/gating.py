"""Gate weights per sample and per attack type (:func:`gating_report`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import _final_step, _labels

__all__ = ["expert_agreement", "gating_report", "gating_weights"]


def gating_weights(model, X):
    """Per-sample expert weights of a fitted mixture-of-experts model.

    Parameters
    ----------
    model : MoEClassifier or Pipeline
        A fitted estimator with ``predict_gating``, or a fitted Pipeline whose last step
        has it (the steps before it transform ``X`` first; Pipeline does not forward
        ``predict_gating`` itself).
    X : array-like of shape (n_samples, n_features)
        Input of ``model``.

    Returns
    -------
    weights : DataFrame of shape (n_samples, n_experts)
        One float column per expert (e.g. ``tabular``, ``temporal``); rows sum to 1 over
        the experts with any input present. The index is ``X``'s when ``X`` is a DataFrame.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y, kind = flows.data.iloc[::10], flows.target.iloc[::10], flows.attack_type.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.analysis import gating_weights
    >>> weights = gating_weights(model, X.iloc[:3])
    >>> weights.shape, weights.columns.tolist()
    ((3, 2), ['tabular', 'temporal'])
    """
    final, Xt = _final_step(model, X)
    if not hasattr(final, "predict_gating"):
        raise TypeError(
            f"{type(final).__name__} has no predict_gating; gating needs a MoEClassifier "
            "(or a Pipeline ending in one)"
        )
    gates = final.predict_gating(Xt)
    weights = gates.select_dtypes("number").astype(float)
    if weights.shape[1] == 0:
        raise ValueError(f"predict_gating returned no numeric column: {list(gates.columns)}")
    weights.index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(weights))
    return weights


def _gating_frame(model, X, attack_type, y):
    """Weights, attack types, predictions and (when known) per-sample correctness."""
    weights = gating_weights(model, X)
    n_samples = len(weights)
    attack = _labels(attack_type, "attack_type", n_samples).astype(str)
    frame = weights.reset_index(drop=True)
    frame["attack_type"] = attack
    y_pred = np.asarray(model.predict(X))
    frame["predicted"] = y_pred
    truth = _truth(model, attack, y, n_samples)
    if truth is not None:
        frame["correct"] = y_pred == truth
    return frame, list(weights.columns)


def _truth(model, attack, y, n_samples):
    """The true labels: ``y``, else ``attack`` when it is the model's label space, else None."""
    if y is not None:
        return _labels(y, "y", n_samples)
    if set(attack) <= {str(c) for c in model.classes_}:
        return attack
    return None


def _same(predicted, truth):
    """``predicted == truth`` as floats, NaN where ``predicted`` is None (no input)."""
    agree = np.asarray(predicted == truth, dtype=float)
    agree[pd.isna(predicted)] = np.nan
    return agree


def expert_agreement(model, X, attack_type, y=None):
    """What each expert alone predicts for every flow, beside the mixture.

    Parameters
    ----------
    model : MoEClassifier or Pipeline ending in one
        Fitted.
    X : array-like of shape (n_samples, n_features)
        Input of ``model``.
    attack_type : array-like of shape (n_samples,)
    y : array-like of shape (n_samples,), optional
        True labels, as in :func:`gating_report`.

    Returns
    -------
    frame : DataFrame with n_samples rows
        ``attack_type``; ``<expert>_alone`` (the label predicted with the gate forced to
        weight 1 on that expert, by :func:`moeids.moe.gating.forced_expert_proba`; None
        where the expert has no input); ``keep_dominant`` / ``keep_other`` (1.0 when
        forcing the flow's highest-weight expert / the other expert keeps the mixture's
        argmax label, NaN where that expert has no input) and, when the truth is known,
        ``<expert>_alone_correct`` and ``correct``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y, kind = flows.data.iloc[::10], flows.target.iloc[::10], flows.attack_type.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.analysis import expert_agreement
    >>> agreement = expert_agreement(model, X.iloc[:20], kind.iloc[:20], y.iloc[:20])
    >>> agreement.shape, agreement.columns[:3].tolist()
    ((20, 8), ['attack_type', 'tabular_alone', 'temporal_alone'])
    """
    from ..moe.gating import forced_expert_proba

    final, Xt = _final_step(model, X)
    gates = gating_weights(model, X)
    weights, experts = gates.to_numpy(), list(gates.columns)
    n_samples = len(weights)
    attack = _labels(attack_type, "attack_type", n_samples).astype(str)
    forced = forced_expert_proba(final, Xt)
    classes = np.asarray(final.classes_, dtype=object)
    alone = np.where(np.isnan(forced[:, :, 0]), None, classes[np.nan_to_num(forced).argmax(2)])
    mixture = classes[final.forward(Xt).proba.argmax(1)]
    ranked = np.argsort(-weights, axis=1, kind="stable")
    rows = np.arange(n_samples)
    frame = pd.DataFrame({"attack_type": attack})
    for k, expert in enumerate(experts):
        frame[f"{expert}_alone"] = alone[:, k]
    frame["keep_dominant"] = _same(alone[rows, ranked[:, 0]], mixture)
    frame["keep_other"] = _same(alone[rows, ranked[:, 1]], mixture)
    truth = _truth(final, attack, y, n_samples)
    if truth is not None:
        for k, expert in enumerate(experts):
            frame[f"{expert}_alone_correct"] = _same(alone[:, k], truth)
        frame["correct"] = np.asarray(model.predict(X)) == truth
    return frame


def gating_report(model, X, attack_type, y=None, *, min_lead=0.2):
    """Gate weights, single-expert accuracy and gate faithfulness per attack type.

    Parameters
    ----------
    model : MoEClassifier or Pipeline
        Fitted; see :func:`gating_weights`.
    X : array-like of shape (n_samples, n_features)
        Input of ``model``.
    attack_type : array-like of shape (n_samples,)
        Attack type (or ``"Benign"``) of each sample, e.g. a loader's ``attack_type``.
    y : array-like of shape (n_samples,), optional
        True labels in the model's label space (e.g. a loader's 0/1 ``target``). Without it,
        accuracy is computed against ``attack_type`` when the model was trained on attack
        types (its ``classes_`` contain them all), and is left out otherwise.
    min_lead : float, default=0.2
        Smallest lead of the mean weight of one expert over the next that is reported as
        a ``dominant`` expert (0.2: 0.6 against 0.4 for two experts).

    Returns
    -------
    report : DataFrame
        One row per attack type (index ``attack_type``), most frequent first: ``count``,
        ``<expert>_mean`` and ``<expert>_std`` (population std) for each expert;
        ``lead`` (mean over the flows of the weight of the expert with the largest mean
        weight minus the next one) and ``lead_ci95`` (half-width of its normal 95 %
        confidence interval); ``dominant``: that expert when ``lead >= min_lead`` and
        ``lead - lead_ci95 > 0``, else ``"none"`` (the gate does not prefer an expert).
        For a MoEClassifier also ``keep_dominant`` / ``keep_other``: the share of flows
        whose label stays the same when only their own highest-weight expert / only the
        other expert is used (gate faithfulness; see :func:`expert_agreement`). When
        the truth is known: ``accuracy`` (the detection rate of an attack type for a
        binary model) and ``<expert>_alone_accuracy`` (the same with the gate forced to
        that expert, argmax label).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y, kind = flows.data.iloc[::10], flows.target.iloc[::10], flows.attack_type.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.analysis import gating_report
    >>> report = gating_report(model, X, kind, y)
    >>> report.index[0], int(report.loc["Benign", "count"]), len(report)
    ('Benign', 47, 15)
    >>> report.columns[:4].tolist()
    ['count', 'tabular_mean', 'tabular_std', 'temporal_mean']
    """
    frame, experts = _gating_frame(model, X, attack_type, y)
    grouped = frame.groupby("attack_type", sort=False)
    report = pd.DataFrame({"count": grouped.size()})
    for expert in experts:
        report[f"{expert}_mean"] = grouped[expert].mean()
        report[f"{expert}_std"] = grouped[expert].std(ddof=0)
    _add_lead(report, frame, experts, min_lead)
    if "correct" in frame:
        report["accuracy"] = grouped["correct"].mean()
    final, _ = _final_step(model, X)
    if hasattr(final, "module_") and len(experts) >= 2:
        agreement = expert_agreement(model, X, attack_type, y).groupby("attack_type")
        for column in ["keep_dominant", "keep_other"] + [
            f"{e}_alone_correct" for e in experts if "correct" in frame
        ]:
            report[column.replace("_correct", "_accuracy")] = agreement[column].mean()
    report = report.sort_values("count", ascending=False, kind="stable")
    report.index.name = "attack_type"
    return report


def _add_lead(report, frame, experts, min_lead):
    """``lead``, ``lead_ci95`` and ``dominant`` columns of :func:`gating_report`."""
    means = report[[f"{e}_mean" for e in experts]].to_numpy()
    order = np.argsort(-means, axis=1, kind="stable")
    leads, half_widths = [], []
    for i, attack in enumerate(report.index):
        rows = frame.loc[frame["attack_type"] == attack, experts].to_numpy()
        gap = rows[:, order[i, 0]] - (rows[:, order[i, 1]] if len(experts) > 1 else 0.0)
        leads.append(gap.mean())
        half_widths.append(1.96 * gap.std(ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else np.inf)
    report["lead"] = leads
    report["lead_ci95"] = half_widths
    meaningful = (report["lead"] >= min_lead) & (report["lead"] - report["lead_ci95"] > 0)
    report["dominant"] = np.where(meaningful, np.asarray(experts)[order[:, 0]], "none")
