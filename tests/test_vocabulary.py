"""Tests of the feature vocabulary (moeids.features.vocabulary) and its application."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import moeids
from moeids.datasets import load_cicids2017
from moeids.features import detect_profile, get_profile, to_canonical
from moeids.features.splitter import MissingFeaturesWarning
from moeids.features.vocabulary import (
    CANONICAL_FEATURES,
    CANONICAL_IDENTIFIERS,
    PROFILES,
    REFERENCE,
)

DATA = Path(__file__).resolve().parent / "data"
CORRECTED = DATA / "cic_ids2017/cicids2017_improved.slice.csv.gz"
ORIGINAL = DATA / "cic_ids2017/cicids2017_original_friday.slice.csv.gz"
OTHER_DATASETS = (
    "unsw_nb15/unsw_nb15_official45.slice.csv.gz",
    "unsw_nb15/unsw_nb15_raw49.slice.csv.gz",
    "ciciot2023/ciciot2023_merged.slice.csv.gz",
    "rt_iot2022/rt_iot2022.slice.csv.gz",
    "nsl_kdd/kddtrain20.slice.csv.gz",
)
PYTHON = PROFILES["cicflowmeter-python"]


def read(path):
    """Real CIC-IDS2017 rows as their extractor wrote them (Sharafaldin et al.; Engelen et al.)."""
    return pd.read_csv(path, low_memory=False)


def as_cicflowmeter_python(frame):
    """Real corrected CIC-IDS2017 rows re-expressed the way the Python ``cicflowmeter`` package
    names them, with its units (seconds): built from the profile, so a real-valued but
    *constructed* frame, not that package's output."""
    back = {canonical: name for name, canonical in PYTHON.names.items()}
    out = frame[[c for c in frame.columns if c in back]].copy()
    for canonical, factor in PYTHON.units.items():
        out[canonical] = out[canonical] / factor
    return out.rename(columns=back)


def splitter(**params):
    return moeids.FeatureSplitter("cicids2017", **params).set_output(transform="default")


def missing_share(fitted, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeaturesWarning)
        out = fitted.transform(X)
    return np.isnan(out).all(axis=0), np.isnan(out).mean()


# ---------------------------------------------------------------------- the tables
@pytest.mark.parametrize("name", list(PROFILES))
def test_profile_tables_are_consistent(name):
    profile = PROFILES[name]
    known = set(CANONICAL_FEATURES) | set(CANONICAL_IDENTIFIERS)
    targets = list(profile.names.values())
    assert set(targets) <= known
    assert len(targets) == len(set(targets)), "two extractor names for one canonical name"
    for table in (profile.units, profile.values, profile.variants):
        assert set(table) <= set(targets)
    assert set(profile.unavailable).isdisjoint(targets)


def test_reference_profile_is_the_identity_on_canonical_names():
    assert PROFILES[REFERENCE].unavailable == () and not PROFILES[REFERENCE].variants
    assert len(CANONICAL_FEATURES) == 83


def test_get_profile_names_the_known_ones():
    with pytest.raises(ValueError, match="'argus'.*cicflowmeter-2017"):
        get_profile("argus")


# ----------------------------------------------------------------------- detection
def test_detects_both_cicids2017_formats_and_the_python_package():
    assert detect_profile(read(CORRECTED).columns) == REFERENCE
    assert detect_profile(read(ORIGINAL).columns) == "cicflowmeter-2017"  # leading spaces
    assert detect_profile(as_cicflowmeter_python(read(CORRECTED)).columns) == PYTHON.name


@pytest.mark.parametrize("path", OTHER_DATASETS)
def test_other_datasets_match_no_profile(path):
    # RT-IoT2022 shares a few Zeek and snake_case names; it must not be renamed by them.
    assert detect_profile(read(DATA / path).columns) is None


# -------------------------------------------------------------------- to_canonical
def test_original_format_is_renamed_and_its_conventions_converted():
    raw = read(ORIGINAL)
    frame, report = to_canonical(raw)
    assert report.profile == "cicflowmeter-2017"
    assert report.renamed["Total Fwd Packets"] == "Total Fwd Packet"
    assert report.renamed["Init_Win_bytes_forward"] == "FWD Init Win Bytes"
    assert report.unavailable == PROFILES["cicflowmeter-2017"].unavailable
    assert "Subflow Fwd Packets" in report.variants
    assert (raw[" Init_Win_bytes_backward"] == -1).any()
    assert not (frame["Bwd Init Win Bytes"] == -1).any()
    kept = raw[" Init_Win_bytes_backward"] != -1
    np.testing.assert_array_equal(
        frame["Bwd Init Win Bytes"][kept], raw[" Init_Win_bytes_backward"][kept]
    )
    assert list(raw.columns) == list(read(ORIGINAL).columns)  # the input is not modified


def test_python_package_seconds_become_microseconds():
    real = read(CORRECTED)
    frame, report = to_canonical(as_cicflowmeter_python(real))
    assert report.converted["Flow Duration"] == 1e6
    np.testing.assert_allclose(frame["Flow Duration"], real["Flow Duration"], rtol=1e-12)
    np.testing.assert_allclose(frame["Idle Max"], real["Idle Max"], rtol=1e-12)
    assert report.unavailable == ("Fwd RST Flags", "Bwd RST Flags", "ICMP Code", "ICMP Type",
                                  "Total TCP Flow Time")  # fmt: skip


