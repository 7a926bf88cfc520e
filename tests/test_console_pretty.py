"""The console's pretty renderer: tracebacks, time zones, call sites, colours, width.

The first test pins the exact bytes the console writes when it is not a terminal
(JSON lines): they were captured on the code before the pretty renderer changed, and
nothing about the pretty output may change them.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import select
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import LogEvent
from fapilog._normalize import exception_attributes
from fapilog.config import Settings
from fapilog.exporters._pretty import (
    INDENT,
    PrettyOptions,
    format_console_time,
    render_pretty,
)
from fapilog.exporters.console import ConsoleExporter

TS = 1_795_462_800_123_456_789  # 2026-11-23T19:40:00.123456789Z
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
STACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app.py", line 40, in pay\n'
    "    1 / 0\n"
    "    ~~^~~\n"
    "ZeroDivisionError: division by zero\n"
)


def representative_events() -> list[LogEvent]:
    """A record with every kind of field and odd value, and a bare one."""
    return [
        LogEvent(
            timestamp=TS,
            severity_text="ERROR",
            severity_number=17,
            body="pricing failed",
            attributes={
                "order_id": 7,
                "amount": 12.5,
                "ok": True,
                "none": None,
                "tags": ["a", "b c"],
                "nested": {"k": [1, {"x": "y"}]},
                "blob": b"\x00\xff",
                "nan": float("nan"),
                "big": 2**70,
                "text": "é\u2028\x1b[31m\n",
                "code.file.path": "/srv/app.py",
                "code.line.number": 42,
                "code.function.name": "pay",
                "exception.type": "ZeroDivisionError",
                "exception.message": "division by zero",
                "exception.stacktrace": STACK,
            },
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            trace_flags=1,
            event_name="order.failed",
            resource=Resource({"service.name": "shop"}),
            instrumentation_scope=InstrumentationScope("shop.api"),
        ),
        LogEvent(
            timestamp=TS + 1_000_000_000,
            severity_text="INFO",
            severity_number=9,
            body="plain",
            instrumentation_scope=None,
        ),
    ]


# Captured from ConsoleExporter(io.StringIO()) before the pretty renderer moved out of
# _encoding.py. Do not regenerate: a difference here is a change of the JSON format.
PINNED_JSON = (
    b'{"timestamp":"2026-11-23T19:40:00.123456789Z","severity_text":"ERROR",'
    b'"severity_number":17,"logger":"shop.api","body":"pricing failed","attributes":'
    b'{"order_id":7,"amount":12.5,"ok":true,"none":null,"tags":["a","b c"],"nested":'
    b'{"k":[1,{"x":"y"}]},"blob":"AP8=","nan":"NaN","big":"1180591620717411303424",'
    b'"text":"\xc3\xa9\\u2028\\u001b[31m\\n","code.file.path":"/srv/app.py",'
    b'"code.line.number":42,"code.function.name":"pay","exception.type":'
    b'"ZeroDivisionError","exception.message":"division by zero","exception.stacktrace":'
    b'"Traceback (most recent call last):\\n  File \\"/srv/app.py\\", line 40, in pay\\n'
    b'    1 / 0\\n    ~~^~~\\nZeroDivisionError: division by zero\\n"},'
    b'"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",'
    b'"trace_flags":1,"event_name":"order.failed","service.name":"shop"}\n'
    b'{"timestamp":"2026-11-23T19:40:01.123456789Z","severity_text":"INFO",'
    b'"severity_number":9,"logger":"","body":"plain","attributes":{}}\n'
)


def console_bytes(**options: Any) -> bytes:
    stream = io.StringIO()
    result = asyncio.run(ConsoleExporter(stream, **options).export(representative_events()))
    assert result.ok, result
    return stream.getvalue().encode("utf-8")


@pytest.mark.parametrize(
    "env",
    [{}, {"FORCE_COLOR": "1"}, {"NO_COLOR": "1"}, {"TZ": "Asia/Kolkata", "COLUMNS": "20"}],
)
def test_non_tty_output_is_the_pinned_json_bytes(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off a terminal the console writes exactly the JSON lines it always wrote,
    whatever the colour, time zone and width variables say."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM", "TZ", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert console_bytes() == PINNED_JSON
    assert console_bytes(format="json") == PINNED_JSON


# -- rendering --------------------------------------------------------------------------
SGR = re.compile(r"\x1b\[[0-9;]*m")
UTC = PrettyOptions(time="utc")


def make_event(**fields: Any) -> LogEvent:
    values: dict[str, Any] = {
        "timestamp": TS,
        "severity_text": "INFO",
        "severity_number": 9,
        "body": "order paid",
        "instrumentation_scope": InstrumentationScope("shop.api"),
    }
    values.update(fields)
    return LogEvent(**values)


def _charge(card: str) -> float:
    password = "hunter2"  # a local that the locals listing must redact
    amount = 12
    return amount / 0 if card and password else 0.0


def _checkout() -> None:
    try:
        _charge("4111")
    except ZeroDivisionError as exc:
        raise ValueError("pricing failed") from exc


def caught(function: Any) -> BaseException:
    try:
        function()
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def error_event(exc: BaseException, extra: dict[str, Any] | None = None, **fields: Any) -> LogEvent:
    return make_event(
        severity_text="ERROR",
        severity_number=17,
        body="checkout failed",
        attributes={"order_id": 7, **(extra or {}), **exception_attributes(exc)},
        exception=exc,
        **fields,
    )


def frame_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("File ")]


def test_a_chained_exception_is_rendered_over_indented_lines_with_its_frames() -> None:
    """The stack trace leaves the head line: one indented line per traceback line, the
    explicit cause first, the "direct cause" separator, then the raising frames."""
    text = render_pretty(error_event(caught(_checkout)), UTC)
    lines = text.splitlines()
    assert lines[0] == "2026-11-23 19:40:00.123Z ERROR shop.api  checkout failed  order_id=7"
    assert all(line.startswith(INDENT) or not line for line in lines[1:])
    body = [line.removeprefix(INDENT) for line in lines[1:]]
    assert body.count("Traceback (most recent call last):") == 2
    cause = body.index("The above exception was the direct cause of the following exception:")
    assert body.index("ZeroDivisionError: division by zero") < cause
    assert body[-1] == "ValueError: pricing failed"
    frames = frame_lines(text)
    assert [f.rsplit(", in ", 1)[1] for f in frames] == [
        "_checkout",
        "_charge",
        "caught",
        "_checkout",
    ]
    assert all(f'File "{__file__}"' in f for f in frames)
    assert "amount / 0 if card and password else 0.0" in text


def test_an_implicit_chain_says_during_handling() -> None:
    """An exception raised while handling another shows both, joined by Python's words."""

    def implicit() -> None:
        empty: dict[str, int] = {}
        try:
            empty["missing"]
        except KeyError:
            raise OSError("disk")  # noqa: B904

    text = render_pretty(error_event(caught(implicit)), UTC)
    body = [line.strip() for line in text.splitlines()[1:]]
    handling = body.index("During handling of the above exception, another exception occurred:")
    assert body.index("KeyError: 'missing'") < handling < body.index("OSError: disk")


