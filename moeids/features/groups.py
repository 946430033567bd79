"""Name rules and dataset presets that assign flow columns to feature groups.

A column goes to one of three groups or is excluded:

- ``tabular``: numeric packet/byte counters, sizes, flags, ratios (the FT-Transformer expert);
- ``temporal``: timing features -- durations, inter-arrival times, jitter, active/idle
  periods, per-second rates, round-trip times (the 1D-CNN expert);
- ``categorical``: protocol, service, connection state/flag, destination port, ICMP type/code
  and any non-numeric text column;
- excluded: identifiers (ids, IPs, Flow ID, source port, timestamps, pandas index columns) and
  label columns, which would leak or never generalise.

Rules match a *normalised* name: lower case, surrounding whitespace and a UTF-8 BOM removed,
runs of spaces, ``_`` and ``.`` collapsed to one space (``'fwd_iat.min'`` -> ``'fwd iat min'``).
A preset is a small table of dataset-specific decisions checked before the same rules.
``docs/preprocessing.md`` lists the resulting groups for each dataset.
"""

import re

from .names import GROUPS

__all__ = ["EXCLUDED", "GROUPS", "PRESETS", "assign_group", "normalize_name"]

EXCLUDED = "excluded"

_SEPARATORS = re.compile(r"[\s_.]+")

_LABELS = frozenset(
    {
        "label",
        "labels",
        "class",
        "target",
        "attack",
        "attack cat",
        "attack type",
        "label multiclass",
        "label binary",
        "difficulty level",
        "attempted category",
    }
)
_IDENTIFIERS = {
    "identifier": ("id", "flow id", "index", "uid"),
    "IP address": (
        "src ip",
        "dst ip",
        "source ip",
        "destination ip",
        "srcip",
        "dstip",
        "saddr",
        "daddr",
        "src addr",
        "dst addr",
        "id orig h",
        "id resp h",
    ),
    "MAC address": ("src mac", "dst mac"),
    "timestamp": ("timestamp", "ts", "stime", "ltime", "start time", "end time"),
    "source port (ephemeral, identifier-like)": (
        "src port",
        "source port",
        "sport",
        "srcport",
        "id orig p",
    ),
}
_IDENTIFIER_REASON = {name: reason for reason, names in _IDENTIFIERS.items() for name in names}
_INDEX_COLUMN = re.compile(r"^unnamed: ?\d+$")

_CATEGORICAL = frozenset(
    {
        "protocol",
        "proto",
        "protocol type",
        "protocol name",
        "service",
        "state",
        "conn state",
        "flag",
        "dst port",
        "destination port",
        "dsport",
        "dport",
        "dstport",
        "id resp p",
        "resp port",
        "icmp type",
        "icmp code",
    }
)

_TEMPORAL = re.compile(
    "|".join(
        (
            r"\bdur(ation)?\b",  # dur, Flow Duration, flow_duration
            r"\bflow time\b",  # Total TCP Flow Time
            r"\biat\b",  # Flow IAT Mean, fwd_iat.min, IAT
            r"^[sd]int?pkt$",  # sinpkt/dinpkt, Sintpkt/Dintpkt: mean inter-packet time
            r"^[sd]?jit(ter)?$|\bjitter\b",  # sjit, djit
            r"\b(active|idle)\b",  # Active Mean, idle.max
            r"/s$",  # Flow Bytes/s, Fwd Packets/s
            r"\bper sec(ond)?\b",  # fwd_pkts_per_sec, payload_bytes_per_second
            r"\bbulk rate\b",  # Fwd Bulk Rate Avg, fwd_bulk_rate
            r"^[sd]?rate$",  # rate, Rate, Srate, Drate (packets per second)
            r"^[sd]load$",  # sload, dload (bits per second)
            r"^(tcprtt|synack|ackdat|rtt)$",  # TCP handshake round-trip times
        )
    )
)

_KDD_TIME_BASED = "KDD'99 time-based traffic feature (computed over the past 2 seconds)"
_CICIOT_DURATION = "CICIoT2023 'Duration' is the packet TTL, not a time span (Neto et al. 2023)"

