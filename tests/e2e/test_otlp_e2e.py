"""End to end: fapilog Pipeline -> OTLPExporter -> a real OpenTelemetry collector (rotel).

Every test runs once per OTLP transport (gRPC and HTTP/protobuf) and checks what the
collector actually received against what was logged and against ``pipeline.stats()``:

* volume: 100,000 events, all delivered exactly once, nothing dropped;
* fidelity: 200 varied events compared field by field (body, severity, attributes of
  every type, resource, scope, trace context, event name, timestamps);
* a collector that only starts 3 s after the application: everything buffered is
  delivered within the pipeline's retry bound, exactly once;
* a collector SIGKILLed and restarted on the same port while events keep flowing:
  the accounting identity holds exactly and nothing emitted after the crash is lost.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import traceback
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import fapilog
from fapilog.exporters.otlp import OTLPExporter
from fapilog.testing import RotelCollector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fapilog.testing import CollectedLog

pytestmark = pytest.mark.e2e

pytest.importorskip("rotel", reason="end-to-end tests need the rotel collector")

PROTOCOLS = pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])

_HOST = "127.0.0.1"
#: Bound on one export including its retries (``export_timeout_ms``) in the outage tests.
EXPORT_TIMEOUT_S = 15.0


# -- helpers ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings and exporter options come from the test only, traffic stays on loopback."""
    proxies = {"http_proxy", "https_proxy", "all_proxy", "grpc_proxy", "no_proxy"}
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FAPILOG_")) or name.lower() in proxies:
            monkeypatch.delenv(name)


def endpoint(protocol: str, grpc_port: int, http_port: int) -> str:
    """The OTLP logs endpoint of a collector listening on these loopback ports."""
    if protocol == "grpc":
        return f"http://{_HOST}:{grpc_port}"  # http:// means plain text for gRPC
    return f"http://{_HOST}:{http_port}/v1/logs"


def ports_of(collector: RotelCollector) -> tuple[int, int]:
    """(gRPC port, HTTP port) of a started collector."""
    grpc_port = urlsplit(collector.grpc_endpoint).port
    http_port = urlsplit(collector.http_endpoint).port
    assert grpc_port is not None and http_port is not None
    return grpc_port, http_port


def free_ports() -> tuple[int, int]:
    """Two distinct loopback ports that were free a moment ago (nothing listens there)."""
    with socket.socket() as a, socket.socket() as b:
        a.bind((_HOST, 0))
        b.bind((_HOST, 0))
        return a.getsockname()[1], b.getsockname()[1]


def otlp_pipeline(protocol: str, url: str, **settings: Any) -> fapilog.Pipeline:
    """A pipeline whose only exporter is fapilog's OTLP exporter for ``protocol``."""
    exporter = OTLPExporter(endpoint=url, protocol=protocol, timeout=5.0)
    return fapilog.Pipeline(exporters=[exporter], **settings)


@contextlib.contextmanager
def shut_down_at_end(pipeline: fapilog.Pipeline) -> Iterator[fapilog.Pipeline]:
    """Shut ``pipeline`` down on the way out, even when the test fails (idempotent)."""
    try:
        yield pipeline
    finally:
        pipeline.shutdown(timeout=5)


def seqs(records: list[CollectedLog]) -> list[int]:
    """The ``seq`` attribute of every record, in arrival order."""
    return [record.attributes["seq"] for record in records]


def assert_books_closed(stats: fapilog.PipelineStats, emitted: int) -> None:
    """After shutdown: every emitted event was delivered, none is left, none dropped."""
    assert stats.emitted == emitted, stats
    assert stats.in_flight == 0, stats
    assert stats.queued == 0, stats
    assert dict(stats.dropped) == {}, stats
    assert stats.exported == emitted, stats
    lane = stats.exporters["otlp"]
    assert (lane.received, lane.exported, lane.in_flight) == (emitted, emitted, 0), lane
    assert dict(lane.dropped) == {}, lane


# -- 1. volume -------------------------------------------------------------------------


