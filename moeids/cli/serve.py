"""``moeids serve``: a fitted detector behind a REST API (FastAPI + uvicorn).

The API token comes from ``$MOEIDS_API_TOKEN`` or ``--token-file``, never from an argument
(the process list shows arguments to every local user). Without a token, and on an address
other than loopback, the service warns that anyone who reaches the port may use it.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import warnings
from pathlib import Path

_EXAMPLE = """example:
  export MOEIDS_API_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe())')
  moeids serve model.moeids --port 8000 --rate-limit "100/second"
  curl -H "Authorization: Bearer $MOEIDS_API_TOKEN" -d '{"Flow Duration": 120}' \\
       http://127.0.0.1:8000/predict
"""


def load_model(path, *, allow_pickle=False):
    """The fitted model in ``path``; a pickle (joblib) file only with ``allow_pickle``.

    Parameters
    ----------
    path : path-like
    allow_pickle : bool, default=False
        Loading a pickle runs whatever code it holds: allow it only for trusted files.

    Returns
    -------
    model : estimator
    """
    try:  # the pickle-free format of moeids.persistence, where this version has it
        from moeids import load
    except ImportError:
        load = None
    if load is not None:
        return load(path, allow_pickle=allow_pickle)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no model file {str(path)!r}")
    if not allow_pickle:
        raise ValueError(
            f"{path} can only be read with joblib, a pickle that runs any code it holds; "
            "pass --allow-pickle if you trust the file"
        )
    warnings.warn(
        f"loading {path} with joblib (pickle): only do this for files you trust", stacklevel=2
    )
    import joblib

    return joblib.load(path)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def default_threads() -> int:
    """Inference threads by default: one CPU fewer than the machine has (the HTTP event
    loop needs one), at least one."""
    return max(1, (os.cpu_count() or 1) - 1)


def _app(args):
    import torch

    from moeids.serving import create_app
    from moeids.serving.security import read_token

    torch.set_num_threads(args.threads or default_threads())
    token = read_token(args.token_file)
    if token is None and not _is_loopback(args.host):
        print(
            f"moeids serve: warning: no API token and listening on {args.host}: anyone who "
            "reaches the port can use the model (set MOEIDS_API_TOKEN or --token-file)",
            file=sys.stderr,
        )
    card = json.loads(Path(args.card).read_text(encoding="utf-8")) if args.card else None
    model = load_model(args.model, allow_pickle=args.allow_pickle)
    return create_app(
        model,
        max_body_bytes=args.max_body_bytes,
        max_flows=args.max_flows,
        batch_max_flows=args.batch_max_flows,
        batch_max_wait_ms=args.batch_max_wait_ms,
        max_queue=args.max_queue,
        token=token,
        rate_limit=args.rate_limit,
        cors_origins=args.cors_origin,
        card=card,
    )


def serve(args) -> int:
    """Load the model and serve it until SIGINT/SIGTERM; see ``moeids serve --help``."""
    try:
        app = _app(args)
        import uvicorn
    except (OSError, ValueError, TypeError, ImportError) as exc:
        if args.debug:
            raise
        print(f"moeids serve: error: {exc}", file=sys.stderr)
        return 2
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again: let
    # that end the command with status 0 rather than kill it.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _run(uvicorn, app, args)
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


class _Stopped(Exception):
    """A stop signal arrived after the server had shut down gracefully."""


def _stopped(signum, frame):
    raise _Stopped


def _run(uvicorn, app, args):
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        proxy_headers=args.forwarded_allow_ips is not None,
        forwarded_allow_ips=args.forwarded_allow_ips,
        limit_concurrency=args.max_connections,
        access_log=args.access_log,
        server_header=False,
        log_level=args.log_level,
    )


def add_parser(commands) -> None:
    """Register ``moeids serve`` on the ``commands`` subparsers."""
    run = commands.add_parser(
        "serve",
        help="serve a fitted model over HTTP (POST /predict)",
        description="Serve a fitted model: POST /predict, GET /health, /metadata, /metrics.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # "--token SECRET" must not pass for "--token-file"
    )
    run.add_argument("model", help="fitted model file (moeids.save; joblib with --allow-pickle)")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="port (8000)")
    run.add_argument(
        "--token-file", help="file holding the API token (else $MOEIDS_API_TOKEN; else no auth)"
    )
    run.add_argument("--rate-limit", help="requests per client address, e.g. '100/second'")
    run.add_argument(
        "--allow-pickle", action="store_true", help="load a joblib/pickle file (trusted only)"
    )
    run.add_argument("--card", help="JSON model card to show in GET /metadata")
    run.add_argument("--max-body-bytes", type=int, default=8 * 2**20, help="(8 MiB)")
    run.add_argument("--max-flows", type=int, default=2048, help="flows per request (2048)")
    run.add_argument("--batch-max-flows", type=int, default=256, help="micro-batch size (256)")
    run.add_argument("--batch-max-wait-ms", type=float, default=5.0, help="micro-batch wait (5)")
    run.add_argument("--max-queue", type=int, default=8192, help="flows waiting at most (8192)")
    run.add_argument("--max-connections", type=int, default=1024, help="then 503 (1024)")
    run.add_argument(
        "--cors-origin", action="append", help="allow this browser origin (repeatable; off)"
    )
    run.add_argument(
        "--forwarded-allow-ips",
        help="trust X-Forwarded-For from these proxy addresses (comma-separated; off)",
    )
    run.add_argument(
        "--threads", type=int, default=None, help="torch threads for inference (CPUs - 1, >= 1)"
    )
    run.add_argument("--no-access-log", dest="access_log", action="store_false")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    run.add_argument("--debug", action="store_true", help="show tracebacks")
    run.set_defaults(handler=serve)
