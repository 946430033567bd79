"""Path A: the mixture-of-experts classifier.

- :class:`MoEClassifier` -- the scikit-learn estimator (``classifier``); its training
  schedule as overridable methods (``training``), its input checks (``inputs``)
- :class:`FeatureTokenizer` -- features -> tokens, [CLS] and [MASK] (``tokenizer``)
- :class:`FTTransformer` -- the tabular expert (``ft_transformer``)
- :class:`TemporalCNN` -- the temporal expert (``temporal_cnn``)
- :class:`Gate` -- softmax / top-1 gating over experts (``gating``)
- :class:`MoENetwork` -- the assembled network (``network``)
- :class:`MFMHead`, :func:`mfm_loss` -- masked feature modelling pretraining (``mfm``)
- :func:`expert_losses`, :func:`hide_features` -- the stage-2 objective (``losses``)
"""

from .classifier import MoEClassifier
from .ft_transformer import FTTransformer
from .gating import Gate
from .losses import expert_losses, hide_features
from .mfm import MFMHead, mfm_loss
from .network import MoENetwork
from .temporal_cnn import TemporalCNN
from .tokenizer import FeatureTokenizer

__all__ = [
    "FeatureTokenizer",
    "FTTransformer",
    "Gate",
    "MFMHead",
    "MoEClassifier",
    "MoENetwork",
    "TemporalCNN",
    "expert_losses",
    "hide_features",
    "mfm_loss",
]
