"""The FastAPI app: ``POST /predict``, ``GET /health``, ``GET /metadata``, ``GET /metrics``."""

from __future__ import annotations

import logging
import random
import re
from contextlib import asynccontextmanager

import anyio
import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from .. import __version__
from ..scoring import decision_columns, split_model
from .batching import MicroBatcher, Overloaded, ShuttingDown
from .flows import FeatureSpec, RequestError, parse_flows
from .inference import Scorer, benign_label
from .metrics import MetricsMiddleware, ServiceMetrics
from .security import BearerToken, RateLimit

__all__ = ["create_app"]

logger = logging.getLogger("moeids.serving")
_ENDPOINTS = ("/predict", "/health", "/metadata", "/metrics")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PARSE_INLINE_BYTES = 65536  # larger bodies are parsed in a worker thread


def _json(content, status=200, headers=None) -> Response:
    body = orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _request_id(request: Request) -> str:
    """The client's ``X-Request-ID`` if it is a plain token, else a new random id (32 hex
    digits; from :mod:`random`, as an id needs to be unique, not secret, and the system's
    random source costs a system call per request)."""
    if not hasattr(request.state, "request_id"):
        given = request.headers.get("x-request-id", "")
        ok = _REQUEST_ID.fullmatch(given)
        request.state.request_id = given if ok else f"{random.getrandbits(128):032x}"
    return request.state.request_id


def _error(request, status, message, errors=(), headers=None) -> Response:
    rid = _request_id(request)
    content = {"error": {"status": status, "message": message}, "request_id": rid}
    if errors:
        content["error"]["errors"] = list(errors)
    return _json(content, status, {**(headers or {}), "X-Request-ID": rid})


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body has {declared} bytes, over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _metadata(model, spec, card, limits) -> dict:
    classes = split_model(model)[1].classes_
    return {
        "moeids_version": __version__,
        "model": type(model).__name__,
        "classes": classes.tolist(),
        "benign_label": _plain(benign_label(classes)),
        "features": spec.groups,
        "decision_fields": decision_columns(model),
        "limits": limits,
        "card": card,
    }


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _guard(token, rate_limit):
    """The dependency of the protected endpoints: rate limit (if any), then token (if any)."""
    bearer = BearerToken(token) if token is not None else None
    limiter = RateLimit(rate_limit) if rate_limit is not None else None

    def guard(request: Request) -> None:
        if limiter is not None:
            limiter.check(request.client.host if request.client else "unknown")
        if bearer is not None:
            bearer.check(request.headers.get("authorization"))

    return guard


