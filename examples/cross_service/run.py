"""Run the cross-service example end to end, with one command::

    .venv/bin/python examples/cross_service/run.py

It starts a real OpenTelemetry collector (rotel, via ``fapilog.testing.RotelCollector``)
and the ``orders`` and ``gateway`` FastAPI services under uvicorn, all on 127.0.0.1
ephemeral ports; sends a few checkout requests through the gateway; stops the services
(they flush their logs and spans on SIGTERM) and the collector; then prints what the
collector received, grouped by trace, and checks the correlation:

* every record of one request, in both services, has the same trace id, and
  different requests have different trace ids;
* each record's span id is the server span of its service for that request, and the
  spans chain gateway server → gateway httpx client → orders server;
* every orders record carries the gateway's ``tenant.id`` baggage as an attribute.

Exit status 0 when all of that holds, 1 otherwise. ``--json PATH`` also writes the
requests, records, spans and problems found as JSON (used by the test).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from fapilog.testing import CollectedLog, RotelCollector

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
SPANS_FILE_ENV = "CROSS_SERVICE_SPANS_FILE"  # mirrors telemetry.py
STOP_TIMEOUT = 15.0
#: Attribute prefixes left out of the printout (request details bound to every record).
HIDDEN = ("code.", "http.", "url.", "client.", "network.", "user_agent.", "thread.")
SHOWN = {"http.request.id", "http.response.status_code"}

#: (request id, tenant, sku, quantity, expected HTTP status)
REQUESTS = (
    ("req-1", "acme", "sku-1", 2, 201),
    ("req-2", "globex", "sku-2", 1, 201),
    ("req-3", "acme", "sku-2", 5, 409),  # not enough stock: orders refuses, gateway warns
)


class Service:
    """One FastAPI app under uvicorn in a child process, on a socket bound here.

    The runner binds and listens on an ephemeral loopback port and hands the socket
    to uvicorn (``--fd``): the port is known before the child starts, and requests
    sent before uvicorn is ready wait in the listen backlog instead of failing.
    """

    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.out"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((HOST, 0))
            sock.listen(64)
            self.port: int = sock.getsockname()[1]
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                f"{name}:app",
                "--app-dir",
                str(HERE),
                "--fd",
                str(sock.fileno()),
                "--log-level",
                "warning",
                "--no-access-log",
                "--lifespan",
                "on",
            ]
            with self.log_path.open("wb") as out:
                self.process = subprocess.Popen(
                    command,
                    pass_fds=(sock.fileno(),),
                    env={**env, SPANS_FILE_ENV: str(workdir / f"spans-{name}.jsonl")},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                )
        finally:
            sock.close()  # the child has its own copy

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> int | None:
        """SIGTERM (uvicorn shuts down gracefully, the app flushes), SIGKILL if stuck."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def service_environment(collector: RotelCollector) -> dict[str, str]:
    """The children's environment: fapilog → OTLP/gRPC → the collector; no proxies."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "FAPILOG_"))
        and name.lower() not in {"http_proxy", "https_proxy", "all_proxy", "grpc_proxy"}
    }
    env.update(
        FAPILOG_EXPORTERS="otlp",
        FAPILOG_BAGGAGE_KEYS="tenant.id",
        FAPILOG_SCHEDULE_DELAY_MS="50",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        NO_PROXY=HOST,
        no_proxy=HOST,
        PYTHONUNBUFFERED="1",
    )
    return env


def send_requests(gateway_url: str) -> list[dict[str, Any]]:
    """Send :data:`REQUESTS` through the gateway; return what was sent and answered."""
    sent = []
    with httpx.Client(base_url=gateway_url, timeout=30.0, trust_env=False) as client:
        for request_id, tenant, sku, quantity, _expected in REQUESTS:
            response = client.post(
                f"/checkout/{sku}",
                params={"quantity": quantity},
                headers={"x-request-id": request_id, "x-tenant-id": tenant},
            )
            sent.append(
                {"request_id": request_id, "tenant": tenant, "status": response.status_code}
            )
    return sent


def read_spans(workdir: Path) -> list[dict[str, Any]]:
    """Every span both services wrote, with ``service`` added."""
    spans = []
    for path in sorted(workdir.glob("spans-*.jsonl")):
        service = path.stem.removeprefix("spans-")
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                spans.append({**json.loads(line), "service": service})
    return spans


def _hex(value: str | None) -> str:
    """``"0x1a..."`` (how the SDK's to_json writes ids) → ``"1a..."``."""
    return (value or "").removeprefix("0x")


def request_id_of(record: CollectedLog) -> str | None:
    """The request a record was logged for: fapilog's ASGI middleware binds the
    ``x-request-id`` header as ``http.request.id`` to every record of the request."""
    value = record.attributes.get("http.request.id")
    return value if isinstance(value, str) else None


def check(
    sent: list[dict[str, Any]], records: list[CollectedLog], spans: list[dict[str, Any]]
) -> list[str]:
    """The correlation problems found (empty when everything holds)."""
    problems = []
    for request, (_rid, _tenant, _sku, _qty, expected) in zip(sent, REQUESTS, strict=True):
        if request["status"] != expected:
            problems.append(
                f"{request['request_id']}: HTTP {request['status']}, expected {expected}"
            )
    by_span = {_hex(s["context"]["span_id"]): s for s in spans}
    known = {request["request_id"] for request in sent}
    for record in records:
        rid = request_id_of(record)
        if rid is not None and rid not in known:
            problems.append(f"record {record.body!r} has an unknown request id {rid!r}")
    trace_of_request: dict[str, str] = {}
    for request in sent:
        rid = request["request_id"]
        mine = [r for r in records if request_id_of(r) == rid]
        services = {r.resource_attributes.get("service.name") for r in mine}
        if services != {"gateway", "orders"}:
            problems.append(
                f"{rid}: records from {sorted(map(str, services))}, expected both services"
            )
        trace_ids = {r.trace_id for r in mine}
        if len(trace_ids) != 1 or "" in trace_ids:
            problems.append(f"{rid}: records have trace ids {sorted(trace_ids)}, expected one")
            continue
        trace_of_request[rid] = trace_ids.pop()
        server_of: dict[str, dict[str, Any]] = {}
        for record in mine:
            service = record.resource_attributes.get("service.name")
            span = by_span.get(record.span_id)
            if span is None or span["service"] != service or span["kind"] != "SpanKind.SERVER":
                problems.append(
                    f"{rid}: {service} record {record.body!r} is not on a {service} server span"
                )
                continue
            server_of[str(service)] = span
            if service == "orders" and record.attributes.get("tenant.id") != request["tenant"]:
                problems.append(
                    f"{rid}: orders record {record.body!r} lacks tenant.id={request['tenant']}"
                )
        gateway, orders = server_of.get("gateway"), server_of.get("orders")
        if gateway and orders:
            client = by_span.get(_hex(orders.get("parent_id")))
            if (
                client is None
                or client["service"] != "gateway"
                or client["kind"] != "SpanKind.CLIENT"
                or _hex(client.get("parent_id")) != _hex(gateway["context"]["span_id"])
            ):
                problems.append(
                    f"{rid}: orders server span is not a child of the gateway's httpx span"
                )
    if len(set(trace_of_request.values())) != len(trace_of_request):
        problems.append(f"requests share trace ids: {trace_of_request}")
    return problems


def show(records: list[CollectedLog], spans: list[dict[str, Any]]) -> None:
    """Print the records grouped by trace, each under the span it was logged in."""
    names = {
        _hex(s["context"]["span_id"]): f"{s['kind'].removeprefix('SpanKind.')} {s['name']}"
        for s in spans
    }
    by_trace: dict[str, list[CollectedLog]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r.timestamp):
        by_trace[record.trace_id].append(record)
    for trace_id, group in by_trace.items():
        print(f"\ntrace {trace_id}" if trace_id else "\noutside any trace (process lifecycle)")
        for r in group:
            service = r.resource_attributes.get("service.name", "?")
            where = names.get(r.span_id, "?")
            attrs = {
                k: v for k, v in r.attributes.items() if k in SHOWN or not k.startswith(HIDDEN)
            }
            print(f"  {service:<8} span {r.span_id} ({where})")
            print(f"    {r.severity_text:<5} {r.scope_name}: {r.body}  {attrs}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="fapilog-cross-service-") as tmp,
        RotelCollector() as collector,
    ):
        workdir = Path(tmp)
        env = service_environment(collector)
        services: list[Service] = []
        sent: list[dict[str, Any]] = []
        failure = None
        try:
            orders = Service("orders", env, workdir)
            services.append(orders)
            gateway = Service("gateway", {**env, "ORDERS_URL": orders.url}, workdir)
            services.append(gateway)
            print(
                f"collector {collector.grpc_endpoint}, orders {orders.url}, gateway {gateway.url}"
            )
            sent = send_requests(gateway.url)
        except httpx.HTTPError as exc:  # a service died or never came up: see its output
            failure = f"the gateway did not answer: {exc!r}"
        finally:
            codes = {s.name: s.stop() for s in reversed(services)}
        collector.stop()  # rotel flushes what it holds
        records = collector.records()
        spans = read_spans(workdir)
        show(records, spans)
        problems = [failure] if failure else check(sent, records, spans)
        # uvicorn re-raises the SIGTERM it handled once shut down: -15 is a clean exit.
        problems += [
            f"{name} exited with {code}"
            for name, code in codes.items()
            if code not in (0, -signal.SIGTERM)
        ]
        if problems:
            for service in services:
                print(f"\n--- {service.name} output ---\n{service.output()}", file=sys.stderr)
    elapsed = time.monotonic() - started
    print(f"\n{len(records)} records, {len(spans)} spans, {len(sent)} requests in {elapsed:.1f} s")
    if args.json:
        payload = {
            "requests": sent,
            "records": [dataclasses.asdict(r) for r in records],
            "spans": spans,
            "problems": problems,
            "seconds": elapsed,
        }
        args.json.write_text(json.dumps(payload, default=repr, indent=1), encoding="utf-8")
    if problems:
        print("CORRELATION BROKEN:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("OK: every request's records share one trace id and sit on the right spans")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
