"""The HTTP exporter through a whole fapilog Pipeline: failures, retries, exact accounting."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

import fapilog
from fapilog._diagnostics import reporter
from fapilog.plugin import RetryPolicy
from fapilog_exporter_http import HTTPExporter
from http_sink_server import Hang, Reset, SinkServer, Status

TOKEN = "pipeline-token-61c0b9a8f7e6d5c4"


@pytest.fixture
def server() -> Iterator[SinkServer]:
    with SinkServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_reporter() -> Iterator[None]:
    reporter.reset()
    yield
    reporter.reset()


def pipeline_for(
    server: SinkServer, *, export_timeout_ms: int = 10_000, **options: object
) -> fapilog.Pipeline:
    values: dict[str, object] = {"url": server.url, "timeout": 2.0, **options}
    return fapilog.Pipeline(
        exporters=[HTTPExporter(**values)],  # type: ignore[arg-type]
        schedule_delay_ms=5,
        export_timeout_ms=export_timeout_ms,
        retry_initial_backoff_ms=10,
        retry_max_backoff_ms=50,
        service_name="checkout",
    )


def emit(pipeline: fapilog.Pipeline, n: int) -> None:
    log = pipeline.get_logger("shop.orders")
    for i in range(n):
        log.info("order %d paid", i, seq=i, note="n" * 100)


def stored(server: SinkServer) -> Counter[int]:
    return Counter(r["attributes"]["seq"] for r in server.records)


def assert_identity(stats: fapilog.PipelineStats) -> None:
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight


def test_a_failure_storm_loses_nothing_repeats_nothing_and_honours_retry_after(
    server: SinkServer,
) -> None:
    server.dedupe_header = "Idempotency-Key"
    server.script(
        Status(503),
        Status(429, (("Retry-After", "1"),)),
        Reset(),
        Hang(),
        Status(500),
        Reset(after_store=True),  # stored, answer lost: resent with the same key
        Status(502),
    )
    pipeline = pipeline_for(server, timeout=0.3, max_request_bytes=2048, compression="gzip")
    emit(pipeline, 200)
    assert pipeline.shutdown(timeout=15)
    stats = pipeline.stats()
    assert (stats.emitted, stats.exported, stats.dropped_total, stats.in_flight) == (200, 200, 0, 0)
    assert stats.exporters["http"].exported == 200
    assert stats.exporters["http"].retries == 7
    assert stored(server) == Counter(range(200))  # every event once
    second, third = server.requests[1:3]
    assert second.status == 429
    assert third.received_at - second.received_at >= 0.95  # Retry-After: 1 is a minimum


def test_a_lost_answer_without_idempotency_support_repeats_only_that_request(
    server: SinkServer,
) -> None:
    """At-least-once: the receiver stored the request but the answer never came back."""
    server.script(Reset(after_store=True))
    pipeline = pipeline_for(server, max_request_bytes=2048)
    emit(pipeline, 60)
    assert pipeline.shutdown(timeout=10)
    stats = pipeline.stats()
    assert (stats.exported, stats.dropped_total) == (60, 0)
    counts = stored(server)
    assert set(counts) == set(range(60))
    twice = {seq for seq, n in counts.items() if n == 2}
    assert max(counts.values()) == 2
    assert len(twice) == len(server.requests[0].records)  # exactly the first request


def test_a_body_limit_below_max_request_bytes_is_found_by_splitting(server: SinkServer) -> None:
    server.max_body = 1500
    pipeline = pipeline_for(server, max_request_bytes=64_000)
    emit(pipeline, 50)
    assert pipeline.shutdown(timeout=10)
    stats = pipeline.stats()
    assert (stats.exported, stats.dropped_total) == (50, 0)
    assert stored(server) == Counter(range(50))
    assert all(len(r.body) <= 1500 for r in server.requests if r.status == 200)


def test_a_refused_credential_is_counted_failed_and_reported_without_the_secret(
    server: SinkServer, capfd: pytest.CaptureFixture[str]
) -> None:
    server.script(*[Status(401, body=f'{{"error":"token {TOKEN} is revoked"}}')] * 5)
    pipeline = pipeline_for(server, bearer_token=TOKEN)
    emit(pipeline, 5)
    assert not pipeline.shutdown(timeout=10), "events were lost: shutdown() says so"
    stats = pipeline.stats()
    assert dict(stats.dropped) == {"export_failed": 5}
    assert stats.exporters["http"].retries == 0
    assert_identity(stats)
    assert reporter.flush(5)
    err = capfd.readouterr().err
    assert "HTTP 401" in err and "is revoked" in err
    assert TOKEN not in err


def test_the_retry_policy_option_bounds_the_attempts(server: SinkServer) -> None:
    server.script(*[Status(503)] * 50)
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_attempts=3)
    pipeline = pipeline_for(server, retry_policy=policy)
    emit(pipeline, 4)
    assert not pipeline.shutdown(timeout=10)
    stats = pipeline.stats()
    assert dict(stats.dropped) == {"export_retry_exhausted": 4}
    assert stats.exporters["http"].retries == 2
    assert len(server.requests) == 3
    assert_identity(stats)


def test_retries_give_up_at_the_export_timeout_and_count_the_loss(server: SinkServer) -> None:
    server.script(*[Status(503)] * 1000)
    pipeline = pipeline_for(server, export_timeout_ms=500)
    emit(pipeline, 4)
    assert not pipeline.shutdown(timeout=10), "events were lost: shutdown() says so"
    stats = pipeline.stats()
    assert stats.dropped_total == 4
    assert set(stats.dropped) <= {"export_retry_exhausted", "export_timeout"}
    assert_identity(stats)


def test_configured_by_name_with_options(server: SinkServer) -> None:
    pipeline = fapilog.configure(
        exporters={"http": {"url": server.url, "format": "json"}}, schedule_delay_ms=5
    )
    fapilog.get_logger("shop").info("by name", order_id=7)
    assert pipeline.shutdown(timeout=10)
    (record,) = server.records
    assert record["body"] == "by name" and record["attributes"]["order_id"] == 7
    assert server.requests[0].headers["content-type"] == "application/json"
    assert pipeline.stats().exporters["http"].exported == 1


def test_configured_by_name_from_the_environment(
    server: SinkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAPILOG_EXPORTERS", "http")
    monkeypatch.setenv("FAPILOG_HTTP_URL", server.url)
    monkeypatch.setenv("FAPILOG_HTTP_HEADERS", "X-Tenant=shop")
    pipeline = fapilog.configure(schedule_delay_ms=5)
    fapilog.get_logger("shop").info("from env")
    assert pipeline.shutdown(timeout=10)
    assert [r["body"] for r in server.records] == ["from env"]
    assert server.requests[0].headers["x-tenant"] == "shop"


def test_a_missing_url_by_name_is_an_error_naming_the_variable() -> None:
    with pytest.raises(fapilog.ConfigError, match="FAPILOG_HTTP_URL"):
        fapilog.configure(exporters=["http"])


def test_the_otel_log_record_exporter_builds_the_http_exporter_from_the_environment(
    server: SinkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fapilog_exporter_http import HTTPLogRecordExporter

    monkeypatch.setenv("FAPILOG_HTTP_URL", server.url)
    exporter = HTTPLogRecordExporter()
    assert isinstance(exporter.exporter, HTTPExporter)
    provider = LoggerProvider(resource=Resource({"service.name": "plain-otel"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("lib").emit(body="from the sdk", attributes={"k": "v"})
    provider.shutdown()
    (record,) = server.records
    assert record["body"] == "from the sdk" and record["attributes"] == {"k": "v"}
    assert record["service.name"] == "plain-otel"
