"""Fit-time helpers of FeatureSplitter: feature_groups checks, vocabularies, the verbose report."""

from numbers import Integral

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype

from ._values import category_values, is_text
from .groups import EXCLUDED, assign_group
from .names import GROUPS, clean_header
from .vocabulary import PROFILES


def check_feature_groups(fg):
    """Check a ``feature_groups`` dict (groups known, lists of names, no name twice)."""
    if not isinstance(fg, dict):
        return
    seen = {}
    for group, cols in fg.items():
        if group not in GROUPS:
            raise ValueError(
                f"feature_groups has unknown group {group!r}; expected some of {GROUPS}."
            )
        if isinstance(cols, str) or not all(isinstance(c, str) for c in cols):
            raise TypeError(
                f"feature_groups[{group!r}] must be a list of column names, got {cols!r}."
            )
        for col in cols:
            key = clean_header(col)
            if key in seen:
                raise ValueError(
                    f"Column {key!r} is listed twice in feature_groups "
                    f"({seen[key]!r} and {group!r})."
                )
            seen[key] = group


def assign_groups(fg, columns, named, profile):
    """Group the input columns by ``feature_groups`` ``fg``: (groups, excluded)."""
    groups = {g: [] for g in GROUPS}
    excluded = {}
    if isinstance(fg, dict):
        rename = PROFILES[profile].names if profile is not None else {}
        listed = {}
        for group in GROUPS:
            for col in fg.get(group, ()):
                name = clean_header(col)
                name = rename.get(name, name)
                if group == "categorical" and name not in columns:
                    raise ValueError(
                        f"Categorical column {name!r} of feature_groups is absent from X; "
                        "its vocabulary cannot be learned."
                    )
                groups[group].append(name)
                listed[name] = group
        excluded = {n: "not listed in feature_groups" for n in columns if n not in listed}
        return groups, excluded
    preset = None if fg == "auto" else fg
    for name, col in columns.items():
        group, reason = assign_group(
            name if named else None,
            is_text=lambda col=col, name=name: is_text(col, name),
            is_datetime=is_datetime64_any_dtype(col.dtype),
            preset=preset,
        )
        if group == EXCLUDED:
            excluded[name] = reason
        else:
            groups[group].append(name)
    return groups, excluded


def fit_categories(col, max_categories, min_frequency):
    """Vocabulary, infrequent values and kind (True: numeric) of one categorical column."""
    numeric = not is_text(col, col.name)
    counts = category_counts(col, numeric)
    vocab, infrequent = vocabulary(counts, len(col), numeric, max_categories, min_frequency)
    return vocab, infrequent, numeric


def category_counts(col, numeric):
    """Count of each present value of one categorical column (a Series indexed by value)."""
    values, missing = category_values(col, numeric, col.name)
    return pd.Series(values[~missing]).value_counts(sort=False)


def merge_counts(a, b):
    """Sum of two :func:`category_counts` Series (values seen in either)."""
    return a.add(b, fill_value=0).astype(np.int64)


def vocabulary(counts, n_rows, numeric, max_categories, min_frequency):
    """Vocabulary and infrequent values from value ``counts`` over ``n_rows`` rows.

    The most frequent values (ties by value) that pass ``min_frequency`` (a count, or a
    fraction of ``n_rows``) and ``max_categories`` make the vocabulary, in that order.
    """
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    if isinstance(min_frequency, Integral):
        min_count = min_frequency
    else:
        min_count = min_frequency * n_rows
    keep = counts.to_numpy() >= min_count
    if max_categories is not None:
        keep &= np.arange(len(counts)) < max_categories
    vocab = counts.index.to_numpy()
    if numeric:
        vocab = vocab.astype(np.float64)
        if np.all(vocab == np.round(vocab)):
            vocab = vocab.astype(np.int64)
    return vocab[keep], vocab[~keep]


def report(splitter):
    """Print what a fitted FeatureSplitter did (``verbose > 0``)."""
    counts = ", ".join(f"{len(splitter.feature_groups_[g])} {g}" for g in GROUPS)
    print(
        f"[FeatureSplitter] profile {splitter.profile_!r}; {counts}; "
        f"{len(splitter.excluded_features_)} excluded"
    )
    if splitter.renamed_features_:
        print(f"  renamed to canonical names: {splitter.renamed_features_}")
    for group in GROUPS:
        if splitter.feature_groups_[group]:
            print(f"  {group}: {splitter.feature_groups_[group]}")
    for name, reason in splitter.excluded_features_.items():
        print(f"  excluded {name!r}: {reason}")
    for name, cut in splitter.infrequent_categories_.items():
        if len(cut):
            print(f"  {name!r}: {len(cut)} infrequent value(s) map to the unknown code 0")
