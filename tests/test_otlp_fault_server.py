"""FaultServer: the scripted OTLP receiver answers and records exactly as scripted."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from otlp_fault_server import Fail, FaultServer, Hang, HttpStatus, Ok, Partial

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.sdk._logs.export import LogRecordExporter


def emit(exporter: LogRecordExporter, *bodies: str) -> None:
    """Export one record per body synchronously through the OTel SDK."""
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("fault-test")
    for body in bodies:
        logger.emit(LogRecord(body=body))
    provider.shutdown()


def export_request(
    records: int = 1, body: str = "hello"
) -> logs_service_pb2.ExportLogsServiceRequest:
    """An ExportLogsServiceRequest carrying ``records`` identical records."""
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                scope_logs=[
                    logs_pb2.ScopeLogs(
                        log_records=[
                            logs_pb2.LogRecord(body=common_pb2.AnyValue(string_value=body))
                            for _ in range(records)
                        ]
                    )
                ]
            )
        ]
    )


@pytest.fixture
def stub(otlp_fault_server: FaultServer) -> Iterator[logs_service_pb2_grpc.LogsServiceStub]:
    """A raw gRPC client for the fault server."""
    with grpc.insecure_channel(otlp_fault_server.grpc_target) as channel:
        yield logs_service_pb2_grpc.LogsServiceStub(channel)


def post(server: FaultServer, content: bytes, **headers: str) -> httpx.Response:
    headers.setdefault("content-type", "application/x-protobuf")
    return httpx.post(server.http_logs_endpoint, content=content, headers=headers, timeout=10)


class TestGrpc:
    def test_a_request_is_recorded_decoded_with_its_metadata(
        self, otlp_fault_server: FaultServer
    ) -> None:
        """The SDK exporter's request, headers and size are recorded; Ok is the default."""
        exporter = GrpcLogExporter(
            endpoint=otlp_fault_server.grpc_endpoint, insecure=True, headers={"x-api-key": "k1"}
        )
        emit(exporter, "one", "two")

        first, second = otlp_fault_server.requests
        assert first.protocol == "grpc"
        assert first.path == "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
        assert [r.body.string_value for r in first.log_records + second.log_records] == [
            "one",
            "two",
        ]
        assert first.headers["x-api-key"] == "k1"
        assert "OTel-OTLP-Exporter-Python" in first.headers["user-agent"]
        assert first.body_size == first.request.ByteSize()
        assert first.action == Ok()
        assert otlp_fault_server.record_count == 2

    def test_retry_info_reaches_the_sdk_exporter(self, otlp_fault_server: FaultServer) -> None:
        """The SDK retries an UNAVAILABLE after the RetryInfo delay, not its own backoff."""
        otlp_fault_server.script([Fail(grpc.StatusCode.UNAVAILABLE, retry_info=0.2), Ok()])

        emit(GrpcLogExporter(endpoint=otlp_fault_server.grpc_endpoint, insecure=True), "x")

        failed, retried = otlp_fault_server.requests
        assert failed.action == Fail(grpc.StatusCode.UNAVAILABLE, retry_info=0.2)
        assert retried.action == Ok()
        # The SDK's own first backoff is 0.8-1.2 s; 0.2 s means RetryInfo was honoured.
        assert 0.15 <= retried.received_at - failed.received_at < 0.7

    def test_a_permanent_failure_is_not_retried(self, otlp_fault_server: FaultServer) -> None:
        """INVALID_ARGUMENT reaches the exporter once, and the script moves on."""
        otlp_fault_server.script([Fail(grpc.StatusCode.INVALID_ARGUMENT), Partial(1)])

        emit(GrpcLogExporter(endpoint=otlp_fault_server.grpc_endpoint, insecure=True), "x")

        assert len(otlp_fault_server.requests) == 1
        assert otlp_fault_server.pending_actions == [Partial(1)]

    def test_fail_trailers_carry_retry_info_both_ways(
        self, otlp_fault_server: FaultServer, stub: Any
    ) -> None:
        """RetryInfo is in grpc-status-details-bin and in google.rpc.retryinfo-bin."""
        otlp_fault_server.script(
            [Fail(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_info=1.5, message="slow down")]
        )

        with pytest.raises(grpc.RpcError) as failure:
            stub.Export(export_request(), timeout=5)

        error: Any = failure.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.details() == "slow down"
        trailers = dict(error.trailing_metadata())
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert (status.code, status.message) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
            "slow down",
        )
        detail = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(detail)
        assert detail.retry_delay.ToTimedelta() == timedelta(seconds=1.5)
        alone = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert alone.retry_delay.ToTimedelta() == timedelta(seconds=1.5)

    def test_partial_success_is_answered(self, otlp_fault_server: FaultServer, stub: Any) -> None:
        """Partial answers with partial_success.rejected_log_records and its message."""
        otlp_fault_server.script([Partial(rejected=3, message="bad")])

        response = stub.Export(export_request(5), timeout=5)

        assert response.partial_success.rejected_log_records == 3
        assert response.partial_success.error_message == "bad"

    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (503, grpc.StatusCode.UNAVAILABLE),
            (429, grpc.StatusCode.UNAVAILABLE),
            (401, grpc.StatusCode.UNAUTHENTICATED),
            (418, grpc.StatusCode.UNKNOWN),
        ],
    )
    def test_an_http_status_maps_to_grpcs_code_for_it(
        self, otlp_fault_server: FaultServer, stub: Any, status: int, code: grpc.StatusCode
    ) -> None:
        """HttpStatus over gRPC fails with gRPC's own mapping of that HTTP status."""
        otlp_fault_server.script([HttpStatus(status)])

        with pytest.raises(grpc.RpcError) as failure:
            stub.Export(export_request(), timeout=5)

        assert failure.value.code() == code  # type: ignore[attr-defined]

    def test_a_hang_lasts_until_the_clients_deadline(
        self, otlp_fault_server: FaultServer, stub: Any
    ) -> None:
        """A hung call times out on the client; the server keeps answering others."""
        otlp_fault_server.script([Hang(), Ok()])

        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failure:
            stub.Export(export_request(), timeout=0.3)

        assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
        assert time.monotonic() - started >= 0.3
        assert (
            stub.Export(export_request(), timeout=5) == logs_service_pb2.ExportLogsServiceResponse()
        )
        assert [r.action for r in otlp_fault_server.requests] == [Hang(), Ok()]

    def test_release_ends_a_hang_with_its_then_answer(
        self, otlp_fault_server: FaultServer, stub: Any
    ) -> None:
        """release() lets hung calls complete with the Hang's ``then``."""
        otlp_fault_server.script([Hang(then=Partial(rejected=1))])
        responses: list[Any] = []
        caller = threading.Thread(
            target=lambda: responses.append(stub.Export(export_request(), timeout=10))
        )
        caller.start()
        assert otlp_fault_server.wait_for_requests(1, timeout=5) == 1

        otlp_fault_server.release()
        caller.join(10)

        assert responses[0].partial_success.rejected_log_records == 1


