"""The ``moeids`` command line: one module per command, each with ``add_parser``.

``moeids --help`` lists the commands; ``moeids COMMAND --help`` shows each one's options.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

# Modules of moeids.cli, one per command, in the order ``moeids --help`` lists them.
_COMMANDS = ("demo", "stream")


def build_parser() -> argparse.ArgumentParser:
    """The ``moeids`` argument parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="moeids", description="Mixture-of-experts network intrusion detection."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMANDS:
        import_module(f"moeids.cli.{name}").add_parser(commands)
    return parser


def main(argv=None) -> int:
    """Run ``moeids`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
