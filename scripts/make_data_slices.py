"""Write the small real data slices in tests/data/ and the bundled CIC-IDS2017 sample.

Usage: python scripts/make_data_slices.py SHARED_DIR

SHARED_DIR is the shared dataset folder (``../shared/datasets``). Rows are chosen by line: the
header line and the chosen data lines are copied byte for byte (line endings, BOM, number
formatting unchanged) in their original order and gzip-compressed with a zero mtime, so the
output is reproducible. pandas only reads the labels to choose lines.
"""

import argparse
import gzip
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TESTS_DATA = ROOT / "tests" / "data"
SAMPLE = ROOT / "moeids" / "datasets" / "data" / "cicids2017_sample.csv.gz"
SEED = 20240601
SAMPLE_CAP = 450


def read_lines(path):
    """Header line and data lines (bytes, line endings kept) plus the parsed frame."""
    raw = gzip.decompress(path.read_bytes())
    lines = io.BytesIO(raw).readlines()
    frame = pd.read_csv(io.BytesIO(raw), low_memory=False, keep_default_na=False, dtype=str)
    if len(frame) != len(lines) - 1:
        sys.exit(f"{path}: {len(frame)} parsed rows but {len(lines) - 1} data lines")
    return lines[0], lines[1:], frame


def stratified(labels, cap, seed):
    """Sorted row positions: every row of a class with <= cap rows, else cap random rows."""
    rng = np.random.default_rng(seed)
    chosen = []
    for _, positions in sorted(labels.groupby(labels, sort=True).indices.items()):
        if len(positions) > cap:
            positions = rng.choice(positions, size=cap, replace=False)
        chosen.extend(positions.tolist())
    return sorted(chosen)


def write(path, header, lines, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    body = header + b"".join(lines[i] for i in rows)
    path.write_bytes(gzip.compress(body, compresslevel=9, mtime=0))
    print(f"{path.relative_to(ROOT)}: {len(rows)} rows, {path.stat().st_size} bytes")


def first_rows_and(n, extra):
    """Selector: the first ``n`` data rows plus the rows where ``extra(line, row)`` is true."""

    def select(lines, frame):
        return [i for i, line in enumerate(lines) if i < n or extra(line, frame.iloc[i])]

    return select


def by_class(column, cap):
    """Selector: stratified by ``column`` with at most ``cap`` rows per class."""
    return lambda lines, frame: stratified(frame[column], cap, SEED)


# (shared file, output file, row selector)
SLICES = [
    (
        "cic_ids2017/cicids2017_improved_sample.shared.csv.gz",
        TESTS_DATA / "cic_ids2017" / "cicids2017_improved.slice.csv.gz",
        by_class("Label", 20),
    ),
    (
        "cic_ids2017/cicids2017_improved_sample.shared.csv.gz",
        SAMPLE,
        by_class("Label", SAMPLE_CAP),
    ),
    (  # contiguous benign rows plus every row with an Infinity or NaN cell
        "cic_ids2017/Friday-WorkingHours-Afternoon-DDos.pcap_ISCX.first9998rows.csv.gz",
        TESTS_DATA / "cic_ids2017" / "cicids2017_original_friday.slice.csv.gz",
        first_rows_and(250, lambda line, row: b"Infinity" in line or b"NaN" in line),
    ),
    (
        "unsw_nb15/UNSW_NB15_testing-set.subset4528.csv.gz",
        TESTS_DATA / "unsw_nb15" / "unsw_nb15_official45.slice.csv.gz",
        by_class("attack_cat", 35),
    ),
    (  # the first 200 rows (contiguous in time) plus every attack row, in capture order
        "unsw_nb15/UNSW-NB15_1.first3000rows.raw49.csv.gz",
        TESTS_DATA / "unsw_nb15" / "unsw_nb15_raw49.slice.csv.gz",
        first_rows_and(200, lambda line, row: row["Label"] == "1"),
    ),
    (
        "ciciot2023/CICIoT2023_sample.shared.csv.gz",
        TESTS_DATA / "ciciot2023" / "ciciot2023_merged.slice.csv.gz",
        by_class("label_multiclass", 30),
    ),
    (
        "rt_iot2022/RT_IOT2022.random_sample5000.csv.gz",
        TESTS_DATA / "rt_iot2022" / "rt_iot2022.slice.csv.gz",
        by_class("Attack_type", 35),
    ),
    (
        "nsl_kdd/KDDTrain+_20Percent.csv.gz",
        TESTS_DATA / "nsl_kdd" / "kddtrain20.slice.csv.gz",
        by_class("label", 15),
    ),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared_dir", type=Path, help="the shared dataset folder")
    shared = parser.parse_args(argv).shared_dir
    for source, target, select in SLICES:
        header, lines, frame = read_lines(shared / source)
        write(target, header, lines, select(lines, frame))


if __name__ == "__main__":
    main()
