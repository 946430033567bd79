"""``moeids stream`` end to end through a real Kafka-protocol broker, beside in-process rates.

- Model: FeatureSplitter + MoEClassifier (library-default architecture; 1 training epoch,
  no pretraining: the speed of a network does not depend on how long it was trained) fitted
  on the CIC-IDS2017 training part (quick: 2,000 rows).
- Flows: the test part, tiled to N records (quick: 5,000; full: 20,000), as JSON objects
  (inf/NaN as null), produced round-robin to a 2-partition input topic.
- Broker: tansu (``moeids.streaming.LocalBroker``, memory storage) on 127.0.0.1.
- End to end, per micro-batch size: a ``moeids stream`` process is started and waits
  (its "ready" line); then the N records are produced and a reader consumes the decision
  topic until it holds N decisions. records/s = N / (last decision read - first record
  produced); producer, broker, scorer and reader share the machine's cores.
- Consumer-group join on the same broker (why the scorer assigns its partitions instead of
  joining its group): seconds from ``subscribe`` to the first record with librdkafka's
  default group settings and with ``session.timeout.ms=6000, heartbeat.interval.ms=500``.
- In process, same model, same flows: ``predict_proba`` of the pipeline on the DataFrame,
  and ``moeids.streaming.score_values`` on the JSON values (parsing and decision records
  included, no broker), both in chunks of the micro-batch size.

Writes ``stream.md``. ``python benchmarks/bench_stream.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import _common as C
import numpy as np
import pandas as pd

import moeids
from moeids.streaming import LocalBroker, score_values

PARTITIONS = 2
TIMEOUT_S = 600


def json_values(frame):
    """One UTF-8 JSON object per row; inf and NaN become null (missing)."""
    clean = frame.replace([np.inf, -np.inf], np.nan).astype(object)
    records = clean.where(clean.notna(), None).to_dict("records")
    return [json.dumps(r, allow_nan=False).encode() for r in records]


def in_process(model, X, values, batch):
    """(predict_proba flows/s, score_values flows/s) in chunks of ``batch``."""
    rates = []
    for call, data in ((model.predict_proba, X), (lambda v: score_values(model, v), values)):
        call(data[:batch])  # warm-up
        start = time.perf_counter()
        for i in range(0, len(X), batch):
            call(data[i : i + batch])
        rates.append(len(X) / (time.perf_counter() - start))
    return rates


def _scorer(model_path, broker, topics, batch):
    command = [sys.executable, "-m", "moeids", "stream", str(model_path)]
    command += ["--bootstrap", broker.bootstrap, "--in", topics["flows"]]
    command += ["--out", topics["decisions"], "--alerts", topics["alerts"]]
    command += ["--dead-letter", topics["dead"], "--batch-size", str(batch)]
    env = {**os.environ, "PYTHONPATH": str(C.ROOT)}
    process = subprocess.Popen(command, cwd=C.ROOT, env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    while not lines or "ready:" not in lines[-1]:  # warnings may come first
        lines.append(process.stderr.readline())
        if not lines[-1]:
            process.kill()
            raise RuntimeError("moeids stream did not start:\n" + "".join(lines))
    return process


def end_to_end(model_path, broker, values, batch):
    """(records/s, seconds, scorer's final counter line) for one micro-batch size."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    tag = uuid.uuid4().hex[:8]
    topics = {k: f"{k}-{tag}" for k in ("flows", "decisions", "alerts", "dead")}
    broker.create_topics({topics["flows"]: PARTITIONS, **{topics[k]: 1 for k in list(topics)[1:]}})
    scorer = _scorer(model_path, broker, topics, batch)
    reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"bench-{tag}"})
    reader.assign([TopicPartition(topics["decisions"], 0, OFFSET_BEGINNING)])
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    try:
        start = time.perf_counter()
        for i, value in enumerate(values):
            producer.produce(topics["flows"], value, str(i).encode(), i % PARTITIONS)
            producer.poll(0)
        producer.flush(TIMEOUT_S)
        seen = 0
        while seen < len(values) and time.perf_counter() - start < TIMEOUT_S:
            seen += sum(m.error() is None for m in reader.consume(1000, 0.1))
        seconds = time.perf_counter() - start
    finally:
        scorer.terminate()
        _, log = scorer.communicate(timeout=60)
        reader.close()
    if seen < len(values):
        raise RuntimeError(f"only {seen} of {len(values)} decisions in {TIMEOUT_S} s:\n{log}")
    final = [line for line in log.splitlines() if "stopped:" in line]
    return len(values) / seconds, seconds, (final or ["?"])[-1].split("stopped: ")[-1]


