"""NSL-KDD loader: headerless official KDDTrain+/KDDTest+ files and headered copies."""

from ._base import DatasetSpec, FileFormat, load, require_labels

#: The 41 feature names of the official ``KDDTrain+.arff``.
NSL_KDD_FEATURES = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
)  # fmt: skip

#: Names given to the 43 columns of the headerless ``KDDTrain+.txt``/``KDDTest+.txt`` files.
NSL_KDD_COLUMNS = (*NSL_KDD_FEATURES, "label", "difficulty_level")

_DESCR = """\
NSL-KDD connection records (KDD Cup 1999 features, redundant records removed).

Tavallaee, Bagheri, Lu & Ghorbani, "A Detailed Analysis of the KDD CUP 99 Data Set", IEEE CISDA
2009 (UNB CIC). See docs/datasets.md."""


def _labels(frame, source):
    raw = require_labels(frame["label"], "label", source)
    attack_type = raw.where(raw.str.lower() != "normal", "Benign")
    return attack_type, (attack_type != "Benign").astype("int64")


_SPEC = DatasetSpec(
    name="NSL-KDD",
    formats=(
        FileFormat(
            name="KDDTrain+/KDDTest+ (41 features, label, difficulty_level)",
            required=(*NSL_KDD_FEATURES, "label"),
            labels=_labels,
            headerless_names=NSL_KDD_COLUMNS,
        ),
    ),
    rename={},
    features=NSL_KDD_FEATURES,
    metadata=("difficulty_level",),
    label_columns=("label",),
    descr=_DESCR,
)


def load_nsl_kdd(path):
    """Load NSL-KDD records from headerless official files or headered copies.

    Parameters
    ----------
    path : str, path-like or list of them
        A file, a folder (its ``*.csv``, ``*.csv.gz``, ``*.txt`` files, sorted) or a list.
        Headerless files must have the 43 columns of :data:`NSL_KDD_COLUMNS`.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``frame``, ``data`` (n_rows, 41), ``target`` (n_rows,) 0 for ``normal``,
        ``attack_type`` (n_rows,) the attack name (``normal`` -> ``Benign``), ``metadata``
        (``difficulty_level``), ``feature_names``, ``DESCR``.

    Raises
    ------
    ValueError
        If a file is not an NSL-KDD file.

    Examples
    --------
    The real files come from the dataset's publisher (``docs/datasets.md``); here a
    synthetic two-row file in the NSL-KDD layout (all features 0):

    >>> import os, tempfile
    >>> import pandas as pd
    >>> from moeids.datasets import NSL_KDD_FEATURES, load_nsl_kdd
    >>> synthetic = pd.DataFrame(0, index=range(2), columns=list(NSL_KDD_FEATURES))
    >>> synthetic["label"] = ["normal", "neptune"]
    >>> path = os.path.join(tempfile.mkdtemp(), "synthetic_nsl_kdd.csv")
    >>> synthetic.to_csv(path, index=False)
    >>> flows = load_nsl_kdd(path)
    >>> flows.data.shape, flows.target.tolist(), flows.attack_type.tolist()
    ((2, 41), [0, 1], ['Benign', 'neptune'])
    """
    return load(_SPEC, path)
