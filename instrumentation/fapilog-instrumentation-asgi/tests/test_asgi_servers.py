"""uvicorn and gunicorn: server loggers routed into fapilog, one access record per request."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_support import _asgi_clean_state, free_port
from fapilog import FapilogHandler
from fapilog.testing import capture_logs
from fapilog_instrumentation_asgi import (
    capture_root_logger,
    restore_server_loggers,
    route_server_loggers,
)
from fapilog_instrumentation_asgi._servers import mark_logged

__all__ = ["_asgi_clean_state"]

NAMES = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access")


@pytest.fixture
def server_loggers() -> Iterator[dict[str, logging.Logger]]:
    """The server loggers set up like uvicorn's default config, restored afterwards."""
    loggers = {name: logging.getLogger(name) for name in NAMES}
    before = {n: (lg.handlers, lg.propagate, lg.level, lg.disabled) for n, lg in loggers.items()}
    loggers["uvicorn"].handlers = [logging.StreamHandler(sys.stderr)]
    loggers["uvicorn"].propagate = False
    loggers["uvicorn"].setLevel(logging.INFO)
    loggers["uvicorn.error"].handlers = []
    loggers["uvicorn.error"].propagate = True
    loggers["uvicorn.access"].handlers = [logging.StreamHandler(sys.stdout)]
    loggers["uvicorn.access"].propagate = False
    yield loggers
    restore_server_loggers()
    for name, (handlers, propagate, level, disabled) in before.items():
        lg = loggers[name]
        lg.handlers, lg.propagate, lg.disabled = handlers, propagate, disabled
        lg.setLevel(level)


def _ours(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if isinstance(h, FapilogHandler)]


def test_route_server_loggers_replaces_console_handlers_and_silences_access(
    server_loggers: dict[str, logging.Logger],
) -> None:
    """uvicorn logs go to fapilog (once), uvicorn's access log is off, restore undoes it all."""
    original_uvicorn_handlers = server_loggers["uvicorn"].handlers
    route_server_loggers()
    route_server_loggers()  # idempotent
    uvicorn = server_loggers["uvicorn"]
    assert len(_ours(uvicorn)) == 1
    assert not [h for h in uvicorn.handlers if type(h) is logging.StreamHandler]
    assert _ours(server_loggers["uvicorn.error"]) == []  # reaches fapilog through "uvicorn"
    access = server_loggers["uvicorn.access"]
    assert access.disabled and not access.hasHandlers()
    with capture_logs() as logs:
        server_loggers["uvicorn.error"].info("Started server process [%d]", 42)
    (record,) = logs
    assert record.scope_name == "uvicorn.error" and record.body == "Started server process [42]"
    restore_server_loggers()
    assert uvicorn.handlers is original_uvicorn_handlers
    assert not access.disabled and access.handlers


def test_without_our_access_log_the_servers_access_lines_are_routed(
    server_loggers: dict[str, logging.Logger],
) -> None:
    """disable_access_logs=False: uvicorn keeps logging access lines, into fapilog (once)
    instead of onto the console."""
    route_server_loggers(disable_access_logs=False)
    access = server_loggers["uvicorn.access"]
    assert not access.disabled
    assert len(_ours(access)) == 1
    assert not [h for h in access.handlers if type(h) is logging.StreamHandler]
    with capture_logs() as logs:
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/x", "1.1", 200)
    assert [(e.scope_name, e.body) for e in logs] == [
        ("uvicorn.access", '127.0.0.1:5 - "GET /x HTTP/1.1" 200')
    ]


def test_an_access_log_the_server_turned_off_stays_off(
    server_loggers: dict[str, logging.Logger],
) -> None:
    """``uvicorn --no-access-log`` empties uvicorn.access: routing must not revive it."""
    access = server_loggers["uvicorn.access"]
    access.handlers = []
    route_server_loggers(disable_access_logs=False)
    assert not access.hasHandlers()


