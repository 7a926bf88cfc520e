"""LogEvent → HEC payloads: event-endpoint envelopes, raw-endpoint lines, request splitting.

Event envelope (``/services/collector/event``), keys in this order, ``*`` = optional::

    {
      "time": 1795635600.123456,          # seconds since the epoch, microseconds
      "host": "web-1",                    # * option, else resource host.name
      "source": "shop", "sourcetype": "_json", "index": "main",   # * options
      "event": {...},                     # fapilog's JSON-lines shape of the record
      "fields": {"severity": "INFO", "trace_id": "...", "span_id": "...",
                 "service.name": "shop", ...}   # indexed fields, string values
    }

Raw endpoint (``/services/collector/raw``): one JSON line per record, the same shape
as ``event`` above; metadata travels as query parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from fapilog.plugin import encode_json_line, event_to_dict

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog.plugin import LogEvent
    from fapilog_exporter_splunk._options import SplunkHECOptions

__all__ = [
    "Request",
    "SplitResult",
    "encode_envelope",
    "encode_raw_line",
    "format_hec_time",
    "indexed_fields",
    "resource_host",
    "split_requests",
]

_NS = 1_000_000_000


def format_hec_time(timestamp_ns: int) -> str:
    """Format ns since the epoch as HEC's ``time``: seconds with six decimals.

    Written as text rather than through a float, so no digit is lost to rounding.
    A timestamp that is not a non-negative int falls back to the current time.

    Args:
        timestamp_ns: nanoseconds since the Unix epoch.

    Returns:
        For example ``"1795635600.123456"``.
    """
    if type(timestamp_ns) is not int or timestamp_ns < 0:
        timestamp_ns = time.time_ns()
    seconds, nanos = divmod(timestamp_ns, _NS)
    return f"{seconds}.{nanos // 1000:06d}"


def _field_value(value: Any) -> str | list[str]:
    """Indexed-field values must be strings (or arrays of them): HEC code 15 otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, str) else _scalar_text(v) for v in value]
    return _scalar_text(value)


def _scalar_text(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)[:200]


def indexed_fields(data: dict[str, Any], extra_keys: Sequence[str]) -> dict[str, Any]:
    """The ``fields`` of an envelope, from the record's JSON dict.

    Args:
        data: the record as :func:`fapilog.plugin.event_to_dict` built it.
        extra_keys: attribute keys to index as well, when present.

    Returns:
        ``severity``, ``trace_id``, ``span_id``, ``service.name`` (each when set) and
        the requested attributes, every value a string or a list of strings.
    """
    fields: dict[str, Any] = {}
    severity = data.get("severity_text")
    if severity:
        fields["severity"] = severity
    for key in ("trace_id", "span_id", "service.name"):
        value = data.get(key)
        if value is not None and value != "":
            fields[key] = _field_value(value)
    attributes = data.get("attributes") or {}
    for key in extra_keys:
        if key in attributes and attributes[key] is not None:
            fields[key] = _field_value(attributes[key])
    return fields


def _record_dict(event: LogEvent, include_resource: bool) -> dict[str, Any]:
    try:
        return event_to_dict(event, include_resource=include_resource)
    except Exception as exc:  # one odd event must not cost the batch
        return {
            "severity_text": "ERROR",
            "severity_number": 17,
            "logger": "fapilog",
            "body": f"<fapilog could not encode an event: {type(exc).__name__}>",
            "attributes": {},
        }


