"""ASGI middleware and OpenTelemetry instrumentor for fapilog.

Request context on every log, one access record per request, trace correlation
from OpenTelemetry, uvicorn/gunicorn and stdlib logs routed into fapilog, and the
server's last lines delivered after SIGTERM::

    from fastapi import FastAPI
    from fapilog_instrumentation_asgi import instrument_app

    app = FastAPI()
    instrument_app(app)

Any other ASGI app: ``app = FapilogMiddleware(app)``. With
``opentelemetry-instrument``, :class:`FapilogASGIInstrumentor` does this for every
FastAPI/Starlette app. See ``docs/fastapi.md``.
"""

from __future__ import annotations

from fapilog_instrumentation_asgi._app import instrument_app, is_instrumented, uninstrument_app
from fapilog_instrumentation_asgi._headers import REDACTED
from fapilog_instrumentation_asgi._instrumentor import FapilogASGIInstrumentor
from fapilog_instrumentation_asgi._middleware import FapilogMiddleware
from fapilog_instrumentation_asgi._options import DEFAULT_SENSITIVE_HEADERS, MiddlewareOptions
from fapilog_instrumentation_asgi._servers import (
    capture_root_logger,
    restore_server_loggers,
    route_server_loggers,
)

__all__ = [
    "DEFAULT_SENSITIVE_HEADERS",
    "REDACTED",
    "FapilogASGIInstrumentor",
    "FapilogMiddleware",
    "MiddlewareOptions",
    "capture_root_logger",
    "instrument_app",
    "is_instrumented",
    "restore_server_loggers",
    "route_server_loggers",
    "uninstrument_app",
]
