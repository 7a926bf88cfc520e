"""The intake: the typed captured record, the level gate, overflow policies, caller drops."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

import fapilog
from fapilog import FapilogHandler, Pipeline
from fapilog._logger import Logger, PipelineRef, _get_context
from fapilog.pipeline._intake import Intake, in_worker_thread, mark_worker_thread
from fapilog.pipeline._materialize import REC_FIELDS, REC_LOGGER, REC_SEVERITY, capture_record
from support import RecordingExporter, bare_intake


def _intake(max_queue: int = 3, policy: str = "drop_newest", block_timeout: float = 0.0) -> Intake:
    return bare_intake(max_queue, policy, block_timeout)


def _rec(n: int) -> Any:
    return capture_record(n, 9, f"m{n}", (), {}, None, None)


class _Keep:
    """A pipeline stand-in whose intake keeps what the hot path appends."""

    def __init__(self) -> None:
        self.intake = _intake(max_queue=100)


# -- the record ----------------------------------------------------------------------------


def test_a_log_call_captures_the_record_capture_record_builds() -> None:
    """Logger's inlined tuple and capture_record() agree slot for slot (the only two)."""
    target = _Keep()
    log = Logger("svc", PipelineRef(target))
    log.warning("paid %s", "x", order=7)
    (rec,) = target.intake.ring
    built = capture_record(
        rec[0], 13, "paid %s", ("x",), {"order": 7}, log, _get_context(), None, None
    )
    assert len(rec) == len(built) == 9
    assert rec == built
    assert (rec[REC_SEVERITY], rec[REC_FIELDS], rec[REC_LOGGER]) == (13, {"order": 7}, log)


def test_every_caller_hands_over_nine_slot_records() -> None:
    """Helpers, audit and the stdlib bridge build their records with capture_record."""
    target = _Keep()
    log = Logger("svc", PipelineRef(target))
    log.audit("user.delete", actor="a", target="t", outcome="ok")
    with pytest.raises(ValueError), fapilog.catch(logger=log):
        raise ValueError("x")
    handler = FapilogHandler(pipeline=target)  # type: ignore[arg-type]
    handler.handle(logging.LogRecord("lib", logging.WARNING, __file__, 1, "w", (), None))
    recs = list(target.intake.ring)
    assert [len(r) for r in recs] == [9, 9, 9]
    assert recs[2][-1] == "WARN"  # the severity text the bridge sets


# -- level, drops ----------------------------------------------------------------------------


def test_the_level_gate_counts_nothing_below_it() -> None:
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter], level="warning")
    try:
        assert not pipeline.intake.enabled(9) and pipeline.intake.enabled(13)
        log = pipeline.get_logger("t")
        log.info("below")
        log.warning("at")
        assert pipeline.flush(5)
        assert [e.body for e in exporter.events] == ["at"]
        assert pipeline.stats().emitted == 1
    finally:
        pipeline.shutdown(5)


def test_a_record_from_a_fapilog_thread_is_dropped_as_recursion() -> None:
    """The stdlib handler on a worker-marked thread counts a recursion drop, nothing else."""
    exporter = RecordingExporter()
    pipeline = Pipeline(exporters=[exporter])
    handler = FapilogHandler(pipeline=pipeline)

    def on_worker() -> None:
        mark_worker_thread()
        assert in_worker_thread()
        handler.handle(logging.LogRecord("lib", logging.ERROR, __file__, 1, "loop", (), None))

    thread = threading.Thread(target=on_worker)
    thread.start()
    thread.join()
    assert not in_worker_thread()
    try:
        assert pipeline.flush(5)
        assert exporter.events == []
        assert dict(pipeline.stats().dropped) == {"recursion": 1}
    finally:
        pipeline.shutdown(5)


def test_caller_drop_and_after_shutdown_are_counted() -> None:
    pipeline = Pipeline(exporters=[])
    pipeline.intake.caller_drop("bridge_error")
    pipeline.shutdown(5)
    pipeline.get_logger("t").info("late")
    stats = pipeline.stats()
    assert dict(stats.dropped) == {"bridge_error": 1, "after_shutdown": 1}
    assert stats.emitted == 2


# -- overflow --------------------------------------------------------------------------------


def test_drop_newest_keeps_the_first_records() -> None:
    intake = _intake(policy="drop_newest")
    for n in range(5):
        intake.enqueue(_rec(n))
    assert [r[0] for r in intake.ring] == [0, 1, 2]
    assert intake.acct.dropped["queue_full"] == 2


def test_drop_oldest_keeps_the_last_records() -> None:
    intake = _intake(policy="drop_oldest")
    for n in range(5):
        intake.enqueue(_rec(n))
    assert [r[0] for r in intake.ring] == [2, 3, 4]
    assert intake.acct.dropped["queue_full"] == 2


def test_block_waits_at_most_block_timeout_then_drops() -> None:
    intake = _intake(policy="block", block_timeout=0.2)
    for n in range(3):
        intake.enqueue(_rec(n))
    start = time.monotonic()
    intake.enqueue(_rec(3))
    waited = time.monotonic() - start
    assert 0.15 <= waited < 2.0
    assert intake.acct.dropped["queue_full"] == 1
    assert len(intake.ring) == 3


def test_block_appends_as_soon_as_the_worker_takes_records() -> None:
    intake = _intake(policy="block", block_timeout=30)
    for n in range(3):
        intake.enqueue(_rec(n))
    done = threading.Event()

    def caller() -> None:
        intake.enqueue(_rec(3))
        done.set()

    thread = threading.Thread(target=caller)
    thread.start()
    assert not done.wait(0.05)
    assert [r[0] for r in intake.take(1)] == [0]
    intake.wake_waiters()
    assert done.wait(10)
    thread.join()
    assert [r[0] for r in intake.ring] == [1, 2, 3]
    assert not intake.acct.dropped


def test_aput_waits_for_room_instead_of_dropping() -> None:
    intake = _intake(policy="drop_newest")
    for n in range(3):
        intake.enqueue(_rec(n))

    async def main() -> None:
        task = asyncio.create_task(intake.aput(_rec(3)))
        await asyncio.sleep(0.01)
        assert not task.done()
        intake.take(1)
        intake.wake_waiters()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    assert [r[0] for r in intake.ring] == [1, 2, 3]
    assert not intake.acct.dropped


def test_a_closed_intake_routes_every_call_to_the_drop_path() -> None:
    intake = _intake()
    intake.close()
    assert intake.capacity == -1
    intake.enqueue(_rec(0))
    assert not intake.ring
    assert intake.acct.dropped["after_shutdown"] == 1
