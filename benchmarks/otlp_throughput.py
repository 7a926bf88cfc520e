"""End-to-end OTLP throughput into a real collector: fapilog vs the OpenTelemetry SDK.

Both contenders log the same record (body ``"request handled"`` with five attributes,
INFO, a timestamp) from one thread, in the same process, to their own fresh
``rotel`` collector (``RotelCollector(verbosity="basic")``, which counts what it
received). For each run:

* ``emit``: wall time of the logging loop alone (the application thread's view);
* ``delivered``: wall time from the first log call until the collector has counted
  all N records. ``N / delivered`` is the throughput that matters.

Contenders:

* ``fapilog``: ``Pipeline(exporters=[OTLPExporter(...)])`` with ``overflow="block"``
  and a queue of at least N, so nothing may be dropped; ``log.info(msg, **fields)``.
* ``otel-sdk``: ``LoggerProvider`` + ``BatchLogRecordProcessor(OTLPLogExporter(...))``
  with the same queue size, batch size and schedule delay; ``logger.emit(timestamp=,
  severity_number=, severity_text=, body=, attributes=)`` (the keyword form of the
  current SDK; the ``LogRecord`` object form is equivalent).
* ``ceiling-1`` / ``ceiling-4``: the collector alone. Requests of ``--batch-size``
  records with the same content, encoded before timing, sent back to back by 1 or 4
  threads. This is what the collector (and its output counting) can take; a
  contender close to ``ceiling-1`` is bound by the collector, not by itself (both
  contenders have one export in flight at a time).

Before timing, each contender sends ``--warmup`` records and waits for them (opens
the connection, warms code paths). Rounds alternate the order of the contenders.
Each delivered count must equal N exactly and fapilog's ``stats()`` must show
``exported == emitted`` and no drops; anything else is reported as a failure (exit 1).

Usage: ``python benchmarks/otlp_throughput.py [--events N] [--rounds R]
[--protocol grpc|http/protobuf|both] [--batch-size B] [--json PATH]``
"""

from __future__ import annotations

import argparse
import gc
import http.client
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import grpc
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourcePb
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

import fapilog
from fapilog.exporters.otlp import OTLPExporter
from fapilog.testing import RotelCollector

CONTENDERS = ("fapilog", "otel-sdk")
CEILINGS = {"ceiling-1": 1, "ceiling-4": 4}
SCOPE = "bench"
# The same resource for both contenders (the SDK would otherwise add its
# telemetry.sdk.* attributes and fapilog its host/process ones).
RESOURCE = Resource({"service.name": "otlp-bench"})
BODY = "request handled"


def _attributes() -> dict[str, Any]:
    return {
        "method": "GET",
        "path": "/api/orders",
        "status": 200,
        "duration_ms": 12.5,
        "user_id": "u-123",
    }


