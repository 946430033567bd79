"""Raw flow columns -> the experts' inputs.

- :class:`FeatureSplitter` -- clean, group, scale and encode flow columns (``splitter``)
- ``groups`` -- the name rules and dataset presets that assign columns to groups
"""

from .splitter import FeatureSplitter, MissingFeaturesWarning

__all__ = ["FeatureSplitter", "MissingFeaturesWarning"]