@PROTOCOLS
def test_volume_100k_events_all_arrive_exactly_once(protocol: str) -> None:
    """100,000 events logged as fast as possible arrive, no more, no less.

    ``overflow="block"`` with a long block timeout makes the logging loop wait for
    room instead of dropping when it outruns the exporter, so the exact count is
    required at the collector and in the books. The collector is stopped (SIGTERM,
    rotel flushes) before the final count, so duplicates would show as a surplus.
    """
    total = 100_000
    with RotelCollector(verbosity="basic") as collector:
        pipeline = otlp_pipeline(
            protocol,
            endpoint(protocol, *ports_of(collector)),
            service_name="e2e-volume",
            schedule_delay_ms=5,
            overflow="block",
            block_timeout_ms=60_000,
            export_timeout_ms=int(EXPORT_TIMEOUT_S * 1000),
        )
        with shut_down_at_end(pipeline):
            log = pipeline.get_logger("e2e.volume")
            for seq in range(total):
                log.info("order processed", seq=seq, route="/checkout", ok=True)
            assert pipeline.flush(timeout=60)
            assert pipeline.shutdown(timeout=10)
        stats = pipeline.stats()
        assert collector.wait_for(total, timeout=10) == total
        collector.stop()
        assert collector.count() == total
    assert_books_closed(stats, total)
    assert stats.exporters["otlp"].retries == 0


# -- 2. fidelity -----------------------------------------------------------------------

LOGGERS = ("e2e.orders", "e2e.payments", "e2e.api.v2")
#: How an event is logged: method name (or a stdlib level for ``log()``), expected
#: OTel severity number and text.
SEVERITIES: tuple[tuple[str | int, int, str], ...] = (
    ("debug", 5, "DEBUG"),
    ("info", 9, "INFO"),
    ("warning", 13, "WARN"),
    ("error", 17, "ERROR"),
    ("critical", 21, "FATAL"),
    (5, 1, "TRACE"),  # log(5): a custom TRACE level below logging.DEBUG
    (11, 6, "DEBUG"),
    (22, 11, "INFO"),
    (33, 16, "WARN"),
    (53, 24, "FATAL"),
)


