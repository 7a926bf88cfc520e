"""InMemoryExporter: storage, waiting, scripted failures, delays and hangs."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from fapilog import LogEvent, Pipeline
from fapilog.exporters._base import ExportResult, ExportStatus
from fapilog.exporters.memory import InMemoryExporter


def ev(body: str) -> LogEvent:
    return LogEvent(timestamp=1, severity_text="INFO", severity_number=9, body=body)


def export_in_thread(exporter: InMemoryExporter, *batches: list[LogEvent]) -> threading.Thread:
    """Export ``batches`` from another thread with its own loop, like the pipeline worker."""

    async def run() -> None:
        for b in batches:
            await exporter.export(b)

    thread = threading.Thread(target=asyncio.run, args=(run(),))
    thread.start()
    return thread


async def test_events_are_stored_in_export_order() -> None:
    """Every exported event is kept, in order, as the same object."""
    exporter = InMemoryExporter()
    first, second = [ev("a"), ev("b")], [ev("c")]
    assert (await exporter.export(first)).ok
    assert (await exporter.export(second)).ok
    assert [e.body for e in exporter.events] == ["a", "b", "c"]
    assert exporter.events[0] is first[0]
    assert [[e.body for e in b] for b in exporter.batches] == [["a", "b"], ["c"]]
    assert exporter.export_calls == 2


async def test_events_returns_a_copy() -> None:
    """Changing the returned lists does not change what the exporter holds."""
    exporter = InMemoryExporter()
    await exporter.export([ev("a")])
    exporter.events.clear()
    exporter.batches[0].clear()
    assert [e.body for e in exporter.events] == ["a"]
    assert len(exporter.batches[0]) == 1


async def test_clear_forgets_events_but_not_calls() -> None:
    """clear() empties events and batches; the call count stays."""
    exporter = InMemoryExporter()
    await exporter.export([ev("a")])
    exporter.clear()
    assert exporter.events == [] and exporter.batches == []
    assert exporter.export_calls == 1


def test_wait_for_returns_true_once_enough_events_arrive() -> None:
    """wait_for(n) wakes up as soon as n events are stored by another thread."""
    exporter = InMemoryExporter()
    thread = export_in_thread(exporter, [ev("a")], [ev("b"), ev("c")])
    assert exporter.wait_for(3, timeout=5)
    thread.join()
    assert len(exporter.events) == 3


def test_wait_for_times_out_with_false() -> None:
    """wait_for returns False when the events do not come within the timeout."""
    exporter = InMemoryExporter()
    started = time.monotonic()
    assert not exporter.wait_for(1, timeout=0.05)
    assert time.monotonic() - started < 2


def test_wait_for_zero_is_immediately_true() -> None:
    """Waiting for zero events returns at once."""
    assert InMemoryExporter().wait_for(0, timeout=0)


async def test_fail_with_answers_without_storing() -> None:
    """With fail_with set, export returns that result and stores nothing; unset, it stores."""
    exporter = InMemoryExporter(fail_with=ExportResult.retryable("backend down"))
    result = await exporter.export([ev("a")])
    assert result.status is ExportStatus.RETRYABLE and result.reason == "backend down"
    assert exporter.events == [] and exporter.export_calls == 1
    exporter.fail_with = None
    assert (await exporter.export([ev("a")])).ok
    assert [e.body for e in exporter.events] == ["a"]


async def test_fail_with_success_stores() -> None:
    """fail_with=ExportResult.success() behaves like no failure at all."""
    exporter = InMemoryExporter(fail_with=ExportResult.success())
    assert (await exporter.export([ev("a")])).ok
    assert len(exporter.events) == 1


async def test_delay_holds_each_export() -> None:
    """With delay, an export takes at least that long before it stores the batch."""
    exporter = InMemoryExporter(delay=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await exporter.export([ev("a")])).ok
    assert loop.time() - started >= 0.05
    assert len(exporter.events) == 1


def test_a_negative_delay_is_rejected() -> None:
    """delay must not be negative."""
    with pytest.raises(ValueError, match="delay"):
        InMemoryExporter(delay=-1)


async def test_hang_waits_until_cancelled() -> None:
    """With hang=True, export never returns on its own and stores nothing when cancelled."""
    exporter = InMemoryExporter(hang=True)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(exporter.export([ev("a")]), timeout=0.05)
    assert exporter.events == []
    assert exporter.export_calls == 1


async def test_release_lets_hanging_exports_finish() -> None:
    """release() turns hang off and lets exports hanging now complete and store."""
    exporter = InMemoryExporter(hang=True)
    task = asyncio.create_task(exporter.export([ev("a")]))
    while exporter.export_calls < 1:
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not task.done()
    exporter.release()
    assert (await task).ok
    assert (await exporter.export([ev("b")])).ok  # no longer hangs
    assert [e.body for e in exporter.events] == ["a", "b"]


def test_release_works_from_another_thread() -> None:
    """A test thread can release an export hanging on the pipeline's worker loop."""
    exporter = InMemoryExporter(hang=True)
    thread = export_in_thread(exporter, [ev("a")])
    assert exporter.wait_for_calls(1, timeout=5)
    assert not exporter.wait_for(1, timeout=0.02)
    exporter.release()
    assert exporter.wait_for(1, timeout=5)
    thread.join()


