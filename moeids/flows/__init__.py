"""Flows from packets: read packet captures into flow tables that the models take.

:func:`read_pcap` turns a capture (pcap or pcapng), a folder of captures or a list of them
into one flow table, returned like the dataset loaders return theirs: a
:class:`sklearn.utils.Bunch` whose ``data`` holds the flow features and whose ``metadata``
holds the 5-tuple, the start and end times and the capture each flow came from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.utils import Bunch

from ..datasets._base import expand_paths
from ._nfstream import NFSTREAM_METADATA, nfstream_flows

__all__ = ["CAPTURE_SUFFIXES", "EXTRACTORS", "NFSTREAM_METADATA", "capture_paths", "read_pcap"]

#: Flow extractors that :func:`read_pcap` can run.
EXTRACTORS = ("nfstream",)

#: File endings that a folder's captures have.
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")

_NOT_AVAILABLE = {
    "cicflowmeter": (
        "extractor='cicflowmeter' is not available: the Python cicflowmeter package 0.5.0 "
        "needs Python >= 3.12 and older releases differ in names and units; use "
        "extractor='nfstream'"
    ),
}


def capture_paths(path) -> list[Path]:
    """Capture files named by a file, a folder or a list of them.

    Parameters
    ----------
    path : str, path-like or list of them
        A folder contributes its ``*.pcap``, ``*.pcapng`` and ``*.cap`` files, sorted by name.

    Returns
    -------
    files : list of pathlib.Path

    Examples
    --------
    The real captures of the repository's test data (``tests/data/pcaps``, in a source
    checkout):

    >>> from pathlib import Path
    >>> import moeids
    >>> from moeids.flows import capture_paths
    >>> pcaps = Path(moeids.__file__).parents[1] / "tests" / "data" / "pcaps"
    >>> [path.name for path in capture_paths(pcaps)]  # doctest: +NORMALIZE_WHITESPACE
    ['WebattackSQLinj.pcap', 'one_flow.pcap', 'ssh.pcap', 'synscan.pcap', 'trickbot.pcap']
    """
    return expand_paths(path, CAPTURE_SUFFIXES, what="capture file")


def _read_one(source, extractor, progress, options):
    try:
        data, metadata = nfstream_flows(source, progress=progress, **options)
    except ValueError as exc:  # NFStream's "unknown file format" names no file
        raise ValueError(f"{source}: cannot read as a packet capture ({exc})") from exc
    metadata.insert(0, "capture", source.name)
    return data, metadata


def _canonical(data, extractor, names):
    """``data`` in the canonical vocabulary when asked and moeids has one, and what was done."""
    if names not in ("canonical", "extractor"):
        raise ValueError(f"names must be 'canonical' or 'extractor', got {names!r}")
    try:  # the vocabulary of moeids.features (issue 20); absent from older moeids
        from moeids.features.canonical import to_canonical
    except ImportError:
        return data, None
    if names == "extractor":
        return data, None
    return to_canonical(data, extractor)


def read_pcap(path, extractor="nfstream", *, names="canonical", progress=False, **options) -> Bunch:
    """Read packet captures into a flow table.

    Parameters
    ----------
    path : str, path-like or list of them
        A capture file (pcap or pcapng), a folder of them or a list.
    extractor : {"nfstream"}, default="nfstream"
        Flow meter. ``"nfstream"`` runs NFStream (``pip install 'moeids[flows]'``) with
        ``statistical_analysis=True``: bidirectional flows, 120 s idle and 1800 s active
        timeouts unless ``options`` say otherwise.
    names : {"canonical", "extractor"}, default="canonical"
        ``"canonical"``: feature names and units of moeids' vocabulary
        (``moeids.features.canonical.to_canonical`` with the extractor's profile), so that a
        model trained on CIC-IDS2017 files reads the flows; left as the extractor's when this
        moeids has no vocabulary. ``"extractor"``: the extractor's own names and units.
    progress : bool, default=False
        Show a tqdm counter of the flows read from each file (on a terminal).
    **options
        Passed to the extractor (for NFStream: ``idle_timeout``, ``active_timeout``,
        ``bpf_filter``, ``n_dissections``, ...).

    Returns
    -------
    flows : sklearn.utils.Bunch
        ``data`` (n_flows, n_features): the extractor's feature columns, destination port
        and protocol included (see ``names``; NFStream's own units: bytes, milliseconds);
        ``metadata`` (n_flows, n_identifiers): ``capture`` (file name), the 5-tuple
        (``src_ip``, ``src_port``, ``dst_ip``, ``dst_port``, ``protocol``), ``first_seen`` and
        ``last_seen`` (UTC datetimes) and NFStream's other identifier columns;
        ``feature_names``; ``extractor``; ``canonical_report`` (what the renaming did, or
        None); ``DESCR``. Rows are ordered by capture, then by
        first packet; the index runs 0..n_flows-1 in both frames.

    Raises
    ------
    ImportError
        If the extractor is not installed (the message names the extra to install).
    ValueError
        If ``extractor`` is unknown, or a file is not a packet capture.

    Examples
    --------
    One real TLS flow (``one_flow.pcap`` of the repository's test data, from NFStream's test
    suite):

    >>> from pathlib import Path
    >>> import moeids
    >>> from moeids.flows import read_pcap
    >>> pcaps = Path(moeids.__file__).parents[1] / "tests" / "data" / "pcaps"
    >>> flows = read_pcap(pcaps / "one_flow.pcap")
    >>> flows.data.shape, flows.extractor, flows.canonical_report.profile
    ((1, 59), 'nfstream', 'nfstream')
    >>> flows.metadata.loc[0, ["src_ip", "dst_ip"]].tolist(), int(flows.metadata.loc[0, "dst_port"])
    (['192.168.43.18', '66.220.156.68'], 443)
    """
    if extractor in _NOT_AVAILABLE:
        raise ValueError(_NOT_AVAILABLE[extractor])
    if extractor not in EXTRACTORS:
        raise ValueError(f"extractor must be one of {EXTRACTORS}, got {extractor!r}")
    sources = capture_paths(path)
    parts = [_read_one(source, extractor, progress, options) for source in sources]
    data = pd.concat([p[0] for p in parts], ignore_index=True, sort=False)
    data, canonical_report = _canonical(data, extractor, names)
    metadata = pd.concat([p[1] for p in parts], ignore_index=True, sort=False)
    read = "\n".join(
        f"  - {source} ({len(part[0])} flows)" for source, part in zip(sources, parts, strict=True)
    )
    return Bunch(
        data=data,
        metadata=metadata,
        feature_names=list(data.columns),
        extractor=extractor,
        canonical_report=canonical_report,
        DESCR=f"Flows measured by {extractor} (statistical features) from:\n{read}\n",
    )