def encode_envelope(event: LogEvent, options: SplunkHECOptions) -> bytes:
    """Encode ``event`` as one HEC event envelope (JSON object, no trailing newline).

    The ``event`` member is the record's JSON line as the core encoder writes it (its
    fast path, and its guarantees: valid JSON whatever the values). Never raises: an
    event that cannot be converted becomes an envelope whose event body says so.

    Args:
        event: the record; not modified.
        options: supplies host, source, sourcetype, index and the indexed attributes.

    Returns:
        The UTF-8 JSON bytes.
    """
    stamp = format_hec_time(getattr(event, "timestamp", -1)).encode("ascii")
    line = encode_json_line(event, include_resource=options.include_resource).rstrip(b"\n")
    meta = _metadata(event, options)
    try:
        fields = _event_fields(event, options.indexed_attributes)
        head = orjson.dumps(meta, option=orjson.OPT_NON_STR_KEYS) if meta else b"{}"
        tail = orjson.dumps(fields, option=orjson.OPT_NON_STR_KEYS) if fields else b""
    except Exception:  # e.g. lone surrogates: take the JSON-safe slow path
        data = _record_dict(event, options.include_resource)
        fields = indexed_fields(data, options.indexed_attributes)
        head = orjson.dumps({k: _valid(v) for k, v in meta.items()}) if meta else b"{}"
        tail = orjson.dumps(fields) if fields else b""
    out = b'{"time":' + stamp + b","
    if len(head) > 2:
        out += head[1:-1] + b","
    out += b'"event":' + line
    if tail:
        out += b',"fields":' + tail
    return out + b"}"


def _metadata(event: LogEvent, options: SplunkHECOptions) -> dict[str, str]:
    meta: dict[str, str] = {}
    host = options.host or resource_host(event)
    if host:
        meta["host"] = host
    if options.source:
        meta["source"] = options.source
    if options.sourcetype:
        meta["sourcetype"] = options.sourcetype
    if options.index:
        meta["index"] = options.index
    return meta


def _event_fields(event: LogEvent, extra_keys: Sequence[str]) -> dict[str, Any]:
    """Like :func:`indexed_fields`, straight from the event (the common, fast case)."""
    fields: dict[str, Any] = {}
    if event.severity_text:
        fields["severity"] = event.severity_text
    if event.trace_id:
        fields["trace_id"] = format(event.trace_id, "032x")
    if event.span_id:
        fields["span_id"] = format(event.span_id, "016x")
    resource = getattr(event.resource, "attributes", None) or {}
    service = resource.get("service.name")
    if service is not None and service != "":
        fields["service.name"] = _field_value(service)
    attributes = event.attributes
    for key in extra_keys:
        value = attributes.get(key)
        if value is not None:
            fields[key] = _field_value(value)
    return fields


def _valid(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def encode_raw_line(event: LogEvent, options: SplunkHECOptions) -> bytes:
    """Encode ``event`` as one line for the raw endpoint (JSON, no trailing newline).

    Args:
        event: the record; not modified.
        options: supplies ``include_resource``.

    Returns:
        The line, guaranteed free of line breaks.
    """
    return encode_json_line(event, include_resource=options.include_resource).rstrip(b"\n")


def resource_host(event: LogEvent) -> str | None:
    """The ``host.name`` resource attribute of ``event``, when it is a non-empty string."""
    attributes = getattr(getattr(event, "resource", None), "attributes", None) or {}
    host = attributes.get("host.name")
    return host if isinstance(host, str) and host else None


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request body and how many records it carries."""

    payload: bytes
    records: int


@dataclass(frozen=True, slots=True)
class SplitResult:
    """Requests in batch order, and the records too big to send at all."""

    requests: list[Request]
    dropped: int


def split_requests(items: Sequence[bytes], max_bytes: int) -> SplitResult:
    """Pack encoded records greedily, in order, into newline-separated request bodies.

    Args:
        items: one encoded record each, without trailing newline.
        max_bytes: largest body, separators included.

    Returns:
        The requests (no body exceeds ``max_bytes``) and the number of records dropped
        because each alone is larger than ``max_bytes``.
    """
    requests: list[Request] = []
    dropped = 0
    current: list[bytes] = []
    size = 0
    for item in items:
        length = len(item)
        if length > max_bytes:
            dropped += 1
            continue
        if current and size + 1 + length > max_bytes:
            requests.append(Request(b"\n".join(current), len(current)))
            current, size = [], 0
        size += length + (1 if current else 0)
        current.append(item)
    if current:
        requests.append(Request(b"\n".join(current), len(current)))
    return SplitResult(requests, dropped)
