"""Turn a :class:`~fapilog.LogEvent` into a JSON line or a human-readable console line.

Both encoders share two promises:

* **One record, one line.** Nothing from user data (message, attribute keys or
  values, the rendered stack trace) can start a new line or emit a terminal escape
  sequence: control characters are escaped, never passed through.
* **Never raise.** Attributes arrive normalised, yet an encoder runs inside an
  exporter, and an exception there would turn one odd value into a lost batch. Every
  value that cannot be written as is gets a safe stand-in instead.

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

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fapilog._event import LogEvent

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
_JSON_UNSAFE = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


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

    Args:
        event: the event to encode; it is not modified.
        include_resource: add every resource attribute under ``"resource"``.

    Returns:
        The encoded line.
    """
    try:
        raw = _raw_dict(event, include_resource)
        try:
            out: bytes | None = orjson.dumps(raw, default=_default, option=_JSON_OPTIONS)
        except orjson.JSONEncodeError:  # e.g. lone surrogates, ints beyond 64 bits
            out = None
        if out is None:
            out = orjson.dumps(_json_safe(raw, 0, fix_text=True), option=_JSON_OPTIONS)
        elif b"null" in out and (b":null" in out or b"[null" in out or b",null" in out):
            # orjson writes NaN and the infinities as a bare null, which in its compact
            # output follows ":", "[" or ",". Maybe it is one, maybe a genuine None: only
            # now is walking the values worth it.
            out = orjson.dumps(_json_safe(raw, 0, fix_text=False), option=_JSON_OPTIONS)
        return _escape_json_separators(out)
    except Exception as exc:  # last resort; a broken event must not cost the batch
        return _unencodable_line(event, exc)


def encode_json_lines(events: Iterable[LogEvent], *, include_resource: bool = False) -> bytes:
    """Encode ``events`` as consecutive JSON lines (see :func:`encode_json_line`).

    Args:
        events: the events, in order.
        include_resource: add every resource attribute under ``"resource"``.

    Returns:
        The concatenated lines, ``b""`` for no events.
    """
    return b"".join(encode_json_line(e, include_resource=include_resource) for e in events)


def _raw_dict(event: LogEvent, include_resource: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "timestamp": format_rfc3339(event.timestamp),
        "severity_text": event.severity_text,
        "severity_number": event.severity_number,
        "logger": event.scope_name,
        "body": event.body,
        "attributes": event.attributes,
    }
    if event.trace_id:
        out["trace_id"] = _hex(event.trace_id, "032x")
    if event.span_id:
        out["span_id"] = _hex(event.span_id, "016x")
    if event.trace_id or event.span_id:
        out["trace_flags"] = event.trace_flags
    if event.event_name is not None:
        out["event_name"] = event.event_name
    resource_attributes = getattr(event.resource, "attributes", None) or {}
    service_name = resource_attributes.get("service.name")
    if service_name is not None:
        out["service.name"] = service_name
    if include_resource:
        out["resource"] = dict(resource_attributes)
    return out


def _hex(value: int, spec: str) -> str:
    try:
        return format(value, spec)
    except (TypeError, ValueError):  # not an int after all: still write something
        return str(value)


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
    if isinstance(value, dict):
        return {
            _json_key(k, fix_text): _json_safe(v, depth + 1, fix_text=fix_text)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v, depth + 1, fix_text=fix_text) for v in value]
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


def _escape_json_separators(line: bytes) -> bytes:
    # Fast paths: most lines are ASCII, and most non-ASCII lines hold no C2 80-9F or
    # E2 80 A8/A9 sequence. In UTF-8 these byte sequences can only be the characters
    # themselves, and they can only occur inside JSON strings, where \u escapes are
    # valid JSON.
    if line.isascii():
        return line.replace(b"\x7f", b"\\u007f") if b"\x7f" in line else line
    if b"\x7f" not in line and b"\xc2" not in line and b"\xe2\x80" not in line:
        return line
    return _JSON_UNSAFE.sub(_json_escape_match, line)


def _json_escape_match(match: re.Match[bytes]) -> bytes:
    return f"\\u{ord(match.group().decode('utf-8')):04x}".encode("ascii")


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


def format_rfc3339(timestamp_ns: int) -> str:
    """Format ns since the Unix epoch as ``2026-11-23T19:40:00.123456789Z``.

    Args:
        timestamp_ns: nanoseconds since the Unix epoch.

    Returns:
        The RFC 3339 UTC timestamp with nine fractional digits; the bare number as a
        string when the value is outside what the platform can format.
    """
    try:
        seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
        return f"{_utc_seconds(seconds, '%Y-%m-%dT%H:%M:%S')}.{nanos:09d}Z"
    except (OverflowError, OSError, ValueError, TypeError):
        return str(timestamp_ns)


