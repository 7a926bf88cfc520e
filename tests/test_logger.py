"""The Logger API: levels, fields, bind, exceptions, event names, async twins."""

from __future__ import annotations

import asyncio
import logging

import pytest

import fapilog
from fapilog import Pipeline
from fapilog._diagnostics import reporter
from support import RecordingExporter


def _events(pipeline: Pipeline, exporter: RecordingExporter) -> list[fapilog.LogEvent]:
    assert pipeline.flush(timeout=5)
    return exporter.events


def test_message_and_fields_become_body_and_attributes(recording) -> None:
    """log.info("paid", order_id=7, amount=12.5) gives body "paid" and two attributes."""
    pipeline, exporter = recording
    pipeline.get_logger("shop").info("paid", order_id=7, amount=12.5)
    (event,) = _events(pipeline, exporter)
    assert event.body == "paid"
    assert event.attributes == {"order_id": 7, "amount": 12.5}
    assert event.severity_text == "INFO" and event.severity_number == 9
    assert event.scope_name == "shop"
    assert event.timestamp > 0 and event.observed_timestamp == event.timestamp


def test_each_level_method_has_its_otel_severity(recording) -> None:
    """debug/info/warning/error/critical/exception map to DEBUG/INFO/WARN/ERROR/FATAL/ERROR."""
    pipeline, exporter = recording
    log = pipeline.get_logger("x")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    log.exception("x")
    log.log("warning", "lw")
    log.log(logging.ERROR, "le")
    got = [(e.body, e.severity_text, e.severity_number) for e in _events(pipeline, exporter)]
    assert got == [
        ("i", "INFO", 9),
        ("w", "WARN", 13),
        ("e", "ERROR", 17),
        ("c", "FATAL", 21),
        ("x", "ERROR", 17),
        ("lw", "WARN", 13),
        ("le", "ERROR", 17),
    ]


def test_level_setting_filters_on_the_caller() -> None:
    """With level=debug, debug events pass; below the level they are not even emitted."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], level="warning", schedule_delay_ms=5)
    log = pipeline.get_logger("x")
    log.info("dropped by level")
    log.warning("kept")
    assert not log.is_enabled_for("info") and log.is_enabled_for("error")
    assert [e.body for e in _events(pipeline, exporter)] == ["kept"]
    assert pipeline.stats().emitted == 1
    pipeline.shutdown()


def test_percent_args_are_formatted_like_logging(recording) -> None:
    """%-style arguments are applied; bad ones never raise and keep the data."""
    pipeline, exporter = recording
    log = pipeline.get_logger("x")
    log.info("hello %s #%d", "bob", 3)
    log.info("broken %d", "not a number")
    a, b = _events(pipeline, exporter)
    assert a.body == "hello bob #3"
    assert "broken %d" in b.body and "not a number" in b.body


def test_bind_returns_a_new_logger_with_fields(recording) -> None:
    """bind() adds fields to a new logger; the original is unchanged; call fields win."""
    pipeline, exporter = recording
    base = pipeline.get_logger("x")
    bound = base.bind(tenant="t1", region="eu")
    bound.info("a", region="us")
    base.info("b")
    a, b = _events(pipeline, exporter)
    assert a.attributes == {"tenant": "t1", "region": "us"}
    assert b.attributes == {}
    assert bound.fields == {"tenant": "t1", "region": "eu"}


def test_exception_records_semantic_convention_attributes(recording) -> None:
    """log.exception inside except records exception.type/message/stacktrace."""
    pipeline, exporter = recording
    log = pipeline.get_logger("x")
    try:
        raise ValueError("bad input")
    except ValueError:
        log.exception("failed", order_id=1)
    err = RuntimeError("explicit")
    log.error("with exc", exc_info=err)
    a, b = _events(pipeline, exporter)
    assert a.attributes["exception.type"] == "ValueError"
    assert a.attributes["exception.message"] == "bad input"
    assert "raise ValueError" in a.attributes["exception.stacktrace"]
    assert a.attributes["order_id"] == 1
    assert b.attributes["exception.type"] == "RuntimeError"


def test_event_name_is_the_otel_event_name(recording) -> None:
    """event_name= sets the record's event_name, not an attribute."""
    pipeline, exporter = recording
    pipeline.get_logger("x").info("user signed up", event_name="user.signup", user="u1")
    (event,) = _events(pipeline, exporter)
    assert event.event_name == "user.signup"
    assert event.attributes == {"user": "u1"}


