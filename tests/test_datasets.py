"""Tests of moeids.datasets on the real slices in tests/data/ and on the shared files."""

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moeids.datasets import (
    CICIDS2017_FEATURES,
    CICIDS2017_LABELS,
    CICIDS2017_RENAME,
    CICIOT2023_FEATURES,
    NSL_KDD_FEATURES,
    RT_IOT2022_BENIGN_CLASSES,
    RT_IOT2022_FEATURES,
    UNSW_NB15_FEATURES,
    UNSW_NB15_RAW_COLUMNS,
    load_cicids2017,
    load_ciciot2023,
    load_nsl_kdd,
    load_rt_iot2022,
    load_sample,
    load_unsw_nb15,
    normalize_cicids2017_label,
    normalize_unsw_nb15_label,
    shared_data_home,
)

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

CIC_NEW = DATA / "cic_ids2017" / "cicids2017_improved.slice.csv.gz"
CIC_OLD = DATA / "cic_ids2017" / "cicids2017_original_friday.slice.csv.gz"
UNSW_45 = DATA / "unsw_nb15" / "unsw_nb15_official45.slice.csv.gz"
UNSW_49 = DATA / "unsw_nb15" / "unsw_nb15_raw49.slice.csv.gz"
CICIOT = DATA / "ciciot2023" / "ciciot2023_merged.slice.csv.gz"
RTIOT = DATA / "rt_iot2022" / "rt_iot2022.slice.csv.gz"
NSL = DATA / "nsl_kdd" / "kddtrain20.slice.csv.gz"

CIC_CORRECTED_ONLY = {
    "Protocol", "Fwd RST Flags", "Bwd RST Flags", "ICMP Code", "ICMP Type", "Total TCP Flow Time",
}  # fmt: skip

# loader, slice, rows, feature names, metadata columns, label columns of frame
CASES = {
    "cic_new": (
        load_cicids2017, CIC_NEW, 292, list(CICIDS2017_FEATURES),
        ["id", "Flow ID", "Src IP", "Src Port", "Dst IP", "Timestamp", "Attempted Category"],
        ["Label"],
    ),
    "cic_old": (
        load_cicids2017, CIC_OLD, 256,
        [f for f in CICIDS2017_FEATURES if f not in CIC_CORRECTED_ONLY], [], ["Label"],
    ),
    "unsw_45": (
        load_unsw_nb15, UNSW_45, 280, list(UNSW_NB15_FEATURES), ["id"], ["attack_cat", "label"],
    ),
    "unsw_49": (
        load_unsw_nb15, UNSW_49, 273, [f for f in UNSW_NB15_FEATURES if f != "rate"],
        ["srcip", "sport", "dstip", "dsport", "Stime", "Ltime"], ["attack_cat", "label"],
    ),
    "ciciot": (
        load_ciciot2023, CICIOT, 300, list(CICIOT2023_FEATURES[:39]), [],
        ["label_multiclass", "label_binary"],
    ),
    "rtiot": (
        load_rt_iot2022, RTIOT, 316, list(RT_IOT2022_FEATURES), ["Unnamed: 0", "id.orig_p"],
        ["Attack_type"],
    ),
    "nsl": (load_nsl_kdd, NSL, 205, list(NSL_KDD_FEATURES), ["difficulty_level"], ["label"]),
}  # fmt: skip

TEXT_FEATURES = {
    "unsw_45": {"proto", "service", "state"},
    "unsw_49": {"proto", "service", "state"},
    "rtiot": {"proto", "service"},
    "nsl": {"protocol_type", "service", "flag"},
}


def _write(path, data):
    path.write_bytes(data)
    return path


def _lines(path):
    return gzip.decompress(path.read_bytes()).splitlines(keepends=True)


