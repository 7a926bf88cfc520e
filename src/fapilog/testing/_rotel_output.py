"""Parsing what ``rotel-agent --debug-log logs --debug-log-verbosity detailed`` prints.

Used by :class:`fapilog.testing.RotelCollector`; :class:`CollectedLog` is one record as
the collector printed it, rebuilt into Python values.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CollectedLog", "CollectedSpan", "parse_value"]

# Line prefixes of rotel's detailed debug output for logs (rotel 0.0.1).
_RECORD_END = "Flags: "
_ATTRIBUTE = "     -> "
_RECORD_FIELDS = (
    "ObservedTimestamp: ",
    "Timestamp: ",
    "SeverityText: ",
    "SeverityNumber: ",
    "EventName: ",
    "Body: ",
)
_TRACE_ID = "    Trace ID       : "
_SPAN_ID = "    Span ID        : "
# rotel's own diagnostics ("2026-01-01T00:00:00.000000Z  INFO Starting Rotel. ...").
_AGENT_LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\s+(?:TRACE|DEBUG|INFO|WARN|ERROR)\s"
)
_SEVERITY_NUMBER = re.compile(r"\((-?\d+)\)\s*$")
_INT_VALUE = re.compile(r"-?\d+\)")
_DOUBLE_VALUE = re.compile(r"[-+]?(?:[0-9.eE+-]+|inf|NaN)\)")
_BYTES_VALUE = re.compile(r"\[([0-9, ]*)\]\)")


@dataclass(frozen=True)
class CollectedLog:
    """One log record as the collector printed it.

    Values are rebuilt from rotel's text rendering of OTLP ``AnyValue``: ``Str`` ->
    ``str``, ``Int`` -> ``int``, ``Double`` -> ``float``, ``Bool`` -> ``bool``,
    ``Bytes`` -> ``bytes``, ``Slice`` -> ``list``, ``Map`` -> ``dict`` and ``Empty``
    -> ``None``. Strings are printed unquoted, so a string inside a list or map that
    itself contains ``"), "`` or ``"key:Str("`` can be split differently than it was
    sent; a value that cannot be parsed at all is kept as its raw text.
    """

    body: Any
    """The record body (``None`` when empty)."""
    severity_text: str
    """``SeverityText`` as sent ("" when unset)."""
    severity_number: int | None
    """``SeverityNumber`` (0 when unspecified; ``None`` when rotel did not print it,
    which it does for numbers outside the OTLP enum)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """Record attributes, nested lists and maps included."""
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    """Attributes of the resource the record came with (``service.name`` etc.)."""
    scope_name: str = ""
    """Instrumentation scope name ("" when absent)."""
    scope_version: str = ""
    """Instrumentation scope version ("" when absent)."""
    scope_attributes: dict[str, Any] = field(default_factory=dict)
    """Instrumentation scope attributes."""
    trace_id: str = ""
    """Trace id as 32 lowercase hex digits ("" when absent)."""
    span_id: str = ""
    """Span id as 16 lowercase hex digits ("" when absent)."""
    flags: int = 0
    """Record flags (the W3C trace flags live in the low byte)."""
    timestamp: int = 0
    """``time_unix_nano`` (0 when unset)."""
    observed_timestamp: int = 0
    """``observed_time_unix_nano`` (0 when unset)."""
    event_name: str = ""
    """``event_name`` ("" when unset)."""


