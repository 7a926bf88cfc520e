"""User-facing test helpers: capture_logs and the pytest plugin fixtures."""

from __future__ import annotations

import asyncio
import threading

import pytest

import fapilog
from fapilog.testing import capture_logs

pytest_plugins = ["pytester"]


def test_capture_logs_sees_processed_events_synchronously() -> None:
    """Events are available as soon as the call returns, with bound context applied."""
    log = fapilog.get_logger("svc")
    with capture_logs() as logs, fapilog.bind_context(request_id="r1"):
        log.info("paid", order_id=7)
        assert logs[0].body == "paid"
    assert logs.as_dicts() == [
        {
            "body": "paid",
            "severity_text": "INFO",
            "logger": "svc",
            "order_id": 7,
            "request_id": "r1",
        }
    ]


def test_captured_events_are_not_exported_or_counted() -> None:
    """Captured events do not reach exporters and are not in stats()."""
    from support import RecordingExporter

    exporter = RecordingExporter()
    fapilog.configure(exporters=[exporter])
    log = fapilog.get_logger("svc")
    with capture_logs() as logs:
        log.info("captured")
    log.info("exported")
    assert fapilog.flush(5)
    assert logs.bodies == ["captured"]
    assert [e.body for e in exporter.events] == ["exported"]
    assert fapilog.stats().emitted == 1


async def test_concurrent_captures_do_not_see_each_other() -> None:
    """Two tasks capturing at the same time each get only their own events."""
    log = fapilog.get_logger("svc")
    gate = asyncio.Event()

    async def task(name: str) -> list[object]:
        with capture_logs() as logs:
            await gate.wait()
            for i in range(5):
                log.info(name, i=i)
                await asyncio.sleep(0)
        return logs.bodies

    a = asyncio.create_task(task("a"))
    b = asyncio.create_task(task("b"))
    await asyncio.sleep(0)
    gate.set()
    assert await a == ["a"] * 5
    assert await b == ["b"] * 5


def test_other_threads_are_not_captured() -> None:
    """A thread that did not inherit the capture context logs normally."""
    from support import RecordingExporter

    exporter = RecordingExporter()
    fapilog.configure(exporters=[exporter])
    log = fapilog.get_logger("svc")
    with capture_logs() as logs:
        thread = threading.Thread(target=log.info, args=("from-thread",))
        thread.start()
        thread.join()
        log.info("from-test")
    assert fapilog.flush(5)
    assert logs.bodies == ["from-test"]
    assert [e.body for e in exporter.events] == ["from-thread"]


def test_capture_applies_to_explicit_pipelines_and_is_removed_afterwards() -> None:
    """Loggers of other pipelines are captured too, and unhooked after the block."""
    from support import RecordingExporter

    exporter = RecordingExporter()
    pipeline = fapilog.Pipeline(exporters=[exporter])
    log = pipeline.get_logger("own")
    with capture_logs() as logs:
        log.warning("captured")
    log.warning("exported")
    assert pipeline.flush(5)
    assert logs.bodies == ["captured"]
    assert [e.body for e in exporter.events] == ["exported"]
    assert "_enqueue" not in vars(pipeline)
    pipeline.shutdown()


@pytest.mark.once
def test_pytest_plugin_fixtures_are_registered(pytester: pytest.Pytester) -> None:
    """The pytest11 entry point provides fapilog_logs and fapilog_pipeline fixtures."""
    pytester.makepyfile(
        """
        import fapilog

        def test_logs(fapilog_logs):
            fapilog.get_logger("t").info("hello", n=1)
            assert fapilog_logs[0].attributes == {"n": 1}

        def test_pipeline(fapilog_pipeline):
            fapilog_pipeline.get_logger("t").error("boom")
            assert fapilog_pipeline.flush(5)
            assert [e.body for e in fapilog_pipeline.exporters[0].events] == ["boom"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "fapilog", "-q")
    result.assert_outcomes(passed=2)


@pytest.mark.e2e
def test_collector_fixture_receives_what_a_pipeline_ships(fapilog_collector) -> None:
    from fapilog.exporters.otlp import OTLPExporter

    pipeline = fapilog.Pipeline(
        exporters=[OTLPExporter(endpoint=fapilog_collector.grpc_endpoint)],
        service_name="fixture-test",
    )
    pipeline.get_logger("app").warning("disk almost full", free_mb=12)
    assert pipeline.shutdown(timeout=10)
    assert fapilog_collector.wait_for(1, timeout=10) == 1
    (record,) = fapilog_collector.records()
    assert (record.body, record.severity_text) == ("disk almost full", "WARN")
    assert record.attributes == {"free_mb": 12}
    assert record.resource_attributes["service.name"] == "fixture-test"
