"""LogEvents → OTLP ``ExportLogsServiceRequest`` protobufs, split to a size limit.

Events are grouped into ``ResourceLogs`` (one per distinct resource) and, inside
those, ``ScopeLogs`` (one per distinct instrumentation scope), in order of first
appearance; records keep their batch order within a scope.

The splitter measures every record with the protobuf's own ``ByteSize()`` and adds
the exact framing (field tag and varint length) of each enclosing message, so a
request it builds is never larger than the limit, without serialising anything
twice.

Encoding never raises for odd values: the event model promises normalised
attributes, but an exception here would lose a whole batch, so anything that does
not fit OTLP's ``AnyValue`` gets a stand-in (an out-of-range int or an unknown
type becomes its ``str()``, a string that is not valid UTF-8 gets ``U+FFFD``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourcePb

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from google.protobuf.internal.containers import (  # type: ignore[import-untyped]  # no stubs
        RepeatedCompositeFieldContainer,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope

    from fapilog._event import LogEvent

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "EncodedRequest", "SplitResult", "encode", "split"]

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""4 MiB: the default maximum message size of gRPC servers, the OpenTelemetry
Collector's OTLP receiver included."""

_R = TypeVar("_R")
_S = TypeVar("_S")

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT64_MASK = 2**64 - 1
_ID128_MASK = 2**128 - 1


@dataclass(frozen=True, slots=True)
class EncodedRequest:
    """One request of a split batch.

    Attributes:
        request: the protobuf, ready to send.
        records: how many log records it carries.
        size: its serialised size in bytes (``request.ByteSize()``).
    """

    request: ExportLogsServiceRequest
    records: int
    size: int


@dataclass(frozen=True, slots=True)
class SplitResult:
    """A batch split into requests that each fit the size limit.

    Attributes:
        requests: the requests, in batch order.
        dropped: records left out because a request holding only that record
            (with its resource and scope) would exceed the limit on its own.
    """

    requests: list[EncodedRequest]
    dropped: int


# -- values ------------------------------------------------------------------------


def _set_string(target: Any, field: str, value: str) -> None:
    try:
        setattr(target, field, value)
    except UnicodeEncodeError:  # lone surrogates cannot be encoded as UTF-8
        setattr(target, field, value.encode("utf-8", "replace").decode("utf-8"))


def _fill(target: AnyValue, value: object) -> None:
    """Write ``value`` into the empty ``target``; ``None`` leaves it empty (no value)."""
    # Most common first; bool before int because bool is an int.
    if isinstance(value, str):
        _set_string(target, "string_value", value)
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            target.int_value = value
        else:
            target.string_value = str(value)
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        target.bytes_value = bytes(value)
    elif isinstance(value, Mapping):
        kvlist = target.kvlist_value
        kvlist.SetInParent()  # an empty map is still a map, not "no value"
        _fill_attributes(kvlist.values, value.items())
    elif isinstance(value, (list, tuple)):
        array = target.array_value
        array.SetInParent()
        add = array.values.add
        for item in value:
            _fill(add(), item)
    elif value is not None:
        _set_string(target, "string_value", str(value))


def _fill_attributes(
    target: RepeatedCompositeFieldContainer[KeyValue], items: Iterable[tuple[object, object]]
) -> None:
    add = target.add
    for key, value in items:
        kv = add()
        # Inlined fast paths for str keys and str, int and float values: the same
        # result as _set_string/_fill, which handle everything else.
        if type(key) is str:
            try:
                kv.key = key
            except UnicodeEncodeError:
                _set_string(kv, "key", key)
        else:
            _set_string(kv, "key", str(key))
        if type(value) is str:
            try:
                kv.value.string_value = value
            except UnicodeEncodeError:
                _set_string(kv.value, "string_value", value)
        elif type(value) is int and _INT64_MIN <= value <= _INT64_MAX:  # not bool
            kv.value.int_value = value
        elif type(value) is float:
            kv.value.double_value = value
        else:
            _fill(kv.value, value)


