"""Bulk scoring keeps freed batch memory in the heap (glibc ``mallopt``)."""

import ctypes
import platform
import subprocess
import sys
import textwrap

import pytest

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# a 20 MiB block freed after retain_batch_memory(): served from the heap (not mmap-ed) and
# still in the heap after free (not trimmed); mallinfo2 needs glibc >= 2.33
CHECK = textwrap.dedent(
    """
    import ctypes
    from moeids._malloc import retain_batch_memory

    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = Info
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    assert retain_batch_memory() and retain_batch_memory()
    size = 20 * 2**20
    mapped = libc.mallinfo2().hblkhd
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    assert libc.mallinfo2().hblkhd == mapped, "the block was mmap-ed"
    libc.free(block)
    assert libc.mallinfo2().fordblks >= size, "the freed block left the heap"
    print("ok")
    """
)


@pytest.mark.skipif(
    not GLIBC or not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="glibc >= 2.33 only"
)
def test_retain_batch_memory_keeps_a_freed_batch_block_in_the_heap():
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_bulk_scoring_paths_retain_batch_memory(monkeypatch):
    import pandas as pd

    from moeids import distributed
    from moeids.cli import predict

    calls = []
    monkeypatch.setattr(distributed, "retain_batch_memory", lambda: calls.append("dask"))
    monkeypatch.setattr("moeids._malloc.retain_batch_memory", lambda: calls.append("cli"))
    monkeypatch.setattr(distributed, "_meta", lambda model, kept: kept)
    distributed._score_partition(pd.DataFrame({"a": []}), None, 1, ["a"])
    predict.score_files(_Bare(), [], None, chunk_size=10)
    assert calls == ["dask", "cli"]


class _Bare:
    classes_ = ("benign", "attack")
