"""OTLPHttpExporter against a real HTTP collector on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from otlp_servers import HttpCollector, HttpReply, Pki, bodies, make_pki, record_count, rpc_status

import fapilog
from fapilog._event import LogEvent
from fapilog.config import ConfigError
from fapilog.exporters import ExportStatus
from fapilog.exporters._http_util import parse_retry_after
from fapilog.exporters.otlp import OTLPExporterOptions, OTLPHttpExporter
from fapilog.exporters.otlp._encode import encode

TOKEN = "http-s3cr3t-t0ken-0123456789"


def events(n: int = 3, size: int = 0) -> list[LogEvent]:
    resource = Resource({"service.name": "shop"})
    scope = InstrumentationScope("shop.orders", "1.0")
    return [
        LogEvent(
            timestamp=1_700_000_000_000_000_000 + i,
            severity_text="WARN",
            severity_number=13,
            body=f"event {i}" + "y" * size,
            attributes={"i": i, "blob": b"\x00\xff", "ratio": 0.5},
            trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
            span_id=0x00F067AA0BA902B7,
            trace_flags=1,
            event_name="order.paid",
            resource=resource,
            instrumentation_scope=scope,
        )
        for i in range(n)
    ]


@pytest.fixture
def collector() -> Iterator[HttpCollector]:
    with HttpCollector() as server:
        yield server


@pytest.fixture
async def exporter(collector: HttpCollector) -> AsyncIterator[OTLPHttpExporter]:
    exp = OTLPHttpExporter(endpoint=collector.url, timeout=5)
    yield exp
    await exp.shutdown()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_body(message: str) -> bytes:
    return rpc_status(3, message).SerializeToString()


class TestDelivery:
    async def test_records_arrive_intact(
        self, collector: HttpCollector, exporter: OTLPHttpExporter
    ) -> None:
        """The collector receives exactly the encoded batch, POSTed as protobuf to the endpoint path."""
        batch = events(5)
        assert (await exporter.export(batch)).ok
        call = collector.calls[0]
        assert call.path == "/v1/logs"
        assert call.headers["content-type"] == "application/x-protobuf"
        assert call.request == encode(batch)

    async def test_headers_arrive(self, collector: HttpCollector) -> None:
        """Configured headers are sent with every request, with a fapilog user agent."""
        exp = OTLPHttpExporter(
            endpoint=collector.url, headers={"Authorization": f"Bearer {TOKEN}", "x-tenant": "acme"}
        )
        try:
            assert (await exp.export(events(1))).ok
        finally:
            await exp.shutdown()
        headers = collector.calls[0].headers
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert headers["x-tenant"] == "acme"
        assert headers["user-agent"].startswith("fapilog/")

    async def test_gzip_compresses_the_body(self, collector: HttpCollector) -> None:
        """compression=gzip sends a gzip body with Content-Encoding: gzip."""
        exp = OTLPHttpExporter(endpoint=collector.url, compression="gzip")
        batch = events(20, size=200)
        try:
            assert (await exp.export(batch)).ok
        finally:
            await exp.shutdown()
        call = collector.calls[0]
        assert call.headers["content-encoding"] == "gzip"
        assert call.raw_body[:2] == b"\x1f\x8b"
        assert len(call.raw_body) < encode(batch).ByteSize()
        assert call.request == encode(batch)

    async def test_uncompressed_by_default(
        self, collector: HttpCollector, exporter: OTLPHttpExporter
    ) -> None:
        """Without compression there is no Content-Encoding."""
        await exporter.export(events(1))
        assert "content-encoding" not in collector.calls[0].headers

    async def test_empty_and_unparsable_success_bodies_are_success(
        self, collector: HttpCollector, exporter: OTLPHttpExporter
    ) -> None:
        """A 2xx means accepted, whatever the body holds."""
        collector.script(HttpReply(204), HttpReply(200, b"\xff\xff not protobuf"))
        assert (await exporter.export(events(1))).ok
        assert (await exporter.export(events(1))).ok


class TestClassification:
    async def test_partial_success_reports_rejected_records(
        self, collector: HttpCollector, exporter: OTLPHttpExporter
    ) -> None:
        """A 200 with partial_success.rejected_log_records > 0 is a partial result."""
        body = ExportLogsServiceResponse(
            partial_success=ExportLogsPartialSuccess(
                rejected_log_records=2, error_message="too old"
            )
        ).SerializeToString()
        collector.script(HttpReply(200, body))
        result = await exporter.export(events(5))
        assert result.status is ExportStatus.PARTIAL
        assert result.rejected == 2
        assert "too old" in result.reason

    @pytest.mark.parametrize("status", [429, 502, 503, 504])
    async def test_throttling_and_gateway_errors_are_retryable(
        self, collector: HttpCollector, exporter: OTLPHttpExporter, status: int
    ) -> None:
        """429, 502, 503 and 504 are retryable, without a delay unless Retry-After says so."""
        collector.script(HttpReply(status))
        result = await exporter.export(events(1))
        assert result.status is ExportStatus.RETRYABLE
        assert result.reason == f"HTTP {status}"
        assert result.retry_after is None

    async def test_retry_after_seconds_is_honoured(
        self, collector: HttpCollector, exporter: OTLPHttpExporter
    ) -> None:
        """Retry-After: 7 gives retry_after=7."""
        collector.script(HttpReply(429, headers={"Retry-After": "7"}))
        result = await exporter.export(events(1))
        assert result.retry_after == 7.0

    async def test_retry_after_http_date_is_honoured(
        self, collector: HttpCollector, exporter: OTLPHttpExporter
    ) -> None:
        """Retry-After as an HTTP-date gives the seconds until that date."""
        when = datetime.now(UTC) + timedelta(seconds=30)
        collector.script(
            HttpReply(503, headers={"Retry-After": format_datetime(when, usegmt=True)})
        )
        result = await exporter.export(events(1))
        assert result.retry_after is not None
        assert 27 < result.retry_after <= 30

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 500, 501])
    async def test_other_statuses_are_failures(
        self, collector: HttpCollector, exporter: OTLPHttpExporter, status: int
    ) -> None:
        """Every other status is a permanent failure named by its code."""
        collector.script(HttpReply(status))
        result = await exporter.export(events(1))
        assert result.status is ExportStatus.FAILURE
        # 404 also gets a diagnosis in front (see test_otlp_endpoint_diagnostics).
        assert result.reason.removesuffix(")").endswith(f"HTTP {status}")

    async def test_failure_reason_includes_the_status_message(
        self, collector: HttpCollector, exporter: OTLPHttpExporter
    ) -> None:
        """A google.rpc.Status body adds its message to the reason."""
        collector.script(HttpReply(400, status_body("field body: bad\nvalue")))
        result = await exporter.export(events(1))
        assert result.reason == "HTTP 400: field body: bad value"

    async def test_redirects_are_not_followed(
        self, collector: HttpCollector, exporter: OTLPHttpExporter
    ) -> None:
        """A 307 is a failure: headers never go to another location."""
        collector.script(HttpReply(307, headers={"Location": "http://127.0.0.1:1/elsewhere"}))
        result = await exporter.export(events(1))
        assert result.status is ExportStatus.FAILURE
        assert len(collector.calls) == 1

    async def test_nothing_listening_is_retryable(self) -> None:
        """A refused connection is retryable."""
        exp = OTLPHttpExporter(endpoint=f"http://127.0.0.1:{free_port()}/v1/logs", timeout=2)
        try:
            result = await exp.export(events(1))
        finally:
            await exp.shutdown()
        assert result.status is ExportStatus.RETRYABLE
        assert "is the collector running" in result.reason
        assert "(HTTP ConnectError" in result.reason

    async def test_timeout_is_retryable(self, collector: HttpCollector) -> None:
        """A collector that does not answer within the timeout gives a retryable result."""
        collector.script(HttpReply(hang=True))
        exp = OTLPHttpExporter(endpoint=collector.url, timeout=0.2)
        try:
            result = await exp.export(events(1))
        finally:
            await exp.shutdown()
        assert result.status is ExportStatus.RETRYABLE
        assert "timed out" in result.reason


class TestRetryAfterParsing:
    NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("120", 120.0),
            (" 0 ", 0.0),
            ("Wed, 01 Jan 2025 12:00:45 GMT", 45.0),
            ("Wed, 01 Jan 2025 11:00:00 GMT", 0.0),
            ("Wednesday, 01-Jan-25 12:01:00 GMT", 60.0),
            ("soon", None),
            ("-5", None),
            ("", None),
            (None, None),
        ],
    )
    def test_both_forms_parse(self, header: str | None, expected: float | None) -> None:
        """Delta-seconds and HTTP-dates give seconds from now; past dates 0; junk None."""
        assert parse_retry_after(header, now=self.NOW) == expected


class TestSplitting:
    async def test_large_batches_are_split_to_the_limit(self, collector: HttpCollector) -> None:
        """The collector sees several POSTs, each within max_request_bytes, all records in order."""
        exp = OTLPHttpExporter(endpoint=collector.url, max_request_bytes=2048)
        batch = events(30, size=100)
        try:
            assert (await exp.export(batch)).ok
        finally:
            await exp.shutdown()
        assert len(collector.calls) > 1
        assert all(len(call.raw_body) <= 2048 for call in collector.calls)
        assert [b for request in collector.requests for b in bodies(request)] == [
            e.body for e in batch
        ]

    async def test_an_oversized_record_is_dropped_and_reported_as_partial(
        self, collector: HttpCollector
    ) -> None:
        """A record that alone exceeds the limit is not sent and counts as rejected."""
        exp = OTLPHttpExporter(endpoint=collector.url, max_request_bytes=2048)
        try:
            result = await exp.export([*events(2), *events(1, size=5000)])
        finally:
            await exp.shutdown()
        assert result.status is ExportStatus.PARTIAL
        assert result.rejected == 1
        assert "request size limit" in result.reason
        assert sum(record_count(r) for r in collector.requests) == 2

    async def test_retry_resumes_after_the_delivered_requests(
        self, collector: HttpCollector
    ) -> None:
        """After a 503 mid-batch, the retry of the same batch sends only the remaining requests."""
        exp = OTLPHttpExporter(endpoint=collector.url, max_request_bytes=2048)
        batch = events(30, size=100)
        collector.script(HttpReply(), HttpReply(503, headers={"Retry-After": "1"}))
        try:
            first = await exp.export(batch)
            assert first.status is ExportStatus.RETRYABLE
            assert first.retry_after == 1.0
            assert (await exp.export(batch)).ok
        finally:
            await exp.shutdown()
        delivered = [
            b for call in collector.calls[:1] + collector.calls[2:] for b in bodies(call.request)
        ]
        assert delivered == [e.body for e in batch]

    async def test_a_different_batch_starts_afresh(self, collector: HttpCollector) -> None:
        """Resume state belongs to one batch: another batch is sent from its start."""
        exp = OTLPHttpExporter(endpoint=collector.url, max_request_bytes=2048)
        collector.script(HttpReply(), HttpReply(503))
        try:
            await exp.export(events(30, size=100))
            other = events(30, size=100)
            assert (await exp.export(other)).ok
        finally:
            await exp.shutdown()
        assert bodies(collector.requests[2])[0] == other[0].body


class TestTls:
    async def test_server_certificate_is_verified_by_default(self, pki: Pki) -> None:
        """Against a certificate from an unknown CA, nothing is delivered unless the CA is configured."""
        with HttpCollector(pki.http_server_context()) as server:
            untrusting = OTLPHttpExporter(endpoint=server.url, timeout=2)
            trusting = OTLPHttpExporter(endpoint=server.url, certificate_file=pki.ca)
            try:
                refused = await untrusting.export(events(1))
                assert refused.status is ExportStatus.RETRYABLE
                assert server.calls == []
                assert (await trusting.export(events(1))).ok
                assert len(server.calls) == 1
            finally:
                await untrusting.shutdown()
                await trusting.shutdown()

    async def test_client_certificate_is_presented(self, pki: Pki) -> None:
        """With a client key and certificate, a server requiring mutual TLS accepts the export."""
        with HttpCollector(pki.http_server_context(require_client_auth=True)) as server:
            exp = OTLPHttpExporter(
                endpoint=server.url,
                certificate_file=pki.ca,
                client_key_file=pki.client_key,
                client_certificate_file=pki.client_cert,
            )
            try:
                assert (await exp.export(events(1))).ok
            finally:
                await exp.shutdown()
        assert len(server.calls) == 1


class TestSecrets:
    async def test_token_never_appears_in_repr_or_results(self, collector: HttpCollector) -> None:
        """Neither repr(exporter) nor a result's reason shows a header value, even when echoed."""
        exp = OTLPHttpExporter(endpoint=collector.url, headers={"authorization": f"Bearer {TOKEN}"})
        partial = ExportLogsServiceResponse(
            partial_success=ExportLogsPartialSuccess(
                rejected_log_records=1, error_message=f"{TOKEN} lacks scope"
            )
        ).SerializeToString()
        collector.script(
            HttpReply(401, status_body(f"invalid credentials Bearer {TOKEN}")),
            HttpReply(503, status_body(f"throttled {TOKEN}")),
            HttpReply(200, partial),
        )
        try:
            results = [await exp.export(events(1)) for _ in range(3)]
        finally:
            await exp.shutdown()
        assert TOKEN not in repr(exp) + str(exp) + repr(results)
        assert results[0].reason == "HTTP 401: invalid credentials ***"
        assert "authorization" in repr(exp)
        assert collector.url in repr(exp)

    def test_endpoint_password_is_masked_in_repr(self) -> None:
        """Credentials in the endpoint URL do not show in repr."""
        exp = OTLPHttpExporter(endpoint=f"https://user:{TOKEN}@127.0.0.1:1/v1/logs")
        assert TOKEN not in repr(exp)
        assert "user:***@" in repr(exp)