@pytest.mark.parametrize("case", CASES)
def test_bunch_contract(case):
    loader, path, n_rows, features, metadata, labels = CASES[case]
    bunch = loader(path)
    assert set(bunch) == {
        "frame", "data", "target", "attack_type", "metadata", "feature_names", "DESCR",
    }  # fmt: skip
    assert bunch.frame.shape == (n_rows, len(features) + len(metadata) + len(labels))
    assert list(bunch.data.columns) == features == bunch.feature_names
    assert list(bunch.metadata.columns) == metadata
    assert set(bunch.frame.columns) == {*features, *metadata, *labels}
    for part in (bunch.data, bunch.metadata, bunch.target, bunch.attack_type):
        assert part.index.equals(bunch.frame.index)
    assert bunch.target.name == "target" and bunch.target.dtype == np.int64
    assert bunch.attack_type.name == "attack_type"
    assert bunch.attack_type.map(type).eq(str).all()
    assert set(bunch.target) == {0, 1} or case == "cic_old"
    np.testing.assert_array_equal(bunch.target == 0, bunch.attack_type == "Benign")
    assert (bunch.attack_type == bunch.attack_type.str.strip()).all()
    assert all(c == c.strip() and "\ufeff" not in c for c in bunch.frame.columns)
    assert str(path) in bunch.DESCR and re.search(r"(19|20)\d\d", bunch.DESCR)
    # numeric columns of the file come out numeric, text columns stay text
    text = set(bunch.data.columns) - set(bunch.data.select_dtypes("number").columns)
    assert text == TEXT_FEATURES.get(case, set())


def test_cicids2017_formats_share_canonical_names():
    new, old = load_cicids2017(CIC_NEW), load_cicids2017(CIC_OLD)
    assert set(old.feature_names) <= set(new.feature_names)
    assert set(new.feature_names) - set(old.feature_names) == CIC_CORRECTED_ONLY
    assert set(CICIDS2017_RENAME.values()) <= set(CICIDS2017_FEATURES) | set(new.metadata)
    assert "Fwd Header Length.1" not in old.frame  # identical duplicate dropped
    for frame in (new.data, old.data):
        assert {"Dst Port", "Flow Duration", "Fwd Seg Size Min", "CWR Flag Count"} <= set(frame)
    assert "Src Port" in new.metadata and "Src Port" not in new.data
    # values: first original row is `54865,3,2,0,12,...`
    assert old.data.loc[0, ["Dst Port", "Flow Duration", "Total Fwd Packet"]].tolist() == [
        54865, 3, 2,
    ]  # fmt: skip
    assert set(old.attack_type) == {"Benign"} and set(old.frame["Label"]) == {"BENIGN"}


def test_cicids2017_original_quirks_kept(tmp_path):
    old = load_cicids2017(CIC_OLD)
    raw = gzip.decompress(CIC_OLD.read_bytes()).decode()
    assert old.data["Flow Bytes/s"].dtype == np.float64
    n_inf = int(np.isinf(old.data[["Flow Bytes/s", "Flow Packets/s"]].to_numpy()).sum())
    assert n_inf == raw.count("Infinity") > 0
    assert old.data["Flow Bytes/s"].isna().sum() == raw.count("NaN") == 1
    # an empty cell is missing (NaN), the column stays numeric
    lines = _lines(CIC_OLD)
    row = lines[1].split(b",")
    row[1] = b""  # Flow Duration
    path = _write(tmp_path / "x.csv", lines[0] + b",".join(row) + lines[2])
    duration = load_cicids2017(path).data["Flow Duration"]
    assert duration.dtype == np.float64 and np.isnan(duration[0]) and duration[1] == 109


def test_cicids2017_folder_mixes_formats():
    bunch = load_cicids2017(DATA / "cic_ids2017")
    old, new = load_cicids2017(CIC_OLD), load_cicids2017(CIC_NEW)
    assert len(bunch.frame) == len(old.frame) + len(new.frame)
    assert bunch.feature_names == list(CICIDS2017_FEATURES)
    # sorted: the corrected file comes first; the original rows lack corrected-only columns
    is_old = np.arange(len(bunch.frame)) >= len(new.frame)
    assert bunch.data.loc[is_old, "Protocol"].isna().all()
    assert bunch.data.loc[~is_old, "Protocol"].notna().all()
    assert bunch.metadata.loc[is_old, "Flow ID"].isna().all()
    pd.testing.assert_series_equal(
        bunch.data.loc[is_old, "Flow IAT Max"].reset_index(drop=True),
        old.data["Flow IAT Max"],
        check_dtype=False,
    )


