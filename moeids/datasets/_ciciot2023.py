"""CICIoT2023 loader: the 39-feature merged CSVs and the first-release 46-feature CSVs."""

from ._base import (
    DatasetSpec,
    FileFormat,
    binary_target,
    check_consistent,
    load,
    require_labels,
)

#: Canonical feature names: the 39 features of the merged CSV variant, then the features only
#: the first-release CSVs have.
CICIOT2023_FEATURES = (
    "Header_Length", "Protocol Type", "Time_To_Live", "Rate", "fin_flag_number",
    "syn_flag_number", "rst_flag_number", "psh_flag_number", "ack_flag_number",
    "ece_flag_number", "cwr_flag_number", "ack_count", "syn_count", "fin_count", "rst_count",
    "HTTP", "HTTPS", "DNS", "Telnet", "SMTP", "SSH", "IRC", "TCP", "UDP", "DHCP", "ARP", "ICMP",
    "IGMP", "IPv", "LLC", "Tot sum", "Min", "Max", "AVG", "Std", "Tot size", "IAT", "Number",
    "Variance",
    # first release only
    "flow_duration", "Srate", "Drate", "urg_count", "Magnitue", "Radius", "Covariance", "Weight",
)  # fmt: skip

_MERGED_ONLY = ("IGMP",)
_FIRST_RELEASE_ONLY = (
    "flow_duration", "Srate", "Drate", "urg_count", "Magnitue", "Radius", "Covariance", "Weight",
)  # fmt: skip

#: First-release column name -> canonical name. Neto et al. (2023, feature table) describe the
#: first release's ``Duration`` as the packets' time-to-live; the merged CSVs call it
#: ``Time_To_Live``.
CICIOT2023_RENAME = {"Duration": "Time_To_Live"}

_BENIGN = {"benign", "benigntraffic"}

_DESCR = """\
CICIoT2023 IoT network traffic features (windows of packets), 105-device IoT topology.

Neto, Dadkhah, Ferreira, Zohourian, Lu & Ghorbani, "CICIoT2023: A Real-Time Dataset and
Benchmark for Large-Scale Attacks in IoT Environment", Sensors 23(13):5941, 2023 (UNB CIC).
See docs/datasets.md for the two supported CSV variants."""


def _benign(values):
    return values.where(~values.str.lower().isin(_BENIGN), "Benign")


def _merged_labels(frame, source):
    attack_type = _benign(require_labels(frame["label_multiclass"], "label_multiclass", source))
    target = binary_target(frame["label_binary"], "label_binary", source)
    check_consistent(attack_type, target, "label_binary", source)
    return attack_type, target


def _first_release_labels(frame, source):
    attack_type = _benign(require_labels(frame["label"], "label", source))
    return attack_type, (attack_type != "Benign").astype("int64")


_SPEC = DatasetSpec(
    name="CICIoT2023",
    formats=(
        FileFormat(
            name="merged CSV (39 features, label_multiclass/label_binary)",
            required=(
                *(f for f in CICIOT2023_FEATURES if f not in _FIRST_RELEASE_ONLY),
                "label_multiclass",
                "label_binary",
            ),
            labels=_merged_labels,
        ),
        FileFormat(
            name="first-release CSV (46 features, 34-class label)",
            required=(*(f for f in CICIOT2023_FEATURES if f not in _MERGED_ONLY), "label"),
            labels=_first_release_labels,
        ),
    ),
    rename=CICIOT2023_RENAME,
    features=CICIOT2023_FEATURES,
    metadata=(),
    label_columns=("label_multiclass", "label_binary", "label"),
    descr=_DESCR,
)


def load_ciciot2023(path):
    """Load CICIoT2023 rows from merged (39-feature) or first-release (46-feature) CSVs.

    ``attack_type`` is the 10-family ``label_multiclass`` of merged files and the 34-class
    ``label`` of first-release files (``BenignTraffic`` becomes ``Benign``); mixed inputs
    therefore mix the two granularities. Features absent from a variant are NaN for its rows.

    Parameters
    ----------
    path : str, path-like or list of them
        A file, a folder (its ``*.csv``, ``*.csv.gz``, ``*.txt`` files, sorted) or a list.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``frame``, ``data`` (n_rows, n_features), ``target`` (n_rows,), ``attack_type``
        (n_rows,), ``metadata`` (no identifier columns: empty unless ``Unnamed: 0``),
        ``feature_names``, ``DESCR``.

    Raises
    ------
    ValueError
        If a file is in neither variant, or ``label_binary`` disagrees with
        ``label_multiclass``.

    Examples
    --------
    The real files come from the dataset's publisher (``docs/datasets.md``); here a
    synthetic two-row file in the first-release CICIoT2023 CSV layout (all features 0):

    >>> import os, tempfile
    >>> import pandas as pd
    >>> from moeids.datasets import CICIOT2023_FEATURES, load_ciciot2023
    >>> columns = [c for c in CICIOT2023_FEATURES if c != "IGMP"]  # IGMP: merged files only
    >>> synthetic = pd.DataFrame(0, index=range(2), columns=columns)
    >>> synthetic["label"] = ["BenignTraffic", "DDoS-SYN_Flood"]
    >>> path = os.path.join(tempfile.mkdtemp(), "synthetic_ciciot2023.csv")
    >>> synthetic.to_csv(path, index=False)
    >>> flows = load_ciciot2023(path)
    >>> flows.data.shape, flows.target.tolist(), flows.attack_type.tolist()
    ((2, 46), [0, 1], ['Benign', 'DDoS-SYN_Flood'])
    """
    return load(_SPEC, path)
