"""Path A: the mixture-of-experts classifier.

- :class:`MoEClassifier` -- the scikit-learn estimator (``classifier``)
- :class:`FeatureTokenizer` -- features -> tokens, [CLS] and [MASK] (``tokenizer``)
- :class:`FTTransformer` -- the tabular expert (``ft_transformer``)
- :class:`TemporalCNN` -- the temporal expert (``temporal_cnn``)
- :class:`Gate` -- softmax / top-1 gating over experts (``gating``)
- :class:`MoENetwork` -- the assembled network (``network``)
- :class:`MFMHead`, :func:`mfm_loss` -- masked feature modelling pretraining (``mfm``)
"""

from .classifier import MoEClassifier
from .ft_transformer import FTTransformer
from .gating import Gate
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
    "mfm_loss",
]
