"""Failure paths: receiver down, connection lost, TLS refusals; nothing is lost silently."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fapilog import ExportStatus, LogEvent
from fapilog_exporter_siem import SyslogExporter
from rsyslog_receiver import Rsyslog, TlsFiles, free_port, make_certs
from siem_parsers import parse_frames, parse_rfc5424


def make_events(n: int, tag: str, padding: int = 0) -> list[LogEvent]:
    now = time.time_ns()
    return [
        LogEvent(
            timestamp=now,
            severity_number=9,
            body=f"{tag} event {i}",
            attributes={"seq": i, "pad": "p" * padding},
        )
        for i in range(n)
    ]


def seqs(records: list[dict[str, object]], tag: str) -> list[int]:
    return sorted(
        int(r["sd"]["fapilog.attrs@32473"]["seq"])  # type: ignore[index]
        for r in records
        if f"{tag} event " in str(r["msg"])
    )


# -- receiver down, then up -------------------------------------------------------------


async def test_receiver_down_is_retryable_then_delivered_once_it_is_up(tmp_path: object) -> None:
    port = free_port()
    exporter = SyslogExporter(host="127.0.0.1", port=port, transport="tcp")
    events = make_events(12, "downup")
    try:
        first = await exporter.export(events)
        assert first.status is ExportStatus.RETRYABLE
        assert f"cannot connect to 127.0.0.1:{port}" in first.reason
        assert exporter.stats().connect_failures == 1
        with Rsyslog(tmp_path, tcp_port=port) as receiver:  # type: ignore[arg-type]
            second = await exporter.export(events)  # the pipeline's retry: same batch
            assert second.ok, second.reason
            await exporter.shutdown()
            records = receiver.wait_for(12)
    finally:
        await exporter.shutdown()
    assert seqs(records, "downup") == list(range(12))
    stats = exporter.stats()
    assert (stats.connects, stats.messages_sent, stats.possibly_duplicated) == (1, 12, 0)


async def test_receiver_restart_between_batches_reconnects_and_counts_the_unconfirmed_batch(
    tmp_path: object,
) -> None:
    receiver = Rsyslog(tmp_path, tcp_port=free_port()).start()  # type: ignore[arg-type]
    exporter = SyslogExporter(host="127.0.0.1", port=receiver.tcp_port, transport="tcp")
    try:
        assert (await exporter.export(make_events(5, "before"))).ok
        # Had it stopped before reading them, they would be lost: exactly the case
        # possibly_lost counts. Here it processed them first, as a graceful restart does.
        assert seqs(receiver.wait_for(5), "before") == list(range(5))
        receiver.stop()
        receiver.start()
        await asyncio.sleep(0.1)  # time passes between batches; the close is seen
        result = await exporter.export(make_events(5, "after"))
        assert result.ok, result.reason
        await exporter.shutdown()
        records = receiver.wait_for(10)
    finally:
        await exporter.shutdown()
        receiver.stop()
    assert seqs(records, "before") == list(range(5))
    assert seqs(records, "after") == list(range(5))
    stats = exporter.stats()
    assert stats.connects == 2
    assert stats.possibly_lost == 5  # written on the connection the receiver closed


# -- connection reset in the middle of a batch ------------------------------------------


class ResettingServer:
    """Resets its first connection after ``reset_after`` bytes; reads later ones to EOF."""

    def __init__(self, reset_after: int) -> None:
        self.reset_after = reset_after
        self.sock = socket.socket()
        # A small window, so the client cannot hand the whole batch to the kernel.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for index in range(2):
            conn, _ = self.sock.accept()
            data = bytearray()
            with conn:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    if index == 0 and len(data) >= self.reset_after:
                        conn.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        break
            self.received.append(bytes(data))
        self.sock.close()


async def test_reset_mid_batch_is_counted_and_the_whole_batch_is_resent() -> None:
    server = ResettingServer(reset_after=50_000)
    # 8 MB: more than the kernel buffers of both ends can hold, so the reset
    # necessarily lands while the batch is still being written.
    events = make_events(8000, "reset", padding=1000)
    exporter = SyslogExporter(host="127.0.0.1", port=server.port, transport="tcp", timeout=30)
    try:
        first = await exporter.export(events)
        assert first.status is ExportStatus.RETRYABLE
        assert "may arrive twice" in first.reason
        duplicated = exporter.stats().possibly_duplicated
        assert 0 < duplicated < 8000
        second = await exporter.export(events)  # the pipeline's retry: same batch
        assert second.ok, second.reason
    finally:
        await exporter.shutdown()
    server.thread.join(10)
    cut, complete = server.received
    partial = [parse_rfc5424(m) for m in parse_frames(cut, allow_partial=True)]
    resent = [parse_rfc5424(m) for m in parse_frames(complete)]
    assert [int(dict(m.sd("fapilog.attrs@32473"))["seq"]) for m in resent] == list(range(8000))
    # Everything the receiver got on the broken connection was counted as a duplicate.
    assert 0 < len(partial) <= duplicated
    stats = exporter.stats()
    assert (stats.connects, stats.messages_sent) == (2, 8000)


# -- TLS refusals -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certs(tmp_path_factory.mktemp("self-signed"), self_signed=True)


@pytest.fixture(scope="module")
def tls_receiver(tmp_path_factory: pytest.TempPathFactory, certs: TlsFiles) -> Iterator[Rsyslog]:
    with Rsyslog(tmp_path_factory.mktemp("rsyslog-tls"), tls=certs) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def self_signed_receiver(
    tmp_path_factory: pytest.TempPathFactory, self_signed: TlsFiles
) -> Iterator[Rsyslog]:
    with Rsyslog(tmp_path_factory.mktemp("rsyslog-self"), tls=self_signed) as receiver:
        yield receiver


async def refused(exporter: SyslogExporter) -> str:
    try:
        result = await exporter.export(make_events(3, "refused"))
    finally:
        await exporter.shutdown()
    assert result.status is ExportStatus.RETRYABLE
    stats = exporter.stats()
    assert (stats.connect_failures, stats.connects, stats.messages_sent) == (1, 0, 0)
    return result.reason


async def test_wrong_host_name_is_refused(tls_receiver: Rsyslog, certs: TlsFiles) -> None:
    exporter = SyslogExporter(
        host="127.0.0.1", port=tls_receiver.tcp_port, ca_file=certs.ca, server_name="wrong.example"
    )
    reason = await refused(exporter)
    assert "certificate" in reason and "refused" in reason
    assert "wrong.example" in reason or "mismatch" in reason


async def test_self_signed_certificate_is_refused_by_default(self_signed_receiver: Rsyslog) -> None:
    exporter = SyslogExporter(host="localhost", port=self_signed_receiver.tcp_port)
    reason = await refused(exporter)
    assert "self-signed certificate" in reason


async def test_untrusted_ca_is_refused_by_default(tls_receiver: Rsyslog) -> None:
    exporter = SyslogExporter(host="127.0.0.1", port=tls_receiver.tcp_port)
    assert "certificate" in await refused(exporter)


async def test_fingerprint_mismatch_is_refused(
    self_signed_receiver: Rsyslog, self_signed: TlsFiles
) -> None:
    wrong = "ab" * 32
    exporter = SyslogExporter(
        host="127.0.0.1",
        port=self_signed_receiver.tcp_port,
        verify=False,
        cert_fingerprint=wrong,
    )
    reason = await refused(exporter)
    assert reason.startswith(
        "the receiver's certificate does not match FAPILOG_SYSLOG_CERT_FINGERPRINT"
    )
    assert self_signed.fingerprint in reason  # what it saw, to help fix the pin


@pytest.mark.parametrize("verify", [False, True])
async def test_fingerprint_match_is_accepted(
    request: pytest.FixtureRequest, verify: bool, certs: TlsFiles, self_signed: TlsFiles
) -> None:
    # Pinned self-signed certificate without chain verification, or pin + CA verification.
    receiver: Rsyslog = request.getfixturevalue(
        "tls_receiver" if verify else "self_signed_receiver"
    )
    files = certs if verify else self_signed
    pin = ":".join(files.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    exporter = SyslogExporter(
        host="127.0.0.1",
        port=receiver.tcp_port,
        verify=verify,
        ca_file=files.ca if verify else None,
        cert_fingerprint=f"sha256:{pin}",
    )
    tag = f"pinned-{verify}"
    try:
        result = await exporter.export(make_events(4, tag))
    finally:
        await exporter.shutdown()
    assert result.ok, result.reason
    deadline = time.monotonic() + 15
    while len(seqs(receiver.records(), tag)) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert seqs(receiver.records(), tag) == [0, 1, 2, 3]


async def test_cancelled_mid_batch_drops_the_connection_and_counts_what_was_written() -> None:
    """A cancelled export (the pipeline's timeout) may leave half a frame on the wire:
    that connection is never written to again."""
    with socket.socket() as stalled:  # accepts connections (backlog) but never reads
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        stalled.bind(("127.0.0.1", 0))
        stalled.listen()
        port = stalled.getsockname()[1]
        exporter = SyslogExporter(host="127.0.0.1", port=port, transport="tcp", timeout=30)
        try:
            task = asyncio.create_task(exporter.export(make_events(6000, "stall", padding=1000)))
            while (
                exporter._stream is None and not task.done()
            ):  # connected: it now blocks, the peer never reads
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert exporter._stream is None
            stats = exporter.stats()
            assert stats.connects == 1 and stats.possibly_duplicated > 0
        finally:
            await exporter.shutdown()


async def test_mutual_tls_with_a_client_certificate_is_accepted(
    tmp_path: Path, certs: TlsFiles
) -> None:
    """A receiver that demands a client certificate (x509/name) accepts the configured one."""
    assert certs.client_cert is not None and certs.client_key is not None
    with Rsyslog(tmp_path, tls=certs, client_auth=True) as receiver:
        exporter = SyslogExporter(
            host="localhost",
            port=receiver.tcp_port,
            ca_file=certs.ca,
            client_cert=certs.client_cert,
            client_key=certs.client_key,
        )
        try:
            result = await exporter.export(make_events(3, "mtls"))
        finally:
            await exporter.shutdown()
        assert result.ok, result.reason
        assert seqs(receiver.wait_for(3), "mtls") == [0, 1, 2]


async def test_a_receiver_refusing_the_client_after_the_handshake_is_not_silent_loss(
    tmp_path: Path, certs: TlsFiles
) -> None:
    """TLS 1.3 lets the client finish its handshake before the server checks the client
    certificate; a refusal must surface as a retryable failure, not as lost records."""
    with Rsyslog(tmp_path, tls=certs, client_auth=True) as receiver:
        exporter = SyslogExporter(host="localhost", port=receiver.tcp_port, ca_file=certs.ca)
        reason = await refused(exporter)
    assert reason.startswith("the receiver closed the TLS connection right after the handshake")
    assert "FAPILOG_SYSLOG_CLIENT_CERT" in reason
