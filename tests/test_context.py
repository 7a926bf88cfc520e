"""Trace correlation and bound context across threads, tasks and executors."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider

import fapilog
from fapilog import Pipeline
from support import RecordingExporter


@pytest.fixture(scope="module")
def tracer() -> trace.Tracer:
    return TracerProvider().get_tracer("tests")


@pytest.fixture
def setup() -> Iterator[tuple[Pipeline, RecordingExporter]]:
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5, baggage_keys=["tenant"])
    yield pipeline, exporter
    pipeline.shutdown(timeout=5)


def _by_body(pipeline: Pipeline, exporter: RecordingExporter) -> dict[str, fapilog.LogEvent]:
    assert pipeline.flush(timeout=5)
    return {e.body: e for e in exporter.events}


def test_sync_calls_inside_a_span_carry_its_ids(setup, tracer) -> None:
    """trace_id/span_id/flags come from the active span; none outside it."""
    pipeline, exporter = setup
    log = pipeline.get_logger("x")
    with tracer.start_as_current_span("op") as span:
        log.info("inside")
    log.info("outside")
    events = _by_body(pipeline, exporter)
    ctx = span.get_span_context()
    assert events["inside"].trace_id == ctx.trace_id
    assert events["inside"].span_id == ctx.span_id
    assert events["inside"].trace_flags == int(ctx.trace_flags) and ctx.trace_flags.sampled
    assert events["outside"].trace_id == 0 and events["outside"].span_id == 0


async def test_async_calls_after_await_and_in_gather_children_keep_the_span(setup, tracer) -> None:
    """Awaited calls, calls after an await and calls in gather() children see the span."""
    pipeline, exporter = setup
    log = pipeline.get_logger("x")

    async def child(i: int) -> None:
        await asyncio.sleep(0)
        log.info(f"child-{i}")
        await log.ainfo(f"achild-{i}")

    with tracer.start_as_current_span("op") as span:
        await log.ainfo("awaited")
        await asyncio.sleep(0)
        log.info("after-await")
        await asyncio.gather(child(1), child(2))
    events = _by_body(pipeline, exporter)
    expected = span.get_span_context()
    for body in ("awaited", "after-await", "child-1", "child-2", "achild-1", "achild-2"):
        assert events[body].trace_id == expected.trace_id, body
        assert events[body].span_id == expected.span_id, body


async def test_run_in_executor_with_copied_context_keeps_span_and_binding(setup, tracer) -> None:
    """A thread running in a copied context sees the span and the bound fields."""
    pipeline, exporter = setup
    log = pipeline.get_logger("x")
    loop = asyncio.get_running_loop()
    with tracer.start_as_current_span("op") as span, fapilog.bind_context(request_id="r-9"):
        ctx = contextvars.copy_context()
        with ThreadPoolExecutor(1) as pool:
            await loop.run_in_executor(pool, ctx.run, log.info, "in-thread")
        await asyncio.to_thread(log.info, "to-thread")
    events = _by_body(pipeline, exporter)
    for body in ("in-thread", "to-thread"):
        assert events[body].trace_id == span.get_span_context().trace_id
        assert events[body].attributes["request_id"] == "r-9"


async def test_bound_context_never_leaks_between_concurrent_tasks(setup) -> None:
    """Each task's bind_context is seen only by that task's events."""
    pipeline, exporter = setup
    log = pipeline.get_logger("x")
    start = asyncio.Event()

    async def request(i: int) -> None:
        with fapilog.bind_context(request_id=f"r{i}"):
            await start.wait()
            for step in range(3):
                log.info(f"req{i}-step{step}")
                await asyncio.sleep(0)

    tasks = [asyncio.create_task(request(i)) for i in range(20)]
    await asyncio.sleep(0)
    start.set()
    await asyncio.gather(*tasks)
    log.info("after")
    events = _by_body(pipeline, exporter)
    for i in range(20):
        for step in range(3):
            assert events[f"req{i}-step{step}"].attributes["request_id"] == f"r{i}"
    assert "request_id" not in events["after"].attributes


def test_bind_context_nests_and_unwinds(setup) -> None:
    """Inner bindings override outer ones inside the block and are undone after it."""
    pipeline, exporter = setup
    log = pipeline.get_logger("x")
    with fapilog.bind_context(a=1, b=1):
        with fapilog.bind_context(b=2):
            log.info("inner")
        log.info("outer")
    log.info("none")
    events = _by_body(pipeline, exporter)
    assert events["inner"].attributes == {"a": 1, "b": 2}
    assert events["outer"].attributes == {"a": 1, "b": 1}
    assert events["none"].attributes == {}


def test_bind_context_is_thread_local(setup) -> None:
    """A binding made in one thread is not seen by another thread."""
    pipeline, exporter = setup
    log = pipeline.get_logger("x")
    bound = threading.Event()
    done = threading.Event()

    def worker() -> None:
        fapilog.bind_context(user="thread-user")
        bound.set()
        log.info("from-thread")
        done.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    bound.wait(5)
    log.info("from-main")
    done.set()
    thread.join()
    events = _by_body(pipeline, exporter)
    assert events["from-thread"].attributes == {"user": "thread-user"}
    assert events["from-main"].attributes == {}


def test_call_fields_win_over_bound_fields(setup) -> None:
    """A field passed to the call overrides the same bound field."""
    pipeline, exporter = setup
    with fapilog.bind_context(user="bound"):
        pipeline.get_logger("x").info("m", user="explicit")
    assert _by_body(pipeline, exporter)["m"].attributes == {"user": "explicit"}


def test_allow_listed_baggage_becomes_attributes(setup) -> None:
    """Only allow-listed baggage keys are copied into attributes."""
    pipeline, exporter = setup
    ctx = baggage.set_baggage("tenant", "acme")
    ctx = baggage.set_baggage("secret", "nope", context=ctx)
    token = otel_context.attach(ctx)
    try:
        pipeline.get_logger("x").info("m")
    finally:
        otel_context.detach(token)
    attrs = _by_body(pipeline, exporter)["m"].attributes
    assert attrs == {"tenant": "acme"}