def test_root_capture_does_not_stand_in_for_a_server_logger(
    server_loggers: dict[str, logging.Logger],
) -> None:
    """A server logger propagating to a captured root still gets its own handler and loses
    its console handler: a record is neither printed bare nor captured twice."""
    uvicorn = server_loggers["uvicorn"]
    uvicorn.propagate = True  # e.g. a custom --log-config
    capture_root_logger()
    route_server_loggers()
    assert len(_ours(uvicorn)) == 1 and not uvicorn.propagate
    assert not [h for h in uvicorn.handlers if type(h) is logging.StreamHandler]
    with capture_logs() as logs:
        server_loggers["uvicorn.error"].warning("once")
    assert [e.body for e in logs] == ["once"]


def test_gunicorn_worker_shared_handler_list(server_loggers: dict[str, logging.Logger]) -> None:
    """Under gunicorn's uvicorn worker (shared handler list, no propagation) each logger gets
    fapilog once; console handlers go, file handlers stay."""
    file_handler = logging.FileHandler(os.devnull)
    shared: list[logging.Handler] = [logging.StreamHandler(sys.stderr), file_handler]
    for name in ("gunicorn.error", "uvicorn.error"):
        server_loggers[name].handlers = shared
        server_loggers[name].propagate = False
    try:
        route_server_loggers()
        for name in ("gunicorn.error", "uvicorn.error"):
            handlers = server_loggers[name].handlers
            assert len(_ours(server_loggers[name])) == 1
            assert file_handler in handlers
            assert not any(type(h) is logging.StreamHandler for h in handlers)
        restore_server_loggers()
        assert server_loggers["gunicorn.error"].handlers is shared
        assert len(shared) == 2
    finally:
        file_handler.close()


def test_exceptions_the_middleware_logged_are_not_logged_again(
    server_loggers: dict[str, logging.Logger],
) -> None:
    """The server's own report of an exception the middleware logged is dropped; others pass."""
    route_server_loggers()
    seen, fresh = RuntimeError("seen"), RuntimeError("fresh")
    mark_logged(seen)
    with capture_logs() as logs:
        for exc in (seen, fresh):
            server_loggers["uvicorn.error"].error("Exception in ASGI application\n", exc_info=exc)
    assert [e.attributes["exception.message"] for e in logs] == ["fresh"]


# -- real servers ----------------------------------------------------------------------

APP = """
import logging
import os
import fapilog
from fastapi import FastAPI
from fapilog_instrumentation_asgi import instrument_app

app = FastAPI()
log = fapilog.get_logger("srvapp")
db = logging.getLogger("srvapp.db")


@app.get("/ok")
async def ok():
    log.info("handled", pid=os.getpid())
    db.info("stdlib record from a route", extra={"pid": os.getpid()})
    return {"pid": os.getpid()}


@app.get("/boom")
async def boom():
    raise RuntimeError("kaboom")


instrument_app(app)
"""

BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/ok")
async def ok():
    return {"pid": 0}
