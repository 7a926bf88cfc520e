"""The payload of a spool record: one :class:`~fapilog.LogEvent`, lossless.

A payload is three lines of compact JSON (orjson), separated by ``\\n`` (which compact
JSON never contains raw):

1. the resource: ``[attributes, schema_url]``;
2. the instrumentation scope: ``null`` or ``[name, version, schema_url, attributes]``;
3. the event: ``[timestamp, observed_timestamp, trace_id, span_id, trace_flags,
   severity_text, severity_number, body, attributes, event_name]``.

Resource and scope are shared by many events: each distinct object is encoded once and
its bytes reused (and decoded once per distinct line), so they cost no parsing per event.

Values are OTel ``AnyValue``: str, bool, int, float, bytes, lists and string-keyed maps
of them. What JSON cannot carry exactly is *tagged*: a JSON object with exactly one key
that starts with NUL:

* ``{"\\u0000b": base64}``: bytes;
* ``{"\\u0000f": "nan" | "inf" | "-inf"}``: a non-finite float;
* ``{"\\u0000i": "<decimal>"}``: an int outside the 64-bit range;
* ``{"\\u0000s": base64}``: a str holding lone surrogates (UTF-8, ``surrogatepass``);
* ``{"\\u0000t": [...]}``: a tuple (resource and scope attributes keep theirs);
* ``{"\\u0000d": [[key, value], ...]}``: a map whose keys are not plain (a key that
  starts with NUL, holds a lone surrogate or is not a str).

Subclasses of str, int and float are stored as the base type; any other object (not an
``AnyValue``; the processors never produce one) is stored as its ``repr``.
The ``context`` and ``exception`` fields are not stored: they are not exported either
(the exception's ``exception.*`` attributes are).
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog._event import EMPTY_RESOURCE, LogEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["RECORD_ID", "decode_event", "encode_event"]

RECORD_ID = "fapilog.record.id"
"""The attribute each spooled event carries: ``"<writer id>:<sequence number>"``."""

_TAG = "\x00"
_TAG_MARK = b'"\\u0000'  # how orjson writes a string that starts with NUL
_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1
_CACHE_MAX = 256


# -- encoding ---------------------------------------------------------------------------


def _plain(value: Any) -> bool:
    """True when orjson writes ``value`` exactly as it reads it back (nothing to tag).

    Out-of-range ints and strings with lone surrogates pass here: orjson refuses them,
    and :func:`encode_event` then takes the tagged path.
    """
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None:
        return True
    if cls is float:
        return math.isfinite(value)
    if cls is list:
        return all(_plain(v) for v in value)
    if cls is dict:
        return _plain_map(value)
    return False


def _plain_map(mapping: Mapping[Any, Any]) -> bool:
    for key, value in mapping.items():
        if type(key) is not str or key[:1] == _TAG or not _plain(value):
            return False
    return True


def _tagged(value: Any) -> Any:
    """``value`` with everything JSON cannot carry exactly replaced by its tag."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogatepass")
            return {_TAG + "s": base64.b64encode(raw).decode("ascii")}
        return str(value)
    if isinstance(value, int):
        if _I64_MIN <= value <= _U64_MAX:
            return int(value)
        return {_TAG + "i": str(int(value))}
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return {_TAG + "f": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_TAG + "b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list):
        return [_tagged(v) for v in value]
    if isinstance(value, tuple):
        return {_TAG + "t": [_tagged(v) for v in value]}
    if isinstance(value, dict):
        return _tagged_map(value)
    return repr(value)


def _tagged_map(mapping: Mapping[Any, Any]) -> Any:
    plain_keys = True
    for key in mapping:
        if type(key) is not str or key[:1] == _TAG:
            plain_keys = False
            break
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            plain_keys = False
            break
    if plain_keys:
        return {k: _tagged(v) for k, v in mapping.items()}
    return {_TAG + "d": [[_tagged(k), _tagged(v)] for k, v in mapping.items()]}


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def _plain_attrs(mapping: Mapping[Any, Any]) -> bool:
    """:func:`_plain` for every value of ``mapping`` (its keys are checked on output).

    The common values (str, int, bool, a finite float) are tested inline: this runs
    once per spooled event.
    """
    for value in mapping.values():
        cls = type(value)
        if cls is str or cls is int or cls is bool:
            continue
        if cls is float:
            if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
                continue
            return False
        if value is None or _plain(value):
            continue
        return False
    return True


_STR_OR_NONE = (str, type(None))


class _Encoder:
    """Encodes events; remembers the bytes of recent resources and scopes."""

    __slots__ = ("_last", "_resources", "_scopes")

    def __init__(self) -> None:
        # id -> (object, bytes): the object is kept so its id cannot be reused.
        self._resources: dict[int, tuple[Resource, bytes]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope | None, bytes]] = {}
        # The last (resource, scope, first two lines + b"\n"): a batch mostly shares one.
        self._last: tuple[Resource | None, InstrumentationScope | None, bytes] = (
            None,
            None,
            b"",
        )

    def _resource(self, resource: Resource) -> bytes:
        hit = self._resources.get(id(resource))
        if hit is not None and hit[0] is resource:
            return hit[1]
        attrs = dict(resource.attributes)
        data = _dumps([_tagged_map(attrs), _tagged(resource.schema_url)])
        if len(self._resources) >= _CACHE_MAX:
            self._resources.clear()
        self._resources[id(resource)] = (resource, data)
        return data

    def _scope(self, scope: InstrumentationScope | None) -> bytes:
        hit = self._scopes.get(id(scope))
        if hit is not None and hit[0] is scope:
            return hit[1]
        if scope is None:
            data = b"null"
        else:
            attrs = dict(scope.attributes) if scope.attributes else {}
            data = _dumps(
                [
                    _tagged(scope.name),
                    _tagged(scope.version),
                    _tagged(scope.schema_url),
                    _tagged_map(attrs),
                ]
            )
        if len(self._scopes) >= _CACHE_MAX:
            self._scopes.clear()
        self._scopes[id(scope)] = (scope, data)
        return data

    def encode(self, event: LogEvent) -> bytes:
        resource, scope = event.resource, event.instrumentation_scope
        last_resource, last_scope, head = self._last
        if resource is not last_resource or scope is not last_scope:
            head = self._resource(resource) + b"\n" + self._scope(scope) + b"\n"
            self._last = (resource, scope, head)
        body = event.body
        attributes = event.attributes
        data: bytes | None = None
        if (
            _plain(body)
            and _plain_attrs(attributes)
            and type(event.severity_text) in _STR_OR_NONE
            and type(event.event_name) in _STR_OR_NONE
        ):
            trace_id: Any = event.trace_id
            tags = 0
            if type(trace_id) is int and trace_id > _U64_MAX:
                # A 128-bit trace id: tagged as the slow path below would tag it.
                trace_id = {_TAG + "i": str(trace_id)}
                tags = 1
            try:
                data = _dumps(
                    [
                        event.timestamp,
                        event.observed_timestamp,
                        trace_id,
                        event.span_id,
                        event.trace_flags,
                        event.severity_text,
                        event.severity_number,
                        body,
                        attributes,
                        event.event_name,
                    ]
                )
            except TypeError:  # JSONEncodeError: an out-of-range int, a lone surrogate,
                data = None  # a key that is not a str: tag below
            else:
                # Any other tag mark comes from a string that starts with NUL: a map
                # key that would read back as a tag (or a harmless value); tag below.
                if data.count(_TAG_MARK) != tags:
                    data = None
        if data is None:
            data = _dumps(
                [
                    _tagged(event.timestamp),
                    _tagged(event.observed_timestamp),
                    _tagged(event.trace_id),
                    _tagged(event.span_id),
                    _tagged(event.trace_flags),
                    _tagged(event.severity_text),
                    _tagged(event.severity_number),
                    _tagged(body),
                    _tagged_map(attributes),
                    _tagged(event.event_name),
                ]
            )
        return head + data


