"""One export call at a time against the fake cluster: what is sent, and what it means."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from es_bulk_server import (
    TOO_MANY,
    UNAVAILABLE,
    DropAfterIndexing,
    EsBulkServer,
    ItemStatuses,
    Status,
    make_certificates,
)
from fapilog import ExportStatus, LogEvent
from fapilog_exporter_elasticsearch import ElasticsearchExporter
from fapilog_exporter_elasticsearch._bulk import FILTER_PATH, IdSource

T0 = 1_764_480_000_123_456_789  # 2025-11-30T05:20:00.123456789Z
API_KEY = base64.b64encode(b"VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw").decode()


@pytest.fixture
def server() -> Iterator[EsBulkServer]:
    with EsBulkServer() as s:
        yield s


def make_events(n: int, **attributes: object) -> list[LogEvent]:
    return [
        LogEvent(
            timestamp=T0 + i,
            severity_text="INFO",
            severity_number=9,
            body=f"event {i}",
            attributes={"seq": i, **attributes},
        )
        for i in range(n)
    ]


def exporter_for(server: EsBulkServer, **options: object) -> ElasticsearchExporter:
    exporter = ElasticsearchExporter(url=server.url, timeout=5.0, **options)
    exporter._ids = IdSource(nonce=b"\x00\x00\x00\x07")
    return exporter


def stored_seqs(server: EsBulkServer, target: str = "logs-generic-default") -> list[int]:
    return sorted(doc["attributes"]["seq"] for doc in server.documents(target))


# -- what goes on the wire ------------------------------------------------------------


async def test_the_request_is_exactly_the_documented_ndjson(server: EsBulkServer) -> None:
    exporter = exporter_for(server)
    event = LogEvent(
        timestamp=T0,
        severity_text="WARN",
        severity_number=13,
        body="disk low",
        attributes={"free_mb": 12},
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        resource=Resource({"service.name": "shop"}),
        instrumentation_scope=InstrumentationScope("shop.disk"),
    )
    result = await exporter.export([event])
    assert result.ok
    (request,) = server.requests
    assert request.path == "/logs-generic-default/_bulk"
    assert request.query == {"filter_path": FILTER_PATH}
    assert request.headers["content-type"] == "application/x-ndjson"
    doc_id = base64.urlsafe_b64encode(
        T0.to_bytes(8, "big") + b"\x00\x00\x00\x07" + (0).to_bytes(4, "big")
    ).rstrip(b"=")
    assert request.raw == (
        b'{"create":{"_id":"' + doc_id + b'"}}\n'
        b'{"@timestamp":"2025-11-30T05:20:00.123456789Z","message":"disk low",'
        b'"log":{"level":"WARN","logger":"shop.disk"},'
        b'"event":{"severity":13,"dataset":"generic"},'
        b'"data_stream":{"type":"logs","dataset":"generic","namespace":"default"},'
        b'"service":{"name":"shop"},'
        b'"trace":{"id":"4bf92f3577b34da6a3ce929d0e0e4736"},"span":{"id":"00f067aa0ba902b7"},'
        b'"attributes":{"free_mb":12},"ecs":{"version":"8.11.0"}}\n'
    )
    assert server.document_ids() == [doc_id.decode()]
    await exporter.shutdown()


async def test_gzip_bodies_decompress_to_the_same_ndjson(server: EsBulkServer) -> None:
    exporter = exporter_for(server, gzip=True)
    assert (await exporter.export(make_events(20))).ok
    (request,) = server.requests
    assert request.headers["content-encoding"] == "gzip"
    assert gzip.decompress(request.raw) == request.body
    assert len(request.raw) < len(request.body)
    assert stored_seqs(server) == list(range(20))
    await exporter.shutdown()


async def test_a_named_index_gets_no_data_stream_fields(server: EsBulkServer) -> None:
    exporter = exporter_for(server, index="app-logs")
    assert (await exporter.export(make_events(2))).ok
    assert server.requests[0].path == "/app-logs/_bulk"
    for doc in server.documents("app-logs"):
        assert "data_stream" not in doc
        assert "dataset" not in doc.get("event", {})
    await exporter.shutdown()


async def test_dataset_and_namespace_name_the_data_stream(server: EsBulkServer) -> None:
    exporter = exporter_for(server, dataset="shop.orders", namespace="prod")
    assert (await exporter.export(make_events(1))).ok
    (doc,) = server.documents("logs-shop.orders-prod")
    assert doc["data_stream"] == {"type": "logs", "dataset": "shop.orders", "namespace": "prod"}
    assert doc["event"]["dataset"] == "shop.orders"
    await exporter.shutdown()


async def test_filter_path_can_be_turned_off(server: EsBulkServer) -> None:
    exporter = exporter_for(server, filter_path=False)
    assert (await exporter.export(make_events(1))).ok
    assert server.requests[0].query == {}
    await exporter.shutdown()


async def test_every_document_gets_its_own_id_even_when_identical(server: EsBulkServer) -> None:
    twins = [LogEvent(timestamp=T0, body="same") for _ in range(3)]
    exporter = exporter_for(server)
    assert (await exporter.export(twins)).ok
    assert len(set(server.requests[0].ids)) == 3
    assert len(server.documents()) == 3
    await exporter.shutdown()


def test_ids_are_time_ordered_and_distinct_across_sources() -> None:
    a, b = IdSource(nonce=b"aaaa"), IdSource(nonce=b"bbbb")
    ids = [a.new_id(T0), a.new_id(T0), b.new_id(T0), a.new_id(T0 + 1)]
    assert len(set(ids)) == 4
    decoded = [base64.urlsafe_b64decode(i + "==") for i in ids]
    assert decoded[3] > decoded[0]
    assert all(len(i) == 22 for i in ids)


# -- authentication ---------------------------------------------------------------------


async def test_api_key_is_sent_as_apikey_header() -> None:
    with EsBulkServer(api_key=API_KEY) as server:
        exporter = exporter_for(server, api_key=API_KEY)
        assert (await exporter.export(make_events(1))).ok
        assert server.requests[0].headers["authorization"] == f"ApiKey {API_KEY}"
        await exporter.shutdown()


async def test_an_id_colon_key_api_key_is_encoded_for_you() -> None:
    with EsBulkServer(api_key=API_KEY) as server:
        exporter = exporter_for(server, api_key="VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw")
        assert (await exporter.export(make_events(1))).ok
        await exporter.shutdown()


async def test_basic_auth() -> None:
    with EsBulkServer(basic=("fapilog", "s3cret-pass")) as server:
        exporter = exporter_for(server, username="fapilog", password="s3cret-pass")
        assert (await exporter.export(make_events(1))).ok
        await exporter.shutdown()


async def test_wrong_credentials_are_a_permanent_failure_without_the_secret() -> None:
    with EsBulkServer(api_key=API_KEY) as server:
        wrong = base64.b64encode(b"id:not-the-right-key-at-all").decode()
        exporter = exporter_for(server, api_key=wrong)
        result = await exporter.export(make_events(3))
        assert result.status is ExportStatus.FAILURE
        assert "HTTP 401" in result.reason
        assert "security_exception" in result.reason
        assert "FAPILOG_ELASTICSEARCH_API_KEY" in result.reason
        assert wrong not in result.reason and "not-the-right" not in result.reason
        assert wrong not in repr(exporter)
        await exporter.shutdown()


async def test_forbidden_is_a_permanent_failure_naming_the_privilege() -> None:
    with EsBulkServer(api_key=API_KEY, forbidden=True) as server:
        exporter = exporter_for(server, api_key=API_KEY)
        result = await exporter.export(make_events(1))
        assert result.status is ExportStatus.FAILURE
        assert "HTTP 403" in result.reason and "create_doc" in result.reason
        await exporter.shutdown()


# -- per-item outcomes and resuming -------------------------------------------------------


async def test_per_item_429_resends_only_the_documents_still_owed(server: EsBulkServer) -> None:
    server.script([ItemStatuses({1: TOO_MANY, 3: UNAVAILABLE})])
    exporter = exporter_for(server)
    batch = make_events(5)
    first = await exporter.export(batch)
    assert first.status is ExportStatus.RETRYABLE
    assert "2 document(s) to retry" in first.reason
    second = await exporter.export(batch)  # the pipeline retries the same batch
    assert second.ok
    assert len(server.requests) == 2
    assert server.requests[1].ids == [server.requests[0].ids[1], server.requests[0].ids[3]]
    assert stored_seqs(server) == [0, 1, 2, 3, 4]
    await exporter.shutdown()


async def test_permanent_item_errors_are_counted_with_reasons(server: EsBulkServer) -> None:
    server.reject_when(
        lambda doc: doc.get("attributes", {}).get("seq") == 2,
        400,
        "document_parsing_exception",
        "[1:40] failed to parse field [attributes.seq] of type [long] in document with id "
        "'x'. Preview of field's value: 'card 4111111111111111'",
    )
    exporter = exporter_for(server)
    result = await exporter.export(make_events(4))
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == 1
    assert "400 document_parsing_exception: [1:40] failed to parse field [attributes.seq]" in (
        result.reason
    )
    assert "4111" not in result.reason  # the value preview is user data, not a reason
    assert stored_seqs(server) == [0, 1, 3]
    await exporter.shutdown()


async def test_a_mapping_conflict_rejects_only_that_document(server: EsBulkServer) -> None:
    exporter = exporter_for(server)
    assert (await exporter.export(make_events(1, amount=5))).ok
    result = await exporter.export(make_events(2, amount="five"))
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == 2
    assert "failed to parse field [attributes.amount] of type [long]" in result.reason
    await exporter.shutdown()


async def test_a_409_on_a_first_attempt_is_a_rejection(server: EsBulkServer) -> None:
    server.script(
        [ItemStatuses({0: (409, "version_conflict_engine_exception", "document already exists")})]
    )
    exporter = exporter_for(server)
    result = await exporter.export(make_events(2))
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == 1
    assert "409 version_conflict_engine_exception" in result.reason
    await exporter.shutdown()


async def test_a_lost_response_is_resent_and_409_counts_as_delivered(
    server: EsBulkServer,
) -> None:
    """The cluster indexed the documents but the answer never came: no duplicate, no loss."""
    server.script([DropAfterIndexing()])
    exporter = exporter_for(server)
    batch = make_events(3)
    first = await exporter.export(batch)
    assert first.status is ExportStatus.RETRYABLE
    assert len(server.documents()) == 3  # indexed by the lost attempt
    second = await exporter.export(batch)
    assert second.ok, second.reason
    assert [i["create"]["status"] for i in server.requests[1].response["items"]] == [409] * 3
    assert server.requests[1].ids == server.requests[0].ids
    assert stored_seqs(server) == [0, 1, 2]
    await exporter.shutdown()


async def test_a_new_batch_starts_afresh_after_a_final_outcome(server: EsBulkServer) -> None:
    exporter = exporter_for(server)
    batch = make_events(2)
    assert (await exporter.export(batch)).ok
    # The same events handed over again (not a retry: the last outcome was final) are
    # new documents, with new ids.
    assert (await exporter.export(batch)).ok
    assert len(server.documents()) == 4
    await exporter.shutdown()


async def test_unreadable_success_body_is_resent_safely(server: EsBulkServer) -> None:
    server.script([ItemStatuses({})])
    exporter = exporter_for(server)
    batch = make_events(2)
    # Simulate a proxy that mangles the body: pretend the item count is wrong.
    server.script([])
    original = server.handle_bulk

    def short(target, body, fault):  # type: ignore[no-untyped-def]
        status, response = original(target, body, fault)
        response["errors"] = True
        response["items"] = response["items"][:1]
        return status, response

    server.handle_bulk = short  # type: ignore[method-assign]
    first = await exporter.export(batch)
    assert first.status is ExportStatus.RETRYABLE
    assert "lists 1 item(s) for 2 document(s)" in first.reason
    server.handle_bulk = original  # type: ignore[method-assign]
    assert (await exporter.export(batch)).ok
    assert stored_seqs(server) == [0, 1]
    await exporter.shutdown()


# -- whole-request outcomes -------------------------------------------------------------


async def test_whole_request_429_is_retryable_with_retry_after(server: EsBulkServer) -> None:
    server.script([Status(429, retry_after="7")])
    exporter = exporter_for(server)
    batch = make_events(3)
    result = await exporter.export(batch)
    assert result.status is ExportStatus.RETRYABLE
    assert result.retry_after == 7.0
    assert "HTTP 429: es_rejected_execution_exception" in result.reason
    assert (await exporter.export(batch)).ok
    assert stored_seqs(server) == [0, 1, 2]
    await exporter.shutdown()


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_whole_request_5xx_is_retryable(server: EsBulkServer, code: int) -> None:
    server.script([Status(code, "internal_server_error", "boom")])
    exporter = exporter_for(server)
    result = await exporter.export(make_events(1))
    assert result.status is ExportStatus.RETRYABLE
    await exporter.shutdown()


async def test_batches_are_split_by_max_request_bytes(server: EsBulkServer) -> None:
    exporter = exporter_for(server, max_request_bytes=4096)
    assert (await exporter.export(make_events(60, pad="x" * 200))).ok
    assert len(server.requests) > 4
    assert all(len(r.body) <= 4096 for r in server.requests)
    assert stored_seqs(server) == list(range(60))
    await exporter.shutdown()


async def test_a_document_over_max_request_bytes_is_rejected_alone(server: EsBulkServer) -> None:
    exporter = exporter_for(server, max_request_bytes=2048)
    batch = make_events(3)
    batch[1].attributes["blob"] = "y" * 5000
    result = await exporter.export(batch)
    assert result.status is ExportStatus.PARTIAL and result.rejected == 1
    assert "2048-byte request limit (max_request_bytes)" in result.reason
    assert stored_seqs(server) == [0, 2]
    await exporter.shutdown()


async def test_413_splits_the_request_until_it_fits() -> None:
    with EsBulkServer(max_content_length=3000) as server:
        exporter = exporter_for(server)
        batch = make_events(12, pad="z" * 300)
        batch[5].attributes["pad"] = "z" * 4000  # too big for this cluster on its own
        result = await exporter.export(batch)
        assert result.status is ExportStatus.PARTIAL and result.rejected == 1
        assert "HTTP 413" in result.reason and "http.max_content_length" in result.reason
        assert stored_seqs(server) == [i for i in range(12) if i != 5]
        assert server.requests[0].status == 413
        await exporter.shutdown()


async def test_a_permanent_error_after_partial_progress_rejects_only_the_rest(
    server: EsBulkServer,
) -> None:
    exporter = exporter_for(server, max_request_bytes=2048)
    batch = make_events(30)
    server.script([ItemStatuses({}), Status(400, "illegal_argument_exception", "nope")])
    result = await exporter.export(batch)
    assert result.status is ExportStatus.PARTIAL
    delivered = len(server.documents())
    assert 0 < delivered < 30
    assert result.rejected == 30 - delivered
    await exporter.shutdown()


async def test_cluster_down_then_up(server: EsBulkServer) -> None:
    exporter = exporter_for(server)
    server.stop()
    batch = make_events(4)
    down = await exporter.export(batch)
    assert down.status is ExportStatus.RETRYABLE
    assert "ConnectError" in down.reason
    server.start()
    assert (await exporter.export(batch)).ok
    assert stored_seqs(server) == [0, 1, 2, 3]
    await exporter.shutdown()


async def test_empty_batch_sends_nothing(server: EsBulkServer) -> None:
    exporter = exporter_for(server)
    assert (await exporter.export([])).ok
    assert server.requests == []


def test_repr_shows_no_secret() -> None:
    exporter = ElasticsearchExporter(url="https://es:9200", username="u", password="pw-123456789")
    text = repr(exporter) + repr(exporter.options) + str(exporter.options)
    assert "pw-123456789" not in text
    assert repr(exporter) == (
        "ElasticsearchExporter(url='https://es:9200', target='logs-generic-default', "
        "auth='basic', gzip=False, timeout=10)"
    )


def test_after_fork_draws_a_new_nonce() -> None:
    exporter = ElasticsearchExporter(url="https://es:9200")
    before = exporter._ids.new_id(T0)
    exporter.after_fork()
    assert exporter._ids.new_id(T0)[11:16] != before[11:16]


# -- TLS ---------------------------------------------------------------------------------


async def test_tls_with_the_ca_file_is_trusted(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    with EsBulkServer(tls=certs.server_context()) as server:
        exporter = exporter_for(server, ca_file=certs.ca_file)
        assert (await exporter.export(make_events(2))).ok
        assert stored_seqs(server) == [0, 1]
        await exporter.shutdown()


async def test_an_untrusted_certificate_is_refused_by_default(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, self_signed=True)
    with EsBulkServer(tls=certs.server_context()) as server:
        exporter = exporter_for(server)
        result = await exporter.export(make_events(2))
        assert result.status is ExportStatus.RETRYABLE
        assert "TLS certificate verification failed" in result.reason
        assert "FAPILOG_ELASTICSEARCH_CA_FILE" in result.reason
        assert server.documents() == []
        await exporter.shutdown()


async def test_a_certificate_for_another_host_is_refused(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, hostname="es.example.internal")
    with EsBulkServer(tls=certs.server_context()) as server:
        exporter = exporter_for(server, ca_file=certs.ca_file)
        result = await exporter.export(make_events(1))
        assert result.status is ExportStatus.RETRYABLE
        assert "verification failed" in result.reason
        assert "mismatch" in result.reason.lower() or "match" in result.reason.lower()
        assert server.documents() == []
        await exporter.shutdown()


async def test_verify_false_accepts_a_self_signed_certificate(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, self_signed=True)
    with EsBulkServer(tls=certs.server_context()) as server:
        exporter = exporter_for(server, verify=False)
        assert (await exporter.export(make_events(1))).ok
        await exporter.shutdown()


def test_the_server_really_requires_the_trailing_newline(server: EsBulkServer) -> None:
    import httpx

    line = json.dumps({"create": {}}).encode() + b"\n" + b'{"@timestamp":"2025-01-01T00:00:00Z"}'
    response = httpx.post(
        server.url + "/logs-generic-default/_bulk",
        content=line,
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 400
    assert "terminated by a newline" in response.json()["error"]["reason"]


async def test_a_timed_out_request_indexed_late_is_not_duplicated(server: EsBulkServer) -> None:
    """The client gives up, the cluster indexes anyway: the resend meets 409, counted delivered."""
    import threading

    gate = threading.Event()
    original = server.handle_bulk

    def slow_once(*args):  # type: ignore[no-untyped-def]
        server.handle_bulk = original  # type: ignore[method-assign]
        gate.wait(5)
        return original(*args)

    server.handle_bulk = slow_once  # type: ignore[method-assign]
    exporter = exporter_for(server)
    exporter.options = exporter.options.model_copy(update={"timeout": 0.3})
    batch = make_events(3)
    first = await exporter.export(batch)
    assert first.status is ExportStatus.RETRYABLE
    assert "timed out" in first.reason
    gate.set()
    while len(server.documents()) < 3:  # the stalled request completes server-side
        await asyncio.sleep(0.01)
    assert (await exporter.export(batch)).ok
    assert stored_seqs(server) == [0, 1, 2]
    await exporter.shutdown()


async def test_an_unreadable_ca_file_fails_the_export_with_a_reason(
    server: EsBulkServer, tmp_path: Path
) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    exporter = exporter_for(server, ca_file=bad)
    result = await exporter.export(make_events(1))
    assert result.status is ExportStatus.FAILURE
    assert "cannot load the CA file" in result.reason
    assert server.requests == []
