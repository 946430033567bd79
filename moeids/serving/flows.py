"""Request bodies -> validated flow matrices, with errors that name the row and the field.

A body is one flow (a JSON object of feature name -> value), a list of flows, or
``{"flows": [...]}``. Feature names are matched after the splitter's header cleaning
(surrounding whitespace and a byte-order mark removed). Absent and ``null`` fields are
missing features (NaN), never zeros. Numeric features take JSON numbers; categorical ones
take numbers or strings. Anything else -- a string in a numeric field, ``true``, an array,
the non-JSON tokens ``NaN``/``Infinity``, a number beyond float64 -- is an error naming the
row and the field; fields the model does not know are ignored and reported.

Bodies are parsed with orjson (the standard parser only for what orjson refuses, to tell
the NaN tokens and other errors apart). Rows that list the same fields in the same order
-- what a client sends -- are read column by column, with the field layout remembered per
field list; any other batch, and any batch with a problem, is read row by row, which names
each error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter

import numpy as np
import orjson
import pandas as pd

from ..features.names import GROUPS
from ..scoring import split_model
from .profiles import PROFILE_ATTR, extractor_names, profile_names, request_profile

__all__ = ["FeatureSpec", "ParsedFlows", "RequestError", "parse_flows"]

MAX_REPORTED = 20  # errors and unknown field names listed in one response at most
_MAX_LAYOUTS = 256  # distinct field lists whose column layout a spec remembers
_LARGEST_INT = int(np.finfo(np.float64).max)
_PLAIN_NUMERIC = frozenset({int, float, type(None)})  # bool is not one of them
_PLAIN_CATEGORICAL = _PLAIN_NUMERIC | {str}


class RequestError(Exception):
    """A request the service refuses: HTTP ``status``, a message, and per-field errors.

    Parameters
    ----------
    status : int
        HTTP status (4xx, or 503 when overloaded).
    message : str
        One line that names the row and field when there is one.
    errors : list of dict, optional
        ``{"row": int, "field": str or None, "message": str}`` per problem found.
    headers : dict, optional
        Extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(self, status, message, errors=(), headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)
        self.headers = headers or {}


def canonical_name(name: str) -> str:
    """A header as the splitter reads it: byte-order mark and surrounding whitespace gone."""
    return name.replace("\ufeff", "").strip()


@dataclass(frozen=True)
class FeatureSpec:
    """The input fields a fitted model expects, by group.

    Attributes
    ----------
    groups : dict of str -> list of str
        Input feature names per group (``tabular``, ``temporal``, ``categorical``).
    numeric, categorical : tuple of str
        Columns of the numeric and the categorical matrix of :class:`ParsedFlows`.
    named : bool
        Whether the model reads a DataFrame by column name (False for a bare
        classifier fitted on an array).
    vocabulary : bool
        Whether a splitter reads the flows, so that other extractors' names are accepted.
    """

    groups: dict
    numeric: tuple
    categorical: tuple
    named: bool = True
    vocabulary: bool = True
    lookup: dict = field(init=False, repr=False, compare=False)
    layouts: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        lookup = {name: (False, j) for j, name in enumerate(self.numeric)}
        lookup.update({name: (True, j) for j, name in enumerate(self.categorical)})
        object.__setattr__(self, "lookup", lookup)
        object.__setattr__(self, "layouts", {})  # field names -> _Layout (see _layout)

    @classmethod
    def from_model(cls, model) -> FeatureSpec:
        """The spec of a fitted ``Pipeline(FeatureSplitter, MoEClassifier)`` or bare
        ``MoEClassifier`` (whose inputs are the ``group__column`` names, all numeric)."""
        preprocessing, classifier = split_model(model)
        if preprocessing is None:
            names = [str(n) for n in classifier._feature_names()]
            kinds = list(classifier.feature_groups_)
            groups = {g: [n for n, k in zip(names, kinds, strict=True) if k == g] for g in GROUPS}
            named = getattr(classifier, "feature_names_in_", None) is not None
            return cls(groups, tuple(names), (), named, vocabulary=False)
        groups = getattr(preprocessing[0], "feature_groups_", None)
        if groups is None:
            raise TypeError(
                "the model must be a fitted Pipeline(FeatureSplitter, MoEClassifier) or a "
                f"fitted MoEClassifier; its first step is {type(preprocessing[0]).__name__}"
            )
        numeric = (*groups["tabular"], *groups["temporal"])
        return cls({g: list(groups[g]) for g in GROUPS}, numeric, tuple(groups["categorical"]))

    def frame(self, numeric: np.ndarray, categorical: np.ndarray, profile=None):
        """The model's input for stacked matrices: a DataFrame (or an array, unnamed).

        Categorical columns without text join the float block (one block, cheap to make);
        a column with text stays an object column, as the splitter reads text. With an
        extractor ``profile``, columns carry that extractor's names and ``attrs`` names it.
        """
        if not self.named:
            return numeric
        text = [any(type(v) is str for v in categorical[:, j]) for j in range(categorical.shape[1])]
        plain = [j for j, has_text in enumerate(text) if not has_text]
        block = np.hstack([numeric, categorical[:, plain].astype(np.float64)])
        names = [*self.numeric, *(self.categorical[j] for j in plain)]
        frame = pd.DataFrame(block, columns=names, copy=False)
        for j in np.flatnonzero(text):
            frame[self.categorical[j]] = categorical[:, j]
        if profile is not None:
            frame.columns = profile_names(frame.columns, profile)
            frame.attrs[PROFILE_ATTR] = profile
        return frame


