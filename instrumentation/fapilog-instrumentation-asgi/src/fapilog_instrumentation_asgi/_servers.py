"""Route the uvicorn and gunicorn loggers and the root logger into fapilog; silence the
servers' access logs while the middleware writes its own."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from fapilog import FapilogHandler

__all__ = [
    "already_logged",
    "capture_root_logger",
    "ensure_routed",
    "mark_logged",
    "restore_server_loggers",
    "route_server_loggers",
]

SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "gunicorn.error")
"""Loggers whose records are sent to fapilog."""

ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access")
"""The servers' own access logs, replaced by the middleware's ``fapilog.access``."""

_LOGGED_MARK = "_fapilog_logged"


def mark_logged(exc: BaseException) -> None:
    """Remember that the middleware already logged ``exc`` (with its stack)."""
    try:
        setattr(exc, _LOGGED_MARK, True)
    except Exception:  # an exception type with __slots__: it may be logged twice
        pass


def already_logged(exc: BaseException | None) -> bool:
    """Whether :func:`mark_logged` was called for ``exc``."""
    return bool(getattr(exc, _LOGGED_MARK, False))


class _SkipLoggedExceptions(logging.Filter):
    """Drops the server's "Exception in ASGI application" record for an exception the
    middleware already logged, so an unhandled exception is logged exactly once."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not already_logged(exc)


@dataclass
class _Saved:
    logger: logging.Logger
    handlers: list[logging.Handler]
    propagate: bool
    level: int
    disabled: bool


@dataclass
class _Routing:
    handler: FapilogHandler
    saved: dict[str, _Saved] = field(default_factory=dict)
    root_level: int | None = None
    """The root logger's level before :func:`capture_root_logger` lowered it."""


_lock = threading.Lock()
_routing: _Routing | None = None


def _routing_or_new() -> _Routing:
    global _routing
    if _routing is None:
        handler = FapilogHandler()
        handler.addFilter(_SkipLoggedExceptions())
        _routing = _Routing(handler)
    return _routing


def _covered_by_ancestor(logger: logging.Logger, handler: logging.Handler) -> bool:
    """Whether ``logger``'s records reach ``handler`` on a parent other than the root.

    The root does not count: a server logger that relied on a root-level capture would
    keep its own console handler and print each record twice.
    """
    current: logging.Logger | None = logger
    while current is not None and current.propagate:
        current = current.parent
        if current is None or current.parent is None:
            return False
        if handler in current.handlers:
            return True
    return False


def _route(routing: _Routing, logger: logging.Logger) -> None:
    if routing.handler in logger.handlers or _covered_by_ancestor(logger, routing.handler):
        return
    _save(routing, logger)
    # Replace, never mutate: gunicorn's uvicorn worker shares one list object
    # between gunicorn.error and uvicorn.error.
    logger.handlers = [h for h in logger.handlers if type(h) is not logging.StreamHandler] + [
        routing.handler
    ]
    logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def _save(routing: _Routing, logger: logging.Logger) -> None:
    if logger.name not in routing.saved:
        routing.saved[logger.name] = _Saved(
            logger, logger.handlers, logger.propagate, logger.level, logger.disabled
        )


def route_server_loggers(*, disable_access_logs: bool = True) -> None:
    """Send the ``uvicorn``, ``uvicorn.error`` and ``gunicorn.error`` loggers to fapilog.

    Each of those loggers (unless it already reaches fapilog through a parent other
    than the root) gets a :class:`fapilog.FapilogHandler`, loses the plain console
    ``StreamHandler`` the server installed (fapilog's exporters print instead; file and
    syslog handlers stay), stops propagating (so a root-level capture does not see
    records twice) and is set to INFO if it had no level. The server's record of an
    exception the middleware already logged is dropped.

    The access loggers ``uvicorn.access`` and ``gunicorn.access``: with
    ``disable_access_logs`` (the middleware writes the access records) they are emptied
    and disabled, which makes uvicorn skip access logging altogether, so each request is
    logged once. Without it they are routed like the others, so the server's own access
    lines reach fapilog instead of the console; an access logger the server left without
    handlers (``uvicorn --no-access-log``) stays off.

    Idempotent and cheap: call it again after the server (re)configured logging.
    :func:`restore_server_loggers` undoes it.

    Args:
        disable_access_logs: silence the servers' own access logs.
    """
    with _lock:
        routing = _routing_or_new()
        for name in SERVER_LOGGERS:
            _route(routing, logging.getLogger(name))
        for name in ACCESS_LOGGERS:
            logger = logging.getLogger(name)
            if not disable_access_logs:
                if logger.handlers and not logger.disabled:
                    _route(routing, logger)
                continue
            if logger.disabled and not logger.handlers and not logger.propagate:
                continue
            _save(routing, logger)
            logger.handlers = []
            logger.propagate = False
            logger.disabled = True


def capture_root_logger() -> None:
    """Send what reaches the root logger to fapilog.

    Adds the routing's :class:`fapilog.FapilogHandler` (it writes to whatever is the
    default pipeline when a record arrives, so a later :func:`fapilog.configure` is
    followed) to the root logger, unless a ``FapilogHandler`` for the default pipeline is
    already there (e.g. from :func:`fapilog.capture_stdlib`). The root's own handlers
    stay. When logging was not configured (the root has no handler of its own, as under
    uvicorn's default logging config), the root level is lowered to INFO, the level
    uvicorn logs at; a root configured by the application keeps its level. Idempotent;
    :func:`restore_server_loggers` undoes it.
    """
    with _lock:
        routing = _routing_or_new()
        root = logging.getLogger()
        if any(isinstance(h, FapilogHandler) and h.pipeline is None for h in root.handlers):
            return
        unconfigured = not root.handlers
        root.addHandler(routing.handler)
        if routing.root_level is None:
            routing.root_level = root.level
        if unconfigured and (root.level == logging.NOTSET or root.level > logging.INFO):
            root.setLevel(logging.INFO)


def ensure_routed(*, disable_access_logs: bool = True) -> None:
    """:func:`route_server_loggers`, for the middleware's checks at startup."""
    route_server_loggers(disable_access_logs=disable_access_logs)


def restore_server_loggers() -> None:
    """Undo :func:`route_server_loggers` and :func:`capture_root_logger`: the loggers get
    back their handlers and settings."""
    global _routing
    with _lock:
        routing, _routing = _routing, None
        if routing is None:
            return
        root = logging.getLogger()
        if routing.handler in root.handlers:
            root.removeHandler(routing.handler)
        if routing.root_level is not None:
            root.setLevel(routing.root_level)
        for saved in routing.saved.values():
            saved.logger.handlers = saved.handlers
            saved.logger.propagate = saved.propagate
            saved.logger.setLevel(saved.level)
            saved.logger.disabled = saved.disabled
