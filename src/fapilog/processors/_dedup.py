"""De-duplication: identical events repeated within a window collapse into one summary.

Two events are *identical* when they have the same logger (instrumentation scope
name), severity number, event name, body (``==``) and attributes (the same keys with
equal values, in any order). Timestamps, trace and span ids are not compared, so
the same failure repeated across requests collapses too; the call site is compared
(``code.*`` attributes, when recorded), so the same message from two places does
not. Audit events are never collapsed.

The first event of a kind opens a window of ``window_ms`` (from its timestamp) and
passes; identical events whose timestamp falls inside the window are dropped as
``deduplicated``. When the window has closed, :meth:`DedupProcessor.poll` returns one
summary record for it, ``collapsed 1,234 repeats of "db timeout" in 10 s``, with the
logger, level and attributes of the first event plus ``fapilog.repeat_count``. A
window with no repeats closes silently.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from fapilog._event import LogEvent
from fapilog.errors import ConfigError
from fapilog.processors._base import Processor

if TYPE_CHECKING:
    from collections.abc import Hashable, Mapping, Sequence

    from fapilog.config import Settings

__all__ = ["REPEAT_COUNT", "DedupProcessor"]

#: The attribute of a summary record holding how many repeats it stands for.
REPEAT_COUNT = "fapilog.repeat_count"

#: The attribute of a summary record holding the window length, milliseconds.
REPEAT_WINDOW = "fapilog.repeat_window_ms"

#: Longest message quoted in a summary's body (the full one is in the first event).
_QUOTE_CHARS = 200


class _Kind:
    """What a summary repeats of the first event of a kind (a copy of its attributes)."""

    __slots__ = (
        "attributes",
        "body",
        "resource",
        "scope",
        "severity_number",
        "severity_text",
        "timestamp",
    )

    def __init__(self, event: LogEvent) -> None:
        self.attributes = dict(event.attributes)
        self.body = event.body
        self.resource = event.resource
        self.scope = event.instrumentation_scope
        self.severity_number = event.severity_number
        self.severity_text = event.severity_text
        self.timestamp = event.timestamp


class _Window:
    """One kind of event seen recently: when its window ends and what it collapsed."""

    __slots__ = ("end", "first", "last_ts", "repeats")

    def __init__(self, first: _Kind, end: int) -> None:
        self.first = first
        self.end = end
        self.repeats = 0
        self.last_ts = first.timestamp


class DedupProcessor(Processor):
    """Collapses identical events within ``window_ms`` into the first one plus a summary.

    Args:
        window_ms: how long after the first of a kind its repeats are collapsed.
        max_keys: most kinds tracked at once; when a new kind would exceed it, the
            oldest window is closed early (its summary is emitted at the next poll).

    Raises:
        ConfigError: ``window_ms`` or ``max_keys`` is not a positive integer.
    """

    api_version = "1.1"  # the fapilog.plugin API it is written for (drop_reason, poll)

    #: on_emit only drops; summaries are new events the pipeline sizes itself.
    keeps_size = True

    #: Repeats it drops are counted as ``deduplicated`` (a decision, not a loss).
    drop_reason = "deduplicated"

    def __init__(self, window_ms: int = 1000, *, max_keys: int = 10_000) -> None:
        self.window_ms = _positive_int(window_ms, "dedup window_ms", "dedup_window_ms")
        self.max_keys = _positive_int(max_keys, "dedup max_keys", "dedup_window_ms")
        self._window_ns = self.window_ms * 1_000_000
        # Oldest first; an OrderedDict pops its oldest in O(1) (a dict's first key
        # is found by scanning past the slots of deleted keys).
        self._windows: OrderedDict[Hashable, _Window] = OrderedDict()
        self._closed: list[_Window] = []  # closed early (evicted, restarted): summarise
        self._flush = False
        self.collapsed = 0
        self.summaries = 0

    @classmethod
    def from_settings(
        cls, settings: Settings, *, window_ms: int | None = None, max_keys: int = 10_000
    ) -> DedupProcessor:
        """Build from ``dedup_window_ms`` (1000 when unset); options win over it."""
        if window_ms is None:
            window_ms = settings.dedup_window_ms or 1000
        return cls(window_ms, max_keys=max_keys)

    def __repr__(self) -> str:
        return f"DedupProcessor(window_ms={self.window_ms}, max_keys={self.max_keys})"

    def on_emit(self, event: LogEvent) -> bool:
        """Pass the first of a kind, drop (``deduplicated``) its repeats in the window."""
        attributes = event.attributes
        if event.event_name == "audit" or attributes.get("fapilog.audit") is True:
            return True
        key = _key(event)
        windows = self._windows
        window = windows.get(key)
        ts = event.timestamp
        if window is not None:
            if ts < window.end:
                window.repeats += 1
                if ts > window.last_ts:
                    window.last_ts = ts
                self.collapsed += 1
                return False
            del windows[key]  # its window is over: this one opens the next
            if window.repeats:
                self._closed.append(window)
        elif len(windows) >= self.max_keys:
            _, evicted = windows.popitem(last=False)
            if evicted.repeats:
                self._closed.append(evicted)
        windows[key] = _Window(_Kind(event), ts + self._window_ns)
        return True

    def poll(self, now_ns: int) -> Sequence[LogEvent]:
        """Summaries of the windows that have closed by ``now_ns`` (and any evicted)."""
        done = self._closed
        self._closed = []
        windows = self._windows
        if self._flush:
            # A flush: what was collapsed so far is reported now; the windows stay
            # open (their later repeats are summarised when they close).
            self._flush = False
            for window in windows.values():
                if window.repeats:
                    reported = _Window(window.first, window.end)
                    reported.repeats, reported.last_ts = window.repeats, window.last_ts
                    done.append(reported)
                    window.repeats = 0
        # Oldest first, so stop at the first window still open: a poll costs what
        # it closes. (A window opened by an event with an older timestamp than its
        # predecessor's closes at the first poll after that one.)
        while windows:
            window = next(iter(windows.values()))
            if window.end > now_ns:
                break
            windows.popitem(last=False)
            if window.repeats:
                done.append(window)
        if not done:
            return ()
        self.summaries += len(done)
        return [self._summary(window, now_ns) for window in done]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Have the next :meth:`poll` report every window's repeats so far."""
        self._flush = True
        return True

    def counts(self) -> Mapping[str, int]:
        """``dedup.collapsed`` (repeats dropped) and ``dedup.summaries`` (records emitted)."""
        return {"dedup.collapsed": self.collapsed, "dedup.summaries": self.summaries}

    def _summary(self, window: _Window, now_ns: int) -> LogEvent:
        first = window.first
        message = first.body if isinstance(first.body, str) else repr(first.body)
        if len(message) > _QUOTE_CHARS:
            message = message[: _QUOTE_CHARS - 1] + "…"
        attributes = dict(first.attributes)
        attributes[REPEAT_COUNT] = window.repeats
        attributes[REPEAT_WINDOW] = self.window_ms
        return LogEvent(
            timestamp=window.last_ts,
            observed_timestamp=now_ns,
            severity_text=first.severity_text,
            severity_number=first.severity_number,
            body=(
                f'collapsed {window.repeats:,} repeats of "{message}" '
                f"in {_duration(self.window_ms)}"
            ),
            attributes=attributes,
            resource=first.resource,
            instrumentation_scope=first.scope,
        )


def _key(event: LogEvent) -> Hashable:
    """What makes two events identical (see the module docstring); cheap to hash."""
    body: Any = event.body
    items = tuple(sorted(event.attributes.items())) if event.attributes else ()
    key = (event.scope_name, event.severity_number, event.event_name, body, items)
    try:
        hash(key)
    except TypeError:  # a list or dict value: compare a frozen copy
        key = (
            event.scope_name,
            event.severity_number,
            event.event_name,
            _freeze(body),
            tuple((k, _freeze(v)) for k, v in items),
        )
    return key


def _freeze(value: Any) -> Hashable:
    if isinstance(value, dict):
        return ("__map__", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("__seq__", tuple(_freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("__repr__", repr(value))
    return value  # type: ignore[no-any-return]


def _duration(ms: int) -> str:
    if ms % 60_000 == 0:
        return f"{ms // 60_000} min"
    if ms % 1000 == 0:
        return f"{ms // 1000} s"
    return f"{ms} ms"


def _positive_int(value: Any, what: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(
            f"{what} must be a positive integer (milliseconds or a count), not {value!r}",
            fields=(field,),
        )
    return value
