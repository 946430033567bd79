"""REST service for a fitted detector: :func:`create_app` (FastAPI) and ``moeids serve``.

``POST /predict`` scores one flow or a batch, ``GET /health``, ``GET /metadata`` and
``GET /metrics`` (Prometheus) describe the service; see ``docs/deploy.md``. Needs the
``serve`` extra: ``pip install "moeids[serve]"``.
"""

from importlib.util import find_spec

_NEEDED = ("fastapi", "uvicorn", "prometheus_client", "limits", "orjson")
_absent = [name for name in _NEEDED if find_spec(name) is None]
if _absent:
    raise ImportError(
        f"moeids.serving needs {', '.join(_absent)}: install the serve extra with "
        "pip install 'moeids[serve]'"
    )

from .app import create_app  # noqa: E402

__all__ = ["create_app"]
