"""``fapilog pretty``: JSON lines in, the console's pretty form out; filters; --follow."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import LogEvent
from fapilog._normalize import exception_attributes
from fapilog.cli import _pretty
from fapilog.exporters._jsonl import encode_json_line
from fapilog.exporters._pretty import INDENT
from fapilog.exporters.file import FileExporter

TS = 1_795_462_800_123_456_789  # 2026-11-23T19:40:00.123456789Z
TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fapilog")
    _pretty.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["pretty", "--time", "utc", *argv])


def record(
    body: str = "hello",
    *,
    level: tuple[str, int] = ("INFO", 9),
    logger: str = "shop.api",
    trace: str | None = None,
    offset_s: int = 0,
    **attributes: Any,
) -> bytes:
    event = LogEvent(
        timestamp=TS + offset_s * 1_000_000_000,
        severity_text=level[0],
        severity_number=level[1],
        body=body,
        attributes=attributes,
        trace_id=int(trace, 16) if trace else 0,
        span_id=1 if trace else 0,
        instrumentation_scope=InstrumentationScope(logger),
    )
    return encode_json_line(event)


class Sink(io.BytesIO):
    """A binary output that wakes waiters on every write."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def write(self, data: Any) -> int:
        with self.changed:
            written = super().write(data)
            self.changed.notify_all()
            return written

    def wait_for(self, needle: bytes, count: int = 1, timeout: float = 10) -> bytes:
        with self.changed:
            ok = self.changed.wait_for(lambda: self.getvalue().count(needle) >= count, timeout)
            assert ok, f"{needle!r} x{count} never came; got {self.getvalue()!r}"
            return self.getvalue()


def output() -> tuple[io.TextIOWrapper, Sink]:
    sink = Sink()
    return io.TextIOWrapper(sink, encoding="utf-8", write_through=True), sink


def run_pretty(args: argparse.Namespace, stdin: bytes = b"") -> tuple[int, str]:
    out, sink = output()
    code = _pretty.pretty(args, io.BytesIO(stdin), out)
    return code, sink.getvalue().decode("utf-8")


# -- rendering ----------------------------------------------------------------------------


def test_records_render_as_the_console_renders_them(tmp_path: Path) -> None:
    """Each JSON record becomes the pretty head line; a stack trace goes over lines."""
    missing: dict[str, int] = {}
    try:
        try:
            missing["k"]
        except KeyError as exc:
            raise ValueError("bad") from exc
    except ValueError as exc:
        stack: dict[str, Any] = exception_attributes(exc)
    path = tmp_path / "app.jsonl"
    path.write_bytes(
        record("hello", user="u1", trace=TRACE_A)
        + record("failed", level=("ERROR", 17), order=7, **stack)
    )
    code, out = run_pretty(parse(str(path)))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        f"2026-11-23 19:40:00.123Z INFO  shop.api  hello  user=u1 trace_id={TRACE_A} "
        "span_id=0000000000000001"
    )
    assert lines[1] == "2026-11-23 19:40:00.123Z ERROR shop.api  failed  order=7"
    assert lines[2] == INDENT + "Traceback (most recent call last):"
    assert INDENT + "The above exception was the direct cause of the following exception:" in lines
    assert lines[-1] == INDENT + "ValueError: bad"


def test_lines_that_are_not_records_pass_through_unchanged() -> None:
    """Text, invalid UTF-8, other JSON and a final line without newline are copied
    byte for byte, between the rendered records."""
    other = b'{"msg": "another tool"}\n'
    stdin = (
        b"Traceback (most recent call last):\n"
        + record("one")
        + b"\xff\xfe not utf-8 \x1b[31m\n"
        + other
        + b"[1, 2]\n"
        + b"last line without newline"
    )
    out, sink = output()
    assert _pretty.pretty(parse(), io.BytesIO(stdin), out) == 0
    assert sink.getvalue() == (
        b"Traceback (most recent call last):\n"
        b"2026-11-23 19:40:00.123Z INFO  shop.api  one\n"
        + b"\xff\xfe not utf-8 \x1b[31m\n"
        + other
        + b"[1, 2]\n"
        + b"last line without newline\n"
    )


def test_times_with_an_offset_and_other_fractions_are_read() -> None:
    """A timestamp written with an offset or fewer digits is the same instant."""
    line = orjson.dumps({"timestamp": "2026-11-23T20:40:00.5+01:00", "body": "x"}) + b"\n"
    assert run_pretty(parse("-"), line)[1] == "2026-11-23 19:40:00.500Z       x\n"


