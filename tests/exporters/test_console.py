"""ConsoleExporter: format and colour selection, one write per batch, failures as results."""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from typing import Any, Literal

import orjson
import pytest
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import LogEvent
from fapilog.exporters._base import ExportStatus
from fapilog.exporters.console import ConsoleExporter

TS = 1_795_462_800_123_456_789  # 2026-11-23T19:40:00.123456789Z


def make_event(body: Any = "hello", **attributes: Any) -> LogEvent:
    return LogEvent(
        timestamp=TS,
        severity_text="INFO",
        severity_number=9,
        body=body,
        attributes=attributes,
        instrumentation_scope=InstrumentationScope("app"),
    )


class Stream(io.StringIO):
    """A text stream that records its write and flush calls and can pose as a TTY."""

    def __init__(self, tty: bool = False) -> None:
        super().__init__()
        self.tty = tty
        self.writes = 0
        self.flushes = 0

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


class FailingStream(io.StringIO):
    """A stream whose write or flush raises the given exception."""

    def __init__(self, exc: BaseException, on: str = "write") -> None:
        super().__init__()
        self.exc = exc
        self.on = on

    def write(self, text: str) -> int:
        if self.on == "write":
            raise self.exc
        return super().write(text)

    def flush(self) -> None:
        if self.on == "flush":
            raise self.exc


@pytest.fixture(autouse=True)
def _clean_color_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colour decisions in these tests depend only on what each test sets."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)


async def export(exporter: ConsoleExporter, *events: LogEvent) -> str:
    result = await exporter.export(list(events) or [make_event()])
    assert result.ok, result
    stream = exporter.stream
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


# -- formats ------------------------------------------------------------------------------


async def test_json_format_writes_one_json_line_per_record() -> None:
    """format="json" writes each record as one decodable JSON line."""
    exporter = ConsoleExporter(Stream(), format="json")
    out = await export(exporter, make_event("a\nb", k="\x1b[31m"), make_event("c"))
    lines = out.splitlines()
    assert len(lines) == 2
    assert [orjson.loads(line)["body"] for line in lines] == ["a\nb", "c"]
    assert orjson.loads(lines[0])["attributes"] == {"k": "\x1b[31m"}


async def test_pretty_format_writes_one_line_per_record() -> None:
    """format="pretty" writes one human line per record, escaping line breaks."""
    exporter = ConsoleExporter(Stream(), format="pretty", colors=False, time="utc")
    out = await export(exporter, make_event("a\nb"), make_event("c\u2028d"))
    assert out == (
        "2026-11-23 19:40:00.123Z INFO  app  a\\nb\n2026-11-23 19:40:00.123Z INFO  app  c\\u2028d\n"
    )


async def test_auto_format_is_json_when_the_stream_is_not_a_tty() -> None:
    """format="auto" on a pipe or file writes JSON lines."""
    out = await export(ConsoleExporter(Stream(tty=False)))
    assert orjson.loads(out)["body"] == "hello"


async def test_auto_format_is_pretty_on_a_tty() -> None:
    """format="auto" on a terminal writes pretty lines."""
    out = await export(ConsoleExporter(Stream(tty=True), colors=False, time="utc"))
    assert out == "2026-11-23 19:40:00.123Z INFO  app  hello\n"


async def test_a_stream_whose_isatty_raises_counts_as_not_a_tty() -> None:
    """A stream without a working isatty gets JSON, not an exception."""

    class NoTTY(Stream):
        def isatty(self) -> bool:
            raise ValueError("closed")

    out = await export(ConsoleExporter(NoTTY()))
    assert orjson.loads(out)["body"] == "hello"


def test_an_unknown_format_is_rejected() -> None:
    """A format other than auto, pretty or json raises ValueError at construction."""
    with pytest.raises(ValueError, match="format must be one of"):
        ConsoleExporter(format="xml")  # type: ignore[arg-type]


# -- colours ------------------------------------------------------------------------------


