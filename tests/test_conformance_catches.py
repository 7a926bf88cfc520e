"""The conformance kit catches broken plugins, each with a precise message.

Each broken plugin lives in a test module run by pytester (in process): the kit's suite
must fail exactly the test that concerns the defect, with the sentence that names it.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BACKEND = '''
import contextlib
import threading
from fapilog.testing.conformance import Backend


class Store(Backend):
    """An in-process backend: requests are export calls, scripted to fail."""

    def __init__(self):
        self.bodies = []
        self.faults = []
        self.lock = threading.Lock()

    def received(self):
        with self.lock:
            return list(self.bodies)

    def fail_next(self, requests, *, retryable=True, after=0):
        self.faults.extend(["ok"] * after + ["retry" if retryable else "refuse"] * requests)

    def next_answer(self):
        with self.lock:
            return self.faults.pop(0) if self.faults else "ok"
'''

LOSES_ON_RETRY = (
    BACKEND
    + '''
from fapilog.plugin import BatchProgress, Exporter, ExportResult
from fapilog.testing.conformance import ExporterConformance


class Forgetful(Exporter):
    """Sends 10 events a request; after a retryable failure it forgets the failed request."""

    api_version = "1.0"

    def __init__(self, store):
        self.store = store
        self.progress = None
        self.sent = 0

    async def export(self, batch):
        if self.progress is None or not self.progress.is_for(batch):
            self.progress, self.sent = BatchProgress(batch), 0
        while self.sent < len(batch):
            chunk = batch[self.sent : self.sent + 10]
            answer = self.store.next_answer()
            self.sent += len(chunk)  # BUG: counted sent before the backend accepted it
            if answer == "retry":
                return ExportResult.retryable("busy")
            if answer == "refuse":
                return ExportResult.failure("refused")
            with self.store.lock:
                self.store.bodies.extend(e.body for e in chunk)
        return ExportResult.success()


class TestForgetful(ExporterConformance):
    settle_timeout = 0.0  # an in-process store: what was stored is there at once
    @contextlib.contextmanager
    def backend(self):
        yield Store()

    def make_exporter(self, backend):
        return Forgetful(backend)
'''
)

SHOWS_TOKEN = (
    BACKEND
    + """
from fapilog.plugin import Exporter, ExportResult
from fapilog.testing.conformance import ExporterConformance


class Leaky(Exporter):
    api_version = "1.0"

    def __init__(self, store, token):
        self.store, self.token = store, token

    def __repr__(self):
        return f"Leaky(url='http://backend', token={self.token!r})"

    async def export(self, batch):
        with self.store.lock:
            self.store.bodies.extend(e.body for e in batch)
        return ExportResult.success()


class TestLeaky(ExporterConformance):
    @contextlib.contextmanager
    def backend(self):
        yield Store()

    def make_exporter(self, backend):
        return Leaky(backend, "tok-3f9a-secret")

    def secrets(self):
        return ["tok-3f9a-secret"]
"""
)

HANGS_IN_SHUTDOWN = (
    BACKEND
    + """
import asyncio
from fapilog.plugin import Exporter, ExportResult
from fapilog.testing.conformance import ExporterConformance


class Stuck(Exporter):
    api_version = "1.0"

    def __init__(self, store):
        self.store = store

    async def export(self, batch):
        with self.store.lock:
            self.store.bodies.extend(e.body for e in batch)
        return ExportResult.success()

    async def shutdown(self):
        await asyncio.Event().wait()  # BUG: waits for a close that never comes


class TestStuck(ExporterConformance):
    shutdown_bound = 0.5

    @contextlib.contextmanager
    def backend(self):
        yield Store()

    def make_exporter(self, backend):
        return Stuck(backend)
"""
)

RAISES_ON_NON_STR_BODY = """
from fapilog.plugin import Processor
from fapilog.testing.conformance import ProcessorConformance


class Shouty(Processor):
    api_version = "1.0"

    def on_emit(self, event):
        event.body = event.body.upper()  # BUG: assumes every body is a str


class TestShouty(ProcessorConformance):
    def make_processor(self):
        return Shouty()
"""


def _run(pytester: pytest.Pytester, source: str, test: str) -> pytest.RunResult:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    pytester.makepyfile(test_broken=source)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-k", test)


def _says(result: pytest.RunResult, message: str) -> None:
    out = " ".join(result.stdout.str().split())
    assert message in out, result.stdout.str()


def test_an_exporter_that_loses_a_batch_on_retry_is_caught(pytester: pytest.Pytester) -> None:
    result = _run(pytester, LOSES_ON_RETRY, "retryable_failure or exports_every")
    result.assert_outcomes(passed=1, failed=1)
    _says(
        result,
        "lost 20 of 50 events after a retryable failure: batch progress not resumed: the "
        "retry of the same batch must send every record still owed (the pipeline counts "
        "50 exported, the backend stored 30)",
    )


def test_an_exporter_that_loses_mid_batch_is_caught(pytester: pytest.Pytester) -> None:
    result = _run(pytester, LOSES_ON_RETRY, "middle_of_a_batch")
    result.assert_outcomes(failed=1)
    _says(
        result,
        "lost 10 of 50 events after a retryable failure in the middle of a batch: batch "
        "progress not resumed",
    )


def test_an_exporter_whose_repr_shows_its_token_is_caught(pytester: pytest.Pytester) -> None:
    result = _run(pytester, SHOWS_TOKEN, "secret")
    result.assert_outcomes(failed=1)
    _says(
        result,
        "repr(exporter) shows a secret (secrets()[0]): Leaky(url='http://backend', "
        "token='<SECRET>')",
    )
    assert "tok-3f9a-secret" not in result.stdout.str()


def test_an_exporter_that_hangs_in_shutdown_is_caught(pytester: pytest.Pytester) -> None:
    result = _run(pytester, HANGS_IN_SHUTDOWN, "shutdown_returns_within")
    result.assert_outcomes(failed=1)
    _says(
        result,
        "shutdown() did not return within 0.5 s (shutdown_bound) after an export to a "
        "healthy backend: bound every wait in shutdown",
    )


def test_a_processor_that_raises_on_a_non_str_body_is_caught(pytester: pytest.Pytester) -> None:
    result = _run(pytester, RAISES_ON_NON_STR_BODY, "never_raises or accounted")
    result.assert_outcomes(passed=1, failed=1)
    _says(
        result,
        "on_emit raised AttributeError on an event whose body is a dict: a processor must "
        "handle any event",
    )
