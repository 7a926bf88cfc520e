"""OTLPGrpcExporter against a real grpc.aio collector on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from otlp_servers import GrpcCollector, GrpcReply, Pki, bodies, make_pki, record_count

import fapilog
from fapilog._event import LogEvent
from fapilog.config import ConfigError
from fapilog.exporters import ExportStatus
from fapilog.exporters.otlp import (
    OTLPExporter,
    OTLPExporterOptions,
    OTLPGrpcExporter,
    OTLPHttpExporter,
)
from fapilog.exporters.otlp._encode import encode

TOKEN = "grpc-s3cr3t-t0ken-0123456789"


def labelled(label: str) -> list[LogEvent]:
    """A batch split into several 2 KiB requests, its bodies starting with ``label``."""
    batch = events(30, size=100)
    for event in batch:
        event.body = f"{label} {event.body}"
    return batch


def events(n: int = 3, size: int = 0) -> list[LogEvent]:
    resource = Resource({"service.name": "shop"})
    scope = InstrumentationScope("shop.orders", "1.0")
    return [
        LogEvent(
            timestamp=1_700_000_000_000_000_000 + i,
            severity_text="INFO",
            severity_number=9,
            body=f"event {i}" + "x" * size,
            attributes={"i": i, "nested": {"ok": True, "list": [1.5, b"\x01"]}},
            trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
            span_id=0x00F067AA0BA902B7,
            trace_flags=1,
            resource=resource,
            instrumentation_scope=scope,
        )
        for i in range(n)
    ]


@pytest.fixture
async def collector() -> AsyncIterator[GrpcCollector]:
    async with GrpcCollector() as server:
        yield server


@pytest.fixture
async def exporter(collector: GrpcCollector) -> AsyncIterator[OTLPGrpcExporter]:
    exp = OTLPGrpcExporter(endpoint=collector.endpoint, timeout=5)
    yield exp
    await exp.shutdown()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestDelivery:
    async def test_records_arrive_intact(
        self, collector: GrpcCollector, exporter: OTLPGrpcExporter
    ) -> None:
        """The collector receives exactly the encoded batch."""
        batch = events(5)
        result = await exporter.export(batch)
        assert result.ok
        assert collector.requests == [encode(batch)]

    async def test_headers_arrive_as_metadata(self, collector: GrpcCollector) -> None:
        """Configured headers are sent as call metadata, with a fapilog user agent."""
        exp = OTLPGrpcExporter(
            endpoint=collector.endpoint,
            headers={"Authorization": f"Bearer {TOKEN}", "x-tenant": "acme"},
        )
        try:
            assert (await exp.export(events(1))).ok
        finally:
            await exp.shutdown()
        metadata = collector.calls[0].metadata
        assert metadata["authorization"] == f"Bearer {TOKEN}"
        assert metadata["x-tenant"] == "acme"
        assert str(metadata["user-agent"]).startswith("fapilog/")

    async def test_gzip_compression_delivers_intact_records(self, collector: GrpcCollector) -> None:
        """With compression=gzip the collector still decodes the same batch."""
        exp = OTLPGrpcExporter(endpoint=collector.endpoint, compression="gzip")
        batch = events(20, size=200)
        try:
            assert (await exp.export(batch)).ok
        finally:
            await exp.shutdown()
        assert collector.requests == [encode(batch)]

    async def test_empty_batch_sends_nothing(
        self, collector: GrpcCollector, exporter: OTLPGrpcExporter
    ) -> None:
        """An empty batch succeeds without a call."""
        assert (await exporter.export([])).ok
        assert collector.calls == []

    async def test_channel_is_reused_across_exports(
        self, collector: GrpcCollector, exporter: OTLPGrpcExporter
    ) -> None:
        """One channel serves every export on the same loop."""
        await exporter.export(events(1))
        channel = exporter._channel
        await exporter.export(events(1))
        assert exporter._channel is channel
        assert len(collector.calls) == 2


class TestClassification:
    @pytest.mark.parametrize(
        "code",
        [
            grpc.StatusCode.CANCELLED,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.ABORTED,
            grpc.StatusCode.OUT_OF_RANGE,
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DATA_LOSS,
        ],
    )
    async def test_transient_codes_are_retryable(
        self, collector: GrpcCollector, exporter: OTLPGrpcExporter, code: grpc.StatusCode
    ) -> None:
        """The codes the OTLP spec calls transient give a retryable result naming the code."""
        collector.script(GrpcReply(code=code, details="try later"))
        result = await exporter.export(events(1))
        assert result.status is ExportStatus.RETRYABLE
        assert result.reason == f"gRPC {code.name}: try later"
        assert result.retry_after is None

    @pytest.mark.parametrize(
        "code",
        [
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.UNIMPLEMENTED,
            grpc.StatusCode.INTERNAL,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ],
    )
    async def test_other_codes_are_failures(
        self, collector: GrpcCollector, exporter: OTLPGrpcExporter, code: grpc.StatusCode
    ) -> None:
        """Every other code (RESOURCE_EXHAUSTED without RetryInfo included) is a failure."""
        collector.script(GrpcReply(code=code, details="no"))
        result = await exporter.export(events(1))
        assert result.status is ExportStatus.FAILURE
        # UNIMPLEMENTED also gets a diagnosis in front (see test_otlp_endpoint_diagnostics).
        assert result.reason.removesuffix(")").endswith(f"gRPC {code.name}: no")

    async def test_resource_exhausted_with_retry_info_is_retryable_after_the_delay(
        self, collector: GrpcCollector, exporter: OTLPGrpcExporter
    ) -> None:
        """RetryInfo in grpc-status-details-bin makes RESOURCE_EXHAUSTED retryable, its delay the minimum."""
        collector.script(
            GrpcReply(code=grpc.StatusCode.RESOURCE_EXHAUSTED, details="slow down", retry_delay=2.5)
        )
        result = await exporter.export(events(1))
        assert result.status is ExportStatus.RETRYABLE
        assert result.retry_after == 2.5

    async def test_retry_info_delay_is_honoured_on_unavailable(
        self, collector: GrpcCollector, exporter: OTLPGrpcExporter
    ) -> None:
        """A transient code with RetryInfo carries the server's delay."""
        collector.script(GrpcReply(code=grpc.StatusCode.UNAVAILABLE, retry_delay=0.75))
        result = await exporter.export(events(1))
        assert result.retry_after == 0.75

    async def test_deadline_is_the_configured_timeout(self, collector: GrpcCollector) -> None:
        """A collector that never answers gives DEADLINE_EXCEEDED (retryable) after the timeout."""
        collector.script(GrpcReply(hang=True))
        exp = OTLPGrpcExporter(endpoint=collector.endpoint, timeout=0.2)
        try:
            result = await exp.export(events(1))
        finally:
            await exp.shutdown()
        assert result.status is ExportStatus.RETRYABLE
        assert result.reason.startswith("gRPC DEADLINE_EXCEEDED")

    async def test_nothing_listening_is_retryable(self) -> None:
        """A refused connection is UNAVAILABLE: retryable."""
        exp = OTLPGrpcExporter(endpoint=f"http://127.0.0.1:{free_port()}", timeout=2)
        try:
            result = await exp.export(events(1))
        finally:
            await exp.shutdown()
        assert result.status is ExportStatus.RETRYABLE
        assert "is the collector running" in result.reason
        assert "(gRPC UNAVAILABLE" in result.reason

    async def test_partial_success_reports_rejected_records(
        self, collector: GrpcCollector, exporter: OTLPGrpcExporter
    ) -> None:
        """partial_success.rejected_log_records > 0 becomes a partial result with the server's message."""
        collector.script(GrpcReply(rejected=2, error_message="2 records too old"))
        result = await exporter.export(events(5))
        assert result.status is ExportStatus.PARTIAL
        assert result.rejected == 2
        assert "2 records too old" in result.reason


