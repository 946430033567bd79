"""Path B: time-ordered flows -> windows -> Moirai NLL anomaly scores.

- :func:`make_windows` -- flows -> windows of raw values (``windows``)
- :class:`FlowWindower` -- flows -> standardised windows (``windower``)
- :func:`make_synthetic_attacks`, :func:`mix_windows` -- stealthy synthetic attacks
  (``synthetic``)
- :class:`MoiraiNLLDetector` -- Moirai fine-tuned with its NLL (``detector``; its parts:
  ``packing`` windows -> tokens -> NLL, ``finetune``, ``calibration``, ``inference``,
  ``explanation``; ``_uni2ts`` imports uni2ts only when a detector is built)
"""

from .detector import MoiraiNLLDetector
from .synthetic import make_synthetic_attacks, mix_windows
from .windower import FlowWindower
from .windows import make_windows

__all__ = [
    "FlowWindower",
    "MoiraiNLLDetector",
    "make_synthetic_attacks",
    "make_windows",
    "mix_windows",
]
