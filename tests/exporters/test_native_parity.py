"""The compiled worker path against its pure-Python reference: byte-identical output.

The build compiles the worker path with mypyc (``hatch_build.py``); the pure-Python
modules are the reference (docs/compiled.md). Here both run side by side in one
process: the modules as imported (compiled where the compiled path is active) and
fresh pure copies executed from the same sources (``fapilog._native.load_pure``),
on property-based inputs: materialising captured calls, redaction, the OTLP wire
encoder (and its C fast path), sizing and normalisation must give the same bytes,
values and counts.

Where the compiled path is not active (a pure install, ``FAPILOG_PURE_PYTHON=1``) the
two sides are both pure and the properties still hold; ``FAPILOG_EXPECT_NATIVE``
(set by CI) makes sure each run tests the implementation it is meant to.
"""

from __future__ import annotations

import copy
import importlib.machinery
import os
import struct
import sys
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from test_otlp_encode import resources, scopes
from test_otlp_wire import Color, Name, odd_events
from test_otlp_wire import Custom as WireCustom

import fapilog._native as native
from fapilog import _normalize
from fapilog._event import LogEvent
from fapilog.exporters.otlp import _wire
from fapilog.pipeline import _materialize, _size
from fapilog.redaction import _processor

#: The covered modules in dependency order (a pure copy must see the pure copies of
#: what it imports).
COVERED = (
    "fapilog._normalize",
    "fapilog.pipeline._size",
    "fapilog.pipeline._materialize",
    "fapilog.redaction._processor",
    "fapilog.exporters.otlp._wire",
)
ACTIVE: dict[str, ModuleType] = {
    "fapilog._normalize": _normalize,
    "fapilog.pipeline._size": _size,
    "fapilog.pipeline._materialize": _materialize,
    "fapilog.redaction._processor": _processor,
    "fapilog.exporters.otlp._wire": _wire,
}
PURE = native.load_pure(COVERED)
EXT = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def _compiled(module: ModuleType) -> bool:
    return str(module.__file__).endswith(EXT)


# -- which implementation runs -------------------------------------------------------------


def test_the_covered_modules_are_the_ones_the_build_compiles() -> None:
    state = native.status()
    if state.implementation == "compiled":
        assert set(state.modules) == set(COVERED)


def test_each_run_tests_the_implementation_it_is_meant_to() -> None:
    """CI says which path a run must be on; a silent fallback would fail here."""
    expected = os.environ.get("FAPILOG_EXPECT_NATIVE")
    if expected is None:
        pytest.skip("FAPILOG_EXPECT_NATIVE is not set (CI sets it)")
    state = native.status()
    assert state.implementation == expected, state
    for name, module in ACTIVE.items():
        assert _compiled(module) == (expected == "compiled"), name


def test_the_pure_copies_are_pure_and_separate() -> None:
    for name, module in PURE.items():
        assert str(module.__file__).endswith(".py"), name
        assert module is not sys.modules[name]
    # A pure copy calls the pure copies of what it imports, never a compiled module.
    assert PURE["fapilog.pipeline._materialize"].normalize_value is (
        PURE["fapilog._normalize"].normalize_value
    )


# -- inputs --------------------------------------------------------------------------------


class Custom(WireCustom):
    """The wire tests' object, with a repr that compares across the two sides."""

    def __repr__(self) -> str:
        return "Custom()"


