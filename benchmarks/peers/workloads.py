"""The workloads, each run once per fresh worker process (see ``worker.py``).

* ``w1``: caller cost per call during the burst (wall time, ``perf_counter_ns``, the
  headline; and the calling thread's CPU time, ``thread_time_ns``) and total wall time
  until every event is a JSON line on ``/dev/null`` (after flush/shutdown); peak RSS
  of the process (W4).
* ``w3``: T tasks x E events in one asyncio loop, ``await asyncio.sleep(0)``
  between events, a 1 ms ticker measuring loop lag; ``control`` logs nothing.
* ``w2``: OTLP/gRPC into a fresh ``rotel`` collector, delivered events/s.
* ``floors``: the bare call (wall and thread time), an orjson dump and an OTLP
  protobuf encode per record.

The ``import`` workload needs a fresh interpreter per measurement and lives in
``imports.py``.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import inspect
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from _common import FIELDS, MESSAGE, peak_rss_mib, percentile
from contenders import PICO_MESSAGE, SETUPS, Options, Setup

M, P, S, D, U = (FIELDS[k] for k in ("method", "path", "status", "duration_ms", "user_id"))


# -- one loop per calling style (the loop is the same for every contender of a style) -------


def _loop_kwargs(call: Callable[..., Any], n: int) -> None:
    for _ in range(n):
        call(MESSAGE, method=M, path=P, status=S, duration_ms=D, user_id=U)


def _loop_extra(call: Callable[..., Any], n: int) -> None:
    for _ in range(n):
        call(
            MESSAGE,
            extra={"method": M, "path": P, "status": S, "duration_ms": D, "user_id": U},
        )


def _loop_pico(call: Callable[..., Any], n: int) -> None:
    for _ in range(n):
        call(PICO_MESSAGE, M, P, S, D, U)


def _loop_otel_emit(call: Callable[..., Any], n: int) -> None:
    from opentelemetry._logs import SeverityNumber

    info, now = SeverityNumber.INFO, time.time_ns
    for _ in range(n):
        call(
            timestamp=now(),
            severity_number=info,
            severity_text="INFO",
            body=MESSAGE,
            attributes={"method": M, "path": P, "status": S, "duration_ms": D, "user_id": U},
        )


LOOPS: dict[str, Callable[[Callable[..., Any], int], None]] = {
    "kwargs": _loop_kwargs,
    "extra": _loop_extra,
    "pico": _loop_pico,
    "otel-emit": _loop_otel_emit,
}


def _one_call(setup: Setup) -> Callable[[], Any]:
    """One event in ``setup``'s style, as a no-argument callable (W3's tasks)."""
    call = setup.call
    if setup.style == "akwargs":
        return lambda: call(MESSAGE, method=M, path=P, status=S, duration_ms=D, user_id=U)
    loop = LOOPS[setup.style]
    return lambda: loop(call, 1)


def _drops(emitted: int, res: dict[str, Any], delivered: int | None) -> dict[str, Any]:
    """Emitted against what arrived (lines written or records received)."""
    arrived = delivered if delivered is not None else res.get("written", 0)
    out = {"emitted": emitted, "arrived": arrived, "dropped": emitted - arrived}
    acct = res.get("accounting")
    if acct:
        out["accounting"] = acct
    return out


# -- W1 / W4 ---------------------------------------------------------------------------------


def imported_fapilog() -> str | None:
    """The ``fapilog/__init__.py`` this process imported (``--src`` checks it), if any."""
    module = sys.modules.get("fapilog")
    return getattr(module, "__file__", None)


def run_w1(name: str, events: int) -> dict[str, Any]:
    """W1 (and W4): caller ns/call (wall and thread), total seconds, peak RSS, events lost."""
    warmup = max(100, events // 100)
    setup = SETUPS[name](Options(destination="devnull", total_events=events + warmup))
    loop = LOOPS[setup.style]
    loop(setup.call, warmup)
    gc.collect()
    t0, w0 = time.thread_time_ns(), time.perf_counter_ns()
    loop(setup.call, events)
    w1 = time.perf_counter_ns()
    t1 = time.thread_time_ns()
    res = setup.finish()
    assert isinstance(res, dict)
    w2 = time.perf_counter_ns()
    return {
        # Wall time per call during the burst: what the caller waited, including the
        # GIL held by a logger's own threads (the headline figure).
        "caller_wall_ns": (w1 - w0) / events,
        # The calling thread's CPU time per call (secondary).
        "caller_ns": (t1 - t0) / events,
        "total_s": (w2 - w0) / 1e9,
        "peak_rss_mib": peak_rss_mib(),
        **_drops(events + warmup, res, None),
        "notes": setup.notes,
        "fapilog_file": imported_fapilog(),
    }


# -- W3 --------------------------------------------------------------------------------------


async def _w3(name: str, tasks: int, per_task: int) -> dict[str, Any]:
    total = tasks * per_task
    setup = (
        None
        if name == "control"
        else SETUPS[name](Options(destination="devnull", total_events=total, in_loop=True))
    )
    if setup is not None and setup.astart is not None:
        await setup.astart()
    one: Callable[[], Any] = _one_call(setup) if setup is not None else (lambda: None)
    is_async = setup is not None and setup.style == "akwargs"
    lags: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - t - 0.001) * 1000)

    async def task() -> None:
        for _ in range(per_task):
            if is_async:
                await one()
            else:
                one()
            await asyncio.sleep(0)

    gc.collect()
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.002)  # the ticker is running before the load starts
    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(tasks)))
    logged = time.perf_counter()
    res: dict[str, Any] = {}
    if setup is not None:
        finished = setup.finish()
        res = await finished if inspect.isawaitable(finished) else finished
    done = time.perf_counter()
    running = False
    await tick
    out: dict[str, Any] = {
        "total_s": done - started,
        "logging_phase_s": logged - started,
        "lag_p99_ms": percentile(lags, 0.99),
        "lag_max_ms": max(lags) if lags else float("nan"),
        "ticks": len(lags),
    }
    if setup is not None:
        out.update(_drops(total, res, None))
    else:
        out.update({"emitted": 0, "arrived": 0, "dropped": 0})
    out["fapilog_file"] = imported_fapilog()
    return out


def run_w3(name: str, tasks: int, per_task: int) -> dict[str, Any]:
    """W3: ``tasks`` x ``per_task`` events in one loop; ``name="control"`` logs nothing."""
    return asyncio.run(_w3(name, tasks, per_task))


# -- W2 --------------------------------------------------------------------------------------

STALL_S = 5.0
"""W2 stops waiting once the collector's count has not moved for this long (a loss)."""


