"""Loaders for five public network-intrusion datasets, and a bundled real sample.

Every loader takes a file, a folder or a list of files and returns a
:class:`sklearn.utils.Bunch` with ``frame``, ``data``, ``target`` (0 benign / 1 attack),
``attack_type``, ``metadata``, ``feature_names`` and ``DESCR``. Column names are mapped to one
canonical spelling per dataset; see ``docs/datasets.md``.
"""

from ._base import shared_data_home
from ._cicids2017 import (
    CICIDS2017_FEATURES,
    CICIDS2017_LABELS,
    CICIDS2017_RENAME,
    load_cicids2017,
    load_sample,
    normalize_cicids2017_label,
)
from ._ciciot2023 import CICIOT2023_FEATURES, CICIOT2023_RENAME, load_ciciot2023
from ._nsl_kdd import NSL_KDD_COLUMNS, NSL_KDD_FEATURES, load_nsl_kdd
from ._rt_iot2022 import RT_IOT2022_BENIGN_CLASSES, RT_IOT2022_FEATURES, load_rt_iot2022
from ._unsw_nb15 import (
    UNSW_NB15_FEATURES,
    UNSW_NB15_LABELS,
    UNSW_NB15_RAW_COLUMNS,
    UNSW_NB15_RENAME,
    load_unsw_nb15,
    normalize_unsw_nb15_label,
)

__all__ = [
    "CICIDS2017_FEATURES",
    "CICIDS2017_LABELS",
    "CICIDS2017_RENAME",
    "CICIOT2023_FEATURES",
    "CICIOT2023_RENAME",
    "NSL_KDD_COLUMNS",
    "NSL_KDD_FEATURES",
    "RT_IOT2022_BENIGN_CLASSES",
    "RT_IOT2022_FEATURES",
    "UNSW_NB15_FEATURES",
    "UNSW_NB15_LABELS",
    "UNSW_NB15_RAW_COLUMNS",
    "UNSW_NB15_RENAME",
    "load_cicids2017",
    "load_ciciot2023",
    "load_nsl_kdd",
    "load_rt_iot2022",
    "load_sample",
    "load_unsw_nb15",
    "normalize_cicids2017_label",
    "normalize_unsw_nb15_label",
    "shared_data_home",
]