def _log_record(event: LogEvent) -> LogRecord:
    record = LogRecord(
        time_unix_nano=event.timestamp & _UINT64_MASK if event.timestamp > 0 else 0,
        observed_time_unix_nano=(
            event.observed_timestamp & _UINT64_MASK if event.observed_timestamp > 0 else 0
        ),
        severity_number=event.severity_number,  # type: ignore[arg-type]  # an int is a valid open enum value
        flags=event.trace_flags & 0xFF,
    )
    text = event.severity_text
    if text:
        try:
            record.severity_text = text
        except UnicodeEncodeError:
            _set_string(record, "severity_text", text)
    body = event.body
    if type(body) is str:
        try:
            record.body.string_value = body
        except UnicodeEncodeError:
            _set_string(record.body, "string_value", body)
    elif body is not None:
        _fill(record.body, body)
    if event.attributes:
        _fill_attributes(record.attributes, event.attributes.items())
    if event.trace_id:
        record.trace_id = (event.trace_id & _ID128_MASK).to_bytes(16, "big")
    if event.span_id:
        record.span_id = (event.span_id & _UINT64_MASK).to_bytes(8, "big")
    if event.event_name:
        _set_string(record, "event_name", event.event_name)
    return record


def _resource_logs(resource: Resource) -> ResourceLogs:
    """An empty ``ResourceLogs`` carrying ``resource``."""
    message = ResourceLogs(resource=ResourcePb())
    _fill_attributes(message.resource.attributes, resource.attributes.items())
    if resource.schema_url:
        _set_string(message, "schema_url", resource.schema_url)
    return message


def _scope_logs(scope: SdkScope | None) -> ScopeLogs:
    """An empty ``ScopeLogs`` carrying ``scope``."""
    message = ScopeLogs(scope=InstrumentationScope())
    if scope is None:
        return message
    _set_string(message.scope, "name", scope.name)
    if scope.version:
        _set_string(message.scope, "version", scope.version)
    if scope.attributes:
        _fill_attributes(message.scope.attributes, scope.attributes.items())
    if scope.schema_url:
        _set_string(message, "schema_url", scope.schema_url)
    return message


# -- grouping ----------------------------------------------------------------------


def _same_scope(a: SdkScope | None, b: SdkScope | None) -> bool:
    """Whether two scopes encode to the same ``InstrumentationScope``.

    An unset version or schema URL is encoded as the empty string, so a scope with
    ``version=None`` and one with ``version=""`` share one ``ScopeLogs``.
    """
    if a is None or b is None:
        return False
    return (
        a.name == b.name
        and (a.version or "") == (b.version or "")
        and (a.schema_url or "") == (b.schema_url or "")
        and dict(a.attributes or {}) == dict(b.attributes or {})
    )


class _Groups(Generic[_R, _S]):
    """Distinct resources and scopes of one batch, each encoded once.

    Lookups go by object identity first (events of one logger share the objects), and
    fall back to equality so equal objects share one ``ResourceLogs``/``ScopeLogs``.
    ``make_resource``/``make_scope`` encode a new one (the wire encoder shares this).
    """

    def __init__(
        self,
        make_resource: Callable[[Resource], _R],
        make_scope: Callable[[SdkScope | None], _S],
    ) -> None:
        self.resources: list[Resource] = []
        self.resource_pbs: list[_R] = []
        self.scopes: list[SdkScope | None] = []
        self.scope_pbs: list[_S] = []
        self._make_resource = make_resource
        self._make_scope = make_scope
        self._resource_ids: dict[int, int] = {}
        self._scope_ids: dict[int, int] = {}

    def resource(self, resource: Resource) -> int:
        index = self._resource_ids.get(id(resource))
        if index is None:
            for i, known in enumerate(self.resources):
                if known is resource or known == resource:
                    index = i
                    break
            else:
                index = len(self.resources)
                self.resources.append(resource)
                self.resource_pbs.append(self._make_resource(resource))
            self._resource_ids[id(resource)] = index
        return index

    def scope(self, scope: SdkScope | None) -> int:
        index = self._scope_ids.get(id(scope))
        if index is None:
            for i, known in enumerate(self.scopes):
                if known is scope or _same_scope(known, scope):
                    index = i
                    break
            else:
                index = len(self.scopes)
                self.scopes.append(scope)
                self.scope_pbs.append(self._make_scope(scope))
            self._scope_ids[id(scope)] = index
        return index