def test_structured_bodies_are_normalised(recording) -> None:
    """A non-string message becomes a structured AnyValue body."""
    pipeline, exporter = recording
    pipeline.get_logger("x").info({"k": (1, 2)})
    (event,) = _events(pipeline, exporter)
    assert event.body == {"k": [1, 2]}


async def test_async_twins_deliver_like_sync_ones(recording) -> None:
    """adebug/ainfo/.../aexception log like their sync twins."""
    pipeline, exporter = recording
    log = pipeline.get_logger("x")
    await log.ainfo("i", a=1)
    await log.awarning("w")
    await log.aerror("e")
    await log.acritical("c")
    await log.adebug("d")
    try:
        raise KeyError("k")
    except KeyError:
        await log.aexception("x")
    await log.alog("error", "al")
    assert await pipeline.aflush(timeout=5)
    got = [(e.body, e.severity_text) for e in exporter.events]
    assert got == [
        ("i", "INFO"),
        ("w", "WARN"),
        ("e", "ERROR"),
        ("c", "FATAL"),
        ("x", "ERROR"),
        ("al", "ERROR"),
    ]
    assert exporter.events[4].attributes["exception.type"] == "KeyError"


async def test_awaited_calls_wait_for_space_instead_of_dropping() -> None:
    """With a tiny buffer and drop_newest, awaited calls never drop; sync calls would."""
    exporter = RecordingExporter()
    pipeline = Pipeline(
        exporters=[exporter], max_queue_size=4, overflow="drop_newest", schedule_delay_ms=1
    )
    log = pipeline.get_logger("x")
    for i in range(500):
        await log.ainfo("e", i=i)
    assert await pipeline.aflush(timeout=10)
    stats = pipeline.stats()
    assert stats.dropped_total == 0
    assert [e.attributes["i"] for e in exporter.events] == list(range(500))
    await pipeline.ashutdown()


def test_get_logger_defaults_to_the_calling_module_name() -> None:
    """get_logger() without a name uses the caller's __name__."""
    assert fapilog.get_logger().name == __name__
    assert fapilog.get_logger("custom").name == "custom"


def test_logging_never_raises_for_hostile_values(recording) -> None:
    """Hostile fields are rendered, not raised: bad repr, cycles, NaN, huge ints, bytes."""

    class Bad:
        def __repr__(self) -> str:
            raise RuntimeError

    cyc: dict[str, object] = {}
    cyc["me"] = cyc
    pipeline, exporter = recording
    pipeline.get_logger("x").info(
        "hostile",
        bad=Bad(),
        cyc=cyc,
        nan=float("nan"),
        big=2**80,
        raw=b"\xff\x00",
        huge="y" * 1_000_000,
        **{"1": 1},
    )
    (event,) = _events(pipeline, exporter)
    assert event.attributes["bad"].startswith("<unrepresentable ")
    assert event.attributes["cyc"] == {"me": "<cycle>"}
    assert event.attributes["big"] == str(2**80)
    assert event.attributes["raw"] == b"\xff\x00"
    # Redaction (on by default) scans the first 64 KiB of a string and cuts the rest.
    assert event.attributes["huge"].startswith("y" * 60_000)
    assert event.attributes["huge"].endswith("[TRUNCATED]")


def test_reserved_keywords_are_not_attributes(recording) -> None:
    """exc_info and event_name never show up as attributes."""
    pipeline, exporter = recording
    pipeline.get_logger("x").info("m", exc_info=False, event_name=None, other=1)
    (event,) = _events(pipeline, exporter)
    assert event.attributes == {"other": 1}


