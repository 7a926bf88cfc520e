"""Turn a :class:`~fapilog.LogEvent` into a JSON line.

The encoder makes two promises (the console's, in :mod:`fapilog.exporters._pretty`,
are the same):

* **One record, one line.** Nothing from user data (message, attribute keys or
  values, the rendered stack trace) can start a new line or emit a terminal escape
  sequence: control characters are escaped, never passed through.
* **Never raise.** Attributes arrive normalised, yet an encoder runs inside an
  exporter, and an exception there would turn one odd value into a lost batch. Every
  value that cannot be written as is gets a safe stand-in instead.

Exporters run these on the pipeline's worker, holding the GIL, so their cost bounds
throughput: :func:`encode_json_lines` writes a whole batch, byte for byte what
:func:`encode_json_line` writes event by event, in about a third of the time.

JSON shape (keys in this order, ``*`` marks keys that may be absent)::

    {
      "timestamp": "2026-11-23T19:40:00.123456789Z",  # RFC 3339, UTC, nanoseconds
      "severity_text": "INFO",
      "severity_number": 9,
      "logger": "shop.orders",                 # instrumentation scope name, "" if unset
      "body": "order paid",                    # any AnyValue, usually a string
      "attributes": {"order_id": 7},
      "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",   # * 32 hex digits, when non-zero
      "span_id": "00f067aa0ba902b7",                    # * 16 hex digits, when non-zero
      "trace_flags": 1,                                 # * when there is a trace or span id
      "event_name": "order.paid",                       # * when set
      "service.name": "shop",                           # * when the resource has one
      "resource": {"service.name": "shop", ...}         # * only with include_resource
    }

Values: ``bytes`` become base64 strings; NaN and the infinities (which JSON cannot
represent) become the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``; integers
beyond 64 bits become decimal strings; anything else that is not JSON becomes a
short placeholder string (see :mod:`fapilog.exporters._jsonsafe`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog._event import LogEvent
from fapilog.exporters import _timefmt
from fapilog.exporters._jsonsafe import (
    default,
    escape_json_separators,
    json_safe,
    span_hex,
    trace_hex,
    values_need_rewrite,
)
from fapilog.exporters._timefmt import format_rfc3339

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["encode_json_line", "encode_json_lines", "event_to_dict"]

_JSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS

# Batch encoding (encode_json_lines): one orjson call serialises a chunk of records as
# a list, [record, BREAK, record, BREAK, ..., record, BREAK, END]. orjson copies the
# fragments verbatim, so with BREAK = 16 newlines the output is "[r0,<BREAK>,r1,<BREAK>,
# ...,rN,<BREAK>,]", and replacing ",<BREAK>," by one newline leaves "[" + the lines +
# "]". orjson escapes every newline inside strings, so only a Fragment among the
# values could forge a separator; a length check catches that. The separator is long
# because bytes.replace skips ahead by up to its length (3 bytes: 2.5x slower). Chunks
# keep orjson's buffer small: large short-lived buffers are what makes the allocator
# return memory to the OS and fault it in again on the next batch.
_CHUNK_SIZE = 64
_RECORD_BREAK = orjson.Fragment(b"\n" * 16)
_RECORD_END = orjson.Fragment(b"")
_RECORD_SEPARATOR = b"," + b"\n" * 16 + b","
_SEPARATOR_SHRINK = len(_RECORD_SEPARATOR) - 1  # bytes one replacement removes

# Scope and resource are immutable OTel objects, nearly always the same one or few:
# _raw_dict remembers the scope name and the service name of the last one seen. Each
# cache is one tuple, replaced whole, so concurrent exporter threads never see a torn
# entry. (encode_json_lines does the same per chunk, in local variables.)
_UNSET = object()
_scope_cache: tuple[object, str] = (_UNSET, "")
_resource_cache: tuple[object, Any] = (_UNSET, None)


def event_to_dict(event: LogEvent, *, include_resource: bool = False) -> dict[str, Any]:
    """Build the JSON-ready mapping of ``event`` (the shape in this module's docstring).

    Every value in the result can be serialised by any JSON encoder: bytes, non-finite
    floats and other non-JSON values are already converted.

    Args:
        event: the event to convert; it is not modified.
        include_resource: add every resource attribute under ``"resource"``.

    Returns:
        A new dict whose nested containers are new too: changing it never changes
        the event.
    """
    safe: dict[str, Any] = json_safe(_raw_dict(event, include_resource), 0, fix_text=True)
    return safe


def encode_json_line(event: LogEvent, *, include_resource: bool = False) -> bytes:
    """Encode ``event`` as one UTF-8 JSON line ending in ``b"\\n"``.

    The line contains no other line break, not even one that ``str.splitlines()``
    recognises (U+0085, U+2028, U+2029 are written as ``\\u`` escapes), and no raw
    control character. Never raises: an event that cannot be encoded at all becomes a
    line whose body says so.

    Encoding many events? :func:`encode_json_lines` writes the same bytes, faster.

    Args:
        event: the event to encode; it is not modified.
        include_resource: add every resource attribute under ``"resource"``.

    Returns:
        The encoded line.
    """
    try:
        return escape_json_separators(_dump_record(_raw_dict(event, include_resource)))
    except Exception as exc:  # last resort; a broken event must not cost the batch
        return _unencodable_line(event, exc)


def encode_json_lines(events: Iterable[LogEvent], *, include_resource: bool = False) -> bytes:
    """Encode ``events`` as consecutive JSON lines (see :func:`encode_json_line`).

    The result is byte for byte ``b"".join(encode_json_line(e) for e in events)``, at
    a fraction of the cost: one orjson call per chunk of events instead of one per
    event, per-batch work (resource, scope, the current second) done once, and one
    scan per chunk for NaN and line separators. A chunk holding anything out of the
    ordinary (a non-str key, a lone surrogate, a broken event) is encoded event by
    event instead, so the guarantees are exactly those of :func:`encode_json_line`.

    Args:
        events: the events, in order.
        include_resource: add every resource attribute under ``"resource"``.

    Returns:
        The concatenated lines, ``b""`` for no events.
    """
    batch = events if isinstance(events, list) else list(events)
    if len(batch) <= _CHUNK_SIZE:
        return bytes(_encode_chunk(batch, include_resource)) if batch else b""
    return b"".join(
        [
            _encode_chunk(batch[i : i + _CHUNK_SIZE], include_resource)
            for i in range(0, len(batch), _CHUNK_SIZE)
        ]
    )


def _encode_chunk(chunk: list[LogEvent], include_resource: bool) -> bytes | memoryview:
    """Encode a non-empty chunk of events as their lines."""
    try:
        text = _encode_chunk_at_once(chunk, include_resource)
    except Exception:  # anything out of the ordinary (a broken event, a lone surrogate)
        text = None
    if text is None:  # the per-event path knows how to handle it
        return _encode_each(chunk, include_resource)
    return memoryview(text)[1:-1]


def _encode_chunk_at_once(chunk: list[LogEvent], include_resource: bool) -> bytes | None:
    """Encode ``chunk`` with one orjson call (see ``_RECORD_BREAK``): "[" + lines + "]".

    Returns None, or raises, when the chunk needs the per-event path instead.
    """
    items = _chunk_items(chunk, include_resource)
    if items is None:
        return None
    # No OPT_NON_STR_KEYS: it doubles orjson's cost, and a key that is not a str makes
    # orjson raise instead, which sends the chunk down the per-event path.
    out = orjson.dumps(items, default=default)
    text = out.replace(_RECORD_SEPARATOR, b"\n")
    if len(out) - len(text) != _SEPARATOR_SHRINK * len(chunk):  # a value forged one
        return None
    if b"null" in text:
        fixed = _fix_null_records(text, items, len(chunk))
        if fixed is None:
            return None
        text = fixed
    return escape_json_separators(text)


def _encode_each(chunk: list[LogEvent], include_resource: bool) -> bytes:
    return b"".join([encode_json_line(e, include_resource=include_resource) for e in chunk])


def _chunk_items(chunk: list[LogEvent], include_resource: bool) -> list[Any] | None:
    """The list to serialise for ``chunk``: each record (as ``_raw_dict``) then a break.

    This is ``_raw_dict`` unrolled over the chunk, with what is shared between events
    looked up once: the formatted current second, the scope name, and the resource's
    service name (scope and resource are immutable, and usually one object for all).
    None for a chunk holding a LogEvent subclass; any exception (a broken event)
    propagates. Either way the caller then encodes event by event.
    """
    items: list[Any] = []
    append = items.append
    window_start, window_prefix = _timefmt.stamp_window
    last_scope: Any = _UNSET
    last_resource: Any = _UNSET
    last_trace_id: Any = _UNSET
    last_span_id: Any = _UNSET
    trace_text = span_text = ""
    logger = ""
    service_name: Any = None
    resource_dict: dict[str, Any] = {}
    for event in chunk:
        if type(event) is not LogEvent:  # a subclass may override scope_name
            return None
        timestamp = event.timestamp
        offset = timestamp - window_start
        if 0 <= offset < 1_000_000_000 and type(offset) is int:
            stamp = f"{window_prefix}{str(offset).zfill(9)}Z"  # as in format_rfc3339
        else:
            stamp = format_rfc3339(timestamp)  # moves the window to this second
            window_start, window_prefix = _timefmt.stamp_window
        scope = event.instrumentation_scope
        if scope is not last_scope:
            last_scope = scope
            logger = scope.name if scope else ""
        record = {
            "timestamp": stamp,
            "severity_text": event.severity_text,
            "severity_number": event.severity_number,
            "logger": logger,
            "body": event.body,
            "attributes": event.attributes,
        }
        trace_id = event.trace_id
        span_id = event.span_id
        if trace_id or span_id:
            # Events of one span follow each other and share the very id objects.
            if trace_id:
                if trace_id is not last_trace_id:
                    last_trace_id = trace_id
                    trace_text = trace_hex(trace_id)
                record["trace_id"] = trace_text
            if span_id:
                if span_id is not last_span_id:
                    last_span_id = span_id
                    span_text = span_hex(span_id)
                record["span_id"] = span_text
            record["trace_flags"] = event.trace_flags
        if event.event_name is not None:
            record["event_name"] = event.event_name
        resource = event.resource
        if resource is not last_resource:
            last_resource = resource
            resource_attributes = getattr(resource, "attributes", None) or {}
            service_name = resource_attributes.get("service.name")
            if include_resource:
                resource_dict = dict(resource_attributes)
        if service_name is not None:
            record["service.name"] = service_name
        if include_resource:
            record["resource"] = resource_dict
        append(record)
        append(_RECORD_BREAK)
    append(_RECORD_END)
    return items


def _fix_null_records(text: bytes, items: list[Any], count: int) -> bytes | None:
    """Re-encode the records of a chunk's ``text`` whose ``null`` stands for a NaN.

    ``text`` is "[" + ``count`` lines + "]". Only the lines holding a "null" are looked
    at, found by searching ``text`` once. Returns None when its lines are not the
    records (a Fragment value holding a newline).
    """
    lines = text[1:-1].split(b"\n")  # the records, then b"" after the last newline
    if len(lines) != count + 1:
        return None
    found = text.find(b"null")
    index, start = 0, 1  # lines[index] starts at text[start]
    while found >= 0:
        line = lines[index]
        end = start + len(line)
        if found < end:  # in this line
            if _needs_null_fix(line, items[2 * index]):
                lines[index] = orjson.dumps(json_safe(items[2 * index], 0, fix_text=False))
            found = text.find(b"null", end)
        index += 1
        start = end + 1
    return b"[" + b"\n".join(lines) + b"]"


def _raw_dict(event: LogEvent, include_resource: bool) -> dict[str, Any]:
    global _scope_cache, _resource_cache  # the one-entry caches described above
    if type(event) is LogEvent:  # its scope_name is the scope's name, or ""
        scope = event.instrumentation_scope
        cached_scope = _scope_cache
        if scope is cached_scope[0]:
            logger = cached_scope[1]
        else:
            logger = scope.name if scope else ""
            if type(scope) is InstrumentationScope:
                _scope_cache = (scope, logger)
    else:  # a subclass may say otherwise
        logger = event.scope_name
    out: dict[str, Any] = {
        "timestamp": format_rfc3339(event.timestamp),
        "severity_text": event.severity_text,
        "severity_number": event.severity_number,
        "logger": logger,
        "body": event.body,
        "attributes": event.attributes,
    }
    trace_id = event.trace_id
    span_id = event.span_id
    if trace_id or span_id:
        if trace_id:
            out["trace_id"] = trace_hex(trace_id)
        if span_id:
            out["span_id"] = span_hex(span_id)
        out["trace_flags"] = event.trace_flags
    if event.event_name is not None:
        out["event_name"] = event.event_name
    resource = event.resource
    cached_resource = _resource_cache
    if resource is cached_resource[0] and not include_resource:
        service_name = cached_resource[1]
    else:  # always taken with include_resource, which needs resource_attributes below
        resource_attributes = getattr(resource, "attributes", None) or {}
        service_name = resource_attributes.get("service.name")
        if type(resource) is Resource:
            _resource_cache = (resource, service_name)
    if service_name is not None:
        out["service.name"] = service_name
    if include_resource:
        out["resource"] = dict(resource_attributes)
    return out


def _dump_record(raw: dict[str, Any]) -> bytes:
    """Serialise one ``_raw_dict`` as a JSON line, before separator escaping."""
    try:
        # No OPT_NON_STR_KEYS on the first try: it doubles orjson's cost, and without
        # it orjson refuses every key that is not exactly a str, so a line it does
        # write is the one it would have written with the option.
        out = orjson.dumps(raw, default=default, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        try:
            out = orjson.dumps(raw, default=default, option=_JSON_OPTIONS)
        except orjson.JSONEncodeError:  # e.g. lone surrogates, ints beyond 64 bits
            return orjson.dumps(json_safe(raw, 0, fix_text=True), option=_JSON_OPTIONS)
    if b"null" in out and _needs_null_fix(out, raw):
        return orjson.dumps(json_safe(raw, 0, fix_text=False), option=_JSON_OPTIONS)
    return out


def _needs_null_fix(line: bytes, raw: dict[str, Any]) -> bool:
    """Whether ``line``, orjson's encoding of ``raw``, must be redone via ``json_safe``.

    Asked when ``line`` contains ``null``. orjson writes NaN and the infinities as a
    bare null; maybe there is one, maybe a genuine None (or just the word in a string).
    The answer is yes when ``raw`` holds anything ``json_safe`` would change and the
    line holds a null value, which in orjson's compact output follows ":", "[" or ",".
    (The keys of ``raw`` itself are this module's own strings: only its values count.)
    """
    return values_need_rewrite(raw.values(), 1) and (
        b":null" in line or b"[null" in line or b",null" in line
    )


def _unencodable_line(event: LogEvent, exc: Exception) -> bytes:
    fallback = {
        "timestamp": format_rfc3339(getattr(event, "timestamp", 0)),
        "severity_text": "ERROR",
        "severity_number": 17,
        "logger": "fapilog",
        "body": f"<fapilog could not encode an event: {type(exc).__name__}>",
        "attributes": {},
    }
    return orjson.dumps(fallback, option=_JSON_OPTIONS)
