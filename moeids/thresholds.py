"""Thresholds and drift on the deployment's own traffic (no labels needed there).

:func:`fit_threshold` moves a fitted binary detector's decision threshold so that it flags at
most a chosen share of flows that the user believes to be benign, and wraps it in scikit-learn's
:class:`~sklearn.model_selection.FixedThresholdClassifier`. :func:`drift_report` ranks the
features whose distribution (or share of missing values) moved between the training flows and
new flows; :func:`plot_drift` draws its top lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from scipy.special import expit
from scipy.stats import beta, ks_2samp
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.utils import Bunch

from .features.groups import EXCLUDED, assign_group

__all__ = ["drift_report", "fit_threshold", "plot_drift"]

#: |logit margin| above which predict_proba is within 1e-4 of 0 or 1.
_SATURATED = float(np.log((1 - 1e-4) / 1e-4))


def _benign_scores(model, flows, response_method):
    classes = getattr(model, "classes_", None)
    if classes is None or len(classes) != 2:
        raise ValueError(f"fit_threshold needs a fitted binary classifier; classes_={classes!r}")
    if response_method == "auto":
        response_method = (
            "decision_function" if hasattr(model, "decision_function") else "predict_proba"
        )
    if response_method == "decision_function":
        scores = np.asarray(model.decision_function(flows), dtype=np.float64)
    elif response_method == "predict_proba":
        scores = np.asarray(model.predict_proba(flows), dtype=np.float64)[:, 1]
    else:
        raise ValueError(
            "response_method must be 'auto', 'decision_function' or 'predict_proba', "
            f"got {response_method!r}"
        )
    if scores.ndim != 1 or not np.isfinite(scores).all():
        raise ValueError(f"the model's {response_method} gave non-finite or multi-column scores")
    return scores, response_method


def _threshold_at(scores, max_fpr):
    """Midpoint between the highest score that must pass and the next higher one."""
    ordered = np.sort(scores)[::-1]
    allowed = int(np.floor(max_fpr * len(scores) + 1e-9))  # flows that may be flagged
    if allowed >= len(scores):
        return float(ordered[-1])
    kept = ordered[allowed]  # the highest score that must stay below the threshold
    above = ordered[ordered > kept]
    return float((kept + above[-1]) / 2 if above.size else np.nextafter(kept, np.inf))


def fit_threshold(model, benign_flows, max_fpr=0.01, *, response_method="auto"):
    """Wrap a fitted binary detector at the threshold that meets a false-positive rate.

    The threshold is set on the logit margin (``decision_function``) when the model has one:
    probabilities of a trained detector sit within 1e-4 of 0 or 1 for most flows and tie
    there, margins do not. It lies midway between the highest benign score that must pass and
    the next higher one.

    Parameters
    ----------
    model : fitted binary classifier
        Usually ``make_pipeline(FeatureSplitter(), MoEClassifier())``; ``classes_[1]`` is the
        attack class.
    benign_flows : DataFrame of shape (n_flows, n_columns)
        Raw flows from the deployment believed to be (mostly) benign.
    max_fpr : float in (0, 1), default=0.01
        Largest share of ``benign_flows`` that the returned classifier may flag.
    response_method : {"auto", "decision_function", "predict_proba"}, default="auto"
        Score thresholded; ``"auto"`` takes ``decision_function`` when available.

    Returns
    -------
    classifier : sklearn.model_selection.FixedThresholdClassifier
        Around ``model`` itself (not refitted: ``predict`` and ``predict_proba`` work on raw
        flows at once; it pickles like ``model``). ``classifier.threshold_report_`` is a Bunch:
        ``threshold`` (on the score), ``probability_threshold`` (the attack probability it
        equals), ``response_method``, ``max_fpr``, ``n_flows``, ``n_flagged``,
        ``expected_fpr`` (share of ``benign_flows`` flagged), ``fpr_upper_95`` (one-sided 95 %
        Clopper-Pearson bound of the FPR on more flows like these) and ``saturated`` (share of
        flows whose probability is within 1e-4 of 0 or 1; NaN for ``predict_proba``).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> from moeids.thresholds import fit_threshold
    >>> benign = flows.data[flows.target == 0]
    >>> detector = fit_threshold(model, benign, max_fpr=0.05)
    >>> report = detector.threshold_report_
    >>> report.n_flows, report.response_method, report.expected_fpr <= 0.05
    (450, 'decision_function', True)
    >>> detector.predict(X.iloc[:4]).shape
    (4,)
    """
    if not (isinstance(max_fpr, float | int) and 0 < max_fpr < 1):
        raise ValueError(f"max_fpr must be a number in (0, 1), got {max_fpr!r}")
    if len(benign_flows) == 0:
        raise ValueError("benign_flows is empty: a threshold needs flows to fit on")
    scores, method = _benign_scores(model, benign_flows, response_method)
    threshold = _threshold_at(scores, max_fpr)
    flagged = int((scores >= threshold).sum())
    n = len(scores)
    margins = method == "decision_function"
    classifier = FixedThresholdClassifier(model, threshold=threshold, response_method=method)
    classifier.threshold_report_ = Bunch(
        threshold=threshold,
        probability_threshold=float(expit(threshold)) if margins else threshold,
        response_method=method,
        max_fpr=float(max_fpr),
        n_flows=n,
        n_flagged=flagged,
        expected_fpr=flagged / n,
        fpr_upper_95=float(beta.ppf(0.95, flagged + 1, n - flagged)) if flagged < n else 1.0,
        saturated=float((np.abs(scores) > _SATURATED).mean()) if margins else float("nan"),
    )
    return classifier


# ---------------------------------------------------------------------------------- drift
def _compared_columns(reference, new):
    columns = list(reference.columns) + [c for c in new.columns if c not in reference.columns]
    kept = []
    for name in columns:
        group, _ = assign_group(str(name).strip(), is_text=lambda: False, is_datetime=False)
        if group != EXCLUDED:
            kept.append(name)
    return kept


def _values(frame, name):
    """(numeric float64 or object values with NaN for missing, is_numeric) of one column."""
    if name not in frame.columns:
        return np.full(len(frame), np.nan), True
    col = frame[name]
    if is_bool_dtype(col.dtype) or is_numeric_dtype(col.dtype):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        parsed = pd.to_numeric(col, errors="coerce")
        if (parsed.isna() & col.notna()).any():  # a value that is no number: a text column
            text = col.astype(object).where(col.notna(), np.nan).to_numpy()
            return text, False
        values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan), True


def _psi(ref_counts, new_counts):
    eps = 1e-4
    p = np.maximum(ref_counts / max(ref_counts.sum(), 1), eps)
    q = np.maximum(new_counts / max(new_counts.sum(), 1), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def _numeric_shift(ref, new, bins):
    if ref.size == 0 or new.size == 0:
        return np.nan, np.nan
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=edges.size + 1)
    new_counts = np.bincount(np.searchsorted(edges, new, side="left"), minlength=edges.size + 1)
    return float(ks_2samp(ref, new).statistic), _psi(ref_counts, new_counts)


def _text_shift(ref, new):
    if ref.size == 0 or new.size == 0:
        return np.nan, np.nan
    categories = pd.Index(pd.unique(np.concatenate([ref, new]).astype(str)))
    ref_counts = np.bincount(categories.get_indexer(ref.astype(str)), minlength=len(categories))
    new_counts = np.bincount(categories.get_indexer(new.astype(str)), minlength=len(categories))
    return np.nan, _psi(ref_counts, new_counts)


def drift_report(reference_flows, new_flows, *, bins=10) -> pd.DataFrame:
    """Per-feature shift between the training flows and new flows, largest first.

    Identifier and label columns (by the rules of ``moeids.features.groups``) are left out;
    +/-inf counts as missing, as in ``FeatureSplitter``.

    Parameters
    ----------
    reference_flows, new_flows : DataFrame
        Raw flows, e.g. the training flows and flows from the deployment.
    bins : int, default=10
        Quantile bins of the reference values for the PSI.

    Returns
    -------
    report : DataFrame of shape (n_features, 7), indexed by feature name
        ``ks`` (two-sample Kolmogorov-Smirnov statistic of the present values; NaN for text
        columns), ``psi`` (population stability index over the bins or categories),
        ``missing_reference`` and ``missing_new`` (share missing or absent),
        ``missing_change`` (new minus reference), ``shift`` (the larger of ``ks`` and
        ``|missing_change|``, the sort key) and ``kind`` (numeric or text).

    Examples
    --------
    >>> import pandas as pd
    >>> reference = pd.DataFrame({"Flow Duration": range(100), "Protocol": [6] * 100})
    >>> new = pd.DataFrame({"Flow Duration": range(50, 150)})
    >>> drift_report(reference, new).index.tolist()
    ['Protocol', 'Flow Duration']
    """
    for name, frame in (("reference_flows", reference_flows), ("new_flows", new_flows)):
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise ValueError(f"{name} must be a non-empty DataFrame")
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an int >= 2, got {bins!r}")
    rows = {}
    for name in _compared_columns(reference_flows, new_flows):
        ref, ref_numeric = _values(reference_flows, name)
        new, new_numeric = _values(new_flows, name)
        ref_missing, new_missing = pd.isna(ref), pd.isna(new)
        numeric = ref_numeric and new_numeric
        present = (ref[~ref_missing], new[~new_missing])
        ks, psi = _numeric_shift(*present, bins) if numeric else _text_shift(*present)
        change = float(new_missing.mean() - ref_missing.mean())
        kind = "numeric" if numeric else "text"
        rows[name] = (ks, psi, float(ref_missing.mean()), float(new_missing.mean()), change, kind)
    columns = ["ks", "psi", "missing_reference", "missing_new", "missing_change", "kind"]
    report = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    report.insert(5, "shift", np.fmax(report["ks"], report["missing_change"].abs()))
    report.index.name = "feature"
    return report.sort_values("shift", ascending=False, kind="stable")


def plot_drift(report, *, top=15, ax=None):
    """Horizontal bars of the ``top`` features of a :func:`drift_report`.

    Parameters
    ----------
    report : DataFrame
        Output of :func:`drift_report`.
    top : int, default=15
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from moeids.thresholds import drift_report, plot_drift
    >>> reference = pd.DataFrame({"Flow Duration": range(100), "Protocol": [6] * 100})
    >>> new = pd.DataFrame({"Flow Duration": range(50, 150)})
    >>> ax = plot_drift(drift_report(reference, new))
    >>> [label.get_text() for label in ax.get_yticklabels()]
    ['Flow Duration', 'Protocol']
    >>> plt.close(ax.figure)
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plot_drift needs matplotlib: pip install 'moeids[plot]'") from exc
    shown = report.head(top).iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.2))
    positions = np.arange(len(shown))
    ax.barh(positions + 0.2, shown["ks"].fillna(0), height=0.4, label="KS statistic")
    ax.barh(positions - 0.2, shown["missing_change"], height=0.4, label="change in share missing")
    ax.set_yticks(positions, [str(i) for i in shown.index])
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_xlabel("shift (reference -> new)")
    ax.legend(loc="lower right")
    return ax