# -- decoding ---------------------------------------------------------------------------


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        return [_untag(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key[:1] == _TAG:
            return _untag_one(key[1:], inner)
    return {k: _untag(v) for k, v in value.items()}


def _untag_one(kind: str, inner: Any) -> Any:
    if kind == "b":
        return base64.b64decode(inner)
    if kind == "f":
        return float(inner)
    if kind == "i":
        return int(inner)
    if kind == "s":
        return base64.b64decode(inner).decode("utf-8", "surrogatepass")
    if kind == "t":
        return tuple(_untag(v) for v in inner)
    if kind == "d":
        return {_untag(k): _untag(v) for k, v in inner}
    raise ValueError(f"unknown value tag {kind!r} in a spool record")


class _Decoder:
    """Decodes payloads; shares one Resource/scope object per distinct encoded line."""

    __slots__ = ("_resources", "_scopes")

    def __init__(self) -> None:
        self._resources: dict[bytes, Resource] = {}
        self._scopes: dict[bytes, InstrumentationScope | None] = {}

    def _resource(self, line: bytes) -> Resource:
        resource = self._resources.get(line)
        if resource is None:
            attrs, schema_url = _untag(orjson.loads(line))
            resource = (
                EMPTY_RESOURCE
                if not attrs and not schema_url
                else Resource(attrs, schema_url or None)
            )
            if len(self._resources) >= _CACHE_MAX:
                self._resources.clear()
            self._resources[line] = resource
        return resource

    def _scope(self, line: bytes) -> InstrumentationScope | None:
        try:
            return self._scopes[line]
        except KeyError:
            pass
        parsed = orjson.loads(line)
        scope: InstrumentationScope | None = None
        if parsed is not None:
            name, version, schema_url, attrs = _untag(parsed)
            scope = InstrumentationScope(name, version, schema_url or None, attrs or None)
        if len(self._scopes) >= _CACHE_MAX:
            self._scopes.clear()
        self._scopes[line] = scope
        return scope

    def decode(self, payload: bytes) -> LogEvent:
        res_line, scope_line, line = payload.split(b"\n", 2)
        fields = orjson.loads(line)
        if _TAG_MARK in line:
            fields = [_untag(v) for v in fields]
        (ts, observed, trace_id, span_id, flags, sev_text, sev_num, body, attrs, name) = fields
        return LogEvent(
            timestamp=ts,
            observed_timestamp=observed,
            trace_id=trace_id,
            span_id=span_id,
            trace_flags=flags,
            severity_text=sev_text,
            severity_number=sev_num,
            body=body,
            attributes=attrs,
            event_name=name,
            resource=self._resource(res_line),
            instrumentation_scope=self._scope(scope_line),
        )


_default_encoder = _Encoder()
_default_decoder = _Decoder()


def encode_event(event: LogEvent) -> bytes:
    """Encode ``event`` as a spool payload (see the module docstring).

    Args:
        event: the event; not changed.

    Returns:
        The payload bytes (UTF-8 JSON lines; never a 0xFE or 0xFF byte).
    """
    return _default_encoder.encode(event)


def decode_event(payload: bytes) -> LogEvent:
    """Decode a payload made by :func:`encode_event` into an equal :class:`LogEvent`.

    Raises:
        ValueError: ``payload`` is not a spool payload.
    """
    try:
        return _default_decoder.decode(payload)
    except Exception as exc:  # wrong shape: not three lines, wrong arity, wrong types
        raise ValueError(f"not a spool payload: {type(exc).__name__}: {exc}") from None