text = st.text(max_size=12)  # lone surrogates included
secrets = st.sampled_from(
    [
        "password=hunter2",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "card 4111 1111 1111 1111 ok",
        "mail me at someone@example.com",
        "AKIAIOSFODNN7EXAMPLE",
        '{"token": "abc123", "n": 1}',
        "postgres://user:pa55@db.local/app",
    ]
)
scalars = st.one_of(
    text,
    secrets,
    text.map(Name),
    st.booleans(),
    st.integers(),  # beyond int64 too
    st.just(Color.RED),
    st.floats(),
    st.binary(max_size=6),
    st.just(Custom()),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(text, st.sampled_from(["password", "token"])), inner, max_size=3),
    ),
    max_leaves=8,
)
keys = st.one_of(
    text,
    st.sampled_from(["password", "api_key", "user", "authorization", "exc_info", ""]),
    st.integers(0, 9),  # a processor may put any key in an event's attributes
)
events = st.builds(
    LogEvent,
    timestamp=st.integers(-5, 2**64 + 5),
    observed_timestamp=st.integers(-5, 2**64 + 5),
    trace_id=st.integers(0, 2**129),
    span_id=st.integers(0, 2**65),
    trace_flags=st.integers(0, 2**9),
    severity_text=st.none() | text,
    severity_number=st.integers(0, 24),
    body=values,
    attributes=st.dictionaries(keys, values, max_size=5),
    event_name=st.none() | text,
    resource=resources,
    instrumentation_scope=scopes,
)
limits = st.none() | st.integers(64, 4096)


class FakeLogger:
    """What a captured call carries as its logger: a scope and bound fields."""

    def __init__(self, scope: InstrumentationScope | None, bound: dict[str, Any]) -> None:
        self._scope = scope
        self._fields = bound


messages = st.one_of(text, secrets, st.just("%s and %d"), st.just("%(n)s"), values)
arguments = st.one_of(
    st.just(()),
    st.tuples(values, st.integers()),
    st.tuples(text),
    st.fixed_dictionaries({"n": values}),
)
records = st.tuples(
    st.integers(0, 2**63),
    st.integers(1, 24),
    messages,
    arguments,
    st.dictionaries(keys, values, max_size=5),
    st.builds(FakeLogger, scopes, st.dictionaries(text, values, max_size=2)),
    st.none(),
    st.none() | st.just(ValueError("boom")),
    st.none() | st.sampled_from(["WARN", "custom"]),
)
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


def _outcome(fn: Any, *args: Any) -> Any:
    """The result, or the exception's type and text (both sides must fail alike)."""
    try:
        return fn(*args)
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))


def _event_repr(event: LogEvent) -> str:
    """Every slot but the Context, the Resource and scope by value (their reprs show ids)."""
    slots: list[Any] = []
    for slot in LogEvent.__slots__:
        value = getattr(event, slot)
        if slot == "context":
            continue
        if slot == "resource":
            value = (dict(value.attributes), value.schema_url)
        elif slot == "instrumentation_scope" and value is not None:
            value = (value.name, value.version, value.schema_url, dict(value.attributes or {}))
        slots.append(value)
    return repr(slots)


# -- properties ----------------------------------------------------------------------------


@PROPERTY
@given(st.lists(events, max_size=8), limits)
def test_the_otlp_wire_encoder_writes_the_same_bytes(batch: list[LogEvent], limit: Any) -> None:
    ours = _wire.split_wire(batch, limit)
    ref = PURE["fapilog.exporters.otlp._wire"].split_wire(batch, limit)
    assert ours.dropped == ref.dropped
    assert [(r.payload, r.size, r.records) for r in ours.requests] == [
        (r.payload, r.size, r.records) for r in ref.requests
    ]


@PROPERTY
@given(st.lists(records | records.map(lambda r: r[:8]), max_size=6), resources, st.booleans())
def test_materialising_captured_calls_builds_the_same_events(
    batch: list[tuple[Any, ...]], resource: Resource, enrich: bool
) -> None:
    # materialize_batch owns (and edits) each call's fields: each side gets its own.
    mine, theirs = copy.deepcopy(batch), copy.deepcopy(batch)
    sizes_ours: list[int] = []
    sizes_ref: list[int] = []
    ours = _materialize.materialize_batch(mine, resource, enrich, sizes_ours)
    ref = PURE["fapilog.pipeline._materialize"].materialize_batch(
        theirs, resource, enrich, sizes_ref
    )
    assert [_event_repr(e) for e in ours[0]] == [_event_repr(e) for e in ref[0]]
    assert ours[1] == ref[1]
    assert repr(ours[2]) == repr(ref[2])
    assert sizes_ours == sizes_ref