def test_exception_type_and_message_are_not_repeated_when_the_trace_shows_them() -> None:
    """The trace's last line already says type and message; a trace that does not keeps them."""
    text = render_pretty(error_event(caught(_checkout)), UTC)
    assert "exception.type=" not in text and "exception.message=" not in text
    event = make_event(
        attributes={
            "exception.type": "ValueError",
            "exception.message": "boom",
            "exception.stacktrace": "[TRUNCATED]",
        }
    )
    head = render_pretty(event, UTC).splitlines()[0]
    assert "exception.type=ValueError exception.message=boom" in head


def test_no_text_in_a_trace_can_forge_a_record_or_an_escape() -> None:
    """Only the head line starts at column 0; controls in the trace stay escaped."""
    fake = "\n2026-11-23 19:40:01.000Z INFO  shop.api  all good\x1b[2J\u2028x"
    event = make_event(
        attributes={"exception.stacktrace": f"Traceback (most recent call last):\nE: {fake}\n"}
    )
    for colors in (False, True):
        text = render_pretty(event, PrettyOptions(colors=colors, time="utc"))
        lines = SGR.sub("", text).split("\n")
        assert [line for line in lines if line and not line.startswith(" ")] == [lines[0]]
        assert "\x1b" not in SGR.sub("", text)
        assert "\\x1b[2J\\u2028x" in text


