"""Who may call the service: a bearer token (constant-time compare) and a per-client rate limit.

The token comes from the environment variable ``MOEIDS_API_TOKEN`` or a file, never from a
command-line argument (which other local users can read in the process list). The rate limit
uses the ``limits`` package (the engine under ``slowapi``), keyed by the client address that
the ASGI server reports: behind a reverse proxy, run the server with its proxy-header options
so that this is the real client and not the proxy.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from .flows import RequestError

__all__ = ["TOKEN_ENV", "BearerToken", "RateLimit", "read_token"]

TOKEN_ENV = "MOEIDS_API_TOKEN"
_MIN_TOKEN_LENGTH = 16


def read_token(token_file=None, environ=None) -> str | None:
    """The API token from ``token_file`` (if given) or ``$MOEIDS_API_TOKEN``, else None.

    Parameters
    ----------
    token_file : path-like or None
        A file whose content (surrounding whitespace stripped) is the token.
    environ : mapping or None
        Where to read ``MOEIDS_API_TOKEN`` (default: ``os.environ``).

    Returns
    -------
    token : str or None

    Raises
    ------
    ValueError
        The file is empty, or the token is shorter than 16 characters.
    """
    environ = os.environ if environ is None else environ
    if token_file is not None:
        token, source = Path(token_file).read_text(encoding="utf-8").strip(), str(token_file)
    elif environ.get(TOKEN_ENV):
        token, source = environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    else:
        return None
    if len(token) < _MIN_TOKEN_LENGTH:
        raise ValueError(
            f"the API token in {source} has {len(token)} characters; use at least "
            f"{_MIN_TOKEN_LENGTH} (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    return token


class BearerToken:
    """Checks ``Authorization: Bearer <token>`` in constant time (:func:`hmac.compare_digest`).

    Parameters
    ----------
    token : str
    """

    def __init__(self, token: str):
        self._token = token.encode("utf-8")

    def check(self, authorization: str | None) -> None:
        """Raise a 401 :class:`RequestError` unless ``authorization`` carries the token."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8"), self._token
        ):
            raise RequestError(
                401,
                "missing or wrong API token: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )


class RateLimit:
    """A moving-window request limit per client, e.g. ``"100/second"`` or ``"5000/minute"``.

    Parameters
    ----------
    limit : str
        In the ``limits`` notation: ``N/second``, ``N/minute``, ``N per 10 seconds``, ...
    """

    def __init__(self, limit: str):
        try:
            from limits import parse, storage, strategies
        except ImportError as exc:  # pragma: no cover - part of the serve extra
            raise ImportError(
                "rate limiting needs the 'limits' package: pip install 'moeids[serve]'"
            ) from exc
        try:
            self.item = parse(limit)
        except ValueError:
            raise ValueError(
                f"rate limit {limit!r} is not of the form 'N/second', 'N/minute', ..."
            ) from None
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def check(self, client: str) -> None:
        """Count a request of ``client``; raise a 429 :class:`RequestError` over the limit."""
        if not self._limiter.hit(self.item, client):
            raise RequestError(
                429,
                f"rate limit of {self.item} per client exceeded; retry later",
                headers={"Retry-After": str(self.item.get_expiry())},
            )
