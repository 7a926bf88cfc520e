"""Splunk HEC through a whole fapilog Pipeline: delivered and dropped counts, retries, outages."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import fapilog
from fapilog._diagnostics import reporter
from fapilog_exporter_splunk import SplunkHECExporter
from splunk_hec_server import ACK_TOKEN, TOKEN, Busy, HECServer, TooMany


@pytest.fixture
def server() -> Iterator[HECServer]:
    with HECServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_reporter() -> Iterator[None]:
    reporter.reset()
    yield
    reporter.reset()


def pipeline_for(
    server: HECServer, *, export_timeout_ms: int = 10_000, **options: object
) -> fapilog.Pipeline:
    values: dict[str, object] = {"url": server.url, "token": TOKEN, "timeout": 5.0, **options}
    return fapilog.Pipeline(
        exporters=[SplunkHECExporter(**values)],  # type: ignore[arg-type]
        schedule_delay_ms=5,
        export_timeout_ms=export_timeout_ms,
        service_name="checkout",
    )


def emit(pipeline: fapilog.Pipeline, n: int, **fields: object) -> None:
    log = pipeline.get_logger("shop.orders")
    for i in range(n):
        log.info("order %d paid", i, seq=i, **fields)


def assert_identity(stats: fapilog.PipelineStats) -> None:
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_logger_calls_arrive_as_envelopes_with_trace_context_and_service_name(
    server: HECServer,
) -> None:
    pipeline = pipeline_for(server, index="main", sourcetype="_json")
    log = pipeline.get_logger("shop.orders")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("checkout") as span:
        log.info("order paid", order_id=7)
        log.warning("slow payment", duration_ms=1200.5)
    assert pipeline.shutdown(timeout=10)
    stats = pipeline.stats()
    assert (stats.emitted, stats.exported, stats.dropped_total) == (2, 2, 0)
    ctx = span.get_span_context()
    first, second = server.events
    assert first["index"] == "main" and first["sourcetype"] == "_json"
    assert first["event"]["body"] == "order paid"
    assert first["event"]["logger"] == "shop.orders"
    assert first["event"]["attributes"]["order_id"] == 7
    assert second["event"]["severity_text"] == "WARN"
    assert first["fields"]["trace_id"] == format(ctx.trace_id, "032x")
    assert first["fields"]["span_id"] == format(ctx.span_id, "016x")
    assert first["fields"]["service.name"] == "checkout"
    assert first["fields"]["severity"] == "INFO"
    assert first["time"] <= second["time"]


def test_the_exporter_is_available_by_name_from_the_environment(
    server: HECServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAPILOG_SPLUNK_URL", server.url)
    monkeypatch.setenv("FAPILOG_SPLUNK_TOKEN", TOKEN)
    monkeypatch.setenv("FAPILOG_SPLUNK_INDEX", "logs")
    pipeline = fapilog.Pipeline(exporters=["splunk_hec"], schedule_delay_ms=5)
    emit(pipeline, 3)
    assert pipeline.shutdown(timeout=10)
    assert pipeline.stats().exporters["splunk_hec"].exported == 3
    assert {e["index"] for e in server.events} == {"logs"}


def test_a_server_down_then_up_gets_everything_after_it_returns(server: HECServer) -> None:
    server.stop()
    pipeline = pipeline_for(server)
    emit(pipeline, 20)
    wait_for(lambda: pipeline.stats().exporters["splunk_hec"].retries >= 1)
    server.start()
    assert pipeline.shutdown(timeout=15)
    stats = pipeline.stats()
    assert (stats.emitted, stats.exported, stats.dropped_total) == (20, 20, 0)
    assert sorted(e["event"]["attributes"]["seq"] for e in server.events) == list(range(20))


def test_a_busy_storm_is_retried_honouring_retry_after_without_loss(server: HECServer) -> None:
    server.script([Busy(retry_after="1"), Busy(), TooMany(), Busy()])
    pipeline = pipeline_for(server)
    emit(pipeline, 30)
    assert pipeline.shutdown(timeout=15)
    stats = pipeline.stats()
    assert (stats.exported, stats.dropped_total) == (30, 0)
    assert stats.exporters["splunk_hec"].retries == 4
    first, second = server.data_requests()[:2]
    assert second.received_at - first.received_at >= 0.95  # Retry-After: 1 honoured
    assert sorted(e["event"]["attributes"]["seq"] for e in server.events) == list(range(30))


def test_an_index_hec_refuses_is_counted_as_rejected_and_not_retried(server: HECServer) -> None:
    pipeline = pipeline_for(server, index="forbidden")
    emit(pipeline, 6)
    assert not pipeline.shutdown(timeout=10), "events were lost: shutdown() says so"
    stats = pipeline.stats()
    assert dict(stats.dropped) == {"export_rejected": 6}
    assert stats.exporters["splunk_hec"].retries == 0
    assert len(server.requests) == 1
    assert_identity(stats)


def test_a_refused_token_is_counted_as_failed_and_reported_without_the_secret(
    server: HECServer, capfd: pytest.CaptureFixture[str]
) -> None:
    pipeline = pipeline_for(server, token="1234abcd-0000-0000-0000-unknowntoken")
    emit(pipeline, 5)
    assert not pipeline.shutdown(timeout=10), "events were lost: shutdown() says so"
    stats = pipeline.stats()
    assert dict(stats.dropped) == {"export_failed": 5}
    assert stats.exporters["splunk_hec"].retries == 0
    assert reporter.flush(5)
    err = capfd.readouterr().err
    assert "HTTP 403, HEC code 4: Invalid token" in err
    assert "unknowntoken" not in err


def test_an_oversized_record_is_dropped_and_counted_while_the_rest_arrive(
    server: HECServer,
) -> None:
    pipeline = pipeline_for(server, max_request_bytes=4096)
    log = pipeline.get_logger("shop")
    log.info("small")
    log.info("huge", blob="z" * 10_000)
    log.info("small again")
    assert not pipeline.shutdown(timeout=10), "events were lost: shutdown() says so"
    stats = pipeline.stats()
    assert stats.exported == 2
    assert dict(stats.dropped) == {"export_rejected": 1}
    assert [e["event"]["body"] for e in server.events] == ["small", "small again"]


def test_with_indexer_ack_events_count_as_exported_once_acknowledged(server: HECServer) -> None:
    server.ack_lag = 1
    pipeline = pipeline_for(
        server, token=ACK_TOKEN, ack=True, ack_poll_interval=0.02, max_request_bytes=2048
    )
    emit(pipeline, 40, note="n" * 200)
    assert pipeline.shutdown(timeout=15)
    stats = pipeline.stats()
    assert (stats.exported, stats.dropped_total) == (40, 0)
    assert server.ack_requests()
    assert sorted(e["event"]["attributes"]["seq"] for e in server.events) == list(range(40))


def test_retries_give_up_at_the_pipeline_export_timeout_and_count_the_loss(
    server: HECServer,
) -> None:
    server.script([Busy()] * 1000)
    pipeline = pipeline_for(server, export_timeout_ms=800)
    emit(pipeline, 4)
    assert not pipeline.shutdown(timeout=10), "events were lost: shutdown() says so"
    stats = pipeline.stats()
    # The deadline falls between two attempts (retries exhausted) or, on a loaded
    # machine, during one (timeout): either way every event is counted as lost.
    assert stats.dropped_total == 4
    assert set(stats.dropped) <= {"export_retry_exhausted", "export_timeout"}
    assert_identity(stats)


def test_the_otel_log_record_exporter_builds_the_splunk_exporter_from_the_environment(
    server: HECServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fapilog_exporter_splunk import SplunkHECLogRecordExporter

    monkeypatch.setenv("FAPILOG_SPLUNK_URL", server.url)
    monkeypatch.setenv("FAPILOG_SPLUNK_TOKEN", TOKEN)
    exporter = SplunkHECLogRecordExporter()
    assert isinstance(exporter.exporter, SplunkHECExporter)
    provider = LoggerProvider(resource=Resource({"service.name": "plain-otel"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("lib").emit(body="from the sdk", attributes={"k": "v"})
    provider.shutdown()
    (envelope,) = server.events
    assert envelope["event"]["body"] == "from the sdk"
    assert envelope["fields"]["service.name"] == "plain-otel"