def group_join_seconds(broker, settings, limit=60.0):
    """Seconds from ``subscribe`` to the first record of a 1-record topic (inf: not in limit)."""
    from confluent_kafka import Consumer, Producer

    topic = f"join-{uuid.uuid4().hex[:8]}"
    broker.create_topics({topic: 1})
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce(topic, b"{}")
    producer.flush(10)
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": topic,
         "auto.offset.reset": "earliest", **settings}
    )  # fmt: skip
    start = time.perf_counter()
    consumer.subscribe([topic])
    seconds = np.inf
    while time.perf_counter() - start < limit:
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            seconds = time.perf_counter() - start
            break
    consumer.close()
    return seconds


GROUP_SETTINGS = {
    "librdkafka defaults": {},
    "session.timeout.ms=6000, heartbeat.interval.ms=500": {
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
    },
}  # fmt: skip


def run(args):
    dataset, split = C.load_splits(args, ["cicids2017"])["cicids2017"]
    n = 5000 if args.quick else 20000
    params = {f"moe__{k}": v for k, v in {"epochs": 1, "pretrain_epochs": 0}.items()}
    model = C.make_models(dataset, args.quick)["MoE"].set_params(**params)
    print(f"[stream] fitting MoE on {len(split.X_train)} flows", flush=True)
    model.fit(split.X_train, split.y_train)
    repeats = -(-n // len(split.X_test))
    X = pd.concat([split.X_test] * repeats, ignore_index=True).iloc[:n]
    values = json_values(X)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, LocalBroker() as broker:
        model_path = moeids.save(model, Path(tmp) / "ids.safetensors")
        for batch in args.batch_sizes:
            print(f"[stream] batch {batch}", flush=True)
            load_before = os.getloadavg()[0]
            rate, seconds, counters = end_to_end(model_path, broker, values, batch)
            proba, scored = in_process(model, X, values, batch)
            rows.append({
                "micro-batch": batch, "records": n,
                "end to end records/s": rate, "end to end s": seconds,
                "in-process predict_proba flows/s": proba,
                "in-process score_values flows/s": scored,
                "end to end / predict_proba": rate / proba,
                "load average before": load_before,
                "scorer counters at exit": counters,
            })  # fmt: skip
        joins = pd.DataFrame(
            [{"group settings": k, "join s": group_join_seconds(broker, v)}
             for k, v in GROUP_SETTINGS.items()]
        ).set_index("group settings")  # fmt: skip
    return pd.DataFrame(rows).set_index("micro-batch"), joins, len(split.X_train)


def report(table, joins, n_train, cmd, args):
    extra = (
        "Method: see the docstring of `benchmarks/bench_stream.py`. Model fitted on "
        f"{n_train} flows. Load: the machine (2 CPU cores) was shared with other jobs while "
        "this ran; the producer, the tansu broker, the scorer process and the reader all run "
        "on it too, so the end-to-end rate is a lower bound of a scorer with cores of its "
        "own. The load average before each run is in the table. Compare rows of one run, "
        "not runs.\n\n"
    )
    text = C.header("Streaming scorer throughput (moeids stream, Kafka)", cmd, args, extra)
    text += "## End to end through the broker\n\n" + C.markdown_table(table, "{:,.2f}")
    text += (
        "\n## Consumer-group join on tansu\n\nSeconds from `subscribe` to the first record "
        "(inf: none within 60 s). `moeids stream` does not join: it assigns its partitions "
        "and commits its offsets to the group.\n\n" + C.markdown_table(joins, "{:,.1f}")
    )
    return text


def main(args):
    start = time.perf_counter()
    table, joins, n_train = run(args)
    C.write(args.out / "stream.md", report(table, joins, n_train, C.command(), args))
    print(f"[stream] done in {time.perf_counter() - start:.0f} s")
    return table


if __name__ == "__main__":
    parser = C.add_common_arguments(argparse.ArgumentParser(description=__doc__))
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[256, 1024], metavar="N",
        help="micro-batch sizes of the scorer (default: %(default)s)",
    )  # fmt: skip
    main(parser.parse_args())
