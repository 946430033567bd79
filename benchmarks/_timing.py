"""Timing, compute and memory measurements shared by the speed benchmarks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

__all__ = ["PeakMemory", "best_of", "matmul_gflops"]


def best_of(function, repeat=7):
    """Shortest wall-clock time (s) of ``repeat`` calls of ``function()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_gflops(n=1024, repeat=5):
    """GFLOP/s of an ``n`` x ``n`` float32 matmul on the CPU (best of ``repeat``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    return 2 * n**3 / best_of(lambda: a @ b, repeat) / 1e9


class PeakMemory:
    """Peak resident memory (MiB) of this process inside a ``with`` block.

    Linux: the kernel's high-water mark (``VmHWM``) is reset on entry through
    ``/proc/self/clear_refs``, so the peak is the block's own. Elsewhere (or if the reset is
    refused) it is the process's lifetime peak from ``getrusage`` and ``scope`` says so.
    ``added`` is the peak minus the resident memory on entry (NaN without the reset).
    Torch's allocations are included (unlike ``tracemalloc``).
    """

    def __enter__(self):
        self.scope = "block"
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.baseline = self._status("VmRSS")
        except OSError:
            self.scope, self.baseline = "process lifetime", None
        return self

    def __exit__(self, *exc):
        if self.scope == "block":
            self.peak = self._status("VmHWM")
            self.added = self.peak - self.baseline
        else:
            import resource  # not on Windows

            scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
            self.added = float("nan")
        return False

    @staticmethod
    def _status(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise OSError(f"{field} not in /proc/self/status")
