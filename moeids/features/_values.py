"""Cell parsing for flow tables: numbers (also as text), text categories, missing markers."""

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from .._numeric import numpy_numeric

_FLOAT32_MAX = float(np.finfo(np.float32).max)
MISSING_TOKENS = frozenset({"", "nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})


def is_plain_numeric(dtype):
    """Boolean or real numeric dtype (complex excluded)."""
    return is_bool_dtype(dtype) or (is_numeric_dtype(dtype) and dtype.kind != "c")


def _missing_mask(values):
    """Mask of the cells of an object array that are missing (None, NaN, '', 'inf', ...)."""
    strings = pd.Series(values, dtype=object).astype(str).str.strip().str.lower()
    return pd.isna(values) | strings.isin(MISSING_TOKENS).to_numpy()


def _reject_complex(col, name):
    raise TypeError(
        f"Column {name!r} holds complex numbers (dtype {col.dtype}); flow features must be "
        "real. Take the real part, modulus or angle yourself if that is what you mean."
    )


def parse_numeric(col, name=None):
    """Parse a non-numeric column: float64 values and the mask of unparsable cells."""
    if col.dtype.kind == "c":
        _reject_complex(col, name)
    raw = col.to_numpy(dtype=object)
    try:  # fast path: every cell is a real number or a number as text ("Infinity" included)
        with warnings.catch_warnings():  # a NumPy complex scalar would lose its imaginary part
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            values = raw.astype(np.float64)
        return values, np.zeros(len(values), dtype=bool)
    except (TypeError, ValueError, np.exceptions.ComplexWarning):
        pass
    parsed = pd.to_numeric(col.astype(object), errors="coerce")
    if parsed.dtype.kind == "c":
        _reject_complex(col, name)
    values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    failed = np.flatnonzero(np.isnan(values))
    bad = np.zeros(len(values), dtype=bool)
    if failed.size:
        bad[failed] = ~_missing_mask(raw[failed])
    return values, bad


def plain_float64(col):
    """float64 values of a numeric or boolean column, NaN where missing."""
    if isinstance(col.dtype, np.dtype):  # NumPy dtypes hold no NA but NaN: skip the NA scan
        return col.to_numpy(dtype=np.float64)
    return col.to_numpy(dtype=np.float64, na_value=np.nan)  # nullable extension dtypes


def numeric_values(col, name, group):
    """float64 values of a numeric column (+/-inf kept, missing as NaN); may share memory."""
    if is_plain_numeric(col.dtype):
        return plain_float64(col)
    values, bad = parse_numeric(col, name)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"Column {name!r} ({group}) must be numeric but holds the non-numeric value "
            f"{col.iloc[i]!r} (row {col.index[i]!r})."
        )
    return values


def is_text(col, name=None):
    """Whether a column holds values that do not parse as numbers."""
    if is_plain_numeric(col.dtype) or is_datetime64_any_dtype(col.dtype):
        return False
    return bool(parse_numeric(col, name)[1].any())


def text_values(col):
    """Stripped strings of a column and its missing mask."""
    raw = col.to_numpy(dtype=object)
    strings = pd.Series(raw, dtype=object).astype(str).str.strip()
    missing = pd.isna(raw) | strings.str.lower().isin(MISSING_TOKENS).to_numpy()
    return strings.to_numpy(dtype=object), missing


def category_values(col, numeric, name=None):
    """Values of a categorical column in the vocabulary's kind, and its missing mask."""
    if not numeric:
        return text_values(col)
    if is_plain_numeric(col.dtype):
        values = plain_float64(col)
        return values, ~np.isfinite(values)
    values, bad = parse_numeric(col, name)
    # unparsable text is an unseen category (code 0), not a missing value
    return values, ~np.isfinite(values) & ~bad


def category_codes(categories, values, numeric):
    """Code of each value: 1 + its position in ``categories``, 0 when not there.

    Numeric vocabularies (exactly representable as float64) are searched with
    ``np.searchsorted``, without building a ``pd.Index`` per call; text ones with
    ``pd.Index.get_indexer``.
    """
    ordered = np.asarray(categories, dtype=np.float64) if numeric else None
    if ordered is None or not len(ordered) or np.abs(ordered).max() >= 2.0**53:
        return pd.Index(categories).get_indexer(values) + 1
    order = np.argsort(ordered, kind="stable")
    ordered = ordered[order]
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return np.where(ordered[at] == values, order[at] + 1, 0)


def check_unique(names):
    """Raise if a column name occurs twice."""
    if len(set(names)) < len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(
            f"Column {dup!r} appears more than once in X (after stripping whitespace "
            "and renaming to canonical names)."
        )


def beyond_float32(values):
    """Mask of the finite ``values`` that a float32 cannot hold (they would become inf)."""
    return np.isfinite(values) & (np.abs(values) > _FLOAT32_MAX)


def check_float32_range(values, col, name):
    """Raise on finite values that a float32 output cannot hold (they would become inf)."""
    big = beyond_float32(values)
    if big.any():
        i = int(np.argmax(big))
        raise ValueError(
            f"Column {name!r} holds {float(values[i]):g} (row {col.index[i]!r}), beyond the "
            f"float32 range (+/-{_FLOAT32_MAX:.3g}) of the output; use scaling='log-standard' or "
            "rescale the column."
        )


class FrameColumns(Mapping):
    """The columns of a DataFrame by name, as Series made only when looked up.

    ``frame`` stays reachable, so that :func:`numeric_block` can read many numeric columns
    in one step instead of one Series at a time.
    """

    def __init__(self, frame):
        self.frame = frame

    def __getitem__(self, name):
        return self.frame[name]

    def __iter__(self):
        return iter(self.frame.columns)

    def __len__(self):
        return self.frame.shape[1]

    def __contains__(self, name):
        return name in self.frame.columns


def numeric_block(columns, names):
    """float64 matrix (n_rows, len(names)) of ``names``, read at once; None unless
    ``columns`` is a :class:`FrameColumns` that has every name with a plain NumPy numeric
    dtype (then the column-by-column path gives the same values)."""
    if not isinstance(columns, FrameColumns):
        return None
    frame = columns.frame  # its column names are unique (the splitter checks)
    at = frame.columns.get_indexer(names)
    if (at < 0).any():
        return None
    if numpy_numeric(frame.dtypes):
        # the whole frame in one conversion, then the columns (a copy): a few times faster
        # than the sub-frame below, most of all for few rows
        return frame.to_numpy(dtype=np.float64)[:, at]
    block = frame[names]
    if not numpy_numeric(block.dtypes):
        return None
    # a copy: the caller writes NaN over +/-inf, and a view would be the user's frame (or,
    # with pandas 3's copy-on-write, read-only)
    return block.to_numpy(dtype=np.float64, copy=True)


def check_float32_block(values, columns, names):
    """:func:`check_float32_range` of each column of ``values`` (n_rows, len(names)), in one
    pass when none is out of range."""
    big = beyond_float32(values)
    if big.any():
        j = int(np.argmax(big.any(axis=0)))
        check_float32_range(values[:, j], columns[names[j]], names[j])
