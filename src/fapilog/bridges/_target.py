"""What every bridge shares: where records go, their scope, and a guarded enqueue.

A bridge builds the same captured record a :class:`~fapilog.Logger` call builds (with
:func:`fapilog.pipeline._materialize.capture_record`) on the calling thread, with the
OTel Context of the call, and hands it to the pipeline's intake: normalisation,
enrichment (span ids, baggage, bound context), redaction and export then happen on
the worker exactly as for fapilog's own calls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fapilog._diagnostics import reporter
from fapilog._logger import Logger
from fapilog.pipeline._intake import in_worker_thread
from fapilog.stdlib import _ScopeLogger

if TYPE_CHECKING:
    from types import ModuleType

    from fapilog.pipeline._intake import IntakeLike
    from fapilog.pipeline._materialize import CapturedRecord
    from fapilog.pipeline._pipeline import Pipeline

__all__ = ["BridgeTarget", "require"]


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional dependency or raise an ImportError that names the extra.

    Args:
        module: the module to import, e.g. ``"structlog"``.
        extra: the fapilog extra that installs it.
        what: the fapilog class that needs it (for the message).

    Raises:
        ImportError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{what} needs the {module!r} package; install it with: pip install 'fapilog[{extra}]'"
        ) from exc


class BridgeTarget:
    """Resolves a bridge's destination and enqueues captured records into it.

    Args:
        target: a :class:`~fapilog.Pipeline`, a :class:`~fapilog.Logger` (its
            pipeline, its bound fields, and its name as the default scope), or
            ``None`` for the default pipeline at the time of each call.
        default_scope: scope name when neither the record nor ``target`` names one.
        bridge: the bridge's name in diagnostics.
    """

    __slots__ = ("_bridge", "_default_scope", "_fields", "_pipeline", "_ref", "_scopes")

    def __init__(self, target: Pipeline | Logger | None, default_scope: str, bridge: str) -> None:
        self._bridge = bridge
        self._ref: Any = None
        self._pipeline: Any = None
        self._fields: dict[str, Any] = {}
        if isinstance(target, Logger):
            # Follow the logger's reference: a get_logger() logger tracks the default.
            self._ref = target._ref
            self._fields = dict(target._fields)
            default_scope = target.name
        elif target is not None:
            self._pipeline = target
        self._default_scope = default_scope
        self._scopes: dict[str, _ScopeLogger] = {}

    def pipeline(self) -> Any:
        """The pipeline (or the lazy default) records go to right now."""
        if self._pipeline is not None:
            return self._pipeline
        if self._ref is not None:
            return self._ref.pipeline
        from fapilog._api import _DEFAULT

        return _DEFAULT.pipeline

    def intake(self) -> IntakeLike:
        """The intake of the pipeline (or of the lazy default) records go to right now."""
        intake: IntakeLike = self.pipeline().intake
        return intake

    def scope(self, name: str | None) -> _ScopeLogger:
        """The scope-and-bound-fields object ``materialize`` reads, cached per name."""
        key = name or self._default_scope
        scope = self._scopes.get(key)
        if scope is None:
            scope = _ScopeLogger(key)
            scope._fields = self._fields
            if len(self._scopes) < 1024:  # logger names are few; stay bounded anyway
                self._scopes[key] = scope
        return scope

    def accepts(
        self, intake: IntakeLike, severity: int, name: str | None = None, msg: Any = None
    ) -> bool:
        """Whether to capture an event: not from fapilog's own threads, at or above the
        level of logger ``name`` (its per-logger level, else the pipeline's; ``None``:
        the bridge's default scope), and within its rate limit for template ``msg``."""
        if in_worker_thread():
            # An exporter's HTTP client logging through a bridged library must not
            # feed the pipeline that is exporting: count it, like the stdlib bridge.
            intake.caller_drop("recursion")
            return False
        name = name or self._default_scope
        return intake.accepts(name, severity) and intake.admit(name, msg, severity)

    def failed(self, intake: IntakeLike, exc: BaseException) -> None:
        """Account for a record the bridge could not capture (never raises)."""
        try:
            intake.caller_drop("bridge_error")
            reporter.report(
                f"{self._bridge}_bridge", f"the {self._bridge} bridge dropped a record: {exc!r}"
            )
        except Exception:  # the last line of defence: never raise into the app
            pass

    @staticmethod
    def enqueue(intake: IntakeLike, rec: CapturedRecord) -> None:
        """Hand one captured record to the intake (never blocks on I/O)."""
        intake.enqueue(rec)