def test_cicids2017_label_normalisation():
    raw = pd.Series([
        " BENIGN", "PortScan", "Bot", "DoS slowloris", "Web Attack \ufffd Brute Force",
        "Web Attack \u2013 Sql Injection", "Web Attack \x96 XSS", "Portscan - Attempted",
        "Infiltration - Portscan", "Something New ",
    ])  # fmt: skip
    assert normalize_cicids2017_label(raw).tolist() == [
        "Benign", "Portscan", "Botnet", "DoS Slowloris", "Web Attack - Brute Force",
        "Web Attack - SQL Injection", "Web Attack - XSS", "Portscan - Attempted",
        "Infiltration - Portscan", "Something New",
    ]  # fmt: skip
    new = load_cicids2017(CIC_NEW)
    assert set(new.attack_type) == set(CICIDS2017_LABELS)


def test_cicids2017_mangled_dash_in_file(tmp_path):
    # the original Thursday files write the dash as the cp1252 byte 0x96
    lines = _lines(CIC_OLD)
    row = lines[1].replace(b"BENIGN", b"Web Attack \x96 Brute Force")
    path = _write(tmp_path / "thursday.csv", lines[0] + row + lines[2])
    bunch = load_cicids2017(path)
    assert bunch.attack_type.tolist() == ["Web Attack - Brute Force", "Benign"]
    assert bunch.target.tolist() == [1, 0]


def test_cicids2017_differing_duplicate_column_is_kept(tmp_path):
    lines = _lines(CIC_OLD)
    header = lines[0].decode().split(",")
    second = [i for i, c in enumerate(header) if c.strip() == "Fwd Header Length"][1]
    fields = lines[1].decode().split(",")
    fields[second] = "999"
    path = _write(tmp_path / "x.csv", lines[0] + ",".join(fields).encode())
    with pytest.warns(UserWarning, match="differ"):
        bunch = load_cicids2017(path)
    assert bunch.data["Fwd Header Length.1"].tolist() == [999]


def test_all_empty_rows_are_dropped_with_warning(tmp_path):
    lines = _lines(CIC_OLD)
    empty = b"," * (lines[0].count(b",")) + b"\r\n"
    path = _write(tmp_path / "x.csv", lines[0] + lines[1] + empty + empty)
    with pytest.warns(UserWarning, match="dropped 2 rows"):
        bunch = load_cicids2017(path)
    assert len(bunch.frame) == 1


def test_renaming_collision_raises(tmp_path):
    lines = _lines(CIC_NEW)
    header = lines[0].replace(b",Src Port,", b",Destination Port,")
    path = _write(tmp_path / "x.csv", header + lines[1])
    with pytest.raises(ValueError, match=r"\['Dst Port'\] occur twice"):
        load_cicids2017(path)


def test_missing_label_raises(tmp_path):
    lines = _lines(CIC_OLD)
    path = _write(tmp_path / "x.csv", lines[0] + lines[1].replace(b"BENIGN", b""))
    with pytest.raises(ValueError, match="'Label' is empty in data row 0"):
        load_cicids2017(path)


def test_unsw_nb15_formats():
    official, raw = load_unsw_nb15(UNSW_45), load_unsw_nb15(UNSW_49)
    assert set(raw.feature_names) == set(official.feature_names) - {"rate"}
    assert raw.frame["attack_cat"].isna().sum() == (raw.attack_type == "Benign").sum() > 0
    assert set(official.frame["attack_cat"]) >= {"Normal"}
    assert "Normal" not in set(official.attack_type)
    assert raw.target.equals(raw.frame["label"].astype("int64").rename("target"))
    both = load_unsw_nb15([UNSW_45, UNSW_49])
    assert len(both.frame) == len(official.frame) + len(raw.frame)
    assert both.data["rate"].isna().sum() == len(raw.frame)
    assert both.metadata["srcip"].isna().sum() == len(official.frame)


def test_unsw_nb15_headerless_raw_equals_headered(tmp_path):
    lines = _lines(UNSW_49)
    assert lines[0].decode().strip().split(",")[:4] == list(UNSW_NB15_RAW_COLUMNS[:4])
    path = _write(tmp_path / "UNSW-NB15_1.csv", b"".join(lines[1:]))
    headerless, headered = load_unsw_nb15(path), load_unsw_nb15(UNSW_49)
    pd.testing.assert_frame_equal(headerless.frame, headered.frame)
    pd.testing.assert_series_equal(headerless.attack_type, headered.attack_type)