def _framed(size: int) -> int:
    """Bytes a sub-message of ``size`` takes inside its parent (tag < 16, so 1 byte)."""
    return 1 + ((size.bit_length() + 6) // 7 or 1) + size  # tag, varint length (>= 1 byte), body


class _ScopeSlot:
    __slots__ = ("records", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.records: list[LogRecord] = []


class _ResourceSlot:
    __slots__ = ("scopes", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.scopes: dict[int, _ScopeSlot] = {}


class _Chunk:
    """Records of one request under construction, with its exact serialised size."""

    __slots__ = ("records", "size", "tree")

    def __init__(self) -> None:
        self.tree: dict[int, _ResourceSlot] = {}
        self.size = 0
        self.records = 0

    def try_add(
        self,
        res: int,
        scope: int,
        record: LogRecord,
        record_size: int,
        empty_sizes: tuple[int, int],
        limit: int | None,
    ) -> bool:
        """Add ``record`` unless the request would then exceed ``limit`` bytes.

        Args:
            res: resource group index.
            scope: scope group index.
            record: the encoded record.
            record_size: ``record.ByteSize()``.
            empty_sizes: sizes of the group's ResourceLogs and ScopeLogs without records.
            limit: the size limit, ``None`` for none.

        Returns:
            Whether the record was added.
        """
        resource_slot = self.tree.get(res)
        scope_slot = resource_slot.scopes.get(scope) if resource_slot else None
        old_scope = scope_slot.size if scope_slot else None
        new_scope = (empty_sizes[1] if old_scope is None else old_scope) + _framed(record_size)
        old_resource = resource_slot.size if resource_slot else None
        new_resource = (
            (empty_sizes[0] if old_resource is None else old_resource)
            - (0 if old_scope is None else _framed(old_scope))
            + _framed(new_scope)
        )
        total = (
            self.size
            - (0 if old_resource is None else _framed(old_resource))
            + _framed(new_resource)
        )
        if limit is not None and total > limit:
            return False
        if resource_slot is None:
            resource_slot = self.tree[res] = _ResourceSlot(new_resource)
        if scope_slot is None:
            scope_slot = resource_slot.scopes[scope] = _ScopeSlot(new_scope)
        resource_slot.size = new_resource
        scope_slot.size = new_scope
        scope_slot.records.append(record)
        self.size = total
        self.records += 1
        return True

    def build(self, groups: _Groups[ResourceLogs, ScopeLogs]) -> EncodedRequest:
        request = ExportLogsServiceRequest()
        for res, resource_slot in self.tree.items():
            resource_logs = request.resource_logs.add()
            resource_logs.CopyFrom(groups.resource_pbs[res])
            for scope, scope_slot in resource_slot.scopes.items():
                scope_logs = resource_logs.scope_logs.add()
                scope_logs.CopyFrom(groups.scope_pbs[scope])
                scope_logs.log_records.extend(scope_slot.records)
        return EncodedRequest(request, self.records, self.size)


# -- public ------------------------------------------------------------------------


def encode(batch: Sequence[LogEvent]) -> ExportLogsServiceRequest:
    """Encode ``batch`` as one request, whatever its size.

    Args:
        batch: events in emission order.

    Returns:
        The request, records grouped by resource, then by instrumentation scope.
    """
    result = split(batch, max_request_bytes=None)
    if not result.requests:
        return ExportLogsServiceRequest()
    return result.requests[0].request


def split(batch: Sequence[LogEvent], max_request_bytes: int | None) -> SplitResult:
    """Encode ``batch`` as requests of at most ``max_request_bytes`` serialised bytes each.

    Records are taken in batch order and packed greedily, so the requests, read one
    after another, hold the records in batch order.

    Args:
        batch: events in emission order.
        max_request_bytes: size limit of one serialised request; ``None`` for no limit
            (one request).

    Returns:
        The requests and the number of records dropped because even a request holding
        only that record would exceed the limit.
    """
    groups = _Groups(_resource_logs, _scope_logs)
    empty: dict[tuple[int, int], tuple[int, int]] = {}
    requests: list[EncodedRequest] = []
    dropped = 0
    chunk = _Chunk()
    for event in batch:
        res = groups.resource(event.resource)
        scope = groups.scope(event.instrumentation_scope)
        empty_sizes = empty.get((res, scope))
        if empty_sizes is None:
            empty_sizes = (groups.resource_pbs[res].ByteSize(), groups.scope_pbs[scope].ByteSize())
            empty[res, scope] = empty_sizes
        record = _log_record(event)
        record_size = record.ByteSize()
        if chunk.try_add(res, scope, record, record_size, empty_sizes, max_request_bytes):
            continue
        if chunk.records:
            requests.append(chunk.build(groups))
            chunk = _Chunk()
            if chunk.try_add(res, scope, record, record_size, empty_sizes, max_request_bytes):
                continue
        dropped += 1
    if chunk.records:
        requests.append(chunk.build(groups))
    return SplitResult(requests, dropped)