class TestLifecycle:
    async def test_shutdown_closes_the_client(self, collector: HttpCollector) -> None:
        """After shutdown the client is closed and forgotten."""
        exp = OTLPHttpExporter(endpoint=collector.url)
        await exp.export(events(1))
        client = exp._client
        await exp.shutdown()
        assert exp._client is None
        assert client is not None
        assert client.is_closed

    async def test_after_fork_forgets_the_client_and_reconnects(
        self, collector: HttpCollector, exporter: OTLPHttpExporter
    ) -> None:
        """after_fork drops the client without closing it; the next export creates a new one."""
        await exporter.export(events(1))
        old = exporter._client
        exporter.after_fork()
        assert exporter._client is None
        assert (await exporter.export(events(1))).ok
        assert old is not None
        assert exporter._client is not old
        assert not old.is_closed
        await old.aclose()

    def test_wrong_protocol_options_are_refused(self) -> None:
        """An HTTP exporter cannot be built from gRPC options."""
        with pytest.raises(ConfigError, match="OTLPHttpExporter needs protocol='http/protobuf'"):
            OTLPHttpExporter(OTLPExporterOptions())

    def test_default_endpoint_is_the_local_collector(self) -> None:
        """Without configuration the exporter posts to http://localhost:4318/v1/logs."""
        assert OTLPHttpExporter().options.endpoint == "http://localhost:4318/v1/logs"