class TestSplitting:
    async def test_large_batches_are_split_to_the_limit(self, collector: GrpcCollector) -> None:
        """The collector sees several requests, each within max_request_bytes, all records in order."""
        exp = OTLPGrpcExporter(endpoint=collector.endpoint, max_request_bytes=2048)
        batch = events(30, size=100)
        try:
            assert (await exp.export(batch)).ok
        finally:
            await exp.shutdown()
        assert len(collector.requests) > 1
        assert all(request.ByteSize() <= 2048 for request in collector.requests)
        assert [b for request in collector.requests for b in bodies(request)] == [
            e.body for e in batch
        ]

    async def test_an_oversized_record_is_dropped_and_reported_as_partial(
        self, collector: GrpcCollector
    ) -> None:
        """A record that alone exceeds the limit is not sent and counts as rejected."""
        exp = OTLPGrpcExporter(endpoint=collector.endpoint, max_request_bytes=2048)
        batch = [*events(2), *events(1, size=5000), *events(2)]
        try:
            result = await exp.export(batch)
        finally:
            await exp.shutdown()
        assert result.status is ExportStatus.PARTIAL
        assert result.rejected == 1
        assert "2048-byte request size limit" in result.reason
        assert sum(record_count(r) for r in collector.requests) == 4

    async def test_partial_successes_of_split_requests_add_up(
        self, collector: GrpcCollector
    ) -> None:
        """Rejections reported for each request of a split batch are summed."""
        exp = OTLPGrpcExporter(endpoint=collector.endpoint, max_request_bytes=2048)
        collector.script(*[GrpcReply(rejected=1, error_message="bad record")] * 10)
        try:
            result = await exp.export(events(30, size=100))
        finally:
            await exp.shutdown()
        assert result.status is ExportStatus.PARTIAL
        assert result.rejected == len(collector.requests) > 1
        assert result.reason.endswith("rejected by the backend: bad record")

    async def test_retry_resumes_after_the_delivered_requests(
        self, collector: GrpcCollector
    ) -> None:
        """When a later request of a split batch fails transiently, the retry sends only the rest."""
        exp = OTLPGrpcExporter(endpoint=collector.endpoint, max_request_bytes=2048)
        batch = events(30, size=100)
        collector.script(GrpcReply(), GrpcReply(code=grpc.StatusCode.UNAVAILABLE))
        try:
            assert (await exp.export(batch)).status is ExportStatus.RETRYABLE
            assert (await exp.export(batch)).ok
        finally:
            await exp.shutdown()
        delivered = [
            b for call in collector.calls[:1] + collector.calls[2:] for b in bodies(call.request)
        ]
        assert delivered == [e.body for e in batch]

    async def test_a_retried_batch_resumes_after_another_batch_was_exported(
        self, collector: GrpcCollector
    ) -> None:
        """Progress is kept per batch: exporting B in between does not reset A's."""
        exp = OTLPGrpcExporter(endpoint=collector.endpoint, max_request_bytes=2048)
        a, b = labelled("a"), labelled("b")
        collector.script(GrpcReply(), GrpcReply(code=grpc.StatusCode.UNAVAILABLE))
        try:
            assert (await exp.export(a)).status is ExportStatus.RETRYABLE
            assert (await exp.export(b)).ok
            assert (await exp.export(a)).ok
        finally:
            await exp.shutdown()
        sent = [body for call in collector.calls for body in bodies(call.request)]
        failed = bodies(collector.calls[1].request)
        assert sorted(sent) == sorted([e.body for e in a + b] + failed)
        assert len(sent) == len(set(sent)) + len(failed), "only the failed request was re-sent"

    async def test_concurrent_exports_of_different_batches_deliver_each_once(
        self, collector: GrpcCollector
    ) -> None:
        exp = OTLPGrpcExporter(
            endpoint=collector.endpoint, max_request_bytes=2048, max_concurrent_exports=4
        )
        batches = [labelled(label) for label in "abcd"]
        try:
            results = await asyncio.gather(*(exp.export(batch) for batch in batches))
        finally:
            await exp.shutdown()
        assert all(r.ok for r in results)
        sent = [body for call in collector.calls for body in bodies(call.request)]
        assert sorted(sent) == sorted(e.body for batch in batches for e in batch)

    async def test_permanent_failure_after_delivered_requests_rejects_only_the_rest(
        self, collector: GrpcCollector
    ) -> None:
        """A failure mid-batch is partial: the records already delivered are not counted as lost."""
        exp = OTLPGrpcExporter(endpoint=collector.endpoint, max_request_bytes=2048)
        batch = events(30, size=100)
        collector.script(
            GrpcReply(), GrpcReply(code=grpc.StatusCode.INVALID_ARGUMENT, details="bad")
        )
        try:
            result = await exp.export(batch)
        finally:
            await exp.shutdown()
        assert result.status is ExportStatus.PARTIAL
        assert result.rejected == len(batch) - record_count(collector.calls[0].request)
        assert result.reason == "gRPC INVALID_ARGUMENT: bad"


