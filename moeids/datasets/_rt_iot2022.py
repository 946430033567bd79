"""RT-IoT2022 loader (UCI dataset 942)."""

from ._base import DatasetSpec, FileFormat, load, require_labels

#: Canonical feature names, in file order; ``id.orig_p`` (source port) is an identifier.
RT_IOT2022_FEATURES = (
    "id.resp_p", "proto", "service", "flow_duration", "fwd_pkts_tot", "bwd_pkts_tot",
    "fwd_data_pkts_tot", "bwd_data_pkts_tot", "fwd_pkts_per_sec", "bwd_pkts_per_sec",
    "flow_pkts_per_sec", "down_up_ratio", "fwd_header_size_tot", "fwd_header_size_min",
    "fwd_header_size_max", "bwd_header_size_tot", "bwd_header_size_min", "bwd_header_size_max",
    "flow_FIN_flag_count", "flow_SYN_flag_count", "flow_RST_flag_count", "fwd_PSH_flag_count",
    "bwd_PSH_flag_count", "flow_ACK_flag_count", "fwd_URG_flag_count", "bwd_URG_flag_count",
    "flow_CWR_flag_count", "flow_ECE_flag_count", "fwd_pkts_payload.min", "fwd_pkts_payload.max",
    "fwd_pkts_payload.tot", "fwd_pkts_payload.avg", "fwd_pkts_payload.std",
    "bwd_pkts_payload.min", "bwd_pkts_payload.max", "bwd_pkts_payload.tot",
    "bwd_pkts_payload.avg", "bwd_pkts_payload.std", "flow_pkts_payload.min",
    "flow_pkts_payload.max", "flow_pkts_payload.tot", "flow_pkts_payload.avg",
    "flow_pkts_payload.std", "fwd_iat.min", "fwd_iat.max", "fwd_iat.tot", "fwd_iat.avg",
    "fwd_iat.std", "bwd_iat.min", "bwd_iat.max", "bwd_iat.tot", "bwd_iat.avg", "bwd_iat.std",
    "flow_iat.min", "flow_iat.max", "flow_iat.tot", "flow_iat.avg", "flow_iat.std",
    "payload_bytes_per_second", "fwd_subflow_pkts", "bwd_subflow_pkts", "fwd_subflow_bytes",
    "bwd_subflow_bytes", "fwd_bulk_bytes", "bwd_bulk_bytes", "fwd_bulk_packets",
    "bwd_bulk_packets", "fwd_bulk_rate", "bwd_bulk_rate", "active.min", "active.max",
    "active.tot", "active.avg", "active.std", "idle.min", "idle.max", "idle.tot", "idle.avg",
    "idle.std", "fwd_init_window_size", "bwd_init_window_size", "fwd_last_window_size",
)  # fmt: skip

#: ``Attack_type`` values of the normal (benign) IoT device traffic scenarios.
RT_IOT2022_BENIGN_CLASSES = ("MQTT_Publish", "Thing_Speak", "Wipro_bulb", "Amazon-Alexa")

_DESCR = """\
RT-IoT2022 IoT network flows (Zeek/Flowmeter features), UCI Machine Learning Repository id 942,
licence CC BY 4.0.

B. S. Sharmila & R. Nagapadma, "RT-IoT2022", UCI Machine Learning Repository, 2023,
doi:10.24432/C5P338. Benign = the normal-traffic scenarios MQTT_Publish, Thing_Speak,
Wipro_bulb and Amazon-Alexa; see docs/datasets.md."""


def _labels(frame, source):
    raw = require_labels(frame["Attack_type"], "Attack_type", source)
    attack_type = raw.where(~raw.isin(RT_IOT2022_BENIGN_CLASSES), "Benign")
    return attack_type, (attack_type != "Benign").astype("int64")


_SPEC = DatasetSpec(
    name="RT-IoT2022",
    formats=(
        FileFormat(
            name="RT_IOT2022.csv (82 features, id.orig_p, Attack_type)",
            required=("id.orig_p", *RT_IOT2022_FEATURES, "Attack_type"),
            labels=_labels,
        ),
    ),
    rename={},
    features=RT_IOT2022_FEATURES,
    metadata=("id.orig_p",),
    label_columns=("Attack_type",),
    descr=_DESCR,
)


def load_rt_iot2022(path):
    """Load RT-IoT2022 flows.

    ``attack_type`` is ``Attack_type`` with the four normal-traffic scenarios
    (:data:`RT_IOT2022_BENIGN_CLASSES`) replaced by ``Benign``; ``frame`` keeps the original
    names.

    Parameters
    ----------
    path : str, path-like or list of them
        A file, a folder (its ``*.csv``, ``*.csv.gz``, ``*.txt`` files, sorted) or a list.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``frame``, ``data`` (n_rows, 82) incl. ``id.resp_p``, ``proto`` and ``service``;
        ``target`` (n_rows,); ``attack_type`` (n_rows,); ``metadata`` (``Unnamed: 0``,
        ``id.orig_p``); ``feature_names``; ``DESCR``.

    Raises
    ------
    ValueError
        If a file lacks an RT-IoT2022 column.

    Examples
    --------
    The real files come from the dataset's publisher (``docs/datasets.md``); here a
    synthetic two-row file in the RT_IOT2022.csv layout (all features 0):

    >>> import os, tempfile
    >>> import pandas as pd
    >>> from moeids.datasets import RT_IOT2022_FEATURES, load_rt_iot2022
    >>> synthetic = pd.DataFrame(0, index=range(2), columns=["id.orig_p", *RT_IOT2022_FEATURES])
    >>> synthetic["Attack_type"] = ["MQTT_Publish", "DOS_SYN_Hping"]  # MQTT_Publish is benign
    >>> path = os.path.join(tempfile.mkdtemp(), "synthetic_rt_iot2022.csv")
    >>> synthetic.to_csv(path, index=False)
    >>> flows = load_rt_iot2022(path)
    >>> flows.data.shape, flows.target.tolist(), flows.attack_type.tolist()
    ((2, 82), [0, 1], ['Benign', 'DOS_SYN_Hping'])
    """
    return load(_SPEC, path)
