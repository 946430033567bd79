"""Every public name has a complete numpydoc docstring.

"Public" is what the API reference shows: the modules of the ``::: moeids...`` directives of
``docs/api/*.md`` (their ``__all__``, or the ``members:`` list a directive names), and the
public methods each public class defines itself. A function or class that takes parameters
documents them (``Parameters``), one that returns a value documents it (``Returns`` or
``Yields``), and each has an ``Examples`` section, which ``tests/test_docs.py`` runs as
doctests. Data (constants) have no docstring sections.
"""

import ast
import importlib
import inspect
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_DIRECTIVE = re.compile(r"^::: (moeids[\w.]*)\n((?:[ \t]+.*\n)*)", re.M)
_MEMBERS = re.compile(r"members:\s*\[([^\]]*)\]")
_HEADER = re.compile(r"^([A-Z][A-Za-z ]+)\n-{3,}[ \t]*$", re.M)

# Names exempt from a section ({qualified name: {section, ...}}), each with its reason in a
# comment. Empty: every public name has every section it needs.
ALLOWED_MISSING: dict[str, set[str]] = {}


def public_modules():
    """``{module: members or None}`` from the ``:::`` directives of the API pages (None: the
    module's ``__all__``; ``members: false``: the module page lists no member)."""
    modules = {}
    for page in sorted((ROOT / "docs" / "api").glob("*.md")):
        for name, options in _DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            if re.search(r"members:\s*false", options):
                continue
            listed = _MEMBERS.search(options)
            modules[name] = [m.strip() for m in listed.group(1).split(",")] if listed else None
    return modules


def sections(doc):
    """The numpydoc section headers of a docstring (``{"Parameters", "Examples", ...}``)."""
    return set(_HEADER.findall(inspect.cleandoc(doc or "")))


def _takes_parameters(function):
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    names = [p for p in signature.parameters if p not in ("self", "cls")]
    return bool(names)


def _returns_value(function):
    """Whether ``function``'s own body has a ``return <value>`` (not ``return None``) or a
    ``yield``: what decides if it needs a Returns (or Yields) section."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return False
    (definition,) = tree.body

    def own_nodes(node):  # skip nested functions and classes: their returns are not ours
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield child
                yield from own_nodes(child)

    for node in own_nodes(definition):
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):
                return True
    return False


def missing_sections(obj):
    """The sections ``obj``'s docstring lacks: ``Parameters`` (when it takes any),
    ``Returns`` (a function or method that returns a value; Yields counts) and
    ``Examples``."""
    found, needed = sections(obj.__doc__), {"Examples"}
    # a NamedTuple's fields are documented where they are declared (griffe rejects a
    # Parameters section on it); its callers get it from functions, not build it
    if _takes_parameters(obj) and not (inspect.isclass(obj) and hasattr(obj, "_fields")):
        needed.add("Parameters")
    if not inspect.isclass(obj) and _returns_value(obj):
        needed.add("Returns")
    if "Yields" in found:
        found.add("Returns")
    if "Attributes" in found and inspect.isclass(obj):
        found.add("Parameters")  # a dataclass may document its fields as attributes
    return sorted(needed - found)


def public_objects():
    """``(qualified name, object)`` of every public function, class and method."""
    seen, found = set(), []
    for module_name, members in public_modules().items():
        module = importlib.import_module(module_name)
        for name in members or module.__all__:
            obj = getattr(module, name)
            if not callable(obj) or id(obj) in seen:
                continue  # data, or a name re-exported by another public module
            seen.add(id(obj))
            found.append((f"{module_name}.{name}", obj))
            if not inspect.isclass(obj):
                continue
            for attribute, value in vars(obj).items():
                if isinstance(value, staticmethod | classmethod):
                    value = value.__func__
                if not attribute.startswith("_") and inspect.isfunction(value):
                    found.append((f"{module_name}.{name}.{attribute}", value))
    return found


PUBLIC = public_objects()


def test_the_public_surface_is_found():
    names = {name for name, _ in PUBLIC}
    assert {
        "moeids.moe.MoEClassifier.fit",
        "moeids.serving.create_app",
        "moeids.persistence.load",
    } <= names
    assert len(PUBLIC) > 100


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_public_docstring_is_complete(name, obj):
    missing = set(missing_sections(obj)) - ALLOWED_MISSING.get(name, set())
    assert not missing, f"{name} lacks the docstring section(s) {sorted(missing)}"


def test_allow_list_names_only_public_objects_that_lack_the_section():
    objects = dict(PUBLIC)
    for name, allowed in ALLOWED_MISSING.items():
        assert name in objects, f"{name} in ALLOWED_MISSING is not public"
        assert allowed <= set(missing_sections(objects[name])), f"{name} no longer lacks it"


def _complete(x, y=0):
    """Sum of two numbers.

    Parameters
    ----------
    x, y : float

    Returns
    -------
    total : float

    Examples
    --------
    >>> _complete(1, 2)
    3
    """
    return x + y


def _no_examples(x):
    """Twice x.

    Parameters
    ----------
    x : float

    Returns
    -------
    twice : float
    """
    return 2 * x


def _no_returns(x):
    """Twice x.

    Parameters
    ----------
    x : float

    Examples
    --------
    >>> _no_returns(2)
    4
    """
    return 2 * x


def _writes(path):
    """Write nothing, return nothing: needs no Returns.

    Parameters
    ----------
    path : str

    Examples
    --------
    >>> _writes("x")
    """
    if not path:
        return None


class _Thing:
    """A thing.

    Examples
    --------
    >>> _Thing(1).size
    1
    """

    def __init__(self, size):
        self.size = size


def test_the_checker_reports_each_missing_section():
    assert missing_sections(_complete) == []
    assert missing_sections(_writes) == []
    assert missing_sections(_no_examples) == ["Examples"]
    assert missing_sections(_no_returns) == ["Returns"]
    assert missing_sections(_Thing) == ["Parameters"]
    assert missing_sections(lambda: None) == ["Examples"]
