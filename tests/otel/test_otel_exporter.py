"""FapilogLogRecordExporter: fapilog exporters inside a plain OTel SDK LoggerProvider."""

from __future__ import annotations

import json
import threading
import time
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._configuration import _import_exporters
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import ConfigError, Exporter, ExportResult, LogEvent
from fapilog._diagnostics import reporter
from fapilog.exporters.console import ConsoleExporter
from fapilog.exporters.file import FileExporter
from fapilog.exporters.memory import InMemoryExporter
from fapilog.otel import (
    ConsoleLogRecordExporter,
    FapilogLogRecordExporter,
    FileLogRecordExporter,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("OTEL_", "FAPILOG_")):
            monkeypatch.delenv(name)


@pytest.fixture
def memory() -> Iterator[tuple[FapilogLogRecordExporter, InMemoryExporter]]:
    inner = InMemoryExporter()
    exporter = FapilogLogRecordExporter(inner, timeout=5)
    yield exporter, inner
    exporter.shutdown()


def full_event() -> LogEvent:
    return LogEvent(
        timestamp=1_700_000_000_123_456_789,
        observed_timestamp=1_700_000_000_223_456_789,
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        trace_flags=1,
        severity_text="WARN",
        severity_number=13,
        body={"msg": "paid", "items": [1, "two", 3.5, True, None]},
        attributes={"order_id": 7, "tags": ["a", "b"], "ratio": 0.5, "ok": False, "raw": b"\x00"},
        event_name="order.paid",
        resource=Resource({"service.name": "shop", "k": "v"}),
        instrumentation_scope=InstrumentationScope("shop.orders", "1.2", "https://s", {"x": 1}),
    )


def test_an_sdk_record_reaches_the_fapilog_exporter_with_every_field_intact(memory) -> None:
    exporter, inner = memory
    original = full_event()
    assert exporter.export([original.to_readable()]) is LogRecordExportResult.SUCCESS
    assert inner.events == [original]


def test_records_from_a_batch_processor_arrive_once_with_the_span_context(memory) -> None:
    exporter, inner = memory
    provider = LoggerProvider(resource=Resource({"service.name": "svc"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=10))
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("work") as span:
        for i in range(3):
            provider.get_logger("lib", "0.1").emit(
                body=f"m{i}", severity_number=SeverityNumber.INFO, attributes={"i": i}
            )
    assert provider.force_flush(5000)
    provider.shutdown()
    ctx = span.get_span_context()
    assert [e.body for e in inner.events] == ["m0", "m1", "m2"]
    for event in inner.events:
        assert (event.trace_id, event.span_id) == (ctx.trace_id, ctx.span_id)
        assert event.resource.attributes["service.name"] == "svc"
        assert event.scope_name == "lib"
    assert inner.is_shutdown, "provider shutdown closes the fapilog exporter"


def test_the_export_runs_off_the_calling_thread_on_a_private_loop() -> None:
    seen: list[str] = []

    class Probe(Exporter):
        async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
            seen.append(threading.current_thread().name)
            return ExportResult.success()

    probe = FapilogLogRecordExporter(Probe(), timeout=5)
    try:
        probe.export([full_event().to_readable()])
        probe.export([full_event().to_readable()])
    finally:
        probe.shutdown()
    assert len(seen) == 2 and seen[0] == seen[1] == "fapilog-otel-Probe"


class Flaky(Exporter):
    """Answers with the scripted results in turn, then succeeds."""

    def __init__(self, *script: ExportResult | Exception) -> None:
        self.script = list(script)
        self.calls = 0

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.calls += 1
        if self.script:
            item = self.script.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        return ExportResult.success()


def test_retryable_results_and_exceptions_are_retried_until_success() -> None:
    flaky = Flaky(
        ExportResult.retryable("busy", retry_after=0.01),
        RuntimeError("boom"),
        ExportResult.retryable(),
    )
    exporter = FapilogLogRecordExporter(flaky, timeout=10)
    try:
        assert exporter.export([full_event().to_readable()]) is LogRecordExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert flaky.calls == 4


def test_a_retry_after_beyond_the_timeout_gives_up_with_failure(capfd) -> None:
    reporter.reset()
    flaky = Flaky(ExportResult.retryable("throttled", retry_after=60))
    exporter = FapilogLogRecordExporter(flaky, timeout=2)
    try:
        assert exporter.export([full_event().to_readable()]) is LogRecordExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert flaky.calls == 1
    assert reporter.flush(5)
    assert "gave up after 1 attempt(s)" in capfd.readouterr().err


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (ExportResult.failure("bad request"), LogRecordExportResult.FAILURE),
        (ExportResult.partial(1, "one too big"), LogRecordExportResult.SUCCESS),
        (ExportResult.success(), LogRecordExportResult.SUCCESS),
    ],
)
def test_final_results_map_onto_the_sdk_result_without_retry(result, expected) -> None:
    flaky = Flaky(result)
    exporter = FapilogLogRecordExporter(flaky, timeout=5)
    try:
        assert exporter.export([full_event().to_readable()]) is expected
    finally:
        exporter.shutdown()
    assert flaky.calls == 1