class Config:
    """What every run shares; printed and written to the JSON output."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.events: int = args.events
        self.warmup: int = args.warmup
        self.batch_size: int = args.batch_size
        self.schedule_delay_ms: int = args.schedule_delay_ms
        self.queue_size: int = args.queue_size or (args.events + args.warmup)
        self.timeout: float = args.timeout

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


# -- contenders ----------------------------------------------------------------------------


def _endpoint(collector: RotelCollector, protocol: str) -> str:
    return collector.grpc_endpoint if protocol == "grpc" else collector.http_logs_endpoint


def _timed(
    collector: RotelCollector, cfg: Config, emit: Callable[[int], None]
) -> tuple[float, float, int]:
    """Warm up, then time ``emit(N)`` and the wait until the collector counted N."""
    emit(cfg.warmup)
    warm = collector.wait_for(cfg.warmup, timeout=cfg.timeout)
    if warm != cfg.warmup:
        raise RuntimeError(f"warm-up: collector counted {warm} of {cfg.warmup}")
    collector.reset()
    gc.collect()
    started = time.perf_counter()
    emit(cfg.events)
    emitted = time.perf_counter()
    received = collector.wait_for(cfg.events, timeout=cfg.timeout)
    delivered = time.perf_counter()
    return emitted - started, delivered - started, received


def run_fapilog(cfg: Config, protocol: str) -> dict[str, Any]:
    with RotelCollector(verbosity="basic") as collector:
        pipeline = fapilog.Pipeline(
            exporters=[OTLPExporter(endpoint=_endpoint(collector, protocol), protocol=protocol)],
            resource=RESOURCE,
            max_queue_size=cfg.queue_size,
            max_export_batch_size=cfg.batch_size,
            schedule_delay_ms=cfg.schedule_delay_ms,
            overflow="block",
            block_timeout_ms=int(cfg.timeout * 1000),
            # Like for like: the SDK does not redact. Redaction's own cost is measured
            # by benchmarks/redaction_cost.py.
            redaction=False,
        )
        log = pipeline.get_logger(SCOPE)

        def emit(n: int) -> None:
            info = log.info
            for _ in range(n):
                info(
                    "request handled",
                    method="GET",
                    path="/api/orders",
                    status=200,
                    duration_ms=12.5,
                    user_id="u-123",
                )

        try:
            emit_s, delivered_s, received = _timed(collector, cfg, emit)
        finally:
            clean = pipeline.shutdown(timeout=cfg.timeout)
        stats = pipeline.stats()
        final = collector.wait_for(cfg.events + 1, timeout=0.2)  # late duplicates?
    total = cfg.events + cfg.warmup
    problems = []
    if stats.dropped_total:
        problems.append(f"dropped {dict(stats.dropped)}")
    if stats.emitted != total or stats.exported != total:
        problems.append(f"emitted={stats.emitted} exported={stats.exported}, expected {total}")
    if not clean:
        problems.append("shutdown was not clean")
    return _result(cfg, emit_s, delivered_s, received, final, problems, stats.as_dict())


def run_otel_sdk(cfg: Config, protocol: str) -> dict[str, Any]:
    with RotelCollector(verbosity="basic") as collector:
        if protocol == "grpc":
            exporter: Any = GrpcLogExporter(endpoint=collector.grpc_endpoint, insecure=True)
        else:
            exporter = HttpLogExporter(endpoint=collector.http_logs_endpoint)
        provider = LoggerProvider(resource=RESOURCE, shutdown_on_exit=False)
        provider.add_log_record_processor(
            BatchLogRecordProcessor(
                exporter,
                schedule_delay_millis=cfg.schedule_delay_ms,
                max_export_batch_size=cfg.batch_size,
                max_queue_size=cfg.queue_size,
            )
        )
        logger = provider.get_logger(SCOPE)

        def emit(n: int) -> None:
            emit_one = logger.emit
            now = time.time_ns
            info = SeverityNumber.INFO
            for _ in range(n):
                emit_one(
                    timestamp=now(),
                    severity_number=info,
                    severity_text="INFO",
                    body="request handled",
                    attributes={
                        "method": "GET",
                        "path": "/api/orders",
                        "status": 200,
                        "duration_ms": 12.5,
                        "user_id": "u-123",
                    },
                )

        try:
            emit_s, delivered_s, received = _timed(collector, cfg, emit)
        finally:
            provider.shutdown()
        final = collector.wait_for(cfg.events + 1, timeout=0.2)
    return _result(cfg, emit_s, delivered_s, received, final, [], None)


def _payloads(cfg: Config) -> list[bytes]:
    """``events`` records as serialised requests of ``batch_size`` records."""
    ts = time.time_ns()
    resource = ResourcePb(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value="otlp-bench"))]
    )
    attributes = [
        KeyValue(key="method", value=AnyValue(string_value="GET")),
        KeyValue(key="path", value=AnyValue(string_value="/api/orders")),
        KeyValue(key="status", value=AnyValue(int_value=200)),
        KeyValue(key="duration_ms", value=AnyValue(double_value=12.5)),
        KeyValue(key="user_id", value=AnyValue(string_value="u-123")),
    ]
    out = []
    for start in range(0, cfg.events, cfg.batch_size):
        records = [
            LogRecord(
                time_unix_nano=ts + i,
                observed_time_unix_nano=ts + i,
                severity_number=9,  # type: ignore[arg-type]
                severity_text="INFO",
                body=AnyValue(string_value=BODY),
                attributes=attributes,
            )
            for i in range(start, min(start + cfg.batch_size, cfg.events))
        ]
        scope = ScopeLogs(scope=InstrumentationScope(name=SCOPE), log_records=records)
        request = ExportLogsServiceRequest(
            resource_logs=[ResourceLogs(resource=resource, scope_logs=[scope])]
        )
        out.append(request.SerializeToString())
    return out


def _grpc_sender(collector: RotelCollector) -> Callable[[list[bytes]], None]:
    def send(bodies: list[bytes]) -> None:
        with grpc.insecure_channel(collector.grpc_endpoint.removeprefix("http://")) as channel:
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
            )
            for body in bodies:
                export(body, timeout=60)

    return send


def _http_sender(collector: RotelCollector) -> Callable[[list[bytes]], None]:
    url = urlsplit(collector.http_logs_endpoint)

    def send(bodies: list[bytes]) -> None:
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=60)
        try:
            for body in bodies:
                conn.request("POST", url.path, body, {"Content-Type": "application/x-protobuf"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"collector answered HTTP {response.status}")
        finally:
            conn.close()

    return send


def run_ceiling(cfg: Config, protocol: str, senders: int) -> dict[str, Any]:
    payloads = _payloads(cfg)
    with RotelCollector(verbosity="basic") as collector:
        send = (_grpc_sender if protocol == "grpc" else _http_sender)(collector)
        send(payloads[:1])  # warm-up: connect once
        collector.wait_for(min(cfg.batch_size, cfg.events), timeout=cfg.timeout)
        collector.reset()
        errors: list[BaseException] = []

        def worker(mine: list[bytes]) -> None:
            try:
                send(mine)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=worker, args=(payloads[i::senders],)) for i in range(senders)
        ]
        gc.collect()
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sent = time.perf_counter()
        received = collector.wait_for(cfg.events, timeout=cfg.timeout)
        delivered = time.perf_counter()
        final = collector.wait_for(cfg.events + 1, timeout=0.2)
    problems = [f"sender raised {exc!r}" for exc in errors]
    return _result(cfg, sent - started, delivered - started, received, final, problems, None)


def _result(
    cfg: Config,
    emit_s: float,
    delivered_s: float,
    received: int,
    final: int,
    problems: list[str],
    stats: dict[str, Any] | None,
) -> dict[str, Any]:
    if received != cfg.events:
        problems.append(f"collector counted {received} of {cfg.events} within {cfg.timeout:g}s")
    elif final != cfg.events:
        problems.append(f"collector counted {final} records in the end, expected {cfg.events}")
    out: dict[str, Any] = {
        "emit_s": emit_s,
        "delivered_s": delivered_s,
        "received": received,
        "final_count": final,
        "delivered_per_s": received / delivered_s,
        "emit_per_s": cfg.events / emit_s,
        "ok": not problems,
        "problems": problems,
    }
    if stats is not None:
        out["fapilog_stats"] = stats
    return out


def _crashed(exc: Exception) -> dict[str, Any]:
    return {
        "emit_s": float("nan"),
        "delivered_s": float("nan"),
        "received": 0,
        "final_count": 0,
        "delivered_per_s": 0.0,
        "emit_per_s": 0.0,
        "ok": False,
        "problems": [f"raised {exc!r}"],
    }


# -- driver --------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("fapilog", "opentelemetry-sdk", "grpcio", "protobuf", "httpx", "rotel"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "?"
    return out


def _loadavg() -> list[float] | None:
    """1/5/15-minute load averages: other work on the machine skews the figures."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _ratio(a: dict[str, float], b: dict[str, float]) -> float:
    return a["median"] / b["median"] if b["median"] else float("nan")


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run(cfg: Config, protocols: list[str], rounds: int, ceiling: bool) -> dict[str, Any]:
    runners: dict[str, Callable[[Config, str], dict[str, Any]]] = {
        "fapilog": run_fapilog,
        "otel-sdk": run_otel_sdk,
    }
    if ceiling:
        for name, senders in CEILINGS.items():
            runners[name] = lambda c, p, s=senders: run_ceiling(c, p, s)
    names = list(runners)
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "system": f"{platform.system()} {platform.release()}",
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "versions": _versions(),
        "loadavg_before": _loadavg(),
        "config": cfg.as_dict(),
        "rounds": rounds,
        "protocols": {},
    }
    for protocol in protocols:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for r in range(rounds):
            # Alternate the contenders' order so drift hits both alike.
            contenders = list(CONTENDERS) if r % 2 == 0 else list(reversed(CONTENDERS))
            for name in [*contenders, *names[len(CONTENDERS) :]]:
                try:
                    res = runners[name](cfg, protocol)
                except Exception as exc:  # a broken run is a failed run, not a crash
                    res = _crashed(exc)
                runs[name].append(res)
                status = "ok" if res["ok"] else "FAILED: " + "; ".join(res["problems"])
                print(
                    f"  [{protocol} round {r + 1}/{rounds}] {name:10} "
                    f"{res['delivered_per_s']:>10,.0f} ev/s delivered "
                    f"(emit {res['emit_s']:.2f}s, delivered {res['delivered_s']:.2f}s) {status}",
                    file=sys.stderr,
                    flush=True,
                )
        summary: dict[str, Any] = {}
        for name in names:
            rs = runs[name]
            summary[name] = {
                "delivered_per_s": _summary([x["delivered_per_s"] for x in rs]),
                "delivered_s": _summary([x["delivered_s"] for x in rs]),
                "emit_s": _summary([x["emit_s"] for x in rs]),
                "emit_per_s": _summary([x["emit_per_s"] for x in rs]),
                "ok": all(x["ok"] for x in rs),
                "runs": rs,
            }
        fap, sdk = summary["fapilog"], summary["otel-sdk"]
        ratios = {
            "delivered": _ratio(fap["delivered_per_s"], sdk["delivered_per_s"]),
            "emit": _ratio(fap["emit_per_s"], sdk["emit_per_s"]),
        }
        if ceiling:
            ratios["fapilog_vs_ceiling_1"] = _ratio(
                fap["delivered_per_s"], summary["ceiling-1"]["delivered_per_s"]
            )
        out["protocols"][protocol] = {"contenders": summary, "ratio_fapilog_over_otel_sdk": ratios}
    out["loadavg_after"] = _loadavg()
    out["ok"] = all(c["ok"] for p in out["protocols"].values() for c in p["contenders"].values())
    return out


