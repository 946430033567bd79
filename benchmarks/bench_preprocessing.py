"""Time FeatureSplitter on the shared CIC-IDS2017 sample; writes docs/results/preprocessing.md.

    python benchmarks/bench_preprocessing.py [--data DIR] [--out DIR or PATH.md]

Best of 7 runs per operation, on the corrected CIC-IDS2017 sample (Engelen et al. 2021
re-extraction of Sharafaldin et al., ICISSP 2018).
"""

from __future__ import annotations

import warnings

import _common as C
import _timing as T

from moeids import FeatureSplitter
from moeids.features.splitter import MissingFeaturesWarning

N_ROWS = 20_000


def main(argv=None):
    parser = C.make_parser(__doc__.splitlines()[0], quick=False, datasets=False, max_train=False)
    args = C.parse_args(parser, __file__, argv)
    flows = C.DATASETS["cicids2017"].load(C.data_dir(args)).data
    rows = flows.iloc[:N_ROWS]
    fitted = FeatureSplitter().fit(flows)
    absent = rows.drop(columns=["Flow Duration", "Flow IAT Mean", "Total Fwd Packet"])
    text = rows.astype(str)
    n_out = len(fitted.get_feature_names_out())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingFeaturesWarning)
        timings = {
            f"`fit`, {len(flows):,} rows, `missing='mask'`": T.best_of(
                lambda: FeatureSplitter().fit(flows)
            ),
            f"`fit`, {len(flows):,} rows, `missing='median'`": T.best_of(
                lambda: FeatureSplitter(missing="median").fit(flows)
            ),
            f"`transform`, {len(rows):,} rows x {rows.shape[1]} columns -> {n_out} outputs": (
                T.best_of(lambda: fitted.transform(rows))
            ),
            "same, 3 fitted columns absent": T.best_of(lambda: fitted.transform(absent)),
            "`transform`, one row": T.best_of(lambda: fitted.transform(rows.iloc[:1])),
            f"`transform`, {len(rows):,} rows, every cell as text (`astype(str)`)": T.best_of(
                lambda: fitted.transform(text), repeat=3
            ),
        }
    lines = [
        "# FeatureSplitter timings",
        "",
        f"Produced by `{C.command()}` (do not edit by hand; rerun the command).",
        f"Environment: {C.environment()}.",
        "",
        "| operation | seconds (best of 7; text: of 3) |",
        "|---|---|",
        *(f"| {name} | {seconds:.4f} |" for name, seconds in timings.items()),
        "",
    ]
    C.write(C.page_path(args.out, "preprocessing.md"), "\n".join(lines))


if __name__ == "__main__":
    main()
