"""The pytest plugin's per-test view of fapilog events: report sections and caplog."""

from __future__ import annotations

import logging
import time

import pytest

import fapilog
from fapilog._event import LogEvent
from fapilog.testing._pytest_plugin import format_event, stdlib_level, to_log_record

pytest_plugins = ["pytester"]

# A test module run by pytester in a subprocess: its default pipeline writes to the
# console (stderr), as an application's usually does.
_TESTS = """
import threading

import fapilog

log = fapilog.get_logger("shop.api")


def test_fails_after_logging():
    log.info("order placed", order_id=7)
    thread = threading.Thread(target=log.warning, args=("stock low",), kwargs={"sku": "a-1"})
    thread.start()
    thread.join()
    try:
        1 / 0
    except ZeroDivisionError:
        log.exception("pricing failed")
    assert False, "checkout broke"


def test_passes_after_logging():
    log.info("quiet success", order_id=8)


def test_caplog_sees_events(caplog):
    log.warning("card declined", order_id=9, password="hunter2")
    (record,) = caplog.records
    assert (record.name, record.levelname, record.getMessage()) == (
        "shop.api", "WARNING", "card declined"
    )
    assert record.order_id == 9
    assert record.attributes["password"] != "hunter2"  # redacted, as exporters see it
    assert "card declined" in caplog.text
    assert caplog.record_tuples == [("shop.api", 30, "card declined")]
    assert False, "caplog check done"


def test_caplog_with_capture_logs(caplog, fapilog_logs):
    log.error("both see it")
    assert fapilog_logs.bodies == ["both see it"]
    assert [r.getMessage() for r in caplog.records] == ["both see it"]
"""


def _section(lines: list[str], test: str, title: str) -> list[str] | None:
    """The lines of the ``title`` section of ``test``'s failure report (None: absent)."""
    start = next(i for i, line in enumerate(lines) if line.strip("_ ") == test)
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith(("____", "===="))),
        len(lines),
    )
    block = lines[start:end]
    heads = [i for i, line in enumerate(block) if line.strip("- ") == title]
    if not heads:
        return None
    body = []
    for line in block[heads[0] + 1 :]:
        if line.startswith("----"):
            break
        body.append(line)
    return body


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_app=_TESTS)
    for name in ("FAPILOG_EXPORTERS", "OTEL_LOGS_EXPORTER", "FAPILOG_LEVEL"):
        pytester._monkeypatch.delenv(name, raising=False)
    return pytester.runpytest_subprocess("-p", "fapilog", "-p", "no:cacheprovider", *args)


def test_failure_report_carries_the_tests_events_and_caplog_holds_them(
    pytester: pytest.Pytester,
) -> None:
    """A failing test's events, from any thread, are in its report; caplog holds them."""
    result = _run(pytester)
    result.assert_outcomes(failed=2, passed=2)
    lines = result.outlines

    section = _section(lines, "test_fails_after_logging", "Captured fapilog call")
    assert section is not None
    assert section[:3] == [
        "INFO  shop.api: order placed order_id=7",
        "WARN  shop.api: stock low sku='a-1'",  # logged by another thread
        "ERROR shop.api: pricing failed exception.type='ZeroDivisionError' "
        "exception.message='division by zero'",
    ]
    assert section[3] == "Traceback (most recent call last):"
    assert section[-1] == "ZeroDivisionError: division by zero"
    # Flushed before pytest closed the test's capture: the console exporter's line
    # is in this test's own stderr section, not printed after the summary.
    stderr = _section(lines, "test_fails_after_logging", "Captured stderr call")
    assert stderr is not None
    assert any('"body":"order placed"' in line for line in stderr)
    summary = next(i for i, line in enumerate(lines) if "short test summary info" in line)
    assert not any("order placed" in line for line in lines[summary:])

    # The caplog test's assertions on caplog.records passed (it fails on purpose after).
    result.stdout.fnmatch_lines(["*AssertionError: caplog check done"])
    caplog_section = _section(lines, "test_caplog_sees_events", "Captured fapilog call")
    assert caplog_section == [
        "WARN  shop.api: card declined order_id=9 password='[REDACTED]' "
        "fapilog.redacted=['secret_key']"
    ]

    # Passing tests show nothing, anywhere.
    output = "\n".join(lines)
    assert "quiet success" not in output
    assert output.count("Captured fapilog call") == 2


@pytest.mark.once
def test_the_report_and_caplog_feed_can_be_switched_off(pytester: pytest.Pytester) -> None:
    """fapilog_report=false and fapilog_caplog=false leave pytest's reports as they were."""
    pytester.makeini("[pytest]\nfapilog_report = false\nfapilog_caplog = false\n")
    result = _run(pytester)
    result.assert_outcomes(failed=3, passed=1)  # the caplog tests now see no record
    assert "Captured fapilog call" not in "\n".join(result.outlines)
    result.stdout.fnmatch_lines(["*ValueError: not enough values to unpack*"])