def test_wait_for_calls_sees_calls_that_store_nothing() -> None:
    """wait_for_calls counts failed calls too."""
    exporter = InMemoryExporter(fail_with=ExportResult.failure("no"))
    thread = export_in_thread(exporter, [ev("a")], [ev("b")])
    assert exporter.wait_for_calls(2, timeout=5)
    thread.join()
    assert exporter.events == []


async def test_after_shutdown_exports_fail_and_events_stay_readable() -> None:
    """shutdown() makes later exports fail; what was stored stays available."""
    exporter = InMemoryExporter()
    await exporter.export([ev("a")])
    await exporter.shutdown()
    assert exporter.is_shutdown
    result = await exporter.export([ev("b")])
    assert result.status is ExportStatus.FAILURE
    assert [e.body for e in exporter.events] == ["a"]
    assert await exporter.force_flush()


def test_concurrent_exports_and_reads_are_consistent() -> None:
    """Exports from several threads while another reads lose no event."""
    exporter = InMemoryExporter()
    threads = [
        export_in_thread(exporter, *([ev(f"{t}-{i}")] for i in range(200))) for t in range(4)
    ]
    seen = 0
    while seen < 800:  # read while the writers write
        assert exporter.wait_for(seen + 1, timeout=5)
        seen = len(exporter.events)
    for thread in threads:
        thread.join()
    assert sorted(str(e.body) for e in exporter.events) == sorted(
        f"{t}-{i}" for t in range(4) for i in range(200)
    )


def test_after_fork_replaces_a_lock_held_elsewhere() -> None:
    """after_fork gives the exporter a fresh lock, so a lock held at fork cannot deadlock."""
    exporter = InMemoryExporter()
    exporter._cond.acquire()  # as if another thread held it when the process forked
    exporter.after_fork()
    assert exporter.events == []
    assert exporter.wait_for(0, timeout=0)


def test_a_custom_name_is_used() -> None:
    """name= sets the name shown in stats; the default is the registry name "memory"."""
    assert InMemoryExporter(name="audit").name == "audit"
    assert InMemoryExporter().name == "memory"


def test_it_collects_what_a_pipeline_exports() -> None:
    """Used as a pipeline exporter, it receives the events that were logged."""
    exporter = InMemoryExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    try:
        log = pipeline.get_logger("t")
        for i in range(5):
            log.info("m", i=i)
        assert exporter.wait_for(5, timeout=5)
        assert [e.attributes["i"] for e in exporter.events] == list(range(5))
    finally:
        pipeline.shutdown(timeout=5)
