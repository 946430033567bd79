"""NFStream: packets -> one row per bidirectional flow, with its statistical features."""

from __future__ import annotations

import pandas as pd
from tqdm.auto import tqdm

__all__ = ["NFSTREAM_METADATA", "nfstream_flows"]

#: NFStream columns that identify or time a flow rather than describe it: they go to
#: ``metadata``, never to ``data`` (``dst_port`` and ``protocol`` go to both, as the dataset
#: loaders keep ``Dst Port`` and ``Protocol`` among the features).
NFSTREAM_METADATA = (
    "id", "expiration_id", "src_ip", "src_mac", "src_oui", "src_port", "dst_ip", "dst_mac",
    "dst_oui", "dst_port", "protocol", "ip_version", "vlan_id", "tunnel_id",
    "bidirectional_first_seen_ms", "bidirectional_last_seen_ms", "src2dst_first_seen_ms",
    "src2dst_last_seen_ms", "dst2src_first_seen_ms", "dst2src_last_seen_ms",
    # nDPI dissection (only with n_dissections > 0): names and fingerprints, not statistics
    "application_name", "application_category_name", "application_is_guessed",
    "application_confidence", "requested_server_name", "client_fingerprint",
    "server_fingerprint", "user_agent", "content_type",
)  # fmt: skip

#: The two identifier columns that are features too.
_SHARED = ("dst_port", "protocol")

_INSTALL = (
    "reading packet captures needs NFStream: pip install 'moeids[flows]' "
    "(its wheel bundles libpcap and nDPI)"
)


def _streamer(path, options):
    try:
        from nfstream import NFStreamer
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    # n_dissections=0: no nDPI application detection unless asked (it adds names, not numbers)
    settings = {"n_dissections": 0, **options, "statistical_analysis": True}
    return NFStreamer(source=str(path), **settings)


def nfstream_flows(path, *, progress=False, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flows of one capture file as NFStream computes them.

    Parameters
    ----------
    path : path-like
        A pcap or pcapng file.
    progress : bool, default=False
        Show a tqdm counter of the flows read (on a terminal).
    **options
        Passed to ``nfstream.NFStreamer`` (``idle_timeout``, ``active_timeout``,
        ``bpf_filter``, ``n_dissections``, ...); ``statistical_analysis`` is always True.

    Returns
    -------
    data : DataFrame of shape (n_flows, n_features)
        NFStream's feature columns (its names and units: bytes, milliseconds).
    metadata : DataFrame of shape (n_flows, n_identifiers)
        5-tuple, MAC addresses, ``first_seen``/``last_seen`` (UTC datetimes) and the other
        identifier columns of :data:`NFSTREAM_METADATA` that NFStream wrote.
    """
    streamer = _streamer(path, options)
    rows, columns = [], None
    shown = None if progress else True  # None: only on a terminal
    for flow in tqdm(streamer, desc=f"flows in {path}", unit=" flows", disable=shown):
        if columns is None:
            columns = flow.keys()
        rows.append(flow.values())
    if columns is None:  # a capture without a single IP flow
        columns = ["id", "bidirectional_first_seen_ms", "bidirectional_last_seen_ms"]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.sort_values(["bidirectional_first_seen_ms", "id"], kind="stable")
    frame = frame.reset_index(drop=True)
    meta_cols = [c for c in frame.columns if c in NFSTREAM_METADATA]
    metadata = frame[meta_cols].copy()
    for end in ("first", "last"):
        stamps = pd.to_datetime(frame[f"bidirectional_{end}_seen_ms"], unit="ms", utc=True)
        metadata.insert(len(metadata.columns), f"{end}_seen", stamps)
    feature_cols = [c for c in frame.columns if c not in NFSTREAM_METADATA or c in _SHARED]
    return frame[feature_cols].copy(), metadata
