"""LogEvent: the OTel LogRecord mirror and its lossless SDK conversions."""

from __future__ import annotations

import importlib.metadata

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import LogEvent

_scalar = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=10),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3),
    ),
    max_leaves=8,
)


def _event(**overrides: object) -> LogEvent:
    fields: dict[str, object] = {
        "timestamp": 1_700_000_000_123_456_789,
        "observed_timestamp": 1_700_000_000_223_456_789,
        "trace_id": 0x0AF7651916CD43DD8448EB211C80319C,
        "span_id": 0xB7AD6B7169203331,
        "trace_flags": 1,
        "severity_text": "WARN",
        "severity_number": 13,
        "body": "disk almost full",
        "attributes": {"free_mb": 12, "mount": "/", "tags": ["a", "b"], "m": {"k": 1.5}},
        "event_name": "disk.pressure",
        "resource": Resource({"service.name": "svc", "host.name": "h1"}),
        "instrumentation_scope": InstrumentationScope("app.disk", "1.2"),
    }
    fields.update(overrides)
    return LogEvent(**fields)  # type: ignore[arg-type]


def test_readwrite_round_trip_keeps_every_field() -> None:
    """LogEvent -> ReadWriteLogRecord -> LogEvent returns an equal event."""
    event = _event()
    assert LogEvent.from_sdk(event.to_readwrite()) == event


def test_readable_round_trip_keeps_every_field() -> None:
    """LogEvent -> ReadableLogRecord -> LogEvent returns an equal event."""
    event = _event()
    back = LogEvent.from_sdk(event.to_readable())
    assert back == event
    for name in LogEvent.__slots__:
        if name not in ("context", "exception"):
            assert getattr(back, name) == getattr(event, name), name


def test_sdk_record_exposes_ids_and_severity() -> None:
    """The SDK record carries the same trace ids, flags and severity number."""
    record = _event().to_readable().log_record
    assert record.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert record.span_id == 0xB7AD6B7169203331
    assert int(record.trace_flags) == 1
    assert record.severity_number is not None and record.severity_number.value == 13
    assert record.event_name == "disk.pressure"


def test_many_attributes_survive_the_sdk_limits() -> None:
    """More attributes than the SDK's default limit of 128 are still all kept."""
    event = _event(attributes={f"k{i}": i for i in range(300)})
    assert LogEvent.from_sdk(event.to_readwrite()).attributes == event.attributes


# Before opentelemetry-sdk 1.45 the SDK's record drops an array whose items (None
# aside) are not all of one type, say ["a", 1] or ["a", []], at any depth, with a
# warning: a limit of the SDK's record, not of fapilog's own path. The oldest
# supported SDK is tested in CI (dev.py compat).
_SDK_KEEPS_MIXED_ARRAYS = tuple(
    int(part) for part in importlib.metadata.version("opentelemetry-sdk").split(".")[:2]
) >= (1, 45)


def _has_mixed_array(value: object) -> bool:
    if isinstance(value, dict):
        return any(_has_mixed_array(v) for v in value.values())
    if isinstance(value, list):
        kinds = {type(v) for v in value if v is not None}
        return len(kinds) > 1 or any(_has_mixed_array(v) for v in value)
    return False


@settings(max_examples=60, deadline=None)
@given(
    body=_value,
    attributes=st.dictionaries(st.text(min_size=1, max_size=8), _value, max_size=6),
    severity=st.integers(min_value=0, max_value=24),
    trace_id=st.integers(min_value=0, max_value=2**128 - 1),
    span_id=st.integers(min_value=0, max_value=2**64 - 1),
)
def test_round_trip_is_lossless_for_any_values(
    body: object, attributes: dict[str, object], severity: int, trace_id: int, span_id: int
) -> None:
    """Any AnyValue body/attributes and any ids survive both conversions."""
    if not _SDK_KEEPS_MIXED_ARRAYS:
        assume(not _has_mixed_array(attributes))
    event = _event(
        body=body,
        attributes=attributes,
        severity_number=severity,
        trace_id=trace_id,
        span_id=span_id,
        event_name=None,
    )
    assert LogEvent.from_sdk(event.to_readwrite()) == event
    assert LogEvent.from_sdk(event.to_readable()) == event


def test_copy_is_independent() -> None:
    """A copy's attributes can change without touching the original."""
    event = _event()
    clone = event.copy()
    clone.attributes["new"] = 1
    assert "new" not in event.attributes
    assert clone.body == event.body


def test_repr_shows_body_and_ids() -> None:
    """repr names the severity, body and trace id for debugging."""
    text = repr(_event())
    assert "disk almost full" in text and "0af7651916cd43dd8448eb211c80319c" in text