@dataclass
class ParsedFlows:
    """Flows of one request, validated: a float64 and an object matrix, row-aligned."""

    numeric: np.ndarray  # (n_flows, len(spec.numeric)), NaN = missing
    categorical: np.ndarray  # (n_flows, len(spec.categorical)), None = missing
    unknown_fields: list
    profile: str | None = None  # the extractor whose names the request used, if not canonical

    @property
    def n_flows(self) -> int:
        return len(self.numeric)


class _NonFinite:
    """What the JSON parser returns for the non-standard tokens NaN, Infinity, -Infinity."""

    def __init__(self, token):
        self.token = token


def _describe(value) -> str:
    if isinstance(value, _NonFinite):
        return f"{value.token}, which is not JSON (send null for a missing value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r:.40}" + ("" if _is_number(value) else " (beyond float64)")
    return {list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _is_number(value) -> bool:
    kind = type(value)
    if kind is float:
        return math.isfinite(value)  # 1e999 parses as inf
    return kind is int and -_LARGEST_INT <= value <= _LARGEST_INT


def _field_error(row, key, value, categorical):
    expected = "a number, a string or null" if categorical else "a number or null"
    return {
        "row": row,
        "field": key,
        "message": f"row {row}, field {key!r}: expected {expected}, got {_describe(value)}",
    }


def _load(body: bytes):
    """The JSON value of ``body``: orjson (fast) for UTF-8 standard JSON; the standard
    parser for the rest, so that the NaN/Infinity tokens and integers beyond 64 bits reach
    the field checks and real errors get its message."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # also UTF-16/32 bodies and a byte-order mark, which json reads
    try:
        return json.loads(body, parse_constant=_NonFinite)
    except RecursionError:
        raise RequestError(400, "the body nests JSON too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, huge integers
        raise RequestError(400, f"the body is not valid JSON: {exc}") from None


def _rows(body: bytes, max_flows: int) -> list:
    """The list of flow objects in a request body (not yet validated)."""
    data = _load(body)
    if isinstance(data, dict) and len(data) == 1 and "flows" in data:
        data = data["flows"]
        if not isinstance(data, list):
            raise RequestError(422, "field 'flows' must be a list of flow objects")
    elif isinstance(data, dict):
        data = [data]
    elif not isinstance(data, list):
        raise RequestError(
            422,
            "the body must be a JSON object (one flow), a list of flows or "
            f'{{"flows": [...]}}; got {_describe(data)}',
        )
    if not data:
        raise RequestError(422, "the batch is empty: send at least one flow")
    if len(data) > max_flows:
        raise RequestError(
            413, f"the batch has {len(data)} flows, over the limit of {max_flows} per request"
        )
    return data


def _fill_row(i, row, spec, numeric, categorical, unknown, errors, renames=None):
    """Copy one flow object into the lists ``numeric`` and ``categorical`` (row ``i``);
    append its problems to ``errors``. The hot loop of the service: kept flat."""
    if type(row) is not dict:
        message = f"row {i}: expected a JSON object of feature name -> value, got {_describe(row)}"
        errors.append({"row": i, "field": None, "message": message})
        return
    lookup, known, renamed = spec.lookup, 0, False
    for key, value in row.items():
        slot = None if renames else lookup.get(key)
        if slot is None:
            name = canonical_name(key)
            slot = lookup.get(renames.get(name, name) if renames else name)
            if slot is None:
                if len(unknown) < MAX_REPORTED:
                    unknown.add(key)
                continue
            renamed = True
        known += 1
        if value is None:
            continue
        is_categorical, j = slot
        kind = type(value)
        if not is_categorical and (kind is float or kind is int and _is_number(value)):
            numeric[j] = value  # a float inf (1e999) is caught on the whole matrix
        elif is_categorical and (kind is str or _is_number(value)):
            categorical[j] = value
        else:
            errors.append(_field_error(i, key, value, is_categorical))
    if renamed:
        _check_duplicates(i, row, spec, errors, renames or {})
    if not known:
        fields = ", ".join(repr(k[:40]) for k in list(row)[:5]) or "none"
        message = (
            f"row {i}: none of its fields is a feature of the model (fields: {fields}); "
            "GET /metadata lists the expected features"
        )
        errors.append({"row": i, "field": None, "message": message})


def _check_duplicates(i, row, spec, errors, renames):
    """Two fields of a row that name the same feature once cleaned (" a" and "a")."""
    seen = {}
    for key in row:
        name = canonical_name(key)
        name = renames.get(name, name)
        if name in seen and name in spec.lookup:
            message = f"row {i}, fields {seen[name]!r} and {key!r} name the same feature"
            errors.append({"row": i, "field": key, "message": message})
        seen.setdefault(name, key)


def _infinite_cells(numeric, spec, rows, renames):
    """Errors for numbers that parsed as +/-inf (e.g. 1e999), by row and field."""
    errors = []
    for i, j in np.argwhere(np.isinf(numeric))[:MAX_REPORTED]:
        name = spec.numeric[j]
        key = next(k for k in rows[i] if renames.get(canonical_name(k), canonical_name(k)) == name)
        errors.append(_field_error(int(i), key, rows[i][key], False))
    return errors


def parse_flows(body: bytes, spec: FeatureSpec, *, max_flows: int) -> ParsedFlows:
    """Parse and validate a request body.

    Parameters
    ----------
    body : bytes
        The raw request body (UTF-8, -16 or -32 JSON).
    spec : FeatureSpec
        The fields the model expects.
    max_flows : int
        Most flows accepted in one request.

    Returns
    -------
    flows : ParsedFlows
        Matrices of shape (n_flows, len(spec.numeric)) and (n_flows, len(spec.categorical)).

    Raises
    ------
    RequestError
        400 for a body that is not JSON, 413 for too many flows, 422 for any invalid
        flow or field (every error found, up to ``MAX_REPORTED``, each naming its row and
        field).
    """
    rows = _rows(body, max_flows)
    parsed = _parse_rows(rows, spec, None)
    profile = None
    if spec.vocabulary and not extractor_names().isdisjoint(map(canonical_name, parsed[2])):
        profile, renames = request_profile(rows)  # fields named by another extractor
        if profile is not None:
            parsed = _parse_rows(rows, spec, renames)
    numeric, categorical, unknown, errors = parsed
    if errors:
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        raise RequestError(422, errors[0]["message"] + more, errors[:MAX_REPORTED])
    return ParsedFlows(numeric, categorical, sorted(unknown), profile)


def _parse_rows(rows, spec, renames):
    """(numeric matrix, categorical matrix, unknown field names, errors) of ``rows``:
    column-wise when that finds nothing wrong, else row by row (which names each error)."""
    return _read_columns(rows, spec, renames) or _read_rows(rows, spec, renames)


def _read_rows(rows, spec, renames):
    """:func:`_parse_rows` one row and one field at a time."""
    empty_numeric, empty_categorical = [np.nan] * len(spec.numeric), [None] * len(spec.categorical)
    numeric, categorical = [], []
    unknown, errors = set(), []
    for i, row in enumerate(rows):
        numeric.append(empty_numeric.copy())
        categorical.append(empty_categorical.copy())
        _fill_row(i, row, spec, numeric[i], categorical[i], unknown, errors, renames)
        if len(errors) >= MAX_REPORTED:
            break
    if errors:
        return None, None, unknown, errors
    numeric = np.array(numeric, dtype=np.float64).reshape(len(rows), len(spec.numeric))
    errors = _infinite_cells(numeric, spec, rows, renames or {})
    categorical = np.array(categorical, dtype=object).reshape(len(rows), len(spec.categorical))
    return numeric, categorical, unknown, errors


@dataclass(frozen=True)
class _Layout:
    """Where the fields of one field list go: numeric fields to columns of the numeric
    matrix, categorical ones to columns of the categorical matrix; the rest is unknown."""

    numeric_get: object  # row -> tuple of the numeric fields' values
    numeric_columns: np.ndarray
    categorical_keys: tuple
    categorical_columns: tuple
    unknown: frozenset


def _getter(keys):
    """``row -> tuple of row[key] for key in keys`` (itemgetter returns a bare value for
    one key)."""
    if len(keys) == 1:
        key = keys[0]
        return lambda row: (row[key],)
    return itemgetter(*keys)


def _layout(keys: tuple, spec: FeatureSpec, renames):
    """The :class:`_Layout` of the field list ``keys``, or None if a row with these fields
    is an error (no feature among them, or two fields naming one feature)."""
    numeric, categorical, unknown, taken = [], [], [], set()
    for key in keys:
        name = canonical_name(key)
        slot = spec.lookup.get(renames.get(name, name) if renames else name)
        if slot is None:
            if len(unknown) < MAX_REPORTED:
                unknown.append(key)
            continue
        if slot in taken:
            return None
        taken.add(slot)
        (categorical if slot[0] else numeric).append((key, slot[1]))
    if not taken:
        return None
    return _Layout(
        _getter([k for k, _ in numeric]) if numeric else None,
        np.array([j for _, j in numeric], dtype=np.intp),
        tuple(k for k, _ in categorical),
        tuple(j for _, j in categorical),
        frozenset(unknown),
    )


def _cached_layout(keys: tuple, spec: FeatureSpec, renames):
    """:func:`_layout`, remembered per field list for canonical names (clients send the
    same fields request after request)."""
    if renames:
        return _layout(keys, spec, renames)
    try:
        return spec.layouts[keys]
    except KeyError:
        pass
    if len(spec.layouts) >= _MAX_LAYOUTS:
        spec.layouts.clear()
    layout = spec.layouts[keys] = _layout(keys, spec, renames)
    return layout


def _read_columns(rows, spec, renames):
    """:func:`_parse_rows` for rows that all have the same fields in the same order and
    only valid values, read one column block at a time; None otherwise (the row-wise reader
    then finds and names the problems)."""
    first = rows[0]
    if type(first) is not dict:
        return None
    keys = tuple(first)
    if any(type(row) is not dict or tuple(row) != keys for row in rows[1:]):
        return None
    layout = _cached_layout(keys, spec, renames)
    if layout is None:
        return None
    numeric = np.full((len(rows), len(spec.numeric)), np.nan)
    if layout.numeric_get is not None:
        values = list(map(layout.numeric_get, rows))
        if not _PLAIN_NUMERIC.issuperset(map(type, chain.from_iterable(values))):
            return None  # a string, a bool, an array... in a numeric field
        try:
            block = np.array(values, dtype=np.float64)  # None -> NaN
        except OverflowError:  # an integer beyond float64
            return None
        if np.isinf(block).any():  # 1e999
            return None
        numeric[:, layout.numeric_columns] = block
    categorical = np.full((len(rows), len(spec.categorical)), None, dtype=object)
    for key, j in zip(layout.categorical_keys, layout.categorical_columns, strict=True):
        column = [row[key] for row in rows]
        if not _categories(column):
            return None
        categorical[:, j] = column
    return numeric, categorical, set(layout.unknown), []


def _categories(column) -> bool:
    """Whether every value of a categorical column is a string, null or a finite number."""
    kinds = set(map(type, column))
    if not _PLAIN_CATEGORICAL.issuperset(kinds):
        return False
    if kinds.isdisjoint((int, float)):
        return True
    try:
        numbers = np.array([v for v in column if type(v) in (int, float)], dtype=np.float64)
    except OverflowError:
        return False
    return bool(np.isfinite(numbers).all())
