"""Turn a :class:`~fapilog.LogEvent` into a JSON line or a human-readable console line.

Both encoders share two promises:

* **One record, one line.** Nothing from user data (message, attribute keys or
  values, the rendered stack trace) can start a new line or emit a terminal escape
  sequence: control characters are escaped, never passed through.
* **Never raise.** Attributes arrive normalised, yet an encoder runs inside an
  exporter, and an exception there would turn one odd value into a lost batch. Every
  value that cannot be written as is gets a safe stand-in instead.

The console's own pretty form, with tracebacks over several lines, is in
:mod:`fapilog.exporters._pretty`; :func:`format_pretty` here is the one-line form.

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
short placeholder string.
"""

from __future__ import annotations

import base64
import functools
import math
import re
import time
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog._event import LogEvent

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "encode_json_line",
    "encode_json_lines",
    "escape_control",
    "event_to_dict",
    "format_pretty",
    "format_rfc3339",
]

# -- JSON -------------------------------------------------------------------------------

_JSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
_MAX_DEPTH = 32
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_NAN_STRINGS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
# Valid in JSON strings but still unsafe for a line-oriented reader or a terminal:
# DEL, the C1 controls (U+0080-U+009F, incl. NEL which str.splitlines() splits on),
# and the Unicode line and paragraph separators. orjson already escapes C0 controls.
# In UTF-8 these are C2 80-9F and E2 80 A8/A9; one pattern per lead byte, because a
# pattern with a literal prefix is scanned several times faster than an alternation.
_JSON_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_JSON_SEPARATORS = re.compile(rb"\xe2\x80[\xa8\xa9]")
_JSON_ESCAPES = {
    chr(cp).encode("utf-8"): f"\\u{cp:04x}".encode("ascii")
    for cp in (*range(0x80, 0xA0), 0x2028, 0x2029)
}

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
    safe: dict[str, Any] = _json_safe(_raw_dict(event, include_resource), 0, fix_text=True)
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
        return _escape_json_separators(_dump_record(_raw_dict(event, include_resource)))
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
    out = orjson.dumps(items, default=_default)
    text = out.replace(_RECORD_SEPARATOR, b"\n")
    if len(out) - len(text) != _SEPARATOR_SHRINK * len(chunk):  # a value forged one
        return None
    if b"null" in text:
        fixed = _fix_null_records(text, items, len(chunk))
        if fixed is None:
            return None
        text = fixed
    return _escape_json_separators(text)


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
    window_start, window_prefix = _stamp_window
    last_scope: Any = _UNSET
    last_resource: Any = _UNSET
    last_trace_id: Any = _UNSET
    last_span_id: Any = _UNSET
    trace_hex = span_hex = ""
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
            window_start, window_prefix = _stamp_window
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
                    trace_hex = _trace_hex(trace_id)
                record["trace_id"] = trace_hex
            if span_id:
                if span_id is not last_span_id:
                    last_span_id = span_id
                    span_hex = _span_hex(span_id)
                record["span_id"] = span_hex
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
                lines[index] = orjson.dumps(_json_safe(items[2 * index], 0, fix_text=False))
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
            out["trace_id"] = _trace_hex(trace_id)
        if span_id:
            out["span_id"] = _span_hex(span_id)
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
        out = orjson.dumps(raw, default=_default, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        try:
            out = orjson.dumps(raw, default=_default, option=_JSON_OPTIONS)
        except orjson.JSONEncodeError:  # e.g. lone surrogates, ints beyond 64 bits
            return orjson.dumps(_json_safe(raw, 0, fix_text=True), option=_JSON_OPTIONS)
    if b"null" in out and _needs_null_fix(out, raw):
        return orjson.dumps(_json_safe(raw, 0, fix_text=False), option=_JSON_OPTIONS)
    return out


def _needs_null_fix(line: bytes, raw: dict[str, Any]) -> bool:
    """Whether ``line``, orjson's encoding of ``raw``, must be redone via ``_json_safe``.

    Asked when ``line`` contains ``null``. orjson writes NaN and the infinities as a
    bare null; maybe there is one, maybe a genuine None (or just the word in a string).
    The answer is yes when ``raw`` holds anything ``_json_safe`` would change and the
    line holds a null value, which in orjson's compact output follows ":", "[" or ",".
    (The keys of ``raw`` itself are this module's own strings: only its values count.)
    """
    return _values_need_rewrite(raw.values(), 1) and (
        b":null" in line or b"[null" in line or b",null" in line
    )


def _values_need_rewrite(values: Iterable[Any], depth: int) -> bool:
    """Whether ``_json_safe`` (without ``fix_text``) could change any of ``values``.

    ``values`` are those of a container at ``depth - 1``. False only for what
    ``_json_safe`` leaves as it is (or, for a tuple, turns into the list orjson writes
    it as anyway): str, bool, None, 64-bit ints, finite floats, and exact dicts with str
    keys, lists and tuples of those, within the depth limit. Walking is far cheaper than
    rebuilding and re-encoding a record that holds a None. Scalars are checked inline,
    not by a call per value: this loop is the hot part.
    """
    for value in values:
        cls = type(value)
        if cls is str or cls is bool or value is None:
            continue
        if cls is int:
            unchanged = _INT64_MIN <= value <= _INT64_MAX
        elif cls is float:
            unchanged = value - value == 0.0  # false for NaN and the infinities only
        elif cls is dict or cls is list or cls is tuple:
            unchanged = depth < _MAX_DEPTH and not _container_needs_rewrite(value, depth)
        else:
            unchanged = False
        if not unchanged:
            return True
    return False


def _container_needs_rewrite(container: Any, depth: int) -> bool:
    """``_values_need_rewrite`` for an exact dict, list or tuple at ``depth``."""
    if type(container) is not dict:
        return _values_need_rewrite(container, depth + 1)
    for key in container:
        if type(key) is not str:
            return True
    return _values_need_rewrite(container.values(), depth + 1)


def _hex(value: int, spec: str) -> str:
    try:
        return format(value, spec)
    except (TypeError, ValueError):  # not an int after all: still write something
        return str(value)


# For an int, "%032x" % value is format(value, "032x") (every int, sign included), at
# 60% of the cost: printf-style formatting skips the format-spec parser.


def _trace_hex(trace_id: int) -> str:
    if type(trace_id) is int:
        return "%032x" % trace_id  # noqa: UP031  # faster than format(), see above
    return _hex(trace_id, "032x")


def _span_hex(span_id: int) -> str:
    if type(span_id) is int:
        return "%016x" % span_id  # noqa: UP031  # faster than format(), see above
    return _hex(span_id, "016x")


def _default(value: Any) -> Any:
    """orjson's fallback for types it does not know."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    return _placeholder(value)


def _json_safe(value: Any, depth: int, *, fix_text: bool) -> Any:
    """Return ``value`` with every non-JSON part converted (a new container when needed).

    ``fix_text`` also repairs strings that are not valid Unicode (lone surrogates),
    which costs an encode per string, so it is only asked for when orjson refused.
    """
    cls = type(value)
    if cls is str:
        return _valid_text(value) if fix_text else value
    if cls is bool or value is None:
        return value
    if cls is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else str(value)
    if cls is float:
        return value if math.isfinite(value) else _NAN_STRINGS[repr(value)]
    if depth >= _MAX_DEPTH:
        return "<too deeply nested>"
    # Containers: an item that is already a plain JSON value (the common case) is
    # taken as it is, tested inline rather than by a call per item; the test is the
    # scalar cases above, in short (x - x == 0.0 holds for every finite float only).
    if isinstance(value, dict):
        safe: dict[str, Any] = {}
        for key, item in value.items():
            if fix_text or type(key) is not str:
                key = _json_key(key, fix_text)
            cls = type(item)
            if (
                (cls is str and not fix_text)
                or cls is bool
                or item is None
                or (cls is int and _INT64_MIN <= item <= _INT64_MAX)
                or (cls is float and item - item == 0.0)
            ):
                safe[key] = item
            else:
                safe[key] = _json_safe(item, depth + 1, fix_text=fix_text)
        return safe
    if isinstance(value, (list, tuple, set, frozenset)):
        items = []
        for item in value:
            cls = type(item)
            if (
                (cls is str and not fix_text)
                or cls is bool
                or item is None
                or (cls is int and _INT64_MIN <= item <= _INT64_MAX)
                or (cls is float and item - item == 0.0)
            ):
                items.append(item)
            else:
                items.append(_json_safe(item, depth + 1, fix_text=fix_text))
        return items
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, str):
        return _valid_text(str(value))
    if isinstance(value, int):
        return _json_safe(int(value), depth, fix_text=fix_text)
    if isinstance(value, float):
        return _json_safe(float(value), depth, fix_text=fix_text)
    return _placeholder(value)


def _json_key(key: Any, fix_text: bool) -> str:
    if type(key) is str:
        return _valid_text(key) if fix_text else key
    return _valid_text(_placeholder(key) if not isinstance(key, (int, float)) else str(key))


def _valid_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them visible as escapes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _placeholder(value: Any) -> str:
    try:
        return _valid_text(repr(value)[:200])
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _escape_json_separators(data: bytes) -> bytes:
    """Write DEL, the C1 controls and U+2028/U+2029 in ``data`` as ``\\u`` escapes.

    ``data`` is orjson output: valid UTF-8 in which these byte sequences can only be
    the characters themselves, inside JSON strings, where ``\\u`` escapes are valid.
    Each check is one C-level scan; ``int in bytes`` is a plain memchr, far cheaper
    than a multi-byte search, so the lead byte is looked for first.
    """
    if data.isascii():  # most lines: only DEL to look for
        return data.replace(b"\x7f", b"\\u007f") if 0x7F in data else data
    if 0x7F in data:
        data = data.replace(b"\x7f", b"\\u007f")
    if 0xC2 in data:  # U+0080-U+00BF, among them the C1 controls
        data = _JSON_C1.sub(_json_escape_match, data)
    if 0xE2 in data:  # U+2000-U+2FFF, among them the line and paragraph separators
        data = _JSON_SEPARATORS.sub(_json_escape_match, data)
    return data


def _json_escape_match(match: re.Match[bytes]) -> bytes:
    return _JSON_ESCAPES[match.group()]


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


# -- timestamps -------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def _utc_seconds(seconds: int, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(seconds))


# The second of the latest timestamp formatted: (its first ns, "YYYY-MM-DDTHH:MM:SS.").
# Events come roughly in time order, so nearly every timestamp falls in it and needs
# only its nine fractional digits formatted. One tuple, replaced whole, so concurrent
# threads never see a start and a prefix that do not belong together.
_stamp_window: tuple[int, str] = (0, "1970-01-01T00:00:00.")


def format_rfc3339(timestamp_ns: int) -> str:
    """Format ns since the Unix epoch as ``2026-11-23T19:40:00.123456789Z``.

    Args:
        timestamp_ns: nanoseconds since the Unix epoch.

    Returns:
        The RFC 3339 UTC timestamp with nine fractional digits; the bare number as a
        string when the value is outside what the platform can format.
    """
    global _stamp_window  # the one-entry cache described above
    if type(timestamp_ns) is int:
        start, prefix = _stamp_window
        offset = timestamp_ns - start
        if 0 <= offset < 1_000_000_000:
            # Twice as fast as f"{offset:09d}", which goes through the format-spec parser.
            return f"{prefix}{str(offset).zfill(9)}Z"
    try:
        seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
        prefix = f"{_utc_seconds(seconds, '%Y-%m-%dT%H:%M:%S')}."
        text = f"{prefix}{nanos:09d}Z"
    except (OverflowError, OSError, ValueError, TypeError):
        return str(timestamp_ns)
    if type(timestamp_ns) is int:
        _stamp_window = (timestamp_ns - nanos, prefix)
    return text


# -- escaping for humans ----------------------------------------------------------------

_NAMED_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
# Line-breaking and invisible reordering characters: the Unicode line and paragraph
# separators, and the bidirectional controls that can make a line read differently
# from what it contains ("Trojan Source").
_UNICODE_UNSAFE: tuple[int, ...] = (
    *(0x061C, 0x200E, 0x200F, 0x2028, 0x2029),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)
_CONTROL_POINTS = (*range(0x20), 0x7F, *range(0x80, 0xA0))
_ESCAPE_TABLE: dict[int, str] = {
    cp: _NAMED_ESCAPES.get(cp, f"\\x{cp:02x}") for cp in _CONTROL_POINTS
} | {cp: f"\\u{cp:04x}" for cp in _UNICODE_UNSAFE}
_ASCII_ESCAPE_TABLE = {cp: esc for cp, esc in _ESCAPE_TABLE.items() if cp < 0x80}
# Lone surrogates (from undecodable bytes) cannot be written to a UTF-8 stream at all.
_UNSAFE_RE = re.compile(
    "[" + "".join(re.escape(chr(cp)) for cp in sorted(_ESCAPE_TABLE)) + "\ud800-\udfff]"
)


def escape_control(text: str) -> str:
    """Escape every character of ``text`` that could break or forge a console line.

    C0 controls (incl. TAB, LF, CR, ESC, NUL), DEL, C1 controls, U+2028/U+2029, the
    bidirectional formatting controls and lone surrogates become visible escapes such
    as ``\\n``, ``\\x1b`` or ``\\u2028``. Other text, non-ASCII letters included, is
    unchanged.

    Args:
        text: any string.

    Returns:
        ``text`` itself when it holds nothing to escape, else the escaped copy.
    """
    if text.isprintable():  # one C-level scan; true for almost every message
        return text
    if text.isascii():  # translate's ASCII path is the fastest there is
        return text.translate(_ASCII_ESCAPE_TABLE)
    return _UNSAFE_RE.sub(_escape_match, text)


def _escape_match(match: re.Match[str]) -> str:
    cp = ord(match.group())
    return _ESCAPE_TABLE.get(cp) or f"\\u{cp:04x}"


# -- pretty console lines ---------------------------------------------------------------


def format_pretty(event: LogEvent, *, colors: bool) -> str:
    """Render ``event`` as one human-readable line (moved to :mod:`._pretty`).

    Kept here for existing callers; see :func:`fapilog.exporters._pretty.format_pretty`.

    Args:
        event: the event to render; it is not modified.
        colors: add ANSI colours.

    Returns:
        The line, without a trailing newline.
    """
    # Imported here: _pretty imports this module's helpers.
    from fapilog.exporters._pretty import format_pretty as one_line

    return one_line(event, colors=colors)
