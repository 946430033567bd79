"""The column-name contract between :class:`FeatureSplitter` and the models.

The splitter names each output column ``group__column`` with ``group`` in :data:`GROUPS`;
a model reads the groups back from those names once, in ``fit``. A name without a known
group prefix (or no names at all, a plain matrix) is tabular.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EXPERTS",
    "GROUPS",
    "feature_groups_from_names",
    "feature_name",
    "input_name",
    "missing_names",
]

GROUPS = ("tabular", "temporal", "categorical")
"""Feature groups, in the splitter's output order."""

EXPERTS = ("tabular", "temporal")
"""The experts of :class:`moeids.MoEClassifier`; categorical columns feed the tabular one."""

_SEPARATOR = "__"


def clean_header(name) -> str:
    """A column header as written by a CSV export, without a byte-order mark or the
    surrounding spaces (CICFlowMeter writes ``" Flow Duration"``)."""
    return str(name).replace("\ufeff", "").strip()


def feature_name(group: str, column: str) -> str:
    """Output name of input ``column`` in ``group``: ``"group__column"``.

    Parameters
    ----------
    group : str
        One of :data:`GROUPS`.
    column : str
        Input column name.

    Returns
    -------
    name : str

    Examples
    --------
    >>> feature_name("temporal", "Flow IAT Mean")
    'temporal__Flow IAT Mean'
    """
    if group not in GROUPS:
        raise ValueError(f"group {group!r} is not one of {GROUPS}")
    return f"{group}{_SEPARATOR}{column}"


def input_name(name) -> str:
    """Input column of an output name: ``"temporal__Flow Duration"`` -> ``"Flow Duration"``.

    Parameters
    ----------
    name : str
        An output name; one without a known group prefix is returned unchanged.

    Returns
    -------
    column : str

    Examples
    --------
    >>> input_name("temporal__Flow IAT Mean")
    'Flow IAT Mean'
    """
    prefix, sep, rest = str(name).partition(_SEPARATOR)
    return rest if sep and prefix in GROUPS else str(name)


def feature_groups_from_names(names) -> np.ndarray:
    """Group of each column from its ``group__column`` name.

    Parameters
    ----------
    names : array-like of str of shape (n_features,)

    Returns
    -------
    groups : ndarray of str of shape (n_features,)
        ``"tabular"``, ``"temporal"`` or ``"categorical"``; names without a known group
        prefix are ``"tabular"``.

    Examples
    --------
    >>> feature_groups_from_names(["tabular__Protocol", "temporal__Flow IAT Mean"])
    array(['tabular', 'temporal'], dtype=object)
    """
    groups = []
    for name in names:
        prefix, sep, _ = str(name).partition(_SEPARATOR)
        groups.append(prefix if sep and prefix in GROUPS else "tabular")
    return np.asarray(groups, dtype=object)


def missing_names(values: np.ndarray, names) -> list[list[str]]:
    """Names of the NaN cells of each row.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features)
        NaN marks a missing value.
    names : array-like of str of shape (n_features,)

    Returns
    -------
    missing : list of n_samples lists of str

    Examples
    --------
    >>> import numpy as np
    >>> from moeids.features.names import missing_names
    >>> missing_names(np.array([[1.0, np.nan], [np.nan, np.nan]]), ["a", "b"])
    [['b'], ['a', 'b']]
    """
    rows, cols = np.nonzero(np.isnan(values))
    split_at = np.searchsorted(rows, np.arange(1, len(values)))
    return [list(part) for part in np.split(np.asarray(names, dtype=object)[cols], split_at)]
