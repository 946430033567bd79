"""moeids: mixture-of-experts network intrusion detection, the scikit-learn way.

Public API (imported lazily so that ``import moeids`` stays fast):

- :class:`FeatureSplitter` -- raw flow columns -> expert inputs (``moeids.preprocessing``)
- :class:`MoEClassifier` -- gated FT-Transformer + 1D-CNN classifier (``moeids.classifier``)
- :class:`MoiraiNLLDetector` -- Moirai fine-tuned with an NLL loss (``moeids.detector``)
- :class:`FlowWindower`, :func:`make_windows` -- flows -> windows (``moeids.windows``)
- ``moeids.datasets``, ``moeids.analysis``, ``moeids.synthetic`` -- submodules
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "FeatureSplitter": "moeids.preprocessing",
    "MoEClassifier": "moeids.classifier",
    "MoiraiNLLDetector": "moeids.detector",
    "FlowWindower": "moeids.windows",
    "make_windows": "moeids.windows",
}
_SUBMODULES = {"datasets", "analysis", "synthetic"}

__all__ = [*_LAZY, *sorted(_SUBMODULES), "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return import_module(f"moeids.{name}")
    raise AttributeError(f"module 'moeids' has no attribute {name!r}")


def __dir__():
    return __all__
