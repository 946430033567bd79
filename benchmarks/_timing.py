"""Timing, compute and memory measurements shared by the speed benchmarks."""

from __future__ import annotations

import math
import sys
import time
from functools import partial
from pathlib import Path

import torch
from torch.utils import flop_counter

__all__ = ["PeakMemory", "best_of", "matmul_gflops", "shape_matched_products"]


def best_of(function, repeat=7):
    """Shortest wall-clock time (s) of ``repeat`` calls of ``function()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _linear_pointwise_flop(x_shape, second, third, *args, out_shape=None, **kwargs):
    """FLOPs of ``mkldnn::_linear_pointwise`` (X, W, B, ...) and its ``.binary`` overload
    (X, other, W, B, ...): 2 * rows * in_features * out_features."""
    weight = third if third is not None and len(third) == 2 else second
    return 2 * math.prod(x_shape[:-1]) * x_shape[-1] * weight[0]


def _cpu_attention_flop(query, key, value, *args, out_shape=None, **kwargs):
    """FLOPs of the CPU flash attention: those of ``q k^T`` and of the weights times ``v``."""
    return flop_counter.sdpa_flop_count(query, key, value)


# torch's FLOP counter knows neither the fused inference linear of moeids.moe._kernels nor
# the CPU flash attention (without these formulas it counts them as 0 FLOPs)
for _op, _formula in (
    (torch.ops.mkldnn._linear_pointwise, _linear_pointwise_flop),
    (torch.ops.aten._scaled_dot_product_flash_attention_for_cpu, _cpu_attention_flop),
):
    if _op not in flop_counter.flop_registry:
        flop_counter.register_flop_formula(_op)(_formula)


def shape_matched_products(forward, repeat=5):
    """The matrix products of ``forward()`` timed alone, shape by shape.

    Records the operator shapes of one call of ``forward`` (``torch.profiler``), then times
    each distinct product shape in isolation with torch on random contiguous float32
    tensors, best of ``repeat``: linear layers (``addmm``, ``mm``, the fused
    ``mkldnn::_linear_pointwise``) as a bare ``(rows, in) @ (in, out)`` product, attention
    (``scaled_dot_product_attention`` on the CPU) as the same call on fresh tensors.

    Returns a DataFrame, one row per shape: operator, shape, calls, GFLOP per call and the
    isolated GFLOP/s.
    """
    import pandas as pd
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        forward()
    calls = {}
    for event in prof.events():
        shapes = [tuple(s) for s in event.input_shapes]
        if event.name in ("aten::addmm", "aten::mm", "mkldnn::_linear_pointwise"):
            a, w = {
                "aten::addmm": (shapes[1], shapes[2][::-1]),
                "aten::mm": (shapes[0], shapes[1][::-1]),
                "mkldnn::_linear_pointwise": (
                    shapes[0],
                    shapes[1] if len(shapes[2]) != 2 else shapes[2],
                ),
            }[event.name]
            key = ("linear", (math.prod(a[:-1]), a[-1], w[0]))
        elif event.name.startswith("aten::_scaled_dot_product"):
            key = ("attention", (shapes[0], shapes[1]))
        else:
            continue
        calls[key] = calls.get(key, 0) + 1
    rows = []
    with torch.inference_mode():
        for (kind, shape), n_calls in calls.items():
            if kind == "linear":
                m, k, n = shape
                call = partial(torch.mm, torch.randn(m, k), torch.randn(k, n))
                flops, label = 2 * m * k * n, f"({m}, {k}) x ({k}, {n})"
            else:
                (batch, heads, n_q, d), (_, _, n_k, _) = shape
                q, k, v = (torch.randn(batch, heads, n, d) for n in (n_q, n_k, n_k))
                call = partial(torch.nn.functional.scaled_dot_product_attention, q, k, v)
                flops = 4 * batch * heads * n_q * n_k * d
                label = f"q {tuple(q.shape)}, k/v {tuple(k.shape)}"
            call()
            seconds = best_of(call, repeat)
            rows.append({"product": kind, "shape": label, "calls": n_calls,
                         "GFLOP per call": flops / 1e9,
                         "isolated GFLOP/s": flops / seconds / 1e9})  # fmt: skip
    return pd.DataFrame(rows)


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