async def test_colors_are_on_for_a_tty_by_default() -> None:
    """Pretty output to a terminal is coloured when no environment variable says otherwise."""
    assert "\x1b[" in await export(ConsoleExporter(Stream(tty=True)))


async def test_colors_are_off_for_a_non_tty_by_default() -> None:
    """Pretty output to a pipe or file is not coloured."""
    assert "\x1b" not in await export(ConsoleExporter(Stream(tty=False), format="pretty"))


async def test_no_color_turns_colors_off_even_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR (non-empty) disables colours on a terminal."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in await export(ConsoleExporter(Stream(tty=True)))


async def test_an_empty_no_color_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR set to the empty string does not disable colours (per no-color.org)."""
    monkeypatch.setenv("NO_COLOR", "")
    assert "\x1b[" in await export(ConsoleExporter(Stream(tty=True)))


async def test_force_color_colors_a_non_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    """FORCE_COLOR enables colours in pretty output to a non-terminal."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in await export(ConsoleExporter(Stream(tty=False), format="pretty"))


async def test_force_color_zero_does_not_force(monkeypatch: pytest.MonkeyPatch) -> None:
    """FORCE_COLOR=0 leaves a non-terminal uncoloured."""
    monkeypatch.setenv("FORCE_COLOR", "0")
    assert "\x1b" not in await export(ConsoleExporter(Stream(tty=False), format="pretty"))


async def test_no_color_wins_over_force_color(monkeypatch: pytest.MonkeyPatch) -> None:
    """With both set, NO_COLOR wins."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b" not in await export(ConsoleExporter(Stream(tty=True)))


async def test_a_dumb_terminal_gets_no_colors(monkeypatch: pytest.MonkeyPatch) -> None:
    """TERM=dumb disables colours on a terminal."""
    monkeypatch.setenv("TERM", "dumb")
    assert "\x1b" not in await export(ConsoleExporter(Stream(tty=True)))


async def test_explicit_colors_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """colors=True and colors=False win over the environment and the TTY check."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" in await export(ConsoleExporter(Stream(), format="pretty", colors=True))
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b" not in await export(ConsoleExporter(Stream(tty=True), colors=False))


