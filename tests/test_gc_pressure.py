"""What the pipeline leaves to the garbage collector: delivered events are freed by
reference counting alone, and a batch is no reference cycle (issue 20). On the compiled
path, captured records and built events are not tracked by the collector at all
(fapilog._untrack; docs/compiled.md, "Untracked records")."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
from collections.abc import Callable, Sequence

import pytest

from fapilog import Exporter, ExportResult, LogEvent, Pipeline
from fapilog import _logger as logger_module
from fapilog._logger import Logger, PipelineRef
from fapilog._severity import ERROR, INFO
from fapilog.pipeline import _worker
from fapilog.pipeline._batch import _Batch
from support import bare_intake

_BODY = "gc-pressure-marker-7d1f"


class _Discarding(Exporter):
    """Counts what it receives and keeps nothing."""

    name = "discarding"

    def __init__(self) -> None:
        self.count = 0

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.count += len(batch)
        return ExportResult.success()


def _cyclic_garbage(run: Callable[[], None]) -> list[object]:
    """What the collector would have to free after ``run()``: with the collector off
    during ``run`` and every unreachable object kept for inspection after it."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        run()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        del gc.garbage[:]
        if was_enabled:
            gc.enable()


def test_a_batch_does_not_refer_to_itself() -> None:
    """A batch's ledger is itself without a reference to itself (a cycle would keep
    its events alive until a full collection); a copy read back refers to its origin."""
    batch = _Batch([], 1, 0)
    assert batch.ledger is batch
    assert not any(ref is batch for ref in gc.get_referents(batch))
    copy = _Batch([], 0, 0)
    copy.origin = batch
    assert copy.ledger is batch


def test_delivered_events_are_freed_without_the_garbage_collector() -> None:
    """Nothing the worker, the batcher or a lane keeps forms a reference cycle: with
    the collector off, no batch and no event is left for it to free, and shutdown
    (which cancels the lanes) leaves none either."""
    exporter = _Discarding()
    pipeline = Pipeline(exporters=[exporter], max_export_batch_size=64, schedule_delay_ms=5)
    log = pipeline.get_logger("gc")
    log.info("warm-up")
    assert pipeline.flush(timeout=10)

    def run() -> None:
        for i in range(2_000):
            log.info(_BODY, i=i, path="/x")
        assert pipeline.flush(timeout=10)
        assert pipeline.shutdown(timeout=10)

    garbage = _cyclic_garbage(run)
    assert exporter.count == 2_001
    assert [type(o).__name__ for o in garbage if isinstance(o, _Batch | LogEvent)] == []


# -- untracked records and events (the compiled path) ----------------------------------------

compiled_only = pytest.mark.skipif(
    logger_module._untrack is None, reason="the compiled path only (fapilog._untrack)"
)


def test_the_untracking_is_there_exactly_on_the_compiled_path() -> None:
    """CI says which path a run is on: the untracking must be active exactly there."""
    expected = os.environ.get("FAPILOG_EXPECT_NATIVE")
    if expected is None:
        pytest.skip("FAPILOG_EXPECT_NATIVE is not set (CI sets it)")
    compiled = expected == "compiled"
    assert (logger_module._untrack is not None) is compiled
    assert (_worker._untrack_all is not None) is compiled


class _Keep:
    """A pipeline stand-in: just the intake."""

    def __init__(self) -> None:
        self.intake = bare_intake(max_queue=100, level=0)