def test_the_call_site_follows_the_logger_and_is_not_repeated() -> None:
    """code.file.path/line.number/function.name render as `path:line in function`, dim,
    after the logger, relative to the current directory; none of them as a pair."""
    path = os.path.join(os.getcwd(), "app", "views.py")
    event = make_event(
        attributes={
            "code.file.path": path,
            "code.line.number": 42,
            "code.function.name": "pay",
            "order_id": 7,
        }
    )
    plain = render_pretty(event, UTC)
    assert plain == (
        f"2026-11-23 19:40:00.123Z INFO  shop.api {os.path.join('app', 'views.py')}:42 in pay"
        "  order paid  order_id=7"
    )
    colored = render_pretty(event, PrettyOptions(colors=True, time="utc"))
    assert f"\x1b[2m{os.path.join('app', 'views.py')}:42 in pay\x1b[0m" in colored
    assert SGR.sub("", colored) == plain


def test_a_partial_call_site_shows_what_is_there() -> None:
    """A path outside the current directory stays whole; without a path the code.*
    attributes are ordinary pairs."""
    event = make_event(attributes={"code.file.path": "/elsewhere/x.py", "code.line.number": "7"})
    assert render_pretty(event, UTC).startswith(
        "2026-11-23 19:40:00.123Z INFO  shop.api /elsewhere/x.py:7  order paid"
    )
    event = make_event(attributes={"code.function.name": "pay"}, instrumentation_scope=None)
    assert render_pretty(event, UTC) == (
        "2026-11-23 19:40:00.123Z INFO  order paid  code.function.name=pay"
    )


def test_utc_time_is_marked_z_and_local_time_carries_its_offset() -> None:
    """utc ends in Z; local ends in the offset the local zone has at that instant."""
    assert format_console_time(TS, "utc") == "2026-11-23 19:40:00.123Z"
    local = format_console_time(TS, "local")
    assert re.fullmatch(r"2026-11-2[34] \d\d:\d\d:00\.123[+-]\d\d:\d\d", local)


