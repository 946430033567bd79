"""FeatureSplitter: raw flow columns -> one float32 matrix for the experts (NaN = missing)."""

import warnings
from functools import lru_cache
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)

from moeids._numeric import (
    column_moments,
    merge_moments,
    moments_statistics,
    numpy_numeric,
    signed_log1p,
    standard_statistics,
)

from ._fitting import (
    assign_groups,
    category_counts,
    check_feature_groups,
    fit_categories,
    merge_counts,
    report,
    vocabulary,
)
from ._values import (
    FrameColumns,
    beyond_float32,
    category_codes,
    category_values,
    check_float32_block,
    check_float32_range,
    check_unique,
    is_text,
    numeric_block,
    numeric_values,
)
from .canonical import PROFILE_ATTR, mismatched_features, to_canonical
from .groups import PRESETS
from .names import GROUPS, clean_header, feature_name
from .vocabulary import PROFILES

__all__ = ["FeatureSplitter", "MissingFeaturesWarning"]


class MissingFeaturesWarning(UserWarning):
    """Columns seen in ``fit`` are absent from ``X``; their output columns are missing.

    Examples
    --------
    >>> import warnings
    >>> from moeids import FeatureSplitter
    >>> from moeids.datasets import load_sample
    >>> from moeids.features import MissingFeaturesWarning
    >>> X = load_sample().data.iloc[:50]
    >>> splitter = FeatureSplitter().fit(X)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     Xt = splitter.transform(X.drop(columns=["Flow Duration"]))
    >>> [w.category is MissingFeaturesWarning for w in caught]
    [True]
    >>> bool(Xt["temporal__Flow Duration"].isna().all())
    True
    """