@PROPERTY
@given(messages, arguments, st.dictionaries(keys, values, max_size=4))
def test_the_callers_snapshot_is_the_same(msg: Any, args: Any, fields: dict[str, Any]) -> None:
    mine, theirs = copy.deepcopy((msg, args, fields)), copy.deepcopy((msg, args, fields))
    ours = _materialize.snapshot_call(*mine)
    ref = PURE["fapilog.pipeline._materialize"].snapshot_call(*theirs)
    assert repr(ours) == repr(ref)
    assert repr(mine[2]) == repr(theirs[2])


@PROPERTY
@given(st.lists(events, min_size=1, max_size=6))
def test_redaction_masks_the_same_values_and_counts_the_same(batch: list[LogEvent]) -> None:
    ours_proc = _processor.RedactionProcessor()
    ref_proc = PURE["fapilog.redaction._processor"].RedactionProcessor()
    mine, theirs = copy.deepcopy(batch), copy.deepcopy(batch)
    for event in mine:
        ours_proc.on_emit(event)
    for event in theirs:
        ref_proc.on_emit(event)
    assert [_event_repr(e) for e in mine] == [_event_repr(e) for e in theirs]
    assert ours_proc.counts() == ref_proc.counts()


@PROPERTY
@given(events)
def test_sizes_and_normalised_values_are_the_same(event: LogEvent) -> None:
    assert _size.estimate_size(event) == PURE["fapilog.pipeline._size"].estimate_size(event)
    ours = _outcome(_normalize.normalize_attributes, dict(event.attributes))
    ref = _outcome(PURE["fapilog._normalize"].normalize_attributes, dict(event.attributes))
    assert repr(ours) == repr(ref)
    assert repr(_normalize.normalize_value(event.body)) == repr(
        PURE["fapilog._normalize"].normalize_value(event.body)
    )


# -- the C record encoder (src/fapilog/_wirerec.c) ----------------------------------------

#: The C encoder as the wire encoder uses it (None on the pure path), and the reference.
C_RECORD = _wire._c_record
PURE_RECORD = PURE["fapilog.exporters.otlp._wire"]._record
needs_c = pytest.mark.skipif(C_RECORD is None, reason="no C record encoder (the pure path)")


def test_the_c_record_encoder_is_loaded_on_the_compiled_path_only() -> None:
    if native.status().implementation == "compiled":
        assert C_RECORD is not None
        assert str(sys.modules["fapilog.exporters.otlp._wirerec"].__file__).endswith(EXT)
    else:
        assert C_RECORD is None
        assert "fapilog.exporters.otlp._wirerec" not in sys.modules
    # The pure reference never takes the C path, whichever path is active.
    assert PURE["fapilog.exporters.otlp._wire"]._c_record is None


def _double(bits: int) -> float:
    """The double with these 64 bits (every NaN payload, both infinities, -0.0)."""
    value: float = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return value


# Only what the fast path takes: exact str (no lone surrogates, long ones for 2- and
# 3-byte length varints), int64, any double, bool, None.
fast_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    st.builds(
        lambda char, n: char * n,
        st.sampled_from("xé€😀"),
        st.sampled_from([63, 64, 65, 126, 127, 128, 5000, 16384, 20000]),
    ),
)
fast_values = st.one_of(
    fast_text,
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 127, 128, 2**63 - 1, -(2**63)]),
    st.floats(),
    st.integers(0, 2**64 - 1).map(_double),
    st.booleans(),
    st.none(),
)
fast_events = st.builds(
    LogEvent,
    timestamp=st.integers(0, 2**64 - 1) | st.just(0),
    observed_timestamp=st.integers(0, 2**64 - 1) | st.just(0),
    trace_id=st.integers(0, 2**128 - 1) | st.sampled_from([0, 1, 2**64 - 1, 2**64]),
    span_id=st.integers(0, 2**64 - 1) | st.just(0),
    trace_flags=st.integers(0, 255),
    severity_text=st.none() | fast_text,
    severity_number=st.integers(0, 24),
    body=st.none() | fast_text,
    attributes=st.dictionaries(fast_text.filter(bool), fast_values, max_size=40),
    event_name=st.none() | fast_text,
)


