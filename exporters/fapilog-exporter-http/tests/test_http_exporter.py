"""HTTPExporter against the loopback receiver: bodies, headers, status mapping, resuming."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from fapilog import ExportStatus, LogEvent
from fapilog.plugin import RetryPolicy, event_to_dict
from fapilog_exporter_http import HTTPExporter
from fapilog_exporter_http._encode import plan_requests
from http_sink_server import Hang, Pass, Reset, SinkServer, Status, make_tls

TS = 1_795_635_600_123_456_789
TOKEN = "tok-4f1c9a7e2b3d4c5e8f90"

Make = Callable[..., HTTPExporter]


@pytest.fixture
def server() -> Iterator[SinkServer]:
    with SinkServer() as s:
        yield s


@pytest.fixture
async def make(server: SinkServer) -> AsyncIterator[Make]:
    made: list[HTTPExporter] = []

    def factory(**kwargs: object) -> HTTPExporter:
        values: dict[str, object] = {"url": server.url, "timeout": 2.0, **kwargs}
        exporter = HTTPExporter(**values)  # type: ignore[arg-type]
        made.append(exporter)
        return exporter

    yield factory
    for exporter in made:
        await exporter.shutdown()


def events(n: int, *, pad: int = 0) -> list[LogEvent]:
    return [
        LogEvent(
            timestamp=TS + i * 1000,
            severity_text="INFO",
            severity_number=9,
            body=f"event {i}",
            attributes={"seq": i, "nested": {"ok": True}, **({"pad": "x" * pad} if pad else {})},
        )
        for i in range(n)
    ]


def seqs(server: SinkServer) -> list[int]:
    return [r["attributes"]["seq"] for r in server.records]


# -- bodies ---------------------------------------------------------------------------


async def test_ndjson_body_parses_back_to_the_events(server: SinkServer, make: Make) -> None:
    batch = events(3)
    result = await make().export(batch)
    assert result.ok
    (request,) = server.requests
    assert request.method == "POST" and request.path == "/ingest"
    assert request.headers["content-type"] == "application/x-ndjson"
    assert "content-encoding" not in request.headers
    lines = request.body.decode().split("\n")
    assert lines[-1] == "" and len(lines) == 4  # one line per record, newline-terminated
    assert [json.loads(line) for line in lines[:-1]] == [event_to_dict(e) for e in batch]


async def test_json_array_body_parses_back_to_the_events(server: SinkServer, make: Make) -> None:
    batch = events(3)
    assert (await make(format="json").export(batch)).ok
    (request,) = server.requests
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == [event_to_dict(e) for e in batch]


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
async def test_gzip_bodies_decompress_to_the_same_records(
    server: SinkServer, make: Make, fmt: str
) -> None:
    batch = events(20)
    assert (await make(format=fmt, compression="gzip", method="PUT").export(batch)).ok
    (request,) = server.requests
    assert request.method == "PUT"
    assert request.headers["content-encoding"] == "gzip"
    assert len(request.wire_body) < len(request.body)
    assert gzip.decompress(request.wire_body) == request.body
    assert server.records == [event_to_dict(e) for e in batch]


async def test_resource_attributes_are_added_on_request(server: SinkServer, make: Make) -> None:
    from opentelemetry.sdk.resources import Resource

    event = events(1)[0]
    event.resource = Resource({"service.name": "shop", "host.name": "web-1"})
    assert (await make(include_resource=True).export([event])).ok
    (record,) = server.records
    assert record["resource"] == {"service.name": "shop", "host.name": "web-1"}
    assert record["service.name"] == "shop"


async def test_credentials_and_headers_reach_the_server(server: SinkServer, make: Make) -> None:
    await make(bearer_token=TOKEN, headers={"X-Api-Key": "k-123", "X-Tenant": "eu"}).export(
        events(1)
    )
    await make(basic_auth="ingest:pa55-word-long").export(events(1))
    first, second = server.requests
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["x-api-key"] == "k-123" and first.headers["x-tenant"] == "eu"
    assert first.headers["user-agent"].startswith("fapilog/")
    assert second.headers["authorization"] == "Basic aW5nZXN0OnBhNTUtd29yZC1sb25n"


async def test_a_content_type_header_overrides_the_default(server: SinkServer, make: Make) -> None:
    await make(headers={"content-type": "text/plain"}).export(events(1))
    assert server.requests[0].headers["content-type"] == "text/plain"


# -- size limits and resuming ---------------------------------------------------------


def test_requests_are_packed_within_the_limit_for_both_formats() -> None:
    items = [b'{"n":%d,"p":"%s"}' % (i, b"x" * (i % 7) * 10) for i in range(200)]
    for json_array in (False, True):
        split = plan_requests(items, 1024, json_array=json_array)
        assert split.dropped == 0
        assert [i for r in split.requests for i in r.items] == items
        assert all(len(r.body()) <= 1024 for r in split.requests)
        # greedy: adding the next record to a request would have exceeded the limit
        for request, following in zip(split.requests, split.requests[1:], strict=False):
            grown = type(request)([*request.items, following.items[0]], json_array)
            assert len(grown.body()) > 1024


async def test_a_large_batch_is_split_and_every_request_is_within_the_limit(
    server: SinkServer, make: Make
) -> None:
    batch = events(60, pad=100)
    assert (await make(max_request_bytes=2048).export(batch)).ok
    assert len(server.requests) > 3
    assert all(len(r.body) <= 2048 for r in server.requests)
    assert seqs(server) == list(range(60))


async def test_a_retry_resends_only_the_requests_still_owed(server: SinkServer, make: Make) -> None:
    exporter = make(max_request_bytes=2048)
    batch = events(40, pad=100)
    server.script(Pass(), Pass(), Status(503))
    first = await exporter.export(batch)
    assert first.status is ExportStatus.RETRYABLE
    assert len(server.records) > 0
    assert (await exporter.export(batch)).ok  # the very same batch: resume
    assert seqs(server) == list(range(40))  # nothing twice, nothing missing
    # a different batch starts from its own beginning
    assert (await exporter.export(events(2))).ok
    assert seqs(server)[-2:] == [0, 1]


async def test_a_lost_answer_is_resent_with_the_same_idempotency_key(
    server: SinkServer, make: Make
) -> None:
    server.dedupe_header = "Idempotency-Key"
    exporter = make()
    batch = events(5)
    server.script(Reset(after_store=True))
    assert (await exporter.export(batch)).status is ExportStatus.RETRYABLE
    assert (await exporter.export(batch)).ok
    first, second = server.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert seqs(server) == list(range(5))  # the receiver dropped the repeat by its key


async def test_without_an_idempotency_header_none_is_sent(server: SinkServer, make: Make) -> None:
    await make(idempotency_header="").export(events(1))
    assert "idempotency-key" not in server.requests[0].headers


async def test_413_splits_the_request_until_it_fits(server: SinkServer, make: Make) -> None:
    server.max_body = 1500
    batch = events(12, pad=100)
    result = await make(max_request_bytes=8192).export(batch)
    assert result.ok, result.reason
    assert server.requests[0].status == 413
    assert len(server.requests) >= 3  # the first request, then its halves
    assert seqs(server) == list(range(12))


async def test_a_single_record_refused_as_too_large_is_dropped_alone(
    server: SinkServer, make: Make
) -> None:
    server.max_body = 1500
    batch = [*events(2), *events(1, pad=2000)]
    result = await make().export(batch)
    assert result.status is ExportStatus.PARTIAL and result.rejected == 1
    assert "HTTP 413" in result.reason and "max_request_bytes" in result.reason
    assert seqs(server) == [0, 1]


async def test_a_record_over_max_request_bytes_is_dropped_without_a_request(
    server: SinkServer, make: Make
) -> None:
    batch = [*events(2), *events(1, pad=5000)]
    result = await make(max_request_bytes=2048).export(batch)
    assert result.status is ExportStatus.PARTIAL and result.rejected == 1
    assert "exceeds the 2048-byte request size limit" in result.reason
    assert seqs(server) == [0, 1]


# -- status mapping -------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_2xx_is_success(make: Make, status: int) -> None:
    with SinkServer(status=status) as other:
        exporter = make(url=other.url)
        assert (await exporter.export(events(2))).ok
        assert len(other.records) == 2


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (408, None, None),
        (429, "7", 7.0),
        (500, None, None),
        (502, None, None),
        (503, "2", 2.0),
        (504, None, None),
    ],
)
async def test_408_429_and_5xx_are_retryable_with_retry_after(
    server: SinkServer, make: Make, status: int, retry_after: str | None, expected: float | None
) -> None:
    headers = (("Retry-After", retry_after),) if retry_after else ()
    server.script(Status(status, headers, '{"error":"busy"}'))
    result = await make().export(events(2))
    assert result.status is ExportStatus.RETRYABLE
    assert result.retry_after == expected
    assert result.reason.startswith(f"HTTP {status}") and "busy" in result.reason


@pytest.mark.parametrize("status", [400, 422])
async def test_400_and_422_refuse_that_request_only(
    server: SinkServer, make: Make, status: int
) -> None:
    exporter = make(max_request_bytes=2048)
    batch = events(40, pad=100)
    server.script(Pass(), Status(status, body='{"error":"schema mismatch"}'))
    result = await exporter.export(batch)
    assert result.status is ExportStatus.PARTIAL
    refused = len(batch) - len(server.records)
    assert result.rejected == refused > 0
    assert "schema mismatch" in result.reason
    assert len(server.requests) > 2  # the requests after the refused one were still sent


@pytest.mark.parametrize(("status", "hint"), [(401, "credentials"), (403, "credentials"),
                                              (404, "url="), (405, "method="),
                                              (301, "redirects"), (409, "")])  # fmt: skip
async def test_other_4xx_and_3xx_fail_the_batch(
    server: SinkServer, make: Make, status: int, hint: str
) -> None:
    server.script(Status(status, (("Location", "http://elsewhere/"),)))
    result = await make().export(events(3))
    assert result.status is ExportStatus.FAILURE
    assert result.reason.startswith(f"HTTP {status}") and hint in result.reason
    assert len(server.requests) == 1  # not followed, not retried


async def test_a_failure_after_delivered_requests_rejects_only_the_rest(
    server: SinkServer, make: Make
) -> None:
    server.script(Pass(), Status(403))
    batch = events(40, pad=100)
    result = await make(max_request_bytes=2048).export(batch)
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == len(batch) - len(server.records)
    assert len(server.requests) == 2


# -- no answer ------------------------------------------------------------------------


async def test_connection_refused_is_retryable(make: Make) -> None:
    with SinkServer() as gone:
        url = gone.url
    result = await make(url=url).export(events(1))
    assert result.status is ExportStatus.RETRYABLE
    assert result.reason.startswith("HTTP ConnectError")


async def test_a_connection_reset_is_retryable(server: SinkServer, make: Make) -> None:
    server.script(Reset())
    exporter = make()
    result = await exporter.export(events(2))
    assert result.status is ExportStatus.RETRYABLE
    assert (await exporter.export(events(2))).ok


async def test_a_hung_server_times_out_as_retryable(server: SinkServer, make: Make) -> None:
    server.script(Hang())
    result = await make(timeout=0.2).export(events(1))
    assert result.status is ExportStatus.RETRYABLE
    assert result.reason == "HTTP request timed out after 0.2s"
    server.release()


# -- secrets --------------------------------------------------------------------------


async def test_a_server_echoing_credentials_leaves_none_in_the_reason(
    server: SinkServer, make: Make
) -> None:
    echo = f'{{"error":"bad token Bearer {TOKEN}", "key":"{TOKEN.upper()}", "basic":"x"}}'
    server.script(Status(401, body=echo))
    exporter = make(bearer_token=TOKEN)
    result = await exporter.export(events(1))
    assert TOKEN.lower() not in result.reason.lower()
    assert TOKEN not in repr(exporter) and TOKEN not in repr(exporter.options)
    assert "***" in result.reason


async def test_basic_auth_is_masked_in_every_form_the_server_may_echo(
    server: SinkServer, make: Make
) -> None:
    password = "s3cret-pa55word"
    echo = f"user:{password} / aW5nZXN0OnMzY3JldC1wYTU1d29yZA== / s3cret%2Dpa55word {password}"
    server.script(Status(400, body=echo))
    result = await make(basic_auth=f"ingest:{password}").export(events(1))
    assert password not in result.reason
    assert "aW5nZXN0OnMzY3JldC1wYTU1d29yZA" not in result.reason


async def test_a_long_error_body_is_cut_after_masking(server: SinkServer, make: Make) -> None:
    server.script(Status(400, body="x" * 190 + f" {TOKEN} " + "y" * 5000))
    result = await make(bearer_token=TOKEN).export(events(1))
    assert len(result.reason) <= 300
    assert TOKEN[:6] not in result.reason  # not even the start of the token survives


def test_the_retry_policy_option_becomes_the_exporters_policy(server: SinkServer) -> None:
    policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, max_attempts=3)
    assert HTTPExporter(url=server.url, retry_policy=policy).retry_policy is policy
    assert HTTPExporter(url=server.url).retry_policy is None
    with pytest.raises(TypeError, match="RetryPolicy"):
        HTTPExporter(url=server.url, retry_policy={"max_attempts": 3})  # type: ignore[arg-type]


# -- TLS ------------------------------------------------------------------------------


async def test_tls_is_verified_by_default_and_a_ca_file_makes_it_trusted(
    make: Make, tmp_path: Path
) -> None:
    context, ca_file = make_tls(tmp_path)
    with SinkServer(ssl_context=context) as tls:
        refused = await make(url=tls.url).export(events(1))
        assert refused.status is ExportStatus.RETRYABLE
        assert "CERTIFICATE_VERIFY_FAILED" in refused.reason
        assert not tls.records
        assert (await make(url=tls.url, ca_file=ca_file).export(events(2))).ok
        assert (await make(url=tls.url, verify=False).export(events(1))).ok
        assert len(tls.records) == 3
