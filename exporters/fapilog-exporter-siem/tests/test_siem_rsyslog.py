"""Against a real rsyslog: every record arrives once, parsed by rsyslog into the right fields.

rsyslog's own RFC 5424 parser splits each message; its ``mmpstrucdata`` module
unescapes the structured data. The values it reports must equal what was logged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import LogEvent
from fapilog_exporter_siem import SyslogExporter
from fapilog_exporter_siem._rfc5424 import format_timestamp
from rsyslog_receiver import Rsyslog, TlsFiles, make_certs
from siem_parsers import parse_cef, parse_leef

TRICKY = 'quote " backslash \\ bracket ] pipe | equals = newline\nsecond line tab\t é 𝄞'


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    with Rsyslog(tmp_path_factory.mktemp("rsyslog"), udp=True) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def rsyslog_tls(tmp_path_factory: pytest.TempPathFactory, certs: TlsFiles) -> Iterator[Rsyslog]:
    with Rsyslog(tmp_path_factory.mktemp("rsyslog-tls"), tls=certs) as receiver:
        yield receiver


def make_events(n: int, *, tag: str = "") -> list[LogEvent]:
    resource = Resource({"service.name": "checkout", "host.name": "web-1"})
    now = time.time_ns()
    return [
        LogEvent(
            timestamp=now + i * 1_000,
            severity_number=(9, 13, 17, 21, 5)[i % 5],
            severity_text=("INFO", "WARN", "ERROR", "FATAL", "DEBUG")[i % 5],
            body=f"{tag} event {i}: {TRICKY}",
            attributes={
                "seq": i,
                "tag": tag,
                "tricky": TRICKY,
                "key with space": "v",
                "nested": {"a": [1, 2]},
                "client.address": "10.1.2.3",
            },
            trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
            span_id=0x00F067AA0BA902B7,
            trace_flags=1,
            resource=resource,
            instrumentation_scope=InstrumentationScope("shop.orders"),
            event_name="order.paid" if i % 2 else None,
        )
        for i in range(n)
    ]


def mine(receiver: Rsyslog, tag: str, count: int) -> list[dict[str, Any]]:
    """This test's records (by tag), waiting until ``count`` arrived."""
    deadline = time.monotonic() + 15
    while True:
        records = [r for r in receiver.records() if f"{tag} event " in r["msg"]]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.02)


SYSLOG_SEVERITY = {9: 6, 13: 4, 17: 3, 21: 2, 5: 7}


def check_rfc5424(records: list[dict[str, Any]], events: list[LogEvent], facility: int) -> None:
    assert len(records) == len(events)
    by_seq = {int(r["sd"]["fapilog.attrs@32473"]["seq"]): r for r in records}
    assert sorted(by_seq) == list(range(len(events)))
    for i, event in enumerate(events):
        r = by_seq[i]
        assert int(r["pri"]) == facility * 8 + SYSLOG_SEVERITY[event.severity_number]
        assert r["timereported"] == format_timestamp(event.timestamp)
        assert (r["hostname"], r["app_name"]) == ("web-1", "checkout")
        assert r["procid"].isdigit()
        assert r["msgid"] == (event.event_name or "-")
        assert r["msg"] == event.body
        attrs = r["sd"]["fapilog.attrs@32473"]
        assert attrs["tricky"] == TRICKY
        assert attrs["nested"] == '{"a":[1,2]}'
        assert attrs["client.address"] == "10.1.2.3"
        (rewritten,) = [k for k in attrs if k.startswith("key_with_space~")]
        assert attrs[rewritten] == "v"
        meta = r["sd"]["fapilog@32473"]
        assert meta == {
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "trace_flags": "01",
            "logger": "shop.orders",
            "severity_text": event.severity_text,
            "service.name": "checkout",
        }


async def test_tcp_records_arrive_once_with_every_field(rsyslog: Rsyslog) -> None:
    events = make_events(25, tag="tcp")
    exporter = SyslogExporter(
        host="127.0.0.1", port=rsyslog.tcp_port, transport="tcp", facility="local3"
    )
    try:
        result = await exporter.export(events)
    finally:
        await exporter.shutdown()
    assert result.ok, result.reason
    check_rfc5424(mine(rsyslog, "tcp", 25), events, facility=19)
    stats = exporter.stats()
    assert (stats.messages_sent, stats.connects, stats.possibly_duplicated) == (25, 1, 0)


