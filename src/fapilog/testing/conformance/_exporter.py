"""``ExporterConformance``: the tests every exporter plugin inherits."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from fapilog.exporters._base import Exporter, ExportResult, ExportStatus
from fapilog.pipeline._pipeline import Pipeline
from fapilog.testing.conformance._backend import Backend, Unsupported
from fapilog.testing.conformance._checks import (
    api_version_problem,
    once_mark,
    secret_problem,
    spy_diagnostics,
)
from fapilog.testing.conformance._events import (
    conformance_body,
    odd_events,
    ordinary_event,
    parse_body,
)
from fapilog.testing.conformance._run import LoopThread, run_bounded

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from contextlib import AbstractContextManager
    from pathlib import Path

    from fapilog._event import LogEvent
    from fapilog.pipeline._stats import PipelineStats

__all__ = ["ExporterConformance"]

_runs = itertools.count(1)


def _new_run_id() -> str:
    return f"r{os.getpid()}x{next(_runs)}"


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


@dataclass
class _Run:
    """One pass of events through a pipeline, and what came of it."""

    run: str
    n: int
    name: str
    stats: PipelineStats | None = None
    shutdown_ok: bool = False
    shutdown_took: float = 0.0
    first: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class ExporterConformance:
    """Base class of an exporter's conformance tests; subclass it as ``Test...``.

    Provide :meth:`backend` and :meth:`make_exporter` (and :meth:`secrets` when the
    exporter holds a credential). Class attributes tune the run. Every test builds a
    fresh backend and exporter; those needing a fault the backend cannot script are
    skipped, naming the :class:`Backend` method to implement.

    Example::

        class TestAcmeExporter(ExporterConformance):
            def backend(self):
                return AcmeFakeServer()          # a context manager yielding a Backend

            def make_exporter(self, backend):
                return AcmeExporter(url=backend.url, token="t0ken", max_request_events=10)

            def secrets(self):
                return ["t0ken"]
    """

    #: Events per scenario. Configure the exporter so a batch of this many takes
    #: several requests (a small request size), so resuming mid-batch is tested.
    events: ClassVar[int] = 50
    #: Seconds :meth:`Exporter.shutdown` (and the pipeline's shutdown) may take.
    shutdown_bound: ClassVar[float] = 5.0
    #: Seconds one ``export`` call may take against a healthy backend.
    export_bound: ClassVar[float] = 10.0
    #: Seconds :meth:`Backend.received` may take to show what was delivered.
    settle_timeout: ClassVar[float] = 5.0
    #: Extra settings for the pipelines the kit builds (``fapilog.Pipeline(**...)``).
    pipeline_settings: ClassVar[dict[str, Any]] = {}
    #: Whether an exporter class without ``api_version`` fails the suite (it is then
    #: assumed to be written for API 1.0, and ``fapilog plugins list`` says so).
    require_api_version: ClassVar[bool] = True

    tmp_path: Path
    """A fresh temporary directory, set before :meth:`backend` is called."""

    # -- what the plugin author provides ------------------------------------------------

    def backend(self) -> AbstractContextManager[Backend]:
        """A context manager that starts the test backend and yields its :class:`Backend`."""
        raise NotImplementedError(f"{type(self).__name__}: implement backend()")

    def make_exporter(self, backend: Backend) -> Exporter:
        """A new exporter that delivers to ``backend``."""
        raise NotImplementedError(f"{type(self).__name__}: implement make_exporter(backend)")

    def secrets(self) -> Sequence[str]:
        """Credentials given to :meth:`make_exporter`, which must never be shown."""
        return ()

    # -- plumbing -----------------------------------------------------------------------

    @pytest.fixture
    def conformance_backend(self, tmp_path: Path) -> Iterator[Backend]:
        """The author's backend, started for one test."""
        self.tmp_path = tmp_path
        with self.backend() as backend:
            yield backend

    def _pipeline(self, exporter: Exporter, **settings: Any) -> Pipeline:
        values: dict[str, Any] = {
            "schedule_delay_ms": 20,
            "max_export_batch_size": self.events,
            "export_timeout_ms": int(self.export_bound * 1000),
            "shutdown_timeout_ms": int(self.shutdown_bound * 1000),
            "level": "DEBUG",
            "service_name": "conformance",
            **self.pipeline_settings,
            **settings,
        }
        return Pipeline(exporters=[exporter], **values)

    def _emit(self, pipeline: Pipeline, run: _Run, first: int, count: int) -> None:
        log = pipeline.get_logger("conformance")
        for seq in range(first, first + count):
            log.info(conformance_body(run.run, seq), seq=seq)

    def _pass(
        self, backend: Backend, prepare: Any = None, *, run_id: str | None = None, **settings: Any
    ) -> _Run:
        """Emit :attr:`events` events through a pipeline and shut it down."""
        exporter = self.make_exporter(backend)
        run = _Run(run=run_id or _new_run_id(), n=self.events, name=exporter.name)
        if prepare is not None:
            prepare()
        pipeline = self._pipeline(exporter, **settings)
        try:
            self._emit(pipeline, run, 0, run.n)
        finally:
            started = time.monotonic()
            run.shutdown_ok = pipeline.shutdown()
            run.shutdown_took = time.monotonic() - started
            run.stats = pipeline.stats()
        return run

    def _received(self, backend: Backend, run: str, want: int) -> Counter[int]:
        """What the backend stored of ``run``, waiting until ``want`` arrived or it settles."""
        deadline = time.monotonic() + self.settle_timeout
        while True:
            parsed = (parse_body(run, body) for body in backend.received())
            seqs = Counter(seq for seq in parsed if seq is not None)
            if sum(seqs.values()) >= want or time.monotonic() >= deadline:
                return seqs
            time.sleep(0.02)  # an external backend (a daemon writing a file) gives no event

    def _check(
        self,
        backend: Backend,
        run: _Run,
        when: str,
        *,
        refused: frozenset[int] = frozenset(),
        hint_lost: str,
        hint_twice: str,
        all_expected: bool = True,
    ) -> None:
        """The accounting every scenario must satisfy, each failure in one sentence."""
        stats = run.stats
        assert stats is not None
        lane = stats.exporters.get(run.name)
        if lane is None:
            _fail(f"the pipeline has no stats for exporter {run.name!r}: is Exporter.name set?")
            return
        written_off = stats.dropped.get("shutdown", 0)
        if written_off or run.shutdown_took > self.shutdown_bound + 1.0:
            _fail(
                f"the pipeline's shutdown took {run.shutdown_took:.1f} s {when} and wrote off "
                f"{written_off} events as undelivered (bound {self.shutdown_bound:g} s): an "
                "export call did not return in time"
            )
        if stats.emitted != stats.exported + stats.dropped_total + stats.in_flight:
            _fail(
                f"the books do not balance {when}: emitted {stats.emitted} != exported "
                f"{stats.exported} + dropped {stats.dropped_total} + in flight {stats.in_flight}"
            )
        expected = run.n - len(refused)
        seqs = self._received(backend, run.run, lane.exported)
        stored = len(seqs)
        twice = sum(count - 1 for count in seqs.values() if count > 1)
        leaked = sorted(set(seqs) & refused)
        if lane.exported > stored:
            _fail(
                f"lost {lane.exported - stored} of {run.n} events {when}: {hint_lost} (the "
                f"pipeline counts {lane.exported} exported, the backend stored {stored})"
            )
        if lane.exported < stored:
            _fail(
                f"the backend stored {stored} of {run.n} events {when} but the pipeline counts "
                f"only {lane.exported} exported: {stored - lane.exported} delivered events were "
                "reported as not delivered (report ExportResult.partial(rejected=k) counting "
                "only the records the backend refused)"
            )
        if twice:
            _fail(f"{twice} of {run.n} events arrived more than once {when}: {hint_twice}")
        if leaked:
            _fail(f"the backend stored {len(leaked)} events it refused {when}: check the Backend")
        dropped = {reason: count for reason, count in stats.dropped.items() if count}
        if all_expected and stored < expected:
            _fail(
                f"{when}, {expected - stored} of {run.n} events were not delivered (dropped: "
                f"{dropped or 'none'}): a failure the backend recovers from must be retried "
                "(ExportResult.retryable), not dropped"
            )
        if refused and stats.dropped_total < len(refused):
            _fail(
                f"the backend refused {len(refused)} events for good {when} but the pipeline "
                f"counts {stats.dropped_total} dropped: report them "
                f"(ExportResult.partial(rejected={len(refused)}))"
            )

    @staticmethod
    def _script(action: Any, what: str) -> None:
        try:
            action()
        except Unsupported:
            pytest.skip(f"the backend does not implement Backend.{what}")

    # -- accounting -------------------------------------------------------------------

    def test_exports_every_event_once(self, conformance_backend: Backend) -> None:
        """A healthy backend stores every event exactly once; the books balance."""
        run = self._pass(conformance_backend)
        self._check(
            conformance_backend,
            run,
            "with a healthy backend",
            hint_lost="export() reported success for records the backend never stored",
            hint_twice="the exporter sent them twice",
        )

    def test_retryable_failure_loses_and_repeats_nothing(
        self, conformance_backend: Backend
    ) -> None:
        """Two requests refused as retryable: everything still arrives, once."""
        backend = conformance_backend
        run = self._pass(backend, lambda: self._script(lambda: backend.fail_next(2), "fail_next"))
        self._check(
            backend,
            run,
            "after a retryable failure",
            hint_lost="batch progress not resumed: the retry of the same batch must send "
            "every record still owed",
            hint_twice="the retry re-sent requests the backend had already stored",
        )

    def test_retry_resumes_in_the_middle_of_a_batch(self, conformance_backend: Backend) -> None:
        """The first request passes, the second is refused: the retry sends only the rest."""
        backend = conformance_backend
        run = self._pass(
            backend, lambda: self._script(lambda: backend.fail_next(1, after=1), "fail_next")
        )
        self._check(
            backend,
            run,
            "after a retryable failure in the middle of a batch",
            hint_lost="batch progress not resumed: the retry must send the requests still "
            "owed (keep a BatchProgress for the batch)",
            hint_twice="the retry re-sent requests the backend had already stored (keep a "
            "BatchProgress for the batch and resume from it)",
        )

    def test_permanent_failure_is_accounted(self, conformance_backend: Backend) -> None:
        """A request refused for good: what was stored is exported, the rest dropped."""
        backend = conformance_backend
        run = self._pass(
            backend,
            lambda: self._script(lambda: backend.fail_next(1, retryable=False), "fail_next"),
        )
        self._check(
            backend,
            run,
            "after a permanent failure",
            hint_lost="export() reported records delivered that the backend refused",
            hint_twice="a permanent failure was sent again",
            all_expected=False,
        )
        assert run.stats is not None
        if run.stats.dropped_total == 0:
            _fail(
                "the backend refused a request for good but the pipeline counts nothing "
                "dropped: return ExportResult.failure(reason) (or partial) for it"
            )

    def test_partial_rejection_is_accounted(self, conformance_backend: Backend) -> None:
        """Three records refused for good: exactly those are dropped, the rest stored."""
        backend = conformance_backend
        refused = frozenset({3, self.events // 2, self.events - 2})
        run_id = _new_run_id()
        bodies = [conformance_body(run_id, seq) for seq in sorted(refused)]
        self._script(lambda: backend.reject(bodies), "reject")
        run = self._pass(backend, run_id=run_id)
        self._check(
            backend,
            run,
            f"when the backend rejected {len(refused)} records",
            refused=refused,
            hint_lost="export() reported records delivered that the backend refused",
            hint_twice="records were sent twice",
            all_expected=False,
        )
        lane = run.stats.exporters[run.name] if run.stats else None
        if lane is not None and lane.exported < self.events - len(refused):
            _fail(
                f"the backend rejected {len(refused)} of {self.events} records, but only "
                f"{lane.exported} of the other {self.events - len(refused)} were delivered: "
                "a refused record must not take the rest of its batch with it"
            )

    # -- bounds -------------------------------------------------------------------------

    def test_shutdown_returns_within_its_bound(self, conformance_backend: Backend) -> None:
        """``shutdown()`` after an export returns within :attr:`shutdown_bound`."""
        exporter = self.make_exporter(conformance_backend)
        loop = LoopThread()
        try:
            loop.call(exporter.start(), self.export_bound)
            batch = [ordinary_event(conformance_body("shutdown", 0))]
            loop.call(exporter.export(batch), self.export_bound)
            started = time.monotonic()
            outcome = loop.call(exporter.shutdown(), self.shutdown_bound)
            took = time.monotonic() - started
        finally:
            loop.close()
        if not outcome.done:
            _fail(
                f"shutdown() did not return within {self.shutdown_bound:g} s (shutdown_bound) "
                "after an export to a healthy backend: bound every wait in shutdown (a close "
                "timeout, asyncio.wait_for)"
            )
        if outcome.error is not None:
            _fail(f"shutdown() raised {type(outcome.error).__name__}: it must not raise")
        assert took <= self.shutdown_bound + 1.0

    def test_shutdown_with_a_hung_backend_is_bounded(self, conformance_backend: Backend) -> None:
        """With every request hanging, the pipeline's shutdown still returns in time."""
        backend = conformance_backend
        self._script(backend.hang, "hang")
        try:
            run = self._pass(backend, shutdown_timeout_ms=int(self.shutdown_bound * 1000))
        finally:
            backend.release()
        if run.shutdown_took > self.shutdown_bound + 1.0:
            _fail(
                f"with a hung backend the pipeline's shutdown took {run.shutdown_took:.1f} s, "
                f"over its {self.shutdown_bound:g} s bound: export() or shutdown() blocks the "
                "worker's event loop (use async I/O or a thread, never a blocking call)"
            )
        stats = run.stats
        assert stats is not None
        if stats.emitted != stats.exported + stats.dropped_total + stats.in_flight:
            _fail(
                f"the books do not balance after a shutdown with a hung backend: emitted "
                f"{stats.emitted} != exported {stats.exported} + dropped {stats.dropped_total}"
            )

    # -- never raising ------------------------------------------------------------------

    def test_export_never_raises(self, conformance_backend: Backend) -> None:
        """Odd events, an empty batch and failing backends give results, not exceptions."""
        backend = conformance_backend
        exporter = self.make_exporter(backend)
        loop = LoopThread()
        try:
            loop.call(exporter.start(), self.export_bound)
            for what, retryable in (("retryable", True), ("permanent", False)):
                try:
                    backend.fail_next(1, retryable=retryable)
                except Unsupported:
                    break
                batch = [ordinary_event(conformance_body("failing", 0))]
                self._direct(loop, exporter, f"a {what} backend failure", batch, retryable)
            self._direct(loop, exporter, "an empty batch", [], None)
            for what, event in odd_events():
                self._direct(loop, exporter, f"an event {what}", [event], None)
        finally:
            loop.call(exporter.shutdown(), self.shutdown_bound)
            loop.close()

    def _direct(
        self,
        loop: LoopThread,
        exporter: Exporter,
        what: str,
        batch: list[LogEvent],
        retryable: bool | None,
    ) -> None:
        outcome = loop.call(exporter.export(batch), self.export_bound)
        if not outcome.done:
            _fail(f"export() of {what} did not return within {self.export_bound:g} s")
        if outcome.error is not None:
            _fail(
                f"export() raised {type(outcome.error).__name__} on {what}: return an "
                "ExportResult (failure or partial) instead of raising"
            )
        result = outcome.value
        if not isinstance(result, ExportResult):
            _fail(f"export() returned {type(result).__name__} on {what}, not an ExportResult")
            return
        if retryable is True and result.status is not ExportStatus.RETRYABLE:
            _fail(
                f"export() returned {result.status.name} on {what}: a failure the backend "
                "recovers from must be ExportResult.retryable(...)"
            )
        if retryable is False and result.ok:
            _fail(f"export() returned SUCCESS on {what}: the batch would be counted delivered")

    # -- secrets ------------------------------------------------------------------------

    def test_no_secret_in_repr_results_or_diagnostics(self, conformance_backend: Backend) -> None:
        """:meth:`secrets` never appear in repr, str, results, exceptions or stderr lines."""
        secrets = [s for s in self.secrets() if s]
        if not secrets:
            pytest.skip("secrets() returns nothing: the exporter holds no credential")
        backend = conformance_backend
        texts: list[tuple[str, str]] = []
        with spy_diagnostics() as lines:
            exporter = self.make_exporter(backend)
            texts += [("repr(exporter)", repr(exporter)), ("str(exporter)", str(exporter))]
            loop = LoopThread()
            try:
                loop.call(exporter.start(), self.export_bound)
                for retryable in (True, False):
                    try:
                        backend.fail_next(1, retryable=retryable)
                    except Unsupported:
                        break
                    outcome = loop.call(exporter.export([ordinary_event("x")]), self.export_bound)
                    if isinstance(outcome.value, ExportResult):
                        texts.append(("an ExportResult's reason", outcome.value.reason))
                        texts.append(("repr of an ExportResult", repr(outcome.value)))
                    if outcome.error is not None:
                        texts.append(("an exception from export()", str(outcome.error)))
            finally:
                loop.call(exporter.shutdown(), self.shutdown_bound)
                loop.close()
            try:
                run = self._pass(backend, lambda: backend.fail_next(2, retryable=True))
                if run.stats is not None:
                    texts.append(("pipeline stats", repr(run.stats)))
            except Unsupported:
                pass
        texts += [("a diagnostics line on stderr", line) for line in lines]
        problem = secret_problem(texts, secrets)
        if problem:
            _fail(problem)

    # -- concurrency --------------------------------------------------------------------

    def test_thread_safety_while_another_thread_flushes(self, conformance_backend: Backend) -> None:
        """Two threads log while a third flushes and reads stats: exact delivery."""
        backend = conformance_backend
        exporter = self.make_exporter(backend)
        run = _Run(run=_new_run_id(), n=self.events, name=exporter.name)
        pipeline = self._pipeline(exporter, schedule_delay_ms=1)
        half = run.n // 2
        stop = threading.Event()
        errors: list[str] = []

        def flusher() -> None:
            while not stop.is_set():
                try:
                    pipeline.flush(timeout=self.export_bound)
                    pipeline.stats()
                except Exception as exc:
                    errors.append(type(exc).__name__)
                    return

        def emitter(first: int, count: int) -> None:
            self._emit(pipeline, run, first, count)

        threads = [threading.Thread(target=flusher, daemon=True)]
        threads += [
            threading.Thread(target=emitter, args=(0, half), daemon=True),
            threading.Thread(target=emitter, args=(half, run.n - half), daemon=True),
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads[1:]:
                thread.join(self.export_bound)
        finally:
            stop.set()
            threads[0].join(self.export_bound)
            run.shutdown_ok = pipeline.shutdown()
            run.stats = pipeline.stats()
        if errors:
            _fail(f"flush() from another thread raised {errors[0]} while exporting")
        self._check(
            backend,
            run,
            "while another thread called flush()",
            hint_lost="export() is not safe while force_flush() runs",
            hint_twice="force_flush() re-sent what export() had sent",
        )

    @once_mark()
    @pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads, 3.12+
    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
    def test_fork_safety(self, conformance_backend: Backend) -> None:
        """After ``os.fork()`` the child exports its own events, the parent's appear once."""
        backend = conformance_backend
        exporter = self.make_exporter(backend)
        run = _Run(run=_new_run_id(), n=self.events, name=exporter.name)
        pipeline = self._pipeline(exporter)
        half = run.n // 2
        child_result: dict[str, Any] = {}
        try:
            self._emit(pipeline, run, 0, half)
            pipeline.flush(timeout=self.export_bound)
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                os.close(read_end)
                self._fork_child(pipeline, backend, run, half, write_end)
            os.close(write_end)
            with os.fdopen(read_end, "rb") as reader:
                outcome = run_bounded(reader.read, self.shutdown_bound + self.export_bound)
            if not outcome.done:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                _fail(
                    f"the forked child did not finish within "
                    f"{self.shutdown_bound + self.export_bound:g} s: after_fork() left "
                    "something the child waits on (a lock, a connection of the parent)"
                )
            os.waitpid(pid, 0)
            child_result = json.loads(outcome.value or b"{}")
        finally:
            run.shutdown_ok = pipeline.shutdown()
            run.stats = pipeline.stats()
        if "error" in child_result:
            _fail(f"in the forked child, {child_result['error']}")
        exported = child_result.get("exported")
        if exported != run.n - half or child_result.get("dropped"):
            _fail(
                f"the forked child exported {exported} of its {run.n - half} events (dropped: "
                f"{child_result.get('dropped') or 'none'}): after_fork() must leave the "
                "exporter able to export in the child"
            )
        lane = run.stats.exporters[run.name] if run.stats else None
        if lane is None or lane.exported != half:
            _fail(
                f"the parent exported {lane.exported if lane else 0} of its {half} events "
                "after the fork"
            )
        if backend.observes_children:
            seqs = self._received(backend, run.run, run.n)
        else:
            seqs = Counter({int(k): v for k, v in child_result.get("seqs", {}).items()})
            seqs.update(range(half))  # the child's view holds the parent's as before the fork
            for seq in range(half):
                seqs[seq] -= 1
        missing = run.n - len(seqs)
        twice = sum(count - 1 for count in seqs.values() if count > 1)
        if missing:
            _fail(f"lost {missing} of {run.n} events across a fork")
        if twice:
            _fail(
                f"{twice} of {run.n} events arrived more than once across a fork: the child "
                "re-sent what the parent had buffered or sent (after_fork must forget it)"
            )

    def _fork_child(
        self, pipeline: Pipeline, backend: Backend, run: _Run, half: int, write_end: int
    ) -> None:  # pragma: no cover - runs in the child
        result: dict[str, Any]
        try:
            self._emit(pipeline, run, half, run.n - half)
            ok = pipeline.shutdown()
            stats = pipeline.stats()
            lane = stats.exporters[run.name]
            result = {"ok": ok, "exported": lane.exported, "dropped": dict(lane.dropped)}
            if not backend.observes_children:
                seqs = Counter(
                    s for s in (parse_body(run.run, b) for b in backend.received()) if s is not None
                )
                result["seqs"] = {str(k): v for k, v in seqs.items()}
        except BaseException as exc:
            result = {"error": f"{type(exc).__name__} was raised"}
        try:
            os.write(write_end, json.dumps(result).encode())
        finally:
            os._exit(0)

    # -- versioning ---------------------------------------------------------------------

    def test_declares_a_compatible_api_version(self, conformance_backend: Backend) -> None:
        """The exporter class declares the ``fapilog.plugin`` API version it was built for."""
        exporter = self.make_exporter(conformance_backend)
        problem = api_version_problem(type(exporter), required=self.require_api_version)
        loop = LoopThread()
        try:
            loop.call(exporter.shutdown(), self.shutdown_bound)
        finally:
            loop.close()
        if problem:
            _fail(problem)
