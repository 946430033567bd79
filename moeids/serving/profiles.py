"""Flows named by another extractor (NFStream, Zeek, ...): which one, and its column names.

The splitter renames an extractor's columns to the canonical vocabulary and converts their
units (``moeids.features.canonical``). A request whose fields are not the model's canonical
names is matched to the extractor profile its names fit best; its flows then reach the
splitter under that extractor's names, with the profile named in the frame's ``attrs``, so
that renaming, unit conversion and the handling of differently computed features are the
splitter's own, exactly as for a DataFrame from that extractor.
"""

from __future__ import annotations

from functools import cache

from ..features.canonical import PROFILE_ATTR, detect_profile
from ..features.vocabulary import PROFILES, REFERENCE

__all__ = ["PROFILE_ATTR", "extractor_names", "profile_names", "request_profile"]


@cache
def extractor_names() -> frozenset:
    """Names some extractor gives a feature that differ from its canonical name."""
    return frozenset(
        name
        for profile in PROFILES.values()
        for name, canonical in profile.names.items()
        if name != canonical
    )


def request_profile(rows) -> tuple[str | None, dict | None]:
    """The extractor profile the field names of ``rows`` fit, and its renames.

    Parameters
    ----------
    rows : list
        Flow objects (non-objects are skipped).

    Returns
    -------
    profile : str or None
        A key of ``PROFILES``; None when no profile matches or the names are canonical.
    renames : dict of str -> str or None
        The profile's extractor name -> canonical name.
    """
    keys = {key for row in rows if isinstance(row, dict) for key in row}
    profile = detect_profile(keys)
    if profile in (None, REFERENCE):
        return None, None
    return profile, dict(PROFILES[profile].names)


def profile_names(names, profile) -> list[str]:
    """Canonical ``names`` as the extractor ``profile`` calls them (unchanged if it does not)."""
    original = {}
    for extractor_name, canonical in PROFILES[profile].names.items():
        original.setdefault(canonical, extractor_name)
    return [original.get(name, name) for name in names]
