"""Apply the feature vocabulary: detect a frame's extractor and rename it to canonical names.

The tables live in :mod:`moeids.features.vocabulary`; this module only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from .names import clean_header
from .vocabulary import CANONICAL_IDENTIFIERS, PROFILES, Profile

__all__ = [
    "CanonicalReport",
    "detect_profile",
    "get_profile",
    "mismatched_features",
    "to_canonical",
]

#: Key of ``DataFrame.attrs`` naming the extractor profile of a frame (set by the loaders).
PROFILE_ATTR = "moeids_feature_profile"

#: Share of a profile's feature names a frame must hold for the profile to be detected.
MIN_SHARE = 0.5


@dataclass(frozen=True)
class CanonicalReport:
    """What :func:`to_canonical` did to a frame.

    Attributes
    ----------
    profile : str or None
        Profile applied (``None``: none detected, the frame was left as it was).
    renamed : dict of str -> str
        Column name -> canonical name, for the columns whose name changed.
    converted : dict of str -> float
        Canonical name -> unit factor applied.
    replaced : dict of str -> dict
        Canonical name -> value conventions applied ({extractor value: canonical value}).
    unavailable : tuple of str
        Canonical features the extractor does not produce.
    variants : dict of str -> str
        Canonical features present that the extractor computes differently from the
        reference, and how.

    Examples
    --------
    >>> from moeids.datasets import load_sample
    >>> from moeids.features import to_canonical
    >>> _, report = to_canonical(load_sample().data)
    >>> report.profile, report.renamed
    ('cicflowmeter-4', {})
    """

    profile: str | None
    renamed: dict = field(default_factory=dict)
    converted: dict = field(default_factory=dict)
    replaced: dict = field(default_factory=dict)
    unavailable: tuple = ()
    variants: dict = field(default_factory=dict)


def get_profile(name) -> Profile:
    """The :class:`~moeids.features.vocabulary.Profile` called ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`~moeids.features.vocabulary.PROFILES`.

    Returns
    -------
    profile : Profile

    Examples
    --------
    >>> from moeids.features import get_profile
    >>> profile = get_profile("nfstream")
    >>> profile.names["src_ip"], profile.unavailable[:2]
    ('Src IP', ('Flow Bytes/s', 'Flow Packets/s'))
    """
    if name not in PROFILES:
        raise ValueError(f"Unknown feature profile {name!r}; known: {sorted(PROFILES)}.")
    return PROFILES[name]


def detect_profile(columns) -> str | None:
    """Name of the extractor profile whose feature names best cover ``columns``.

    A profile is a candidate when at least half of its feature names (identifiers not
    counted) are among ``columns`` (surrounding whitespace ignored); the candidate with the
    largest share wins, ties going to the earlier profile in ``PROFILES``.

    Parameters
    ----------
    columns : iterable of str
        Column names of a flow table.

    Returns
    -------
    name : str or None
        A key of ``PROFILES``, or ``None`` when no profile matches.

    Examples
    --------
    >>> from moeids.datasets import load_sample
    >>> detect_profile(load_sample().data.columns)
    'cicflowmeter-4'
    >>> detect_profile(["a", "b"]) is None
    True
    """
    present = {clean_header(c) for c in columns}
    best, best_share = None, MIN_SHARE
    for name, features in _profile_features().items():
        share = sum(k in present for k in features) / len(features)
        if share > best_share or (share == best_share and best is None):
            best, best_share = name, share
    return best


@cache
def _profile_features() -> dict:
    """Profile name -> the names it gives features (identifiers left out)."""
    return {
        name: [k for k, v in profile.names.items() if v not in CANONICAL_IDENTIFIERS]
        for name, profile in PROFILES.items()
    }


def _resolve(frame, profile):
    if profile == "auto":
        if frame.attrs.get(PROFILE_ATTR) in PROFILES:
            return frame.attrs[PROFILE_ATTR]
        return detect_profile(frame.columns)
    if profile is None:
        return None
    return get_profile(profile).name


def to_canonical(frame, profile="auto"):
    """Rename a flow table to canonical names and convert units and value conventions.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
        Flow table as an extractor wrote it (header whitespace is stripped).
    profile : "auto", str or None, default="auto"
        ``"auto"``: the profile named in ``frame.attrs["moeids_feature_profile"]`` (the
        dataset loaders set it), else :func:`detect_profile`; a key of ``PROFILES``; ``None``
        leaves names and values as they are.

    Returns
    -------
    canonical : DataFrame of shape (n_rows, n_columns)
        Same rows and columns in the same order; canonical names; converted values.
        Columns the profile does not know keep their (stripped) name and values.
    report : CanonicalReport

    Examples
    --------
    The bundled sample is already in canonical names (CICFlowMeter 4 writes them):

    >>> from moeids.datasets import load_sample
    >>> from moeids.features import to_canonical
    >>> canonical, report = to_canonical(load_sample().data.iloc[:100])
    >>> canonical.shape, report.profile, report.renamed
    ((100, 83), 'cicflowmeter-4', {})
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}.")
    stripped = [clean_header(c) for c in frame.columns]
    name = _resolve(frame, profile)
    if name is None:
        return frame.set_axis(stripped, axis=1), CanonicalReport(profile=None)
    spec = PROFILES[name]
    new = [spec.names.get(c, c) for c in stripped]
    if len(set(new)) < len(new):
        duplicated = sorted({c for c in new if new.count(c) > 1})
        raise ValueError(f"Columns {duplicated} occur twice after renaming with profile {name!r}.")
    out = frame.set_axis(new, axis=1)
    converted, replaced = {}, {}
    for column in new:
        mapping, factor = spec.values.get(column), spec.units.get(column)
        if mapping is None and factor is None:
            continue
        values = out[column]
        if mapping is not None:
            values = _replace(values, mapping)
            replaced[column] = dict(mapping)
        if factor is not None:
            values = _numeric(values, column) * factor
            converted[column] = factor
        out[column] = values
    report = CanonicalReport(
        profile=name,
        renamed={o: n for o, n in zip(stripped, new, strict=True) if o != n},
        converted=converted,
        replaced=replaced,
        unavailable=spec.unavailable,
        variants={c: spec.variants[c] for c in new if c in spec.variants},
    )
    return out, report


