"""An event records the values at the call, although the worker builds it later.

Most tests hold the worker inside a processor (``held``), so the events logged
meanwhile wait in the ring and are built only after the application has changed
its values: without the snapshot they would show the changed values. Others look
at the captured tuple itself (``ring``) or go through ``capture_logs()``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import threading
import uuid
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pytest

import fapilog
from fapilog import LogEvent, Pipeline
from fapilog._logger import Logger, PipelineRef
from fapilog.pipeline import _materialize
from fapilog.pipeline._materialize import fields_may_change, snapshot_call
from fapilog.processors import Processor
from fapilog.testing import InMemoryExporter, capture_logs


class _Hold(Processor):
    """Blocks the worker on the event whose body is ``"hold"`` until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def on_emit(self, event: LogEvent) -> None:
        if event.body == "hold":
            self.entered.set()
            assert self.release.wait(10)


class Held:
    """A pipeline whose worker is busy: what is logged now is built after :meth:`events`."""

    def __init__(self) -> None:
        self.exporter = InMemoryExporter()
        self._hold = _Hold()
        self.pipeline = Pipeline(
            exporters=[self.exporter], processors=[self._hold], schedule_delay_ms=5
        )
        self.log = self.pipeline.get_logger("snap")
        self.log.info("hold")
        assert self._hold.entered.wait(10)

    def events(self) -> list[LogEvent]:
        """Release the worker, flush and return the events logged after ``"hold"``."""
        # The calls are still in the ring: the worker builds them only from here on.
        assert self.pipeline.stats().queued > 0
        self._hold.release.set()
        assert self.pipeline.flush(10)
        return [e for e in self.exporter.events if e.body != "hold"]


@pytest.fixture
def held() -> Iterator[Held]:
    h = Held()
    yield h
    h._hold.release.set()
    h.pipeline.shutdown(timeout=5)


class _FakeIntake:
    """Stands in for an intake on the hot path: keeps each captured record."""

    level = 0
    capacity = 1000

    def __init__(self) -> None:
        self.ring: collections.deque[tuple[Any, ...]] = collections.deque()


class _FakePipeline:
    """Stands in for a Pipeline on the hot path (only its ``intake`` is read)."""

    def __init__(self) -> None:
        self.intake = _FakeIntake()


@pytest.fixture
def ring() -> tuple[Logger, collections.deque[tuple[Any, ...]]]:
    fake = _FakePipeline()
    return Logger("snap", PipelineRef(fake)), fake.intake.ring


# -- the examples, on the worker path ----------------------------------------------


def test_a_list_appended_to_after_the_call_is_exported_as_it_was(held: Held) -> None:
    """items = ["a"]; log.info("cart", items=items); items.append("b") exports ["a"]."""
    items = ["a"]
    held.log.info("cart", items=items)
    items.append("b")
    (event,) = held.events()
    assert event.attributes["items"] == ["a"]


def test_a_nested_dict_changed_after_the_call_is_exported_as_it_was(held: Held) -> None:
    """Nested containers are copied all the way down, not just the top level."""
    order = {"id": 7, "lines": [{"sku": "a", "qty": 1}], "tags": {"new"}}
    held.log.info("order", order=order)
    order["lines"][0]["qty"] = 5  # type: ignore[index]
    order["lines"].append({"sku": "b", "qty": 1})  # type: ignore[union-attr]
    order["tags"].add("vip")  # type: ignore[union-attr]
    order["id"] = 8
    (event,) = held.events()
    assert event.attributes["order"] == {
        "id": 7,
        "lines": [{"sku": "a", "qty": 1}],
        "tags": ["new"],
    }


def test_a_percent_argument_whose_str_reads_mutable_state_shows_the_call(held: Held) -> None:
    """An object %-argument is formatted on the caller: its __str__ at the call."""

    class Cart:
        def __init__(self) -> None:
            self.items: list[str] = []

        def __str__(self) -> str:
            return f"{len(self.items)} items"

    cart = Cart()
    held.log.info("cart has %s", cart)
    held.log.info("cart has %s and %s", cart, ["x"])
    cart.items.append("a")
    got = [e.body for e in held.events()]
    assert got == ["cart has 0 items", "cart has 0 items and ['x']"]


