"""Scores when feature columns are missing: random fractions or a named sensor's export."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import precision_score, recall_score
from sklearn.utils import check_random_state

from ._common import _f1, _f1_average, _labels, _require_frame

__all__ = ["SENSOR_PROFILES", "robustness_curve", "sensor_profile_scores"]

_DEFAULT_FRACTIONS = (1.0, 0.9, 0.8, 0.7, 0.5, 0.3)

#: CIC-IDS2017 canonical columns (corrected re-extraction names, see
#: :func:`moeids.datasets.load_cicids2017`) that a sensor's export provides, each mapped to the
#: export field(s) it is taken or computed from. ``list(SENSOR_PROFILES[name])`` is the column
#: set :func:`sensor_profile_scores` keeps.
#:
#: ``zeek_conn``
#:     A Zeek ``conn.log`` (one bidirectional record per connection). Payload byte counts
#:     (``orig_bytes``/``resp_bytes``) match CICFlowMeter's payload lengths. Zeek's
#:     ``history`` marks only the *presence* of flags, so flag counts are not in the profile.
#: ``netflow_v5``
#:     A NetFlow v5 export read strictly: one *unidirectional* record (the forward direction,
#:     no pairing of the two directions). ``dOctets`` counts layer-3 bytes (headers included)
#:     and ``tcp_flags`` is the OR of the flags seen, so the byte and flag columns are
#:     approximations (flag "counts" are 0/1).
#:
#: Units follow CICFlowMeter: durations in microseconds, rates per second.
# Field names checked against the sources cited in moeids/features/vocabulary.py: Zeek's
# scripts/base/protocols/conn/main.zeek (Conn::Info) and scripts/base/init-bare.zeek
# (conn_id), and nfdump's netflow_v5.h (netflow_v5_record, which spells first/last "First"/
# "Last"; tcp_flags holds the TCP header's flag bits, FIN 0x01 ... URG 0x20).
SENSOR_PROFILES = {
    "zeek_conn": {
        "Dst Port": "id.resp_p",
        "Protocol": "proto (tcp 6, udp 17, icmp 1)",
        "Flow Duration": "duration (s * 1e6)",
        "Total Fwd Packet": "orig_pkts",
        "Total Bwd packets": "resp_pkts",
        "Total Length of Fwd Packet": "orig_bytes",
        "Total Length of Bwd Packet": "resp_bytes",
        "Flow Bytes/s": "(orig_bytes + resp_bytes) / duration",
        "Flow Packets/s": "(orig_pkts + resp_pkts) / duration",
        "Fwd Packets/s": "orig_pkts / duration",
        "Bwd Packets/s": "resp_pkts / duration",
        "Fwd Packet Length Mean": "orig_bytes / orig_pkts",
        "Bwd Packet Length Mean": "resp_bytes / resp_pkts",
        "Fwd Segment Size Avg": "orig_bytes / orig_pkts",
        "Bwd Segment Size Avg": "resp_bytes / resp_pkts",
        "Average Packet Size": "(orig_bytes + resp_bytes) / (orig_pkts + resp_pkts)",
        "Down/Up Ratio": "resp_pkts / orig_pkts",
    },
    "netflow_v5": {
        "Dst Port": "dstport",
        "Protocol": "prot",
        "Flow Duration": "(last - first) (ms * 1e3)",
        "Total Fwd Packet": "dPkts",
        "Total Length of Fwd Packet": "dOctets (approximate: includes IP/TCP headers)",
        "Fwd Packets/s": "dPkts / (last - first)",
        "Fwd Packet Length Mean": "dOctets / dPkts (approximate: includes headers)",
        "FIN Flag Count": "tcp_flags & 0x01 (presence 0/1)",
        "SYN Flag Count": "tcp_flags & 0x02 (presence 0/1)",
        "RST Flag Count": "tcp_flags & 0x04 (presence 0/1)",
        "PSH Flag Count": "tcp_flags & 0x08 (presence 0/1)",
        "ACK Flag Count": "tcp_flags & 0x10 (presence 0/1)",
        "URG Flag Count": "tcp_flags & 0x20 (presence 0/1)",
    },
}


def _predict_quietly(model, X):
    """``model.predict(X)`` without the "columns absent" warning the removal causes."""
    from moeids.features.splitter import MissingFeaturesWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeaturesWarning)
        return np.asarray(model.predict(X))


def robustness_curve(
    model,
    X,
    y,
    fractions=_DEFAULT_FRACTIONS,
    n_draws=5,
    random_state=None,
    *,
    columns=None,
    average=None,
):
    """F1 when only a random fraction of the feature columns is available.

    For each fraction, ``n_draws`` random subsets of ``columns`` are kept and every other
    candidate column is *removed from the DataFrame* before ``model.predict``: the model
    sees a sensor that does not export those features (a
    :class:`~moeids.FeatureSplitter` marks them missing; a model that needs a fixed matrix
    must say itself how it fills them). With the same ``random_state`` and ``columns``
    every model sees the same subsets.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict`` accepting a DataFrame with fewer columns.
    X : DataFrame of shape (n_samples, n_features)
        Raw feature columns.
    y : array-like of shape (n_samples,)
        True labels.
    fractions : sequence of float
        Fractions in (0, 1] of ``columns`` to keep; the count kept is
        ``max(1, round(fraction * len(columns)))``. A fraction that keeps every column is
        evaluated once.
    n_draws : int
        Random column subsets per fraction.
    random_state : int, RandomState or None
        Seeds the subsets.
    columns : sequence of str, optional
        Candidate columns to remove (default: all of ``X``); the others are always kept.
    average : str, optional
        ``average`` of :func:`sklearn.metrics.f1_score`; default ``"binary"`` for 0/1
        labels, else ``"macro"``.

    Returns
    -------
    curve : DataFrame
        One row per fraction: ``fraction``, ``n_features`` (candidate columns kept),
        ``n_draws``, ``f1_mean``, ``f1_std`` (population), ``f1_min``, ``f1_max``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from moeids import FeatureSplitter
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> model = make_pipeline(FeatureSplitter(), DecisionTreeClassifier(random_state=0)).fit(X, y)
    >>> import warnings
    >>> from moeids.analysis import robustness_curve
    >>> from moeids.features import MissingFeaturesWarning
    >>> with warnings.catch_warnings():  # the splitter warns about each removed column
    ...     warnings.simplefilter("ignore", MissingFeaturesWarning)
    ...     curve = robustness_curve(model, X, y, fractions=(0.5, 1.0), n_draws=2, random_state=0)
    >>> curve[["fraction", "n_features", "n_draws"]].to_numpy().tolist()
    [[0.5, 42.0, 2.0], [1.0, 83.0, 1.0]]
    """
    _require_frame(X, "robustness_curve")
    y = _labels(y, "y", len(X))
    if not isinstance(n_draws, int | np.integer) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    candidates = list(X.columns) if columns is None else list(columns)
    unknown = [c for c in candidates if c not in X.columns]
    if unknown:
        raise ValueError(f"columns {unknown[:5]} are not columns of X")
    if not candidates:
        raise ValueError("columns is empty: nothing to remove")
    fractions = list(fractions)
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"fractions must lie in (0, 1], got {fraction!r}")
    average = average or _f1_average(y)
    rng = check_random_state(random_state)
    rows = []
    for fraction in fractions:
        n_keep = max(1, round(fraction * len(candidates)))
        draws = 1 if n_keep == len(candidates) else n_draws
        scores = []
        for _ in range(draws):
            keep = set(rng.choice(len(candidates), n_keep, replace=False).tolist())
            removed = [c for i, c in enumerate(candidates) if i not in keep]
            y_pred = _predict_quietly(model, X.drop(columns=removed))
            scores.append(_f1(y, y_pred, average))
        rows.append(
            {
                "fraction": float(fraction),
                "n_features": n_keep,
                "n_draws": draws,
                "f1_mean": float(np.mean(scores)),
                "f1_std": float(np.std(scores)),
                "f1_min": float(np.min(scores)),
                "f1_max": float(np.max(scores)),
            }
        )
    return pd.DataFrame(rows)


def sensor_profile_scores(model, X, y, profiles=None, *, average=None):
    """Scores when only the columns of a named sensor's export are available.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict`` accepting a DataFrame with fewer columns.
    X : DataFrame of shape (n_samples, n_features)
        Raw feature columns (CIC-IDS2017 canonical names for the default profiles).
    y : array-like of shape (n_samples,)
        True labels.
    profiles : mapping of str to iterable of str, optional
        Profile name -> the columns that sensor provides (default :data:`SENSOR_PROFILES`).
        Every other column of ``X`` is removed; profile columns absent from ``X`` are
        ignored, but a profile sharing no column with ``X`` raises ``ValueError``.
    average : str, optional
        As in :func:`robustness_curve`.

    Returns
    -------
    scores : DataFrame
        Index ``profile``: first ``"all columns"`` (nothing removed), then one row per
        profile; columns ``n_features``, ``f1``, ``precision``, ``recall``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from moeids import FeatureSplitter
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> model = make_pipeline(FeatureSplitter(), DecisionTreeClassifier(random_state=0)).fit(X, y)
    >>> import warnings
    >>> from moeids.analysis import sensor_profile_scores
    >>> from moeids.features import MissingFeaturesWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", MissingFeaturesWarning)
    ...     scores = sensor_profile_scores(model, X, y)
    >>> scores.index.tolist(), scores.columns.tolist()
    (['all columns', 'zeek_conn', 'netflow_v5'], ['n_features', 'f1', 'precision', 'recall'])
    """
    _require_frame(X, "sensor_profile_scores")
    y = _labels(y, "y", len(X))
    profiles = SENSOR_PROFILES if profiles is None else profiles
    if not isinstance(profiles, Mapping) or not profiles:
        raise TypeError("profiles must be a non-empty mapping of name -> columns")
    average = average or _f1_average(y)
    subsets = {"all columns": list(X.columns)}
    for name, profile in profiles.items():
        if isinstance(profile, str) or not isinstance(profile, Iterable):
            raise TypeError(f"profile {name!r} must be an iterable of column names")
        wanted = set(profile)
        kept = [c for c in X.columns if c in wanted]
        if not kept:
            raise ValueError(
                f"profile {name!r} shares no column with X (e.g. {sorted(wanted)[:3]} are "
                f"absent; X has {list(X.columns)[:3]}...)"
            )
        subsets[name] = kept
    rows = {}
    for name, kept in subsets.items():
        y_pred = _predict_quietly(model, X[kept])
        rows[name] = {
            "n_features": len(kept),
            "f1": _f1(y, y_pred, average),
            "precision": precision_score(y, y_pred, average=average, zero_division=0),
            "recall": recall_score(y, y_pred, average=average, zero_division=0),
        }
    scores = pd.DataFrame.from_dict(rows, orient="index")
    scores.index.name = "profile"
    return scores