def _replace(values, mapping):
    """``values`` with the conventions of ``mapping`` replaced (text keys match stripped text)."""
    if is_numeric_dtype(values.dtype):
        numeric = {k: v for k, v in mapping.items() if not isinstance(k, str)}
        return values.replace(numeric) if numeric else values
    keys = values.astype(str).str.strip().str.lower()
    hit = keys.isin([str(k).lower() for k in mapping])
    if not hit.any():
        return values
    lookup = {str(k).lower(): v for k, v in mapping.items()}
    return values.astype(object).where(~hit, keys.map(lookup))


def _numeric(values, column):
    """float64 values of a column that must be numeric for a unit conversion."""
    if is_numeric_dtype(values.dtype) and values.dtype.kind != "c":
        return values.astype(np.float64)
    from ._values import numeric_values  # the splitter's parser: one definition

    return pd.Series(numeric_values(values, column, "unit conversion"), index=values.index)


def mismatched_features(fitted, profile, columns):
    """Canonical ``columns`` that profile ``profile`` computes differently from ``fitted``.

    Parameters
    ----------
    fitted, profile : str or None
        Profile names (``None``: the reference semantics).
    columns : iterable of str
        Canonical feature names to compare.

    Returns
    -------
    mismatched : dict of str -> str
        Feature -> the difference, in words.

    Examples
    --------
    >>> from moeids.features.canonical import mismatched_features
    >>> mismatched_features(None, "nfstream", ["Flow Duration", "Total Length of Fwd Packet"])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'Total Length of Fwd Packet': 'nfstream: link-layer frame lengths (headers included),
     not transport payload lengths; fitted on reference: reference definition'}
    """
    a = PROFILES[fitted].variants if fitted is not None else {}
    b = PROFILES[profile].variants if profile is not None else {}
    out = {}
    for column in columns:
        if a.get(column) != b.get(column):
            fit_text = a.get(column, "reference definition")
            out[column] = f"{profile or 'reference'}: {b.get(column, 'reference definition')}"
            out[column] += f"; fitted on {fitted or 'reference'}: {fit_text}"
    return out
