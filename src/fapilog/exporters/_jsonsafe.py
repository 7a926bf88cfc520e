"""JSON-safe values: what orjson cannot write, or writes ambiguously, made plain JSON.

Shared by the JSON-lines encoder (:mod:`fapilog.exporters._jsonl`) and the pretty
console form (:mod:`fapilog.exporters._pretty`). ``bytes`` become base64 strings; NaN
and the infinities the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``;
integers beyond 64 bits decimal strings; lone surrogates visible escapes; anything
else that is not JSON a short placeholder string. Nothing here raises.
"""

from __future__ import annotations

import base64
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "MAX_DEPTH",
    "NAN_STRINGS",
    "default",
    "escape_json_separators",
    "hex_id",
    "json_safe",
    "span_hex",
    "trace_hex",
    "values_need_rewrite",
]

MAX_DEPTH = 32
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
NAN_STRINGS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
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


def values_need_rewrite(values: Iterable[Any], depth: int) -> bool:
    """Whether ``json_safe`` (without ``fix_text``) could change any of ``values``.

    ``values`` are those of a container at ``depth - 1``. False only for what
    ``json_safe`` leaves as it is (or, for a tuple, turns into the list orjson writes
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
            unchanged = depth < MAX_DEPTH and not _container_needs_rewrite(value, depth)
        else:
            unchanged = False
        if not unchanged:
            return True
    return False


def _container_needs_rewrite(container: Any, depth: int) -> bool:
    """``values_need_rewrite`` for an exact dict, list or tuple at ``depth``."""
    if type(container) is not dict:
        return values_need_rewrite(container, depth + 1)
    for key in container:
        if type(key) is not str:
            return True
    return values_need_rewrite(container.values(), depth + 1)


def hex_id(value: int, spec: str) -> str:
    try:
        return format(value, spec)
    except (TypeError, ValueError):  # not an int after all: still write something
        return str(value)


# For an int, "%032x" % value is format(value, "032x") (every int, sign included), at
# 60% of the cost: printf-style formatting skips the format-spec parser.


def trace_hex(trace_id: int) -> str:
    if type(trace_id) is int:
        return "%032x" % trace_id  # noqa: UP031  # faster than format(), see above
    return hex_id(trace_id, "032x")


def span_hex(span_id: int) -> str:
    if type(span_id) is int:
        return "%016x" % span_id  # noqa: UP031  # faster than format(), see above
    return hex_id(span_id, "016x")


def default(value: Any) -> Any:
    """orjson's fallback for types it does not know."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    return _placeholder(value)


def json_safe(value: Any, depth: int, *, fix_text: bool) -> Any:
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
        return value if math.isfinite(value) else NAN_STRINGS[repr(value)]
    if depth >= MAX_DEPTH:
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
                safe[key] = json_safe(item, depth + 1, fix_text=fix_text)
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
                items.append(json_safe(item, depth + 1, fix_text=fix_text))
        return items
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, str):
        return _valid_text(str(value))
    if isinstance(value, int):
        return json_safe(int(value), depth, fix_text=fix_text)
    if isinstance(value, float):
        return json_safe(float(value), depth, fix_text=fix_text)
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


def escape_json_separators(data: bytes) -> bytes:
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
