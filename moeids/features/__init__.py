"""Raw flow columns -> the experts' inputs.

- :class:`FeatureSplitter` -- rename, clean, group and encode flow columns (``splitter``)
- ``vocabulary`` -- canonical feature names and per-extractor profiles (data)
- ``canonical`` -- :func:`detect_profile` and :func:`to_canonical` apply a profile
- ``groups`` -- the name rules and dataset presets that assign columns to groups
- :class:`ExtractorDropout` -- transfer training: hide unstable features in training rows
- :func:`add_benign_flows` -- adaptation: the deployment's benign flows as training rows
- ``names`` -- the ``group__column`` contract between the splitter and the models
"""

from .canonical import CanonicalReport, detect_profile, get_profile, to_canonical
from .splitter import FeatureSplitter, MissingFeaturesWarning
from .transfer import ExtractorDropout, add_benign_flows, unstable_features
from .vocabulary import CANONICAL_FEATURES, PROFILES, Profile

__all__ = [
    "CANONICAL_FEATURES",
    "PROFILES",
    "CanonicalReport",
    "ExtractorDropout",
    "FeatureSplitter",
    "MissingFeaturesWarning",
    "Profile",
    "add_benign_flows",
    "detect_profile",
    "get_profile",
    "to_canonical",
    "unstable_features",
]
