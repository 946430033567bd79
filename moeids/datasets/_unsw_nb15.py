"""UNSW-NB15 loader: official 45-column training/testing sets and raw 49-column files."""

from ._base import DatasetSpec, FileFormat, binary_target, check_consistent, load

#: Canonical feature names: the official training/testing-set columns without ``id``,
#: ``attack_cat`` and ``label``, in their order.
UNSW_NB15_FEATURES = (
    "dur", "proto", "service", "state", "spkts", "dpkts", "sbytes", "dbytes", "rate", "sttl",
    "dttl", "sload", "dload", "sloss", "dloss", "sinpkt", "dinpkt", "sjit", "djit", "swin",
    "stcpb", "dtcpb", "dwin", "tcprtt", "synack", "ackdat", "smean", "dmean", "trans_depth",
    "response_body_len", "ct_srv_src", "ct_state_ttl", "ct_dst_ltm", "ct_src_dport_ltm",
    "ct_dst_sport_ltm", "ct_dst_src_ltm", "is_ftp_login", "ct_ftp_cmd", "ct_flw_http_mthd",
    "ct_src_ltm", "ct_srv_dst", "is_sm_ips_ports",
)  # fmt: skip

#: Column names of the headerless raw ``UNSW-NB15_1.csv`` .. ``_4.csv`` files, as listed in the
#: official ``NUSW-NB15_features.csv`` (including its typo ``ct_src_ ltm``).
UNSW_NB15_RAW_COLUMNS = (
    "srcip", "sport", "dstip", "dsport", "proto", "state", "dur", "sbytes", "dbytes", "sttl",
    "dttl", "sloss", "dloss", "service", "Sload", "Dload", "Spkts", "Dpkts", "swin", "dwin",
    "stcpb", "dtcpb", "smeansz", "dmeansz", "trans_depth", "res_bdy_len", "Sjit", "Djit", "Stime",
    "Ltime", "Sintpkt", "Dintpkt", "tcprtt", "synack", "ackdat", "is_sm_ips_ports",
    "ct_state_ttl", "ct_flw_http_mthd", "is_ftp_login", "ct_ftp_cmd", "ct_srv_src", "ct_srv_dst",
    "ct_dst_ltm", "ct_src_ ltm", "ct_src_dport_ltm", "ct_dst_sport_ltm", "ct_dst_src_ltm",
    "attack_cat", "Label",
)  # fmt: skip

#: Raw column name -> canonical (official 45-column) name, for names that differ.
UNSW_NB15_RENAME = {
    "Sload": "sload",
    "Dload": "dload",
    "Spkts": "spkts",
    "Dpkts": "dpkts",
    "smeansz": "smean",
    "dmeansz": "dmean",
    "res_bdy_len": "response_body_len",
    "Sjit": "sjit",
    "Djit": "djit",
    "Sintpkt": "sinpkt",
    "Dintpkt": "dinpkt",
    "ct_src_ ltm": "ct_src_ltm",
    "Label": "label",
}

#: Attack categories in the official spelling; raw spellings are mapped onto them.
UNSW_NB15_LABELS = (
    "Benign", "Analysis", "Backdoor", "DoS", "Exploits", "Fuzzers", "Generic", "Reconnaissance",
    "Shellcode", "Worms",
)  # fmt: skip

_LABEL_LOOKUP = {name.lower(): name for name in UNSW_NB15_LABELS} | {
    "": "Benign",
    "normal": "Benign",
    "backdoors": "Backdoor",
}

_METADATA = ("id", "srcip", "sport", "dstip", "dsport", "Stime", "Ltime")

_DESCR = """\
UNSW-NB15 network flows (Argus/Bro features), UNSW Canberra cyber range, 2015.

Moustafa & Slay, "UNSW-NB15: a comprehensive data set for network intrusion detection systems
(UNSW-NB15 network data set)", MilCIS 2015. Column names are those of the official
training/testing sets; see docs/datasets.md."""


