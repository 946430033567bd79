"""The supervisor of ``moeids serve --workers N`` and its workers.

``moeids serve`` replaces itself with ``python -c "runpy.run_path(<this file>)"``: a fresh
interpreter that imports uvicorn only, not torch, pandas or the package. It creates the
metrics folder before the workers start (so that they import prometheus-client in
multiprocess mode) and removes it at the end.

On Linux, every worker listens on its own socket, bound to the port with ``SO_REUSEPORT``:
the kernel then spreads new connections evenly over the workers (a keep-alive connection
stays with its worker). The supervisor binds the sockets (so that a port in use is reported
once, before any worker starts), hands each to one worker process, stops them all on
SIGINT/SIGTERM (status 0) and, when a worker ends by itself, stops the others and exits with
status 2 (a worker that could not start) or 1. Elsewhere (no ``SO_REUSEPORT``, or one that
does not balance, as on macOS) the workers share one socket under uvicorn's ``Multiprocess``
supervisor, which restarts a worker that dies; then the balance is up to which worker
accepts first.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

OPTIONS_ENV = "MOEIDS_SERVE_OPTIONS"
_APP = "moeids.cli.serve:worker_app"
_logger = logging.getLogger("uvicorn.error")
# the exit status of a uvicorn server that cannot start (uvicorn.config.STARTUP_FAILURE in
# uvicorn 0.55, uvicorn.main.STARTUP_FAILURE in 0.29 and 0.30): written here for every version
STARTUP_FAILURE = 3


def reuse_port_balances() -> bool:
    """Whether the kernel balances connections over ``SO_REUSEPORT`` sockets (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_sockets(host: str, port: int, count: int, backlog: int) -> list[socket.socket]:
    """``count`` sockets listening on ``host:port``, bound with ``SO_REUSEPORT``.

    With ``port`` 0, the first socket gets a free port and the others join it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _config(options):
    from uvicorn import Config

    return Config(_APP, factory=True, **options["server"])


def worker(fd: int) -> None:
    """Serve the app on the listening socket ``fd`` until SIGINT/SIGTERM (a worker process)."""
    from uvicorn import Server

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again: ignore
    # it then, so that the worker exits with status 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: None)
    config = _config(json.loads(os.environ[OPTIONS_ENV]))
    Server(config).run(sockets=[socket.socket(fileno=fd)])


def supervise(options) -> int:
    """Run one worker per ``SO_REUSEPORT`` socket until a signal or a worker's end."""
    config = _config(options)  # configures uvicorn's logging
    try:
        sockets = listening_sockets(config.host, config.port, options["workers"], config.backlog)
    except OSError as exc:
        print(
            f"moeids: error: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr
        )
        return 1
    signals: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: signals.append(signum))
    _logger.info(f"Started parent process [{os.getpid()}]")
    workers = []
    for sock in sockets:
        if not signals:
            code = f"from moeids.cli._supervisor import worker; worker({sock.fileno()})"
            command = [sys.executable, "-c", code]
            workers.append(subprocess.Popen(command, pass_fds=[sock.fileno()]))
        sock.close()  # the worker holds it now: if the worker ends, so does its socket
    stopping = failed = False
    while True:
        codes = [process.poll() for process in workers]
        if all(code is not None for code in codes):
            break
        if not stopping and (signals or any(code is not None for code in codes)):
            stopping, failed = True, not signals
            for process in workers:
                process.terminate()  # does nothing to a process that has ended
        time.sleep(0.1)
    _logger.info(f"Stopping parent process [{os.getpid()}]")
    if not failed:
        return 0
    if STARTUP_FAILURE in codes:
        print(
            "moeids: error: a worker process could not start the service (its error is above)",
            file=sys.stderr,
        )
        return 2
    print(
        f"moeids: error: a worker process ended by itself; stopped all (statuses {codes})",
        file=sys.stderr,
    )
    return 1


def share_one_socket(options) -> int:
    """Run the workers on one shared socket under uvicorn's ``Multiprocess`` supervisor."""
    from uvicorn.supervisors import Multiprocess

    # libuv (uvloop) otherwise accepts every pending connection in one go, so that a burst
    # of new connections tends to land on one worker; with this, it yields after each accept
    # (it helps; it does not guarantee balance).
    os.environ.setdefault("UV_TCP_SINGLE_ACCEPT", "1")
    config = _config({**options, "server": {**options["server"], "workers": options["workers"]}})
    sock = config.bind_socket()
    supervisor = Multiprocess(config, sockets=[sock])
    supervisor.run()  # until SIGINT/SIGTERM, or a worker that cannot start
    sock.close()
    # uvicorn 0.30 wraps each process (``.process``) without an ``exitcode`` of its own
    processes = [getattr(process, "process", process) for process in supervisor.processes]
    if any(process.exitcode == STARTUP_FAILURE for process in processes):
        print(
            "moeids: error: a worker process could not start the service (its error is above)",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    _options = json.loads(os.environ[OPTIONS_ENV])
    with tempfile.TemporaryDirectory(prefix="moeids-metrics-") as _metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
        _run = supervise if reuse_port_balances() else share_one_socket
        _status = _run(_options)
    sys.exit(_status)