"""
"""The same server without fapilog: how the process ends on SIGTERM without us."""

FINAL_LINES = ("Application shutdown complete.", "Finished server process")
"""uvicorn's last two lines, written after the lifespan shutdown, right before it
restores the default SIGTERM disposition and re-raises the signal."""


def _start(
    cmd: list[str],
    tmp_path: Path,
    out: Path | None,
    source: str = APP,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    (tmp_path / "srvapp.py").write_text(source)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAPILOG_"))} | {
        "PYTHONPATH": str(tmp_path),
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    if out is not None:
        full_env |= {"FAPILOG_EXPORTERS": "file", "FAPILOG_FILE_PATH": str(out)}
    full_env |= env or {}
    with (
        open(tmp_path / "stdout.txt", "wb") as stdout,
        open(tmp_path / "stderr.txt", "wb") as stderr,
    ):
        return subprocess.Popen(cmd, cwd=tmp_path, env=full_env, stdout=stdout, stderr=stderr)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, tmp_path: Path) -> None:
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited early: {(tmp_path / 'stderr.txt').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("server did not start listening")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the return code (negative: the signal that ended the process)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("server did not stop on SIGTERM")


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def _uvicorn(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "srvapp:app", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip


def _gunicorn(port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "srvapp:app",
        "-k", "uvicorn.workers.UvicornWorker", "-w", "2",
        "-b", f"127.0.0.1:{port}", "--graceful-timeout", "10", *extra,
    ]  # fmt: skip


def _returncode_without_fapilog(cmd: list[str], port: int, tmp_path: Path) -> int:
    """Serve BARE_APP with ``cmd``, answer one request, SIGTERM: the return code."""
    bare = tmp_path / "bare"
    bare.mkdir()
    proc = _start(cmd, bare, None, source=BARE_APP)
    try:
        _wait_listening(proc, port, bare)
        assert httpx.get(f"http://127.0.0.1:{port}/ok", timeout=30).status_code == 200
    finally:
        code = _stop(proc)
    return code


def _check_uvicorn_run(
    records: list[tuple[str, str, dict[str, Any]]], console: str, processes: int = 1
) -> None:
    """What one uvicorn run must have delivered (records as (logger, body, attributes))."""
    access = [a for logger, _, a in records if logger == "fapilog.access"]
    assert sorted(a["http.request.id"] for a in access) == ["boom", "ok-0", "ok-1", "ok-2"]
    assert not [r for r in records if r[0] == "uvicorn.access"]
    assert "GET /ok" not in console  # uvicorn printed no access line
    stdlib = [a for logger, _, a in records if logger == "srvapp.db"]
    assert sorted(a["http.request.id"] for a in stdlib) == ["ok-0", "ok-1", "ok-2"]
    assert "stdlib record from a route" not in console  # shipped, not printed bare
    server = [body for logger, body, _ in records if logger == "uvicorn.error"]
    assert sum(b.startswith("Started server process") for b in server) == processes
    assert server.count("Application startup complete.") == processes
    # The last lines, written after the SIGTERM and just before uvicorn re-raises it.
    assert server.count(FINAL_LINES[0]) == processes, server
    assert sum(b.startswith(FINAL_LINES[1]) for b in server) == processes, server
    if processes == 1:
        assert server[-2] == FINAL_LINES[0] and server[-1].startswith(FINAL_LINES[1])
    errors = [(lg, a) for lg, _, a in records if a.get("exception.type") == "RuntimeError"]
    assert len(errors) == 1
    assert errors[0][0] == "fapilog.asgi"
    assert errors[0][1]["http.request.id"] == "boom"


def _exercise(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        for i in range(3):
            assert c.get("/ok", headers={"x-request-id": f"ok-{i}"}).status_code == 200
        assert c.get("/boom", headers={"x-request-id": "boom"}).status_code == 500


@pytest.mark.once
@pytest.mark.parametrize(
    "workers", [1, 2], ids=["single-process", "workers-2-import-under-uvicorns-handler"]
)
def test_real_uvicorn_delivers_everything_up_to_its_last_line_after_sigterm(
    tmp_path: Path, workers: int
) -> None:
    """``uvicorn srvapp:app`` with ``instrument_app(app)``, SIGTERM right after the last
    response: one access record per request and no uvicorn access lines; stdlib records
    of a route and uvicorn's own lines, its last two included, reach the exporter; the
    exception is logged once; the process ends as the same server without fapilog does
    (single process: by the signal).

    A single uvicorn imports the app before it installs its signal handlers: fapilog's
    hook, installed by instrument_app, is what uvicorn restores and re-raises into. The
    worker processes of ``--workers 2`` import it under uvicorn's handler: fapilog wraps
    that handler and flushes each later line as it is written."""
    port, out = free_port(), tmp_path / "logs.jsonl"
    cmd = _uvicorn(port) + ([] if workers == 1 else ["--workers", str(workers)])
    proc = _start(cmd, tmp_path, out)
    try:
        _wait_listening(proc, port, tmp_path)
        _exercise(port)
    finally:
        code = _stop(proc)
    console = (tmp_path / "stdout.txt").read_text() + (tmp_path / "stderr.txt").read_text()
    records = [(r["logger"], r["body"], r["attributes"]) for r in _records(out)]
    _check_uvicorn_run(records, console, processes=workers)
    if workers == 1:
        assert code == -signal.SIGTERM
    assert code == _returncode_without_fapilog(cmd, port, tmp_path)


def test_real_uvicorn_to_a_real_collector_after_sigterm(tmp_path: Path) -> None:
    """The same over OTLP/gRPC to a real collector (rotel): each of uvicorn's last lines is
    exported before the logging call returns, though the process dies right after."""
    pytest.importorskip("rotel", reason="end-to-end tests need the rotel collector")
    from fapilog.testing import RotelCollector

    port = free_port()
    with RotelCollector() as collector:
        env = {"FAPILOG_EXPORTERS": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.grpc_endpoint}
        proc = _start(_uvicorn(port), tmp_path, None, env=env)
        try:
            _wait_listening(proc, port, tmp_path)
            _exercise(port)
        finally:
            code = _stop(proc)
        # The process is gone: whatever it exported is at the collector, or on its way
        # through rotel's printing; wait (bounded) for the last line to be printed.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            bodies = [str(r.body) for r in collector.records()]
            if any(b.startswith(FINAL_LINES[1]) for b in bodies):
                break
            collector.wait_for(collector.count() + 1, timeout=0.5)
        collected = collector.records()
    console = (tmp_path / "stdout.txt").read_text() + (tmp_path / "stderr.txt").read_text()
    _check_uvicorn_run([(r.scope_name, str(r.body), r.attributes) for r in collected], console)
    assert code == -signal.SIGTERM


@pytest.mark.once
@pytest.mark.parametrize("preload", [False, True], ids=["import-in-worker", "preload"])
def test_real_gunicorn_with_two_workers_logs_each_request_exactly_once(
    tmp_path: Path, preload: bool
) -> None:
    """gunicorn + uvicorn workers (forked, also after --preload): logs from both workers
    arrive, each exactly once, stdlib records included; after SIGTERM each worker's last
    lines arrive too, and gunicorn exits as it does without fapilog."""
    port, out = free_port(), tmp_path / "logs.jsonl"
    cmd = _gunicorn(port, *(["--preload"] if preload else []))
    proc = _start(cmd, tmp_path, out)
    pid_of: dict[str, int] = {}
    try:
        _wait_listening(proc, port, tmp_path)
        # A new connection each time, until both workers answered (the second may still
        # be booting at first): bounded by a deadline, not a fixed count.
        deadline = time.monotonic() + 45
        i = 0
        while time.monotonic() < deadline:
            response = httpx.get(
                f"http://127.0.0.1:{port}/ok",
                headers={"x-request-id": f"r{i}", "connection": "close"},
                timeout=60,
            )
            assert response.status_code == 200
            pid_of[f"r{i}"] = response.json()["pid"]
            i += 1
            if len(set(pid_of.values())) == 2 and i >= 6:
                break
    finally:
        code = _stop(proc)
    assert len(set(pid_of.values())) == 2, "only one worker ever answered"
    records = _records(out)
    handled = [r for r in records if r["body"] == "handled"]
    access = [r for r in records if r["logger"] == "fapilog.access"]
    stdlib = [r for r in records if r["logger"] == "srvapp.db"]
    for kind in (handled, access, stdlib):
        assert sorted(r["attributes"]["http.request.id"] for r in kind) == sorted(pid_of)
    for record in handled + stdlib:
        assert record["attributes"]["pid"] == pid_of[record["attributes"]["http.request.id"]]
    assert not [r for r in records if r["logger"] in ("uvicorn.access", "gunicorn.access")]
    booted = {r["body"] for r in records if r["logger"] in ("uvicorn.error", "gunicorn.error")}
    assert sum(b.startswith("Started server process") for b in booted) == 2
    server = [r["body"] for r in records if r["logger"] == "uvicorn.error"]
    assert server.count(FINAL_LINES[0]) == 2, server
    for pid in set(pid_of.values()):
        assert f"{FINAL_LINES[1]} [{pid}]" in server, server
    assert code == _returncode_without_fapilog(cmd, port, tmp_path)
