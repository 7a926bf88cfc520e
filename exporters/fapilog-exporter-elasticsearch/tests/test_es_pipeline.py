"""The exporter inside a real pipeline: faults retried, waited for, counted, never duplicated."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

import fapilog
from es_bulk_server import (
    TOO_MANY,
    UNAVAILABLE,
    DropAfterIndexing,
    EsBulkServer,
    Fault,
    ItemStatuses,
    Status,
)
from fapilog._diagnostics import reporter
from fapilog_exporter_elasticsearch import ElasticsearchExporter


@pytest.fixture
def server() -> Iterator[EsBulkServer]:
    with EsBulkServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_reporter() -> Iterator[None]:
    reporter.reset()
    yield
    reporter.reset()


def pipeline_for(
    server: EsBulkServer, *, export_timeout_ms: int = 20_000, **options: object
) -> fapilog.Pipeline:
    exporter = ElasticsearchExporter(url=server.url, timeout=5.0, **options)
    return fapilog.Pipeline(
        exporters=[exporter],
        schedule_delay_ms=5,
        export_timeout_ms=export_timeout_ms,
        service_name="checkout",
    )


def emit(pipeline: fapilog.Pipeline, n: int, **fields: object) -> None:
    log = pipeline.get_logger("shop.checkout")
    for i in range(n):
        log.info("event %d", i, seq=i, **fields)


def seqs(server: EsBulkServer) -> Counter[int]:
    return Counter(doc["attributes"]["seq"] for doc in server.documents())


def assert_identity(stats: fapilog.PipelineStats) -> None:
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight


def test_events_arrive_once_as_ecs_documents(server: EsBulkServer) -> None:
    pipeline = pipeline_for(server)
    emit(pipeline, 50, user="u1")
    assert pipeline.shutdown(timeout=10)
    stats = pipeline.stats()
    assert (stats.emitted, stats.exported, stats.dropped_total) == (50, 50, 0)
    assert seqs(server) == Counter(range(50))
    doc = server.documents()[0]
    assert doc["service"]["name"] == "checkout"
    assert doc["log"] == {"level": "INFO", "logger": "shop.checkout"}
    assert doc["message"] == "event 0"
    assert doc["attributes"]["user"] == "u1"


def test_a_429_storm_loses_nothing_and_duplicates_nothing(server: EsBulkServer) -> None:
    rng = random.Random(7)
    storm: list[Fault] = []
    for _ in range(2):
        positions = [0, *rng.sample(range(1, 120), 39)]  # 0: every fault hits
        storm.append(ItemStatuses({p: rng.choice((TOO_MANY, UNAVAILABLE)) for p in positions}))
        storm.append(Status(429, retry_after="0"))
    server.script(storm)
    pipeline = pipeline_for(server)
    emit(pipeline, 120)
    assert pipeline.shutdown(timeout=20)
    stats = pipeline.stats()
    assert (stats.exported, stats.dropped_total) == (120, 0)
    assert stats.exporters["elasticsearch"].retries >= 4
    assert seqs(server) == Counter(range(120))  # each exactly once
    assert_identity(stats)


def test_lost_responses_are_resent_without_duplicates(server: EsBulkServer) -> None:
    server.script([DropAfterIndexing(), DropAfterIndexing()])
    pipeline = pipeline_for(server)
    emit(pipeline, 30)
    assert pipeline.shutdown(timeout=10)
    stats = pipeline.stats()
    assert (stats.exported, stats.dropped_total) == (30, 0)
    assert seqs(server) == Counter(range(30))


def test_rejected_documents_are_counted_and_reported_once(
    server: EsBulkServer, capfd: pytest.CaptureFixture[str]
) -> None:
    server.reject_when(
        lambda doc: doc["attributes"]["seq"] % 10 == 0,
        400,
        "document_parsing_exception",
        "[1:80] failed to parse field [attributes.seq]",
    )
    pipeline = pipeline_for(server)
    emit(pipeline, 40)
    assert not pipeline.shutdown(timeout=10), "events were lost: shutdown() says so"
    stats = pipeline.stats()
    assert stats.exported == 36
    assert dict(stats.dropped) == {"export_rejected": 4}
    assert stats.exporters["elasticsearch"].retries == 0
    assert_identity(stats)
    assert reporter.flush(5)
    err = capfd.readouterr().err
    assert "document_parsing_exception" in err


@pytest.mark.parametrize(
    ("server_options", "expected"),
    [
        ({"api_key": "c2VjcmV0OmtleQ=="}, "HTTP 401"),
        ({"basic": ("a", "b"), "forbidden": True}, "HTTP 403"),
    ],
)
def test_auth_failures_drop_the_batch_without_retrying(
    server_options: dict[str, object], expected: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with EsBulkServer(**server_options) as server:  # type: ignore[arg-type]
        options = {"username": "a", "password": "b"} if "basic" in server_options else {}
        pipeline = pipeline_for(server, **options)
        emit(pipeline, 5)
        assert not pipeline.shutdown(timeout=10), "events were lost: shutdown() says so"
    stats = pipeline.stats()
    assert dict(stats.dropped) == {"export_failed": 5}
    assert stats.exporters["elasticsearch"].retries == 0
    assert reporter.flush(5)
    assert expected in capfd.readouterr().err


def test_cluster_down_then_up_delivers_everything(server: EsBulkServer) -> None:
    server.stop()
    pipeline = pipeline_for(server)
    emit(pipeline, 10)
    give_up = time.monotonic() + 10
    while pipeline.stats().exporters["elasticsearch"].retries < 1:
        assert time.monotonic() < give_up, "the exporter never tried"
        time.sleep(0.01)
    server.start()
    assert pipeline.shutdown(timeout=15)
    stats = pipeline.stats()
    assert (stats.exported, stats.dropped_total) == (10, 0)
    assert seqs(server) == Counter(range(10))


def test_whole_request_retry_after_is_a_minimum(server: EsBulkServer) -> None:
    server.script([Status(429, retry_after="1")])
    pipeline = pipeline_for(server)
    emit(pipeline, 5)
    assert pipeline.shutdown(timeout=10)
    first, second = server.requests[:2]
    assert second.received_at - first.received_at >= 0.95
    assert pipeline.stats().exported == 5


def test_registered_by_name_and_configured_from_the_environment(
    server: EsBulkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAPILOG_ELASTICSEARCH_URL", server.url)
    monkeypatch.setenv("FAPILOG_ELASTICSEARCH_NAMESPACE", "prod")
    pipeline = fapilog.Pipeline(exporters=["elasticsearch"], schedule_delay_ms=5)
    emit(pipeline, 3)
    assert pipeline.shutdown(timeout=10)
    assert pipeline.stats().exported == 3
    assert len(server.documents("logs-generic-prod")) == 3


def test_by_name_without_a_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAPILOG_ELASTICSEARCH_URL", raising=False)
    with pytest.raises(fapilog.ConfigError, match="FAPILOG_ELASTICSEARCH_URL"):
        fapilog.Pipeline(exporters=["elasticsearch"])


def test_otel_log_record_exporter_builds_this_exporter(
    server: EsBulkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fapilog.otel")
    from opentelemetry.sdk._configuration import _import_exporters
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    from fapilog_exporter_elasticsearch import ElasticsearchLogRecordExporter

    # What OTEL_LOGS_EXPORTER=elasticsearch makes the SDK configurator load.
    _, _, logs = _import_exporters([], [], ["elasticsearch"])
    assert logs == {"elasticsearch": ElasticsearchLogRecordExporter}

    monkeypatch.setenv("FAPILOG_ELASTICSEARCH_URL", server.url)
    exporter = ElasticsearchLogRecordExporter()
    try:
        assert isinstance(exporter.exporter, ElasticsearchExporter)
        assert exporter.exporter.options.url == server.url
        provider = LoggerProvider()
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        provider.get_logger("otel.plain").emit(body="from the OTel SDK", severity_text="INFO")
        (doc,) = server.documents()
        assert doc["message"] == "from the OTel SDK"
        assert doc["log"]["logger"] == "otel.plain"
    finally:
        exporter.shutdown()


def test_export_runs_on_the_pipeline_thread_not_the_caller(server: EsBulkServer) -> None:
    """log.info returns at once even while the cluster stalls every request."""
    gate = threading.Event()
    original = server.handle_bulk

    def stalled(*args):  # type: ignore[no-untyped-def]
        gate.wait(5)
        return original(*args)

    server.handle_bulk = stalled  # type: ignore[method-assign]
    pipeline = pipeline_for(server)
    emit(pipeline, 20)  # would block (and fail the test by timeout) if it did I/O
    gate.set()
    assert pipeline.shutdown(timeout=10)
    assert pipeline.stats().exported == 20
