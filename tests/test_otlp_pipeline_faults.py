"""OTLP faults seen through the whole pipeline: what gets retried, waited for, dropped, counted.

The exporter tests (``tests/exporters/test_otlp_*.py``) check how one export attempt
classifies each answer. These tests drive a real :class:`~fapilog.Pipeline` with the OTLP
exporter against the fault-injecting server, over both protocols, and check the
pipeline's side of the contract: retries happen (and only for retryable answers), the
server's requested delay is honoured, rejected records are counted and not retried,
oversized requests are split or dropped, and the accounting identity holds throughout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest

import fapilog
from fapilog._diagnostics import reporter
from fapilog.exporters.otlp import OTLPExporter
from otlp_fault_server import Fail, FaultServer, HttpStatus, Ok, Partial

PROTOCOLS = ["grpc", "http/protobuf"]


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_reporter() -> Iterator[None]:
    reporter.reset()
    yield
    reporter.reset()


def pipeline_for(
    server: FaultServer, protocol: str, *, export_timeout_ms: int = 10_000, **options: object
) -> fapilog.Pipeline:
    endpoint = server.grpc_endpoint if protocol == "grpc" else server.http_logs_endpoint
    exporter = OTLPExporter(endpoint=endpoint, protocol=protocol, timeout=5.0, **options)
    return fapilog.Pipeline(
        exporters=[exporter],
        schedule_delay_ms=5,
        export_timeout_ms=export_timeout_ms,
        service_name="faults",
    )


def emit(pipeline: fapilog.Pipeline, n: int, **fields: object) -> None:
    log = pipeline.get_logger("faults")
    for i in range(n):
        log.info("event %d", i, seq=i, **fields)


def transient(protocol: str, delay: float | None = None) -> Fail | HttpStatus:
    if protocol == "grpc":
        return Fail(grpc.StatusCode.UNAVAILABLE, retry_info=delay)
    return HttpStatus(503, retry_after=None if delay is None else f"{delay:g}")


def finish(pipeline: fapilog.Pipeline) -> None:
    """Shut down a pipeline that lost events on purpose; everything must be settled."""
    pipeline.shutdown(timeout=10)
    assert pipeline.stats().in_flight == 0


def assert_identity(stats: fapilog.PipelineStats) -> None:
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_transient_failures_are_retried_until_delivered(server: FaultServer, protocol: str) -> None:
    server.script([transient(protocol), transient(protocol), Ok()])
    pipeline = pipeline_for(server, protocol)
    emit(pipeline, 20)
    assert pipeline.shutdown(timeout=10)
    stats = pipeline.stats()
    assert (stats.emitted, stats.exported, stats.dropped_total) == (20, 20, 0)
    assert stats.exporters["otlp"].retries == 2
    counts = [r.log_record_count for r in server.requests]
    assert counts == [20, 20, 20]  # the same batch, re-sent whole
    assert [r.body for r in server.requests[2].log_records] == [
        r.body for r in server.requests[0].log_records
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_server_requested_delay_is_a_minimum(server: FaultServer, protocol: str) -> None:
    """RetryInfo (gRPC) and Retry-After (HTTP) hold the retry back at least that long."""
    server.script([transient(protocol, delay=1), Ok()])
    pipeline = pipeline_for(server, protocol)
    emit(pipeline, 5)
    assert pipeline.shutdown(timeout=10)
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.95
    assert pipeline.stats().exported == 5


def test_resource_exhausted_without_retry_info_is_not_retried(server: FaultServer) -> None:
    server.script([Fail(grpc.StatusCode.RESOURCE_EXHAUSTED, message="over quota")])
    pipeline = pipeline_for(server, "grpc")
    emit(pipeline, 8)
    finish(pipeline)  # drops: shutdown() reports the loss
    stats = pipeline.stats()
    assert stats.exported == 0
    assert dict(stats.dropped) == {"export_failed": 8}
    assert len(server.requests) == 1


def test_resource_exhausted_with_retry_info_is_retried(server: FaultServer) -> None:
    server.script([Fail(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_info=0.2), Ok()])
    pipeline = pipeline_for(server, "grpc")
    emit(pipeline, 8)
    assert pipeline.shutdown(timeout=10)
    assert pipeline.stats().exported == 8
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("protocol", "answer"),
    [
        ("grpc", Fail(grpc.StatusCode.INVALID_ARGUMENT, message="bad request")),
        ("grpc", Fail(grpc.StatusCode.UNAUTHENTICATED, message="no token")),
        ("http/protobuf", HttpStatus(400)),
        ("http/protobuf", HttpStatus(401)),
        ("http/protobuf", HttpStatus(500)),
    ],
)
def test_permanent_failures_are_dropped_with_their_reason(
    server: FaultServer, protocol: str, answer: Fail | HttpStatus, capfd: pytest.CaptureFixture[str]
) -> None:
    server.script([answer])
    pipeline = pipeline_for(server, protocol)
    emit(pipeline, 6)
    finish(pipeline)  # drops: shutdown() reports the loss
    stats = pipeline.stats()
    assert dict(stats.dropped) == {"export_failed": 6}
    assert stats.exporters["otlp"].retries == 0
    assert len(server.requests) == 1
    assert reporter.flush(5)
    assert "exporter 'otlp': export failed" in capfd.readouterr().err


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_partial_success_counts_rejected_and_reports_the_message_once(
    server: FaultServer, protocol: str, capfd: pytest.CaptureFixture[str]
) -> None:
    server.script([Partial(3, "attribute too long"), Partial(2, "attribute too long")])
    pipeline = pipeline_for(server, protocol)
    emit(pipeline, 10)
    assert pipeline.flush(timeout=10)
    emit(pipeline, 10)
    finish(pipeline)  # drops: shutdown() reports the loss
    stats = pipeline.stats()
    assert stats.emitted == 20
    assert stats.exported == 15
    assert dict(stats.dropped) == {"export_rejected": 5}
    assert len(server.requests) == 2  # rejected records are not re-sent
    assert_identity(stats)
    assert reporter.flush(5)
    err = capfd.readouterr().err
    exporter_lines = [line for line in err.splitlines() if line.startswith("fapilog: exporter")]
    assert sum("attribute too long" in line for line in exporter_lines) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_batches_over_the_byte_limit_are_split(server: FaultServer, protocol: str) -> None:
    pipeline = pipeline_for(server, protocol, max_request_bytes=16 * 1024)
    emit(pipeline, 200, padding="x" * 400)
    assert pipeline.shutdown(timeout=10)
    assert pipeline.stats().exported == 200
    assert server.record_count == 200
    assert len(server.requests) > 4
    assert all(r.request.ByteSize() <= 16 * 1024 for r in server.requests)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_record_too_big_for_any_request_is_dropped_and_counted(
    server: FaultServer, protocol: str
) -> None:
    pipeline = pipeline_for(server, protocol, max_request_bytes=4096)
    log = pipeline.get_logger("faults")
    log.info("small")
    log.info("huge", blob="y" * 10_000)
    log.info("small again")
    finish(pipeline)  # drops: shutdown() reports the loss
    stats = pipeline.stats()
    assert stats.exported == 2
    assert dict(stats.dropped) == {"export_rejected": 1}
    bodies = [r.body.string_value for req in server.requests for r in req.log_records]
    assert bodies == ["small", "small again"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retries_give_up_at_the_export_timeout(server: FaultServer, protocol: str) -> None:
    server.script([transient(protocol)] * 1000)
    pipeline = pipeline_for(server, protocol, export_timeout_ms=1500)
    emit(pipeline, 4)
    finish(pipeline)  # drops: shutdown() reports the loss
    stats = pipeline.stats()
    # The deadline falls between two attempts (retries exhausted) or, on a loaded
    # machine, during one (timeout): either way every event is counted as lost.
    assert stats.dropped_total == 4
    assert set(stats.dropped) <= {"export_retry_exhausted", "export_timeout"}
    assert stats.exporters["otlp"].retries >= 2
    span = server.requests[-1].received_at - server.requests[0].received_at
    assert span < 1.5


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_failed_attempt_is_reported_at_once_and_still_retried(
    server: FaultServer, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first failure is said before the retry, not when 30 s of retries run out;
    retries and delivery are unchanged."""
    said: list[tuple[float, str, str]] = []
    original = reporter.report

    def record(key: str, message: str) -> None:
        said.append((time.monotonic(), key, message))
        original(key, message)

    monkeypatch.setattr(reporter, "report", record)
    server.script([transient(protocol), transient(protocol), transient(protocol), Ok()])
    pipeline = pipeline_for(server, protocol, export_timeout_ms=30_000)
    emit(pipeline, 5)
    assert pipeline.shutdown(timeout=10)
    stats = pipeline.stats()
    assert (stats.exported, stats.exporters["otlp"].retries) == (5, 3)
    retrying = [(at, key, message) for at, key, message in said if key.startswith("retrying:")]
    assert retrying, said
    first_at, _, message = retrying[0]
    assert first_at < server.requests[1].received_at  # before the first retry went out
    assert message.startswith("exporter 'otlp': export failed, retrying for up to 30s: ")
    assert len({key for _, key, _ in retrying}) == 1  # one cause, one rate-limit key


def test_each_distinct_cause_gets_its_own_line(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports are rate-limited per key; a new cause has a new key, so it is printed
    at once even while the first cause is being suppressed."""
    said: list[tuple[str, str]] = []
    original = reporter.report

    def record(key: str, message: str) -> None:
        said.append((key, message))
        original(key, message)

    monkeypatch.setattr(reporter, "report", record)
    server.script(
        [
            Fail(grpc.StatusCode.UNAVAILABLE, message="first cause"),
            Fail(grpc.StatusCode.UNAVAILABLE, message="second cause"),
            Fail(grpc.StatusCode.UNAVAILABLE, message="first cause"),
            Fail(grpc.StatusCode.UNAVAILABLE, message="second cause"),
            Ok(),
        ]
    )
    pipeline = pipeline_for(server, "grpc")
    emit(pipeline, 3)
    assert pipeline.shutdown(timeout=10)
    retrying = [(key, message) for key, message in said if key.startswith("retrying:")]
    assert [message.rpartition(": ")[2] for _, message in retrying] == [
        "first cause",
        "second cause",
        "first cause",
        "second cause",
    ]
    first, second, again, _ = (key for key, _ in retrying)
    assert first != second
    assert again == first