@needs_c
@PROPERTY
@given(fast_events)
def test_the_c_encoder_takes_the_fast_path_with_the_same_bytes(event: LogEvent) -> None:
    assert C_RECORD(event) == PURE_RECORD(event)


@needs_c
@PROPERTY
@given(st.one_of(odd_events, events))
def test_the_c_encoder_falls_back_or_writes_the_same_bytes(event: LogEvent) -> None:
    ours = C_RECORD(event)
    assert ours is None or ours == PURE_RECORD(event)


#: The exported fields of an event (the odd test events' ones are varied one by one).
EXPORTED = sorted(set(LogEvent.__slots__) - {"resource", "instrumentation_scope", "context"})


@needs_c
@PROPERTY
@given(fast_events, st.one_of(odd_events, events), st.sampled_from(EXPORTED), st.booleans())
def test_one_odd_field_or_attribute_means_the_fallback_or_the_same_bytes(
    event: LogEvent, odd: LogEvent, field: str, attribute: bool
) -> None:
    """An event of the fast path but for one field (or one attribute) of an odd event."""
    if attribute and odd.attributes:
        key, value = next(iter(odd.attributes.items()))
        event.attributes = {**event.attributes, key: value}
    else:
        setattr(event, field, getattr(odd, field))
    ours = C_RECORD(event)
    assert ours is None or ours == PURE_RECORD(event)


@needs_c
def test_the_common_event_takes_the_fast_path() -> None:
    event = LogEvent(
        timestamp=1_733_400_000_123_456_789,
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        trace_flags=1,
        severity_text="INFO",
        severity_number=9,
        body="request handled",
        attributes={
            "method": "GET",
            "status": 200,
            "duration_ms": 12.5,
            "cached": False,
            "user_id": None,
        },
    )
    record = C_RECORD(event)
    assert record is not None
    assert record == PURE_RECORD(event)


@needs_c
@pytest.mark.parametrize(
    "change",
    [
        {"timestamp": -1},
        {"timestamp": 2**64},
        {"timestamp": True},
        {"trace_id": 2**128},
        {"span_id": 2**64},
        {"trace_flags": 256},
        {"severity_number": 25},
        {"severity_text": Name("INFO")},
        {"body": b"bytes"},
        {"body": "lone \ud800 surrogate"},
        {"body": Name("text")},
        {"event_name": "\udc80"},
        {"attributes": {"": 1}},
        {"attributes": {1: 1}},
        {"attributes": {"n": 2**63}},
        {"attributes": {"n": Color.RED}},
        {"attributes": {"list": [1]}},
        {"attributes": {"text": "\udfff"}},
    ],
)
def test_outside_the_fast_path_the_c_encoder_says_none(change: dict[str, Any]) -> None:
    event = LogEvent(timestamp=1, body="ok", attributes={"a": 1})
    for name, value in change.items():
        setattr(event, name, value)
    assert C_RECORD(event) is None
    # ... and the wire encoder still writes the reference bytes, through _record.
    ours = _wire.split_wire([event], None).requests
    ref = PURE["fapilog.exporters.otlp._wire"].split_wire([event], None).requests
    assert [r.payload for r in ours] == [r.payload for r in ref]


@needs_c
def test_a_failing_lookup_is_a_fallback_never_an_exception() -> None:
    class Broken:
        @property
        def timestamp(self) -> int:
            raise RuntimeError("no")

    assert C_RECORD(object()) is None
    assert C_RECORD(Broken()) is None
