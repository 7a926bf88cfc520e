"""The options of :class:`~fapilog_instrumentation_asgi.FapilogMiddleware`, validated once."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_SENSITIVE_HEADERS", "MiddlewareOptions"]

DEFAULT_SENSITIVE_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
        "x-goog-iap-jwt-assertion",
    }
)
"""Header names whose values are always masked when captured (case-insensitive)."""

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")
_Header = Annotated[str, Field(min_length=1, max_length=256)]


def _header_names(value: object) -> object:
    if isinstance(value, str):
        value = [value]
    if value is None:
        return value
    names = [str(v).strip().lower() for v in value]  # type: ignore[attr-defined]  # validated iterable
    for name in names:
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
    return names


class MiddlewareOptions(BaseModel):
    """What the middleware logs and how. Every field can be passed as a keyword argument
    to :class:`FapilogMiddleware` or :func:`instrument_app`.

    Example::

        instrument_app(app, exclude_paths=["/health", "/metrics/*"],
                       capture_request_headers=["x-tenant"])
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_log: bool = True
    """Log one record per HTTP request (and a connect/close pair per WebSocket)."""

    access_logger_name: str = "fapilog.access"
    """Logger (instrumentation scope) name of the access records."""

    error_logger_name: str = "fapilog.asgi"
    """Logger name of the record logged for an unhandled exception."""

    exclude_paths: tuple[str | re.Pattern[str], ...] = ()
    """Paths passed straight through (no context, no access log): exact paths,
    ``fnmatch`` globs such as ``"/static/*"``, or compiled regular expressions
    (matched with ``search`` against the path)."""

    honour_otel_excluded_urls: bool = True
    """Also exclude URLs matched by ``OTEL_PYTHON_ASGI_EXCLUDED_URLS`` (else
    ``OTEL_PYTHON_EXCLUDED_URLS``): comma-separated regular expressions searched in the
    full URL, as the OpenTelemetry ASGI instrumentation does."""

    request_id_header: _Header | None = "x-request-id"
    """Request header whose value becomes ``http.request.id``; ``None`` never reads one."""

    response_request_id_header: _Header | None = "x-request-id"
    """Response header the request id is echoed in (unless the app set it); ``None``
    disables the echo."""

    generate_request_id: bool = True
    """Generate a request id (32 hex digits) when the request carries no usable one."""

    capture_request_headers: tuple[str, ...] = ()
    """Request headers added to the context as ``http.request.header.<name>`` (a list
    of strings), so every log of the request carries them."""

    capture_response_headers: tuple[str, ...] = ()
    """Response headers added to the access record as ``http.response.header.<name>``."""

    sensitive_headers: frozenset[str] = DEFAULT_SENSITIVE_HEADERS
    """Captured headers whose values are replaced by ``[REDACTED]``. Setting this
    replaces the defaults; use ``DEFAULT_SENSITIVE_HEADERS | {...}`` to extend them."""

    extract_trace_context: bool = True
    """Without an active server span (no OpenTelemetry ASGI/FastAPI instrumentation
    outside this middleware), extract W3C ``traceparent``/``baggage`` from the request
    with the global propagators and attach it for the request."""

    flush_on_shutdown: bool = True
    """Flush fapilog's default pipeline when the ASGI lifespan shuts down, before the
    server is told shutdown is complete (the server's later lines are flushed as they
    are written, see ``docs/fastapi.md``)."""

    flush_timeout: float = Field(default=5.0, gt=0, le=300)
    """Seconds the shutdown flush may take at most."""

    route_server_loggers: bool = True
    """Route the ``uvicorn``/``gunicorn`` loggers into fapilog and silence their own
    access logs when ``access_log`` is on (see :func:`route_server_loggers`)."""

    capture_stdlib: bool = True
    """Route the root logger into fapilog at INFO and above, so records of the
    application's and libraries' :mod:`logging` loggers are exported like fapilog's own
    (see :func:`fapilog_instrumentation_asgi.capture_root_logger`). Idempotent with
    :func:`fapilog.capture_stdlib`."""

    @field_validator("capture_request_headers", "capture_response_headers", mode="before")
    @classmethod
    def _lower_headers(cls, value: object) -> object:
        return _header_names(value)

    @field_validator("sensitive_headers", mode="before")
    @classmethod
    def _lower_sensitive(cls, value: object) -> object:
        return _header_names(value)

    @field_validator("request_id_header", "response_request_id_header", mode="before")
    @classmethod
    def _lower_one(cls, value: object) -> object:
        if value is None:
            return None
        names = _header_names([value])
        return names[0] if isinstance(names, list) else names

    @field_validator("exclude_paths", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        if isinstance(value, str | re.Pattern):
            return (value,)
        return value