def test_unsw_nb15_label_normalisation():
    raw = pd.Series([np.nan, "", " Fuzzers ", "Backdoors", "Normal", "Reconnaissance "])
    assert normalize_unsw_nb15_label(raw).tolist() == [
        "Benign", "Benign", "Fuzzers", "Backdoor", "Benign", "Reconnaissance",
    ]  # fmt: skip


def test_unsw_nb15_inconsistent_label_raises(tmp_path):
    lines = _lines(UNSW_49)
    normal_row = next(line for line in lines[1:] if line.rstrip().endswith(b",,0"))
    bad = normal_row.rstrip()[:-1] + b"1\n"
    path = _write(tmp_path / "x.csv", lines[0] + bad)
    with pytest.raises(ValueError, match="contradicts class 'Benign'"):
        load_unsw_nb15(path)


def test_nsl_kdd_headerless_txt_equals_headered(tmp_path):
    lines = _lines(NSL)
    body = b"".join(line.rstrip(b"\n") + b"\r\n" for line in lines[1:])  # official CRLF
    path = _write(tmp_path / "KDDTrain+.txt", body)
    headerless, headered = load_nsl_kdd(path), load_nsl_kdd(NSL)
    pd.testing.assert_frame_equal(headerless.frame, headered.frame)
    assert pd.api.types.is_string_dtype(headered.data["protocol_type"])  # object or str (pandas 3)
    assert (headered.frame["label"] == "normal").sum() == (headered.target == 0).sum() > 0


def test_rt_iot2022_benign_classes():
    bunch = load_rt_iot2022(RTIOT)
    raw = bunch.frame["Attack_type"]
    np.testing.assert_array_equal(bunch.target == 0, raw.isin(RT_IOT2022_BENIGN_CLASSES))
    assert {"Thing_Speak", "MQTT_Publish"} <= set(raw)
    assert {"id.resp_p", "proto", "service"} <= set(bunch.data)
    assert "id.orig_p" not in bunch.data


def test_ciciot2023_first_release_format(tmp_path):
    # SYNTHETIC first-release-format file: real merged rows, renamed to the first-release
    # header, the first-release-only columns filled with 0 and made-up 34-class labels.
    merged = pd.read_csv(CICIOT).head(4)
    first = merged.drop(columns=["IGMP", "label_multiclass", "label_binary"])
    first = first.rename(columns={"Time_To_Live": "Duration"})
    for name in CICIOT2023_FEATURES[39:]:
        first[name] = 0.0
    first["label"] = ["BenignTraffic", "DDoS-SYN_Flood", "Mirai-udpplain", "BenignTraffic"]
    path = tmp_path / "part-00000.csv"
    first.to_csv(path, index=False)
    bunch = load_ciciot2023(path)
    assert bunch.attack_type.tolist() == ["Benign", "DDoS-SYN_Flood", "Mirai-udpplain", "Benign"]
    assert bunch.target.tolist() == [0, 1, 1, 0]
    assert "IGMP" not in bunch.data and "Time_To_Live" in bunch.data
    mixed = load_ciciot2023([CICIOT, path])
    assert mixed.data["IGMP"].isna().sum() == 4
    assert mixed.data["Srate"].isna().sum() == 300


WRONG = [
    (load_cicids2017, NSL, "CIC-IDS2017"),
    (load_cicids2017, UNSW_45, "CIC-IDS2017"),
    (load_unsw_nb15, CIC_NEW, "UNSW-NB15"),
    (load_unsw_nb15, NSL, "UNSW-NB15"),
    (load_ciciot2023, RTIOT, "CICIoT2023"),
    (load_rt_iot2022, CICIOT, "RT-IoT2022"),
    (load_nsl_kdd, CIC_OLD, "NSL-KDD"),
    (load_nsl_kdd, UNSW_49, "NSL-KDD"),
]


@pytest.mark.parametrize(("loader", "path", "name"), WRONG)
def test_wrong_format_raises(loader, path, name):
    with pytest.raises(ValueError, match=rf"is not a {name} file.*missing \d+ required columns"):
        loader(path)


def test_wrong_format_message_lists_missing_columns():
    with pytest.raises(ValueError) as info:
        load_cicids2017(NSL)
    message = str(info.value)
    assert "original MachineLearningCVE" in message and "corrected re-extraction" in message
    assert "'Dst Port'" in message and str(NSL) in message
    with pytest.raises(ValueError, match="headerless file with 43 columns"):
        load_nsl_kdd(CICIOT)


