"""glibc malloc settings for processes that score flows in bulk.

Scoring a batch allocates tensors of tens of MiB (the attention input of 1,024 flows x 84
tokens is ~33 MiB) and frees them before the next batch. With glibc's defaults such blocks
are ``mmap``-ed and unmapped every batch, or the heap is grown and trimmed every batch (a
Dask nanny even starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``), so each batch
page-faults its memory in again: a third or more of a scoring process's CPU time went to
the kernel (measured with ``benchmarks/bench_scale.py``). :func:`retain_batch_memory` keeps
freed blocks in the heap for the next batch instead: the process's peak memory is still
that of one batch, and its memory between batches stays at that peak.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["retain_batch_memory"]

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1024 * 2**20

_retained = False


def retain_batch_memory() -> bool:
    """Keep freed memory in this process's heap (glibc only; once per process).

    Sets ``M_MMAP_THRESHOLD`` to 32 MiB and ``M_TRIM_THRESHOLD`` to 1 GiB with
    ``mallopt``, process-wide. Called by the bulk-scoring paths (``moeids predict``, the
    Dask scoring tasks), never by a library import.

    Returns
    -------
    applied : bool
        False where the C library has no ``mallopt`` (not glibc) or refused a setting.
    """
    global _retained
    if _retained:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _retained = bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _retained
