"""Route the uvicorn and gunicorn loggers into fapilog; silence their access logs."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from fapilog import FapilogHandler

__all__ = [
    "already_logged",
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


_lock = threading.Lock()
_routing: _Routing | None = None


def _covered_by_ancestor(logger: logging.Logger, handler: logging.Handler) -> bool:
    current: logging.Logger | None = logger
    while current is not None and current.propagate:
        current = current.parent
        if current is not None and handler in current.handlers:
            return True
    return False


def _save(routing: _Routing, logger: logging.Logger) -> None:
    if logger.name not in routing.saved:
        routing.saved[logger.name] = _Saved(
            logger, logger.handlers, logger.propagate, logger.level, logger.disabled
        )


def route_server_loggers(*, disable_access_logs: bool = True) -> None:
    """Send the ``uvicorn``, ``uvicorn.error`` and ``gunicorn.error`` loggers to fapilog.

    Each of those loggers (unless it already reaches fapilog through a parent) gets a
    :class:`fapilog.FapilogHandler`, loses the plain console ``StreamHandler`` the server
    installed (fapilog's exporters print instead; file and syslog handlers stay), stops
    propagating (so a root-level :func:`fapilog.capture_stdlib` does not see records
    twice) and is set to INFO if it had no level. The server's record of an exception
    the middleware already logged is dropped. With ``disable_access_logs``,
    ``uvicorn.access`` and ``gunicorn.access`` are emptied and disabled, which makes
    uvicorn skip access logging altogether, so each request is logged once, by the
    middleware.

    Idempotent and cheap: call it again after the server (re)configured logging.
    :func:`restore_server_loggers` undoes it.

    Args:
        disable_access_logs: silence the servers' own access logs.
    """
    global _routing
    with _lock:
        if _routing is None:
            handler = FapilogHandler()
            handler.addFilter(_SkipLoggedExceptions())
            _routing = _Routing(handler)
        routing = _routing
        for name in SERVER_LOGGERS:
            logger = logging.getLogger(name)
            if routing.handler in logger.handlers or _covered_by_ancestor(logger, routing.handler):
                continue
            _save(routing, logger)
            # Replace, never mutate: gunicorn's uvicorn worker shares one list object
            # between gunicorn.error and uvicorn.error.
            logger.handlers = [
                h for h in logger.handlers if type(h) is not logging.StreamHandler
            ] + [routing.handler]
            logger.propagate = False
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
        if disable_access_logs:
            for name in ACCESS_LOGGERS:
                logger = logging.getLogger(name)
                if logger.disabled and not logger.handlers and not logger.propagate:
                    continue
                _save(routing, logger)
                logger.handlers = []
                logger.propagate = False
                logger.disabled = True


def ensure_routed(*, disable_access_logs: bool = True) -> None:
    """:func:`route_server_loggers`, for the middleware's checks at startup."""
    route_server_loggers(disable_access_logs=disable_access_logs)


def restore_server_loggers() -> None:
    """Undo :func:`route_server_loggers`: the loggers get back their handlers and settings."""
    global _routing
    with _lock:
        routing, _routing = _routing, None
        if routing is None:
            return
        for saved in routing.saved.values():
            saved.logger.handlers = saved.handlers
            saved.logger.propagate = saved.propagate
            saved.logger.setLevel(saved.level)
            saved.logger.disabled = saved.disabled