def test_colour_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    """--color always colours a pipe, never does not colour; auto honours FORCE_COLOR."""
    stdin = record("x")
    assert "\x1b[" in run_pretty(parse("--color", "always"), stdin)[1]
    assert "\x1b" not in run_pretty(parse(), stdin)[1]
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in run_pretty(parse(), stdin)[1]
    assert "\x1b" not in run_pretty(parse("--color", "never"), stdin)[1]


def test_width_wraps_pairs() -> None:
    """--width wraps pairs onto indented continuation lines."""
    out = run_pretty(parse("--width", "50"), record("x", a="1" * 20, b="2" * 20))[1]
    assert out.splitlines()[1:] == [INDENT + "a=" + "1" * 20 + " b=" + "2" * 20]


# -- filters ------------------------------------------------------------------------------


@pytest.fixture
def mixed() -> bytes:
    return (
        record("debug", level=("DEBUG", 5), logger="shop")
        + record("info", logger="shop.api", trace=TRACE_A)
        + record("warn", level=("WARN", 13), logger="shopping", trace=TRACE_B)
        + record("error", level=("ERROR", 17), logger="other", trace=TRACE_A)
        + b"plain text\n"
    )


def bodies(out: str) -> list[str]:
    """The message of each rendered record (date, time, level, logger, message...);
    other lines whole."""
    return [line.split()[4] if line.startswith("2026-") else line for line in out.splitlines()]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ((), ["debug", "info", "warn", "error", "plain text"]),
        (("--level", "warn"), ["warn", "error", "plain text"]),
        (("--level", "30"), ["warn", "error", "plain text"]),
        (("--logger", "shop"), ["debug", "info", "plain text"]),
        (("--logger", "shop.api", "--logger", "other"), ["info", "error", "plain text"]),
        (("--trace-id", TRACE_A), ["info", "error", "plain text"]),
        (("--trace-id", TRACE_B.upper()), ["warn", "plain text"]),
        (("--level", "error", "--trace-id", TRACE_A), ["error", "plain text"]),
    ],
)
def test_filters(mixed: bytes, argv: tuple[str, ...], expected: list[str]) -> None:
    """Level is a minimum; a logger matches itself and its dotted children (not a
    longer name); trace ids match in any case; filters combine; other lines pass."""
    assert bodies(run_pretty(parse(*argv), mixed)[1]) == expected


@pytest.mark.parametrize(
    "argv", [("--level", "loud"), ("--trace-id", "abc"), ("--lines", "-1"), ("--width", "x")]
)
def test_bad_arguments_are_refused(argv: tuple[str, ...]) -> None:
    """A level, trace id or count that cannot be right is a usage error (exit 2)."""
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2


# -- files --------------------------------------------------------------------------------


def test_files_are_read_in_order_and_a_missing_one_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Several files print in order; a missing one is named on stderr and gives exit 1."""
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(record("one"))
    second.write_bytes(record("two"))
    code, out = run_pretty(parse(str(first), str(tmp_path / "missing"), str(second)))
    assert code == 1
    assert bodies(out) == ["one", "two"]
    assert "fapilog pretty: cannot read" in capsys.readouterr().err


def test_lines_starts_with_the_last_n_lines(tmp_path: Path) -> None:
    """--lines N starts with the last N lines of each file, as tail -n does."""
    path = tmp_path / "app.jsonl"
    path.write_bytes(b"".join(record(f"m{i}") for i in range(50)))
    assert bodies(run_pretty(parse("--lines", "3", str(path)))[1]) == ["m47", "m48", "m49"]
    assert run_pretty(parse("--lines", "0", str(path)))[1] == ""
    assert len(bodies(run_pretty(parse("--lines", "500", str(path)))[1])) == 50


def test_tail_offset_crosses_blocks(tmp_path: Path) -> None:
    """The last lines are found across read blocks, with or without a final newline."""
    path = tmp_path / "big"
    lines = [b"x" * 1000 + str(i).encode() for i in range(200)]
    for ending in (b"\n", b""):
        path.write_bytes(b"\n".join(lines) + ending)
        with open(path, "rb") as handle:
            handle.seek(_pretty._tail_offset(handle, 70))
            assert handle.read().splitlines() == lines[-70:]


def test_run_reads_stdin_and_treats_ctrl_c_as_the_end(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """run() uses the process's stdin and stdout; KeyboardInterrupt ends it with 0."""
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(record("piped"))))
    assert _pretty.run(parse()) == 0
    assert b"  piped" in capsysbinary.readouterr().out

    def interrupted(*args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_pretty, "pretty", interrupted)
    assert _pretty.run(parse("--follow", "x")) == 0


