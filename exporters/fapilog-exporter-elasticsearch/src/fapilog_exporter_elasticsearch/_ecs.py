"""LogEvent → Elastic Common Schema (ECS) document.

The document, keys in this order (``*``: only when the event has it)::

    {
      "@timestamp": "2026-11-23T19:40:00.123456789Z",  # RFC 3339, UTC, nanoseconds
      "message": "order paid",                 # * body; non-string bodies as JSON text
      "log": {"level": "INFO", "logger": "shop.orders"},              # * each
      "event": {"severity": 9, "action": "order.paid",                # * each
                "created": "…", "dataset": "generic"},
      "data_stream": {"type": "logs", "dataset": "generic", "namespace": "default"},
      "service": {"name": "shop", "version": "1.2", "node": {"name": "…"},
                  "environment": "prod"},                              # * from the resource
      "host": {"name": "web-1", "id": "…", "architecture": "amd64", "ip": […],
               "os": {"name": "…", "version": "…", "full": "…"}},      # * from the resource
      "process": {"pid": 42, "executable": "…", "command_line": "…"}, # * from the resource
      "trace": {"id": "4bf9…"}, "span": {"id": "00f0…"},               # * when non-zero
      "error": {"type": "ValueError", "message": "…", "stack_trace": "…"},  # * exception.*
      "attributes": {"order_id": 7, "http.route": "/pay"},            # * the rest, keys as is
      "resource": {"attributes": {"telemetry.sdk.name": "opentelemetry", …}},  # * unmapped
      "ecs": {"version": "8.11.0"}
    }

Why arbitrary attributes go under one ``attributes`` object instead of the document
root or ECS ``labels``: at the root, an attribute named ``host`` or ``message`` would
collide with an ECS field of another type and get the whole document rejected; ECS
``labels`` holds only flat keyword values, so numbers, booleans and nested values would
lose their type. Under ``attributes`` nothing collides with ECS, types survive, and the
mapping growth is confined to one object that an index template can map as
``flattened`` or ``passthrough`` (see ``docs/exporters/elasticsearch.md``).
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

import orjson

from fapilog.plugin import event_to_dict, format_rfc3339

if TYPE_CHECKING:
    from fapilog import LogEvent

__all__ = ["ECS_VERSION", "encode_document", "encode_event", "to_ecs"]

ECS_VERSION = "8.11.0"

_OPTIONS = orjson.OPT_NON_STR_KEYS
# What the fast path may have written differently from the converting one: orjson
# writes NaN and the infinities as a bare null (which in compact output follows ":",
# "[" or ","), and integers up to 2**64 - 1 as numbers, where the converting path
# writes those beyond 64-bit signed range as strings (Elasticsearch's long). A match
# (also one inside a string) only means taking the slower, converting path.
_SUSPECT = re.compile(rb"[:\[,]null|\d{19}")

# OTel semantic-convention resource attribute → (ECS path, accepted JSON type).
_RESOURCE_MAP: dict[str, tuple[tuple[str, ...], type | tuple[type, ...]]] = {
    "service.name": (("service", "name"), str),
    "service.version": (("service", "version"), str),
    "service.instance.id": (("service", "node", "name"), str),
    "deployment.environment.name": (("service", "environment"), str),
    "deployment.environment": (("service", "environment"), str),
    "host.name": (("host", "name"), str),
    "host.id": (("host", "id"), str),
    "host.arch": (("host", "architecture"), str),
    "host.ip": (("host", "ip"), (str, list, tuple)),
    "os.name": (("host", "os", "name"), str),
    "os.version": (("host", "os", "version"), str),
    "os.description": (("host", "os", "full"), str),
    "process.pid": (("process", "pid"), int),
    "process.executable.path": (("process", "executable"), str),
    "process.command_line": (("process", "command_line"), str),
}
_ERROR_MAP = {
    "exception.type": "type",
    "exception.message": "message",
    "exception.stacktrace": "stack_trace",
}


def to_ecs(event: LogEvent, data_stream: tuple[str, str, str] | None) -> dict[str, Any]:
    """Build the ECS document of ``event`` (the shape in this module's docstring).

    Every value is JSON-ready (bytes as base64, NaN as ``"NaN"``, huge integers as
    strings, see :func:`fapilog.plugin.event_to_dict`).

    Args:
        event: the event; not modified.
        data_stream: ``(type, dataset, namespace)`` of the target data stream, or
            ``None`` when writing to a plain index.

    Returns:
        A new dict.
    """
    return _assemble(event_to_dict(event, include_resource=True), event, data_stream)


def encode_event(event: LogEvent, data_stream: tuple[str, str, str] | None) -> bytes:
    """Serialise the ECS document of ``event`` as one compact JSON line, no newline.

    The fast path hands the event's own values to orjson; only when that fails or may
    have written a NaN as ``null`` is the document rebuilt with :func:`to_ecs`, which
    converts every value first. Both give the same JSON for ordinary values.

    Args:
        event: the event; not modified.
        data_stream: as for :func:`to_ecs`.

    Returns:
        UTF-8 JSON; JSON escapes every control character, so the line never breaks.
    """
    try:
        doc = _assemble(_raw(event), event, data_stream)
        out: bytes | None = orjson.dumps(doc, default=_default, option=_OPTIONS)
    except Exception:  # lone surrogates, ints beyond 64 bits, odd types: the safe path
        out = None
    if out is None or _SUSPECT.search(out):
        out = orjson.dumps(to_ecs(event, data_stream), option=_OPTIONS)
    return out


def _raw(event: LogEvent) -> dict[str, Any]:
    """The fields :func:`_assemble` reads, as the event holds them (not JSON-safe)."""
    body = event.body
    if isinstance(body, (bytes, bytearray, memoryview)):
        body = _default(body)  # a base64 string, as the converting path makes it
    raw: dict[str, Any] = {
        "timestamp": format_rfc3339(event.timestamp),
        "severity_text": event.severity_text,
        "severity_number": event.severity_number,
        "logger": event.scope_name,
        "body": body,
        "attributes": dict(event.attributes),  # _assemble pops the exception.* keys
    }
    if event.trace_id:
        raw["trace_id"] = format(event.trace_id, "032x")
    if event.span_id:
        raw["span_id"] = format(event.span_id, "016x")
    if event.event_name is not None:
        raw["event_name"] = event.event_name
    raw["resource"] = getattr(event.resource, "attributes", None) or {}
    return raw


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError  # anything else: let the safe path decide


def _assemble(
    raw: dict[str, Any], event: LogEvent, data_stream: tuple[str, str, str] | None
) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": raw["timestamp"]}
    body = raw["body"]
    if isinstance(body, str):
        doc["message"] = body
    elif body is not None:
        doc["message"] = orjson.dumps(body, default=_default, option=_OPTIONS).decode()

    log: dict[str, Any] = {}
    if raw["severity_text"]:
        log["level"] = raw["severity_text"]
    if raw["logger"]:
        log["logger"] = raw["logger"]
    if log:
        doc["log"] = log

    ecs_event: dict[str, Any] = {}
    if raw["severity_number"]:
        ecs_event["severity"] = raw["severity_number"]
    if raw.get("event_name"):
        ecs_event["action"] = raw["event_name"]
    if event.observed_timestamp != event.timestamp:
        ecs_event["created"] = format_rfc3339(event.observed_timestamp)
    if data_stream is not None:
        kind, dataset, namespace = data_stream
        ecs_event["dataset"] = dataset
    if ecs_event:
        doc["event"] = ecs_event
    if data_stream is not None:
        doc["data_stream"] = {"type": kind, "dataset": dataset, "namespace": namespace}

    leftover = _map_resource(raw.get("resource") or {}, doc)
    if "trace_id" in raw:
        doc["trace"] = {"id": raw["trace_id"]}
    if "span_id" in raw:
        doc["span"] = {"id": raw["span_id"]}

    attributes: dict[str, Any] = raw["attributes"]
    error = {
        field: attributes.pop(key)
        for key, field in _ERROR_MAP.items()
        if isinstance(attributes.get(key), str)
    }
    if error:
        doc["error"] = error
    if attributes:
        doc["attributes"] = attributes
    if leftover:
        doc["resource"] = {"attributes": leftover}
    doc["ecs"] = {"version": ECS_VERSION}
    return doc


def _map_resource(resource: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """Move the ECS-known resource attributes into ``doc``; return the others."""
    leftover: dict[str, Any] = {}
    for key, value in resource.items():
        target = _RESOURCE_MAP.get(key)
        if target is None or not isinstance(value, target[1]) or isinstance(value, bool):
            leftover[key] = value
            continue
        path = target[0]
        node = doc
        for part in path[:-1]:
            node = node.setdefault(part, {})
        # deployment.environment.name (current) wins over the deprecated spelling.
        if path[-1] not in node or key == "deployment.environment.name":
            node[path[-1]] = value
    return leftover


def encode_document(doc: dict[str, Any]) -> bytes:
    """Serialise a JSON-ready document (from :func:`to_ecs`) as one compact line.

    Args:
        doc: the document.

    Returns:
        UTF-8 JSON without a trailing newline.
    """
    return orjson.dumps(doc, option=_OPTIONS)
