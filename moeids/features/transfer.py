"""Transfer training: hide the features other extractors lack or compute differently.

:class:`ExtractorDropout` sits after :class:`~moeids.features.FeatureSplitter` in a Pipeline.
In ``fit_transform`` (what ``Pipeline.fit`` calls on a transformer) it sets, in a random share
of the training rows, the features that the named extractor profiles mark as ``variants`` or
``unavailable`` to missing (NaN), so that the model learns to decide without them; in
``transform`` (what ``predict`` calls) it passes its input through unchanged.

:func:`add_benign_flows` adapts a training set to a deployment: it appends flows of the
deployment's own extractor, believed benign, as benign training rows, in the training set's
canonical columns and with the features that extractor computes differently missing.
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .canonical import _resolve, mismatched_features, to_canonical
from .names import clean_header, input_name
from .vocabulary import PROFILES

__all__ = ["ExtractorDropout", "add_benign_flows", "unstable_features"]


def add_benign_flows(X, y, benign_flows, *, profile="auto", benign_label=0):
    """Append a deployment's own benign flows to a training set (adaptation).

    ``benign_flows`` (flows the user believes to be, mostly, benign, from any known
    extractor) are renamed and converted to canonical names (:func:`to_canonical`), the
    features that their extractor computes differently from the training set's are set
    missing (what ``FeatureSplitter(handle_variant="missing")`` feeds the model for them at
    scoring time), as are the training columns they lack, and they are appended to ``X``
    with the label ``benign_label``. Fit the pipeline on the result as usual.

    Parameters
    ----------
    X : DataFrame of shape (n_samples, n_features)
        Training flows in canonical form: names and units of the reference extractor
        (``cicflowmeter-4``, as the dataset loaders return CIC-IDS2017), or of no profile.
    y : array-like of shape (n_samples,)
        Labels of ``X``.
    benign_flows : DataFrame of shape (n_benign, n_columns)
        The deployment's flows (no label column).
    profile : "auto", str or None, default="auto"
        Extractor profile of ``benign_flows``, as for :func:`to_canonical`.
    benign_label : label, default=0
        Label of the appended rows (the benign class of ``y``).

    Returns
    -------
    X_adapted : DataFrame of shape (n_samples + n_benign, n_features)
        ``X``'s columns, then the benign flows (new RangeIndex); ``attrs`` of ``X``.
    y_adapted : Series of shape (n_samples + n_benign,)

    Warns
    -----
    UserWarning
        Naming the columns of ``benign_flows`` that ``X`` does not have (left out).

    Examples
    --------
    Ten rows of the bundled sample stand in for a sensor's own benign flows here:

    >>> from moeids.datasets import load_sample
    >>> from moeids.features import add_benign_flows
    >>> flows = load_sample()
    >>> X, y = flows.data.iloc[:100], flows.target.iloc[:100]
    >>> X_adapted, y_adapted = add_benign_flows(X, y, flows.data.iloc[100:110])
    >>> X_adapted.shape, y_adapted.iloc[100:].tolist() == [0] * 10
    ((110, 83), True)
    """
    for name, frame in (("X", X), ("benign_flows", benign_flows)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}.")
    if len(benign_flows) == 0:
        raise ValueError("benign_flows is empty.")
    y = pd.Series(np.asarray(y))
    if len(y) != len(X):
        raise ValueError(f"y has {len(y)} labels for the {len(X)} rows of X.")
    if benign_label not in set(y.tolist()):
        raise ValueError(f"benign_label {benign_label!r} is not a label of y.")
    fitted = _resolve(X, "auto")
    _, report = to_canonical(X, fitted)
    if report.renamed or report.converted or report.replaced:
        raise ValueError(
            f"X is in the names or units of extractor profile {fitted!r}, not canonical: "
            "convert it with moeids.features.to_canonical first."
        )
    attrs = dict(X.attrs)
    X = X.set_axis([clean_header(c) for c in X.columns], axis=1)
    benign, report = to_canonical(benign_flows, profile)
    extra = [c for c in benign.columns if c not in X.columns]
    if extra:
        warnings.warn(
            f"{len(extra)} column(s) of benign_flows are not in X and are left out: {extra}.",
            UserWarning,
            stacklevel=2,
        )
    benign = benign.reindex(columns=X.columns)
    variants = mismatched_features(fitted, report.profile, benign.columns)
    benign[list(variants)] = np.nan
    out = pd.concat([X, benign], ignore_index=True)
    out.attrs = attrs
    labels = pd.Series([benign_label] * len(benign), dtype=y.dtype)
    return out, pd.concat([y, labels], ignore_index=True)


def unstable_features(profiles):
    """Canonical features that any of ``profiles`` lacks or computes differently.

    Parameters
    ----------
    profiles : iterable of str
        Keys of :data:`~moeids.features.vocabulary.PROFILES`.

    Returns
    -------
    features : tuple of str
        Sorted canonical names (the profiles' ``variants`` and ``unavailable``).

    Examples
    --------
    >>> from moeids.features import unstable_features
    >>> features = unstable_features(["nfstream"])
    >>> len(features), features[:2]
    (52, ('Active Max', 'Active Mean'))
    """
    out = set()
    for name in profiles:
        if name not in PROFILES:
            raise ValueError(f"Unknown feature profile {name!r}; known: {sorted(PROFILES)}.")
        out |= set(PROFILES[name].variants) | set(PROFILES[name].unavailable)
    return tuple(sorted(out))


class ExtractorDropout(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Set extractor-dependent features missing in random training rows (fit only).

    Parameters
    ----------
    profiles : list or tuple of str, default=("cicflowmeter-2017",)
        Extractor profiles the model should transfer to; their ``variants`` and
        ``unavailable`` features (:func:`unstable_features`) are hidden.
    p : float in [0, 1], default=0.5
        Probability that a training row has all those features hidden.
    random_state : int, RandomState instance or None, default=None
        Seed of the row draw.

    Attributes
    ----------
    masked_features_ : list of str
        Input columns hidden in ``fit_transform`` (output names ``group__column`` of the
        splitter whose column is unstable; empty when ``X`` has no column names).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only set when ``X`` has string column names.

    Notes
    -----
    ``fit(X).transform(X)`` returns ``X`` unchanged; only ``fit_transform`` masks. Use it
    with ``FeatureSplitter(missing="mask")`` (the default), so that NaN means missing.

    Examples
    --------
    Hide, in every training row (``p=1.0``), the features NFStream computes differently:

    >>> from moeids import FeatureSplitter
    >>> from moeids.datasets import load_sample
    >>> from moeids.features import ExtractorDropout
    >>> Z = FeatureSplitter().fit_transform(load_sample().data.iloc[:200])
    >>> dropout = ExtractorDropout(["nfstream"], p=1.0, random_state=0)
    >>> Zt = dropout.fit_transform(Z)
    >>> len(dropout.masked_features_), bool(Zt[dropout.masked_features_].isna().all().all())
    (52, True)
    """

    _parameter_constraints = {
        "profiles": [list, tuple],
        "p": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(self, profiles=("cicflowmeter-2017",), *, p=0.5, random_state=None):
        self.profiles = profiles
        self.p = p
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Find the columns to hide.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)
            A FeatureSplitter's output (``group__column`` names).
        y : None
            Ignored.

        Returns
        -------
        self : ExtractorDropout

        Examples
        --------
        >>> from moeids import FeatureSplitter
        >>> from moeids.datasets import load_sample
        >>> from moeids.features import ExtractorDropout
        >>> Z = FeatureSplitter().fit_transform(load_sample().data.iloc[:200])
        >>> ExtractorDropout(["nfstream"]).fit(Z).masked_features_[0]
        'tabular__Total Length of Fwd Packet'
        """
        validate_data(self, X, ensure_all_finite="allow-nan")
        unstable = set(unstable_features(self.profiles))
        names = getattr(self, "feature_names_in_", ())
        self.masked_features_ = [n for n in names if input_name(n) in unstable]
        return self

    def fit_transform(self, X, y=None):
        """Fit, then return ``X`` with the unstable columns NaN in a share ``p`` of rows.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        Xt : DataFrame or ndarray of shape (n_samples, n_features), float
            Same type, columns and index as ``X``.

        Examples
        --------
        >>> from moeids import FeatureSplitter
        >>> from moeids.datasets import load_sample
        >>> from moeids.features import ExtractorDropout
        >>> Z = FeatureSplitter().fit_transform(load_sample().data.iloc[:200])
        >>> Zt = ExtractorDropout(["nfstream"], p=0.5, random_state=0).fit_transform(Z)
        >>> Zt.shape, 0 < int(Zt["tabular__Total Length of Fwd Packet"].isna().sum()) < 200
        ((200, 83), True)
        """
        self.fit(X)
        out = self.transform(X).copy()
        if not self.masked_features_:
            return out
        rows = check_random_state(self.random_state).random_sample(len(out)) < self.p
        out.loc[rows, self.masked_features_] = np.nan
        return out

    def transform(self, X):
        """Return ``X`` unchanged (validated): masking is for training rows only.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        Xt : DataFrame or ndarray of shape (n_samples, n_features)

        Examples
        --------
        >>> from moeids import FeatureSplitter
        >>> from moeids.datasets import load_sample
        >>> from moeids.features import ExtractorDropout
        >>> Z = FeatureSplitter().fit_transform(load_sample().data.iloc[:200])
        >>> dropout = ExtractorDropout(["nfstream"], p=1.0).fit(Z)
        >>> int(dropout.transform(Z).isna().sum().sum()) == int(Z.isna().sum().sum())
        True
        """
        check_is_fitted(self)
        array = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return X if isinstance(X, pd.DataFrame) else array
