"""LogEvents → serialised OTLP ``ExportLogsServiceRequest`` bytes, written directly.

This is the exporter's encoder. It writes the protobuf wire format of
``opentelemetry/proto/collector/logs/v1`` itself instead of building
``opentelemetry-proto`` message objects and serialising them: the benchmark
(``benchmarks/otlp_throughput.py``, see ``docs/performance-otlp.md``) showed building
those objects from Python to be the largest single cost of exporting. The message
classes are still the reference: :mod:`fapilog.exporters.otlp._encode` builds the same
requests with them, and ``tests/exporters/test_otlp_wire.py`` checks, over
property-based inputs, that ``opentelemetry-proto`` parses these bytes into exactly
the request the reference builds.

Same rules as the reference encoder: records are grouped into ``ResourceLogs`` →
``ScopeLogs`` in order of first appearance, each request stays within the byte limit
(sizes are exact, they are the lengths of the bytes), a record too big for any request
is dropped and counted, and no value makes encoding raise.

It runs on the pipeline's worker thread, holding the GIL, so its cost per record
limits throughput. The hot path is therefore written for CPython's interpreter: one
list of byte strings per record, joined once; fixed-layout fields packed by one
``struct`` call or taken from small precomputed tables; whole encoded fields of
frequent attributes cached; and no per-record size bookkeeping of the enclosing
messages: a record is checked against a bound worked out when the resource or scope
changes, and the exact request size is computed only near the limit (see
:class:`_Chunk`).
"""

from __future__ import annotations

import importlib
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from fapilog.exporters.otlp._encode import _framed, _Groups, _resource_logs, _scope_logs

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from fapilog._event import LogEvent

__all__ = ["WireRequest", "WireSplit", "split_wire"]

# The common record in C (src/fapilog/_wirerec.c): the bytes of _record(event), or
# None for an event outside its fast path. Only the compiled build has it (loaded by
# fapilog._native's finder); the pure path runs _record alone.
# By name: a compiled-only extension has no source module (for tools that read imports).
_c_record: Callable[[LogEvent], bytes | None] | None
try:
    _c_record = importlib.import_module("fapilog.exporters.otlp._wirerec").encode_record
except ImportError:
    _c_record = None

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT64_MASK = 2**64 - 1
_ID128_MASK = 2**128 - 1

_pack_double = struct.Struct("<d").pack
_pack_fixed32 = struct.Struct("<I").pack
_pack_tagged_fixed64 = struct.Struct("<BQ").pack  # a one-byte field tag, then a fixed64
_pack_6_bytes = struct.Struct("6B").pack
_SMALL = [bytes((i,)) for i in range(128)]  # one-byte varints
_CONTINUED = [bytes((i | 0x80,)) for i in range(128)]  # a varint's non-final bytes

# Field tags (field number << 3 | wire type) of the messages written here.
_LR_TIME = 0x09  # LogRecord.time_unix_nano, fixed64 (an int: for _pack_tagged_fixed64)
_LR_SEVERITY = b"\x10"  # LogRecord.severity_number, varint
_LR_TEXT = b"\x1a"  # LogRecord.severity_text
_LR_BODY = b"\x2a"  # LogRecord.body, AnyValue
_LR_ATTR = b"\x32"  # LogRecord.attributes, KeyValue
_LR_FLAGS = b"\x45"  # LogRecord.flags, fixed32
_LR_TRACE = b"\x4a\x10"  # LogRecord.trace_id, 16 bytes
_LR_SPAN = b"\x52\x08"  # LogRecord.span_id, 8 bytes
_LR_OBSERVED = 0x59  # LogRecord.observed_time_unix_nano, fixed64 (an int, as _LR_TIME)
_LR_EVENT = b"\x62"  # LogRecord.event_name
_AV_STRING = b"\x0a"
_AV_TRUE = b"\x10\x01"
_AV_FALSE = b"\x10\x00"
_AV_INT = b"\x18"
_AV_DOUBLE = b"\x21"
_AV_ARRAY = b"\x2a"
_AV_KVLIST = b"\x32"
_AV_BYTES = b"\x3a"
_KV_KEY = b"\x0a"
_KV_VALUE = b"\x12"
_ITEM = b"\x0a"  # ArrayValue.values / KeyValueList.values / request.resource_logs
_RL_SCOPE_LOGS = b"\x12"  # ResourceLogs.scope_logs
_SL_RECORDS = b"\x12"  # ScopeLogs.log_records