def fields_for(case: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(keyword fields to log, attributes the collector should print) for one case."""
    fields: dict[str, Any] = {
        "case": case,
        "count": case * 7 - 100,
        "ratio": case / 8,
        "measure": 3.14159 + case,
        "ok": case % 2 == 0,
        "user": f"user-{case}",
        "unicode": "héllo ✓ 日本",
        "tags": ["a", f"t{case}"],
        "nested": {"order": {"id": case, "items": [1, "two", False, 2.5]}, "empty": {}},
        "raw": bytes([case % 256, 0, 255]),
        "maybe": None,
        "big": 2**63 - 1 - case,
        "small": -(2**63) + case,
    }
    expected = dict(fields)
    if case % 5 == 0:
        fields["pair"] = (1, "x")  # a tuple is sent as an array
        expected["pair"] = [1, "x"]
    if case % 7 == 0:
        fields["multiline"] = expected["multiline"] = "line one\nline two\twith a tab"
    if case % 11 == 0:
        fields["tiny"] = expected["tiny"] = 1e-7
        fields["huge"] = expected["huge"] = 1e100
    return fields, expected


@PROTOCOLS
async def test_fidelity_field_by_field(protocol: str) -> None:
    """200 varied events arrive exactly as logged, compared field by field.

    Varied: three loggers (scopes), ten severities (named methods, ``log()`` with
    stdlib levels, the awaitable twins), attributes of every OTLP type (int incl.
    the int64 bounds, float, bool, str with non-ASCII and newlines, bytes, None,
    nested maps and arrays, tuples), %-formatted, multi-line and structured bodies,
    bound fields, event names, exceptions, and trace context: no span, a root span,
    a parent span and a child span (ids must match the span's, hex; empty without).

    The schedule delay is long, so everything leaves in one batch at ``aflush()``:
    one request, which lets us check that records are grouped into one ScopeLogs
    per logger, in order of first appearance, keeping emission order within each.
    """
    total = 200
    tracer = TracerProvider().get_tracer("e2e.fidelity")
    parent = tracer.start_span("parent")
    expected: dict[int, dict[str, Any]] = {}
    with RotelCollector() as collector:
        pipeline = otlp_pipeline(
            protocol,
            endpoint(protocol, *ports_of(collector)),
            service_name="e2e-fidelity",
            level="TRACE",
            schedule_delay_ms=60_000,
            max_export_batch_size=1024,
        )
        with shut_down_at_end(pipeline):
            loggers = [pipeline.get_logger(name) for name in LOGGERS]
            started_ns = time.time_ns()
            for case in range(total):
                log = loggers[case % len(LOGGERS)]
                fields, attributes = fields_for(case)
                if case % 8 == 1:
                    log = log.bind(request_id=f"req-{case}")
                    attributes["request_id"] = f"req-{case}"
                if case % 6 == 0:
                    fields["event_name"] = f"order.event.{case % 3}"
                how, number, text = SEVERITIES[case % len(SEVERITIES)]
                args: tuple[Any, ...] = ()
                msg: Any = f"case {case}: order processed"
                body: Any = msg
                if case % 10 == 3:
                    msg, args, body = "user %s paid %d", ("bob", case), f"user bob paid {case}"
                elif case % 10 == 7:
                    msg = body = {"kind": "structured", "n": case, "list": [case, "x"]}
                elif case % 25 == 0:
                    msg = body = f"first line\nsecond line of case {case}"
                use_async = case % 7 in (0, 3, 5)  # across loggers and span modes
                with contextlib.ExitStack() as stack:
                    mode = case % 4
                    span: Any = None
                    if mode == 1:  # a root span of its own trace
                        span = stack.enter_context(tracer.start_as_current_span(f"op-{case}"))
                    elif mode == 2:  # the long-lived parent span
                        span = stack.enter_context(trace.use_span(parent, end_on_exit=False))
                    elif mode == 3:  # a child of the parent
                        stack.enter_context(trace.use_span(parent, end_on_exit=False))
                        span = stack.enter_context(tracer.start_as_current_span(f"child-{case}"))
                    if case % 50 == 17:  # an exception, with its traceback
                        try:
                            raise ValueError(f"bad value {case}")
                        except ValueError as exc:
                            how, number, text = "exception", 17, "ERROR"
                            attributes["exception.type"] = "ValueError"
                            attributes["exception.message"] = f"bad value {case}"
                            attributes["exception.stacktrace"] = "".join(
                                traceback.format_exception(exc)
                            )
                            await emit(log, how, use_async, msg, args, fields)
                    else:
                        await emit(log, how, use_async, msg, args, fields)
                    context = span.get_span_context() if span is not None else None
                expected[case] = {
                    "body": body,
                    "severity_number": number,
                    "severity_text": text,
                    "attributes": attributes,
                    "scope_name": LOGGERS[case % len(LOGGERS)],
                    "scope_version": "",
                    "scope_attributes": {},
                    "event_name": f"order.event.{case % 3}" if case % 6 == 0 else "",
                    "trace_id": f"{context.trace_id:032x}" if context else "",
                    "span_id": f"{context.span_id:016x}" if context else "",
                    "flags": int(context.trace_flags) if context else 0,
                }
            assert await pipeline.aflush(timeout=10)
            finished_ns = time.time_ns()
            assert collector.wait_for(total, timeout=10) == total
            assert await pipeline.ashutdown(timeout=5)
        parent.end()
        stats = pipeline.stats()
        collector.stop()
        records = collector.records()

    assert_books_closed(stats, total)
    assert len(records) == total
    by_case = {record.attributes["case"]: record for record in records}
    assert sorted(by_case) == list(range(total)), "each case exactly once"

    resource = dict(pipeline.resource.attributes)
    assert resource["service.name"] == "e2e-fidelity"
    mismatches = []
    for case in range(total):
        record = by_case[case]
        actual = {
            "body": record.body,
            "severity_number": record.severity_number,
            "severity_text": record.severity_text,
            "attributes": record.attributes,
            "scope_name": record.scope_name,
            "scope_version": record.scope_version,
            "scope_attributes": record.scope_attributes,
            "event_name": record.event_name,
            "trace_id": record.trace_id,
            "span_id": record.span_id,
            "flags": record.flags,
        }
        if actual != expected[case]:
            mismatches.append((case, actual, expected[case]))
        assert record.resource_attributes == resource
        assert started_ns <= record.timestamp <= finished_ns
        assert record.observed_timestamp == record.timestamp
    assert not mismatches, f"{len(mismatches)} record(s) differ; first: {mismatches[0]}"

    # Trace context really varied: no span, several root traces, one shared parent trace.
    traced = [r for r in records if r.trace_id]
    assert len(traced) == total * 3 // 4
    assert all(len(r.trace_id) == 32 and len(r.span_id) == 16 for r in traced)
    parent_trace = f"{parent.get_span_context().trace_id:032x}"
    assert sum(r.trace_id == parent_trace for r in records) == total // 2

    # One request: one ScopeLogs per logger, in order of first appearance, in
    # emission order within each.
    runs = [
        name
        for i, name in enumerate(r.scope_name for r in records)
        if i == 0 or records[i - 1].scope_name != name
    ]
    assert runs == list(LOGGERS)
    for name in LOGGERS:
        cases = [r.attributes["case"] for r in records if r.scope_name == name]
        assert cases == sorted(cases)


async def emit(
    log: fapilog.Logger,
    how: str | int,
    use_async: bool,
    msg: Any,
    args: tuple[Any, ...],
    fields: dict[str, Any],
) -> None:
    """Log one event with the named method (or ``log(level)``), sync or awaitable."""
    if isinstance(how, int):
        if use_async:
            await log.alog(how, msg, *args, **fields)
        else:
            log.log(how, msg, *args, **fields)
    elif use_async:
        await getattr(log, "a" + how)(msg, *args, **fields)
    else:
        getattr(log, how)(msg, *args, **fields)


# -- 3. collector not running at start -------------------------------------------------


@pytest.mark.once
@PROTOCOLS
def test_collector_started_late_receives_everything(protocol: str) -> None:
    """Events logged while no collector listens are delivered once it starts.

    1,000 events are logged at a port nothing listens on; for 3 s every export attempt
    fails (connection refused, retryable) and the pipeline keeps retrying the batch.
    Then a collector starts on that very port. Within ``export_timeout_ms`` (15 s from
    the first attempt) every event must arrive, exactly once (no loss, no duplicate),
    with the books showing all exported and none dropped.

    Timing: the pipeline retries with full-jitter backoff capped at 5 s; over gRPC the
    channel also backs off between connection attempts (1 s, x1.6, +-20 %), so its
    first connection after the collector is up comes by ~6.3 s and the next export
    attempt by ~11.3 s at worst, inside the 15 s bound. Measured: 5-8.5 s (gRPC),
    3.3-4 s (HTTP).
    """
    total = 1_000
    grpc_port, http_port = free_ports()
    pipeline = otlp_pipeline(
        protocol,
        endpoint(protocol, grpc_port, http_port),
        service_name="e2e-late",
        schedule_delay_ms=5,
        export_timeout_ms=int(EXPORT_TIMEOUT_S * 1000),
    )
    with shut_down_at_end(pipeline):
        log = pipeline.get_logger("e2e.late")
        first_log = time.monotonic()
        for seq in range(total):
            log.info("logged while the collector is down", seq=seq)
        time.sleep(3.0)
        down = pipeline.stats()
        assert (down.emitted, down.exported, down.dropped_total) == (total, 0, 0), down
        assert down.in_flight == total, down
        assert down.exporters["otlp"].retries >= 1, "the exporter should have been retrying"

        with RotelCollector(grpc_port=grpc_port, http_port=http_port) as collector:
            assert collector.wait_for(total, timeout=EXPORT_TIMEOUT_S) == total
            delivered_after = time.monotonic() - first_log
            assert pipeline.flush(timeout=5)
            assert pipeline.shutdown(timeout=5)
            collector.stop()  # rotel flushes; a duplicate would show up below
            received = seqs(collector.records())
    assert delivered_after < EXPORT_TIMEOUT_S
    assert sorted(received) == list(range(total))
    assert_books_closed(pipeline.stats(), total)


# -- 4. collector killed and restarted mid-stream --------------------------------------


class Emitter(threading.Thread):
    """Logs ``seq=0, 1, 2, ...`` at a steady pace until stopped.

    ``next_seq`` is read by the test: every seq below a value read at time T was
    logged (the call returned) before T, and no seq above it had been started.
    """

    def __init__(self, log: fapilog.Logger, chunk: int = 50, pause: float = 0.01) -> None:
        super().__init__(name="e2e-emitter", daemon=True)
        self.log = log
        self.chunk = chunk
        self.pause = pause
        self.next_seq = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        log = self.log
        while not self.stopping.is_set():
            for _ in range(self.chunk):
                log.info("tick", seq=self.next_seq)
                self.next_seq += 1
            time.sleep(self.pause)

    def stop(self) -> int:
        self.stopping.set()
        self.join(10)
        assert not self.is_alive()
        return self.next_seq


@pytest.mark.once
@PROTOCOLS
def test_collector_killed_and_restarted_mid_stream(protocol: str) -> None:
    """The collector is SIGKILLed and restarted on the same port while events flow.

    A thread logs ~5,000 events/s throughout. After ~1 s the collector (C1) is
    killed with SIGKILL; 0.5 s later a new one (C2) starts on the same ports; events
    keep flowing for another ~1.5 s. Then the pipeline is shut down and C2 is
    stopped gracefully (SIGTERM: rotel prints everything it acknowledged).

    What is asserted, and why it is sound:

    * The books close exactly: ``emitted == exported + dropped_total`` with
      ``in_flight == 0``; in fact ``dropped_total == 0`` and ``exported == emitted``:
      the outage (0.5 s, plus up to a few seconds of gRPC reconnect backoff) is far
      shorter than the 15 s export timeout, a failed request (connection reset or
      refused) is retryable, and ``overflow="block"`` makes the logging thread wait
      rather than drop while the backlog grows.
    * The pipeline noticed the outage: the exporter lane retried at least once.
    * Every event logged after C1 was dead is in C2's output. Those events were
      exported (acknowledged) and C1 could not have received them, so C2 did; a
      gracefully stopped rotel prints everything it acknowledged.
    * Events missing from both outputs were all logged before C1 died, and so were
      all duplicates. rotel acknowledges a request when it enters its internal
      pipeline and prints it afterwards, so C1 may have acknowledged (hence we
      counted as exported) records it never printed before SIGKILL: at-most-once
      on a collector crash is inherent to the collector, not the client. Conversely
      a request C1 printed but whose acknowledgement was lost is retried to C2 and
      printed twice (at-least-once). Neither can affect events logged after the kill.
    """
    with RotelCollector() as first:
        grpc_port, http_port = ports_of(first)
        pipeline = otlp_pipeline(
            protocol,
            endpoint(protocol, grpc_port, http_port),
            service_name="e2e-restart",
            schedule_delay_ms=5,
            overflow="block",
            block_timeout_ms=30_000,
            export_timeout_ms=int(EXPORT_TIMEOUT_S * 1000),
        )
        with shut_down_at_end(pipeline), contextlib.ExitStack() as cleanup:
            emitter = Emitter(pipeline.get_logger("e2e.restart"))
            emitter.start()
            cleanup.callback(emitter.stopping.set)
            time.sleep(1.0)
            pid = first.pid
            assert pid is not None
            assert first.count() > 0, "events should be flowing before the crash"
            os.kill(pid, signal.SIGKILL)
            first.stop()  # reaps the killed process and drains what it printed
            after_death = emitter.next_seq + 1  # seqs >= this started after C1 died
            time.sleep(0.5)
            with RotelCollector(grpc_port=grpc_port, http_port=http_port) as second:
                time.sleep(1.5)
                total = emitter.stop()
                assert pipeline.shutdown(timeout=EXPORT_TIMEOUT_S + 5)
                stats = pipeline.stats()
                second.stop()
                after = Counter(seqs(second.records()))
    before = Counter(seqs(first.records()))

    assert total > after_death + 1_000, "events should keep flowing after the crash"
    assert stats.emitted == total
    assert stats.in_flight == 0 and stats.queued == 0
    assert stats.emitted == stats.exported + stats.dropped_total
    assert dict(stats.dropped) == {}, stats
    assert stats.exporters["otlp"].retries >= 1, "the outage went unnoticed"

    logged_after_death = set(range(after_death, total))
    assert logged_after_death <= after.keys(), "events logged after the crash were lost"
    everywhere = before + after
    missing = set(range(total)) - everywhere.keys()
    late_missing = sorted(seq for seq in missing if seq >= after_death)
    assert not late_missing, f"lost after the crash: {late_missing[:10]}"
    duplicated = {seq for seq, n in everywhere.items() if n > 1}
    late_duplicated = sorted(seq for seq in duplicated if seq >= after_death)
    assert not late_duplicated, f"duplicated after the crash: {late_duplicated[:10]}"
    assert everywhere.keys() <= set(range(total)), "the collector received unknown events"