def test_every_kind_of_mutable_value_is_taken_at_the_call(held: Held) -> None:
    """Sets, dataclasses, objects, bytearrays inside containers, bodies, bound fields, async."""

    @dataclasses.dataclass
    class Point:
        x: int

    class Counter:
        def __init__(self) -> None:
            self.n = 0

        def __repr__(self) -> str:
            return f"Counter({self.n})"

    point, counter, tags, raw = Point(1), Counter(), {"a"}, bytearray(b"ab")
    body: dict[str, Any] = {"step": 1}
    bound_tags = ["t1"]
    held.log.info("values", point=point, counter=counter, tags=tags, raw=[raw], buf=raw)
    held.log.info(body)
    child = held.log.bind(tags=bound_tags)
    child.info("bound")
    point.x, counter.n = 2, 5
    tags.add("b")
    raw[0:1] = b"X"
    body["step"] = 2
    bound_tags.append("t2")
    values, structured, bound = held.events()
    assert values.attributes == {
        "point": {"x": 1},
        "counter": "Counter(0)",
        "tags": ["a"],
        "raw": [b"ab"],
        "buf": b"ab",
    }
    assert structured.body == {"step": 1}
    assert bound.attributes["tags"] == ["t1"]


async def test_the_awaitable_twins_take_the_values_at_the_call(held: Held) -> None:
    """await log.ainfo(...) captures at the call like log.info(...)."""
    items = ["a"]
    await held.log.ainfo("cart", items=items)
    items.append("b")
    (event,) = held.events()
    assert event.attributes["items"] == ["a"]


def test_audit_records_the_values_at_the_call(held: Held) -> None:
    """actor/target/outcome and the audit fields are snapshotted too."""
    actor = {"id": "admin-7", "roles": ["admin"]}
    held.log.audit("user.delete", actor=actor, target="user-42", outcome="success", ids=[1])
    actor["roles"].append("root")  # type: ignore[attr-defined]
    (event,) = held.events()
    assert event.attributes["audit.actor"] == {"id": "admin-7", "roles": ["admin"]}
    assert event.attributes["ids"] == [1]


def test_exc_info_is_still_resolved_when_other_fields_are_snapshotted(held: Held) -> None:
    """exc_info and event_name are left alone by the snapshot."""
    try:
        raise KeyError("card")
    except KeyError as err:
        error = err
    held.log.warning("failed", exc_info=error, event_name="pay.failed", items=[1])
    (event,) = held.events()
    assert event.attributes["exception.type"] == "KeyError"
    assert event.event_name == "pay.failed"
    assert event.attributes["items"] == [1]


# -- the same rule through capture_logs() --------------------------------------------------


def test_capture_logs_shows_the_values_at_the_call() -> None:
    """capture_logs() builds on the caller; the result is the same as the worker's."""
    log = fapilog.get_logger("snap")
    items = ["a"]
    with capture_logs() as logs:
        log.info("cart", items=items)
        log.log("LOUD", "loud")
    items.append("b")
    assert logs[0].attributes["items"] == ["a"]
    assert logs[1].severity_number == 9
    assert logs[1].attributes["log.level.original"] == "LOUD"


# -- what is passed by reference, and the cost of the common case ----------------------------


def test_scalar_calls_pass_their_values_and_dict_untouched(ring) -> None:
    """Scalars, tuples of scalars and other immutable values keep their identity."""
    log, captured = ring
    text = "".join(["run", "time"])  # not interned: identity is meaningful
    pair = (1, ("x", 2.5), None)
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    amount = decimal.Decimal("12.50")

    class Colour(enum.Enum):
        RED = "red"

    others = {
        "when": when,
        "amount": amount,
        "id": uuid.UUID(int=1),
        "path": PurePosixPath("/tmp"),
        "colour": Colour.RED,
        "frozen": frozenset({1, 2}),
    }
    log.info("m", s=text, t=pair, n=2**80, f=1.5, b=True, none=None, raw=b"x")
    log.info("m", items=[1], **others)
    log.info("n=%d %s", 5, pair)
    (_, _, _, args0, fields0, *_), (_, _, _, _, fields1, *_), (_, _, msg, args2, _, *_) = captured
    assert args0 == ()
    assert fields0["s"] is text and fields0["t"] is pair and fields0["raw"] == b"x"
    for key, value in others.items():
        assert fields1[key] is value, key
    assert fields1["items"] == (1,)  # the list itself was copied
    assert msg == "n=%d %s" and args2[1] is pair  # formatted on the worker


def test_only_calls_with_something_mutable_take_the_slow_path() -> None:
    """fields_may_change is False for a call's keywords of flat scalars, True otherwise."""

    def kw(**fields: Any) -> dict[str, Any]:
        return fields

    assert not fields_may_change(kw())
    assert not fields_may_change(kw(a="x", b=1, c=2.5, d=True, e=None, f=b"x", g=2**80))
    for value in ([], {}, set(), [1], {"a": 1}, dataclasses.make_dataclass("D", [])(), Held):
        assert fields_may_change(kw(a="x", v=value)), value


def test_mutable_arguments_are_formatted_on_the_caller(ring) -> None:
    """A list %-argument (or a mutable message) makes the caller format the message."""
    log, captured = ring
    log.info("got %s", [1, 2])
    log.info({"body": [1]})
    (_, _, msg0, args0, *_), (_, _, msg1, args1, *_) = captured
    assert (msg0, args0) == ("got [1, 2]", ())
    assert msg1 == {"body": [1]} and args1 == ()