@compiled_only
@pytest.mark.parametrize("checking", [False, True], ids=["plain", "callsite"])
def test_captured_records_are_not_tracked_by_the_collector(checking: bool) -> None:
    """Every variant of the level methods (sync and awaitable, with and without an
    exception, with and without the call-site check) hands over a record the
    collector does not track, with its slots intact."""
    target = _Keep()
    ref = PipelineRef(target)
    ref.callsite = checking
    log = Logger("svc", ref)
    info = logger_module._sync_method(INFO, False, 0, checking)
    exception = logger_module._sync_method(ERROR, True, 0, checking)
    ainfo = logger_module._async_method(INFO, False, 0, checking)
    aexception = logger_module._async_method(ERROR, True, 0, checking)
    info(log, "plain", user="u1")
    info(log, "paid %s", "x", order=[1, 2])
    try:
        raise ValueError("boom")
    except ValueError:
        exception(log, "failed")

        async def awaited() -> None:
            await ainfo(log, "awaited", n=1)
            await aexception(log, "afailed")

        asyncio.run(awaited())
    recs = list(target.intake.ring)
    assert len(recs) == 5
    assert [gc.is_tracked(rec) for rec in recs] == [False] * 5
    assert (recs[0][2], recs[0][3], recs[0][4]["user"], recs[0][5]) == ("plain", (), "u1", log)
    assert isinstance(recs[2][7], ValueError) and isinstance(recs[4][7], ValueError)
    assert [rec[1] for rec in recs] == [INFO, INFO, ERROR, INFO, ERROR]


# Run in a fresh interpreter: this suite's pytest plugin keeps every event of a test's
# call phase for its report, which would hide what the pipeline itself frees.
_FREED = """
import gc, sys
from collections.abc import Sequence
from fapilog import Exporter, ExportResult, Pipeline, Processor

class Inspecting(Exporter):
    name = "inspecting"
    count = tracked = 0

    async def export(self, batch: Sequence) -> ExportResult:
        self.count += len(batch)
        self.tracked += sum(gc.is_tracked(event) for event in batch)
        return ExportResult.success()

class Cyclic(Processor):  # a third-party processor that makes each event refer to itself
    def on_emit(self, event):
        event.context = {"event": [event]}

exporter = Inspecting()
processors = [Cyclic()] if sys.argv[1] == "cyclic" else []
pipeline = Pipeline(
    processors=processors, exporters=[exporter], max_export_batch_size=256, schedule_delay_ms=5
)
log = pipeline.get_logger("gc")
for i in range(2_000):  # warm every path and cache first
    log.info("x", i=i, path="/x")
assert pipeline.flush(timeout=10)
gc.collect()
before = sys.getallocatedblocks()
for i in range(20_000):
    log.info("x", i=i, path="/x", user="u-123", ok=True)
assert pipeline.flush(timeout=30)
gc.collect()
grown = sys.getallocatedblocks() - before
assert pipeline.shutdown(timeout=10)
print(exporter.count, exporter.tracked, grown)
"""


def _delivered(processors: str) -> tuple[int, int, int]:
    """Run :data:`_FREED` (``processors``: "fapilog" or "cyclic"): events received, of
    them tracked by the collector, and allocated blocks grown by delivering 20,000."""
    proc = subprocess.run(
        [sys.executable, "-c", _FREED, processors],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    count, tracked, grown = map(int, proc.stdout.split())
    return count, tracked, grown


@compiled_only
def test_events_are_not_tracked_and_are_freed_by_reference_counting() -> None:
    """The events an exporter receives are untracked, and none outlives its delivery:
    the interpreter's allocated blocks come back to where they were (an untracked
    object in a reference cycle would never be freed, and the collector could not
    see it)."""
    count, tracked, grown = _delivered("fapilog")
    assert (count, tracked) == (22_000, 0)
    # 20,000 events leaked would be over 100,000 blocks (event, dicts, tuple, ints...).
    assert grown < 2_000, grown


@compiled_only
def test_events_stay_tracked_with_a_third_party_processor() -> None:
    """A processor that is not fapilog's own may make an event refer to itself: the
    events stay tracked, and the collector frees those cycles (nothing is leaked)."""
    count, tracked, grown = _delivered("cyclic")
    assert (count, tracked) == (22_000, 22_000)
    assert grown < 2_000, grown


def test_only_fapilog_own_processors_count_as_cycle_free() -> None:
    from fapilog.processors import LevelFilter, OTelProcessor
    from fapilog.redaction import RedactionProcessor

    class Mine(LevelFilter):  # a subclass elsewhere is third-party code
        pass

    assert _worker._cycle_free([RedactionProcessor(), LevelFilter("info")])
    assert _worker._cycle_free([])
    assert not _worker._cycle_free([RedactionProcessor(), Mine("info")])
    assert not _worker._cycle_free([OTelProcessor(object())])  # type: ignore[arg-type]