@dataclass(frozen=True)
class CollectedSpan:
    """One span as the collector printed it (``RotelCollector(traces=True)``)."""

    name: str
    """The span name."""
    kind: str
    """OTLP kind without its prefix: ``"SERVER"``, ``"CLIENT"``, ``"INTERNAL"`` ..."""
    trace_id: str
    """Trace id as 32 lowercase hex digits."""
    span_id: str
    """Span id as 16 lowercase hex digits."""
    parent_span_id: str = ""
    """The parent's span id ("" for a root span)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    """Span attributes (events and links are not kept)."""
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    """Attributes of the resource the span came with (``service.name`` etc.)."""
    scope_name: str = ""
    """Instrumentation scope name ("" when absent)."""


_SPAN_FIELDS = {
    "    Trace ID       : ": "trace_id",
    "    Parent ID      : ": "parent_span_id",
    "    ID             : ": "span_id",
    "    Name           : ": "name",
    "    Kind           : ": "kind",
}


class _SpanParser:
    """Turns ``--debug-log traces --debug-log-verbosity detailed`` output into spans.

    Only what tests ask of a span is kept: its ids, name, kind, own attributes,
    resource and scope. Output of other signals is skipped.
    """

    def __init__(self) -> None:
        self.spans: list[CollectedSpan] = []
        self._in_spans = False
        self._resource: list[list[str]] = []
        self._scope_name = ""
        self._fields: dict[str, str] | None = None
        self._attributes: list[list[str]] = []
        self._section: list[list[str]] | None = None

    def feed(self, text: str) -> None:
        """Parse complete lines of output."""
        for line in text.splitlines():
            self._line(line)

    def _line(self, line: str) -> None:
        if line.startswith(("ResourceLog #", "ResourceMetrics #")):
            self._finish()
            self._in_spans = False
        elif line.startswith("ResourceSpans #"):
            self._finish()
            self._in_spans, self._resource, self._section = True, [], None
        elif not self._in_spans or _AGENT_LOG_LINE.match(line):
            return
        elif line == "Resource attributes:":
            self._section = self._resource
        elif line.startswith("InstrumentationScope ") and not line.endswith(":"):
            self._finish()
            self._scope_name = line[len("InstrumentationScope ") :].rpartition(" ")[0]
        elif line.startswith("Span #"):
            self._finish()
            self._fields, self._attributes, self._section = {}, [], None
        elif line == "Attributes:" and self._fields is not None:
            self._section = self._attributes
        elif line in ("Events:", "Links:") or line.startswith(("SpanEvent #", "SpanLink #")):
            self._section = None
        elif line.startswith(_ATTRIBUTE) and self._section is not None:
            self._section.append([line[len(_ATTRIBUTE) :]])
        elif self._fields is not None:
            for prefix, name in _SPAN_FIELDS.items():
                if line.startswith(prefix):
                    self._fields[name] = line[len(prefix) :].strip()
                    break

    def _finish(self) -> None:
        fields, self._fields = self._fields, None
        if not fields:
            return
        self.spans.append(
            CollectedSpan(
                name=fields.get("name", ""),
                kind=fields.get("kind", "").removeprefix("SPAN_KIND_"),
                trace_id=fields.get("trace_id", ""),
                span_id=fields.get("span_id", ""),
                parent_span_id=fields.get("parent_span_id", ""),
                attributes=_parse_attributes(self._attributes),
                resource_attributes=_parse_attributes(self._resource),
                scope_name=self._scope_name,
            )
        )

    def close(self) -> None:
        """Keep the last span (its block has no end marker of its own)."""
        self._finish()


# -- parsing rotel's detailed debug output -----------------------------------------------


class _DebugLogParser:
    """Turns ``--debug-log logs --debug-log-verbosity detailed`` output into records.

    The output is a tree of ``ResourceLog #i`` / ``ScopeLogs #j`` / ``LogRecord #k``
    blocks; a record ends with its ``Flags:`` line. String values are printed raw,
    so a line that matches no known prefix continues the previous value (a newline
    inside a string).
    """

    def __init__(self) -> None:
        self.records: list[CollectedLog] = []
        self._partial = ""
        self._resource: list[list[str]] = []
        self._resource_cache: dict[str, Any] | None = None
        self._scope_name = ""
        self._scope_version = ""
        self._scope: list[list[str]] = []
        self._scope_cache: dict[str, Any] | None = None
        self._section: list[list[str]] = self._resource
        self._record: dict[str, Any] = {}
        self._attributes: list[list[str]] = []
        # The value a continuation line extends: [target list, index].
        self._continued: tuple[list[str], int] | None = None
        # Inside the output of another signal (spans, metrics), which is not ours.
        self._foreign = False

    def feed(self, text: str) -> None:
        """Parse complete lines of output."""
        for line in text.splitlines():
            self._line(line)

    def _line(self, line: str) -> None:
        if line.startswith(("ResourceSpans #", "ResourceMetrics #")):
            self._foreign = True
            return
        if self._foreign:
            if not line.startswith("ResourceLog #"):
                return
            self._foreign = False
        if line.startswith(_ATTRIBUTE):
            name_value = [line[len(_ATTRIBUTE) :]]
            self._section.append(name_value)
            self._continued = (name_value, 0)
            if self._section is self._resource:
                self._resource_cache = None
            elif self._section is self._scope:
                self._scope_cache = None
        elif line.startswith("LogRecord #"):
            self._record = {}
            self._attributes = []
            self._section = self._attributes
            self._continued = None
        elif line.startswith(_RECORD_END):
            self._finish_record(line[len(_RECORD_END) :])
        elif line.startswith(_RECORD_FIELDS):
            self._field(line)
        elif line.startswith(_TRACE_ID):
            self._record["trace_id"] = line[len(_TRACE_ID) :].strip()
            self._continued = None
        elif line.startswith(_SPAN_ID):
            self._record["span_id"] = line[len(_SPAN_ID) :].strip()
            self._continued = None
        elif line == "Attributes:":
            self._section = self._attributes
            self._continued = None
        elif line.startswith("ResourceLog #"):
            self._resource = []
            self._resource_cache = None
            self._section = self._resource
            self._new_scope()
        elif line == "Resource attributes:":
            self._section = self._resource
            self._continued = None
        elif line.startswith("ScopeLogs #"):
            self._new_scope()
        elif line == "InstrumentationScope attributes:":
            self._section = self._scope
            self._continued = None
        elif line.startswith("InstrumentationScope "):
            # "InstrumentationScope NAME VERSION": a space inside the name is ambiguous.
            name, _, version = line[len("InstrumentationScope ") :].rpartition(" ")
            self._scope_name, self._scope_version = name, version
            self._continued = None
        elif line.startswith(("Resource SchemaURL: ", "ScopeLogs SchemaURL: ")):
            self._continued = None
        elif _AGENT_LOG_LINE.match(line):
            pass
        elif self._continued is not None:
            target, index = self._continued
            target[index] += "\n" + line

    def _new_scope(self) -> None:
        self._scope = []
        self._scope_cache = None
        self._scope_name = self._scope_version = ""
        self._section = self._scope
        self._continued = None

    def _field(self, line: str) -> None:
        name, _, value = line.partition(": ")
        holder = [value]
        self._record[name] = holder
        self._continued = (holder, 0)

    def _finish_record(self, flags: str) -> None:
        fields = self._record

        def text(name: str) -> str:
            holder: list[str] | None = fields.get(name)
            return "" if holder is None else holder[0]

        if self._resource_cache is None:
            self._resource_cache = _parse_attributes(self._resource)
        if self._scope_cache is None:
            self._scope_cache = _parse_attributes(self._scope)
        severity = _SEVERITY_NUMBER.search(text("SeverityNumber"))
        body = fields.get("Body")
        self.records.append(
            CollectedLog(
                body=None if body is None else parse_value(body[0]),
                severity_text=text("SeverityText"),
                severity_number=None if severity is None else int(severity.group(1)),
                attributes=_parse_attributes(self._attributes),
                resource_attributes=dict(self._resource_cache),
                scope_name=self._scope_name,
                scope_version=self._scope_version,
                scope_attributes=dict(self._scope_cache),
                trace_id=fields.get("trace_id", ""),
                span_id=fields.get("span_id", ""),
                flags=_to_int(flags),
                timestamp=_to_int(text("Timestamp")),
                observed_timestamp=_to_int(text("ObservedTimestamp")),
                event_name=text("EventName"),
            )
        )
        self._record = {}
        self._attributes = []
        self._section = self._attributes
        self._continued = None


def _to_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return 0


def _parse_attributes(lines: list[list[str]]) -> dict[str, Any]:
    """Parse ``key: Value`` entries; a key may itself contain ``": "``."""
    result: dict[str, Any] = {}
    for (entry,) in lines:
        start = 0
        while (split := entry.find(": ", start)) != -1:
            value = _parse_exactly(entry[split + 2 :])
            if value is not _UNPARSED:
                result[entry[:split]] = value
                break
            start = split + 1
        else:
            key, _, raw = entry.partition(": ")
            result[key] = raw
    return result


_UNPARSED: Any = object()


def parse_value(text: str) -> Any:
    """Rebuild a Python value from rotel's rendering of an OTLP ``AnyValue``.

    Args:
        text: For example ``"Map(k:Str(v), n:Slice(Int(1), Double(2.5)))"``.

    Returns:
        The value (``{"k": "v", "n": [1, 2.5]}``), or ``text`` itself when it is
        not a rendering rotel produces.
    """
    value = _parse_exactly(text)
    return text if value is _UNPARSED else value


def _parse_exactly(text: str) -> Any:
    """The first reading of ``text`` that consumes all of it, else ``_UNPARSED``."""
    # Fast paths for the common scalars; a whole-line Str ends at the last ")".
    if text.startswith("Str(") and text.endswith(")"):
        return text[4:-1]
    if text.startswith("Int(") and _INT_VALUE.fullmatch(text, 4):
        return int(text[4:-1])
    try:
        for value, end in _values(text, 0):
            if end == len(text):
                return value
    except RecursionError:  # absurdly deep nesting: keep the text
        pass
    return _UNPARSED


def _values(text: str, i: int) -> Iterator[tuple[Any, int]]:
    """Every reading of one value starting at ``i``: ``(value, end)``, likeliest first.

    Strings are unquoted, so ``Str(`` may end at any later ``)``; the readings are
    tried shortest first and the caller backtracks when the rest does not fit.
    """
    if text.startswith("Str(", i):
        start = i + 4
        close = text.find(")", start)
        while close != -1:
            yield text[start:close], close + 1
            close = text.find(")", close + 1)
    elif text.startswith("Int(", i):
        if match := _INT_VALUE.match(text, i + 4):
            yield int(match.group()[:-1]), match.end()
    elif text.startswith("Double(", i):
        if match := _DOUBLE_VALUE.match(text, i + 7):
            with contextlib.suppress(ValueError):
                yield float(match.group()[:-1]), match.end()
    elif text.startswith("Bool(true)", i):
        yield True, i + 10
    elif text.startswith("Bool(false)", i):
        yield False, i + 11
    elif text.startswith("Bytes(", i):
        if match := _BYTES_VALUE.match(text, i + 6):
            digits = [d for d in match.group(1).split(", ") if d]
            with contextlib.suppress(ValueError):
                yield bytes(int(d) for d in digits), match.end()
    elif text.startswith("Slice(", i):
        yield from _container(text, i + 6, keyed=False)
    elif text.startswith("Map(", i):
        yield from _container(text, i + 4, keyed=True)
    elif text.startswith("Empty", i):
        yield None, i + 5


def _elements(text: str, i: int, keyed: bool) -> Iterator[tuple[Any, int]]:
    """Every reading of one list element, or one ``key:Value`` map entry, at ``i``."""
    if not keyed:
        yield from _values(text, i)
        return
    colon = text.find(":", i)
    while colon != -1:
        key = text[i:colon]
        for value, end in _values(text, colon + 1):
            yield (key, value), end
        colon = text.find(":", colon + 1)


def _container(text: str, start: int, keyed: bool) -> Iterator[tuple[Any, int]]:
    """Every reading of a ``Slice(...)``/``Map(...)`` body from ``start`` to its ``)``.

    Backtracking over elements uses an explicit stack, so long lists do not
    recurse; only nesting does.
    """
    if text.startswith(")", start):
        yield ({} if keyed else []), start + 1
        return
    items: list[Any] = []
    choices = [_elements(text, start, keyed)]
    while choices:
        found = next(choices[-1], None)
        if found is None:
            choices.pop()
            del items[len(choices) :]
            continue
        item, end = found
        del items[len(choices) - 1 :]
        items.append(item)
        if text.startswith(")", end):
            yield (dict(items) if keyed else list(items)), end + 1
        elif text.startswith(", ", end):
            choices.append(_elements(text, end + 2, keyed))