async def test_json_is_never_colored(monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON output carries no colour codes, whatever the colour settings."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = await export(ConsoleExporter(Stream(tty=True), format="json", colors=True))
    assert "\x1b" not in out


# -- writing ------------------------------------------------------------------------------


async def test_a_batch_is_written_with_one_write_and_one_flush() -> None:
    """The whole batch goes out in a single write followed by a single flush."""
    stream = Stream()
    exporter = ConsoleExporter(stream, format="json")
    await export(exporter, *(make_event(f"m{i}") for i in range(50)))
    assert (stream.writes, stream.flushes) == (1, 1)
    assert len(stream.getvalue().splitlines()) == 50


async def test_an_empty_batch_writes_nothing() -> None:
    """Exporting no events succeeds without touching the stream."""
    stream = Stream()
    assert (await ConsoleExporter(stream).export([])).ok
    assert (stream.writes, stream.flushes) == (0, 0)


async def test_the_default_stream_is_sys_stderr_at_export_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a stream, each export writes to whatever sys.stderr is at that moment."""
    exporter = ConsoleExporter(format="json")
    first, second = Stream(), Stream()
    monkeypatch.setattr(sys, "stderr", first)
    assert (await exporter.export([make_event("one")])).ok
    monkeypatch.setattr(sys, "stderr", second)
    assert (await exporter.export([make_event("two")])).ok
    assert orjson.loads(first.getvalue())["body"] == "one"
    assert orjson.loads(second.getvalue())["body"] == "two"


async def test_output_reaches_pytest_capture(capsys: pytest.CaptureFixture[str]) -> None:
    """The default stream is the captured stderr under pytest."""
    assert (await ConsoleExporter(format="json").export([make_event("captured")])).ok
    assert orjson.loads(capsys.readouterr().err)["body"] == "captured"


async def test_a_missing_stderr_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """With sys.stderr set to None (pythonw, daemons), export fails instead of raising."""
    monkeypatch.setattr(sys, "stderr", None)
    result = await ConsoleExporter().export([make_event()])
    assert result.status is ExportStatus.FAILURE
    assert "None" in result.reason


@pytest.mark.parametrize(
    ("exc", "on"),
    [
        (BrokenPipeError(32, "Broken pipe"), "write"),
        (BrokenPipeError(32, "Broken pipe"), "flush"),
        (OSError(28, "No space left on device"), "write"),
        (ValueError("I/O operation on closed file."), "write"),
        (RuntimeError("odd stream"), "flush"),
    ],
)
async def test_a_failing_stream_gives_a_failure_result(exc: BaseException, on: str) -> None:
    """A stream that raises on write or flush makes export return failure, never raise."""
    result = await ConsoleExporter(FailingStream(exc, on), format="json").export([make_event()])
    assert result.status is ExportStatus.FAILURE
    assert type(exc).__name__ in result.reason


async def test_a_closed_stream_gives_a_failure_result() -> None:
    """Writing to a closed stream reports failure, for both formats."""
    formats: tuple[Literal["json", "pretty"], ...] = ("json", "pretty")
    for fmt in formats:
        stream = io.StringIO()
        stream.close()
        result = await ConsoleExporter(stream, format=fmt).export([make_event()])
        assert result.status is ExportStatus.FAILURE


async def test_a_narrow_encoding_stream_gets_escaped_text() -> None:
    """Text the stream cannot encode is written as backslash escapes, not lost."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", write_through=True)
    result = await ConsoleExporter(stream, format="pretty", colors=False).export(
        [make_event("café ☕")]
    )
    assert result.ok
    assert raw.getvalue().endswith(b"app  caf\\xe9 \\u2615\n")


async def test_a_blocked_stream_does_not_block_the_event_loop() -> None:
    """While a write blocks, other coroutines on the loop keep running."""
    gate = threading.Event()
    entered = threading.Event()

    class Blocking(Stream):
        def write(self, text: str) -> int:
            entered.set()
            gate.wait(5)
            return super().write(text)

    stream = Blocking()
    exporter = ConsoleExporter(stream, format="json")
    task = asyncio.create_task(exporter.export([make_event()]))
    while not entered.is_set():
        await asyncio.sleep(0.001)
    ticks = 0
    for _ in range(10):
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 10 and not task.done()
    gate.set()
    assert (await task).ok
    assert orjson.loads(stream.getvalue())["body"] == "hello"


async def test_shutdown_leaves_the_stream_open() -> None:
    """shutdown stops the writer thread but does not close a stream it does not own."""
    stream = Stream()
    exporter = ConsoleExporter(stream, format="json")
    await export(exporter)
    await exporter.shutdown()
    assert not stream.closed


async def test_exports_work_after_after_fork() -> None:
    """after_fork resets the writer thread; the next export still writes."""
    exporter = ConsoleExporter(Stream(), format="json")
    await export(exporter, make_event("before"))
    exporter.after_fork()
    out = await export(exporter, make_event("after"))
    assert [orjson.loads(line)["body"] for line in out.splitlines()] == ["before", "after"]


def test_the_console_settings_reach_the_exporter_built_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FAPILOG_CONSOLE_* from the environment configure the exporter named "console"."""
    from fapilog import Settings
    from fapilog.exporters._registry import resolve_exporters

    monkeypatch.setenv("FAPILOG_CONSOLE_TIME", "utc")
    monkeypatch.setenv("FAPILOG_CONSOLE_LOCALS", "true")
    monkeypatch.setenv("FAPILOG_CONSOLE_COLORS", "false")
    (exporter,) = resolve_exporters(["console"], Settings.load())
    assert isinstance(exporter, ConsoleExporter)
    assert (exporter.time, exporter.show_locals, exporter.colors) == ("utc", True, False)