def test_a_hung_exporter_is_cut_off_at_the_timeout() -> None:
    inner = InMemoryExporter(hang=True)
    exporter = FapilogLogRecordExporter(inner, timeout=0.3)
    try:
        assert exporter.export([full_event().to_readable()]) is LogRecordExportResult.FAILURE
        inner.release()
        assert inner.events == []
    finally:
        exporter.shutdown()


def test_shutdown_closes_the_exporter_stops_the_thread_and_is_idempotent(memory) -> None:
    exporter, inner = memory
    exporter.export([full_event().to_readable()])
    exporter.shutdown()
    exporter.shutdown()
    assert inner.is_shutdown
    assert not [t for t in threading.enumerate() if t.name == "fapilog-otel-memory"]
    assert exporter.export([full_event().to_readable()]) is LogRecordExportResult.FAILURE
    assert len(inner.events) == 1


def test_force_flush_asks_the_fapilog_exporter() -> None:
    calls: list[float | None] = []

    class Buffered(InMemoryExporter):
        async def force_flush(self, timeout: float | None = None) -> bool:
            calls.append(timeout)
            return False

    exporter = FapilogLogRecordExporter(Buffered(), timeout=5)
    try:
        assert exporter.force_flush(1500) is False
    finally:
        exporter.shutdown()
    assert calls == [1.5]


def test_the_timeout_defaults_to_the_blrp_export_timeout(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_BLRP_EXPORT_TIMEOUT", "1234")
    exporter = FapilogLogRecordExporter(InMemoryExporter())
    exporter.shutdown()
    assert exporter.timeout == pytest.approx(1.234)


def test_console_subclass_builds_fapilog_console_exporter_without_arguments() -> None:
    exporter = ConsoleLogRecordExporter()
    try:
        assert isinstance(exporter.exporter, ConsoleExporter)
        assert repr(exporter).startswith("ConsoleLogRecordExporter(")
    finally:
        exporter.shutdown()


def test_file_subclass_writes_json_lines_where_fapilog_file_path_says(
    monkeypatch, tmp_path: Path
) -> None:
    path = tmp_path / "app.jsonl"
    monkeypatch.setenv("FAPILOG_FILE_PATH", str(path))
    exporter = FileLogRecordExporter()
    assert isinstance(exporter.exporter, FileExporter)
    assert exporter.export([full_event().to_readable()]) is LogRecordExportResult.SUCCESS
    exporter.shutdown()
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["body"]["msg"] == "paid"


def test_file_subclass_without_a_path_fails_with_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="FAPILOG_FILE_PATH"):
        FileLogRecordExporter()


def test_the_base_class_needs_an_exporter_or_a_name() -> None:
    with pytest.raises(TypeError, match="exporter_name"):
        FapilogLogRecordExporter()


def test_a_subclass_that_only_sets_exporter_name_resolves_through_the_registry() -> None:
    class MemoryLogRecordExporter(FapilogLogRecordExporter):
        exporter_name = "memory"

    exporter = MemoryLogRecordExporter()
    exporter.shutdown()
    assert isinstance(exporter.exporter, InMemoryExporter)


def test_the_sdk_configurator_accepts_the_registered_entry_points() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_logs_exporter")}
    assert names["fapilog_console"] == "fapilog.otel:ConsoleLogRecordExporter"
    assert names["file"] == "fapilog.otel:FileLogRecordExporter"
    _, _, logs = _import_exporters([], [], ["fapilog_console", "file"])
    assert logs == {"fapilog_console": ConsoleLogRecordExporter, "file": FileLogRecordExporter}
    assert all(issubclass(cls, LogRecordExporter) for cls in logs.values())


def test_an_export_does_not_block_other_threads_exports_forever() -> None:
    inner = InMemoryExporter(delay=0.05)
    exporter = FapilogLogRecordExporter(inner, timeout=5)
    threads = [
        threading.Thread(target=exporter.export, args=([full_event().to_readable()],))
        for _ in range(4)
    ]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    exporter.shutdown()
    assert len(inner.events) == 4 and inner.export_calls == 4
    assert time.monotonic() - start < 10


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads warns on 3.12+
def test_a_forked_child_exports_on_a_fresh_loop_and_the_exporter_is_told() -> None:
    import os

    forks: list[int] = []

    class Counting(InMemoryExporter):
        def after_fork(self) -> None:
            super().after_fork()
            forks.append(os.getpid())

    inner = Counting()
    exporter = FapilogLogRecordExporter(inner, timeout=5)
    assert exporter.export([full_event().to_readable()]) is LogRecordExportResult.SUCCESS
    pid = os.fork()
    if pid == 0:  # child: the parent's loop thread does not exist here
        code = 0
        try:
            result = exporter.export([full_event().to_readable()])
            if result is not LogRecordExportResult.SUCCESS or forks != [os.getpid()]:
                code = 3
            exporter.shutdown()
        except BaseException:
            code = 4
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert exporter.export([full_event().to_readable()]) is LogRecordExportResult.SUCCESS
    exporter.shutdown()
    assert len(inner.events) == 2 and forks == []
