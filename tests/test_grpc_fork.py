"""OTLP/gRPC across fork(): children work, the parent never stalls (real rotel collector).

Forks happen in subprocesses (benchmarks/faults/fork_storm.py, gunicorn), so that a
crash in gRPC's core cannot take pytest down with it.
"""

from __future__ import annotations

import asyncio
import collections
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

import fapilog
from fapilog.exporters import ExportStatus
from fapilog.exporters.otlp import OTLPGrpcExporter, _fork

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fapilog.testing import RotelCollector

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

ROOT = Path(__file__).resolve().parents[1]
STORM = ROOT / "benchmarks" / "faults" / "fork_storm.py"


def run_storm(endpoint: str, *args: str, timeout: float = 120) -> dict[str, object]:
    """Run the fork-storm script against ``endpoint``; its JSON result."""
    done = subprocess.run(
        [sys.executable, str(STORM), "--endpoint", endpoint, "--child-timeout", "20", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def markers(collector: RotelCollector, expected: int) -> tuple[collections.Counter[int], int]:
    """Events per child marker, and parent events, once ``expected`` records arrived."""
    collector.wait_for(expected, timeout=30)
    children: collections.Counter[int] = collections.Counter()
    parent = 0
    for record in collector.records():
        if "child" in record.attributes:
            children[int(record.attributes["child"])] += 1
        elif "parent_seq" in record.attributes:
            parent += 1
    return children, parent


@pytest.mark.once
def test_fork_storm_while_a_thread_logs(rotel_collector: RotelCollector) -> None:
    """40 raw os.fork() while a thread logs: every child exits 0 having delivered its
    five events, the parent's events all arrive once, and no flush of the parent stalls."""
    result = run_storm(rotel_collector.grpc_endpoint, "--forks", "40")
    assert result["outcomes"] == {"exit 0": 40}
    emitted = result["parent_emitted"]
    assert isinstance(emitted, int)
    assert result["parent_exported"] == emitted
    children, parent = markers(rotel_collector, 40 * 5 + emitted)
    assert children == dict.fromkeys(range(40), 5)
    assert parent == emitted  # each exactly once: cancelled calls were not delivered twice
    max_flush = result["parent_max_flush_s"]
    assert isinstance(max_flush, float)
    assert max_flush < 5  # before: 25-30 s frozen after a few forks


@pytest.mark.once
@pytest.mark.parametrize("mode", ["pool", "process"])
def test_multiprocessing_fork_children_deliver_without_hanging(
    rotel_collector: RotelCollector, mode: str
) -> None:
    """multiprocessing with the fork start method (Pool.map, Process): three runs, none
    hangs (each bounded by 20 s), every task's event reaches the collector."""
    result = run_storm(rotel_collector.grpc_endpoint, "--mode", mode, "--runs", "3")
    per_run = 8 if mode == "pool" else 4
    assert result["outcomes"] == ({"ok": 3} if mode == "pool" else {"exit 0": 12})
    emitted = result["parent_emitted"]
    assert isinstance(emitted, int)
    children, parent = markers(rotel_collector, 3 * per_run + emitted)
    assert children == {run * 100 + i: 1 for run in range(3) for i in range(per_run)}
    assert parent == emitted


APP = """
import os
import fapilog

fapilog.configure(exporters=["otlp"], schedule_delay_ms=5)
log = fapilog.get_logger("wsgi")

def app(environ, start_response):
    log.info("request", req=environ.get("QUERY_STRING", ""), worker=os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gunicorn_server(tmp_path: Path, rotel_collector: RotelCollector) -> Iterator[int]:
    """gunicorn --preload, 2 sync workers, serving APP which logs over OTLP/gRPC."""
    pytest.importorskip("gunicorn")
    (tmp_path / "wsgi_app.py").write_text(APP)
    port = free_port()
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": rotel_collector.grpc_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "PYTHONPATH": str(tmp_path),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--chdir",
            str(tmp_path),
            "wsgi_app:app",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not listen within 30 s"
                time.sleep(0.05)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


@pytest.mark.once
def test_gunicorn_preload_workers_deliver_every_request(
    rotel_collector: RotelCollector, gunicorn_server: int
) -> None:
    """gunicorn --preload forks 2 workers from a master that configured OTLP/gRPC: 300
    requests over loopback, each one's record arrives at the collector."""
    requests = 300

    def client(ids: range) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", gunicorn_server, timeout=10)
        for i in ids:
            conn.request("GET", f"/?{i}")
            response = conn.getresponse()
            assert response.read() == b"ok"
            conn.close()  # sync workers close; reconnect for the next request

    threads = [threading.Thread(target=client, args=(range(k, requests, 4),)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rotel_collector.wait_for(requests, timeout=30) >= requests
    records = [r for r in rotel_collector.records() if r.body == "request"]
    assert sorted(int(r.attributes["req"]) for r in records) == list(range(requests))
    assert len({r.attributes["worker"] for r in records}) >= 1


class TestForkHooks:
    """The before/after hooks, called directly (no fork), around a hanging call."""

    async def test_before_fork_cancels_a_call_in_flight_and_the_batch_is_retryable(self) -> None:
        """A call stuck on a silent server is cut short by the before-fork hook (no
        waiting for the 10 s timeout); its batch comes back retryable; after the fork
        the exporter opens a new channel."""
        release = threading.Event()

        def hang(request: bytes, context: object) -> bytes:
            release.wait(10)
            return b""

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.logs.v1.LogsService",
            {"Export": grpc.unary_unary_rpc_method_handler(hang)},
        )
        server = grpc.server(ThreadPoolExecutor(2))
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        exporter = OTLPGrpcExporter(endpoint=f"http://127.0.0.1:{port}", timeout=10)
        try:
            await exporter.start()
            export = asyncio.ensure_future(exporter.export([_event()]))
            await asyncio.sleep(0.5)  # the call is in flight, the server sits on it
            assert not export.done()
            started = time.monotonic()
            await asyncio.to_thread(_fork._before_fork)
            took = time.monotonic() - started
            _fork._after_fork_in_parent()
            result = await asyncio.wait_for(export, 5)
        finally:
            release.set()
            await exporter.shutdown()
            server.stop(None)
        assert took < 1.0
        assert _fork.last_prefork_seconds() < 1.0
        assert result.status is ExportStatus.RETRYABLE
        assert "fork" in result.reason

    async def test_idle_channel_is_kept_across_a_fork(
        self, rotel_collector: RotelCollector
    ) -> None:
        """With no call in flight the parent keeps its channel (no reconnect per fork)."""
        exporter = OTLPGrpcExporter(endpoint=rotel_collector.grpc_endpoint)
        try:
            assert (await exporter.export([_event()])).ok
            channel = exporter._channel
            _fork._before_fork()
            _fork._after_fork_in_parent()
            assert exporter._channel is channel
            assert (await exporter.export([_event()])).ok
        finally:
            await exporter.shutdown()
        assert rotel_collector.wait_for(2, timeout=10) == 2


def _event() -> fapilog.LogEvent:
    return fapilog.LogEvent(
        timestamp=time.time_ns(), body="hello", severity_number=9, severity_text="INFO"
    )


@pytest.mark.once
def test_grpc_fork_support_is_enabled_when_fapilog_comes_first() -> None:
    """Imported before grpc, the exporter turns on gRPC's fork support (and the poll
    strategy it needs); a value the application set is kept; imported after grpc it
    changes nothing and says so."""
    code = (
        "import os, sys\n"
        "{pre}"
        "from fapilog.exporters.otlp import _fork, OTLPGrpcExporter\n"
        "print(_fork.fork_support(), os.environ.get('GRPC_ENABLE_FORK_SUPPORT'),"
        " os.environ.get('GRPC_POLL_STRATEGY'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRPC_")}

    def run(pre: str, **extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code.format(pre=pre)],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    assert run("") == "True 1 poll"
    assert run("", GRPC_ENABLE_FORK_SUPPORT="0") == "False 0 None"
    assert run("", GRPC_POLL_STRATEGY="epoll1") == "True 1 epoll1"
    assert run("import grpc\n") == "None None None"