def test_the_fapilog_command_runs_pretty(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """`fapilog pretty FILE` through the fapilog command."""
    from fapilog.__main__ import main

    path = tmp_path / "app.jsonl"
    path.write_bytes(record("via main"))
    assert main(["pretty", "--time", "utc", str(path)]) == 0
    assert capsysbinary.readouterr().out.decode() == (
        "2026-11-23 19:40:00.123Z INFO  shop.api  via main\n"
    )


# -- follow -------------------------------------------------------------------------------


@pytest.fixture
def following(tmp_path: Path) -> Iterator[tuple[Path, Sink]]:
    """Follow tmp_path/app.jsonl on a thread; yield the path and the output."""
    path = tmp_path / "app.jsonl"
    out, sink = output()
    viewer = _pretty.Viewer(parse(), out)
    stop = threading.Event()
    thread = threading.Thread(
        target=_pretty.follow, args=([str(path)], viewer, stop), kwargs={"poll_seconds": 0.01}
    )
    path.write_bytes(b"".join(record(f"old{i}") for i in range(15)))
    thread.start()
    try:
        yield path, sink
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def test_follow_starts_with_the_last_ten_lines_then_prints_what_is_appended(
    following: tuple[Path, Sink],
) -> None:
    """Like tail -F: the last 10 lines, then each line as it is completed."""
    path, sink = following
    sink.wait_for(b"old14")
    assert b"old4\n" not in sink.getvalue() and b"  old5\n" in sink.getvalue()
    line = record("new")
    append(path, line[:20])
    append(path, line[20:])
    sink.wait_for(b"  new\n")
    append(path, b"raw text\n")
    sink.wait_for(b"raw text\n")


def test_follow_survives_rotation_and_truncation(following: tuple[Path, Sink]) -> None:
    """A renamed-and-replaced file is read to its end, then the new one from its start;
    a file truncated in place is read again from its start."""
    path, sink = following
    sink.wait_for(b"old14")
    append(path, record("before-rotation"))
    path.rename(path.with_suffix(".1"))
    path.write_bytes(record("after-rotation-1") + record("after-rotation-2"))
    out = sink.wait_for(b"after-rotation-2")
    assert out.index(b"before-rotation") < out.index(b"after-rotation-1")
    with open(path, "r+b") as handle:
        handle.truncate(0)
    # One record is shorter than the two the follower has read: the file is now
    # smaller than its position, which is how a truncation shows.
    append(path, record("after-truncation"))
    sink.wait_for(b"after-truncation")
    assert sink.getvalue().count(b"after-rotation-1") == 1


def test_follow_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    """A missing file is waited for, and read whole when it appears (it is new: the
    last-lines start applies to a file that was there at the start only)."""
    path = tmp_path / "later.jsonl"
    out, sink = output()
    viewer = _pretty.Viewer(parse(), out)
    tail = _pretty.Tail(str(path), 10)
    assert tail.poll(viewer) is False
    path.write_bytes(b"".join(record(f"m{i}") for i in range(12)))
    assert tail.poll(viewer) is True
    tail.close()
    assert bodies(sink.getvalue().decode()) == [f"m{i}" for i in range(12)]


def test_follow_through_the_file_exporters_rotation(tmp_path: Path) -> None:
    """Records the file exporter writes while rotating by size are each shown once."""
    path = tmp_path / "app.jsonl"
    out, sink = output()
    stop = threading.Event()
    viewer = _pretty.Viewer(parse(), out)
    thread = threading.Thread(
        target=_pretty.follow,
        args=([str(path)], viewer, stop),
        # The default start (the last 10 lines) also shows what the exporter wrote
        # before the follower first opened the file: at most 5 lines, see below.
        kwargs={"poll_seconds": 0.005},
    )
    exporter = FileExporter(path, max_bytes=1500, backup_count=None)

    async def write_all() -> None:
        for i in range(60):
            event = LogEvent(
                timestamp=TS,
                severity_text="INFO",
                severity_number=9,
                body=f"event-{i:03d}",
                instrumentation_scope=InstrumentationScope("shop"),
            )
            assert (await exporter.export([event])).ok
            # Let the follower catch up well within one rotation (about ten records), as
            # in real life: like tail -F it reads the newest file and the one it had
            # open, not every file rotated in between.
            if i % 5 == 4:
                await asyncio.to_thread(sink.wait_for, f"event-{i:03d}".encode())
        await exporter.shutdown()

    path.touch()
    thread.start()
    try:
        asyncio.run(write_all())
        out_bytes = sink.wait_for(b"event-059")
    finally:
        stop.set()
        thread.join(10)
    shown = [line for line in bodies(out_bytes.decode()) if line.startswith("event-")]
    assert shown == [f"event-{i:03d}" for i in range(60)]
    assert len(list(tmp_path.iterdir())) > 3  # it did rotate, several times
    assert os.path.exists(path)