class TestHttp:
    def test_a_gzipped_sdk_request_is_recorded_as_sent(
        self, otlp_fault_server: FaultServer
    ) -> None:
        """Compression, headers, wire size and the decoded request are recorded."""
        exporter = HttpLogExporter(
            endpoint=otlp_fault_server.http_logs_endpoint,
            compression=Compression.Gzip,
            headers={"authorization": "Bearer t"},
        )
        emit(exporter, "x" * 2000)

        [received] = otlp_fault_server.requests
        assert received.protocol == "http"
        assert received.path == "/v1/logs"
        assert received.compression == "gzip"
        assert received.headers["content-type"] == "application/x-protobuf"
        assert received.headers["authorization"] == "Bearer t"
        assert received.log_records[0].body.string_value == "x" * 2000
        assert 0 < received.body_size < received.request.ByteSize()

    def test_the_sdk_exporter_retries_a_503(self, otlp_fault_server: FaultServer) -> None:
        """A scripted 503 is retried by the official HTTP exporter, then accepted."""
        otlp_fault_server.script([HttpStatus(503), Ok()])

        emit(HttpLogExporter(endpoint=otlp_fault_server.http_logs_endpoint), "x")

        assert [r.action for r in otlp_fault_server.requests] == [HttpStatus(503), Ok()]

    def test_retry_after_in_seconds(self, otlp_fault_server: FaultServer) -> None:
        """HttpStatus(429, retry_after="2") answers 429 with that header."""
        otlp_fault_server.script([HttpStatus(429, retry_after="2")])

        response = post(otlp_fault_server, export_request().SerializeToString())

        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        status = status_pb2.Status.FromString(response.content)
        assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]

    def test_retry_after_as_an_http_date(self, otlp_fault_server: FaultServer) -> None:
        """An HTTP-date Retry-After is sent verbatim."""
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
        otlp_fault_server.script([HttpStatus(503, retry_after=when)])

        response = post(otlp_fault_server, export_request().SerializeToString())

        assert response.status_code == 503
        assert response.headers["retry-after"] == when

    def test_a_grpc_failure_maps_to_its_http_status(self, otlp_fault_server: FaultServer) -> None:
        """Fail over HTTP answers the matching status with a google.rpc.Status body."""
        otlp_fault_server.script([Fail(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_info=1.5)])

        response = post(otlp_fault_server, export_request().SerializeToString())

        assert response.status_code == 429
        assert "retry-after" not in response.headers
        status = status_pb2.Status.FromString(response.content)
        detail = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(detail)
        assert detail.retry_delay.ToTimedelta() == timedelta(seconds=1.5)

    def test_partial_success_is_answered(self, otlp_fault_server: FaultServer) -> None:
        """Partial answers 200 with a protobuf partial_success."""
        otlp_fault_server.script([Partial(rejected=2, message="too big")])

        response = post(otlp_fault_server, export_request(3).SerializeToString())

        assert response.status_code == 200
        answer = logs_service_pb2.ExportLogsServiceResponse.FromString(response.content)
        assert answer.partial_success.rejected_log_records == 2
        assert answer.partial_success.error_message == "too big"

    def test_json_requests_get_json_answers(self, otlp_fault_server: FaultServer) -> None:
        """OTLP/JSON bodies are decoded too, and answered in JSON."""
        otlp_fault_server.script([Partial(rejected=1)])
        body = json_format.MessageToJson(export_request(body="from json")).encode()

        response = post(otlp_fault_server, body, **{"content-type": "application/json"})

        assert response.status_code == 200
        assert response.json()["partialSuccess"]["rejectedLogRecords"] == "1"
        [received] = otlp_fault_server.requests
        assert received.log_records[0].body.string_value == "from json"

    def test_a_timed_hang_delays_the_answer(self, otlp_fault_server: FaultServer) -> None:
        """Hang(seconds=0.3) answers its ``then`` after 0.3 s."""
        otlp_fault_server.script([Hang(seconds=0.3, then=HttpStatus(204))])

        started = time.monotonic()
        response = post(otlp_fault_server, export_request().SerializeToString())

        assert response.status_code == 204
        assert time.monotonic() - started >= 0.3

    def test_undecodable_bodies_and_other_paths_are_rejected(
        self, otlp_fault_server: FaultServer
    ) -> None:
        """Garbage is answered 400 without using the script; other paths are 404."""
        otlp_fault_server.script([Partial(rejected=1)])

        assert post(otlp_fault_server, b"\xff\xff\xff").status_code == 400
        assert (
            httpx.post(f"{otlp_fault_server.http_endpoint}/v1/traces", content=b"").status_code
            == 404
        )
        assert otlp_fault_server.pending_actions == [Partial(rejected=1)]
        [garbage] = otlp_fault_server.requests
        assert garbage.body_size == 3
        assert garbage.log_record_count == 0


