"""The syslog exporter inside a real pipeline, by name from the registry, and under OTel."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import fapilog
from fapilog_exporter_siem import SyslogExporter
from rsyslog_receiver import Rsyslog, free_port


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    with Rsyslog(tmp_path) as receiver:
        yield receiver


def assert_identity(stats: fapilog.PipelineStats) -> None:
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight


def test_pipeline_delivers_every_event_and_counts_it(rsyslog: Rsyslog) -> None:
    exporter = SyslogExporter(host="127.0.0.1", port=rsyslog.tcp_port, transport="tcp")
    pipeline = fapilog.Pipeline(exporters=[exporter], schedule_delay_ms=5, service_name="shop")
    log = pipeline.get_logger("shop.orders")
    for i in range(40):
        log.info("order %d paid", i, order_id=i, note='say "hi" ]')
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        log.exception("pricing failed")
    assert pipeline.shutdown(timeout=10)
    stats = pipeline.stats()
    assert (stats.emitted, stats.exported, stats.dropped_total) == (41, 41, 0)
    assert_identity(stats)
    records = rsyslog.wait_for(41)
    assert len(records) == 41
    paid = [r for r in records if r["msg"].startswith("order ")]
    assert sorted(int(r["sd"]["fapilog.attrs@32473"]["order_id"]) for r in paid) == list(range(40))
    assert {r["app_name"] for r in records} == {"shop"}
    assert all(r["sd"]["fapilog.attrs@32473"]["note"] == 'say "hi" ]' for r in paid)
    (failed,) = [r for r in records if r["msg"] == "pricing failed"]
    assert int(failed["pri"]) % 8 == 3  # error
    attrs = failed["sd"]["fapilog.attrs@32473"]
    assert attrs["exception.type"] == "ZeroDivisionError"
    assert "Traceback" in attrs["exception.stacktrace"]


def test_pipeline_retries_until_the_receiver_comes_up(tmp_path: Path) -> None:
    port = free_port()
    exporter = SyslogExporter(host="127.0.0.1", port=port, transport="tcp")
    pipeline = fapilog.Pipeline(exporters=[exporter], schedule_delay_ms=5, export_timeout_ms=20_000)
    log = pipeline.get_logger("faults")
    for i in range(15):
        log.warning("event %d", i, seq=i)
    failed_once = threading.Event()

    def wait_for_failure() -> None:
        while exporter.stats().connect_failures == 0:
            failed_once.wait(0.01)
        failed_once.set()

    waiter = threading.Thread(target=wait_for_failure, daemon=True)
    waiter.start()
    waiter.join(10)
    assert failed_once.is_set()
    with Rsyslog(tmp_path, tcp_port=port) as receiver:
        assert pipeline.shutdown(timeout=20)
        records = receiver.wait_for(15)
    stats = pipeline.stats()
    assert (stats.emitted, stats.exported, stats.dropped_total) == (15, 15, 0)
    assert stats.exporters["syslog"].retries >= 1
    assert sorted(int(r["sd"]["fapilog.attrs@32473"]["seq"]) for r in records) == list(range(15))


def test_pipeline_counts_events_it_gave_up_on() -> None:
    exporter = SyslogExporter(host="127.0.0.1", port=free_port(), transport="tcp", timeout=1)
    pipeline = fapilog.Pipeline(exporters=[exporter], schedule_delay_ms=5, export_timeout_ms=800)
    log = pipeline.get_logger("faults")
    for i in range(6):
        log.info("event %d", i)
    assert not pipeline.shutdown(timeout=10), "events were lost: shutdown() says so"
    stats = pipeline.stats()
    assert stats.exported == 0
    # Which of the two give-up reasons applies depends on where the 0.8 s deadline
    # falls: between two attempts (retries exhausted) or during one (timeout). On a
    # loaded machine a refused connect can take long enough for either.
    assert stats.dropped_total == 6
    assert set(stats.dropped) <= {"export_retry_exhausted", "export_timeout"}
    assert_identity(stats)


def test_registry_builds_the_exporter_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, rsyslog: Rsyslog
) -> None:
    monkeypatch.setenv("FAPILOG_SYSLOG_HOST", "127.0.0.1")
    monkeypatch.setenv("FAPILOG_SYSLOG_PORT", str(rsyslog.tcp_port))
    monkeypatch.setenv("FAPILOG_SYSLOG_TRANSPORT", "tcp")
    monkeypatch.setenv("FAPILOG_SYSLOG_FORMAT", "cef")
    pipeline = fapilog.Pipeline(exporters=["syslog"], schedule_delay_ms=5)
    (exporter,) = pipeline.exporters
    assert isinstance(exporter, SyslogExporter)
    assert exporter.options.format == "cef"
    pipeline.get_logger("x").info("by name")
    assert pipeline.shutdown(timeout=10)
    (record,) = rsyslog.wait_for(1)
    assert record["msg"].startswith("CEF:0|fapilog|")


def test_registry_without_host_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAPILOG_SYSLOG_HOST", raising=False)
    with pytest.raises(fapilog.ConfigError, match="FAPILOG_SYSLOG_HOST is not set"):
        fapilog.Pipeline(exporters=["syslog"])


def test_otel_log_record_exporter_builds_the_syslog_exporter(
    monkeypatch: pytest.MonkeyPatch, rsyslog: Rsyslog
) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    from fapilog_exporter_siem import SyslogLogRecordExporter

    monkeypatch.setenv("FAPILOG_SYSLOG_HOST", "127.0.0.1")
    monkeypatch.setenv("FAPILOG_SYSLOG_PORT", str(rsyslog.tcp_port))
    monkeypatch.setenv("FAPILOG_SYSLOG_TRANSPORT", "tcp")
    otel_exporter = SyslogLogRecordExporter()
    assert isinstance(otel_exporter.exporter, SyslogExporter)
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(otel_exporter))
    provider.get_logger("plain.otel").emit(body="from the OTel SDK", attributes={"k": "v"})
    provider.shutdown()
    (record,) = rsyslog.wait_for(1)
    assert record["msg"] == "from the OTel SDK"
    assert record["sd"]["fapilog.attrs@32473"] == {"k": "v"}
    assert record["sd"]["fapilog@32473"]["logger"] == "plain.otel"
