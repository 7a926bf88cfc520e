"""Which requests the middleware leaves alone: configured paths and the OTel env lists."""

from __future__ import annotations

import fnmatch
import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["Excluder", "otel_excluded_urls"]

_GLOB_CHARS = frozenset("*?[")


def otel_excluded_urls(environ: Mapping[str, str] | None = None) -> re.Pattern[str] | None:
    """The ``OTEL_PYTHON_ASGI_EXCLUDED_URLS`` (else ``OTEL_PYTHON_EXCLUDED_URLS``) regexes.

    Same semantics as the OpenTelemetry ASGI instrumentation: a comma-separated list
    of regular expressions, any of which found anywhere in the request URL excludes it.

    Raises:
        ValueError: one of the expressions does not compile (names the variable).
    """
    env = os.environ if environ is None else environ
    for name in ("OTEL_PYTHON_ASGI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"):
        raw = env.get(name, "")
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if parts:
            try:
                return re.compile("|".join(f"(?:{p})" for p in parts))
            except re.error as exc:
                raise ValueError(
                    f"{name}={raw!r} is not a list of regular expressions: {exc}"
                ) from None
    return None


class Excluder:
    """Decides from the ASGI scope whether a request is excluded.

    Args:
        paths: exact paths, ``fnmatch`` globs, or compiled regexes (searched).
        url_pattern: a regex searched in the full URL (the OTel env semantics).
    """

    def __init__(
        self, paths: Iterable[str | re.Pattern[str]], url_pattern: re.Pattern[str] | None
    ) -> None:
        self._exact: frozenset[str] = frozenset(
            p for p in paths if isinstance(p, str) and not _GLOB_CHARS.intersection(p)
        )
        self._globs = tuple(
            re.compile(fnmatch.translate(p))
            for p in paths
            if isinstance(p, str) and _GLOB_CHARS.intersection(p)
        )
        self._regexes = tuple(p for p in paths if isinstance(p, re.Pattern))
        self._url = url_pattern
        self.active = bool(self._exact or self._globs or self._regexes or self._url)

    def excluded(self, scope: Mapping[str, Any]) -> bool:
        """Whether the request described by ``scope`` is excluded."""
        path: str = scope.get("path", "")
        if path in self._exact:
            return True
        if any(g.match(path) for g in self._globs):
            return True
        if any(r.search(path) for r in self._regexes):
            return True
        return self._url is not None and self._url.search(_url(scope)) is not None


def _url(scope: Mapping[str, Any]) -> str:
    """``scheme://host[:port]/path?query`` as the OTel ASGI instrumentation builds it."""
    scheme = scope.get("scheme") or "http"
    server = scope.get("server")
    host = ""
    for key, value in scope.get("headers") or ():
        if key == b"host":
            host = value.decode("latin-1")
            break
    if not host and server:
        address, port = server[0], server[1]
        default = {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(scheme)
        host = address if port in (None, default) else f"{address}:{port}"
    url = f"{scheme}://{host}{scope.get('path', '')}"
    query = scope.get("query_string")
    return f"{url}?{query.decode('latin-1')}" if query else url
