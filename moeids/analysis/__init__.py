"""Evaluation views of a fitted intrusion detector: gating, robustness, baselines.

Three questions users ask before they trust a model, one group of functions each:

- *Why did it decide this?* :func:`explain_flows` lists the features of each flow that
  most supported its label (:func:`flow_attributions`, :func:`attribution_summary` and
  :func:`plot_attributions` per feature and attack type); :func:`gating_weights`,
  :func:`gating_report`, :func:`expert_agreement` and :func:`plot_gating` show which
  expert a :class:`~moeids.MoEClassifier` trusted, whether the experts differ and whether
  the gate's choice matters, per sample and per attack type.
- *What if my sensor exports fewer features?* :func:`robustness_curve` scores a model when
  only a random fraction of the feature columns is present; :func:`sensor_profile_scores`
  when only the columns of a named sensor (:data:`SENSOR_PROFILES`) are present.
- *Is it as good as what I run today?* :func:`compare` fits several models on several
  datasets and puts detection quality and speed in one table.

Every function takes fitted estimators (or, for :func:`compare`, unfitted ones) that follow
the scikit-learn API; a :class:`~sklearn.pipeline.Pipeline` ending in a
:class:`~moeids.MoEClassifier` works wherever gate weights are needed.
"""

from __future__ import annotations

from .attributions import attribution_summary, explain_flows, flow_attributions
from .comparison import compare
from .gating import expert_agreement, gating_report, gating_weights
from .plots import plot_attributions, plot_gating
from .robustness import SENSOR_PROFILES, robustness_curve, sensor_profile_scores

__all__ = [
    "SENSOR_PROFILES",
    "attribution_summary",
    "compare",
    "expert_agreement",
    "explain_flows",
    "flow_attributions",
    "gating_report",
    "gating_weights",
    "plot_attributions",
    "plot_gating",
    "robustness_curve",
    "sensor_profile_scores",
]