_STUCK = """
import asyncio, time

import fapilog
from fapilog import Exporter, ExportResult


class Stuck(Exporter):
    name = "stuck"

    async def export(self, batch):
        await asyncio.sleep(3600)
        return ExportResult.success()


LEFT_BEHIND = []


def test_leaves_a_stuck_pipeline_behind():
    pipeline = fapilog.Pipeline(exporters=[Stuck()], schedule_delay_ms=1)
    pipeline.get_logger("x").info("never delivered")
    LEFT_BEHIND.append(pipeline)  # not shut down: still live for the next tests


def test_{n}_does_not_log():
    assert True
"""


@pytest.mark.once
def test_only_pipelines_the_test_logged_to_are_flushed(pytester: pytest.Pytester) -> None:
    """A stuck pipeline an earlier test left behind costs only that test the flush
    timeout, not every later test (they did not log to it)."""
    pytester.makeini("[pytest]\nfapilog_flush_timeout = 3\n")
    head, tail = _STUCK.split("def test_{n}_does_not_log")
    body = head + "".join(f"def test_{n}_does_not_log" + tail for n in range(5))
    pytester.makepyfile(test_stuck=body)
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "fapilog", "-p", "no:cacheprovider")
    elapsed = time.monotonic() - started
    result.assert_outcomes(passed=6)
    # One flush timeout (3 s, the test that logged) plus start-up, not six of them.
    assert elapsed < 12, elapsed


def test_caplog_sees_events_as_the_call_returns(caplog: pytest.LogCaptureFixture) -> None:
    """In this very suite: each event is in caplog.records before the next line runs."""
    log = fapilog.get_logger("svc")
    log.debug("ignored below the default level")
    log.info("paid", order_id=7)
    assert caplog.record_tuples == [("svc", logging.INFO, "paid")]
    log.error("refunded")
    assert [r.levelname for r in caplog.records] == ["INFO", "ERROR"]
    assert caplog.records[0].__dict__["order_id"] == 7


def test_caplog_level_applies_to_fapilog_events(caplog: pytest.LogCaptureFixture) -> None:
    """caplog.set_level raises the bar for fapilog events as for stdlib ones."""
    caplog.set_level(logging.WARNING)
    log = fapilog.get_logger("svc")
    log.info("below")
    log.warning("kept")
    assert [r.getMessage() for r in caplog.records] == ["kept"]


def test_a_capture_logs_block_feeds_caplog_too(caplog: pytest.LogCaptureFixture) -> None:
    """Events captured by capture_logs() inside a caplog test reach both."""
    from fapilog.testing import capture_logs

    with capture_logs() as logs:
        fapilog.get_logger("shop.audit").info("refund", order_id=7)
    assert logs.bodies == ["refund"]
    assert caplog.messages == ["refund"]


def test_without_caplog_events_are_exported_and_the_hot_path_stays_open() -> None:
    """A test without caplog logs to its exporters as usual, on the open hot path."""
    from support import RecordingExporter

    exporter = RecordingExporter()
    pipeline = fapilog.Pipeline(exporters=[exporter], schedule_delay_ms=5)
    try:
        intake = pipeline.intake
        assert intake.capacity == intake.limit > 0  # no capture: appends go straight in
        pipeline.get_logger("svc").info("exported")
        assert pipeline.flush(5)
        assert [e.body for e in exporter.events] == ["exported"]
        assert repr(pipeline.processors[-1]) == "<fapilog pytest observer>"
    finally:
        pipeline.shutdown(5)


def _event(severity: int, text: str, **attributes: object) -> LogEvent:
    return LogEvent(
        timestamp=1_700_000_000_123_456_789,
        severity_number=severity,
        severity_text=text,
        body="hello",
        attributes=dict(attributes),
    )


@pytest.mark.parametrize(
    ("severity", "level"),
    [(0, 0), (1, 5), (4, 5), (5, 10), (9, 20), (13, 30), (16, 30), (17, 40), (21, 50), (24, 50)],
)
def test_severity_numbers_map_to_stdlib_levels(severity: int, level: int) -> None:
    assert stdlib_level(severity) == level


def test_log_record_carries_level_name_message_time_and_attributes() -> None:
    """Attributes are record attributes unless the name is taken; all are in .attributes."""
    event = _event(1, "TRACE", order_id=7, name="clash", **{"exception.stacktrace": "Tb"})
    record = to_log_record(event)
    assert (record.levelno, record.levelname, record.name) == (5, "TRACE", "root")
    assert record.getMessage() == "hello"
    assert record.created == pytest.approx(1_700_000_000.123456789)
    assert record.msecs == 123
    assert record.order_id == 7  # type: ignore[attr-defined]
    assert record.name == "root"  # not overwritten by the attribute "name"
    assert record.attributes["name"] == "clash"  # type: ignore[attr-defined]
    assert record.fapilog_event is event  # type: ignore[attr-defined]
    assert record.exc_text == "Tb"
    assert logging.Formatter("%(message)s").format(record) == "hello\nTb"


def test_report_line_shows_level_logger_body_and_attributes() -> None:
    event = _event(13, "WARN", sku="a 1", n=2)
    assert format_event(event) == "WARN  root: hello sku='a 1' n=2"
