"""SplunkHECExporter against the fake HEC: wire bytes, status handling, resuming, TLS."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fapilog import ExportStatus, LogEvent
from fapilog_exporter_splunk import SplunkHECExporter
from splunk_hec_server import (
    TOKEN,
    Busy,
    Drop,
    HECServer,
    Pass,
    Status,
    TokenConfig,
    TooMany,
    make_pki,
)

TS = 1_795_635_600_123_456_789


@pytest.fixture
def server() -> Iterator[HECServer]:
    with HECServer() as s:
        yield s


@pytest.fixture
async def make(server: HECServer) -> AsyncIterator[object]:
    made: list[SplunkHECExporter] = []

    def factory(**kwargs: object) -> SplunkHECExporter:
        values: dict[str, object] = {"url": server.url, "token": TOKEN, "timeout": 5.0, **kwargs}
        exporter = SplunkHECExporter(**values)
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
            attributes={"seq": i, **({"pad": "x" * pad} if pad else {})},
        )
        for i in range(n)
    ]


def bodies(server: HECServer) -> list[str]:
    return [e["event"]["body"] for e in server.events]


# -- what goes on the wire ---------------------------------------------------------------


async def test_a_batch_is_one_gzip_request_of_newline_separated_envelopes(
    server: HECServer, make: object
) -> None:
    exporter = make(index="main", sourcetype="_json", source="shop")  # type: ignore[operator]
    result = await exporter.export(events(3))
    assert result.ok
    (req,) = server.requests
    assert req.method == "POST"
    assert req.path == "/services/collector/event"
    assert req.headers["authorization"] == f"Splunk {TOKEN}"
    assert req.headers["x-splunk-request-channel"] == exporter.channel
    assert req.headers["content-type"] == "application/json"
    assert req.headers["content-encoding"] == "gzip"
    assert int(req.headers["content-length"]) == len(req.wire_body)
    lines = gzip.decompress(req.wire_body).split(b"\n")
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert line.startswith(b'{"time":17956356%02d.%06d,' % (0, 123456 + i))
        envelope = json.loads(line)
        assert envelope["time"] == pytest.approx(1795635600.123456 + i / 1e6)
        assert (envelope["index"], envelope["sourcetype"], envelope["source"]) == (
            "main", "_json", "shop",
        )  # fmt: skip
        assert envelope["event"]["body"] == f"event {i}"
        assert envelope["event"]["attributes"] == {"seq": i}
        assert envelope["fields"] == {"severity": "INFO"}
    assert bodies(server) == ["event 0", "event 1", "event 2"]


async def test_without_gzip_the_body_is_sent_as_is(server: HECServer, make: object) -> None:
    await make(gzip=False).export(events(2))  # type: ignore[operator]
    (req,) = server.requests
    assert "content-encoding" not in req.headers
    assert req.wire_body.count(b"\n") == 1
    assert json.loads(req.wire_body.split(b"\n")[1])["event"]["body"] == "event 1"


async def test_the_raw_endpoint_gets_json_lines_and_metadata_as_query_parameters(
    server: HECServer, make: object
) -> None:
    exporter = make(endpoint="raw", index="logs", source="shop", sourcetype="_json", host="web-1")  # type: ignore[operator]
    assert (await exporter.export(events(3))).ok
    (req,) = server.requests
    assert req.path == "/services/collector/raw"
    assert req.query == {
        "channel": exporter.channel,
        "host": "web-1",
        "source": "shop",
        "sourcetype": "_json",
        "index": "logs",
    }
    assert req.headers["content-type"].startswith("text/plain")
    lines = [json.loads(line) for _, line in server.raw]
    assert [line["body"] for line in lines] == ["event 0", "event 1", "event 2"]
    assert lines[0]["timestamp"] == "2026-11-25T19:40:00.123456789Z"


async def test_a_batch_over_the_byte_limit_is_split_in_order(
    server: HECServer, make: object
) -> None:
    exporter = make(max_request_bytes=4096)  # type: ignore[operator]
    assert (await exporter.export(events(40, pad=300))).ok
    data = server.data_requests()
    assert len(data) > 3
    assert all(len(r.body) <= 4096 for r in data)
    assert bodies(server) == [f"event {i}" for i in range(40)]


async def test_a_record_too_big_alone_is_dropped_with_a_reason_not_sent(
    server: HECServer, make: object
) -> None:
    batch = events(3)
    batch[1].attributes["blob"] = "y" * 5000
    result = await make(max_request_bytes=2048).export(batch)  # type: ignore[operator]
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == 1
    assert "exceeds the 2048-byte request size limit (max_request_bytes)" in result.reason
    assert bodies(server) == ["event 0", "event 2"]


# -- HEC answers -----------------------------------------------------------------------


async def test_an_index_outside_the_tokens_allow_list_is_rejected_not_retried(
    server: HECServer, make: object
) -> None:
    result = await make(index="secret").export(events(4))  # type: ignore[operator]
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == 4
    assert "HTTP 400, HEC code 7: Incorrect index" in result.reason
    assert server.events == []


@pytest.mark.parametrize(
    ("code", "text"),
    [(5, "No data"), (6, "Invalid data format"), (12, "Event field is required"),
     (13, "Event field cannot be blank"), (15, "Error in handling indexed fields")],
)  # fmt: skip
async def test_data_errors_reject_their_request_only(
    server: HECServer, make: object, code: int, text: str
) -> None:
    server.script([Pass(), Status(400, code, text)])
    exporter = make(max_request_bytes=2048)  # type: ignore[operator]
    batch = events(12, pad=400)
    result = await exporter.export(batch)
    assert result.status is ExportStatus.PARTIAL
    second = server.data_requests()[1]
    rejected = second.body.count(b"\n") + 1
    assert result.rejected == rejected
    assert f"HEC code {code}: {text}" in result.reason
    assert len(server.events) == 12 - rejected  # later requests were still sent


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        (TokenConfig(disabled=True), "HTTP 403, HEC code 1: Token disabled"),
        (None, "HTTP 403, HEC code 4: Invalid token"),
    ],
)
async def test_a_refused_token_fails_clearly_and_without_the_secret(
    server: HECServer, make: object, config: TokenConfig | None, fragment: str
) -> None:
    if config is not None:
        server.tokens[TOKEN] = config
    else:
        del server.tokens[TOKEN]
    result = await make().export(events(2))  # type: ignore[operator]
    assert result.status is ExportStatus.FAILURE
    assert fragment in result.reason
    assert "FAPILOG_SPLUNK_TOKEN" in result.reason
    assert TOKEN not in result.reason
    assert len(server.requests) == 1


async def test_an_error_text_echoing_the_token_is_masked(server: HECServer, make: object) -> None:
    server.script([Status(400, 6, f"cannot parse {TOKEN}\nat line 1")])
    result = await make().export(events(1))  # type: ignore[operator]
    assert TOKEN not in result.reason
    assert "cannot parse *** at line 1" in result.reason


@pytest.mark.parametrize(
    ("fault", "delay"),
    [(Busy(retry_after="3"), 3.0), (TooMany(retry_after="2"), 2.0), (Busy(), None),
     (Status(500, 8, "Internal server error"), None), (Status(502), None), (Drop(), None)],
)  # fmt: skip
async def test_busy_throttled_and_server_errors_are_retryable(
    server: HECServer, make: object, fault: object, delay: float | None
) -> None:
    server.script([fault])  # type: ignore[list-item]
    exporter = make()  # type: ignore[operator]
    result = await exporter.export(batch := events(3))
    assert result.status is ExportStatus.RETRYABLE
    assert result.retry_after == delay
    assert (await exporter.export(batch)).ok
    assert bodies(server) == ["event 0", "event 1", "event 2"]


async def test_a_busy_answer_names_hec_code_9(server: HECServer, make: object) -> None:
    server.script([Busy(retry_after="1")])
    result = await make().export(events(1))  # type: ignore[operator]
    assert result.reason == "HTTP 503, HEC code 9: Server is busy"


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        (Status(404, 404, "Not found"), "check url="),
        (Status(302, headers=(("Location", "http://elsewhere/"),)), "redirects are not followed"),
        (Status(400, 10, "Data channel is missing"), "may strip X-Splunk-Request-Channel"),
    ],
)
async def test_configuration_errors_fail(
    server: HECServer, make: object, fault: Status, fragment: str
) -> None:
    server.script([fault])
    result = await make().export(events(1))  # type: ignore[operator]
    assert result.status is ExportStatus.FAILURE
    assert fragment in result.reason


async def test_a_retried_batch_resumes_after_the_requests_already_delivered(
    server: HECServer, make: object
) -> None:
    server.script([Pass(), Busy(retry_after="0")])
    exporter = make(max_request_bytes=2048)  # type: ignore[operator]
    batch = events(12, pad=400)
    assert (await exporter.export(batch)).status is ExportStatus.RETRYABLE
    assert (await exporter.export(batch)).ok
    assert bodies(server) == [f"event {i}" for i in range(12)]  # nothing twice


async def test_a_different_batch_starts_afresh(server: HECServer, make: object) -> None:
    server.script([Busy()])
    exporter = make()  # type: ignore[operator]
    assert (await exporter.export(events(2))).status is ExportStatus.RETRYABLE
    assert (await exporter.export(other := events(1))).ok
    assert bodies(server) == [other[0].body]


async def test_a_permanent_error_after_partial_delivery_rejects_only_the_rest(
    server: HECServer, make: object
) -> None:
    server.script([Pass(), Status(403, 4, "Invalid token")])
    result = await make(max_request_bytes=2048).export(events(12, pad=400))  # type: ignore[operator]
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == 12 - len(server.events)
    assert "Invalid token" in result.reason


async def test_a_server_that_is_down_is_retryable_and_delivered_once_up(
    server: HECServer, make: object
) -> None:
    exporter = make()  # type: ignore[operator]
    assert (await exporter.export(events(1))).ok  # a kept-alive connection exists
    server.stop()
    batch = events(2)
    result = await exporter.export(batch)
    assert result.status is ExportStatus.RETRYABLE
    assert "ConnectError" in result.reason or "RemoteProtocolError" in result.reason
    server.start()
    assert (await exporter.export(batch)).ok
    assert bodies(server) == ["event 0", "event 0", "event 1"]


# -- TLS ----------------------------------------------------------------------------------


async def _tls_export(pki_server: HECServer, **kwargs: object) -> object:
    exporter = SplunkHECExporter(url=pki_server.url, token=TOKEN, timeout=5.0, **kwargs)  # type: ignore[arg-type]
    try:
        return await exporter.export(events(1))
    finally:
        await exporter.shutdown()


async def test_tls_with_a_private_ca_is_refused_by_default_and_works_with_ca_file(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path)
    with HECServer(ssl_context=pki.server_context()) as tls:
        refused = await _tls_export(tls)
        assert refused.status is ExportStatus.RETRYABLE  # type: ignore[attr-defined]
        assert "CERTIFICATE_VERIFY_FAILED" in refused.reason  # type: ignore[attr-defined]
        assert tls.requests == []
        assert (await _tls_export(tls, ca_file=pki.ca)).ok  # type: ignore[attr-defined]
        assert len(tls.events) == 1


async def test_tls_with_a_certificate_for_another_host_is_refused_even_with_its_ca(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path, san="splunk.other.invalid")
    with HECServer(ssl_context=pki.server_context()) as tls:
        refused = await _tls_export(tls, ca_file=pki.ca)
        assert refused.status is ExportStatus.RETRYABLE  # type: ignore[attr-defined]
        assert "CERTIFICATE_VERIFY_FAILED" in refused.reason  # type: ignore[attr-defined]
        assert tls.requests == []


async def test_a_self_signed_certificate_is_refused_unless_trusted_or_verification_is_off(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path, self_signed=True)
    with HECServer(ssl_context=pki.server_context()) as tls:
        refused = await _tls_export(tls)
        assert "CERTIFICATE_VERIFY_FAILED" in refused.reason  # type: ignore[attr-defined]
        assert (await _tls_export(tls, ca_file=pki.ca)).ok  # type: ignore[attr-defined]
        assert (await _tls_export(tls, verify=False)).ok  # type: ignore[attr-defined]
        assert len(tls.events) == 2


async def test_a_body_too_large_for_the_server_is_rejected_with_the_fix(
    server: HECServer, make: object
) -> None:
    server.script([Status(413, None, "Content-Length of 2000000 too large (maximum is 1000000)")])
    result = await make().export(events(2))  # type: ignore[operator]
    assert result.status is ExportStatus.PARTIAL
    assert result.rejected == 2
    assert "lower max_request_bytes" in result.reason


async def test_hecs_invalid_event_number_is_part_of_the_reason(
    server: HECServer, make: object
) -> None:
    result = await make(index="secret").export(events(3))  # type: ignore[operator]
    assert "HTTP 400, HEC code 7: Incorrect index (invalid-event-number 0)" in result.reason
