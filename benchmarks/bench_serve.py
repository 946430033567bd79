"""``moeids serve`` under load: a real uvicorn server on 127.0.0.1, concurrent HTTP clients.

- Model: ``FeatureSplitter + MoEClassifier`` at the library's default size, fitted on a
  stratified subsample of the bundled real CIC-IDS2017 sample (``--max-train`` rows,
  ``--epochs`` epochs, no pretraining: the network's size, not its training, sets the cost
  of inference), saved with ``moeids.save`` (pickle-free) to a temporary file.
- Server: ``python -m moeids serve MODEL --workers W --threads T`` (default limits, access
  log off) on a free port of 127.0.0.1; by default W = CPUs worker processes with T = 1
  torch thread each (the setting docs/deploy.md recommends for small requests; ``--workers
  1`` is the single-process server, T = CPUs - 1 then). Warm-up until every worker has
  scored flows.
- Clients: in this process, a minimal HTTP/1.1 keep-alive client on asyncio streams (async
  httpx spent more CPU per request than the server in a first run: it measured itself);
  ``--clients`` concurrent connections each send requests back to back for ``--seconds``
  s: first one flow per request, then ``--batch-flows`` flows per request
  (``--batch-clients`` clients). The flows are the
  sample's held-out rows (never trained on), cycled; bodies are encoded before timing.
- Throughput = flows answered with 200 / wall time; latency per request from send to full
  response; errors = any status other than 200 or a transport error.
- In-process: ``predict_proba`` of the same model in this process on the same flows in
  chunks of ``--batch-flows``, with ``--reference-threads`` torch threads (default: CPUs,
  the whole CPU budget the server's processes share), for ``--seconds``/2 before the server
  starts and again after it stops (the load of a shared machine drifts); the 256-flow
  requests are compared with the mean of the two rates.
- CPU: user + system seconds of the server's processes (the supervisor and its workers) and
  of this (client) process per run, and the server's CPU milliseconds per flow answered.
- Workers: the share of the flows each worker scored in a run (``moeids_worker_flows_scored``
  of /metrics; the kernel hands each client connection to one worker).
- Memory: the resident set size (``VmRSS``) summed over the server's processes after
  warm-up and after the run.

Writes ``docs/results/serve.md``. ``python benchmarks/bench_serve.py --help``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C
import httpx
import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import moeids
from moeids import FeatureSplitter, MoEClassifier
from moeids.cli.serve import default_threads
from moeids.datasets import load_sample


def fit_model(args):
    """Default-size pipeline fitted on a subsample; (model, held-out flows, fit seconds)."""
    flows = load_sample()
    X_train, X_test, y_train, _ = train_test_split(
        flows.data, flows.target, test_size=0.3, stratify=flows.attack_type, random_state=C.SEED
    )
    if args.max_train < len(X_train):
        X_train, _, y_train, _ = train_test_split(
            X_train, y_train, train_size=args.max_train, stratify=y_train, random_state=C.SEED
        )
    classifier = MoEClassifier(epochs=args.epochs, pretrain_epochs=0, random_state=C.SEED)
    model = make_pipeline(FeatureSplitter(), classifier)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    return model, X_test, time.perf_counter() - start


def in_process_rate(model, X, batch, seconds):
    """(flows/s, CPU ms per flow) of ``model.predict_proba`` over chunks of ``batch`` rows
    for ``seconds``."""
    model.predict_proba(X.iloc[:batch])  # warm-up
    done, start, cpu = 0, time.perf_counter(), cpu_seconds()
    while time.perf_counter() - start < seconds:
        first = done % (len(X) - batch)
        model.predict_proba(X.iloc[first : first + batch])
        done += batch
    return done / (time.perf_counter() - start), 1000 * (cpu_seconds() - cpu) / done


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def tree(pid):
    """``pid`` and its descendants (a server's supervisor and its workers)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            pids += tree(int(child))
    return pids


def tree_rss_mib(pid):
    return sum(rss_mib(p) for p in tree(pid))


def cpu_seconds(pid=None):
    """CPU time (user + system) of process ``pid`` and its descendants, or of this process."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    total = 0
    for p in tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def start_server(path, env, workers, threads):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "moeids", "serve", str(path), "--port", str(port)]
    command += ["--workers", str(workers), "--threads", str(threads)]
    command += ["--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, cwd=C.ROOT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start within 60 s")


async def _post_loop(port, requests, first, stride, stop, results):
    """One keep-alive connection posting ``requests`` (from ``first``, every ``stride``-th)
    until ``stop``; appends (latency s, flows, ok) per request."""
    connection, i = None, first
    while time.perf_counter() < stop:
        request, n = requests[i % len(requests)]
        i += stride
        sent = time.perf_counter()
        try:
            if connection is None:
                connection = await asyncio.open_connection("127.0.0.1", port)
            reader, writer = connection
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)))
            ok = head[9:12] == b"200"
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, AttributeError):
            ok, connection = False, None
        results.append((time.perf_counter() - sent, n, ok))
    if connection is not None:
        connection[1].close()


async def load(port, bodies, clients, seconds):
    """``clients`` connections post bodies back to back for ``seconds``: throughput, latency.

    A minimal HTTP/1.1 keep-alive client on asyncio streams (light on CPU, so that a small
    machine measures the server, not the client).
    """
    requests = [
        (
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
            n,
        )
        for body, n in bodies
    ]
    results = []  # (latency s, flows, ok)
    start = time.perf_counter()
    stop = start + seconds
    await asyncio.gather(
        *(_post_loop(port, requests, k, clients, stop, results) for k in range(clients))
    )
    wall = time.perf_counter() - start
    latency = np.array([r[0] for r in results]) * 1000
    ok = np.array([r[2] for r in results])
    return {
        "clients": clients,
        "flows per request": results[0][1],
        "requests": len(results),
        "errors": int((~ok).sum()),
        "flows": sum(r[1] for r in results if r[2]),
        "flows/s": sum(r[1] for r in results if r[2]) / wall,
        "p50 ms": float(np.percentile(latency, 50)),
        "p99 ms": float(np.percentile(latency, 99)),
    }


def encode(X, n):
    """Request bodies of ``n`` flows each, cycling through the rows of ``X``."""
    rows = X.to_dict("records")
    return [(json.dumps(rows[i : i + n]).encode(), n) for i in range(0, len(rows) - n + 1, n)]


def warm_up(base, bodies, workers):
    """Load until every worker has scored flows (their models and code paths are warm)."""
    port = int(base.rpartition(":")[2])
    for _ in range(20):
        asyncio.run(load(port, bodies, max(4, 2 * workers), 3.0))
        text = httpx.get(f"{base}/metrics").text
        if workers == 1 or text.count("moeids_worker_flows_scored{") >= workers:
            return
    raise RuntimeError(f"not all {workers} workers answered within 60 s of warm-up")


def batch_totals(base):
    """(flows, micro-batches, {worker pid: flows}) scored so far, from the server's /metrics
    (no worker pids with one worker)."""
    text = httpx.get(f"{base}/metrics").text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("moeids_"))
    workers = {
        name: float(value)
        for name, value in values.items()
        if name.startswith("moeids_worker_flows_scored{")
    }
    flows, batches = values["moeids_batch_flows_sum"], values["moeids_batch_flows_count"]
    return float(flows), float(batches), workers


def scenario(base, pid, bodies, clients, seconds):
    """One load run, the server's mean micro-batch size and both sides' CPU time."""
    flows0, batches0, workers0 = batch_totals(base)
    server0, client0 = cpu_seconds(pid), cpu_seconds()
    row = asyncio.run(load(int(base.rpartition(":")[2]), bodies, clients, seconds))
    row["server CPU s"] = cpu_seconds(pid) - server0
    row["client CPU s"] = cpu_seconds() - client0
    row["server CPU ms per flow"] = 1000 * row["server CPU s"] / max(row.pop("flows"), 1)
    flows1, batches1, workers1 = batch_totals(base)
    row["mean flows per micro-batch"] = (flows1 - flows0) / max(batches1 - batches0, 1)
    shares = [workers1[w] - workers0.get(w, 0) for w in sorted(workers1)]
    row["flows per worker %"] = (
        "/".join(f"{100 * n / sum(shares):.0f}" for n in shares) if sum(shares) else "100"
    )
    return row


def measure(args, model, X_test):
    """Server rows, in-process rate and RSS (MiB) before and after."""
    X = pd.concat([X_test] * 4, ignore_index=True)  # room for distinct bodies
    env = {**os.environ, "PYTHONPATH": str(C.ROOT)}
    torch.set_num_threads(args.reference_threads)
    before = in_process_rate(model, X, args.batch_flows, args.seconds / 2)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        moeids.save(model, path)
        process, base = start_server(path, env, args.workers, args.threads)
        try:
            singles, batches = encode(X, 1), encode(X, args.batch_flows)
            warm_up(base, singles[:64] + batches[:4], args.workers)
        except BaseException:
            process.terminate()
            raise
    try:
        rss_before = tree_rss_mib(process.pid)
        rows = [
            scenario(base, process.pid, singles, args.clients, args.seconds),
            scenario(base, process.pid, batches, args.batch_clients, args.seconds),
        ]
        rss_after = tree_rss_mib(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    after = in_process_rate(model, X, args.batch_flows, args.seconds / 2)
    return pd.DataFrame(rows), (before, after), (rss_before, rss_after)


def page(args, table, in_process, rss, fit_seconds, load):
    single, batch = table.iloc[0], table.iloc[1]
    (before, cpu_before), (after, cpu_after) = in_process
    rate = (before + after) / 2
    share = batch["flows/s"] / rate
    cpu_share = (cpu_before + cpu_after) / 2 / batch["server CPU ms per flow"]
    growth = rss[1] / rss[0] - 1
    checks = pd.DataFrame(
        [
            ["1 flow/request: flows/s >= 2,000", f"{single['flows/s']:,.0f}",
             single["flows/s"] >= 2000],
            ["1 flow/request: p99 < 100 ms", f"{single['p99 ms']:.1f} ms",
             single["p99 ms"] < 100],
            ["errors = 0", f"{int(table['errors'].sum())}", table["errors"].sum() == 0],
            [f"{args.batch_flows} flows/request >= 50 % of in-process predict_proba",
             f"{share:.0%} ({batch['flows/s']:,.0f} of {rate:,.0f} flows/s)", share >= 0.5],
            ["(same, per CPU time: in-process CPU ms per flow / the server's; "
             "less sensitive to the machine's load)",
             f"{cpu_share:.0%}", cpu_share >= 0.5],
["server RSS growth < 10 %",
             f"{growth:+.1%} ({rss[0]:.0f} -> {rss[1]:.0f} MiB)", growth < 0.10],
        ],
        columns=["target (issue 19)", "measured", "met"],
    )  # fmt: skip
    table = table.copy()
    table["flows/s"] = table["flows/s"].map("{:,.0f}".format)
    return (
        "# REST service under load (`moeids serve`)\n\n"
        f"Produced by `{C.command()}` (do not edit by hand; rerun the command).\n\n"
        f"Environment: {C.environment()}. Load average (1 min) {load[0]:.1f} before the "
        f"run and {load[1]:.1f} after it: the machine is shared, so the server, the clients "
        "and other work compete for its CPUs.\n\n"
        "Load generator: the benchmark's own HTTP/1.1 keep-alive client on asyncio streams, "
        "in the benchmark process on the same machine (its CPU time is in the table).\n\n"
        f"Method: see the docstring of `benchmarks/bench_serve.py`. Model: library-default "
        f"MoEClassifier size fitted on {args.max_train} stratified rows of the bundled "
        f"CIC-IDS2017 sample, {args.epochs} epochs, no pretraining ({fit_seconds:.0f} s); "
        f"flows: the sample's held-out 30 %. Each load run lasts {args.seconds:.0f} s.\n\n"
        "## Throughput and latency\n\n"
        + C.markdown_table(table, floats="{:.1f}", index=False)
        + f"\nIn-process `predict_proba`, {args.batch_flows} flows per call, same model, "
        f"same run, {args.reference_threads} torch thread(s) (the {os.cpu_count()} CPUs the "
        f"server's {args.workers} worker process(es) of {args.threads} torch thread(s) each "
        "share), measured before the server "
        f"started and after it stopped: {before:,.0f} and {after:,.0f} flows/s (mean "
        f"{rate:,.0f}, the reference of the target below); CPU ms per flow "
        f"{cpu_before:.3f} and {cpu_after:.3f}. "
        "CPU s: CPU time the server's processes and the client process used during the run "
        f"(out of {args.seconds:.0f} s x {os.cpu_count()} CPUs, shared with other work); "
        "server CPU ms per flow is the server's CPU time per flow answered, a cost that "
        "depends less on how much CPU the other work left to the server. Flows per worker: "
        "the share of the run's flows each worker scored (each keep-alive client connection "
        "stays with the worker that accepted it). Server CPU and RSS "
        "are summed over its processes (supervisor and workers; RSS counts pages the "
        "workers share once per worker).\n\n## Targets\n\n" + C.markdown_table(checks, index=False)
    )


def main(argv=None):
    parser = C.make_parser(__doc__.split("\n\n")[0], quick=False, datasets=False)
    parser.set_defaults(max_train=2000)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (5)")
    parser.add_argument("--clients", type=int, default=32, help="1-flow clients (32)")
    parser.add_argument("--batch-flows", type=int, default=256, help="flows per batch (256)")
    parser.add_argument("--batch-clients", type=int, default=4, help="batch clients (4)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per load run (20)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count(), help="server worker processes (CPUs)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per worker (default: moeids serve's, 1 per worker with CPUs workers)",
    )
    parser.add_argument(
        "--reference-threads",
        type=int,
        default=os.cpu_count(),
        help="torch threads of the in-process reference (CPUs: the server's whole CPU budget)",
    )
    args = C.parse_args(parser, __file__, argv)
    if args.threads is None:
        args.threads = default_threads(args.workers)
    load_before = os.getloadavg()[0]
    model, X_test, fit_seconds = fit_model(args)
    print(f"fitted in {fit_seconds:.0f} s; torch threads {torch.get_num_threads()}")
    table, in_process, rss = measure(args, model, X_test)
    print(table.to_string(), f"\nin-process (flows/s, CPU ms/flow) {in_process}; RSS {rss}")
    load = (load_before, os.getloadavg()[0])
    page_text = page(args, table, in_process, rss, fit_seconds, load)
    C.write(C.page_path(args.out, "serve.md"), page_text)


if __name__ == "__main__":
    main()
