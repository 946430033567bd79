"""Streaming with Kafka: JSON flows in, decisions, alerts and dead letters out.

Needs the ``stream`` and ``broker`` extras (``pip install "moeids[stream,broker]"``: the
confluent-kafka client and the tansu broker binary). A local tansu broker (in memory, on a
free port of 127.0.0.1) gets four topics; six flows of the bundled sample and one malformed
record are produced to the input topic; a ``StreamScorer`` with a small model trained on the
sample runs in a thread until it has committed all seven records; then the decisions, the
alerts and the dead letter are read back, and the broker is stopped. ``moeids stream``
runs the same scorer from the command line (docs/deploy.md)::

    python examples/stream_kafka.py
"""

import io
import json
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_sample
from moeids.streaming import LocalBroker, StreamConfig, StreamScorer

TIMEOUT_S = 60  # every wait below is bounded
broker = LocalBroker()  # finds the tansu binary now; it starts in the with block below

sample = load_sample()
X_train, X_test, y_train, y_test = train_test_split(
    sample.data, sample.target, train_size=1500, stratify=sample.attack_type, random_state=0
)
small = {"d_model": 16, "n_layers": 1, "epochs": 10, "pretrain_epochs": 0}
model = make_pipeline(
    FeatureSplitter(), MoEClassifier(**small, class_weight="balanced", random_state=0, verbose=0)
).fit(X_train, y_train)

# Three benign flows and three attacks, one JSON object per record, then a malformed one.
rows = y_test[y_test == 0].index[:3].append(y_test[y_test == 1].index[:3])
records = [
    (f"flow-{i}", json.dumps(flow)) for i, flow in enumerate(X_test.loc[rows].to_dict("records"))
]
records.append(("flow-bad", '{"Flow Duration": "fast"}'))
print("true labels of flow-0..flow-5:", y_test[rows].tolist())

topics = {"in": "network-flows", "out": "flow-decisions", "alerts": "alerts"}
dead_letter = "network-flows.dead-letter"  # the default: <input topic>.dead-letter
with broker:
    broker.create_topics({name: 1 for name in [*topics.values(), dead_letter]})
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for key, value in records:
        producer.produce(topics["in"], value.encode(), key.encode())
    if producer.flush(TIMEOUT_S):
        raise RuntimeError(f"the broker did not acknowledge the records in {TIMEOUT_S} s")
    del producer  # its connections close now, not after the broker has gone

    config = StreamConfig(
        broker.bootstrap, topics["in"], topics["out"], alerts_topic=topics["alerts"]
    )
    log = io.StringIO()  # the scorer's ready line and counters
    scorer = StreamScorer(model, config, log=log)
    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + TIMEOUT_S
    while scorer.counters.records_in < len(records) and time.monotonic() < deadline:
        if not thread.is_alive():
            break  # it stopped on an error: the check below reports it
        time.sleep(0.1)
    stop.set()  # the scorer finishes its batch, commits and returns
    thread.join(TIMEOUT_S)
    print(log.getvalue().strip())
    if scorer.counters.records_in != len(records):
        raise RuntimeError(f"the scorer read {scorer.counters.records_in} of {len(records)}")

    # Read the three output topics from the beginning, as many records as the scorer wrote.
    c = scorer.counters
    expected = {topics["out"]: c.decisions_out, topics["alerts"]: c.alerts_out, dead_letter: 1}
    read = {topic: [] for topic in expected}
    reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader"})
    reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING) for topic in expected])
    deadline = time.monotonic() + TIMEOUT_S
    while any(len(read[t]) < n for t, n in expected.items()) and time.monotonic() < deadline:
        for message in reader.consume(100, 0.5):
            if message.error() is not None:
                raise RuntimeError(f"reading {message.topic()}: {message.error().str()}")
            read[message.topic()].append(json.loads(message.value()))
    reader.close()
    if any(len(read[t]) < n for t, n in expected.items()):
        raise RuntimeError(f"read {read} in {TIMEOUT_S} s, expected {expected} records")

print(f"{topics['out']}:")
for d in read[topics["out"]]:
    print(
        f"  {d['key']}  offset {d['offset']}  label {d['label']}  "
        f"attack_probability {d['attack_probability']:.3f}  alert {d['alert']}"
    )
print(f"{topics['alerts']}:", [d["key"] for d in read[topics["alerts"]]])
for d in read[dead_letter]:
    print(f"{dead_letter}: {d['key']} at offset {d['offset']}: {d['error']}")