def test_zeek_conventions_text_protocol_and_unset_fields():
    conn = pd.DataFrame(  # synthetic conn.log rows (field names of Zeek's conn.log)
        {
            "ts": [1.5e9, 1.5e9 + 1],
            "uid": ["C1", "C2"],
            "id.orig_h": ["10.0.0.1", "10.0.0.2"],
            "id.orig_p": [5000, 5001],
            "id.resp_h": ["10.0.0.9", "10.0.0.9"],
            "id.resp_p": [80, 53],
            "proto": ["tcp", "udp"],
            "duration": ["0.25", "-"],
            "orig_pkts": [3, 1],
            "resp_pkts": [2, 0],
            "orig_bytes": [100, "-"],
            "resp_bytes": [40, 0],
        }
    )
    frame, report = to_canonical(conn)
    assert report.profile == "zeek-conn"
    assert frame["Protocol"].tolist() == [6, 17]
    np.testing.assert_array_equal(frame["Flow Duration"], [250_000.0, np.nan])
    assert pd.isna(frame["Total Length of Fwd Packet"].iloc[1])


def test_zeek_unknown_transport_is_missing_protocol():
    conn = pd.DataFrame(  # synthetic: Zeek's transport_proto enum names (init-bare.zeek)
        {"uid": ["C1", "C2"], "id.orig_h": ["10.0.0.1"] * 2, "id.resp_h": ["10.0.0.9"] * 2,
         "id.resp_p": [0, 80], "proto": ["unknown_transport", "tcp"], "orig_pkts": [1, 2],
         "resp_pkts": [0, 1]}
    )  # fmt: skip
    frame, report = to_canonical(conn)
    assert report.profile == "zeek-conn"
    assert pd.isna(frame["Protocol"].iloc[0]) and frame["Protocol"].iloc[1] == 6


def test_unit_conversion_of_text_names_the_column():
    bad = as_cicflowmeter_python(read(CORRECTED)).astype({"flow_duration": object})
    bad.loc[3, "flow_duration"] = "slow"
    with pytest.raises(ValueError, match="'Flow Duration'.*'slow'"):
        to_canonical(bad)


def test_profile_none_and_unknown_frames_are_left_alone():
    frame = pd.DataFrame({" a": [1.0], "flow_duration": [2.0]})
    out, report = to_canonical(frame)
    assert report.profile is None and list(out.columns) == ["a", "flow_duration"]
    assert out["flow_duration"].iloc[0] == 2.0


# ------------------------------------------------------- the splitter across extractors
def test_loader_passes_the_profile_to_the_splitter():
    bunch = load_cicids2017(ORIGINAL)
    fs = splitter().fit(bunch.data)
    assert fs.profile_ == "cicflowmeter-2017"
    mixed = load_cicids2017([ORIGINAL, CORRECTED])
    assert "moeids_feature_profile" not in mixed.data.attrs


@pytest.mark.parametrize(
    ("fit_on", "score_on"),
    [
        (CORRECTED, ORIGINAL),
        (ORIGINAL, CORRECTED),
        (CORRECTED, "python"),
        ("python", CORRECTED),
    ],
)
def test_cross_extractor_cells_missing_only_where_not_produced(fit_on, score_on):
    """Done-when of #20: under 10 % of cells missing, and only features the extractor lacks."""
    frames = {CORRECTED: read(CORRECTED), ORIGINAL: read(ORIGINAL)}
    frames["python"] = as_cicflowmeter_python(frames[CORRECTED])
    fitted = splitter(handle_variant="keep").fit(frames[fit_on])
    empty, share = missing_share(fitted, frames[score_on])
    own_empty, own_share = missing_share(fitted, frames[fit_on])
    lost = set(fitted.get_feature_names_out()[empty & ~own_empty])
    score_profile = PROFILES[detect_profile(frames[score_on].columns)]
    expected = {f"{g}__{c}" for g in ("tabular", "temporal", "categorical")
                for c in fitted.feature_groups_[g] if c in score_profile.unavailable}  # fmt: skip
    assert lost == expected
    assert share - own_share < 0.10


def test_variant_features_are_fed_as_missing_by_default():
    corrected, original = read(CORRECTED), read(ORIGINAL)
    fitted = splitter().fit(corrected)
    with pytest.warns(MissingFeaturesWarning) as record:
        out = fitted.transform(original)
    message = str(record[0].message)
    assert "computed differently by the 'cicflowmeter-2017' extractor" in message
    absent_part = message.split(";")[0]
    assert "Total Fwd Packet" not in absent_part  # renamed, hence not absent
    assert "'Protocol'" in absent_part and "Subflow Fwd Packets" not in absent_part
    names = list(fitted.get_feature_names_out())
    variants = PROFILES["cicflowmeter-2017"].variants
    for column in variants:
        group = next(g for g, cols in fitted.feature_groups_.items() if column in cols)
        assert np.isnan(out[:, names.index(f"{group}__{column}")]).all()
