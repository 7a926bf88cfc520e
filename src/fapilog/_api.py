"""Module-level API: the default pipeline, configure(), get_logger() and friends."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from fapilog._logger import Logger, PipelineRef
from fapilog.pipeline._pipeline import Pipeline
from fapilog.pipeline._stats import PipelineStats

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.sdk.resources import Resource

    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter
    from fapilog.pipeline._materialize import Captured
    from fapilog.processors._base import Processor

__all__ = [
    "aflush",
    "ashutdown",
    "configure",
    "default_pipeline",
    "flush",
    "get_logger",
    "shutdown",
    "stats",
]

_lock = threading.RLock()


class _LazyDefault:
    """Stands in for the default pipeline until the first event needs it.

    Importing fapilog or creating loggers starts no thread; the first accepted
    event builds the zero-config pipeline from the environment.
    """

    _min_level = 0
    _ring: tuple[()] = ()
    _capacity = -1  # the hot path always falls through to _slow_put

    def _slow_put(self, rec: Captured) -> None:
        pipeline = default_pipeline()
        if rec[1] >= pipeline._min_level:
            pipeline._enqueue(rec)

    _enqueue = _slow_put

    async def _aput(self, rec: Captured) -> None:
        pipeline = default_pipeline()
        if rec[1] >= pipeline._min_level:
            await pipeline._aput(rec)


_LAZY = _LazyDefault()
_DEFAULT = PipelineRef(_LAZY)


def _install(pipeline: Pipeline) -> None:
    def restore() -> None:
        with _lock:
            if _DEFAULT.pipeline is pipeline:
                _DEFAULT.pipeline = _LAZY

    pipeline.add_shutdown_hook(restore)
    _DEFAULT.pipeline = pipeline


def default_pipeline() -> Pipeline:
    """The default pipeline, built from the environment on first use."""
    current = _DEFAULT.pipeline
    if isinstance(current, Pipeline):
        return current
    with _lock:
        current = _DEFAULT.pipeline
        if isinstance(current, Pipeline):
            return current
        pipeline = Pipeline()
        _install(pipeline)
        return pipeline


def configure(
    settings: Settings | None = None,
    *,
    exporters: Iterable[Exporter | Any] | None = None,
    processors: Iterable[Processor] | None = None,
    resource: Resource | None = None,
    **overrides: Any,
) -> Pipeline:
    """Build a pipeline and make it the default one used by :func:`get_logger` loggers.

    The previous default pipeline, if any, is flushed and shut down first.
    Loggers created earlier follow the new default. ``pipeline.shutdown()``
    restores the zero-config default.

    Args:
        settings: a :class:`~fapilog.Settings`; by default read from ``FAPILOG_*``
            and ``OTEL_*`` environment variables.
        exporters: exporters to use instead of those named by the settings.
        processors: extra processors, after the built-in enrichers.
        resource: the OTel Resource (default: detected).
        **overrides: individual settings, e.g. ``level="debug", exporters=["file"]``.

    Returns:
        The new default :class:`~fapilog.Pipeline`.

    Raises:
        ConfigError: a setting is invalid; the message names it and the fix.
    """
    pipeline = Pipeline(
        settings, exporters=exporters, processors=processors, resource=resource, **overrides
    )
    with _lock:
        previous = _DEFAULT.pipeline
        _install(pipeline)
    if isinstance(previous, Pipeline):
        previous.shutdown()
    return pipeline


def get_logger(name: str | None = None) -> Logger:
    """Return a logger on the default pipeline.

    Args:
        name: the logger (instrumentation scope) name; defaults to the calling
            module's ``__name__``.
    """
    if name is None:
        try:
            name = sys._getframe(1).f_globals.get("__name__", "root")
        except (AttributeError, ValueError):
            name = "root"
    return Logger(name or "root", _DEFAULT)


def flush(timeout: float | None = None) -> bool:
    """Flush the default pipeline (see :meth:`Pipeline.flush`)."""
    current = _DEFAULT.pipeline
    return current.flush(timeout) if isinstance(current, Pipeline) else True


async def aflush(timeout: float | None = None) -> bool:
    """Awaitable :func:`flush`."""
    current = _DEFAULT.pipeline
    return await current.aflush(timeout) if isinstance(current, Pipeline) else True


def shutdown(timeout: float | None = None) -> bool:
    """Shut the default pipeline down (see :meth:`Pipeline.shutdown`)."""
    current = _DEFAULT.pipeline
    return current.shutdown(timeout) if isinstance(current, Pipeline) else True


async def ashutdown(timeout: float | None = None) -> bool:
    """Awaitable :func:`shutdown`."""
    current = _DEFAULT.pipeline
    return await current.ashutdown(timeout) if isinstance(current, Pipeline) else True


def stats() -> PipelineStats:
    """Accounting snapshot of the default pipeline (all zero before first use)."""
    current = _DEFAULT.pipeline
    if isinstance(current, Pipeline):
        return current.stats()
    return PipelineStats(emitted=0, exported=0, dropped={}, in_flight=0, queued=0)
