"""``moeids stream``: score JSON flows from a Kafka topic, one decision per flow, at least once."""

from __future__ import annotations

import argparse
import sys

_EXAMPLE = """\
example:
  moeids stream model.moeids --bootstrap 127.0.0.1:9092 --in network-flows \\
      --out flow-decisions --alerts alerts --dead-letter network-flows.dead-letter

Each input record is a JSON object of feature name -> value (null or absent = missing).
Offsets are committed in group --group only after the decisions are acknowledged by the
broker; a restart resumes from there. SIGTERM/SIGINT: finish the batch, commit, exit 0.
"""


def _positive(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _partitions(text):
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 0,1,2; got {text!r}") from None


def add_parser(commands) -> None:
    """Register ``moeids stream`` on the ``commands`` subparsers."""
    p = commands.add_parser(
        "stream",
        help="score JSON flows from Kafka (decisions, alerts, dead letters)",
        description=__doc__.split("\n")[0].split(": ", 1)[1],
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="fitted model file (moeids.save)")
    p.add_argument("--bootstrap", required=True, metavar="HOST:PORT", help="Kafka brokers")
    p.add_argument("--in", dest="in_topic", required=True, metavar="TOPIC", help="JSON flows")
    p.add_argument("--out", required=True, metavar="TOPIC", help="one decision per flow")
    p.add_argument("--alerts", metavar="TOPIC", help="the decisions labelled as attacks")
    p.add_argument(
        "--dead-letter", metavar="TOPIC", help="malformed records (default: IN.dead-letter)"
    )
    p.add_argument("--group", default="moeids-stream", help="group of the committed offsets")
    p.add_argument("--partitions", type=_partitions, help="input partitions (default: all)")
    p.add_argument("--batch-size", type=_positive, default=256, help="records per micro-batch")
    p.add_argument("--max-wait-ms", type=_positive, default=100, help="max wait to fill one")
    p.add_argument("--report-every", type=float, default=10.0, help="seconds between counters")
    p.add_argument("--benign", help="the benign class of a multi-class model")
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load a joblib/pickle model (runs its code)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(handler=stream)


def stream(args) -> int:
    """Run the scorer until SIGTERM/SIGINT; see ``moeids stream --help``."""
    from moeids import load
    from moeids.streaming import StreamConfig, StreamScorer

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
        model = load(args.model, allow_pickle=args.allow_pickle)
        StreamScorer(model, config, benign=args.benign).run()
    except Exception as error:
        if args.debug:
            raise
        print(f"moeids stream: error: {error}", file=sys.stderr)
        return 1
    return 0
