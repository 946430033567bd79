"""Saving and loading fitted models.

- :func:`save` / :func:`load`: one pickle-free, checksummed ``.safetensors`` file for a
  fitted pipeline, classifier, splitter or detector (``docs/persistence.md``); ``load``
  refuses pickles unless ``allow_pickle=True``.
- :class:`TorchPickleMixin`, :func:`usable_device`: pickles (joblib, ``copy.deepcopy``)
  of torch estimators hold CPU tensors and load on a machine without the fitting device.
"""

from .file import FORMAT, load, save
from .pickling import DeviceFallbackWarning, PickleLoadWarning, TorchPickleMixin, usable_device
from .types import SUPPORTED_TYPES

__all__ = [
    "FORMAT",
    "SUPPORTED_TYPES",
    "DeviceFallbackWarning",
    "PickleLoadWarning",
    "TorchPickleMixin",
    "load",
    "save",
    "usable_device",
]