@pytest.mark.parametrize(
    ("level", "original"),
    [("LOUD", "LOUD"), ("nope", "nope"), (-1, -1), (True, True), (12.5, 12.5), (["x"], ["x"])],
)
def test_log_with_an_unknown_level_logs_at_info_with_the_original(
    recording, capfd: pytest.CaptureFixture[str], level: object, original: object
) -> None:
    """log() with something that is not a level never raises: INFO, plus what was passed."""
    reporter.reset()
    pipeline, exporter = recording
    log = pipeline.get_logger("x")
    log.log(level, "m", order_id=7)  # type: ignore[arg-type]
    assert log.is_enabled_for(level) is True  # type: ignore[arg-type]  # answers for INFO
    (event,) = _events(pipeline, exporter)
    assert (event.severity_number, event.severity_text) == (9, "INFO")
    assert event.attributes == {"order_id": 7, "log.level.original": original}
    assert reporter.flush(5)  # diagnostics are written by a thread of their own
    assert "not a level" in capfd.readouterr().err
    reporter.reset()


async def test_alog_with_an_unknown_level_logs_at_info(recording) -> None:
    """The awaitable twin behaves the same way."""
    pipeline, exporter = recording
    await pipeline.get_logger("x").alog("LOUD", "m")
    assert await pipeline.aflush(timeout=5)
    (event,) = exporter.events
    assert event.severity_number == 9
    assert event.attributes["log.level.original"] == "LOUD"


def test_log_accepts_names_in_any_case_logging_numbers_and_registered_names(recording) -> None:
    """Names of any case, logging's numbers (custom ones in between) and addLevelName levels."""
    pipeline, exporter = recording
    log = pipeline.get_logger("x")
    logging.addLevelName(25, "NOTICE_SNAPSHOT_TEST")
    try:
        log.log(" Warn ", "a")
        log.log(logging.INFO + 2, "b")
        log.log(logging.CRITICAL, "c")
        log.log("notice_snapshot_test", "d")
    finally:  # logging has no way to unregister a name
        del logging._nameToLevel["NOTICE_SNAPSHOT_TEST"]  # type: ignore[attr-defined]
        del logging._levelToName[25]  # type: ignore[attr-defined]
    got = [(e.body, e.severity_number) for e in _events(pipeline, exporter)]
    assert got == [("a", 13), ("b", 11), ("c", 21), ("d", 12)]
    assert all("log.level.original" not in e.attributes for e in exporter.events)


async def test_gather_of_many_async_calls_keeps_every_event(recording) -> None:
    """Many concurrent awaited calls all arrive."""
    pipeline, exporter = recording
    log = pipeline.get_logger("x")
    await asyncio.gather(*(log.ainfo("e", i=i) for i in range(200)))
    assert await pipeline.aflush(timeout=5)
    assert sorted(e.attributes["i"] for e in exporter.events) == list(range(200))


async def test_async_twins_buffer_at_the_call_and_stay_coroutine_compatible(recording) -> None:
    """With room in the buffer the awaitable is already done; tasks and gather accept it."""
    import collections.abc

    pipeline, exporter = recording
    log = pipeline.get_logger("x")
    pending = log.ainfo("buffered at the call")
    assert await pipeline.aflush(timeout=5)
    assert [e.body for e in exporter.events] == ["buffered at the call"]
    await pending
    assert isinstance(pending, collections.abc.Coroutine)
    await asyncio.create_task(log.awarning("as a task"))  # type: ignore[arg-type]
    await asyncio.gather(log.aerror("gathered"), log.adebug("below the level"))
    assert await pipeline.aflush(timeout=5)
    assert [e.body for e in exporter.events][1:] == ["as a task", "gathered"]
    with pytest.raises(KeyError):
        pending.throw(KeyError("k"))  # type: ignore[attr-defined]
    pending.close()  # type: ignore[attr-defined]


def test_async_twin_runs_under_asyncio_run(recording) -> None:
    """asyncio.run(log.ainfo(...)) works as it did when the twins were coroutines."""
    pipeline, exporter = recording
    asyncio.run(pipeline.get_logger("x").ainfo("run"))  # type: ignore[arg-type]
    assert pipeline.flush(timeout=5)
    assert [e.body for e in exporter.events] == ["run"]