TZ_SCRIPT = textwrap.dedent(
    """
    from fapilog.exporters._pretty import format_console_time
    for ns in (1_795_462_800_123_456_789, 1_783_000_000_000_000_000):
        print(format_console_time(ns, "local"), format_console_time(ns, "utc"))
    """
)


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        (
            "Asia/Kolkata",
            [
                "2026-11-24 01:10:00.123+05:30 2026-11-23 19:40:00.123Z",
                "2026-07-02 19:16:40.000+05:30 2026-07-02 13:46:40.000Z",
            ],
        ),
        (
            "America/New_York",  # standard time in November, daylight time in July
            [
                "2026-11-23 14:40:00.123-05:00 2026-11-23 19:40:00.123Z",
                "2026-07-02 09:46:40.000-04:00 2026-07-02 13:46:40.000Z",
            ],
        ),
    ],
)
def test_local_time_follows_tz(tz: str, expected: list[str]) -> None:
    """In a process started with TZ set, local times carry that zone's offset at each
    instant (daylight saving included); UTC times do not move."""
    env = {**os.environ, "TZ": tz}
    out = subprocess.run(
        [sys.executable, "-c", TZ_SCRIPT], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == expected


def test_pairs_wrap_at_the_width_and_a_long_value_is_cut() -> None:
    """With a width, pairs that do not fit go to indented continuation lines, each no
    wider than the width; a value too long for a line of its own is cut and says so."""
    attributes = {f"key{i}": f"value-{i}" for i in range(12)} | {"sql": "select " + "x," * 200}
    event = make_event(attributes=attributes, trace_id=TRACE_ID)
    text = render_pretty(event, PrettyOptions(time="utc", width=60))
    lines = text.splitlines()
    assert len(lines) > 3
    assert all(len(line) <= 60 for line in lines)
    assert all(line.startswith(INDENT) and line[len(INDENT)] != " " for line in lines[1:])
    cut = next(line for line in lines if "sql=" in line)
    assert re.search(r"…\(\+\d+ chars\)$", cut)
    kept = cut.strip().removeprefix('sql="').split("…")[0]
    missing = int(re.search(r"\+(\d+) chars", cut).group(1))  # type: ignore[union-attr]
    assert len(kept) + missing == len('"select ' + "x," * 200 + '"') - 1
    assert f"trace_id={TRACE_ID:032x}" in text
    unwrapped = render_pretty(event, UTC)
    assert "\n" not in unwrapped and "…" not in unwrapped


def test_wide_characters_count_two_columns() -> None:
    """East Asian wide characters take two columns when deciding where to wrap."""
    event = make_event(attributes={"a": "漢" * 8})  # 8 characters, 16 columns
    head = "2026-11-23 19:40:00.123Z INFO  shop.api  order paid"
    lines = render_pretty(event, PrettyOptions(time="utc", width=len(head) + 14)).splitlines()
    assert lines == [head, INDENT + "a=" + "漢" * 8]


def test_locals_are_off_by_default_and_redacted_when_on() -> None:
    """show_locals lists each frame's locals under it; secret names and values are masked."""
    event = error_event(caught(_checkout))
    assert "amount = " not in render_pretty(event, UTC)
    text = render_pretty(event, PrettyOptions(time="utc", show_locals=True, width=100))
    lines = text.splitlines()
    charge = next(i for i, line in enumerate(lines) if line.endswith(", in _charge"))
    after = [line.strip() for line in lines[charge + 1 : charge + 8]]
    assert "amount = 12" in after
    assert "card = '4111'" in after
    assert "password = [REDACTED]" in after
    assert "hunter2" not in text


def test_locals_are_cut_to_the_width() -> None:
    """A long repr is cut to the width, like a long value."""

    def big() -> None:
        payload = list(range(500))
        raise ValueError(len(payload))

    text = render_pretty(
        error_event(caught(big)), PrettyOptions(time="utc", show_locals=True, width=80)
    )
    line = next(line for line in text.splitlines() if "payload = " in line)
    assert len(line) <= 80 and "chars)" in line


def test_colored_and_plain_renderings_carry_the_same_text() -> None:
    """Stripping the SGR codes from a coloured rendering gives the plain one."""
    event = error_event(caught(_checkout), trace_id=TRACE_ID, event_name="e")
    for width in (None, 50):
        colored = render_pretty(event, PrettyOptions(colors=True, time="utc", width=width))
        assert "\x1b[" in colored
        assert SGR.sub("", colored) == render_pretty(event, PrettyOptions(time="utc", width=width))


def test_render_never_raises() -> None:
    """A broken event becomes a placeholder line."""
    event = make_event()
    event.attributes = None  # type: ignore[assignment]  # simulate a buggy processor
    assert "could not format" in render_pretty(event, UTC)


# -- the console exporter -----------------------------------------------------------------


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_console_renders_tracebacks_over_lines_on_a_tty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a TTY the console writes the pretty form, COLUMNS giving the width of the
    record's lines (traceback lines are left to the terminal to wrap)."""
    monkeypatch.setenv("COLUMNS", "70")
    monkeypatch.setenv("NO_COLOR", "1")
    stream = TTY()
    event = error_event(caught(_checkout), {"x": "y" * 200})
    result = asyncio.run(ConsoleExporter(stream, time="utc").export([event]))
    assert result.ok
    out = stream.getvalue()
    assert out.startswith("2026-11-23 19:40:00.123Z ERROR shop.api  checkout failed")
    assert out.endswith("    ValueError: pricing failed\n")
    record = out.split("    Traceback")[0].splitlines()
    assert len(record) > 1 and all(len(line) <= 70 for line in record)


def test_console_settings_reach_the_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    """console_time, console_colors and console_locals (kwargs or FAPILOG_*) configure
    ConsoleExporter.from_settings; an explicit colour setting beats NO_COLOR."""
    monkeypatch.setenv("FAPILOG_CONSOLE_TIME", "utc")
    monkeypatch.setenv("FAPILOG_CONSOLE_LOCALS", "true")
    monkeypatch.setenv("NO_COLOR", "1")
    settings = Settings.load(console_colors=True, console_format="pretty")
    exporter = ConsoleExporter.from_settings(settings, io.StringIO())
    assert (exporter.time, exporter.show_locals, exporter.colors) == ("utc", True, True)
    assert asyncio.run(exporter.export([make_event()])).ok
    assert isinstance(exporter.stream, io.StringIO)
    assert exporter.stream.getvalue().startswith("\x1b[2m2026-11-23 19:40:00.123Z\x1b[0m")
    defaults = Settings.defaults()
    assert (defaults.console_time, defaults.console_locals, defaults.console_colors) == (
        "local",
        False,
        None,
    )


@pytest.mark.parametrize(("text", "value"), [("auto", None), ("", None), ("false", False)])
def test_console_colors_from_the_environment(
    text: str, value: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAPILOG_CONSOLE_COLORS takes true/false, and auto (or empty) for the default."""
    monkeypatch.setenv("FAPILOG_CONSOLE_COLORS", text)
    assert Settings.load().console_colors is value


def test_console_time_is_validated() -> None:
    """A clock other than local or utc is refused, naming the fix."""
    with pytest.raises(ValueError, match="use local or utc"):
        Settings.defaults(console_time="gmt")
    with pytest.raises(ValueError, match="use true, false or auto"):
        Settings.defaults(console_colors="sometimes")
    with pytest.raises(ValueError, match="time must be one of local, utc"):
        ConsoleExporter(time="gmt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="width must be a positive int"):
        ConsoleExporter(width=0)


def test_an_explicit_colour_setting_beats_force_color(monkeypatch: pytest.MonkeyPatch) -> None:
    """console_colors=False turns colours off on a TTY even with FORCE_COLOR set."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    stream = TTY()
    exporter = ConsoleExporter.from_settings(Settings.defaults(console_colors=False), stream)
    assert asyncio.run(exporter.export([make_event()])).ok
    assert "\x1b" not in stream.getvalue()


# -- a real terminal ----------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import fapilog

    log = fapilog.get_logger("shop.api")


    def charge():
        return 1 / 0


    def checkout():
        try:
            charge()
        except ZeroDivisionError as exc:
            raise ValueError("pricing failed") from exc


    try:
        checkout()
    except ValueError:
        log.exception("checkout failed", order_id=7, note="n" * 300)
    fapilog.shutdown(timeout=5)
    """
)


def run_child(env: dict[str, str], *, tty: bool, columns: int = 100) -> str:
    """Run CHILD with stderr on a pseudo-terminal (or a pipe); return what it wrote."""
    full_env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "TERM")
        and not key.startswith("FAPILOG_")
    }
    full_env.update({"TZ": "UTC", "TERM": "xterm-256color", **env})
    if not tty:
        done = subprocess.run(
            [sys.executable, "-c", CHILD], env=full_env, capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stderr.decode("utf-8")
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], env=full_env, stderr=slave, stdout=slave
        )
    finally:
        os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side (it exited)
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        assert child.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_a_terminal_gets_a_coloured_multi_line_traceback_with_the_right_frames() -> None:
    """Under a real pseudo-terminal (100 columns) the default console writes coloured
    pretty output: the head line with a zone offset, the record wrapped to the width,
    then the chained traceback over indented lines, frames in Python's order."""
    out = run_child({}, tty=True)
    assert "\x1b[" in out
    plain = SGR.sub("", out)
    lines = plain.splitlines()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+00:00 ERROR shop\.api ", lines[0])
    assert "checkout failed" in lines[0]
    record = plain.split("    Traceback")[0].splitlines()
    assert all(len(line) <= 100 for line in record)
    assert any(re.search(r"note=n+…\(\+\d+ chars\)$", line) for line in record)
    assert all(line.startswith(INDENT) or not line for line in lines[1:])
    functions = [f.rsplit(", in ", 1)[1] for f in frame_lines(plain)]
    assert functions == ["checkout", "charge", "<module>", "checkout"]
    body = [line.strip() for line in lines]
    cause = body.index("The above exception was the direct cause of the following exception:")
    assert body.index("ZeroDivisionError: division by zero") < cause
    assert body[-1] == "ValueError: pricing failed"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize(
    ("env", "tty", "colored", "pretty"),
    [
        ({"NO_COLOR": "1"}, True, False, True),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False, True),
        ({"FORCE_COLOR": "1", "FAPILOG_CONSOLE_FORMAT": "pretty"}, False, True, True),
        ({"FORCE_COLOR": "1"}, False, False, False),
    ],
    ids=["no-color-on-a-tty", "no-color-wins", "force-color-on-a-pipe", "force-color-json"],
)
def test_no_color_and_force_color(
    env: dict[str, str], tty: bool, colored: bool, pretty: bool
) -> None:
    """NO_COLOR (non-empty) disables colours on a terminal, and wins over FORCE_COLOR;
    FORCE_COLOR colours pretty output on a pipe, but never turns JSON into pretty."""
    out = run_child(env, tty=tty)
    assert ("\x1b[" in out) is colored
    assert ("    Traceback (most recent call last):" in SGR.sub("", out)) is pretty
    if not pretty:
        assert out.startswith('{"timestamp":')