class TestPipeline:
    async def test_records_logged_through_a_pipeline_reach_the_collector(
        self, collector: HttpCollector
    ) -> None:
        """On the pipeline's worker loop, the exporter delivers every record logged."""
        pipeline = fapilog.Pipeline(
            exporters=[OTLPHttpExporter(endpoint=collector.url)], schedule_delay_ms=5
        )
        log = pipeline.get_logger("shop.orders")
        for i in range(50):
            log.info("order paid", order=i)
        assert await pipeline.ashutdown(5)
        assert sum(record_count(r) for r in collector.requests) == 50
        assert pipeline.stats().exporters["otlp"].exported == 50


async def test_start_prepares_the_client_off_the_event_loop(
    collector: HttpCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CA bundle is loaded (and the transport imported) on a helper thread by
    start(), so the first export holds the worker's loop for no more than a request:
    a spooled event's crash window does not grow by a fifth of a second."""
    import ssl
    import threading

    import httpx

    exporter = OTLPHttpExporter(endpoint=collector.url, timeout=5)
    loop_thread = threading.get_ident()
    loaded_on: list[int] = []
    real = httpx.create_ssl_context

    def recording(*args: object, **kwargs: object) -> ssl.SSLContext:
        loaded_on.append(threading.get_ident())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx, "create_ssl_context", recording)
    try:
        await exporter.start()
        prepared = exporter._prepared
        assert prepared is not None
        await prepared  # the pipeline's first export normally comes later than this
        assert (await exporter.export(events(2))).ok
        assert loaded_on and loop_thread not in loaded_on
        assert record_count(collector.calls[0].request) == 2
    finally:
        await exporter.shutdown()
