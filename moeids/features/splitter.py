"""FeatureSplitter: raw flow columns -> one float32 matrix for the experts (NaN = missing)."""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from moeids.features.groups import EXCLUDED, GROUPS, PRESETS, assign_group

__all__ = ["FeatureSplitter", "MissingFeaturesWarning"]

_MISSING = ("mask", "zero", "mean", "median")
_SCALINGS = ("log-standard", "standard", None)
_MISSING_TOKENS = frozenset(
    {"", "nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)


class MissingFeaturesWarning(UserWarning):
    """Columns seen in ``fit`` are absent from ``X``; their output columns are missing."""


def _is_plain_numeric(dtype):
    return is_bool_dtype(dtype) or (is_numeric_dtype(dtype) and dtype.kind != "c")


def _missing_mask(values):
    """Mask of the cells of an object array that are missing (None, NaN, '', 'inf', ...)."""
    strings = pd.Series(values, dtype=object).astype(str).str.strip().str.lower()
    return pd.isna(values) | strings.isin(_MISSING_TOKENS).to_numpy()


def _parse_numeric(col):
    """Parse a non-numeric column: float64 values and the mask of unparsable cells."""
    try:  # fast path: every cell is a number or a number as text ("Infinity" included)
        values = col.to_numpy(dtype=object).astype(np.float64)
        return values, np.zeros(len(values), dtype=bool)
    except (TypeError, ValueError):
        pass
    values = pd.to_numeric(col.astype(object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    failed = np.flatnonzero(np.isnan(values))
    bad = np.zeros(len(values), dtype=bool)
    if failed.size:
        bad[failed] = ~_missing_mask(col.to_numpy(dtype=object)[failed])
    return values, bad


def _plain_float64(col):
    """float64 values of a numeric or boolean column, NaN where missing."""
    if isinstance(col.dtype, np.dtype):  # NumPy dtypes hold no NA but NaN: skip the NA scan
        return col.to_numpy(dtype=np.float64)
    return col.to_numpy(dtype=np.float64, na_value=np.nan)  # nullable extension dtypes


def _numeric_values(col, name, group):
    """float64 values of a numeric column (+/-inf kept, missing as NaN); may share memory."""
    if _is_plain_numeric(col.dtype):
        return _plain_float64(col)
    values, bad = _parse_numeric(col)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"Column {name!r} ({group}) must be numeric but holds the non-numeric value "
            f"{col.iloc[i]!r} (row {col.index[i]!r})."
        )
    return values


def _is_text(col):
    """Whether a column holds values that do not parse as numbers."""
    if _is_plain_numeric(col.dtype) or is_datetime64_any_dtype(col.dtype):
        return False
    return bool(_parse_numeric(col)[1].any())


def _text_values(col):
    """Stripped strings of a column and its missing mask."""
    raw = col.to_numpy(dtype=object)
    strings = pd.Series(raw, dtype=object).astype(str).str.strip()
    missing = pd.isna(raw) | strings.str.lower().isin(_MISSING_TOKENS).to_numpy()
    return strings.to_numpy(dtype=object), missing


def _category_values(col, numeric):
    """Values of a categorical column in the vocabulary's kind, and its missing mask."""
    if not numeric:
        return _text_values(col)
    if _is_plain_numeric(col.dtype):
        values = _plain_float64(col)
        return values, ~np.isfinite(values)
    values, bad = _parse_numeric(col)
    # unparsable text is an unseen category (code 0), not a missing value
    return values, ~np.isfinite(values) & ~bad


def _signed_log1p(x):
    return np.sign(x) * np.log1p(np.abs(x))


class FeatureSplitter(TransformerMixin, BaseEstimator):
    """Split raw flow columns into tabular, temporal and categorical features.

    Cleans, groups, scales and encodes a table of flow features into one float32
    DataFrame in which NaN means *missing*: columns are ordered tabular, temporal,
    categorical and named ``group__column`` (see :meth:`get_feature_names_out`), so
    that the next step of a Pipeline can split them by group.
    Header whitespace is stripped; NaN, None, empty strings and +/-inf (also as text,
    e.g. ``"Infinity"``) are missing; numbers stored as text are parsed. Columns seen
    in ``fit`` but absent from ``X`` at transform are missing (one
    :class:`MissingFeaturesWarning` per call); unknown extra columns are ignored.

    Parameters
    ----------
    feature_groups : "auto", str or dict, default="auto"
        How columns are assigned to groups. ``"auto"`` uses the name and dtype rules of
        ``moeids.features.groups`` (identifiers, timestamps and labels are excluded);
        a preset name (``"cicids2017"``, ``"unsw_nb15"``, ``"ciciot2023"``,
        ``"rt_iot2022"``, ``"nsl_kdd"``) applies that dataset's documented decisions
        first, then the same rules. A dict ``{group: [columns]}`` with groups among
        ``"tabular"``, ``"temporal"``, ``"categorical"`` is used as given; other
        columns are excluded.
    missing : {"mask", "zero", "mean", "median"}, default="mask"
        ``"mask"`` leaves missing cells as NaN for the model to mask. The others fill
        them in the scaled space: ``"zero"`` with the raw value 0 passed through the
        scaler, ``"mean"``/``"median"`` with the training mean/median of the scaled
        column. Categorical cells get the unknown code 0 (``"zero"``) or the most
        frequent code 1 (``"mean"``, ``"median"``).
    scaling : {"log-standard", "standard"} or None, default="log-standard"
        Scaling of numeric columns. ``"log-standard"`` maps ``x -> sign(x) log1p(|x|)``
        and then standardises with NaN-aware training statistics, which tames the heavy
        tails of flow counters; ``"standard"`` standardises raw values; ``None`` keeps
        raw values. Constant or all-missing columns get scale 1.
    max_categories : int or None, default=64
        Vocabulary size cap per categorical column: the most frequent values (ties by
        value) get codes ``1..k``; the others, and values unseen in ``fit``, get the
        unknown code 0. ``None`` means no cap.
    min_frequency : int or float, default=1
        Values rarer than this in ``fit`` get the unknown code 0: a count if an int,
        a fraction of the samples if a float in (0, 1).
    verbose : int, default=0
        If > 0, print the groups and the excluded columns with reasons in ``fit``.

    Attributes
    ----------
    feature_groups_ : dict of str -> list of str
        Input columns of each group (keys ``tabular``, ``temporal``, ``categorical``)
        in output order.
    excluded_features_ : dict of str -> str
        Input columns left out of the output and the reason for each.
    categories_ : dict of str -> ndarray
        Vocabulary of each categorical column; ``categories_[c][i]`` has code ``i + 1``.
    infrequent_categories_ : dict of str -> ndarray
        Values seen in ``fit`` that were cut by ``max_categories``/``min_frequency``
        and map to the unknown code 0.
    center_ : ndarray of shape (n_features_out,)
        Value subtracted from each output column after the log transform (0 for
        categorical columns).
    scale_ : ndarray of shape (n_features_out,)
        Divisor of each output column (1 for categorical columns).
    fill_values_ : ndarray of shape (n_features_out,)
        Value that replaces missing cells in each output column (NaN when
        ``missing="mask"``).
    n_features_in_ : int
        Number of columns seen in ``fit`` (excluded ones included).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Whitespace-stripped column names seen in ``fit``; only set when they are all
        strings.

    Examples
    --------
    >>> import pandas as pd
    >>> from moeids import FeatureSplitter
    >>> X = pd.DataFrame({" Flow Duration": [10, 200, 3], "Total Fwd Packet": [1, 4, 2],
    ...                   "Protocol": [6, 17, 6], "Src IP": ["a", "b", "c"]})
    >>> fs = FeatureSplitter().fit(X)
    >>> fs.get_feature_names_out().tolist()
    ['tabular__Total Fwd Packet', 'temporal__Flow Duration', 'categorical__Protocol']
    >>> fs.excluded_features_
    {'Src IP': 'IP address'}
    """

    def __init__(
        self,
        feature_groups="auto",
        *,
        missing="mask",
        scaling="log-standard",
        max_categories=64,
        min_frequency=1,
        verbose=0,
    ):
        self.feature_groups = feature_groups
        self.missing = missing
        self.scaling = scaling
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.verbose = verbose
        # The output is a DataFrame by default: its ``group__column`` names are what
        # tells the next step (MoEClassifier) which expert each column feeds, and a
        # Pipeline passes arrays on without names. set_output(transform="default")
        # gives a NumPy array instead.
        self._sklearn_output_config = {"transform": "pandas"}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Learn the groups, scaling statistics and vocabularies from ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Raw flow features.
        y : None
            Ignored.

        Returns
        -------
        self : FeatureSplitter
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit to ``X`` and return its transform (same as ``fit(X).transform(X)``).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Raw flow features.
        y : None
            Ignored.

        Returns
        -------
        Xt : DataFrame of shape (n_samples, n_features_out), dtype float32
            Columns named by :meth:`get_feature_names_out`; an ndarray after
            ``set_output(transform="default")``.
        """
        return self._fit(X)

    def _fit(self, X):
        self._validate_params()
        columns, names, named = self._read(X, fitting=True)
        groups, excluded = self._assign(columns, named)
        if not any(groups.values()):
            raise ValueError(
                f"No feature columns left in X: all {len(names)} columns are excluded "
                f"({_describe(excluded)})."
            )
        absent = [c for g in GROUPS for c in groups[g] if c not in columns]
        if absent:
            warnings.warn(
                f"{len(absent)} column(s) of feature_groups are absent from X and are "
                f"treated as all-missing: {absent}",
                MissingFeaturesWarning,
                stacklevel=3,
            )
        n_rows = len(next(iter(columns.values())))
        raw = self._numeric_matrix(columns, groups, n_rows)
        center, scale, fill = self._numeric_statistics(raw)
        vocabularies = {c: self._fit_categories(columns[c]) for c in groups["categorical"]}
        cat_fill = [
            float(self.missing in ("mean", "median") and len(vocabularies[c][0]) > 0)
            for c in groups["categorical"]
        ]

        self.n_features_in_ = len(names)
        if named:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.feature_groups_ = groups
        self.excluded_features_ = excluded
        self.categories_ = {c: v[0] for c, v in vocabularies.items()}
        self.infrequent_categories_ = {c: v[1] for c, v in vocabularies.items()}
        self._numeric_categories = {c: v[2] for c, v in vocabularies.items()}
        self._input_index = {name: i for i, name in enumerate(names)}
        n_cat = len(groups["categorical"])
        self.center_ = np.concatenate([center, np.zeros(n_cat)])
        self.scale_ = np.concatenate([scale, np.ones(n_cat)])
        self.fill_values_ = np.concatenate([fill, cat_fill]).astype(np.float32)
        if self.missing == "mask":
            self.fill_values_[:] = np.nan
        if self.verbose:
            self._report()
        return self._assemble(raw, columns, n_rows)

    def _numeric_statistics(self, raw):
        """Center, scale and fill value of each column of ``raw`` (taken after the log step)."""
        count = np.sum(~np.isnan(raw), axis=0)
        n = np.maximum(count, 1)
        mean = np.nansum(raw, axis=0) / n
        center, scale = np.zeros_like(mean), np.ones_like(mean)
        if self.scaling is not None:
            std = np.sqrt(np.nansum((raw - mean) ** 2, axis=0) / n)
            center, scale = mean, np.where(std > 0, std, 1.0)
        fill = (0.0 - center) / scale  # "zero", and for columns never seen in fit
        seen = count > 0
        if self.missing == "mean":
            fill[seen] = ((mean - center) / scale)[seen]
        elif self.missing == "median":
            fill[seen] = (np.nanmedian(raw[:, seen], axis=0) - center[seen]) / scale[seen]
        return center, scale, fill

    def _validate_params(self):
        fg = self.feature_groups
        if isinstance(fg, str):
            if fg != "auto" and fg not in PRESETS:
                raise ValueError(
                    f"feature_groups={fg!r} is not 'auto', a preset {sorted(PRESETS)} or "
                    "a dict {group: [columns]}."
                )
        elif isinstance(fg, dict):
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
                    key = col.replace("\ufeff", "").strip()
                    if key in seen:
                        raise ValueError(
                            f"Column {key!r} is listed twice in feature_groups "
                            f"({seen[key]!r} and {group!r})."
                        )
                    seen[key] = group
        else:
            raise TypeError(f"feature_groups must be 'auto', a preset name or a dict, got {fg!r}.")
        if self.missing not in _MISSING:
            raise ValueError(f"missing={self.missing!r} is not one of {_MISSING}.")
        if self.scaling not in _SCALINGS:
            raise ValueError(f"scaling={self.scaling!r} is not one of {_SCALINGS}.")
        mc = self.max_categories
        if mc is not None and (not isinstance(mc, Integral) or isinstance(mc, bool) or mc < 1):
            raise ValueError(f"max_categories={mc!r} must be a positive int or None.")
        mf = self.min_frequency
        if isinstance(mf, bool) or not (
            (isinstance(mf, Integral) and mf >= 1) or (isinstance(mf, Real) and 0 < mf < 1)
        ):
            raise ValueError(f"min_frequency={mf!r} must be an int >= 1 or a float in (0, 1).")

    def _assign(self, columns, named):
        """Group the input columns: (groups, excluded)."""
        groups = {g: [] for g in GROUPS}
        excluded = {}
        fg = self.feature_groups
        if isinstance(fg, dict):
            listed = {}
            for group in GROUPS:
                for col in fg.get(group, ()):
                    name = col.replace("\ufeff", "").strip()
                    if group == "categorical" and name not in columns:
                        raise ValueError(
                            f"Categorical column {name!r} of feature_groups is absent from X; "
                            "its vocabulary cannot be learned."
                        )
                    groups[group].append(name)
                    listed[name] = group
            for name in columns:
                if name not in listed:
                    excluded[name] = "not listed in feature_groups"
            return groups, excluded
        preset = None if fg == "auto" else fg
        for name, col in columns.items():
            group, reason = assign_group(
                name if named else None,
                is_text=lambda col=col: _is_text(col),
                is_datetime=is_datetime64_any_dtype(col.dtype),
                preset=preset,
            )
            if group == EXCLUDED:
                excluded[name] = reason
            else:
                groups[group].append(name)
        return groups, excluded

    def _fit_categories(self, col):
        """Vocabulary, infrequent values and kind (numeric or text) of one column."""
        numeric = not _is_text(col)
        values, missing = _category_values(col, numeric)
        counts = pd.Series(values[~missing]).value_counts(sort=False)
        counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
        mf = self.min_frequency
        min_count = mf if isinstance(mf, Integral) else mf * len(values)
        keep = counts.to_numpy() >= min_count
        if self.max_categories is not None:
            keep &= np.arange(len(counts)) < self.max_categories
        vocab = counts.index.to_numpy()
        if numeric:
            vocab = vocab.astype(np.float64)
            if np.all(vocab == np.round(vocab)):
                vocab = vocab.astype(np.int64)
        return vocab[keep], vocab[~keep], numeric

    def _report(self):
        counts = ", ".join(f"{len(self.feature_groups_[g])} {g}" for g in GROUPS)
        print(f"[FeatureSplitter] {counts}; {len(self.excluded_features_)} excluded")
        for group in GROUPS:
            if self.feature_groups_[group]:
                print(f"  {group}: {self.feature_groups_[group]}")
        for name, reason in self.excluded_features_.items():
            print(f"  excluded {name!r}: {reason}")
        for name, cut in self.infrequent_categories_.items():
            if len(cut):
                print(f"  {name!r}: {len(cut)} infrequent value(s) map to the unknown code 0")

    # ------------------------------------------------------------ transform
    def transform(self, X):
        """Clean, scale and encode ``X`` into the fitted output columns.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Raw flow features. Fitted columns that are absent are missing; unknown
            columns are ignored.

        Returns
        -------
        Xt : DataFrame of shape (n_samples, n_features_out), dtype float32
            Columns named by :meth:`get_feature_names_out`; an ndarray after
            ``set_output(transform="default")``. NaN marks missing cells when
            ``missing="mask"``.
        """
        check_is_fitted(self)
        columns, _, _ = self._read(X, fitting=False)
        fitted = [c for g in GROUPS for c in self.feature_groups_[g]]
        absent = [c for c in fitted if c not in columns]
        if len(absent) == len(fitted):
            raise ValueError(
                f"X has none of the {len(fitted)} feature columns seen in fit "
                f"(e.g. {fitted[:3]}); got columns {list(columns)[:10]}."
            )
        if absent:
            warnings.warn(
                f"{len(absent)} column(s) seen in fit are absent from X and are treated "
                f"as missing: {absent}",
                MissingFeaturesWarning,
                stacklevel=3,
            )
        n_rows = len(next(iter(columns.values())))
        raw = self._numeric_matrix(columns, self.feature_groups_, n_rows)
        return self._assemble(raw, columns, n_rows)

    def _numeric_matrix(self, columns, groups, n_rows):
        """(n_rows, n_numeric) float64 matrix after the log step, NaN where missing."""
        numeric = [(g, c) for g in ("tabular", "temporal") for c in groups[g]]
        raw = np.full((n_rows, len(numeric)), np.nan, order="F")
        for j, (group, name) in enumerate(numeric):
            if name in columns:
                raw[:, j] = _numeric_values(columns[name], name, group)
        raw[np.isinf(raw)] = np.nan
        if self.scaling == "log-standard":
            raw = _signed_log1p(raw)
        return raw

    def _assemble(self, raw, columns, n_rows):
        """Scale the numeric block, encode the categorical one, fill missing cells."""
        n_num = raw.shape[1]
        cats = self.feature_groups_["categorical"]
        out = np.empty((n_rows, n_num + len(cats)), dtype=np.float32)
        out[:, :n_num] = (raw - self.center_[:n_num]) / self.scale_[:n_num]
        for j, name in enumerate(cats, start=n_num):
            if name not in columns:
                out[:, j] = np.nan
                continue
            values, missing = _category_values(columns[name], self._numeric_categories[name])
            codes = pd.Index(self.categories_[name]).get_indexer(values) + 1
            out[:, j] = np.where(missing, np.nan, codes)
        if self.missing != "mask":
            np.copyto(out, self.fill_values_, where=np.isnan(out))
        return out

    def _read(self, X, *, fitting):
        """Columns of ``X`` by (stripped) name, their names, and whether X is named."""
        if isinstance(X, pd.DataFrame):
            labels = list(X.columns)
            is_str = [isinstance(c, str) for c in labels]
            if any(is_str) and not all(is_str):
                raise TypeError(
                    "Feature names are only supported if all input features have string "
                    f"names, but X has mixed types: {sorted({type(c).__name__ for c in labels})}."
                )
            named = bool(labels) and all(is_str)
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise ValueError(
                    f"X is empty: {X.shape[0]} sample(s) and {X.shape[1]} feature(s) "
                    f"(shape={X.shape}) while a minimum of 1 is required."
                )
            series = [column for _, column in X.items()]
        else:
            array = check_array(
                X, dtype=None, ensure_all_finite=False, accept_sparse=False, ensure_2d=True
            )
            if array.dtype.kind in "USO":
                array = array.astype(object)
            labels, named = [f"x{i}" for i in range(array.shape[1])], False
            series = [pd.Series(array[:, i]) for i in range(array.shape[1])]
        if named:
            names = [c.replace("\ufeff", "").strip() for c in labels]
        else:
            names = [f"x{i}" for i in range(len(labels))]
        if not fitting:
            names = self._match_fitted_names(names, named)
        if len(set(names)) < len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(
                f"Column {dup!r} appears more than once in X (after stripping whitespace)."
            )
        return dict(zip(names, series, strict=True)), names, named

    def _match_fitted_names(self, names, named):
        """Names to look the columns up by at transform time (positional if unnamed)."""
        fitted_named = hasattr(self, "feature_names_in_")
        if named and fitted_named:
            return names
        cls = type(self).__name__
        if named:
            warnings.warn(
                f"X has feature names, but {cls} was fitted without feature names",
                UserWarning,
                stacklevel=5,
            )
        elif fitted_named:
            warnings.warn(
                f"X does not have valid feature names, but {cls} was fitted with feature names",
                UserWarning,
                stacklevel=5,
            )
        if len(names) != self.n_features_in_:
            raise ValueError(
                f"X has {len(names)} features, but {cls} is expecting "
                f"{self.n_features_in_} features as input."
            )
        if fitted_named:
            return list(self.feature_names_in_)
        return [f"x{i}" for i in range(len(names))]

    def get_feature_names_out(self, input_features=None):
        """Output column names ``group__column``, in output order.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input names; must equal ``feature_names_in_`` if that is set, else have
            ``n_features_in_`` entries (they replace ``x0, x1, ...``).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        rename = {}
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if hasattr(self, "feature_names_in_"):
                if not np.array_equal(input_features, self.feature_names_in_):
                    raise ValueError("input_features is not equal to feature_names_in_")
            elif len(input_features) != self.n_features_in_:
                raise ValueError(
                    "input_features should have length equal to number of features "
                    f"({self.n_features_in_}), got {len(input_features)}"
                )
            rename = {
                name: input_features[i]
                for name, i in self._input_index.items()
                if not hasattr(self, "feature_names_in_")
            }
        return np.asarray(
            [
                f"{group}__{rename.get(name, name)}"
                for group in GROUPS
                for name in self.feature_groups_[group]
            ],
            dtype=object,
        )


def _describe(reasons):
    return ", ".join(f"{name!r}: {reason}" for name, reason in reasons.items())