# -- never raise ------------------------------------------------------------------------------


class _Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")


class _BadList(list[int]):
    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("no iteration")


def test_values_that_cannot_be_copied_or_rendered_never_raise(held: Held) -> None:
    """A failing __repr__/__str__/__iter__ becomes a placeholder; the call returns."""
    held.log.info("hostile", obj=_Hostile(), nested=[_Hostile()], bad=_BadList([1]))
    held.log.info("arg %s", _Hostile())
    held.log.info(_Hostile())
    fields, arg, body = held.events()
    assert fields.attributes["obj"] == "<unrepresentable _Hostile>"
    assert fields.attributes["nested"] == ["<unrepresentable _Hostile>"]
    assert isinstance(fields.attributes["bad"], str)
    assert arg.body.startswith("arg %s (unformattable args: ")
    assert body.body == "<unrepresentable _Hostile>"


@pytest.mark.pure_python
def test_a_snapshot_that_fails_leaves_the_values_as_given_and_reports(
    ring, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Even an unexpected failure inside the snapshot never reaches the application."""
    from fapilog._diagnostics import reporter

    def broken(fields: dict[str, Any]) -> None:
        raise RuntimeError("snapshot broke")

    reporter.reset()
    monkeypatch.setattr(_materialize, "snapshot_fields", broken)
    log, captured = ring
    items = ["a"]
    log.info("m", items=items)
    assert captured[0][4]["items"] is items
    assert snapshot_call("m", (), {"items": items}) == ("m", ())
    assert reporter.flush(5)  # diagnostics are written by a thread of their own
    assert "could not snapshot a log call's values" in capfd.readouterr().err
    reporter.reset()


def test_log_with_an_unknown_level_does_not_raise(held: Held) -> None:
    """log("LOUD") is logged at INFO with the level it was given."""
    held.log.log("LOUD", "loud", items=["a"])  # type: ignore[arg-type]
    (event,) = held.events()
    assert event.severity_text == "INFO"
    assert event.attributes == {"items": ["a"], "log.level.original": "LOUD"}


# -- the bridges capture on the calling thread too ------------------------------------------


def test_structlog_bridge_records_the_values_at_the_call(held: Held) -> None:
    """A structlog event's values are snapshotted by the fapilog processor."""
    structlog = pytest.importorskip("structlog")
    from fapilog.bridges import FapilogStructlogProcessor

    log = structlog.wrap_logger(
        structlog.testing.CapturingLogger(),
        processors=[FapilogStructlogProcessor(held.pipeline)],
        wrapper_class=structlog.make_filtering_bound_logger(0),
    )
    items = ["a"]
    log.info("cart", items=items)
    log.info("cart %s", items)
    items.append("b")
    fields, formatted = held.events()
    assert fields.attributes["items"] == ["a"]
    assert formatted.body == "cart ['a']"


def test_loguru_bridge_records_the_values_at_the_call(held: Held) -> None:
    """A loguru record's extra values are snapshotted by the sink."""
    loguru = pytest.importorskip("loguru")
    from fapilog.bridges import FapilogLoguruSink

    handler = loguru.logger.add(FapilogLoguruSink(held.pipeline), level=0)
    try:
        items = ["a"]
        loguru.logger.bind(items=items).info("cart")
        items.append("b")
    finally:
        loguru.logger.remove(handler)
    (event,) = held.events()
    assert event.attributes["items"] == ["a"]


def test_stdlib_extra_values_are_taken_at_the_call() -> None:
    """A list passed through logging's extra= is exported as it was at the call."""
    import logging

    from fapilog.stdlib import FapilogHandler

    exporter = InMemoryExporter()
    pipeline = fapilog.Pipeline(exporters=[exporter], schedule_delay_ms=60_000)
    logger = logging.getLogger("snapshot.stdlib")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = FapilogHandler(pipeline=pipeline)
    logger.addHandler(handler)
    try:
        items = ["a"]
        logger.info("cart", extra={"items": items})
        items.append("b")
        assert pipeline.shutdown(timeout=5)
    finally:
        logger.removeHandler(handler)
    [event] = exporter.events
    assert event.attributes["items"] == ["a"]


def test_bound_context_values_are_taken_at_binding() -> None:
    """A dict bound with bind_context and changed afterwards keeps its bound state."""
    exporter = InMemoryExporter()
    pipeline = fapilog.Pipeline(exporters=[exporter], schedule_delay_ms=60_000)
    request = {"user": "u1"}
    with fapilog.bind_context(request=request):
        request["user"] = "u2"
        pipeline.get_logger("snapshot.ctx").info("handled")
    assert pipeline.shutdown(timeout=5)
    [event] = exporter.events
    assert event.attributes["request"] == {"user": "u1"}
