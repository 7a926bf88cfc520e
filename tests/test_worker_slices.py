"""The worker works in slices and lets go of the GIL between them (issue 20); async
callers waiting for room on one event loop are woken with one thread-safe call."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from fapilog import LogEvent, Pipeline, Processor
from fapilog.pipeline import _worker
from fapilog.pipeline._materialize import capture_record
from support import RecordingExporter, bare_intake, identity_holds

_N = 1_500


class _Holding(Processor):
    """Holds the worker in its first on_emit until the test opens the gate; logs every
    call into the shared journal."""

    keeps_size = True

    def __init__(self, journal: list[Any]) -> None:
        self.journal = journal
        self.gate = threading.Event()
        self.entered = threading.Event()

    def on_emit(self, event: LogEvent) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(30)
        self.journal.append("emit")


def test_a_large_drain_is_built_and_processed_in_slices_with_hand_offs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A drain of many calls builds at most SLICE at a time and runs at most SLICE
    events through the processors between two hand-offs of the GIL; order and the
    books are unchanged."""
    journal: list[Any] = []
    build = _worker.materialize_batch

    def spy_build(items: Any, *args: Any) -> Any:
        journal.append(("build", len(items)))
        return build(items, *args)

    monkeypatch.setattr(_worker, "materialize_batch", spy_build)
    monkeypatch.setattr(_worker.Worker, "hand_off", lambda self: journal.append("hand_off"))
    holding = _Holding(journal)
    exporter = RecordingExporter()
    pipeline = Pipeline(
        exporters=[exporter],
        processors=[holding],
        redaction=False,
        max_queue_size=_N + 10,
        schedule_delay_ms=5,
    )
    log = pipeline.get_logger("slices")
    log.info("first")
    assert holding.entered.wait(30)
    for i in range(_N):  # all in the ring while the worker is held
        log.info("e", i=i)
    holding.gate.set()
    assert pipeline.flush(timeout=30)

    builds = [n for entry in journal if isinstance(entry, tuple) for _, n in [entry]]
    assert sum(builds) == _N + 1
    assert max(builds) <= _worker.SLICE
    assert max(builds) == _worker.SLICE  # the held-back calls were one large drain
    # Between two builds, and between SLICE processor calls, the GIL is handed off.
    run = 0
    previous = None
    for entry in journal:
        if entry == "emit":
            run += 1
            assert run <= _worker.SLICE
        elif entry == "hand_off":
            run = 0
        else:
            assert previous != "build", "two slices built without a hand-off between"
        previous = "build" if isinstance(entry, tuple) else entry
    assert [e.attributes.get("i") for e in exporter.events] == [None, *range(_N)]
    stats = pipeline.stats()
    assert stats.exported == stats.emitted == _N + 1
    assert identity_holds(stats)
    assert pipeline.shutdown(timeout=10)


def test_async_waiters_on_one_loop_are_woken_with_one_thread_safe_call() -> None:
    """Fifty tasks waiting for room on one loop cost the worker one call_soon_threadsafe
    (one write to the loop's self-pipe), not fifty; every task gets its record in."""
    intake = bare_intake()
    for n in range(3):
        intake.enqueue(capture_record(n, 9, "m", (), {}, None, None))

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        calls: list[int] = []
        threadsafe = loop.call_soon_threadsafe

        def counting(callback: Any, *args: Any) -> Any:
            calls.append(len(args[0]) if args and isinstance(args[0], list) else 1)
            return threadsafe(callback, *args)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        tasks = [
            asyncio.create_task(intake.aput(capture_record(n, 9, "m", (), {}, None, None)))
            for n in range(3, 53)
        ]
        await asyncio.sleep(0)  # every task is waiting now
        assert len(intake._async_waiters) == 50
        wakes = 0
        while not all(task.done() for task in tasks):
            intake.take(3)
            calls.clear()
            intake.wake_waiters()
            wakes += 1
            assert len(calls) == 1  # one call for all the tasks waiting on this loop
            for _ in range(3):
                await asyncio.sleep(0)
        assert wakes >= 50 // 3
        return [r[0] for r in intake.ring]

    left = asyncio.run(main())
    assert len(left) <= 3
    assert not intake.acct.dropped


def test_the_gil_is_handed_over_only_once_an_event_loop_met_a_full_buffer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A burst from plain threads keeps the worker at full speed (a hand-off to a busy
    thread costs it a switch interval); once a caller on an event loop met a full buffer
    (it waited in ``ainfo`` or dropped), the worker lets go of the GIL between slices."""
    zero_sleeps: list[threading.Thread] = []
    real_sleep = _worker.time.sleep

    def sleep(seconds: float) -> None:
        if seconds == 0:
            zero_sleeps.append(threading.current_thread())
        real_sleep(seconds)

    monkeypatch.setattr(_worker.time, "sleep", sleep)
    holding = _Holding([])
    pipeline = Pipeline(
        exporters=[RecordingExporter()],
        processors=[holding],
        redaction=False,
        max_queue_size=4,
        block_timeout_ms=0,
    )
    try:
        worker, intake = pipeline._worker, pipeline.intake
        log = pipeline.get_logger("t")
        log.info("held")  # the worker takes it and waits in the processor
        assert holding.entered.wait(10)
        for _ in range(10):
            log.info("from a plain thread")  # the buffer fills, then drops
        assert not intake.loop_callers
        worker.hand_off()
        assert zero_sleeps == []

        async def on_a_loop() -> None:
            log.info("from a coroutine")  # full: dropped, never waits on a loop

        asyncio.run(on_a_loop())
        assert intake.loop_callers
        worker.hand_off()
        assert zero_sleeps == [threading.current_thread()]
    finally:
        holding.gate.set()
        pipeline.shutdown(timeout=5)
