"""ExtractorDropout: transfer training hides unstable features in training rows only."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from moeids import FeatureSplitter
from moeids.features import ExtractorDropout, unstable_features
from moeids.features.vocabulary import PROFILES

CORRECTED = Path(__file__).resolve().parent / "data/cic_ids2017/cicids2017_improved.slice.csv.gz"


@parametrize_with_checks([ExtractorDropout(p=0.5, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)  # numeric arrays have no names: nothing is masked, as in transform


def test_unstable_features_are_the_profiles_variants_and_unavailable():
    profile = PROFILES["cicflowmeter-2017"]
    expected = set(profile.variants) | set(profile.unavailable)
    assert set(unstable_features(["cicflowmeter-2017"])) == expected
    with pytest.raises(ValueError, match="Unknown feature profile 'nope'"):
        unstable_features(["nope"])


def test_fit_transform_masks_only_unstable_columns_in_about_p_of_rows():
    frame = pd.read_csv(CORRECTED, low_memory=False)
    Xt = FeatureSplitter("cicids2017").fit_transform(frame)
    dropout = ExtractorDropout(p=0.5, random_state=0)
    out = dropout.fit_transform(Xt)
    unstable = set(unstable_features(["cicflowmeter-2017"]))
    assert dropout.masked_features_
    assert all(name.split("__", 1)[1] in unstable for name in dropout.masked_features_)
    newly = out.isna() & ~Xt.isna()
    assert set(newly.columns[newly.any()]) <= set(dropout.masked_features_)
    rows = newly.any(axis=1).mean()
    assert 0.3 < rows < 0.7
    stable = [c for c in Xt.columns if c not in dropout.masked_features_]
    pd.testing.assert_frame_equal(out[stable], Xt[stable])


def test_transform_passes_rows_through_unchanged():
    frame = pd.read_csv(CORRECTED, low_memory=False)
    pipe = make_pipeline(FeatureSplitter("cicids2017"), ExtractorDropout(p=1.0, random_state=0))
    trained = pipe.fit_transform(frame)
    assert trained[pipe[-1].masked_features_].isna().all().all()
    pd.testing.assert_frame_equal(pipe.transform(frame), pipe[0].transform(frame))
    assert np.array_equal(pipe[-1].get_feature_names_out(), pipe[0].get_feature_names_out())
