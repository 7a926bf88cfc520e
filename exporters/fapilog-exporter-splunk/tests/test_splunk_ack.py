"""Indexer acknowledgement: delivered only when acked, re-sent when overdue, bounded table."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest

from fapilog import ExportStatus, LogEvent
from fapilog._diagnostics import reporter
from fapilog_exporter_splunk import SplunkHECExporter
from splunk_hec_server import ACK_TOKEN, TOKEN, Busy, HECServer, Status

POLL = 0.02


@pytest.fixture
def server() -> Iterator[HECServer]:
    with HECServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_reporter() -> Iterator[None]:
    reporter.reset()
    yield
    reporter.reset()


@pytest.fixture
async def make(server: HECServer) -> AsyncIterator[object]:
    made: list[SplunkHECExporter] = []

    def factory(**kwargs: object) -> SplunkHECExporter:
        values: dict[str, object] = {
            "url": server.url,
            "token": ACK_TOKEN,
            "ack": True,
            "ack_poll_interval": POLL,
            "ack_timeout": 5.0,
            **kwargs,
        }
        exporter = SplunkHECExporter(**values)
        made.append(exporter)
        return exporter

    yield factory
    for exporter in made:
        await exporter.shutdown()


def events(n: int, *, pad: int = 0) -> list[LogEvent]:
    return [
        LogEvent(timestamp=1_795_635_600_000_000_000 + i, body=f"event {i}",
                 attributes={"pad": "x" * pad} if pad else {})
        for i in range(n)
    ]  # fmt: skip


async def test_a_batch_is_delivered_once_its_ack_ids_are_reported_indexed(
    server: HECServer, make: object
) -> None:
    server.ack_lag = 2
    exporter = make()  # type: ignore[operator]
    assert (await exporter.export(events(3))).ok
    (data,) = server.data_requests()
    assert data.answer == {"text": "Success", "code": 0, "ackId": 0}
    polls = server.ack_requests()
    assert len(polls) == 3  # two answered false, the third true
    for poll in polls:
        assert poll.path == "/services/collector/ack"
        assert poll.headers["x-splunk-request-channel"] == exporter.channel
        assert json.loads(poll.body) == {"acks": [0]}
    assert [p.answer for p in polls] == [
        {"acks": {"0": False}}, {"acks": {"0": False}}, {"acks": {"0": True}},
    ]  # fmt: skip


async def test_unacknowledged_requests_are_resent_after_the_ack_timeout(
    server: HECServer, make: object
) -> None:
    """At-least-once: an overdue ack makes the batch retryable, and the retry re-sends it."""
    server.ack_mode = "never"
    exporter = make(ack_timeout=0.1)  # type: ignore[operator]
    batch = events(2)
    result = await exporter.export(batch)
    assert result.status is ExportStatus.RETRYABLE
    assert "not acknowledged within 0.1s (ack_timeout)" in result.reason
    server.ack_mode = "immediate"
    assert (await exporter.export(batch)).ok
    first, second = server.data_requests()
    assert first.body == second.body
    assert second.answer["ackId"] == 1  # a new ackId on the same channel
    assert len(server.events) == 4  # the duplicate at-least-once allows


async def test_only_the_overdue_requests_of_a_batch_are_resent(
    server: HECServer, make: object
) -> None:
    server.ack_mode = "manual"
    exporter = make(max_request_bytes=2048, ack_timeout=0.3, max_pending_acks=2)  # type: ignore[operator]
    batch = events(12, pad=400)
    task = asyncio.create_task(exporter.export(batch))
    while not server.ack_requests():
        await asyncio.sleep(0.005)
    assert len(server.data_requests()) == 2  # the table is full: wait before sending more
    server.release_acks()  # the first two are indexed; the rest never will be
    result = await task
    assert result.status is ExportStatus.RETRYABLE
    server.ack_mode = "immediate"  # for new ackIds; those issued before stay unindexed
    for _ in range(5):  # as the pipeline would retry
        if (await exporter.export(batch)).ok:
            break
    else:
        pytest.fail("the batch was never acknowledged")
    payloads = [r.body for r in server.data_requests()]
    distinct = list(dict.fromkeys(payloads))
    assert len(distinct) >= 4
    assert payloads.count(distinct[0]) == payloads.count(distinct[1]) == 1
    assert all(payloads.count(p) == 2 for p in distinct[2:4])  # overdue, re-sent once
    bodies = {e["event"]["body"] for e in server.events}
    assert bodies == {f"event {i}" for i in range(12)}


async def test_the_pending_ack_table_is_bounded(server: HECServer, make: object) -> None:
    server.ack_lag = 1
    exporter = make(max_request_bytes=2048, max_pending_acks=2)  # type: ignore[operator]
    assert (await exporter.export(events(20, pad=400))).ok
    outstanding: set[int] = set()
    peak = 0
    for req in server.requests:
        if req.path.endswith("/ack"):
            outstanding -= {int(k) for k, done in req.answer["acks"].items() if done}
        else:
            outstanding.add(req.answer["ackId"])
            peak = max(peak, len(outstanding))
    assert len(server.data_requests()) > 4
    assert peak == 2
    assert not outstanding


async def test_a_cancelled_export_keeps_polling_its_acks_instead_of_resending(
    server: HECServer, make: object
) -> None:
    """The pipeline cancels an export at its timeout; the retry must not duplicate."""
    server.ack_mode = "manual"
    exporter = make()  # type: ignore[operator]
    batch = events(2)
    task = asyncio.create_task(exporter.export(batch))
    while not server.ack_requests():
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    server.release_acks()
    assert (await exporter.export(batch)).ok
    assert len(server.data_requests()) == 1


async def test_a_busy_ack_endpoint_is_retryable_and_keeps_the_pending_acks(
    server: HECServer, make: object
) -> None:
    server.script([Busy(retry_after="1")], kind="ack")
    exporter = make()  # type: ignore[operator]
    batch = events(2)
    result = await exporter.export(batch)
    assert result.status is ExportStatus.RETRYABLE
    assert result.retry_after == 1.0
    assert (await exporter.export(batch)).ok
    assert len(server.data_requests()) == 1


async def test_a_forgotten_channel_moves_to_a_new_one_and_resends(
    server: HECServer, make: object
) -> None:
    server.ack_mode = "manual"
    exporter = make()  # type: ignore[operator]
    first_channel = exporter.channel
    batch = events(2)
    task = asyncio.create_task(exporter.export(batch))
    while not server.data_requests():
        await asyncio.sleep(0.005)
    server.forget_channels()  # HEC answers the next poll with 400 code 11
    result = await task
    assert result.status is ExportStatus.RETRYABLE
    assert "HEC code 11: Invalid data channel" in result.reason
    assert exporter.channel != first_channel
    server.ack_mode = "immediate"
    assert (await exporter.export(batch)).ok
    resent = server.data_requests()[-1]
    assert resent.headers["x-splunk-request-channel"] == exporter.channel


async def test_a_configured_channel_that_hec_refuses_fails(server: HECServer, make: object) -> None:
    server.script([Status(400, 11, "Invalid data channel")], kind="ack")
    fixed = "0b4f1f6e-9a1c-4f43-9d36-3c0e5b7a8c21"
    result = await make(channel=fixed).export(events(1))  # type: ignore[operator]
    assert result.status is ExportStatus.FAILURE
    assert "FAPILOG_SPLUNK_CHANNEL" in result.reason


async def test_ack_disabled_on_the_token_counts_accepted_data_as_delivered_and_says_so(
    server: HECServer, make: object, capfd: pytest.CaptureFixture[str]
) -> None:
    server.script([Status(400, 14, "ACK is disabled")], kind="ack")
    assert (await make().export(events(2))).ok  # type: ignore[operator]
    assert reporter.flush(5)
    err = capfd.readouterr().err
    assert "HEC code 14: ACK is disabled" in err
    assert "FAPILOG_SPLUNK_ACK=false" in err


async def test_ack_on_with_a_token_without_ack_is_delivered_with_a_warning(
    server: HECServer, make: object, capfd: pytest.CaptureFixture[str]
) -> None:
    assert (await make(token=TOKEN).export(events(2))).ok  # type: ignore[operator]
    assert server.ack_requests() == []
    assert reporter.flush(5)
    assert "without an ackId although ack=True" in capfd.readouterr().err


async def test_the_ack_endpoint_of_the_fake_mirrors_hec_errors(server: HECServer) -> None:
    """The fake's /ack answers: ack disabled (14), channel missing (10), invalid (11)."""
    import httpx

    async with httpx.AsyncClient() as client:
        url = f"{server.url}/services/collector/ack"
        no_ack = await client.post(
            url, json={"acks": [0]}, headers={"Authorization": f"Splunk {TOKEN}"}
        )
        assert (no_ack.status_code, no_ack.json()["code"]) == (400, 14)
        auth = {"Authorization": f"Splunk {ACK_TOKEN}"}
        missing = await client.post(url, json={"acks": [0]}, headers=auth)
        assert (missing.status_code, missing.json()["code"]) == (400, 10)
        bad = await client.post(
            url, json={"acks": [0]}, headers={**auth, "X-Splunk-Request-Channel": "nope"}
        )
        assert (bad.status_code, bad.json()["code"]) == (400, 11)
