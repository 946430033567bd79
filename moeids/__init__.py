"""moeids: mixture-of-experts network intrusion detection, the scikit-learn way.

Public API (imported lazily so that ``import moeids`` stays fast):

- :class:`FeatureSplitter` -- raw flow columns -> expert inputs (``moeids.features``)
- :class:`MoEClassifier` -- path A, gated FT-Transformer + 1D-CNN classifier (``moeids.moe``)
- :class:`MoiraiNLLDetector`, :class:`FlowWindower`, :func:`make_windows` -- path B, flow
  windows scored by Moirai's NLL (``moeids.moirai``)
- :func:`save`, :func:`load` -- one pickle-free, checksummed file per fitted model
  (``moeids.persistence``; pickles refused unless ``allow_pickle=True``)
- ``moeids.datasets``, ``moeids.features``, ``moeids.moe``, ``moeids.moirai``,
  ``moeids.analysis``, ``moeids.persistence`` -- submodules
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "FeatureSplitter": "moeids.features",
    "MoEClassifier": "moeids.moe",
    "MoiraiNLLDetector": "moeids.moirai",
    "FlowWindower": "moeids.moirai",
    "make_windows": "moeids.moirai",
    "save": "moeids.persistence",
    "load": "moeids.persistence",
}
_SUBMODULES = {
    "analysis",
    "datasets",
    "distributed",
    "features",
    "flows",
    "moe",
    "moirai",
    "persistence",
    "scoring",
    "thresholds",
}

__all__ = [*_LAZY, *sorted(_SUBMODULES), "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return import_module(f"moeids.{name}")
    raise AttributeError(f"module 'moeids' has no attribute {name!r}")


def __dir__():
    return __all__
