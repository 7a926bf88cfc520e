"""fapilog demo: a small checkout service whose logs go over OTLP into a real collector.

Run it with ``python3 dev.py demo`` (or ``python examples/demo_service.py`` inside the
project's environment). It

1. starts an embedded OpenTelemetry collector (the ``rotel-agent`` binary from the
   ``rotel`` package) on 127.0.0.1, receiving OTLP/gRPC and printing every record;
2. configures fapilog to ship over OTLP to it, and to a JSON-lines file as well;
3. serves simulated checkout requests concurrently on asyncio: nested spans, several
   loggers, request context bound per task, a third-party library that logs through
   the standard :mod:`logging` module, a payment failure logged with its exception,
   then a burst of events to show volume;
4. shuts the pipeline down and shows what the collector received (the count and a few
   full records with their trace ids) next to the pipeline's own accounting.

It exits with status 0 only when every emitted event reached the collector, and it
stops the collector before exiting: no process is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import fapilog
from fapilog.exporters.otlp import OTLPExporter
from fapilog.testing import CollectedLog, RotelCollector

tracer_provider = TracerProvider()
tracer = tracer_provider.get_tracer("shop.checkout", "1.4.2")

api_log = fapilog.get_logger("shop.api")
db_log = fapilog.get_logger("shop.db")
pay_log = fapilog.get_logger("shop.payments")
inventory_lib = logging.getLogger("inventory_client")  # a "library" using stdlib logging


class PaymentDeclinedError(Exception):
    """The payment provider refused the charge."""


async def reserve_stock(sku: str, quantity: int) -> None:
    with tracer.start_as_current_span("inventory.reserve"):
        await asyncio.sleep(random.uniform(0, 0.002))
        inventory_lib.info("reserved %d x %s", quantity, sku, extra={"sku": sku})
        if quantity > 3:
            inventory_lib.warning("stock low after reservation", extra={"sku": sku})


async def charge(order_id: int, amount: float) -> str:
    with tracer.start_as_current_span("payment.charge") as span:
        span.set_attribute("order.id", order_id)
        # A careless line that would leak a card number and a token: redaction
        # (on by default) masks them before anything leaves the process.
        pay_log.debug(
            "calling provider with Authorization: Bearer sk_live_51HxDemoToken",
            order_id=order_id,
            card="4111 1111 1111 1111",
        )
        await asyncio.sleep(random.uniform(0, 0.002))
        if order_id % 17 == 0:
            raise PaymentDeclinedError(f"card declined for order {order_id}")
        pay_log.info("charged", order_id=order_id, amount=amount, currency="EUR")
        return f"ch_{order_id:06d}"


async def handle_checkout(request_id: str, user_id: str, order_id: int) -> int:
    """One request: spans nest, and every log inside carries the bound request context."""
    with (
        fapilog.bind_context(request_id=request_id, user_id=user_id),
        tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER),
    ):
        started = time.perf_counter()
        api_log.debug("request received", http_method="POST", url_path="/checkout")
        with tracer.start_as_current_span("db.load_cart"):
            items = [{"sku": f"SKU-{order_id % 7}", "quantity": order_id % 5 + 1}]
            db_log.info("cart loaded", order_id=order_id, items=items, rows=len(items))
        await reserve_stock(items[0]["sku"], items[0]["quantity"])
        amount = round(9.99 * items[0]["quantity"], 2)
        try:
            charge_id = await charge(order_id, amount)
        except PaymentDeclinedError:
            pay_log.exception("payment failed", order_id=order_id, amount=amount)
            status = 402
        else:
            await api_log.ainfo("order placed", order_id=order_id, charge_id=charge_id)
            status = 201
        api_log.info(
            "request handled",
            event_name="http.server.request",
            http_status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return status


async def serve(requests: int, concurrency: int) -> dict[int, int]:
    semaphore = asyncio.Semaphore(concurrency)
    statuses: dict[int, int] = {}

    async def one(i: int) -> None:
        async with semaphore:
            status = await handle_checkout(f"req-{i:05d}", f"user-{i % 23}", 1000 + i)
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(one(i) for i in range(requests)))
    return statuses


def burst(events: int) -> float:
    """Log ``events`` records as fast as one thread can; returns events per second."""
    log = fapilog.get_logger("shop.metrics").bind(component="reporter")
    started = time.perf_counter()
    for i in range(events):
        log.info("cart metric", seq=i, cart_value=i * 0.5, items=i % 9)
    return events / (time.perf_counter() - started)


def show(record: CollectedLog) -> None:
    print(f"  [{record.severity_text or '-'}:{record.severity_number}] {record.body!r}")
    print(f"    scope                {record.scope_name} {record.scope_version}".rstrip())
    print(f"    service              {record.resource_attributes.get('service.name')}")
    print(f"    trace_id             {record.trace_id or '(none)'}")
    print(f"    span_id              {record.span_id or '(none)'}")
    for key in sorted(record.attributes):
        value: Any = record.attributes[key]
        text = repr(value)
        if len(text) > 100:
            text = text[:97] + "..."
        print(f"    {key:<20} {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="simulated requests")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--burst", type=int, default=20_000, help="events in the burst")
    args = parser.parse_args(argv)
    random.seed(7)

    print("demo: starting the embedded OpenTelemetry collector (rotel) on 127.0.0.1 ...")
    with RotelCollector() as collector, tempfile.TemporaryDirectory() as tmp:
        print(
            f"demo: collector (pid {collector.pid}) receives OTLP/gRPC on {collector.grpc_endpoint}"
        )
        log_file = Path(tmp) / "checkout.jsonl"
        pipeline = fapilog.configure(
            service_name="checkout",
            level="debug",
            exporters=[OTLPExporter(endpoint=collector.grpc_endpoint), "file"],
            file_path=log_file,
        )
        fapilog.capture_stdlib("INFO")

        statuses = asyncio.run(serve(args.requests, args.concurrency))
        rate = burst(args.burst)
        ok = pipeline.shutdown(timeout=30)
        stats = pipeline.stats()
        received = collector.wait_for(stats.exported, timeout=30)
        file_lines = sum(1 for _ in log_file.open(encoding="utf-8"))

        records = collector.records()
        print()
        print(f"demo: served {args.requests} requests, statuses {dict(sorted(statuses.items()))}")
        print(f"demo: burst of {args.burst} events logged at {rate:,.0f} events/s (caller side)")
        print()
        print("what the collector received, a few full records:")
        picks = [
            next((r for r in records if r.event_name == "http.server.request"), None),
            next((r for r in records if "exception.type" in r.attributes), None),
            next((r for r in records if r.scope_name == "inventory_client"), None),
            next((r for r in records if "fapilog.redacted" in r.attributes), None),
        ]
        for record in picks:
            if record is not None:
                show(record)
        leaked = "4111 1111 1111 1111" in collector.output or "sk_live_51Hx" in collector.output
        traced = sum(1 for r in records if r.trace_id)
        traces = len({r.trace_id for r in records if r.trace_id})
        print()
        print(f"collector: {received} records received, {traced} with a trace id")
        print(f"           ({traces} distinct traces, one per request)")
        print(f"file:      {file_lines} JSON lines in {log_file.name}")
        print(f"redaction: card number or token in collector output: {leaked}")
        print(
            f"pipeline:  emitted={stats.emitted} exported={stats.exported} "
            f"dropped={dict(stats.dropped)} in_flight={stats.in_flight}"
        )
        for name, exporter in stats.exporters.items():
            print(
                f"           {name}: received={exporter.received} exported={exporter.exported}"
                f" dropped={dict(exporter.dropped)} retries={exporter.retries}"
            )
        healthy = (
            ok
            and stats.dropped_total == 0
            and stats.exported == stats.emitted
            and received == stats.emitted
            and file_lines == stats.emitted
            and not leaked
        )
    print()
    print("demo: collector stopped;", "every event was delivered" if healthy else "EVENTS LOST")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
