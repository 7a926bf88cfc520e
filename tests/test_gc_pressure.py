"""What the pipeline leaves to the garbage collector: delivered events are freed by
reference counting alone, and a batch is no reference cycle (issue 20)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence

from fapilog import Exporter, ExportResult, LogEvent, Pipeline
from fapilog.pipeline._batch import _Batch

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
