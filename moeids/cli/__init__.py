"""The ``moeids`` command line: one module per command, each with ``add_parser(commands)``.

A command module registers its parser with :func:`moeids.cli._common.add_command` and sets
``handler``, a function of the parsed arguments returning the exit status: 0 done, 1 for
findings where a command reports them. Errors print one line (``moeids: error: ...``) and
exit with status 2, usage errors included; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from importlib import import_module

from ._common import ArgumentParser, CommandError, HelpFormatter

__all__ = ["build_parser", "main"]

# Modules of moeids.cli, one per command, in the order ``moeids --help`` lists them.
_COMMANDS = ("train", "predict", "evaluate", "scan", "stream", "demo")

# Errors about the user's inputs: their message is the whole story.
_INPUT_ERRORS = (CommandError, ValueError, TypeError, KeyError, OSError, ImportError)


def build_parser() -> ArgumentParser:
    """The ``moeids`` argument parser with every command registered."""
    parser = ArgumentParser(
        prog="moeids",
        description="Mixture-of-experts network intrusion detection.\n\n"
        "Run 'moeids COMMAND --help' for a command's options and an example.",
        epilog="example:\n  moeids train flows.csv --out ids.safetensors\n"
        "  moeids predict ids.safetensors new_flows.parquet --out decisions.parquet",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMANDS:
        import_module(f"moeids.cli.{name}").add_parser(commands)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, _INPUT_ERRORS):
        return text
    return f"{type(exc).__name__}: {text} (rerun with --debug for the traceback)"


@contextmanager
def _one_line_warnings():
    """Print each distinct warning once, as ``moeids: warning: ...``."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")

        def show(message, category, filename, lineno, file=None, line=None):
            print(f"moeids: warning: {' '.join(str(message).split())}", file=sys.stderr)

        warnings.showwarning = show
        yield


def main(argv=None) -> int:
    """Run ``moeids`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.debug:
        return args.handler(args)
    try:
        with _one_line_warnings():
            return args.handler(args)
    except KeyboardInterrupt:
        print("moeids: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"moeids: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