def _check_limits(limits: dict) -> None:
    for name, value in limits.items():
        least = 0 if name == "batch_max_wait_ms" else 1
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < least:
            raise ValueError(f"{name} must be a number >= {least}, got {value!r}")
    if limits["max_flows"] > limits["max_queue"]:
        raise ValueError(
            f"max_flows={limits['max_flows']} exceeds max_queue={limits['max_queue']}: "
            "a request that large could never be queued"
        )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def refused(request, exc):
        return _error(request, exc.status, exc.message, exc.errors, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):  # 404, 405 from routing
        return _error(request, exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal(request, exc):  # never the traceback, never a path
        rid = _request_id(request)
        logger.error("internal error (request id %s)", rid, exc_info=exc)
        return _error(request, 500, "internal error; the server log has the details")


class _Service:
    """What the routes share: the model's spec, the batcher, the metrics, the limits."""

    def __init__(self, model, spec, batcher, limits, card):
        self.spec = spec
        self.batcher = batcher
        self.limits = limits
        self.benign = benign_label(split_model(model)[1].classes_)
        self.metrics = ServiceMetrics(lambda: batcher.queued_flows)
        batcher.on_batch = self.metrics.observe_batch
        self.metadata = _metadata(model, spec, card, limits)

    @asynccontextmanager
    async def lifespan(self, app):
        await self.batcher.start()
        try:
            yield
        finally:
            await self.batcher.stop()  # scores every accepted flow before the server exits
            self.metrics.close()

    async def predict(self, request: Request) -> Response:
        rid = _request_id(request)
        body = await _read_body(request, self.limits["max_body_bytes"])
        max_flows = self.limits["max_flows"]
        if len(body) > _PARSE_INLINE_BYTES:
            flows = await anyio.to_thread.run_sync(
                lambda: parse_flows(body, self.spec, max_flows=max_flows)
            )
        else:
            flows = parse_flows(body, self.spec, max_flows=max_flows)
        try:
            records = await self.batcher.submit(flows, flows.n_flows)
        except (Overloaded, ShuttingDown) as exc:
            raise RequestError(503, str(exc), headers={"Retry-After": "1"}) from None
        except (ValueError, TypeError) as exc:  # the model's own input checks
            raise RequestError(422, f"the model cannot score these flows: {exc}") from None
        self.metrics.count_decisions(records, self.benign)
        content = {"request_id": rid, "decisions": records, "unknown_fields": flows.unknown_fields}
        return _json(content, headers={"X-Request-ID": rid})


def _add_routes(app: FastAPI, service: _Service, guard) -> None:
    protected = [Depends(guard)] if guard is not None else []

    @app.get("/health")
    async def health():
        return _json({"status": "ok"})

    @app.get("/metadata", dependencies=protected)
    async def metadata():
        return _json(service.metadata)

    @app.get("/metrics", dependencies=protected)
    async def metrics():
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    async def predict(request: Request):
        if guard is not None:
            guard(request)
        return await service.predict(request)

    # a plain Starlette route: it reads the raw body itself, and FastAPI's request
    # parsing and dependency injection cost more per request than scoring one flow
    app.add_route("/predict", predict, methods=["POST"])


def create_app(
    model,
    *,
    max_body_bytes=8 * 2**20,
    max_flows=2048,
    batch_max_flows=256,
    batch_max_wait_ms=5.0,
    max_queue=8192,
    token=None,
    rate_limit=None,
    cors_origins=None,
    card=None,
) -> FastAPI:
    """A FastAPI app that scores flows with a fitted detector.

    Parameters
    ----------
    model : Pipeline or MoEClassifier, fitted
        ``make_pipeline(FeatureSplitter(), MoEClassifier())`` or a bare classifier.
    max_body_bytes : int, default=8 MiB
        Larger request bodies get 413.
    max_flows : int, default=2048
        Flows per request at most; more get 413.
    batch_max_flows : int, default=256
        Flows scored together at most; a micro-batch is flushed when this many wait.
    batch_max_wait_ms : float, default=5.0
        How long the oldest waiting request waits for others to share its batch.
    max_queue : int, default=8192
        Flows waiting at most; a request that does not fit gets 503 at once.
    token : str or None, default=None
        If set, ``/predict``, ``/metadata`` and ``/metrics`` need
        ``Authorization: Bearer <token>`` (401 otherwise). ``/health`` stays open.
    rate_limit : str or None, default=None
        Requests per client address to the protected endpoints, e.g. ``"100/second"``;
        over it, 429.
    cors_origins : list of str or None, default=None
        Origins allowed by CORS; None (no CORS headers) unless configured.
    card : dict or None, default=None
        Model card (training data, metrics, versions) shown by ``/metadata``.

    Returns
    -------
    app : fastapi.FastAPI
        Serve it with any ASGI server, e.g. ``uvicorn.run(app)``.

    Examples
    --------
    Requests through FastAPI's in-process ``TestClient`` (no server, no network); a tiny
    model, so that the example runs in a second:

    >>> from fastapi.testclient import TestClient
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> from moeids.serving import create_app
    >>> flows = load_sample()
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> app = create_app(model, token="s3cret")
    >>> with TestClient(app) as client:
    ...     health = client.get("/health")
    ...     answer = client.post("/predict", json=X.iloc[:2].to_dict("records"),
    ...                          headers={"Authorization": "Bearer s3cret"})
    ...     refused = client.post("/predict", json=[])  # no token
    >>> health.json(), answer.status_code, refused.status_code
    ({'status': 'ok'}, 200, 401)
    >>> decisions = answer.json()["decisions"]
    >>> len(decisions), sorted(decisions[0])  # doctest: +NORMALIZE_WHITESPACE
    (2, ['attack_probability', 'gate_tabular', 'gate_temporal', 'label', 'missing_features'])
    """
    limits = {
        "max_body_bytes": max_body_bytes,
        "max_flows": max_flows,
        "batch_max_flows": batch_max_flows,
        "batch_max_wait_ms": batch_max_wait_ms,
        "max_queue": max_queue,
    }
    _check_limits(limits)
    spec = FeatureSpec.from_model(model)
    batcher = MicroBatcher(
        Scorer(model, spec),
        max_flows=batch_max_flows,
        max_wait=batch_max_wait_ms / 1000,
        max_queue=max_queue,
    )
    service = _Service(model, spec, batcher, limits, card)
    app = FastAPI(
        title="moeids",
        version=__version__,
        lifespan=service.lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    _install_error_handlers(app)
    guarded = token is not None or rate_limit is not None
    _add_routes(app, service, _guard(token, rate_limit) if guarded else None)
    app.add_middleware(MetricsMiddleware, metrics=service.metrics, endpoints=_ENDPOINTS)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    return app