class TestTls:
    async def test_server_certificate_is_verified_by_default(self, pki: Pki) -> None:
        """Against a certificate from an unknown CA, nothing is delivered unless the CA is configured."""
        async with GrpcCollector(pki.grpc_server_credentials()) as server:
            untrusting = OTLPGrpcExporter(endpoint=server.endpoint, timeout=2)
            trusting = OTLPGrpcExporter(endpoint=server.endpoint, certificate_file=pki.ca)
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
        async with GrpcCollector(pki.grpc_server_credentials(require_client_auth=True)) as server:
            exp = OTLPGrpcExporter(
                endpoint=server.endpoint,
                certificate_file=pki.ca,
                client_key_file=pki.client_key,
                client_certificate_file=pki.client_cert,
            )
            try:
                assert (await exp.export(events(1))).ok
            finally:
                await exp.shutdown()

    async def test_scheme_less_endpoint_uses_tls_unless_insecure(
        self, collector: GrpcCollector
    ) -> None:
        """host:port with insecure=True speaks plain text to a plain-text collector."""
        exp = OTLPGrpcExporter(endpoint=f"127.0.0.1:{collector.port}", insecure=True)
        try:
            assert (await exp.export(events(1))).ok
        finally:
            await exp.shutdown()


class TestSecrets:
    async def test_token_never_appears_in_repr_or_results(self, collector: GrpcCollector) -> None:
        """Neither repr(exporter) nor a result's reason shows a header value, even when echoed."""
        exp = OTLPGrpcExporter(
            endpoint=collector.endpoint, headers={"authorization": f"Bearer {TOKEN}"}
        )
        collector.script(
            GrpcReply(code=grpc.StatusCode.UNAUTHENTICATED, details=f"bad token Bearer {TOKEN}"),
            GrpcReply(code=grpc.StatusCode.UNAVAILABLE, details=f"{TOKEN} rate limited"),
            GrpcReply(rejected=1, error_message=f"token {TOKEN} lacks scope"),
        )
        try:
            results = [await exp.export(events(1)) for _ in range(3)]
        finally:
            await exp.shutdown()
        text = repr(exp) + str(exp) + repr(results)
        assert TOKEN not in text
        assert "***" in results[0].reason
        assert "authorization" in repr(exp)
        assert collector.endpoint in repr(exp)