def _format_console_time(timestamp_ns: int) -> str:
    try:
        seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
        return f"{_utc_seconds(seconds, '%Y-%m-%d %H:%M:%S')}.{nanos // 1_000_000:03d}"
    except (OverflowError, OSError, ValueError, TypeError):
        return str(timestamp_ns)


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

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_KEY = "\x1b[36m"  # cyan
_LOGGER = "\x1b[34m"  # blue
_LEVEL_STYLES = (  # (lowest severity number, style); OTel ranges of four
    (21, "\x1b[1;41;97m"),  # FATAL: bold white on red
    (17, "\x1b[1;31m"),  # ERROR: bold red
    (13, "\x1b[33m"),  # WARN: yellow
    (9, "\x1b[32m"),  # INFO: green
    (5, "\x1b[34m"),  # DEBUG: blue
    (1, "\x1b[2m"),  # TRACE: dim
)
_NEEDS_QUOTES = re.compile(r'[\s"=\\]')
_STACKTRACE_KEY = "exception.stacktrace"


def format_pretty(event: LogEvent, *, colors: bool) -> str:
    """Render ``event`` as one human-readable line, without a trailing newline.

    Layout: ``2026-11-23 19:40:00.123 INFO  shop.orders  order paid  order_id=7
    note="two words" trace_id=… span_id=…`` (the level padded to five columns, two
    spaces between logger, message and the ``key=value`` pairs). The time is UTC with
    milliseconds; attributes keep their order, except that ``exception.stacktrace``
    comes last; values with spaces, quotes, ``=`` or backslashes are double-quoted
    with ``\\"`` and ``\\\\`` escapes; containers are compact JSON. Every control
    character from the event is escaped (see :func:`escape_control`), so the stack
    trace, too, stays on the one line.

    Args:
        event: the event to render; it is not modified.
        colors: add ANSI colours (the level by severity, dim time, cyan keys).

    Returns:
        The line.
    """
    try:
        return _format_pretty(event, colors)
    except Exception as exc:  # never lose the batch over one odd event
        return f"<fapilog could not format an event: {type(exc).__name__}>"


def _format_pretty(event: LogEvent, colors: bool) -> str:
    level = escape_control(event.severity_text or "").ljust(5)
    stamp = _format_console_time(event.timestamp)
    logger = escape_control(event.scope_name)
    body = event.body
    if type(body) is str:
        message = escape_control(body)
    else:
        message = "" if body is None else _pretty_value(body)
    pairs = []
    if event.event_name is not None:
        pairs.append(("event_name", event.event_name))
    stacktrace = None
    for key, value in event.attributes.items():
        if key == _STACKTRACE_KEY:
            stacktrace = value
        else:
            pairs.append((key, value))
    if event.trace_id:
        pairs.append(("trace_id", _hex(event.trace_id, "032x")))
    if event.span_id:
        pairs.append(("span_id", _hex(event.span_id, "016x")))
    if stacktrace is not None:
        pairs.append((_STACKTRACE_KEY, stacktrace))

    if colors:
        style = _level_style(event.severity_number)
        head = f"{_DIM}{stamp}{_RESET} {style}{level}{_RESET}" if style else f"{stamp} {level}"
        parts = [f"{_LOGGER}{logger}{_RESET}"] if logger else []
        if message:
            parts.append(f"{_BOLD}{message}{_RESET}")
        rendered = [f"{_KEY}{_pretty_key(k)}{_RESET}={_pretty_value(v)}" for k, v in pairs]
    else:
        head = f"{stamp} {level}"
        parts = [logger] if logger else []
        if message:
            parts.append(message)
        rendered = [f"{_pretty_key(k)}={_pretty_value(v)}" for k, v in pairs]
    if rendered:
        parts.append(" ".join(rendered))
    # The level is padded to five columns, so one space keeps the columns aligned.
    return f"{head} {'  '.join(parts)}" if parts else head


def _level_style(severity_number: int) -> str:
    for lowest, style in _LEVEL_STYLES:
        if severity_number >= lowest:
            return style
    return ""


def _pretty_key(key: Any) -> str:
    return _quote_if_needed(key if type(key) is str else str(key))


def _pretty_value(value: Any) -> str:
    cls = type(value)
    if cls is str:
        return _quote_if_needed(value)
    if cls is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if cls is int:
        return str(value)
    if cls is float:
        return repr(value) if math.isfinite(value) else _NAN_STRINGS[repr(value)]
    # Containers, bytes and anything unexpected: compact JSON, escaped like the rest.
    safe = _json_safe(value, 0, fix_text=True)
    if type(safe) is str:
        return _quote_if_needed(safe)
    text = orjson.dumps(safe, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    return escape_control(text)


def _quote_if_needed(text: str) -> str:
    if text and text.isprintable() and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + escape_control(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
