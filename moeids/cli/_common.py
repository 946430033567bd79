"""What every ``moeids`` command shares: its parser, one-line errors, model files and cards.

A command module calls :func:`add_command` in its ``add_parser(commands)`` (help with the
defaults shown and an example, ``--debug``), raises :class:`CommandError` for a problem with
its arguments or inputs, and reads a model with :func:`load_model_arg` (after
:func:`add_model_arguments` has added ``MODEL`` and ``--allow-pickle``). ``moeids.cli.main``
prints any error as one line and returns exit status 2.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from moeids.persistence import load, save

__all__ = [
    "ArgumentParser",
    "CommandError",
    "HelpFormatter",
    "add_allow_pickle",
    "add_command",
    "add_model_arguments",
    "card_path",
    "check_classifier",
    "check_writable",
    "load_model_arg",
    "read_card",
    "save_model",
    "write_card",
]


class CommandError(Exception):
    """A problem with a command's arguments or inputs: one line on stderr, exit status 2."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the line breaks of descriptions and examples; shows every option's default.

    On/off flags (``--debug``) are off unless given and required options have none, so no
    default is shown for them; a help text that states its own ``(default: ...)`` is kept.
    """

    def _get_help_string(self, action):
        if action.nargs == 0 or action.required or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: ``moeids: error: ...``."""

    def error(self, message):
        self.exit(2, f"moeids: error: {message} (see '{self.prog} --help')\n")


def add_command(commands, name, *, help, description, example):
    """Add the parser of one command, with ``--debug`` and an example after the options.

    Parameters
    ----------
    commands : argparse subparsers action
        The ``commands`` passed to a command module's ``add_parser``.
    name : str
        The command's name.
    help : str
        One line for ``moeids --help``.
    description : str
        Shown at the top of ``moeids NAME --help``; plain text, no markup.
    example : str
        One or more command lines shown under "example:".

    Returns
    -------
    parser : ArgumentParser
    """
    parser = commands.add_parser(
        name,
        help=help,
        description=description,
        epilog="example:\n" + textwrap.indent(textwrap.dedent(example).strip(), "  "),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,  # leaves the value of ``moeids --debug COMMAND`` alone
        help="show the full traceback of an error instead of one line",
    )
    return parser


def add_allow_pickle(parser) -> None:
    """Add ``--allow-pickle`` (off: only the pickle-free model format is loaded)."""
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load a pickle/joblib model file; loading a pickle runs any code it holds, "
        "so give this only for files you made or trust",
    )


def add_model_arguments(parser) -> None:
    """Add the positional ``MODEL`` (a file written by ``moeids train``) and ``--allow-pickle``."""
    parser.add_argument("model", metavar="MODEL", type=Path, help="model file (moeids train)")
    add_allow_pickle(parser)


def save_model(model, path) -> None:
    """Write a fitted model with ``moeids.save`` (pickle-free)."""
    save(model, Path(path))


def load_model_arg(path, allow_pickle=False):
    """Load the model file named on the command line.

    Parameters
    ----------
    path : str or path-like
        A file written by ``moeids train`` / ``moeids.save``.
    allow_pickle : bool
        Also load a pickle/joblib file (``--allow-pickle``); it runs any code it holds.

    Returns
    -------
    model : fitted estimator

    Raises
    ------
    CommandError
        The file is absent, not a model file, fails its checksum, or is a pickle while
        ``allow_pickle`` is False; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CommandError(f"model file {str(path)!r} does not exist")
    try:
        return load(path, allow_pickle=allow_pickle)
    except ValueError as exc:
        text = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        hint = "" if allow_pickle or "pickle" not in text else " (see --allow-pickle)"
        raise CommandError(text + hint) from exc


def check_classifier(model, path):
    """Return ``model`` if it scores flows (a classifier pipeline), else raise CommandError."""
    from moeids.scoring import split_model

    classifier = split_model(model)[1]
    if not hasattr(classifier, "forward") or not hasattr(classifier, "classes_"):
        raise CommandError(
            f"{path} holds a {type(classifier).__name__}, not a fitted moeids classifier "
            "(FeatureSplitter + MoEClassifier)"
        )
    return model


def check_writable(path, what="--out") -> Path:
    """``path`` as a Path whose folder exists, else raise CommandError naming the option."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CommandError(f"{what} {str(path)!r}: folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise CommandError(f"{what} {str(path)!r} is a folder; give a file name")
    return path


def card_path(model_path) -> Path:
    """The model card beside a model file: ``MODEL.card.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".card.json")


def write_card(model_path, card) -> Path:
    """Write ``card`` (a JSON-able dict) beside ``model_path``; returns the card's path."""
    path = card_path(model_path)
    path.write_text(json.dumps(card, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def read_card(model_path):
    """The card written beside ``model_path`` by ``moeids train``, or None if there is none."""
    path = card_path(model_path)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
