"""``instrument_app`` / ``uninstrument_app`` for Starlette and FastAPI applications."""

from __future__ import annotations

from typing import Any, cast

from fapilog.plugin import install_process_hooks
from fapilog_instrumentation_asgi import _servers
from fapilog_instrumentation_asgi._middleware import FapilogMiddleware
from fapilog_instrumentation_asgi._options import MiddlewareOptions

__all__ = ["apply_process_options", "instrument_app", "is_instrumented", "uninstrument_app"]

_OTEL_MIDDLEWARE = "OpenTelemetryMiddleware"


def _entries(app: Any) -> list[Any]:
    entries = getattr(app, "user_middleware", None)
    if not isinstance(entries, list):
        raise TypeError(
            f"instrument_app() needs a Starlette or FastAPI application, got {type(app).__name__}; "
            "wrap other ASGI apps with FapilogMiddleware(app) instead"
        )
    return entries


def is_instrumented(app: Any) -> bool:
    """Whether :func:`instrument_app` added the middleware to ``app``."""
    return any(getattr(m, "cls", None) is FapilogMiddleware for m in _entries(app))


def instrument_app(app: Any, options: MiddlewareOptions | None = None, **kwargs: Any) -> None:
    """Add :class:`FapilogMiddleware` to a Starlette or FastAPI application.

    Idempotent: a second call leaves the app as it is. The middleware is placed
    *inside* any OpenTelemetry ASGI middleware already added with ``add_middleware``
    (and ``FastAPIInstrumentor`` always wraps the whole stack), so logs carry the
    server span's trace and span ids. Unless ``route_server_loggers=False``, the
    uvicorn/gunicorn loggers are routed into fapilog (see :func:`route_server_loggers`);
    unless ``capture_stdlib=False``, so is the root logger (see
    :func:`capture_root_logger`). fapilog's exit and SIGTERM hooks are installed now,
    chained with the server's signal handler (see ``docs/fastapi.md``).

    Example::

        app = FastAPI()
        instrument_app(app, exclude_paths=["/health"])

    Args:
        app: a ``starlette.applications.Starlette`` or ``fastapi.FastAPI`` instance.
        options: a :class:`MiddlewareOptions`; or give its fields as keywords.
        **kwargs: fields of :class:`MiddlewareOptions`.

    Raises:
        pydantic.ValidationError: an option is unknown or invalid.
        TypeError: ``app`` is not a Starlette application, or both ``options`` and
            keywords were given.
        RuntimeError: the application has already started (Starlette refuses new middleware).
    """
    entries = _entries(app)
    if is_instrumented(app):
        return
    if options is not None and kwargs:
        raise TypeError("pass either options=MiddlewareOptions(...) or keywords, not both")
    opts = options if options is not None else MiddlewareOptions(**kwargs)
    if getattr(app, "middleware_stack", None) is not None:
        raise RuntimeError("instrument_app() must be called before the application starts")
    from starlette.middleware import Middleware

    otel = [i for i, m in enumerate(entries) if getattr(m.cls, "__name__", "") == _OTEL_MIDDLEWARE]
    # user_middleware[0] is the outermost layer: go right after (inside) the last OTel one.
    entries.insert(
        otel[-1] + 1 if otel else 0, Middleware(cast("Any", FapilogMiddleware), options=opts)
    )
    apply_process_options(opts)


def apply_process_options(opts: MiddlewareOptions) -> None:
    """The process-wide part of instrumentation: server loggers, root capture, hooks."""
    if opts.route_server_loggers:
        _servers.route_server_loggers(disable_access_logs=opts.access_log)
    if opts.capture_stdlib:
        _servers.capture_root_logger()
    install_process_hooks()


def uninstrument_app(app: Any) -> None:
    """Remove the middleware :func:`instrument_app` added (before the app starts).

    Server logger routing and the root capture are process-wide; undo them with
    :func:`restore_server_loggers`.

    Args:
        app: the application given to :func:`instrument_app`.
    """
    entries = _entries(app)
    entries[:] = [m for m in entries if getattr(m, "cls", None) is not FapilogMiddleware]
    if getattr(app, "middleware_stack", None) is not None:
        app.middleware_stack = app.build_middleware_stack()
