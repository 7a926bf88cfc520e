"""A LogEvent flattened to text: what every payload format (RFC 5424, CEF, LEEF) writes."""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from fapilog.plugin import LogEvent, event_to_dict

if TYPE_CHECKING:
    from fapilog_exporter_siem._options import SyslogOptions

__all__ = ["RESOURCE_KEYS", "Flattener", "Record"]

#: Resource attributes written with every record (when the resource has them).
RESOURCE_KEYS = (
    "service.name",
    "service.namespace",
    "service.version",
    "service.instance.id",
    "deployment.environment.name",
    "deployment.environment",
)


@dataclass(slots=True)
class Record:
    """One event as text fields, ready for a payload encoder.

    Attributes:
        timestamp_ns: ns since the Unix epoch.
        severity_number: OTel severity number (0-24).
        severity_text: OTel severity text, ``""`` when unset.
        hostname, app_name, procid: the RFC 5424 header values (unsanitised).
        event_name: the OTel event name, ``""`` when unset.
        logger: the instrumentation scope name.
        body: the message as text (non-string bodies as compact JSON).
        meta: trace ids, logger, severity text, resource attributes, as (key, text).
        attributes: the event's attributes in order, as (key, text).
    """

    timestamp_ns: int
    severity_number: int
    severity_text: str
    hostname: str
    app_name: str
    procid: str
    event_name: str
    logger: str
    body: str
    meta: list[tuple[str, str]] = field(default_factory=list)
    attributes: list[tuple[str, str]] = field(default_factory=list)

    def valid_text(self) -> Record:
        """A copy whose strings are all valid Unicode (lone surrogates as ``\\udXXX``)."""
        return Record(
            self.timestamp_ns,
            self.severity_number,
            _valid(self.severity_text),
            _valid(self.hostname),
            _valid(self.app_name),
            _valid(self.procid),
            _valid(self.event_name),
            _valid(self.logger),
            _valid(self.body),
            [(_valid(k), _valid(v)) for k, v in self.meta],
            [(_valid(k), _valid(v)) for k, v in self.attributes],
        )

    def copy(self) -> Record:
        """A copy whose lists can be changed independently (for shortening)."""
        return Record(
            self.timestamp_ns,
            self.severity_number,
            self.severity_text,
            self.hostname,
            self.app_name,
            self.procid,
            self.event_name,
            self.logger,
            self.body,
            list(self.meta),
            list(self.attributes),
        )


def _valid(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def text_value(value: Any) -> str:
    """Write a JSON-safe value as text: strings as they are, the rest as compact JSON."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


def _simple_text(value: Any) -> str | None:
    """The text of a scalar, the same as :func:`text_value` gives; None for the rest."""
    cls = type(value)
    if cls is str:
        return value  # type: ignore[no-any-return]  # checked by cls
    if cls is int:
        return str(value)
    if cls is bool:
        return "true" if value else "false"
    if cls is float and math.isfinite(value):
        return orjson.dumps(value).decode("ascii")
    if value is None:
        return ""
    return None


_HOSTNAME: list[str] = []


def _local_hostname() -> str:
    if not _HOSTNAME:
        _HOSTNAME.append(socket.gethostname() or "-")
    return _HOSTNAME[0]


class _ResourceInfo:
    """What a record takes from its resource, computed once per resource object."""

    __slots__ = ("app_name", "hostname", "meta", "procid", "resource")

    def __init__(self, resource: Any) -> None:
        self.resource = resource  # keeps it alive, so the identity check is sound
        attributes = getattr(resource, "attributes", None) or {}
        texts = {}
        for key in (*RESOURCE_KEYS, "host.name", "process.pid"):
            if key in attributes:
                value = attributes[key]
                text = _simple_text(value)
                texts[key] = text if text is not None else text_value(_safe(value))
        self.meta = [(key, texts[key]) for key in RESOURCE_KEYS if key in texts]
        self.hostname = texts.get("host.name", "")
        self.app_name = texts.get("service.name", "")
        self.procid = texts.get("process.pid", "")


def _safe(value: Any) -> Any:
    """Make any value JSON-safe the way fapilog's JSON encoder does."""
    probe = LogEvent(timestamp=0, body=value)
    return event_to_dict(probe)["body"]


class Flattener:
    """Turns events into :class:`Record` objects for one exporter's options.

    Scalars are written as they are (numbers and booleans as JSON), containers,
    bytes and other values as compact JSON made safe by fapilog's JSON encoder
    (bytes as base64, NaN as ``"NaN"``...).

    Args:
        options: supplies the configured header values.
    """

    __slots__ = ("_options", "_resource")

    def __init__(self, options: SyslogOptions) -> None:
        self._options = options
        self._resource: _ResourceInfo | None = None

    def _resource_info(self, resource: Any) -> _ResourceInfo:
        info = self._resource
        if info is None or info.resource is not resource:
            info = self._resource = _ResourceInfo(resource)
        return info

    def __call__(self, event: LogEvent) -> Record:
        """Flatten ``event`` (not modified)."""
        body = _simple_text(event.body)
        attributes: list[tuple[str, str]] = []
        for key, value in event.attributes.items():
            text = _simple_text(value)
            if text is None or type(key) is not str:
                break
            attributes.append((key, text))
        else:
            if body is not None:
                return self._record(event, body, attributes)
        # Something beyond plain scalars: let fapilog's JSON encoder make it safe.
        data = event_to_dict(event)
        return self._record(
            event,
            text_value(data["body"]),
            [(str(k), text_value(v)) for k, v in data["attributes"].items()],
        )

    def _record(self, event: LogEvent, body: str, attributes: list[tuple[str, str]]) -> Record:
        opts = self._options
        info = self._resource_info(event.resource)
        meta: list[tuple[str, str]] = []
        trace_id, span_id = event.trace_id, event.span_id
        if trace_id:
            meta.append(("trace_id", _hex(trace_id, "032x")))
        if span_id:
            meta.append(("span_id", _hex(span_id, "016x")))
        if trace_id or span_id:
            meta.append(("trace_flags", _hex(event.trace_flags, "02x")))
        logger = event.scope_name
        if logger:
            meta.append(("logger", logger))
        severity_text = _simple_text(event.severity_text) or ""
        if severity_text:
            meta.append(("severity_text", severity_text))
        meta.extend(info.meta)
        number = event.severity_number
        return Record(
            timestamp_ns=event.timestamp if type(event.timestamp) is int else 0,
            severity_number=number if type(number) is int else 0,
            severity_text=severity_text,
            hostname=opts.hostname or info.hostname or _local_hostname(),
            app_name=opts.app_name or info.app_name,
            procid=opts.procid or info.procid or str(os.getpid()),
            event_name=_simple_text(event.event_name) or "",
            logger=logger,
            body=body,
            meta=meta,
            attributes=attributes,
        )


def _hex(value: Any, spec: str) -> str:
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)