def test_wrong_file_in_folder_raises(tmp_path):
    (tmp_path / "a.csv.gz").write_bytes(CIC_NEW.read_bytes())
    (tmp_path / "b.csv.gz").write_bytes(NSL.read_bytes())
    with pytest.raises(ValueError, match="b.csv.gz is not a CIC-IDS2017 file"):
        load_cicids2017(tmp_path)


def test_path_inputs(tmp_path):
    reference = load_rt_iot2022(RTIOT)
    plain = _write(tmp_path / "rt.csv", gzip.decompress(RTIOT.read_bytes()))
    (tmp_path / "notes.md").write_text("ignored: not a data file")
    for path in (str(RTIOT), plain, [plain], (RTIOT,), tmp_path):
        pd.testing.assert_frame_equal(load_rt_iot2022(path).frame, reference.frame)
    twice = load_rt_iot2022([RTIOT, plain])
    assert len(twice.frame) == 2 * len(reference.frame)
    assert twice.frame.index.equals(pd.RangeIndex(2 * len(reference.frame)))


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_nsl_kdd(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="holds no"):
        load_nsl_kdd(tmp_path)
    with pytest.raises(ValueError, match="empty list"):
        load_nsl_kdd([])
    with pytest.raises(TypeError, match="path must be"):
        load_nsl_kdd(3)
    with pytest.raises(ValueError, match="file is empty"):
        load_nsl_kdd(_write(tmp_path / "empty.csv", b"\n"))


def test_load_sample():
    bunch = load_sample()
    path = Path(__file__).resolve().parents[1] / "moeids/datasets/data/cicids2017_sample.csv.gz"
    assert path.stat().st_size <= 1_000_000
    assert 4500 <= len(bunch.frame) <= 5500
    assert set(bunch.attack_type) == set(CICIDS2017_LABELS)
    assert bunch.feature_names == list(CICIDS2017_FEATURES)
    assert bunch.attack_type.value_counts().max() == 450
    assert "sample" in bunch.DESCR and "Engelen" in bunch.DESCR
    assert bunch.metadata[["id", "Flow ID", "Timestamp"]].duplicated().sum() == 0


def test_shared_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MOEIDS_DATA", str(tmp_path))
    assert shared_data_home() == tmp_path
    monkeypatch.setenv("MOEIDS_DATA", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="MOEIDS_DATA"):
        shared_data_home()


def _provenance(folder):
    """{file: (rows, label column, {label: count})} from a PROVENANCE.md."""
    text = (folder / "PROVENANCE.md").read_text()
    out = {}
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        name = re.match(r"`([^`]+)`", section).group(1)
        rows = int(re.search(r"- rows: (\d+)", section).group(1))
        label = re.search(r"- label column: `\s*([^`\s]+)", section).group(1)
        counts = {k: int(v) for k, v in re.findall(r"^\| `([^`]*)` \| (\d+) \|$", section, re.M)}
        out[name] = (rows, label, counts)
    return out


SHARED_LOADERS = {
    "cic_ids2017": load_cicids2017,
    "unsw_nb15": load_unsw_nb15,
    "ciciot2023": load_ciciot2023,
    "rt_iot2022": load_rt_iot2022,
    "nsl_kdd": load_nsl_kdd,
}


@pytest.mark.slow  # hashes and loads every shared file (~40 s)
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared datasets not found at {SHARED}")
@pytest.mark.parametrize("folder", SHARED_LOADERS)
def test_shared_files_match_provenance(folder):
    loader = SHARED_LOADERS[folder]
    files = _provenance(SHARED / folder)
    assert files, f"no file sections in {folder}/PROVENANCE.md"
    total = 0
    for name, (rows, label, counts) in files.items():
        bunch = loader(SHARED / folder / name)
        assert len(bunch.frame) == rows == sum(counts.values())
        observed = bunch.frame[label].fillna("").astype(str).value_counts().to_dict()
        assert observed == counts
        assert bunch.target.sum() == len(bunch.target) - (bunch.attack_type == "Benign").sum()
        assert not bunch.data.empty and bunch.data.columns.is_unique
        total += rows
    assert len(loader(SHARED / folder).frame) == total
