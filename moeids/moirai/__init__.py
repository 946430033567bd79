"""Path B: time-ordered flows -> windows -> Moirai NLL anomaly scores.

- :class:`FlowWindower`, :func:`make_windows` -- flows -> windows (``windows``)
- :func:`make_synthetic_attacks`, :func:`mix_windows` -- stealthy synthetic attacks
  (``synthetic``)
- :class:`MoiraiNLLDetector` -- Moirai fine-tuned with its NLL (``detector``; uni2ts is
  imported only when a detector is built)
"""

from .detector import MoiraiNLLDetector
from .synthetic import make_synthetic_attacks, mix_windows
from .windows import FlowWindower, make_windows

__all__ = [
    "FlowWindower",
    "MoiraiNLLDetector",
    "make_synthetic_attacks",
    "make_windows",
    "mix_windows",
]
