"""``moeids stream``: score JSON flows from a Kafka topic, one decision per flow, at least once.

The scorer itself is :class:`moeids.streaming.StreamScorer`; this module parses its options.
"""

from __future__ import annotations

import argparse

from ._common import (
    CommandError,
    add_command,
    add_model_arguments,
    check_classifier,
    load_model_arg,
)

__all__ = ["add_parser", "stream"]

_DESCRIPTION = """\
Read JSON flow records (feature name -> value; null or absent = missing) from the Kafka
topic --in, score them in micro-batches and write one decision per flow to --out (input
topic/partition/offset/key, label, attack_probability or proba_<class>, gate weights,
missing features, alert), the attacks again to --alerts, and malformed records with their
error to --dead-letter. Offsets are committed in group --group only after the broker has
acknowledged the decisions; a restart resumes from there (at least once). The scorer reads
its partitions by assignment, without a group join. SIGTERM/SIGINT: finish the batch,
commit, print the counters, exit 0."""


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _partitions(text):
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 0,1,2; got {text!r}") from None


def add_parser(commands) -> None:
    """Register ``moeids stream`` on the ``commands`` subparsers."""
    run = add_command(
        commands,
        "stream",
        help="score JSON flows from Kafka: decisions, alerts, dead letters (at least once)",
        description=_DESCRIPTION,
        example="""
            moeids stream ids.safetensors --bootstrap 127.0.0.1:9092 --in network-flows \\
                --out flow-decisions --alerts alerts --dead-letter network-flows.dead-letter
        """,
    )
    add_model_arguments(run)
    run.add_argument("--bootstrap", required=True, metavar="HOST:PORT", help="Kafka brokers")
    run.add_argument("--in", dest="in_topic", required=True, metavar="TOPIC", help="JSON flows")
    run.add_argument("--out", required=True, metavar="TOPIC", help="one decision per flow")
    run.add_argument(
        "--alerts", metavar="TOPIC", help="the decisions labelled as attacks (default: none)"
    )
    run.add_argument(
        "--dead-letter", metavar="TOPIC", help="malformed records (default: IN.dead-letter)"
    )
    run.add_argument("--group", default="moeids-stream", help="group of the committed offsets")
    run.add_argument(
        "--partitions", type=_partitions, help="input partitions, e.g. 0,1 (default: all)"
    )
    run.add_argument("--batch-size", type=_positive, default=256, help="records per micro-batch")
    run.add_argument(
        "--max-wait-ms", type=_positive, default=100, help="longest wait to fill a micro-batch"
    )
    run.add_argument("--report-every", type=float, default=10.0, help="seconds between counters")
    run.add_argument(
        "--benign", help="the benign class of a multi-class model (default: benign/normal/0)"
    )
    run.set_defaults(handler=stream)


def stream(args) -> int:
    """Run the scorer until SIGTERM/SIGINT; see ``moeids stream --help``."""
    from moeids.streaming import StreamConfig, StreamError, StreamScorer

    model = check_classifier(load_model_arg(args.model, args.allow_pickle), args.model)
    config = StreamConfig(
        bootstrap=args.bootstrap,
        in_topic=args.in_topic,
        out_topic=args.out,
        alerts_topic=args.alerts,
        dead_letter_topic=args.dead_letter,
        group=args.group,
        partitions=args.partitions,
        batch_size=args.batch_size,
        max_wait_ms=args.max_wait_ms,
        report_every_s=args.report_every,
    )
    try:
        StreamScorer(model, config, benign=args.benign).run()
    except StreamError as error:
        raise CommandError(str(error)) from error
    return 0
