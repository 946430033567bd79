"""Score network flows from Kafka: ``moeids stream`` and its Python API.

- :class:`StreamScorer` / :class:`StreamConfig` -- JSON flows in, one decision per flow out,
  alerts and dead letters, offsets committed after the broker acknowledged the output
  (at least once); needs ``pip install "moeids[stream]"`` (confluent-kafka)
- :func:`score_values`, :func:`parse_flow` -- the same scoring on record values, no broker
- :class:`LocalBroker` -- a tansu broker on 127.0.0.1 for tests and demos (``moeids[broker]``)
"""

from .broker import LocalBroker, find_tansu
from .records import attack_labels, model_inputs, parse_flow, score_values
from .scorer import StreamConfig, StreamCounters, StreamError, StreamScorer

__all__ = [
    "LocalBroker",
    "StreamConfig",
    "StreamCounters",
    "StreamError",
    "StreamScorer",
    "attack_labels",
    "find_tansu",
    "model_inputs",
    "parse_flow",
    "score_values",
]