class FeatureSplitter(TransformerMixin, BaseEstimator):
    """Split raw flow columns into tabular, temporal and categorical features.

    Renames a flow table to the canonical feature vocabulary, then cleans, groups, encodes
    (and optionally scales) it into one float32 DataFrame in which NaN means *missing*:
    columns are ordered tabular, temporal, categorical and named ``group__column`` (see
    :meth:`get_feature_names_out`), so that the next step of a Pipeline can split them by
    group. Header whitespace is stripped; NaN, None, empty strings and +/-inf (also as text,
    e.g. ``"Infinity"``) are missing; numbers stored as text are parsed. Columns seen in
    ``fit`` but absent from ``X`` at transform are missing (one
    :class:`MissingFeaturesWarning` per call); unknown extra columns are ignored.

    Parameters
    ----------
    feature_groups : "auto", str or dict, default="auto"
        How columns are assigned to groups. ``"auto"`` uses the name and dtype rules of
        ``moeids.features.groups`` (identifiers, timestamps and labels are excluded);
        a preset name (``"cicids2017"``, ``"unsw_nb15"``, ``"ciciot2023"``,
        ``"rt_iot2022"``, ``"nsl_kdd"``) applies that dataset's documented decisions
        first, then the same rules. A dict ``{group: [columns]}`` with groups among
        ``"tabular"``, ``"temporal"``, ``"categorical"`` is used as given (names of the
        detected extractor are renamed like the columns); other columns are excluded.
    profile : "auto", str or None, default="auto"
        Extractor profile of :mod:`moeids.features.vocabulary` (e.g. ``"cicflowmeter-2017"``,
        ``"cicflowmeter-python"``, ``"nfstream"``) used to rename columns to canonical names
        and convert units and value conventions, in ``fit`` and in ``transform``.
        ``"auto"`` detects it from the column names of each call; ``None`` renames nothing.
    handle_variant : {"missing", "keep"}, default="missing"
        What ``transform`` does with a feature that the extractor of ``X`` computes
        differently from the extractor seen in ``fit`` (the profiles' ``variants``):
        ``"missing"`` feeds it as missing, ``"keep"`` feeds its values.
    missing : {"mask", "zero", "mean", "median"}, default="mask"
        ``"mask"`` leaves missing cells as NaN for the model to mask. The others fill
        them in the output space: ``"zero"`` with the raw value 0 passed through the
        scaler, ``"mean"``/``"median"`` with the training mean/median of the output
        column. Categorical cells get the unknown code 0 (``"zero"``) or the most
        frequent code 1 (``"mean"``, ``"median"``).
    scaling : {"log-standard", "standard"} or None, default=None
        Scaling of numeric columns. ``None`` keeps raw values: :class:`moeids.MoEClassifier`
        applies the one log-standardisation itself. ``"log-standard"`` maps
        ``x -> sign(x) log1p(|x|)`` and standardises with NaN-aware training statistics
        (for models that do not scale); ``"standard"`` standardises raw values. Constant
        or all-missing columns get scale 1.
    max_categories : int or None, default=64
        Vocabulary size cap per categorical column: the most frequent values (ties by
        value) get codes ``1..k``; the others, and values unseen in ``fit``, get the
        unknown code 0. ``None`` means no cap.
    min_frequency : int or float, default=1
        Values rarer than this in ``fit`` get the unknown code 0: a count if an int,
        a fraction of the samples if a float in (0, 1).
    verbose : int, default=0
        If > 0, print the profile, the groups and the excluded columns in ``fit``.

    Attributes
    ----------
    profile_ : str or None
        Extractor profile applied in ``fit`` (``None``: none detected).
    renamed_features_ : dict of str -> str
        Input column -> canonical name, for the columns renamed in ``fit``.
    feature_groups_ : dict of str -> list of str
        Canonical input columns of each group (keys ``tabular``, ``temporal``,
        ``categorical``) in output order.
    excluded_features_ : dict of str -> str
        Input columns left out of the output and the reason for each.
    categories_ : dict of str -> ndarray
        Vocabulary of each categorical column; ``categories_[c][i]`` has code ``i + 1``.
    infrequent_categories_ : dict of str -> ndarray
        Values seen in ``fit`` cut by ``max_categories``/``min_frequency`` (code 0).
    center_, scale_ : ndarray of shape (n_features_out,)
        Output column = (value - center) / scale, after the log step of ``"log-standard"``
        (0 and 1 for categorical columns and when ``scaling=None``).
    fill_values_ : ndarray of shape (n_features_out,)
        Value that replaces missing cells in each output column (NaN for ``"mask"``).
    n_features_in_ : int
        Number of columns seen in ``fit`` (excluded ones included).
    n_samples_seen_ : int
        Rows seen by :meth:`partial_fit` so far (only set by ``partial_fit``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in ``fit``; only set when they are all strings.

    Examples
    --------
    >>> import pandas as pd
    >>> from moeids import FeatureSplitter
    >>> X = pd.DataFrame({" Flow Duration": [10, 200, 3], "Total Fwd Packets": [1, 4, 2],
    ...                   "Destination Port": [80, 53, 80], "Src IP": ["a", "b", "c"]})
    >>> fs = FeatureSplitter(profile="cicflowmeter-2017").fit(X)
    >>> fs.get_feature_names_out().tolist()
    ['tabular__Total Fwd Packet', 'temporal__Flow Duration', 'categorical__Dst Port']
    >>> fs.renamed_features_["Total Fwd Packets"]
    'Total Fwd Packet'
    """

    _parameter_constraints = {
        "feature_groups": [StrOptions({"auto", *PRESETS}), dict],
        "profile": [StrOptions({"auto", *PROFILES}), None],
        "handle_variant": [StrOptions({"missing", "keep"})],
        "missing": [StrOptions({"mask", "zero", "mean", "median"})],
        "scaling": [StrOptions({"log-standard", "standard"}), None],
        "max_categories": [Interval(Integral, 1, None, closed="left"), None],
        "min_frequency": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
        ],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        feature_groups="auto",
        *,
        profile="auto",
        handle_variant="missing",
        missing="mask",
        scaling=None,
        max_categories=64,
        min_frequency=1,
        verbose=0,
    ):
        self.feature_groups = feature_groups
        self.profile = profile
        self.handle_variant = handle_variant
        self.missing = missing
        self.scaling = scaling
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
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

        Examples
        --------
        >>> from moeids import FeatureSplitter
        >>> from moeids.datasets import load_sample
        >>> X = load_sample().data.iloc[:200]
        >>> splitter = FeatureSplitter().fit(X)
        >>> splitter.n_features_in_, len(splitter.get_feature_names_out())
        (83, 83)
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
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

        Examples
        --------
        >>> from moeids import FeatureSplitter
        >>> from moeids.datasets import load_sample
        >>> Xt = FeatureSplitter().fit_transform(load_sample().data.iloc[:200])
        >>> Xt.shape, Xt.columns[0]
        ((200, 83), 'tabular__Total Fwd Packet')
        """
        return self._output(self._fit(X), X)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Update the fitted statistics with one chunk of rows ``X``.

        For data read in chunks (:func:`moeids.outofcore.fit_from_files`): the first call
        (on an unfitted splitter) learns the profile, the groups and the kind of each
        categorical column from its chunk, as :meth:`fit` does; every call adds its rows
        to the value counts of the vocabularies and to the numeric moments, and leaves
        the splitter usable. After all chunks, ``categories_``, ``center_``, ``scale_``
        and ``fill_values_`` are those :meth:`fit` learns from all rows at once (the
        numeric statistics up to rounding: merged moments, Chan et al.). Later chunks
        must have the first chunk's columns. ``n_samples_seen_`` counts the rows so far;
        :meth:`fit` starts afresh (and so does a ``partial_fit`` after ``fit``).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_chunk_rows, n_features)
            Raw flow features.
        y : None
            Ignored.

        Returns
        -------
        self : FeatureSplitter

        Examples
        --------
        >>> from moeids import FeatureSplitter
        >>> from moeids.datasets import load_sample
        >>> X = load_sample().data.iloc[:400]
        >>> splitter = FeatureSplitter()
        >>> for start in range(0, 400, 100):
        ...     splitter = splitter.partial_fit(X.iloc[start : start + 100])
        >>> int(splitter.n_samples_seen_), splitter.transform(X.iloc[:5]).shape
        (400, (5, 83))
        """
        if self.missing == "median":
            raise ValueError(
                "missing='median' needs all values at once and is not supported by "
                "partial_fit; use missing='mask', 'zero' or 'mean', or fit on a sample"
            )
        if not hasattr(self, "n_samples_seen_"):
            columns, n_rows = self._fit_structure(X)
            self._numeric_categories_ = {
                c: not is_text(columns[c], c) for c in self.feature_groups_["categorical"]
            }
            self._category_counts = {
                c: pd.Series([], dtype=np.int64) for c in self.feature_groups_["categorical"]
            }
            self._moments = None
            self.n_samples_seen_ = 0
        else:
            columns, _, profile, _ = self._read(X, reset=False)
            if profile != self.profile_:
                raise ValueError(
                    f"X looks like the {profile!r} extractor's output, the first chunk "
                    f"like {self.profile_!r}: every chunk must come from one extractor"
                )
            n_rows = len(next(iter(columns.values())))
        raw = self._numeric_matrix(columns, n_rows)
        moments = column_moments(raw)
        self._moments = moments if self._moments is None else merge_moments(self._moments, moments)
        for name in self.feature_groups_["categorical"]:
            if name in columns:
                counts = category_counts(columns[name], self._numeric_categories_[name])
                self._category_counts[name] = merge_counts(self._category_counts[name], counts)
        self.n_samples_seen_ += n_rows
        center, scale = np.zeros(raw.shape[1]), np.ones(raw.shape[1])
        if self.scaling is not None:
            center, scale = moments_statistics(self._moments)
        fill = (0.0 - center) / scale
        seen = self._moments[0] > 0
        if self.missing == "mean":
            fill[seen] = (self._moments[1][seen] - center[seen]) / scale[seen]
        vocabularies = {
            name: vocabulary(
                counts,
                self.n_samples_seen_,
                self._numeric_categories_[name],
                self.max_categories,
                self.min_frequency,
            )
            for name, counts in self._category_counts.items()
        }
        self._set_statistics(center, scale, fill, vocabularies)
        return self

    def _fit_structure(self, X):
        """Profile, renames and groups of ``X`` (as in ``fit``): (columns, n_rows)."""
        check_feature_groups(self.feature_groups)
        columns, names, profile, renamed = self._read(X, reset=True)
        groups, excluded = assign_groups(self.feature_groups, columns, names is not None, profile)
        if not any(groups.values()):
            reasons = ", ".join(f"{n!r}: {r}" for n, r in excluded.items())
            raise ValueError(
                f"No feature columns left in X: all {len(columns)} columns are excluded "
                f"({reasons})."
            )
        self.profile_, self.renamed_features_ = profile, renamed
        self.feature_groups_, self.excluded_features_ = groups, excluded
        absent = [c for g in GROUPS for c in groups[g] if c not in columns]
        _warn_absent(absent, {}, None, "of feature_groups are absent from X")
        return columns, len(next(iter(columns.values())))

    def _fit(self, X):
        columns, n_rows = self._fit_structure(X)
        for name in ("n_samples_seen_", "_moments", "_category_counts"):
            self.__dict__.pop(name, None)  # a refit forgets earlier partial_fit calls
        raw = self._numeric_matrix(columns, n_rows)
        center, scale, fill = self._numeric_statistics(raw)
        vocabularies = {
            c: fit_categories(columns[c], self.max_categories, self.min_frequency)
            for c in self.feature_groups_["categorical"]
        }
        self._numeric_categories_ = {c: v[2] for c, v in vocabularies.items()}
        self._set_statistics(center, scale, fill, vocabularies)
        if self.verbose:
            report(self)
        return self._assemble(raw, columns, n_rows)

    def _set_statistics(self, center, scale, fill, vocabularies):
        """Set the fitted statistics from the numeric ones and {column: (vocab, cut, ...)}."""
        groups = self.feature_groups_
        self.categories_ = {c: vocabularies[c][0] for c in groups["categorical"]}
        self.infrequent_categories_ = {c: vocabularies[c][1] for c in groups["categorical"]}
        n_cat = len(groups["categorical"])
        cat_fill = [
            float(self.missing in ("mean", "median") and len(self.categories_[c]) > 0)
            for c in groups["categorical"]
        ]
        self.center_ = np.concatenate([center, np.zeros(n_cat)])
        self.scale_ = np.concatenate([scale, np.ones(n_cat)])
        self.fill_values_ = np.concatenate([fill, cat_fill]).astype(np.float32)
        if self.missing == "mask":
            self.fill_values_[:] = np.nan

    def _numeric_statistics(self, raw):
        """Center, scale and fill value of each column of ``raw`` (taken after the log step)."""
        count = np.sum(~np.isnan(raw), axis=0)
        center, scale = np.zeros(raw.shape[1]), np.ones(raw.shape[1])
        if self.scaling is not None:
            center, scale = standard_statistics(raw)
        fill = (0.0 - center) / scale  # "zero", and for columns never seen in fit
        seen = count > 0
        if self.missing == "mean":
            fill[seen] = (np.nanmean(raw[:, seen], axis=0) - center[seen]) / scale[seen]
        elif self.missing == "median":
            fill[seen] = (np.nanmedian(raw[:, seen], axis=0) - center[seen]) / scale[seen]
        return center, scale, fill

    # ------------------------------------------------------------ transform
    def transform(self, X):
        """Rename, clean, encode (and scale) ``X`` into the fitted output columns.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Raw flow features, from any known extractor. Fitted columns that are absent,
            or that its extractor computes differently (``handle_variant="missing"``),
            are missing; unknown columns are ignored.

        Returns
        -------
        Xt : DataFrame of shape (n_samples, n_features_out), dtype float32
            Columns named by :meth:`get_feature_names_out`; an ndarray after
            ``set_output(transform="default")``. NaN marks missing cells when
            ``missing="mask"``.

        Examples
        --------
        >>> from moeids import FeatureSplitter
        >>> from moeids.datasets import load_sample
        >>> X = load_sample().data
        >>> splitter = FeatureSplitter().fit(X.iloc[:200])
        >>> splitter.transform(X.iloc[200:210]).shape
        (10, 83)
        """
        check_is_fitted(self)
        direct = self._transform_known_columns(X)
        if direct is not None:
            return self._output(direct, X)
        columns, _, profile, _ = self._read(X, reset=False)
        fitted = [c for g in GROUPS for c in self.feature_groups_[g]]
        present = set(columns)  # one set: a frame's `in` costs more per name
        variants = self._variant_features(profile, [c for c in fitted if c in present])
        if variants:
            columns = {n: c for n, c in columns.items() if n not in variants}
            present = set(columns)
        absent = [c for c in fitted if c not in present and c not in variants]
        if len(absent) + len(variants) == len(fitted):
            raise ValueError(
                f"X has none of the {len(fitted)} feature columns seen in fit "
                f"(e.g. {fitted[:3]}); got columns {list(columns)[:10]}."
            )
        _warn_absent(absent, variants, profile, "seen in fit are absent from X")
        n_rows = len(next(iter(columns.values()))) if columns else len(X)
        raw = self._numeric_matrix(columns, n_rows)
        return self._output(self._assemble(raw, columns, n_rows), X)

    def _variant_features(self, profile, columns):
        """The fitted ``columns`` that extractor ``profile`` computes differently from the
        one seen in fit, when ``handle_variant="missing"`` treats them as missing (else
        none): feature -> the difference, in words."""
        if self.handle_variant != "missing" or profile == self.profile_:
            return {}
        return mismatched_features(self.profile_, profile, columns)

    def _transform_known_columns(self, X):
        """:meth:`transform` of a DataFrame whose columns map to the fitted ones by name
        alone, read straight from ``X`` (no renamed copy of it): the output array, or None
        when the general path must run (it then warns or names the problem).

        That is: ``X`` has rows, a NumPy numeric dtype in each fitted numeric column, and
        columns in which every fitted name is found after renaming, with no unit or value
        conversion (:func:`_fitted_positions`, cached by column names) and no feature
        that ``handle_variant="missing"`` would hide. Scoring one flow at a time spent
        half its splitter time renaming and copying the frame.

        Parameters
        ----------
        X : any
            The input of :meth:`transform`.

        Returns
        -------
        Xt : ndarray of float32 of shape (n_samples, n_features_out) or None
        """
        if not (
            isinstance(X, pd.DataFrame)
            and len(X)
            and hasattr(self, "feature_names_in_")
            and all(type(c) is str for c in X.columns)
        ):
            return None
        groups = self.feature_groups_
        fitted = tuple(c for g in GROUPS for c in groups[g])
        found = _fitted_positions(tuple(X.columns), X.attrs.get(PROFILE_ATTR), fitted, self.profile)
        if found is None or self._variant_features(found[1], fitted):
            return None
        positions = found[0]
        n_num = len(groups["tabular"]) + len(groups["temporal"])
        dtypes = X.dtypes
        if numpy_numeric(dtypes):  # one conversion of the whole frame: fastest for few rows
            raw = X.to_numpy(dtype=np.float64)[:, positions[:n_num]]
        elif numpy_numeric(dtypes.iloc[positions[:n_num]]):
            raw = X.iloc[:, positions[:n_num]].to_numpy(dtype=np.float64, copy=True)
        else:
            return None
        if self.scaling != "log-standard" and beyond_float32(raw).any():
            return None
        names = X.columns  # unique: so are their cleaned forms (_fitted_positions)
        cats = zip(groups["categorical"], positions[n_num:], strict=True)
        categorical = {name: X[names[j]] for name, j in cats}
        return self._assemble(self._log_step(raw), categorical, len(X))

    def _matrix_plan(self, probe):
        """Whether :meth:`_transform_matrices` can read flows with the columns of ``probe``.

        Parameters
        ----------
        probe : DataFrame of shape (0, n_fitted)
            No rows; the fitted columns in output order (tabular, temporal, categorical),
            named as the flows name them (canonical or an extractor's names, with that
            profile in ``attrs`` as :func:`moeids.features.to_canonical` reads it).

        Returns
        -------
        variants : ndarray of bool of shape (n_fitted,) or None
            The columns that :meth:`transform` treats as missing for such flows (computed
            differently by their extractor); None when such flows need :meth:`transform`
            (the splitter was fitted on positions, or their names convert units or values,
            or do not rename to the fitted columns in order).
        """
        check_is_fitted(self)
        if not hasattr(self, "feature_names_in_"):
            return None
        fitted = tuple(c for g in GROUPS for c in self.feature_groups_[g])
        columns = tuple(probe.columns)
        found = _fitted_positions(columns, probe.attrs.get(PROFILE_ATTR), fitted, self.profile)
        if found is None or len(columns) != len(fitted):
            return None
        if not np.array_equal(found[0], np.arange(len(fitted))):
            return None  # renamed to the fitted columns, but in another order
        variants = self._variant_features(found[1], fitted)
        if len(variants) == len(fitted):
            return None  # transform raises
        return np.isin(fitted, list(variants))

    def _transform_matrices(self, numeric, categorical, variants):
        """:meth:`transform` of flows given as matrices of the fitted columns, without
        building a DataFrame: the output array, or None when ``transform`` of the
        DataFrame must be used (it then names the problem).

        Parameters
        ----------
        numeric : ndarray of float64 of shape (n_rows, n_tabular + n_temporal)
            The tabular then temporal fitted columns; NaN marks a missing cell.
        categorical : ndarray of object of shape (n_rows, n_categorical)
            Numbers, strings or None (missing).
        variants : ndarray of bool of shape (n_fitted,)
            From :meth:`_matrix_plan`.

        Returns
        -------
        Xt : ndarray of float32 of shape (n_rows, n_features_out) or None
            Equal to ``transform`` of the DataFrame with these columns, in which a
            categorical column without text is float64 and one with text is object.
        """
        n_num = numeric.shape[1]
        raw = np.array(numeric, dtype=np.float64)  # a copy: NaN is written into it
        raw[:, variants[:n_num]] = np.nan
        if self.scaling != "log-standard" and beyond_float32(raw).any():
            return None
        raw = self._log_step(raw)
        columns = {}
        for j, name in enumerate(self.feature_groups_["categorical"]):
            if not variants[n_num + j]:
                column = categorical[:, j]
                text = any(type(v) is str for v in column)
                columns[name] = pd.Series(column if text else column.astype(np.float64))
        return self._assemble(raw, columns, len(raw))

    def _numeric_matrix(self, columns, n_rows):
        """(n_rows, n_numeric) float64 matrix after the log step, NaN where missing."""
        numeric = [(g, c) for g in ("tabular", "temporal") for c in self.feature_groups_[g]]
        names = [c for _, c in numeric]
        raw = numeric_block(columns, names)  # all present and numeric: one read
        if raw is not None and self.scaling != "log-standard":
            check_float32_block(raw, columns, names)
        if raw is None:
            raw = np.full((n_rows, len(numeric)), np.nan, order="F")
            for j, (group, name) in enumerate(numeric):
                if name in columns:
                    raw[:, j] = numeric_values(columns[name], name, group)
                    if self.scaling != "log-standard":
                        check_float32_range(raw[:, j], columns[name], name)
        return self._log_step(raw)

    def _log_step(self, raw):
        """``raw`` (n_rows, n_numeric) float64 with infinities set missing (NaN, in place),
        then ``signed_log1p`` where ``scaling="log-standard"``."""
        raw[np.isinf(raw)] = np.nan
        return signed_log1p(raw) if self.scaling == "log-standard" else raw

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
            numeric = self._numeric_categories_[name]
            values, missing = category_values(columns[name], numeric, name)
            codes = category_codes(self.categories_[name], values, numeric)
            out[:, j] = np.where(missing, np.nan, codes)
        if self.missing != "mask":
            np.copyto(out, self.fill_values_, where=np.isnan(out))
        return out

    def _output(self, out, X):
        """A DataFrame unless ``set_output`` chose otherwise (the names route the groups)."""
        configured = "transform" in getattr(self, "_sklearn_output_config", {})
        if configured or get_config()["transform_output"] != "default":
            return out  # sklearn's set_output wrapper takes it from here
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(out, columns=self._names_out(), index=index, copy=False)

    def _read(self, X, *, reset):
        """Columns by canonical name, input names (None if positional), profile, renames."""
        named = isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns)
        if named and (reset or hasattr(self, "feature_names_in_")):
            if X.shape[0] == 0 or X.shape[1] == 0:
                raise ValueError(
                    f"X is empty: {X.shape[0]} sample(s) and {X.shape[1]} feature(s) "
                    f"(shape={X.shape}) while a minimum of 1 is required."
                )
            headers = [clean_header(c) for c in X.columns]
            if headers != list(X.columns):
                X = X.set_axis(headers, axis=1)
            if reset:
                check_unique(list(X.columns))
                validate_data(self, X, skip_check_array=True)
            return self._canonical(X, self.profile)
        array = check_array(X, dtype=None, ensure_all_finite=False, ensure_min_samples=1)
        validate_data(self, X, reset=reset, skip_check_array=True)
        if array.dtype.kind in "USO":
            array = array.astype(object)
        if not reset and hasattr(self, "feature_names_in_"):  # positions of the fitted names
            frame = pd.DataFrame(array, columns=self.feature_names_in_, copy=False)
            return self._canonical(frame, self.profile_)
        columns = {f"x{i}": pd.Series(array[:, i]) for i in range(array.shape[1])}
        return columns, None, None, {}

    def _canonical(self, X, profile):
        check_unique(list(X.columns))
        frame, report = to_canonical(X, profile)
        check_unique(list(frame.columns))
        return FrameColumns(frame), list(X.columns), report.profile, report.renamed

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

        Examples
        --------
        >>> from moeids import FeatureSplitter
        >>> from moeids.datasets import load_sample
        >>> splitter = FeatureSplitter().fit(load_sample().data.iloc[:200])
        >>> splitter.get_feature_names_out()[:2].tolist()
        ['tabular__Total Fwd Packet', 'tabular__Total Bwd packets']
        """
        check_is_fitted(self)
        rename = {}
        if input_features is not None:
            names = _check_feature_names_in(self, input_features)
            if not hasattr(self, "feature_names_in_"):
                rename = {f"x{i}": name for i, name in enumerate(names)}
        return self._names_out(rename)

    def _names_out(self, rename=None):
        """:meth:`get_feature_names_out` of a splitter known to be fitted; ``rename``: input
        name -> the name to use."""
        rename = rename or {}
        return np.asarray(
            [feature_name(g, rename.get(c, c)) for g in GROUPS for c in self.feature_groups_[g]],
            dtype=object,
        )


@lru_cache(maxsize=64)
def _fitted_positions(columns, attrs_profile, fitted, profile):
    """Where the ``fitted`` names are in ``columns`` once renamed, and the extractor
    profile, or None when columns so named need :meth:`FeatureSplitter.transform`'s
    general path.

    Parameters
    ----------
    columns : tuple of str
        A DataFrame's column names as given.
    attrs_profile : str or None
        Its ``attrs["moeids_feature_profile"]``.
    fitted : tuple of str
        The fitted canonical names, in output order.
    profile : str or None
        The splitter's ``profile`` parameter.

    Returns
    -------
    found : tuple (ndarray of int of shape (len(fitted),), str or None) or None
        The positions and the profile :func:`~moeids.features.to_canonical` applied;
        None when the names repeat, convert units or values, or lack a fitted name.
    """
    headers = [clean_header(c) for c in columns]
    if len(set(headers)) < len(headers):
        return None
    probe = pd.DataFrame(columns=headers)
    if attrs_profile is not None:
        probe.attrs[PROFILE_ATTR] = attrs_profile
    try:
        frame, report = to_canonical(probe, profile)
    except ValueError:  # names that repeat after renaming
        return None
    if report.converted or report.replaced:
        return None
    at = frame.columns.get_indexer(list(fitted))
    if (at < 0).any():
        return None
    at.setflags(write=False)  # shared by the calls that hit the cache
    return at, report.profile


def _warn_absent(absent, variants, profile, what):
    parts = []
    if absent:
        parts.append(f"{len(absent)} column(s) {what} and are treated as missing: {absent}")
    if variants:
        parts.append(
            f"{len(variants)} column(s) are computed differently by the {profile!r} extractor "
            f"and are treated as missing: {list(variants)}"
        )
    if parts:
        warnings.warn("; ".join(parts), MissingFeaturesWarning, stacklevel=4)