def report(res: dict[str, Any]) -> None:
    cfg = res["config"]
    v = res["versions"]
    print(
        f"python {res['python']} ({res['implementation']}) on {res['machine']}, "
        f"{res['cpus_usable']} usable of {res['cpus']} CPUs, {res['system']}; "
        f"load average {res['loadavg_before']} before, {res['loadavg_after']} after"
    )
    print(
        f"fapilog {v['fapilog']}, opentelemetry-sdk {v['opentelemetry-sdk']}, "
        f"grpcio {v['grpcio']}, protobuf {v['protobuf']}, rotel {v['rotel']}"
    )
    print(
        f"{cfg['events']:,} events per run (+{cfg['warmup']:,} warm-up), {res['rounds']} rounds; "
        f"both contenders: batch {cfg['batch_size']}, queue {cfg['queue_size']:,}, "
        f"schedule delay {cfg['schedule_delay_ms']} ms, no compression, one emitting thread; "
        f"fapilog overflow=block"
    )
    for protocol, data in res["protocols"].items():
        print(f"\n{protocol}:")
        print(
            f"{'contender':11} {'delivered ev/s median (min-max)':>36} "
            f"{'delivered s':>11} {'emit s':>7} {'emit ev/s':>10}  result  (ceiling: emit = send)"
        )
        for name, c in data["contenders"].items():
            d = c["delivered_per_s"]
            print(
                f"{name:11} {d['median']:>12,.0f} ({d['min']:,.0f}-{d['max']:,.0f})".ljust(49)
                + f"{c['delivered_s']['median']:>11.2f} {c['emit_s']['median']:>7.2f} "
                f"{c['emit_per_s']['median']:>10,.0f}  "
                + ("ok" if c["ok"] else "FAILED (see runs)")
            )
        r = data["ratio_fapilog_over_otel_sdk"]
        line = f"ratio fapilog / otel-sdk: delivered {r['delivered']:.2f}x, emit phase {r['emit']:.2f}x"
        if "fapilog_vs_ceiling_1" in r:
            line += (
                f"; fapilog at {r['fapilog_vs_ceiling_1']:.0%} of the 1-sender collector ceiling"
            )
        print(line)
        for name, c in data["contenders"].items():
            for i, run in enumerate(c["runs"], 1):
                if not run["ok"]:
                    print(f"  FAILED {name} round {i}: {'; '.join(run['problems'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="records per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1_000, help="untimed records first")
    parser.add_argument("--protocol", choices=("grpc", "http/protobuf", "both"), default="grpc")
    parser.add_argument("--batch-size", type=int, default=512, help="records per export")
    parser.add_argument("--schedule-delay-ms", type=int, default=200)
    parser.add_argument(
        "--queue-size", type=int, default=0, help="queue bound for both (default: events+warmup)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run at most")
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the collector-only ceiling runs"
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    protocols = ["grpc", "http/protobuf"] if args.protocol == "both" else [args.protocol]
    res = run(Config(args), protocols, args.rounds, not args.no_ceiling)
    report(res)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