def _wait_delivered(collector: Any, events: int, timeout: float) -> tuple[int, float]:
    """Wait for ``events`` records; (count, time of the last record seen).

    Returns as soon as all arrived (``wait_for`` wakes on each record). When events
    were lost the count stops short: the wait ends ``STALL_S`` after it last moved, and
    the time returned is when it last moved (to within a poll), not the stall's end.
    """
    deadline = time.perf_counter() + timeout
    last_count, last_moved = collector.count(), time.perf_counter()
    while True:
        got = collector.wait_for(events, timeout=0.25)
        now = time.perf_counter()
        if got >= events:
            return got, now
        if got != last_count:
            last_count, last_moved = got, now
        elif now - last_moved > STALL_S or now > deadline:
            return got, last_moved


def run_otlp(name: str, events: int, timeout: float) -> dict[str, Any]:
    """W2: delivered events/s into a fresh ``rotel``."""
    from fapilog.testing import RotelCollector

    warmup = max(100, events // 100)
    with RotelCollector(verbosity="basic") as collector:
        setup = SETUPS[name](
            Options(
                destination="otlp",
                total_events=events + warmup,
                endpoint=collector.grpc_endpoint,
            )
        )
        loop = LOOPS[setup.style]
        loop(setup.call, warmup)
        warm = collector.wait_for(warmup, timeout=timeout)
        if warm != warmup:
            raise RuntimeError(f"warm-up: collector counted {warm} of {warmup}")
        collector.reset()
        gc.collect()
        started = time.perf_counter()
        loop(setup.call, events)
        emitted = time.perf_counter()
        received, delivered = _wait_delivered(collector, events, timeout)
        res = setup.finish()
        assert isinstance(res, dict)
        final = collector.wait_for(events + 1, timeout=0.2)  # late duplicates?
    return {
        "delivered_per_s": received / (delivered - started),
        "delivered_s": delivered - started,
        "emit_s": emitted - started,
        "final_count": final,
        **_drops(events, res, received),
        "fapilog_file": imported_fapilog(),
    }


# -- floors ----------------------------------------------------------------------------------


def _per_call_ns(fn: Callable[[], Any], calls: int) -> float:
    t0 = time.thread_time_ns()
    for _ in range(calls):
        fn()
    return (time.thread_time_ns() - t0) / calls


def run_floors(events: int) -> dict[str, Any]:
    """The floors: bare call, orjson and OTLP protobuf encode, ns per record."""
    import orjson

    sink: collections.deque[tuple[Any, ...]] = collections.deque()

    def bare(msg: str, **fields: Any) -> None:
        sink.append((msg, fields))

    def call_bare() -> None:
        bare(MESSAGE, method=M, path=P, status=S, duration_ms=D, user_id=U)

    def call_orjson() -> bytes:
        return orjson.dumps(
            {
                "timestamp": time.time_ns(),
                "level": "INFO",
                "message": MESSAGE,
                "method": M,
                "path": P,
                "status": S,
                "duration_ms": D,
                "user_id": U,
            }
        )

    for fn in (call_bare, call_orjson):
        _per_call_ns(fn, max(100, events // 10))  # warm-up
    sink.clear()
    gc.collect()
    # The same loop W1 times for every "kwargs" contender, with the same two clocks, so
    # the floor and the contender differ only in the function called.
    t0, w0 = time.thread_time_ns(), time.perf_counter_ns()
    _loop_kwargs(bare, events)
    w1 = time.perf_counter_ns()
    bare_ns = (time.thread_time_ns() - t0) / events
    sink.clear()
    orjson_ns = _per_call_ns(call_orjson, events)
    return {
        "bare_call_wall_ns": (w1 - w0) / events,
        "bare_call_ns": bare_ns,
        "orjson_ns": orjson_ns,
        "proto_ns": _proto_ns(events),
    }


def _proto_ns(events: int) -> float:
    """Build and serialise OTLP requests of ``BATCH_SIZE`` records; ns per record."""
    from contenders import BATCH_SIZE
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    resource_pb = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value="peers-bench"))]
    )
    scope = InstrumentationScope(name="bench")

    def encode(n: int) -> int:
        records = [
            LogRecord(
                time_unix_nano=time.time_ns(),
                severity_number=9,  # type: ignore[arg-type]
                severity_text="INFO",
                body=AnyValue(string_value=MESSAGE),
                attributes=[
                    KeyValue(key="method", value=AnyValue(string_value=M)),
                    KeyValue(key="path", value=AnyValue(string_value=P)),
                    KeyValue(key="status", value=AnyValue(int_value=S)),
                    KeyValue(key="duration_ms", value=AnyValue(double_value=D)),
                    KeyValue(key="user_id", value=AnyValue(string_value=U)),
                ],
            )
            for _ in range(n)
        ]
        request = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    resource=resource_pb,
                    scope_logs=[ScopeLogs(scope=scope, log_records=records)],
                )
            ]
        )
        return len(request.SerializeToString())

    encode(BATCH_SIZE)  # warm-up
    batches = max(1, events // BATCH_SIZE)
    t0 = time.thread_time_ns()
    for _ in range(batches):
        encode(BATCH_SIZE)
    return (time.thread_time_ns() - t0) / (batches * BATCH_SIZE)


WorkloadFn = Callable[..., dict[str, Any] | Coroutine[Any, Any, dict[str, Any]]]