class TestLifecycle:
    async def test_shutdown_closes_the_channel(self, collector: GrpcCollector) -> None:
        """After shutdown the channel is closed and forgotten."""
        exp = OTLPGrpcExporter(endpoint=collector.endpoint)
        await exp.export(events(1))
        channel = exp._channel
        await exp.shutdown()
        assert exp._channel is None
        with pytest.raises(ValueError, match="closed channel"):
            channel.unary_unary("/x")(b"", timeout=1)

    async def test_after_fork_forgets_the_channel_and_reconnects(
        self, collector: GrpcCollector, exporter: OTLPGrpcExporter
    ) -> None:
        """after_fork drops the channel without closing it; the next export opens a new one."""
        await exporter.export(events(1))
        old = exporter._channel
        exporter.after_fork()
        assert exporter._channel is None
        assert (await exporter.export(events(1))).ok
        assert exporter._channel is not old
        call = old.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        assert await asyncio.to_thread(call, b"", timeout=5) is not None  # still open
        old.close()


class TestConstruction:
    def test_factory_picks_the_exporter_by_protocol(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """OTLPExporter() is gRPC by default and HTTP for protocol http/protobuf (env or kwarg)."""
        assert type(OTLPExporter()) is OTLPGrpcExporter
        assert type(OTLPExporter(protocol="http/protobuf")) is OTLPHttpExporter
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        assert type(OTLPExporter()) is OTLPHttpExporter

    def test_exporters_are_named_otlp(self) -> None:
        """Stats and diagnostics name both exporters 'otlp', as FAPILOG_EXPORTERS does."""
        assert OTLPGrpcExporter.name == OTLPHttpExporter.name == "otlp"

    def test_wrong_protocol_options_are_refused(self) -> None:
        """A gRPC exporter cannot be built from HTTP options."""
        with pytest.raises(ConfigError, match="OTLPGrpcExporter needs protocol='grpc'"):
            OTLPGrpcExporter(OTLPExporterOptions(protocol="http/protobuf"))

    def test_options_and_keywords_are_exclusive(self) -> None:
        """Passing options and keyword arguments together is a TypeError."""
        with pytest.raises(TypeError):
            OTLPGrpcExporter(OTLPExporterOptions(), timeout=1)

    async def test_unreadable_tls_file_is_a_failure_not_a_crash(self, tmp_path: Path) -> None:
        """A CA file deleted after configuration fails the export with a clear reason."""
        ca = tmp_path / "ca.pem"
        ca.write_text("x")
        exp = OTLPGrpcExporter(endpoint="https://127.0.0.1:1", certificate_file=ca)
        ca.unlink()
        result = await exp.export(events(1))
        assert result.status is ExportStatus.FAILURE
        assert "cannot read a TLS file" in result.reason


class TestPipeline:
    async def test_records_logged_through_a_pipeline_reach_the_collector(
        self, collector: GrpcCollector
    ) -> None:
        """On the pipeline's worker loop, the exporter delivers every record logged."""
        pipeline = fapilog.Pipeline(
            exporters=[OTLPExporter(endpoint=collector.endpoint)], schedule_delay_ms=5
        )
        log = pipeline.get_logger("shop.orders")
        for i in range(50):
            log.info("order paid", order=i)
        assert await pipeline.ashutdown(5)
        assert sum(record_count(r) for r in collector.requests) == 50
        assert pipeline.stats().exporters["otlp"].exported == 50
