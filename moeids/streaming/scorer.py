"""The Kafka scorer: JSON flows in, one decision per flow out, at least once.

Every micro-batch (``batch_size`` records or ``max_wait_ms``, whichever comes first) goes
through :func:`~moeids.streaming.records.score_values`; its decisions, alerts and dead
letters are produced and flushed, and only once the broker has acknowledged all of them are
the input offsets committed. A crash therefore loses nothing: the restarted scorer resumes
from the last commit and at worst writes some decisions twice.

The scorer reads an explicitly assigned set of partitions (all of the input topic by
default) and keeps its offsets in the consumer group ``group`` without joining it: a group
join is slow on some brokers (tansu: ``docs/results/stream.md``) and a restart after a crash
would wait for the dead member's session to expire. Run several scorers on disjoint
``partitions`` to scale out.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from .records import attack_labels, model_inputs, score_values

__all__ = ["StreamConfig", "StreamCounters", "StreamError", "StreamScorer"]


class StreamError(RuntimeError):
    """The broker refused or lost something; nothing was committed for that batch.

    Examples
    --------
    Asking for an input partition the topic does not have:

    >>> import io
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> from moeids.streaming import LocalBroker, StreamConfig, StreamScorer
    >>> flows = load_sample()
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> classifier = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=1, pretrain_epochs=0,
    ...                            refit_epochs=0, random_state=0)
    >>> model = make_pipeline(FeatureSplitter(), classifier).fit(X, y)
    >>> with LocalBroker() as broker:
    ...     broker.create_topics({"flows": 1, "decisions": 1})
    ...     config = StreamConfig(broker.bootstrap, "flows", "decisions", partitions=(5,))
    ...     StreamScorer(model, config, log=io.StringIO()).run()
    Traceback (most recent call last):
    ...
    moeids.streaming.scorer.StreamError: topic 'flows' has no partition(s) [5]; it has [0]
    """


@dataclass
class StreamConfig:
    """Where the scorer reads and writes, and how it batches.

    Parameters
    ----------
    bootstrap : str
        ``HOST:PORT[,HOST:PORT...]`` of the brokers.
    in_topic, out_topic : str
        JSON flows are read from ``in_topic``; one decision per flow goes to ``out_topic``.
    alerts_topic : str, optional
        The decisions whose label is an attack, again.
    dead_letter_topic : str, optional
        Malformed records with their error text; default ``<in_topic>.dead-letter``.
    group : str
        Consumer group whose committed offsets the scorer resumes from.
    partitions : tuple of int, optional
        Input partitions to read; all of them when omitted.
    batch_size, max_wait_ms : int
        A micro-batch is scored at ``batch_size`` records or after ``max_wait_ms``.
    report_every_s : float
        Seconds between two counter lines on the log.
    kafka : dict
        Extra librdkafka settings for consumer and producer (e.g. security).

    Examples
    --------
    >>> from moeids.streaming import StreamConfig
    >>> config = StreamConfig("broker:9092", "flows", "decisions", alerts_topic="alerts")
    >>> config.group, config.batch_size, config.max_wait_ms
    ('moeids-stream', 256, 100)
    """

    bootstrap: str
    in_topic: str
    out_topic: str
    alerts_topic: str | None = None
    dead_letter_topic: str | None = None
    group: str = "moeids-stream"
    partitions: tuple[int, ...] | None = None
    batch_size: int = 256
    max_wait_ms: int = 100
    report_every_s: float = 10.0
    kafka: dict = field(default_factory=dict)


@dataclass
class StreamCounters:
    """Records in, decisions, alerts and dead letters out, and the lag at the last report.

    Parameters
    ----------
    records_in, decisions_out, alerts_out, dead_letters : int, default=0
        Counts since the scorer started.
    lag : int or None, default=None
        Records behind the end of the input partitions at the last report (None: unknown).

    Examples
    --------
    >>> from moeids.streaming import StreamCounters
    >>> StreamCounters(records_in=100, decisions_out=98, dead_letters=2, lag=0).line(4.0)
    'records_in=100 decisions_out=98 alerts_out=0 dead_letters=2 lag=0 rate=25/s'
    """

    records_in: int = 0
    decisions_out: int = 0
    alerts_out: int = 0
    dead_letters: int = 0
    lag: int | None = None

    def line(self, seconds: float) -> str:
        """The counters as one log line, with the input rate over ``seconds``.

        Parameters
        ----------
        seconds : float
            Time since the scorer started (the rate is 0 when it is not positive).

        Returns
        -------
        line : str

        Examples
        --------
        >>> from moeids.streaming import StreamCounters
        >>> StreamCounters().line(0.0)
        'records_in=0 decisions_out=0 alerts_out=0 dead_letters=0 lag=? rate=0/s'
        """
        rate = self.records_in / seconds if seconds > 0 else 0.0
        return (
            f"records_in={self.records_in} decisions_out={self.decisions_out} "
            f"alerts_out={self.alerts_out} dead_letters={self.dead_letters} "
            f"lag={self.lag if self.lag is not None else '?'} rate={rate:.0f}/s"
        )


def _kafka():
    try:
        import confluent_kafka
    except ImportError:
        raise ImportError(
            'moeids stream needs the Kafka client: pip install "moeids[stream]"'
        ) from None
    return confluent_kafka


def _key(message):
    key = message.key()
    return None if key is None else key.decode("utf-8", "backslashreplace")


def _origin(message) -> dict:
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "key": _key(message),
    }


def _json(record: dict) -> bytes:
    return json.dumps(record, default=lambda v: v.item()).encode()  # numpy scalars


_ACK_TIMEOUT_S = 30.0


class StreamScorer:
    """Score JSON flows from Kafka in micro-batches; see the module docstring.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
    config : StreamConfig
    benign : label, optional
        The benign class (see :func:`~moeids.streaming.records.attack_labels`).
    log : file, optional
        Where the ready line and the counters go; ``sys.stderr`` when omitted.

    Attributes
    ----------
    counters : StreamCounters

    Examples
    --------
    Three flows and one malformed record through a local broker (see :meth:`run`); the
    scorer runs in a thread until ``stop`` is set:

    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> import io, json, threading
    >>> from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
    >>> from moeids.streaming import LocalBroker, StreamConfig, StreamScorer
    >>> with LocalBroker() as broker:
    ...     broker.create_topics({"flows": 1, "decisions": 1})
    ...     producer = Producer({"bootstrap.servers": broker.bootstrap})
    ...     for flow in X.iloc[:3].to_json(orient="records", lines=True).splitlines():
    ...         producer.produce("flows", flow.encode())
    ...     producer.produce("flows", b"not json")
    ...     _ = producer.flush(10)
    ...     config = StreamConfig(broker.bootstrap, "flows", "decisions", partitions=(0,))
    ...     scorer = StreamScorer(model, config, log=io.StringIO())
    ...     stop = threading.Event()
    ...     thread = threading.Thread(target=scorer.run, args=(stop,))
    ...     thread.start()
    ...     reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader"})
    ...     reader.assign([TopicPartition("decisions", 0, OFFSET_BEGINNING)])
    ...     decisions = [json.loads(message.value()) for message in reader.consume(3, 30)]
    ...     reader.close()
    ...     stop.set()
    ...     thread.join(30)
    >>> len(decisions), decisions[0]["label"] in (0, 1), scorer.counters.dead_letters
    (3, True, 1)
    """

    def __init__(self, model, config: StreamConfig, *, benign=None, log=None):
        self.model = model
        self.config = config
        self.log = log
        self.counters = StreamCounters()
        self._inputs = model_inputs(model)
        self._attacks = attack_labels(model, benign)

    def run(self, stop: threading.Event | None = None) -> StreamCounters:
        """Score until ``stop`` is set or SIGTERM/SIGINT arrives (main thread), then return.

        Each batch is flushed and committed before the next one is read, so a clean stop
        leaves nothing pending. Raises :class:`StreamError` when the broker does not
        acknowledge a batch's output (that batch is not committed).

        Parameters
        ----------
        stop : threading.Event, optional
            Set it (from another thread) to stop; a new one when omitted.

        Returns
        -------
        counters : StreamCounters
            The final counts (also in ``self.counters``).

        Examples
        --------
        Stopped before it starts, the scorer commits nothing and returns its counters:

        >>> from sklearn.pipeline import make_pipeline
        >>> from moeids import FeatureSplitter, MoEClassifier
        >>> from moeids.datasets import load_sample
        >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
        >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
        >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
        ...             refit_epochs=0)
        >>> classifier = MoEClassifier(random_state=0, **tiny)
        >>> model = make_pipeline(FeatureSplitter(), classifier).fit(X, y)
        >>> import io, threading
        >>> from moeids.streaming import LocalBroker, StreamConfig, StreamScorer
        >>> stop = threading.Event()
        >>> stop.set()
        >>> with LocalBroker() as broker:
        ...     broker.create_topics({"flows": 1, "decisions": 1})
        ...     config = StreamConfig(broker.bootstrap, "flows", "decisions", partitions=(0,))
        ...     counters = StreamScorer(model, config, log=io.StringIO()).run(stop)
        >>> counters.records_in, counters.decisions_out
        (0, 0)
        """
        kafka, cfg = _kafka(), self.config
        stop = stop or threading.Event()
        restore = _stop_on_signals(stop)
        consumer = kafka.Consumer(self._settings(group=True))
        producer = kafka.Producer(self._settings(group=False))
        start = last = time.monotonic()
        try:
            partitions = self._assign(kafka, consumer)
            self._print(
                f"ready: {cfg.in_topic} partitions {partitions} -> {cfg.out_topic} "
                f"(group {cfg.group}, batch {cfg.batch_size} / {cfg.max_wait_ms} ms)"
            )
            while not stop.is_set():
                messages = consumer.consume(cfg.batch_size, cfg.max_wait_ms / 1000)
                if messages:
                    self._process(consumer, producer, messages)
                if time.monotonic() - last >= cfg.report_every_s:
                    self._report(consumer, time.monotonic() - start)
                    last = time.monotonic()
            self._report(consumer, time.monotonic() - start, final=True)
        finally:
            restore()
            consumer.close()
        return self.counters

    def _settings(self, group: bool) -> dict:
        settings = {"bootstrap.servers": self.config.bootstrap}
        if group:
            settings.update(
                {
                    "group.id": self.config.group,
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                }
            )
        else:
            settings.update({"acks": "all", "enable.idempotence": True, "linger.ms": 5})
        return {**settings, **self.config.kafka}

    def _assign(self, kafka, consumer) -> list[int]:
        """Assign the input partitions; each resumes from the group's committed offset."""
        cfg = self.config
        topic = consumer.list_topics(cfg.in_topic, timeout=10).topics.get(cfg.in_topic)
        if topic is None or topic.error is not None or not topic.partitions:
            reason = topic.error.str() if topic is not None and topic.error else "absent"
            raise StreamError(f"input topic {cfg.in_topic!r} on {cfg.bootstrap}: {reason}")
        partitions = sorted(cfg.partitions or topic.partitions)
        unknown = sorted(set(partitions) - set(topic.partitions))
        if unknown:
            raise StreamError(
                f"topic {cfg.in_topic!r} has no partition(s) {unknown}; "
                f"it has {sorted(topic.partitions)}"
            )
        consumer.assign([kafka.TopicPartition(cfg.in_topic, p) for p in partitions])
        return partitions

    def _process(self, consumer, producer, messages) -> None:
        """Score one micro-batch, produce its output, wait for the acks, commit its offsets."""
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
            elif error.fatal():
                raise StreamError(f"consumer: {error.str()}")
            else:
                self._print(f"consumer: {error.str()}")
        if not records:
            return
        outcomes = score_values(self.model, [m.value() for m in records], self._inputs)
        failed = []

        def delivered(error, _message):
            if error is not None:
                failed.append(error.str())

        counts = self._produce(producer, records, outcomes, delivered)
        left = producer.flush(_ACK_TIMEOUT_S)
        if left or failed:
            raise StreamError(
                f"{left + len(failed)} output record(s) not acknowledged by the broker "
                f"({failed[:1] or 'timeout'}); offsets not committed"
            )
        ends = {}
        for message in records:
            ends[message.topic(), message.partition()] = message.offset() + 1
        consumer.commit(
            offsets=[_kafka().TopicPartition(t, p, o) for (t, p), o in ends.items()],
            asynchronous=False,
        )
        c = self.counters
        c.records_in += len(records)
        c.decisions_out += counts[0]
        c.alerts_out += counts[1]
        c.dead_letters += counts[2]

    def _produce(self, producer, records, outcomes, delivered) -> tuple[int, int, int]:
        """Queue decisions, alerts and dead letters; their counts."""
        cfg = self.config
        dead_topic = cfg.dead_letter_topic or f"{cfg.in_topic}.dead-letter"
        decisions = alerts = dead = 0
        for message, outcome in zip(records, outcomes, strict=True):
            origin = _origin(message)
            if isinstance(outcome, str):
                value = (message.value() or b"").decode("utf-8", "backslashreplace")
                record = _json({**origin, "error": outcome, "value": value})
                producer.produce(dead_topic, record, message.key(), on_delivery=delivered)
                dead += 1
                continue
            alert = outcome["label"] in self._attacks
            record = _json({**origin, **outcome, "alert": bool(alert)})
            producer.produce(cfg.out_topic, record, message.key(), on_delivery=delivered)
            decisions += 1
            if alert and cfg.alerts_topic:
                producer.produce(cfg.alerts_topic, record, message.key(), on_delivery=delivered)
                alerts += 1
            producer.poll(0)
        return decisions, alerts, dead

    def _lag(self, consumer) -> int | None:
        """Records in the assigned partitions not yet scored and committed.

        The high watermarks are those of the latest fetch responses: a ListOffsets request
        is not used, as tansu answers it with a wrong "latest" offset (1 after 50 records
        produced in one batch).
        """
        try:
            total = 0
            for tp in consumer.committed(consumer.assignment(), timeout=5):
                low, high = consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    return None
                total += high - (tp.offset if tp.offset >= 0 else low)
            return total
        except Exception:  # the lag is informative: never stop scoring for it
            return None

    def _report(self, consumer, seconds: float, final: bool = False) -> None:
        self.counters.lag = self._lag(consumer)
        self._print(("stopped: " if final else "") + self.counters.line(seconds))

    def _print(self, text: str) -> None:
        print(f"moeids stream: {text}", file=self.log or sys.stderr, flush=True)


def _stop_on_signals(stop: threading.Event):
    """Set ``stop`` on SIGTERM/SIGINT (main thread only); returns the undo function."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, lambda *_: stop.set())

    def restore():
        for s, handler in previous.items():
            signal.signal(s, handler)

    return restore