# LogRecord.flags fields by flags byte (b"" for 0, which is not written).
_FLAGS = [b""] + [_LR_FLAGS + _pack_fixed32(flags) for flags in range(1, 256)]

# Head of a string body of n < 126 UTF-8 bytes: LogRecord.body tag, AnyValue length
# (n + 2, one byte), AnyValue.string_value tag, n. Longer: _string_value_head.
_SHORT_BODY_HEADS = [bytes((0x2A, n + 2, 0x0A, n)) for n in range(126)]


def _varint(value: int) -> bytes:
    """Unsigned varint of ``0 <= value < 2**64``."""
    if value < 128:
        return _SMALL[value]
    if value < 16384:  # two bytes: concatenating table entries beats the loop below
        return _CONTINUED[value & 0x7F] + _SMALL[value >> 7]
    out = bytearray()
    while value > 127:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:  # lone surrogates
        return text.encode("utf-8", "replace")


def _string_any(text: str) -> bytes:
    data = _utf8(text)
    return _AV_STRING + _varint(len(data)) + data


def _any(value: object) -> bytes:
    """The ``AnyValue`` message body for ``value``; ``b""`` (no value) for ``None``."""
    cls = type(value)
    if cls is str:
        return _string_any(value)  # type: ignore[arg-type]  # checked by cls
    if cls is int and _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]  # checked by cls
        return _AV_INT + _varint(value & _UINT64_MASK)  # type: ignore[operator]  # checked by cls
    if cls is float:
        return _AV_DOUBLE + _pack_double(value)
    # The same order as the reference encoder: subclasses, bool before int.
    if isinstance(value, str):
        return _string_any(value)
    if isinstance(value, bool):
        return _AV_TRUE if value else _AV_FALSE
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return _AV_INT + _varint(value & _UINT64_MASK)
        return _string_any(str(value))
    if isinstance(value, float):
        return _AV_DOUBLE + _pack_double(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return _AV_BYTES + _varint(len(data)) + data
    if isinstance(value, Mapping):
        body = _key_values(value)
        return _AV_KVLIST + _varint(len(body)) + body
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            encoded = _any(item)
            items.append(_ITEM + _varint(len(encoded)) + encoded)
        body = b"".join(items)
        return _AV_ARRAY + _varint(len(body)) + body
    if value is None:
        return b""
    return _string_any(str(value))


_KEY_CACHE_MAX = 4096  # entries of each _Memo
_K = TypeVar("_K", str, int)


class _Memo(dict[_K, bytes]):
    """``encode(key)`` by key, computed on a miss and kept (cleared when full).

    For encoded pieces that depend on one thing that repeats endlessly: an attribute
    key, a record's length. A hit is a plain dict lookup.
    """

    __slots__ = ("_encode",)

    def __init__(self, encode: Callable[[_K], bytes]) -> None:
        super().__init__()
        self._encode: Callable[[_K], bytes] = encode

    def __missing__(self, key: _K) -> bytes:
        encoded = self._encode(key)
        if len(self) >= _KEY_CACHE_MAX:
            self.clear()
        self[key] = encoded
        return encoded


def _key_field(key: str) -> bytes:
    """The ``KeyValue.key`` field of ``key`` (nothing for ``""``)."""
    data = _utf8(key)
    return _KV_KEY + _varint(len(data)) + data if data else b""


def _double_head(key: str) -> bytes:
    """All of a record's ``key: <float>`` attribute field but the 8 bytes of the double.

    A double's ``AnyValue`` always takes 9 bytes (tag, fixed64), so everything in
    front of the value depends on the key alone: ``LogRecord.attributes`` tag,
    ``KeyValue`` length, the key field, ``KeyValue.value`` tag and length (9) and
    ``AnyValue.double_value`` tag.
    """
    head = _keys[key]
    return _LR_ATTR + _varint(len(head) + 11) + head + b"\x12\x09" + _AV_DOUBLE


_keys: _Memo[str] = _Memo(_key_field)  # attribute keys repeat endlessly
_double_heads: _Memo[str] = _Memo(_double_head)

# Whole encoded fields of frequent attributes ("method": "GET", "status": 200), by
# (key, value), one dict per field tag: record attributes and nested KeyValueLists.
# Only keys of type str with values of type int, or of type str and at most
# _CACHED_VALUE_LEN characters, are looked up or stored (exact types: the callers
# check), so (key, value) is unambiguous: a str never equals an int, and True or 1.0
# (both == 1) never get here.
_FieldCache = dict[tuple[str, int | str], bytes]
_attribute_fields: _FieldCache = {}
_item_fields: _FieldCache = {}
_FIELD_CACHE_MAX = 8192
_CACHED_VALUE_LEN = 64
#: Attributes whose values are unique per record (the spool's record id): caching them
#: would only evict the values that do repeat.
_UNCACHED_KEYS = frozenset({"fapilog.record.id"})


def _new_field(cache: _FieldCache, key: str, value: int | str, tag: bytes) -> bytes:
    """Encode and cache the ``key: value`` field missing from ``cache`` (``type(value)``
    exactly int, or str of at most ``_CACHED_VALUE_LEN`` characters)."""
    field = _key_value(_keys[key], value, tag)
    if len(cache) >= _FIELD_CACHE_MAX:
        cache.clear()
    cache[key, value] = field
    return field


def _string_field(head: bytes, value: str, tag: bytes) -> bytes:
    """``_key_value(head, value, tag)`` for a string ``value``, with less copying."""
    try:
        data = value.encode()
    except UnicodeEncodeError:  # lone surrogates
        data = value.encode("utf-8", "replace")
    value_head = _string_value_head(0x12, len(data))  # KeyValue.value tag to string length
    return b"".join((tag, _varint(len(head) + len(value_head) + len(data)), head, value_head, data))


def _other_key(key: object) -> bytes:
    """``KeyValue.key`` field bytes of a key that is not a ``str``: its ``str()``."""
    data = _utf8(str(key))
    return _KV_KEY + _varint(len(data)) + data if data else b""


def _key_values(mapping: Mapping[Any, Any], tag: bytes = _ITEM) -> bytes:
    """Repeated ``KeyValue`` fields (each under ``tag``) for ``mapping``'s items.

    :func:`_record` has its own copy of this loop for the record's attributes.
    """
    cache = _attribute_fields if tag is _LR_ATTR else _item_fields
    out = []
    for key, value in mapping.items():
        if type(key) is not str:
            out.append(_key_value(_other_key(key), value, tag))
            continue
        cls = type(value)
        if (cls is str and len(value) <= _CACHED_VALUE_LEN) or cls is int:
            field = cache.get((key, value))
            if field is None:
                field = _new_field(cache, key, value, tag)
            out.append(field)
        else:
            out.append(_key_value(_keys[key], value, tag))
    return b"".join(out)


def _key_value(head: bytes, value: object, tag: bytes) -> bytes:
    """One ``KeyValue`` field under ``tag``: ``head`` is its encoded key (or ``b""``)."""
    encoded = _any(value)
    kv = head + _KV_VALUE + _varint(len(encoded)) + encoded if encoded else head
    return tag + _varint(len(kv)) + kv


def _string_value_head(tag: int, size: int) -> bytes:
    """Field ``tag``, length and string tag and length of an ``AnyValue`` holding a
    string of ``size`` UTF-8 bytes: all but the string itself."""
    value_size = size + 3
    if size >= 128 and value_size < 16384:  # two-byte lengths: one struct call
        return _pack_6_bytes(
            tag, value_size & 0x7F | 0x80, value_size >> 7, 0x0A, size & 0x7F | 0x80, size >> 7
        )
    length = _varint(size)
    return _SMALL[tag] + _varint(1 + len(length) + size) + _AV_STRING + length


def _record(event: LogEvent) -> bytes:
    """The serialised ``LogRecord`` for ``event``.

    Fields in field-number order, as protobuf serialises them. Empty byte strings in
    ``parts`` are harmless (the join drops them), which saves a test here and there.
    """
    ts = event.timestamp
    observed = event.observed_timestamp
    try:  # masking to 64 bits only when it is needed (rarely) saves time
        time = _pack_tagged_fixed64(_LR_TIME, ts) if ts > 0 else b""
        observed_time = _pack_tagged_fixed64(_LR_OBSERVED, observed) if observed > 0 else b""
    except struct.error:  # 2**64 or more: wrapped, as the reference does
        # A value that wraps to 0 (2**64 itself) is the default: not written at all,
        # as protobuf leaves out a zero fixed64.
        ts = ts & _UINT64_MASK if ts > 0 else 0
        observed = observed & _UINT64_MASK if observed > 0 else 0
        time = _pack_tagged_fixed64(_LR_TIME, ts) if ts else b""
        observed_time = _pack_tagged_fixed64(_LR_OBSERVED, observed) if observed else b""
    severity = _severities.get((event.severity_number, event.severity_text))
    if severity is None:
        severity = _severity_fields(event.severity_number, event.severity_text)
    body = event.body
    if type(body) is str:
        try:
            data = body.encode()
        except UnicodeEncodeError:  # lone surrogates
            data = body.encode("utf-8", "replace")
        size = len(data)
        parts = [
            time,
            severity,
            _SHORT_BODY_HEADS[size] if size < 126 else _string_value_head(0x2A, size),
            data,
        ]
    elif body is None:
        parts = [time, severity]
    else:
        encoded = _any(body)
        parts = [time, severity, _LR_BODY + _varint(len(encoded)) + encoded]
    # Keys typed Any: a processor may put any key in (compiled, dict[str, Any] would
    # refuse the record instead of writing the key's str()).
    attributes: dict[Any, Any] = event.attributes
    if attributes:
        # _key_values(attributes, _LR_ATTR), inlined, with fast paths for floats and
        # long strings.
        for key, value in attributes.items():
            if type(key) is not str:
                parts.append(_key_value(_other_key(key), value, _LR_ATTR))
                continue
            cls = type(value)
            if cls is str:
                if len(value) > _CACHED_VALUE_LEN or key in _UNCACHED_KEYS:
                    parts.append(_string_field(_keys[key], value, _LR_ATTR))
                    continue
            elif cls is float:
                parts.append(_double_heads[key])
                parts.append(_pack_double(value))
                continue
            elif cls is not int:
                parts.append(_key_value(_keys[key], value, _LR_ATTR))
                continue
            field = _attribute_fields.get((key, value))
            if field is None:
                field = _new_field(_attribute_fields, key, value, _LR_ATTR)
            parts.append(field)
    if event.trace_flags:
        parts.append(_FLAGS[event.trace_flags & 0xFF])
    if event.trace_id:
        parts.append(_LR_TRACE)
        parts.append((event.trace_id & _ID128_MASK).to_bytes(16, "big"))
    if event.span_id:
        parts.append(_LR_SPAN)
        parts.append((event.span_id & _UINT64_MASK).to_bytes(8, "big"))
    parts.append(observed_time)
    if event.event_name:
        data = _utf8(event.event_name)
        parts.append(_LR_EVENT + _varint(len(data)) + data)
    return b"".join(parts)


_severities: dict[tuple[int, str | None], bytes] = {}


def _severity_fields(number: int, text: str | None) -> bytes:
    """``severity_number`` and ``severity_text`` fields, cached per distinct pair."""
    out = _LR_SEVERITY + _varint(number & _UINT64_MASK) if number else b""
    if text:
        data = _utf8(text)
        out += _LR_TEXT + _varint(len(data)) + data
    if len(_severities) < 256:
        _severities[number, text] = out
    return out


def _record_head(size: int) -> bytes:
    """``ScopeLogs.log_records`` tag and length varint of a record of ``size`` bytes.

    Memoised: records fall in a narrow range of lengths, and a lookup costs a third
    of writing a two-byte varint.
    """
    return _SL_RECORDS + _varint(size)


_record_heads: _Memo[int] = _Memo(_record_head)


def _split_tail(message: Any) -> tuple[bytes, bytes]:
    """A message's bytes before and after its ``schema_url`` (field 3, serialised last)."""
    schema_url = message.schema_url
    if not schema_url:
        return message.SerializeToString(), b""
    head = type(message)()
    head.CopyFrom(message)
    head.ClearField("schema_url")
    data = _utf8(schema_url)
    return head.SerializeToString(), b"\x1a" + _varint(len(data)) + data


class _Group:
    """Encoded head and tail of one ``ResourceLogs`` or ``ScopeLogs``, minus children."""

    __slots__ = ("head", "size", "tail")

    def __init__(self, head: bytes, tail: bytes) -> None:
        self.head = head
        self.tail = tail
        self.size = len(head) + len(tail)


def _groups() -> _Groups[_Group, _Group]:
    return _Groups(
        lambda resource: _Group(*_split_tail(_resource_logs(resource))),
        lambda scope: _Group(*_split_tail(_scope_logs(scope))),
    )


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One serialised request of a split batch.

    Attributes:
        payload: the serialised ``ExportLogsServiceRequest``.
        records: how many log records it carries.
    """

    payload: bytes
    records: int

    @property
    def size(self) -> int:
        """Serialised size in bytes."""
        return len(self.payload)


@dataclass(frozen=True, slots=True)
class WireSplit:
    """A batch as serialised requests that each fit the size limit.

    Attributes:
        requests: the requests, in batch order.
        dropped: records left out because even alone (with their resource and scope)
            they exceed the limit.
    """

    requests: list[WireRequest]
    dropped: int


_UNLIMITED = sys.maxsize  # room when there is no size limit


class _ScopeSlot:
    """One ``ScopeLogs`` of a request under construction."""

    __slots__ = ("pieces", "size")

    def __init__(self) -> None:
        self.pieces: list[bytes] = []  # framed records: head, record, head, record, ...
        self.size = 0  # their bytes (as of the last switch away from this slot)


class _Chunk:
    """The records of one request under construction.

    Records go to one *open* ``ScopeLogs`` at a time (:meth:`switch` opens another):
    :func:`split_wire` appends framed records to its list itself and counts their
    bytes (``used``) against the ``room`` that :meth:`switch` returned, so a record
    costs no size bookkeeping here, and a change of resource or scope little.

    ``room`` errs on the safe side, cheaply: it counts the length varint of every
    ``ResourceLogs`` and ``ScopeLogs`` at as many bytes as the limit's own varint
    takes, which none takes in a request within the limit (no length is more than the
    request size). So records within ``room`` surely fit. Past it, :meth:`fits`
    computes the exact size; that happens only in the last few bytes before the limit
    (at most ``lengths`` times the varint size of the limit), about once a request.
    """

    __slots__ = (
        "_length_bytes",
        "_open",
        "_open_res",
        "_open_scope",
        "filled",
        "fixed",
        "groups",
        "lengths",
        "limit",
        "tree",
    )

    def __init__(self, groups: _Groups[_Group, _Group], limit: int | None) -> None:
        self.groups = groups
        self.limit = limit
        # resource group -> scope group -> slot, in order of first record
        self.tree: dict[int, dict[int, _ScopeSlot]] = {}
        self.fixed = 0  # bytes of all but records and lengths: tags, resources, scopes
        self.lengths = 0  # how many ResourceLogs and ScopeLogs lengths there are
        self.filled = 0  # bytes of framed records (as of the last switch)
        self._length_bytes = len(_varint(max(limit or 0, 0)))  # the most a length takes
        self._open: _ScopeSlot | None = None
        self._open_res = self._open_scope = 0  # groups of the open slot

    def switch(self, used: int, res: int, scope: int) -> tuple[list[bytes], int]:
        """Close the open slot and open the ``ScopeLogs`` of groups ``res``/``scope``.

        Args:
            used: bytes of framed records added to the open slot since it was opened.
            res: resource group of the slot to open.
            scope: scope group of the slot to open.

        Returns:
            The list to append its framed records to (record head, then record), and
            the room: records of at most that many bytes surely fit (more may; ask
            :meth:`fits`).
        """
        self._close(used)
        scopes = self.tree.get(res)
        if scopes is None:
            scopes = self.tree[res] = {}
            self.fixed += 1 + self.groups.resource_pbs[res].size  # 1: the field tag
            self.lengths += 1
        slot = scopes.get(scope)
        if slot is None:
            slot = scopes[scope] = _ScopeSlot()
            self.fixed += 1 + self.groups.scope_pbs[scope].size
            self.lengths += 1
        self._open, self._open_res, self._open_scope = slot, res, scope
        if self.limit is None:
            return slot.pieces, _UNLIMITED
        unknown = self.lengths * self._length_bytes
        return slot.pieces, self.limit - self.fixed - unknown - self.filled

    def _close(self, used: int) -> None:
        slot = self._open
        if slot is None:
            return
        self._open = None
        slot.size += used
        self.filled += used
        if slot.pieces:
            return
        # Nothing was added: no empty ScopeLogs (nor ResourceLogs). Gone, it takes its
        # place in the order from its first record, should one come.
        scopes = self.tree[self._open_res]
        del scopes[self._open_scope]
        self.fixed -= 1 + self.groups.scope_pbs[self._open_scope].size
        self.lengths -= 1
        if not scopes:
            del self.tree[self._open_res]
            self.fixed -= 1 + self.groups.resource_pbs[self._open_res].size
            self.lengths -= 1

    def fits(self, used: int) -> bool:
        """Whether the request, with ``used`` bytes of framed records added to the open
        slot since it was opened, is within the limit (exactly)."""
        if self.limit is None:
            return True
        resource_sizes, _ = self._sizes(used)
        return sum(_framed(size) for size in resource_sizes) <= self.limit

    def _sizes(self, used: int) -> tuple[list[int], list[int]]:
        """Exact sizes of the ``ResourceLogs`` and of the ``ScopeLogs``, in order, with
        ``used`` more bytes of records in the open slot."""
        groups = self.groups
        resource_sizes = []
        scope_sizes = []
        for res, slots in self.tree.items():
            resource_size = groups.resource_pbs[res].size
            for scope, slot in slots.items():
                size = groups.scope_pbs[scope].size + slot.size
                if slot is self._open:
                    size += used
                scope_sizes.append(size)
                resource_size += _framed(size)
            resource_sizes.append(resource_size)
        return resource_sizes, scope_sizes

    def finish(self, used: int) -> WireRequest:
        """The request, ``used`` bytes of framed records having been added to the open
        slot since it was opened."""
        self._close(used)
        groups = self.groups
        resource_sizes, scope_sizes = self._sizes(0)
        scope_size = iter(scope_sizes)
        out: list[bytes] = []
        records = 0
        for (res, slots), resource_size in zip(self.tree.items(), resource_sizes, strict=True):
            group = groups.resource_pbs[res]
            out += (_ITEM, _varint(resource_size), group.head)
            for scope, slot in slots.items():
                scope_group = groups.scope_pbs[scope]
                out += (_RL_SCOPE_LOGS, _varint(next(scope_size)), scope_group.head)
                out += slot.pieces
                out.append(scope_group.tail)
                records += len(slot.pieces) // 2
            out.append(group.tail)
        return WireRequest(b"".join(out), records)


_NOTHING: Any = object()  # no resource or scope seen yet


def split_wire(batch: Sequence[LogEvent], max_request_bytes: int | None) -> WireSplit:
    """Encode ``batch`` as serialised requests of at most ``max_request_bytes`` each.

    Records are packed greedily in batch order, so the requests, read one after
    another, hold the records in batch order.

    Args:
        batch: events in emission order.
        max_request_bytes: size limit of one serialised request; ``None`` for none.

    Returns:
        The requests and the number of records dropped for being too big on their own.
    """
    groups = _groups()
    heads = _record_heads
    c_record = _c_record
    requests: list[WireRequest] = []
    dropped = 0
    chunk = _Chunk(groups, max_request_bytes)
    last_resource = last_scope = _NOTHING
    res = scope = 0  # groups of the open slot
    pieces: list[bytes] = []  # the open slot's framed records
    room = used = 0  # bytes of framed records that surely fit in the open slot, added to it
    for event in batch:
        if event.resource is not last_resource or event.instrumentation_scope is not last_scope:
            last_resource = event.resource
            last_scope = event.instrumentation_scope
            res = groups.resource(last_resource)
            scope = groups.scope(last_scope)
            pieces, room = chunk.switch(used, res, scope)
            used = 0
        record = c_record(event) if c_record is not None else None
        if record is None:
            record = _record(event)
        size = len(record)
        head = heads[size]
        framed = len(head) + size
        used += framed
        if used <= room or chunk.fits(used):
            pieces.append(head)
            pieces.append(record)
            continue
        used -= framed
        if used or chunk.filled:  # full: send what it holds, retry in a new request
            requests.append(chunk.finish(used))
            chunk = _Chunk(groups, max_request_bytes)
            pieces, room = chunk.switch(0, res, scope)
            used = framed
            if used <= room or chunk.fits(used):
                pieces.append(head)
                pieces.append(record)
                continue
            used = 0
        dropped += 1
    if used or chunk.filled:
        requests.append(chunk.finish(used))
    return WireSplit(requests, dropped)
