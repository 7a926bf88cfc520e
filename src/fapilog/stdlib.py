"""Bridge from the standard :mod:`logging` module into a fapilog pipeline."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from fapilog import _severity
from fapilog._diagnostics import reporter
from fapilog._logger import _get_context
from fapilog.pipeline._materialize import capture_record, snapshot_call

if TYPE_CHECKING:
    from fapilog.pipeline._intake import IntakeLike
    from fapilog.pipeline._pipeline import Pipeline

__all__ = ["FapilogHandler", "StdlibCapture", "capture_stdlib"]

# Attributes every LogRecord has; anything else came from ``extra=``. uvicorn adds
# ``color_message``, an ANSI-coloured copy of the message for its terminal formatter.
_RESERVED = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName", "color_message"}
)
_TEXT = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "FATAL",
}


class _ScopeLogger:
    """What :func:`materialize` needs from a logger: a scope and bound fields."""

    __slots__ = ("_fields", "_scope")

    def __init__(self, name: str) -> None:
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self._scope = InstrumentationScope(name)
        self._fields: dict[str, Any] = {}


class FapilogHandler(logging.Handler):
    """A :class:`logging.Handler` that sends records into a fapilog pipeline.

    Records are checked against fapilog's level for their logger name (the per-logger
    levels of :func:`fapilog.set_level` and the ``levels`` setting, else the
    pipeline's level) and its rate limits, after :mod:`logging`'s own level checks.
    ``extra=`` fields become attributes, ``exc_info`` becomes the ``exception.*``
    attributes, the call site becomes ``code.file.path``, ``code.function.name``
    and ``code.line.number``, and the active span's ids are attached. Records
    logged by fapilog's own threads (e.g. an HTTP client inside an exporter) are
    not fed back into the pipeline; they are counted as dropped (``recursion``).

    Args:
        level: minimum :mod:`logging` level handled.
        pipeline: the target; by default the default pipeline at emit time.
    """

    def __init__(self, level: int | str = logging.NOTSET, pipeline: Pipeline | None = None):
        super().__init__(level)
        self._pipeline = pipeline
        self._scopes: dict[str, _ScopeLogger] = {}
        self._guard = threading.local()

    @property
    def pipeline(self) -> Pipeline | None:
        """The pipeline given at construction; ``None``: the default pipeline at emit time."""
        return self._pipeline

    def _target(self) -> Any:
        if self._pipeline is not None:
            return self._pipeline
        from fapilog._api import _DEFAULT

        return _DEFAULT.pipeline

    def emit(self, record: logging.LogRecord) -> None:
        from fapilog.pipeline._intake import in_worker_thread

        intake: IntakeLike = self._target().intake
        if in_worker_thread() or getattr(self._guard, "busy", False):
            intake.caller_drop("recursion")
            return
        self._guard.busy = True
        try:
            severity = _severity.from_stdlib(record.levelno)
            # The per-logger levels (fapilog.set_level, the levels setting) and rate
            # limits by the stdlib logger's name; the template is the unformatted msg.
            name = record.name
            if not intake.accepts(name, severity) or not intake.admit(name, record.msg, severity):
                return
            fields: dict[str, Any] = {
                key: value for key, value in record.__dict__.items() if key not in _RESERVED
            }
            fields["code.file.path"] = record.pathname
            fields["code.function.name"] = record.funcName
            fields["code.line.number"] = record.lineno
            fields["thread.name"] = record.threadName
            # extra= values are read on the worker: take them as they are now. The
            # message is already formatted (getMessage), so only the fields remain.
            snapshot_call(None, (), fields)
            scope = self._scopes.get(record.name)
            if scope is None:
                scope = self._scopes[record.name] = _ScopeLogger(record.name)
            exc = record.exc_info[1] if record.exc_info else None
            intake.enqueue(
                capture_record(
                    int(record.created * 1e9),
                    severity,
                    _message(record),
                    (),
                    fields,
                    scope,
                    _get_context(),
                    exc,
                    _TEXT.get(record.levelno, record.levelname),
                )
            )
        except Exception as exc:  # never raise into the logging call
            reporter.report("stdlib_bridge", f"FapilogHandler could not capture a record: {exc!r}")
        finally:
            self._guard.busy = False


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        return f"{record.msg!s} (unformattable args: {record.args!r})"


class StdlibCapture:
    """Handle returned by :func:`capture_stdlib`; :meth:`uninstall` undoes that call."""

    def __init__(
        self,
        logger: logging.Logger,
        handler: FapilogHandler,
        old_level: int,
        *,
        added: bool = True,
        old_handler_level: int | None = None,
    ):
        self.logger = logger
        self.handler = handler
        self._old_level = old_level
        self._added = added
        self._old_handler_level = old_handler_level
        self._installed = True

    def uninstall(self) -> None:
        """Undo what the :func:`capture_stdlib` call did. Idempotent.

        A handler that call added is removed; a handler it reused (one already
        capturing into the same pipeline) stays, with its previous level. The
        logger gets back its previous level.
        """
        if self._installed:
            if self._added:
                self.logger.removeHandler(self.handler)
            elif self._old_handler_level is not None:
                self.handler.setLevel(self._old_handler_level)
            self.logger.setLevel(self._old_level)
            self._installed = False


def capture_stdlib(
    level: int | str = logging.INFO,
    *,
    pipeline: Pipeline | None = None,
    logger: logging.Logger | str | None = None,
) -> StdlibCapture:
    """Route :mod:`logging` records into fapilog.

    Installs a :class:`FapilogHandler` on the root logger (or ``logger``) and
    lowers that logger's level to ``level`` if needed. Existing handlers stay.
    With the default pipeline, the handler writes to whatever pipeline is the default
    when a record arrives, so a later :func:`fapilog.configure` keeps the capture.
    Idempotent: when the logger already has a :class:`FapilogHandler` sending to the
    same pipeline (for instance from an earlier call, or from
    ``fapilog_instrumentation_asgi.instrument_app``), that handler is reused, its
    level lowered to ``level`` if needed, so no record is captured twice. When
    ``pipeline`` shuts down, or the default pipeline shuts down without being
    replaced (``fapilog.shutdown()``, exit), an added handler is removed.

    Args:
        level: minimum level to capture: a :mod:`logging` name or number, or one of
            fapilog's names (TRACE is 5, WARN 30, FATAL 50).
        pipeline: target pipeline; default: the default pipeline.
        logger: the logger to attach to (default: root).

    Returns:
        A handle whose ``uninstall()`` restores the previous state.

    Raises:
        ValueError: an unknown level name.
    """
    target = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
    levelno = _stdlib_level(level)
    existing = next(
        (h for h in target.handlers if isinstance(h, FapilogHandler) and h.pipeline is pipeline),
        None,
    )
    old_level = target.level
    if old_level == logging.NOTSET or old_level > levelno:
        target.setLevel(levelno)
    if existing is not None:
        old_handler_level = existing.level if existing.level > levelno else None
        if old_handler_level is not None:
            existing.setLevel(levelno)
        return StdlibCapture(
            target, existing, old_level, added=False, old_handler_level=old_handler_level
        )
    handler = FapilogHandler(levelno, pipeline=pipeline)
    handle = StdlibCapture(target, handler, old_level)
    target.addHandler(handler)
    if pipeline is not None:
        pipeline.add_shutdown_hook(handle.uninstall)
    else:
        from fapilog._api import default_pipeline

        _uninstall_with_default(default_pipeline(), handle)
    return handle


def _uninstall_with_default(pipeline: Pipeline, handle: StdlibCapture) -> None:
    """Undo ``handle`` when the default pipeline shuts down, not when it is replaced.

    ``configure()`` makes a new default pipeline and then shuts the previous one
    down: the handler (which writes to whatever is the default) stays, and is tied
    to the new default instead.
    """

    def undo() -> None:
        from fapilog._api import _DEFAULT
        from fapilog.pipeline._pipeline import Pipeline

        if not handle._installed:  # already undone by the application
            return
        successor = _DEFAULT.pipeline
        if isinstance(successor, Pipeline) and successor is not pipeline:
            _uninstall_with_default(successor, handle)
            return
        handle.uninstall()

    pipeline.add_shutdown_hook(undo)


#: Level names :func:`capture_stdlib` accepts beyond :mod:`logging`'s own.
_EXTRA_LEVEL_NAMES = {"TRACE": 5, "FATAL": logging.CRITICAL, "WARN": logging.WARNING}


def _stdlib_level(level: int | str) -> int:
    """A :mod:`logging` level number for a level number or name (fapilog's or logging's)."""
    if isinstance(level, bool):
        raise ValueError(f"invalid level {level!r}: use a name such as 'INFO' or a number")
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    number = logging.getLevelNamesMapping().get(name, _EXTRA_LEVEL_NAMES.get(name))
    if number is None:
        if name.isdigit():
            return int(name)
        known = sorted({*logging.getLevelNamesMapping(), *_EXTRA_LEVEL_NAMES} - {"NOTSET"})
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(known)} or a number")
    return number