async def test_one_connection_serves_many_batches(rsyslog: Rsyslog) -> None:
    exporter = SyslogExporter(host="127.0.0.1", port=rsyslog.tcp_port, transport="tcp")
    events = make_events(30, tag="reuse")
    try:
        for start in range(0, 30, 10):
            assert (await exporter.export(events[start : start + 10])).ok
    finally:
        await exporter.shutdown()
    assert len(mine(rsyslog, "reuse", 30)) == 30
    assert exporter.stats().connects == 1


async def test_udp_records_arrive_and_oversized_ones_are_shortened(rsyslog: Rsyslog) -> None:
    events = make_events(10, tag="udp")
    events[3].attributes["stack"] = "frame\n" * 1000  # 6 kB: over the 2048-byte UDP default
    exporter = SyslogExporter(host="127.0.0.1", port=rsyslog.udp_port, transport="udp")
    try:
        assert (await exporter.export(events)).ok
    finally:
        await exporter.shutdown()
    records = mine(rsyslog, "udp", 10)
    by_seq = {int(r["sd"]["fapilog.attrs@32473"]["seq"]): r for r in records}
    assert sorted(by_seq) == list(range(10))
    stack = by_seq[3]["sd"]["fapilog.attrs@32473"]["stack"]
    assert stack.startswith("frame\nframe\n") and stack.endswith("...")
    assert by_seq[3]["msg"] == events[3].body  # the longest value was cut, not the message
    assert exporter.stats().truncated == 1


@pytest.mark.parametrize("server_name", [None, "localhost"])
async def test_tls_verified_against_the_ca(
    rsyslog_tls: Rsyslog, certs: TlsFiles, server_name: str | None
) -> None:
    tag = f"tls-{server_name}"
    events = make_events(5, tag=tag)
    exporter = SyslogExporter(
        host="127.0.0.1", port=rsyslog_tls.tcp_port, ca_file=certs.ca, server_name=server_name
    )
    assert exporter.options.transport == "tls" and exporter.options.verify
    try:
        result = await exporter.export(events)
    finally:
        await exporter.shutdown()
    assert result.ok, result.reason
    check_rfc5424(mine(rsyslog_tls, tag, 5), events, facility=1)


async def test_cef_payload_arrives_parseable(rsyslog: Rsyslog) -> None:
    events = make_events(5, tag="cef")
    exporter = SyslogExporter(
        host="127.0.0.1", port=rsyslog.tcp_port, transport="tcp", format="cef", vendor="Acme"
    )
    try:
        assert (await exporter.export(events)).ok
    finally:
        await exporter.shutdown()
    records = mine(rsyslog, "cef", 5)
    assert len(records) == 5
    parsed = sorted((parse_cef(r["msg"]) for r in records), key=lambda c: int(c.get("seq") or 0))
    for event, cef in zip(events, parsed, strict=True):
        assert (cef.vendor, cef.product, cef.device_version) == ("Acme", "checkout", "3")
        assert cef.signature_id == (event.event_name or "shop.orders")
        assert cef.name == event.body.replace("\n", " ")
        assert cef.get("msg") == event.body
        assert cef.get("src") == "10.1.2.3"
        assert cef.get("tricky") == TRICKY
        assert cef.get("rt") == str(event.timestamp // 1_000_000)
        assert cef.get("trace_id") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert [r["structured_data"] for r in records] == ["-"] * 5


async def test_leef_payload_arrives_parseable(rsyslog: Rsyslog) -> None:
    events = make_events(5, tag="leef")
    exporter = SyslogExporter(
        host="127.0.0.1", port=rsyslog.tcp_port, transport="tcp", format="leef"
    )
    try:
        assert (await exporter.export(events)).ok
    finally:
        await exporter.shutdown()
    records = mine(rsyslog, "leef", 5)
    assert len(records) == 5
    parsed = sorted((parse_leef(r["msg"]) for r in records), key=lambda x: int(x.get("seq") or 0))
    for event, leef in zip(events, parsed, strict=True):
        assert leef.delimiter == "\t"
        assert leef.get("msg") == event.body
        assert leef.get("tricky") == TRICKY
        assert leef.get("src") == "10.1.2.3"
        assert leef.event_id == (event.event_name or "shop.orders")
        assert 1 <= int(leef.get("sev") or 0) <= 10


def test_receiver_config_writes_only_inside_its_directory(rsyslog: Rsyslog) -> None:
    conf = (rsyslog.directory / "rsyslog.conf").read_text()
    assert "imuxsock" not in conf and "imklog" not in conf
    for path in (rsyslog.output, rsyslog.directory / "rsyslogd.pid"):
        assert Path(path).resolve().is_relative_to(rsyslog.directory.resolve())
