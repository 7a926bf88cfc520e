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
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fapilog.exporters.otlp._encode import _framed, _Groups, _resource_logs, _scope_logs

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog._event import LogEvent

__all__ = ["WireRequest", "WireSplit", "split_wire"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT64_MASK = 2**64 - 1
_ID128_MASK = 2**128 - 1

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_SMALL = [bytes((i,)) for i in range(128)]

# Field tags (field number << 3 | wire type) of the messages written here.
_LR_TIME = b"\x09"  # LogRecord.time_unix_nano, fixed64
_LR_SEVERITY = b"\x10"  # LogRecord.severity_number, varint
_LR_TEXT = b"\x1a"  # LogRecord.severity_text
_LR_BODY = b"\x2a"  # LogRecord.body, AnyValue
_LR_ATTR = b"\x32"  # LogRecord.attributes, KeyValue
_LR_FLAGS = b"\x45"  # LogRecord.flags, fixed32
_LR_TRACE = b"\x4a\x10"  # LogRecord.trace_id, 16 bytes
_LR_SPAN = b"\x52\x08"  # LogRecord.span_id, 8 bytes
_LR_OBSERVED = b"\x59"  # LogRecord.observed_time_unix_nano, fixed64
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

_KEY_CACHE_MAX = 4096


def _varint(value: int) -> bytes:
    """Unsigned varint of ``0 <= value < 2**64``."""
    if value < 128:
        return _SMALL[value]
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


class _Keys(dict[str, bytes]):
    """``KeyValue.key`` field bytes by key: attribute keys repeat endlessly."""

    def __missing__(self, key: str) -> bytes:
        data = _utf8(key)
        encoded = _KV_KEY + _varint(len(data)) + data if data else b""
        if len(self) >= _KEY_CACHE_MAX:
            self.clear()
        self[key] = encoded
        return encoded


_keys = _Keys()


def _key_values(mapping: Mapping[Any, Any], tag: bytes = _ITEM) -> bytes:
    """Repeated ``KeyValue`` fields (each under ``tag``) for ``mapping``'s items."""
    out = []
    for key, value in mapping.items():
        cls = type(value)
        if type(key) is str:
            if (cls is str and len(value) <= _CACHED_VALUE_LEN) or cls is int:
                cache_key = (tag, key, value, cls)
                field = _fields.get(cache_key)
                if field is None:
                    field = _key_value(_keys[key], value, tag)
                    if len(_fields) >= _FIELD_CACHE_MAX:
                        _fields.clear()
                    _fields[cache_key] = field
                out.append(field)
                continue
            head = _keys[key]
        else:
            data = _utf8(str(key))
            head = _KV_KEY + _varint(len(data)) + data if data else b""
        out.append(_key_value(head, value, tag))
    return b"".join(out)


def _key_value(head: bytes, value: object, tag: bytes) -> bytes:
    """One ``KeyValue`` field under ``tag``: ``head`` is its encoded key (or ``b""``)."""
    encoded = _any(value)
    kv = head + _KV_VALUE + _varint(len(encoded)) + encoded if encoded else head
    return tag + _varint(len(kv)) + kv


# Whole encoded fields of frequent attributes ("method": "GET", "status": 200), by
# (tag, key, value, type): the type keeps 1, True and 1.0 apart.
_fields: dict[tuple[bytes, str, object, type], bytes] = {}
_FIELD_CACHE_MAX = 8192
_CACHED_VALUE_LEN = 64


def _record(event: LogEvent) -> bytes:
    """The serialised ``LogRecord`` for ``event``."""
    parts = []
    ts = event.timestamp
    if ts > 0:
        parts.append(_LR_TIME + _pack_fixed64(ts & _UINT64_MASK))
    severity_key = (event.severity_number, event.severity_text)
    severity = _severities.get(severity_key)
    if severity is None:
        severity = _severity_fields(*severity_key)
    if severity:
        parts.append(severity)
    body = event.body
    if body is not None:
        encoded = _any(body)
        parts.append(_LR_BODY + _varint(len(encoded)) + encoded)
    if event.attributes:
        parts.append(_key_values(event.attributes, _LR_ATTR))
    flags = event.trace_flags & 0xFF
    if flags:
        parts.append(_LR_FLAGS + _pack_fixed32(flags))
    if event.trace_id:
        parts.append(_LR_TRACE + (event.trace_id & _ID128_MASK).to_bytes(16, "big"))
    if event.span_id:
        parts.append(_LR_SPAN + (event.span_id & _UINT64_MASK).to_bytes(8, "big"))
    observed = event.observed_timestamp
    if observed > 0:
        parts.append(_LR_OBSERVED + _pack_fixed64(observed & _UINT64_MASK))
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


class _Chunk:
    """The records of one request under construction, and its exact size."""

    __slots__ = ("records", "size", "tree")

    def __init__(self) -> None:
        # resource index -> [ResourceLogs size, {scope index -> [ScopeLogs size, records]}]
        self.tree: dict[int, list[Any]] = {}
        self.size = 0
        self.records = 0

    def try_add(
        self,
        groups: _Groups[_Group, _Group],
        res: int,
        scope: int,
        record: bytes,
        limit: int | None,
    ) -> bool:
        resource_slot = self.tree.get(res)
        scope_slot = resource_slot[1].get(scope) if resource_slot is not None else None
        record_size = _framed(len(record))
        if scope_slot is None:
            old_scope = None
            new_scope = groups.scope_pbs[scope].size + record_size
        else:
            old_scope = scope_slot[0]
            new_scope = old_scope + record_size
        if resource_slot is None:
            old_resource = None
            new_resource = groups.resource_pbs[res].size + _framed(new_scope)
        else:
            old_resource = resource_slot[0]
            new_resource = old_resource + _framed(new_scope)
            if old_scope is not None:
                new_resource -= _framed(old_scope)
        total = self.size + _framed(new_resource)
        if old_resource is not None:
            total -= _framed(old_resource)
        if limit is not None and total > limit:
            return False
        if resource_slot is None:
            resource_slot = self.tree[res] = [new_resource, {}]
        else:
            resource_slot[0] = new_resource
        if scope_slot is None:
            resource_slot[1][scope] = [new_scope, [record]]
        else:
            scope_slot[0] = new_scope
            scope_slot[1].append(record)
        self.size = total
        self.records += 1
        return True

    def build(self, groups: _Groups[_Group, _Group]) -> WireRequest:
        out: list[bytes] = []
        for res, (resource_size, scopes) in self.tree.items():
            group = groups.resource_pbs[res]
            out += (_ITEM, _varint(resource_size), group.head)
            for scope, (scope_size, records) in scopes.items():
                scope_group = groups.scope_pbs[scope]
                out += (_RL_SCOPE_LOGS, _varint(scope_size), scope_group.head)
                for record in records:
                    out += (_SL_RECORDS, _varint(len(record)), record)
                out.append(scope_group.tail)
            out.append(group.tail)
        return WireRequest(b"".join(out), self.records)


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
    requests: list[WireRequest] = []
    dropped = 0
    chunk = _Chunk()
    last_resource: Any = None
    last_scope: Any = None
    res = scope = 0
    for event in batch:
        if event.resource is not last_resource:
            last_resource = event.resource
            res = groups.resource(last_resource)
        if event.instrumentation_scope is not last_scope or last_scope is None:
            last_scope = event.instrumentation_scope
            scope = groups.scope(last_scope)
        record = _record(event)
        if chunk.try_add(groups, res, scope, record, max_request_bytes):
            continue
        if chunk.records:
            requests.append(chunk.build(groups))
            chunk = _Chunk()
            if chunk.try_add(groups, res, scope, record, max_request_bytes):
                continue
        dropped += 1
    if chunk.records:
        requests.append(chunk.build(groups))
    return WireSplit(requests, dropped)
