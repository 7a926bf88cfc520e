"""``ProcessorConformance``: the tests every processor plugin inherits."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from fapilog.exporters.memory import InMemoryExporter
from fapilog.pipeline._pipeline import Pipeline
from fapilog.pipeline._size import estimate_size
from fapilog.testing.conformance._checks import (
    api_version_problem,
    secret_problem,
    spy_diagnostics,
)
from fapilog.testing.conformance._events import odd_events, ordinary_event
from fapilog.testing.conformance._run import run_bounded

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog.processors._base import Processor

__all__ = ["ProcessorConformance"]


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


class ProcessorConformance:
    """Base class of a processor's conformance tests; subclass it as ``Test...``.

    Provide :meth:`make_processor` (and :meth:`secrets` when it holds a key).

    Example::

        class TestTenantTagger(ProcessorConformance):
            def make_processor(self):
                return TenantTagger(tenant="acme")
    """

    #: Events per pipeline scenario.
    events: ClassVar[int] = 200
    #: Seconds ``shutdown()`` may take.
    shutdown_bound: ClassVar[float] = 5.0
    #: With ``keeps_size = True``, how much an event's estimated size may grow.
    size_growth: ClassVar[float] = 2.0
    #: Whether a processor class without ``api_version`` fails the suite.
    require_api_version: ClassVar[bool] = True

    # -- what the plugin author provides ------------------------------------------------

    def make_processor(self) -> Processor:
        """A new processor to test."""
        raise NotImplementedError(f"{type(self).__name__}: implement make_processor()")

    def secrets(self) -> Sequence[str]:
        """Keys or credentials given to :meth:`make_processor`, never to be shown."""
        return ()

    # -- the tests ----------------------------------------------------------------------

    def test_on_emit_never_raises_on_odd_events(self) -> None:
        """Bodies that are not strings, huge or nested attributes, None values: no exception."""
        processor = self.make_processor()
        for what, event in odd_events():
            outcome = run_bounded(lambda e=event: processor.on_emit(e), 5.0)  # type: ignore[misc]
            if not outcome.done:
                _fail(f"on_emit did not return within 5 s on an event {what}")
            if outcome.error is not None:
                _fail(
                    f"on_emit raised {type(outcome.error).__name__} on an event {what}: a "
                    "processor must handle any event (the pipeline drops the event and counts "
                    "processor_error)"
                )
            if outcome.value not in (None, True, False):
                _fail(
                    f"on_emit returned {type(outcome.value).__name__} on an event {what}: "
                    "return None/True to keep the event or False to drop it"
                )

    def test_keeps_size_is_honest(self) -> None:
        """``keeps_size = True`` promises an event's estimated size grows at most 2x."""
        processor = self.make_processor()
        if not getattr(type(processor), "keeps_size", False):
            pytest.skip("keeps_size is False: nothing is promised")
        cases = [("an ordinary event", ordinary_event("order paid", card="4111 1111"))]
        cases += [(f"an event {what}", event) for what, event in odd_events()]
        for what, event in cases:
            before = estimate_size(event)
            try:
                processor.on_emit(event)
            except Exception:
                continue  # reported by test_on_emit_never_raises_on_odd_events
            after = estimate_size(event)
            if after > before * self.size_growth:
                _fail(
                    f"keeps_size = True, but on_emit grew the estimated size of {what} from "
                    f"{before} to {after} bytes (more than {self.size_growth:g}x): set "
                    "keeps_size = False so the pipeline measures events after this processor"
                )

    def test_counts_is_a_mapping_of_str_to_int(self) -> None:
        """``counts()`` returns ``Mapping[str, int]`` (merged into ``stats().protection``)."""
        processor = self.make_processor()
        for _, event in odd_events():
            try:
                processor.on_emit(event)
            except Exception:
                pass
        counts_method = getattr(processor, "counts", None)
        if counts_method is None:
            pytest.skip("the processor has no counts() (fapilog.plugin.Processor defines one)")
        counts = counts_method()
        if not isinstance(counts, Mapping):
            _fail(f"counts() returned {type(counts).__name__}, not a Mapping[str, int]")
        for key, value in counts.items():
            if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, int):
                _fail(
                    f"counts() holds {type(key).__name__} -> {type(value).__name__}: every "
                    "entry must be str -> int"
                )

    def test_shutdown_returns_within_its_bound(self) -> None:
        """``shutdown()`` after use returns within :attr:`shutdown_bound`, without raising."""
        processor = self.make_processor()
        processor.on_emit(ordinary_event())
        outcome = run_bounded(processor.shutdown, self.shutdown_bound)
        if not outcome.done:
            _fail(
                f"shutdown() did not return within {self.shutdown_bound:g} s (shutdown_bound): "
                "bound every wait in it"
            )
        if outcome.error is not None:
            _fail(f"shutdown() raised {type(outcome.error).__name__}: it must not raise")

    def test_in_a_pipeline_every_event_is_accounted(self) -> None:
        """Through a real pipeline: delivered or filtered, never a processor error."""
        exporter = InMemoryExporter()
        pipeline = Pipeline(
            exporters=[exporter], processors=[self.make_processor()], schedule_delay_ms=5
        )
        log = pipeline.get_logger("conformance")
        for i in range(self.events):
            log.info("event %d", i, seq=i, nested={"a": [1, {"b": None}]}, text="x" * (i % 50))
        ok = pipeline.shutdown(timeout=self.shutdown_bound + 5)
        stats = pipeline.stats()
        if not ok:
            _fail(f"the pipeline's shutdown did not finish within {self.shutdown_bound + 5:g} s")
        if stats.emitted != stats.exported + stats.dropped_total:
            _fail(
                f"the books do not balance: emitted {stats.emitted} != exported "
                f"{stats.exported} + dropped {stats.dropped_total}"
            )
        errors = stats.dropped.get("processor_error", 0)
        if errors:
            _fail(
                f"on_emit raised on {errors} of {self.events} ordinary events (counted "
                "processor_error)"
            )
        if len(exporter.events) != stats.exported:
            _fail(
                f"the exporter received {len(exporter.events)} events, the pipeline counts "
                f"{stats.exported} exported"
            )

    def test_thread_safety_while_another_thread_reads_counts(self) -> None:
        """The worker runs on_emit while another thread calls counts() and force_flush()."""
        processor = self.make_processor()
        exporter = InMemoryExporter()
        pipeline = Pipeline(exporters=[exporter], processors=[processor], schedule_delay_ms=1)
        stop = threading.Event()
        errors: list[str] = []

        def reader() -> None:
            counts = getattr(processor, "counts", None)
            while not stop.is_set():
                try:
                    if counts is not None:
                        dict(counts())
                    processor.force_flush(1000)
                    pipeline.stats()
                except Exception as exc:
                    errors.append(type(exc).__name__)
                    return

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            log = pipeline.get_logger("conformance")
            for i in range(self.events):
                log.info("event %d", i, seq=i)
            pipeline.flush(timeout=10)
        finally:
            stop.set()
            thread.join(10)
            pipeline.shutdown(timeout=self.shutdown_bound + 5)
        stats = pipeline.stats()
        if errors:
            _fail(f"counts()/force_flush() from another thread raised {errors[0]} during on_emit")
        if stats.dropped.get("processor_error", 0):
            _fail(
                f"on_emit raised on {stats.dropped['processor_error']} events while another "
                "thread called counts(): guard shared state with a lock"
            )
        if stats.emitted != stats.exported + stats.dropped_total:
            _fail(
                f"the books do not balance with another thread reading counts(): emitted "
                f"{stats.emitted} != exported {stats.exported} + dropped {stats.dropped_total}"
            )

    def test_no_secret_in_repr_counts_or_diagnostics(self) -> None:
        """:meth:`secrets` never appear in repr, str, counts() or diagnostics."""
        secrets = [s for s in self.secrets() if s]
        if not secrets:
            pytest.skip("secrets() returns nothing: the processor holds no key")
        with spy_diagnostics() as lines:
            processor = self.make_processor()
            texts = [("repr(processor)", repr(processor)), ("str(processor)", str(processor))]
            for _, event in odd_events():
                try:
                    processor.on_emit(event)
                except Exception as exc:
                    texts.append(("an exception from on_emit", str(exc)))
            counts: Any = getattr(processor, "counts", dict)()
            texts.append(("counts()", repr(counts)))
        texts += [("a diagnostics line on stderr", line) for line in lines]
        problem = secret_problem(texts, secrets)
        if problem:
            _fail(problem)

    def test_declares_a_compatible_api_version(self) -> None:
        """The processor class declares the ``fapilog.plugin`` API version it was built for."""
        problem = api_version_problem(
            type(self.make_processor()), required=self.require_api_version
        )
        if problem:
            _fail(problem)