class TestScript:
    def test_one_script_serves_both_protocols_in_arrival_order(
        self, otlp_fault_server: FaultServer, stub: Any
    ) -> None:
        """Answers are taken in order by whichever request comes next, then the default."""
        otlp_fault_server.script([Partial(rejected=1), HttpStatus(429)])

        assert stub.Export(export_request(), timeout=5).partial_success.rejected_log_records == 1
        assert post(otlp_fault_server, export_request().SerializeToString()).status_code == 429
        assert post(otlp_fault_server, export_request().SerializeToString()).status_code == 200
        assert [r.protocol for r in otlp_fault_server.requests] == ["grpc", "http", "http"]

    def test_the_default_answer_is_configurable(self) -> None:
        """FaultServer(default=...) answers every unscripted request that way."""
        with FaultServer(default=HttpStatus(503)) as server:
            for _ in range(2):
                assert post(server, export_request().SerializeToString()).status_code == 503

    def test_records_are_counted_across_requests(
        self, otlp_fault_server: FaultServer, stub: Any
    ) -> None:
        """wait_for_records() counts log records over all requests, whatever the answer."""
        otlp_fault_server.script([Fail(grpc.StatusCode.UNAVAILABLE)])
        with pytest.raises(grpc.RpcError):
            stub.Export(export_request(4), timeout=5)
        stub.Export(export_request(6), timeout=5)

        assert otlp_fault_server.wait_for_records(10, timeout=5) == 10
        assert otlp_fault_server.wait_for_records(11, timeout=0.05) == 10

    def test_stop_releases_hung_requests(self) -> None:
        """stop() returns promptly even with a call hanging indefinitely."""
        server = FaultServer()
        server.start()
        server.script([Hang()])
        outcome: list[object] = []

        def call() -> None:
            try:
                outcome.append(post(server, export_request().SerializeToString()).status_code)
            except httpx.HTTPError as error:
                outcome.append(error)

        caller = threading.Thread(target=call)
        caller.start()
        assert server.wait_for_requests(1, timeout=5) == 1

        started = time.monotonic()
        server.stop()
        caller.join(10)

        assert time.monotonic() - started < 5
        assert not caller.is_alive()
        assert outcome
