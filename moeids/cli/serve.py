"""``moeids serve``: a fitted detector behind a REST API (FastAPI + uvicorn).

The API token comes from ``$MOEIDS_API_TOKEN`` or ``--token-file``, never from an argument
(the process list shows arguments to every local user). Without a token, and on an address
other than loopback, the service warns that anyone who reaches the port may use it.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import sys

from ._common import (
    CommandError,
    add_command,
    add_model_arguments,
    check_classifier,
    load_model_arg,
    read_card,
)

_EXAMPLE = """
moeids serve ids.safetensors --port 8000 --token-file token.txt --rate-limit "100/second"
curl -H "Authorization: Bearer $(cat token.txt)" -d '{"Flow Duration": 120}' http://127.0.0.1:8000/predict
"""


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

    try:
        token = read_token(args.token_file)
    except (OSError, ValueError) as exc:
        raise CommandError(f"--token-file: {exc}") from exc
    if token is None and not _is_loopback(args.host):
        print(
            f"moeids: warning: no API token and listening on {args.host}: anyone who "
            "reaches the port can use the model (set MOEIDS_API_TOKEN or --token-file)",
            file=sys.stderr,
        )
    torch.set_num_threads(args.threads or default_threads())
    model = check_classifier(load_model_arg(args.model, args.allow_pickle), args.model)
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
        card=read_card(args.model),
    )


def serve(args) -> int:
    """Load the model and serve it until SIGINT/SIGTERM; see ``moeids serve --help``."""
    app = _app(args)
    import uvicorn

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
    run = add_command(
        commands,
        "serve",
        help="serve a fitted model over HTTP (POST /predict)",
        description="Serve a fitted model over HTTP: POST /predict scores flows (JSON); GET "
        "/health, /metadata and /metrics (Prometheus) describe the service. The API token "
        "comes from $MOEIDS_API_TOKEN or --token-file, never from an argument. See "
        "docs/deploy.md.",
        example=_EXAMPLE,
    )
    run.allow_abbrev = False  # "--token SECRET" must not pass for "--token-file"
    add_model_arguments(run)
    run.add_argument("--host", default="127.0.0.1", help="address to listen on")
    run.add_argument("--port", type=int, default=8000, help="port to listen on")
    run.add_argument(
        "--token-file",
        default=None,
        help="file holding the API token (else $MOEIDS_API_TOKEN; neither: no authentication)",
    )
    run.add_argument(
        "--rate-limit",
        default=None,
        help="requests per client address, e.g. '100/second' (default: no limit)",
    )
    run.add_argument("--max-body-bytes", type=int, default=8 * 2**20, help="larger bodies: 413")
    run.add_argument("--max-flows", type=int, default=2048, help="flows per request at most")
    run.add_argument(
        "--batch-max-flows", type=int, default=256, help="flows scored together at most"
    )
    run.add_argument(
        "--batch-max-wait-ms", type=float, default=5.0, help="how long a request waits for others"
    )
    run.add_argument(
        "--max-queue", type=int, default=8192, help="flows waiting at most; beyond: 503"
    )
    run.add_argument(
        "--max-connections", type=int, default=1024, help="open connections at most; beyond: 503"
    )
    run.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        help="allow this browser origin, repeatable (default: CORS off)",
    )
    run.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="trust X-Forwarded-For from these proxy addresses, comma-separated "
        "(default: forwarding headers ignored)",
    )
    run.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for inference (default: CPUs - 1, at least 1)",
    )
    run.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not log each request (default: logged)",
    )
    run.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning"], help="server log"
    )
    run.set_defaults(handler=serve)