#: Dataset presets: normalised name -> (group or "excluded", reason). Checked before the rules.
PRESETS = {
    "cicids2017": {
        "attempted category": (
            EXCLUDED,
            "label-derived (attempt category of the corrected labels)",
        ),
        "fwd header length 1": (
            EXCLUDED,
            "duplicate of 'Fwd Header Length' (pandas-renamed, original CSV quirk)",
        ),
        "total tcp flow time": ("temporal", "time span of the TCP connection"),
        "icmp code": ("categorical", "ICMP code"),
        "icmp type": ("categorical", "ICMP type"),
        "dst port": ("categorical", "destination port"),
        "destination port": ("categorical", "destination port"),
    },
    "unsw_nb15": {
        "dsport": ("categorical", "destination port"),
        "is sm ips ports": ("tabular", "binary indicator (same IPs and ports)"),
        "ct state ttl": ("tabular", "count feature"),
        "sintpkt": ("temporal", "mean inter-packet time"),
        "dintpkt": ("temporal", "mean inter-packet time"),
        "sinpkt": ("temporal", "mean inter-packet time"),
        "dinpkt": ("temporal", "mean inter-packet time"),
    },
    "ciciot2023": {
        "duration": ("tabular", _CICIOT_DURATION),
        "protocol type": ("categorical", "IP protocol number"),
        "ts": (EXCLUDED, "timestamp"),
    },
    "rt_iot2022": {
        "id resp p": ("categorical", "destination (responder) port"),
        "id orig p": (EXCLUDED, "source port (ephemeral, identifier-like)"),
    },
    "nsl_kdd": {
        name: ("temporal", _KDD_TIME_BASED)
        for name in (
            "count",
            "srv count",
            "serror rate",
            "srv serror rate",
            "rerror rate",
            "srv rerror rate",
            "same srv rate",
            "diff srv rate",
            "srv diff host rate",
        )
    }
    | {"difficulty level": (EXCLUDED, "label-derived (NSL-KDD difficulty level)")},
}


def normalize_name(name):
    """Return the normalised form of a column name that the rules match.

    Parameters
    ----------
    name : object
        Column name (converted with ``str``).

    Returns
    -------
    normalized : str
        Lower case, stripped, a byte-order mark removed, each run of whitespace, ``_`` and
        ``.`` one space.

    Examples
    --------
    >>> from moeids.features.groups import normalize_name
    >>> normalize_name(" Flow_IAT-Mean")
    'flow iat-mean'
    """
    return _SEPARATORS.sub(" ", str(name).replace("\ufeff", "").strip().lower())


def assign_group(name, *, is_text, is_datetime, preset=None):
    """Decide the group of one column.

    Parameters
    ----------
    name : str or None
        Column name; ``None`` for positional input (no name rules apply).
    is_text : callable
        ``is_text() -> bool``: whether the column holds values that do not parse as
        numbers (called only when the rules need it).
    is_datetime : bool
        The column has a datetime dtype.
    preset : str or None
        Key of :data:`PRESETS` whose table is checked first.

    Returns
    -------
    group : str
        One of :data:`GROUPS` or ``"excluded"``.
    reason : str
        Why, in words.

    Examples
    --------
    >>> from moeids.features.groups import assign_group
    >>> assign_group("Flow IAT Mean", is_text=lambda: False, is_datetime=False)
    ('temporal', 'timing name')
    """
    if name is not None:
        key = normalize_name(name)
        if preset is not None and key in PRESETS[preset]:
            return PRESETS[preset][key]
        if key in _LABELS:
            return EXCLUDED, "label column"
        if key in _IDENTIFIER_REASON:
            return EXCLUDED, _IDENTIFIER_REASON[key]
        if _INDEX_COLUMN.match(key):
            return EXCLUDED, "pandas index column"
    if is_datetime:
        return EXCLUDED, "datetime column (timestamp)"
    if name is not None:
        if key in _CATEGORICAL:
            return "categorical", "categorical name"
        if _TEMPORAL.search(key):
            return "temporal", "timing name"
    if is_text():
        return "categorical", "non-numeric values"
    return "tabular", "numeric"
