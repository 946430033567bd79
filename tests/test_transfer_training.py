"""ExtractorDropout: transfer training hides unstable features in training rows only;
add_benign_flows: the deployment's benign flows as training rows."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from moeids import FeatureSplitter
from moeids.datasets import load_cicids2017
from moeids.features import ExtractorDropout, add_benign_flows, unstable_features
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


ORIGINAL = CORRECTED.parent / "cicids2017_original_friday.slice.csv.gz"


def test_add_benign_flows_appends_canonical_benign_rows_with_variants_missing():
    train = load_cicids2017(CORRECTED)
    own = pd.read_csv(ORIGINAL, low_memory=False).drop(columns=[" Label"])
    with pytest.warns(UserWarning, match=r"not in X and are left out: \['Fwd Header Length.1'\]"):
        X, y = add_benign_flows(train.data, train.target, own, profile="cicflowmeter-2017")
    n = len(train.data)
    assert list(X.columns) == list(train.data.columns)
    assert X.attrs == train.data.attrs
    assert len(X) == len(y) == n + len(own)
    assert (y.iloc[n:] == 0).all() and y.iloc[:n].tolist() == train.target.tolist()
    added = X.iloc[n:]
    profile = PROFILES["cicflowmeter-2017"]
    assert added["Flow Duration"].tolist() == own[" Flow Duration"].tolist()  # renamed
    assert added["Total Fwd Packet"].tolist() == own[" Total Fwd Packets"].tolist()
    for feature in [*profile.variants, *profile.unavailable]:
        if feature in X:
            assert added[feature].isna().all(), feature
    kept = [c for c in train.data.columns if c in set(profile.names.values())]
    kept = [c for c in kept if c not in profile.variants and c != "Label"]
    assert added[kept].notna().any().all()


def test_add_benign_flows_rejects_bad_input():
    train = load_cicids2017(CORRECTED)
    own = pd.read_csv(ORIGINAL, low_memory=False).drop(columns=[" Label", " Fwd Header Length.1"])
    with pytest.raises(ValueError, match="benign_label 'Benign' is not a label of y"):
        add_benign_flows(train.data, train.target, own, benign_label="Benign")
    with pytest.raises(ValueError, match="y has 3 labels"):
        add_benign_flows(train.data, [0, 1, 0], own)
    with pytest.raises(ValueError, match="benign_flows is empty"):
        add_benign_flows(train.data, train.target, own.iloc[:0])
    with pytest.raises(TypeError, match="benign_flows must be a pandas DataFrame"):
        add_benign_flows(train.data, train.target, own.to_numpy())
    with pytest.raises(ValueError, match="not canonical: convert it with"):
        add_benign_flows(own, np.zeros(len(own)), own)


@pytest.mark.filterwarnings("ignore::moeids.features.MissingFeaturesWarning")
def test_added_rows_train_as_the_splitter_scores_the_raw_flows():
    train = load_cicids2017(CORRECTED)
    own = pd.read_csv(ORIGINAL, low_memory=False).drop(columns=[" Label", " Fwd Header Length.1"])
    X, y = add_benign_flows(train.data, train.target, own)
    splitter = FeatureSplitter("cicids2017").fit(X)
    assert splitter.profile_ == "cicflowmeter-4"  # the training extractor, not the added one
    as_trained = splitter.transform(X.iloc[len(train.data) :])
    as_scored = splitter.transform(own)  # raw 2017 names; variants missing by default
    np.testing.assert_array_equal(as_trained.to_numpy(), as_scored.to_numpy())