def normalize_unsw_nb15_label(values):
    """Map UNSW-NB15 ``attack_cat`` spellings onto :data:`UNSW_NB15_LABELS`.

    Missing or empty cells (normal rows of the raw files) and ``Normal`` become ``Benign``;
    surrounding spaces are stripped (raw files write ``" Fuzzers "``); matching is
    case-insensitive; ``Backdoors`` becomes ``Backdoor``. Unknown names are returned stripped.

    Parameters
    ----------
    values : pandas.Series

    Returns
    -------
    labels : pandas.Series of str

    Examples
    --------
    >>> import pandas as pd
    >>> from moeids.datasets import normalize_unsw_nb15_label
    >>> normalize_unsw_nb15_label(pd.Series([" Fuzzers ", "Backdoors", "normal"])).tolist()
    ['Fuzzers', 'Backdoor', 'Benign']
    """
    stripped = values.astype(object).fillna("").astype(str).str.strip()
    uniques = stripped.unique()
    return stripped.map({u: _LABEL_LOOKUP.get(u.lower(), u) for u in uniques})


def _labels(frame, source):
    attack_type = normalize_unsw_nb15_label(frame["attack_cat"])
    target = binary_target(frame["label"], "label", source)
    check_consistent(attack_type, target, "label", source)
    return attack_type, target


_SPEC = DatasetSpec(
    name="UNSW-NB15",
    formats=(
        FileFormat(
            name="official training/testing set (45 columns)",
            required=(*UNSW_NB15_FEATURES, "attack_cat", "label"),
            labels=_labels,
        ),
        FileFormat(
            name="raw UNSW-NB15_*.csv (49 columns)",
            required=(*(f for f in UNSW_NB15_FEATURES if f != "rate"), "attack_cat", "label"),
            labels=_labels,
            headerless_names=UNSW_NB15_RAW_COLUMNS,
        ),
    ),
    rename=UNSW_NB15_RENAME,
    features=UNSW_NB15_FEATURES,
    metadata=_METADATA,
    label_columns=("attack_cat", "label"),
    descr=_DESCR,
)


def load_unsw_nb15(path):
    """Load UNSW-NB15 flows from official 45-column or raw 49-column CSV files.

    Parameters
    ----------
    path : str, path-like or list of them
        A file, a folder (its ``*.csv``, ``*.csv.gz``, ``*.txt`` files, sorted) or a list.
        Raw files may have no header (as published) or the header of
        :data:`UNSW_NB15_RAW_COLUMNS`. Formats may be mixed; ``rate`` (official only) is NaN
        for raw rows.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``frame``, ``data`` (n_rows, n_features), ``target`` (n_rows,) from the ``label``
        column, ``attack_type`` (n_rows,), ``metadata`` (``id``, ``srcip``, ``sport``,
        ``dstip``, ``dsport``, ``Stime``, ``Ltime`` where present), ``feature_names``,
        ``DESCR``.

    Raises
    ------
    ValueError
        If a file is in neither format, or ``label`` disagrees with ``attack_cat``.

    Examples
    --------
    The real files come from the dataset's publisher (``docs/datasets.md``); here a
    synthetic two-row file in the official UNSW-NB15 training/testing set layout (all features 0):

    >>> import os, tempfile
    >>> import pandas as pd
    >>> from moeids.datasets import UNSW_NB15_FEATURES, load_unsw_nb15
    >>> synthetic = pd.DataFrame(0, index=range(2), columns=list(UNSW_NB15_FEATURES))
    >>> synthetic["attack_cat"], synthetic["label"] = ["Normal", "Exploits"], [0, 1]
    >>> path = os.path.join(tempfile.mkdtemp(), "synthetic_unsw_nb15.csv")
    >>> synthetic.to_csv(path, index=False)
    >>> flows = load_unsw_nb15(path)
    >>> flows.data.shape, flows.target.tolist(), flows.attack_type.tolist()
    ((2, 42), [0, 1], ['Benign', 'Exploits'])
    """
    return load(_SPEC, path)
