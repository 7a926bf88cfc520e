"""The processors every pipeline starts with: trace context, baggage, bound context, filters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import baggage as otel_baggage
from opentelemetry import trace
from opentelemetry.trace import propagation as _trace_propagation

from fapilog import _severity
from fapilog._context_key import BOUND_KEY
from fapilog._normalize import normalize_value
from fapilog.processors._base import Processor

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from fapilog._event import LogEvent

__all__ = [
    "BaggageProcessor",
    "BoundContextProcessor",
    "LevelFilter",
    "SpanContextProcessor",
]


# The Context key OTel stores the current span under (stable since 1.0, but private:
# fall back to the public accessor if it ever moves).
_SPAN_KEY: str | None = getattr(_trace_propagation, "_SPAN_KEY", None)


class SpanContextProcessor(Processor):
    """Copies trace_id, span_id and trace flags from the Context captured at the call.

    An id already set on the event (e.g. by a bridge) is kept.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    #: Never grows an event much, so the pipeline keeps the size it estimated when
    #: the event was built (see :attr:`Processor.keeps_size`).
    keeps_size = True

    def on_emit(self, event: LogEvent) -> None:
        copy_span_context(event)


def copy_span_context(event: LogEvent) -> None:
    """What :class:`SpanContextProcessor` does (the pipeline also calls it directly)."""
    ctx = event.context
    if event.trace_id or not ctx:
        return  # no Context, or an empty one: no span
    if _SPAN_KEY is not None:
        span: Any = ctx.get(_SPAN_KEY)  # what trace.get_current_span(ctx) reads, minus 3 calls
        if span is None:
            return
    else:
        span = trace.get_current_span(ctx)
    span_context = span.get_span_context()
    if span_context.is_valid:
        event.trace_id = span_context.trace_id
        event.span_id = span_context.span_id
        event.trace_flags = int(span_context.trace_flags)


class BaggageProcessor(Processor):
    """Adds allow-listed W3C baggage entries from the captured Context as attributes.

    Baggage crosses service boundaries and is set by callers you may not trust,
    so only the keys you name are copied, and never over an existing attribute.

    Args:
        keys: baggage keys to copy; ``"*"`` copies all of them.
        prefix: prepended to the attribute name (default: none).
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    def __init__(self, keys: Iterable[str], prefix: str = "") -> None:
        self.keys = frozenset(keys)
        self.prefix = prefix

    def on_emit(self, event: LogEvent) -> None:
        if event.context is None:
            return
        entries = otel_baggage.get_all(event.context)
        if not entries:
            return
        copy_all = "*" in self.keys
        for key, value in entries.items():
            if copy_all or key in self.keys:
                event.attributes.setdefault(self.prefix + key, normalize_value(value))


class BoundContextProcessor(Processor):
    """Adds the fields bound with :func:`fapilog.bind_context` at the time of the call.

    Fields passed to the log call itself win over bound ones.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    def on_emit(self, event: LogEvent) -> None:
        add_bound_context(event)


def add_bound_context(event: LogEvent) -> None:
    """What :class:`BoundContextProcessor` does (the pipeline also calls it directly)."""
    if not event.context:
        return
    bound: Mapping[str, Any] | None = event.context.get(BOUND_KEY)  # type: ignore[assignment]  # we store mappings
    if not bound:
        return
    attributes = event.attributes
    for key, value in bound.items():
        if key not in attributes:
            attributes[key] = normalize_value(value)


class LevelFilter(Processor):
    """Drops events below a severity, optionally per logger-name prefix.

    Args:
        default: the minimum level for loggers without a more specific rule
            (a name like ``"info"`` or a :mod:`logging` level number).
        loggers: ``{"sqlalchemy": "warning", "app.payments": "debug"}``; the longest
            matching dotted prefix wins.
    """

    api_version = "1.0"  # the fapilog.plugin API it is written for

    #: Never grows an event much, so the pipeline keeps the size it estimated when
    #: the event was built (see :attr:`Processor.keeps_size`).
    keeps_size = True

    def __init__(self, default: int | str = 0, loggers: Mapping[str, int | str] | None = None):
        self.default = _severity.parse_level(default) if default else 0
        self.rules = {name: _severity.parse_level(level) for name, level in (loggers or {}).items()}
        self._cache: dict[str, int] = {}

    def threshold(self, logger_name: str) -> int:
        """The minimum severity number that applies to ``logger_name``."""
        cached = self._cache.get(logger_name)
        if cached is not None:
            return cached
        best, best_len = self.default, -1
        for prefix, level in self.rules.items():
            if (logger_name == prefix or logger_name.startswith(prefix + ".")) and len(
                prefix
            ) > best_len:
                best, best_len = level, len(prefix)
        if len(self._cache) < 10_000:
            self._cache[logger_name] = best
        return best

    def on_emit(self, event: LogEvent) -> bool:
        return event.severity_number >= self.threshold(event.scope_name)
