"""``fapilog pretty``: fapilog's JSON lines, rendered for people (see ``docs/console.md``).

Reads JSON lines written by the ``file`` exporter or the console's JSON format (from
files, or stdin when none is given or ``-`` is), and prints each record as the console
prints it on a terminal: one head line, its stack trace on indented lines below.
``--follow`` keeps reading a file as it grows, like ``tail -F``: through rotation (the
file renamed and a new one created) and truncation. Records can be filtered by minimum
level, logger and trace id. A line that is not a fapilog JSON record (a crash message,
another tool's output) is printed unchanged, whatever the filters.
"""

from __future__ import annotations

import argparse
import calendar
import os
import re
import sys
import threading
from typing import IO, TYPE_CHECKING, Any

import orjson
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog import _severity
from fapilog._event import LogEvent
from fapilog.exporters._pretty import (
    CONSOLE_TIMES,
    PrettyOptions,
    auto_colors,
    render_pretty,
    terminal_width,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["add_parser", "run"]

POLL_SECONDS = 0.2
"""How often ``--follow`` looks for new data, rotation and truncation."""

_FOLLOW_LINES = 10  # --lines default with --follow, as tail's
_BLOCK = 64 * 1024
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:\d\d)"
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pretty`` to the ``fapilog`` command's subcommands."""
    parser = sub.add_parser(
        "pretty",
        help="render fapilog JSON lines for people (files or stdin; --follow like tail -F)",
        description=(
            "Render fapilog JSON lines (the file exporter's, or the console's JSON) as "
            "the console shows them on a terminal, stack traces over several lines. "
            "Lines that are not fapilog records are printed unchanged. "
            "Exit code 0, or 1 when a file could not be read."
        ),
    )
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="JSON-lines files, in order (none, or '-': standard input)",
    )
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep reading as the files grow, through rotation and truncation (Ctrl-C stops)",
    )
    parser.add_argument(
        "-n",
        "--lines",
        type=_count,
        default=None,
        metavar="N",
        help=f"start with the last N lines of each file (default: all; {_FOLLOW_LINES} "
        "with --follow)",
    )
    parser.add_argument(
        "--level",
        type=_level,
        default=None,
        metavar="LEVEL",
        help="only records at this level or above (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)",
    )
    parser.add_argument(
        "--logger",
        action="append",
        default=[],
        metavar="NAME",
        help="only records of this logger or its children (shop matches shop.api); repeatable",
    )
    parser.add_argument(
        "--trace-id",
        action="append",
        default=[],
        type=_trace_id,
        metavar="HEX",
        help="only records of this trace (32 hex digits); repeatable",
    )
    parser.add_argument(
        "--time",
        choices=CONSOLE_TIMES,
        default="local",
        help="show times in local time with the UTC offset, or in UTC (default: local)",
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colours: auto honours NO_COLOR, FORCE_COLOR and TERM=dumb, else colours a "
        "terminal (default: auto)",
    )
    parser.add_argument(
        "--width",
        type=_count,
        default=None,
        metavar="COLUMNS",
        help="wrap pairs and cut long values to this width (default: the terminal's; "
        "0 never wraps)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``fapilog pretty`` with parsed arguments; return the exit code.

    Reads stdin and writes stdout (``sys.stdin.buffer``/``sys.stdout.buffer`` when they
    have one). Ctrl-C ends ``--follow`` with exit code 0.
    """
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    out = sys.stdout
    try:
        return pretty(args, stdin, out)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # e.g. `fapilog pretty app.jsonl | head`: the reader left
        # Python would report the broken pipe again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # stdout is not a real file
            pass
        finally:
            os.close(devnull)
        return 0


def pretty(
    args: argparse.Namespace,
    stdin: IO[bytes] | IO[str],
    out: IO[str],
    stop: threading.Event | None = None,
) -> int:
    """``fapilog pretty``, with its streams given (for tests and embedding).

    Args:
        args: the parsed arguments.
        stdin: read when no file (or ``-``) is given.
        out: where records and passed-through lines go; its ``buffer`` is used when
            it has one, so passed-through lines keep their exact bytes.
        stop: ends ``--follow`` when set (else it runs until interrupted).

    Returns:
        0, or 1 when a file could not be read.
    """
    viewer = Viewer(args, out)
    files: list[str] = list(args.files) or ["-"]
    status = 0
    try:
        if args.follow:
            paths = [path for path in files if path != "-"]
            if "-" in files:
                viewer.read(stdin)
            if paths:
                follow(paths, viewer, stop or threading.Event(), lines=args.lines)
            return 0
        for path in files:
            if path == "-":
                viewer.read(stdin)
                continue
            try:
                with open(path, "rb") as handle:
                    if args.lines is not None:
                        handle.seek(_tail_offset(handle, args.lines))
                    viewer.read(handle)
            except OSError as exc:
                viewer.flush()
                print(f"fapilog pretty: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
                status = 1
        return status
    finally:
        viewer.flush()


class Viewer:
    """Filters and renders lines; writes them to the output."""

    def __init__(self, args: argparse.Namespace, out: IO[str]) -> None:
        self.text = out
        self.binary: IO[bytes] | None = getattr(out, "buffer", None)
        self.encoding = getattr(out, "encoding", None) or "utf-8"
        tty = _isatty(out)
        colors = auto_colors(tty) if args.color == "auto" else args.color == "always"
        width: int | None = args.width if args.width else None
        if args.width is None and tty:
            width = terminal_width(out)
        self.options = PrettyOptions(colors=colors, time=args.time, width=width)
        self.min_level: int | None = args.level
        self.loggers: list[str] = list(args.logger)
        self.trace_ids: set[str] = set(args.trace_id)

    def read(self, stream: IO[bytes] | IO[str]) -> None:
        """Every line of ``stream`` until its end, written as it arrives."""
        while True:
            line = stream.readline()
            if not line:
                return
            if isinstance(line, str):  # a text stdin (replaced in tests or by a caller)
                line = line.encode("utf-8", "surrogateescape")
            self.line(line)
            self.flush()

    def lines(self, lines: Iterable[bytes]) -> None:
        """Handle complete lines (``\\n`` included, except maybe the last)."""
        for line in lines:
            self.line(line)

    def line(self, raw: bytes) -> None:
        """Handle one line: render a record that passes the filters, pass others through."""
        event = parse_record(raw)
        if event is None:
            self.raw(raw if raw.endswith(b"\n") else raw + b"\n")
        elif self.wanted(event):
            self.write(render_pretty(event, self.options) + "\n")

    def wanted(self, event: LogEvent) -> bool:
        if self.min_level is not None and event.severity_number < self.min_level:
            return False
        if self.loggers:
            name = event.scope_name
            if not any(name == p or name.startswith(p + ".") for p in self.loggers):
                return False
        return not self.trace_ids or f"{event.trace_id:032x}" in self.trace_ids

    def write(self, text: str) -> None:
        if self.binary is not None:
            self.binary.write(text.encode(self.encoding, "backslashreplace"))
        else:
            self.text.write(text)

    def raw(self, data: bytes) -> None:
        if self.binary is not None:
            self.binary.write(data)
        else:
            self.text.write(data.decode(self.encoding, "replace"))

    def flush(self) -> None:
        if self.binary is not None:
            self.binary.flush()
        self.text.flush()


# -- records ----------------------------------------------------------------------------


def parse_record(raw: bytes) -> LogEvent | None:
    """The event a fapilog JSON line describes, or ``None`` if it is not one.

    A record is a JSON object with a ``timestamp`` (RFC 3339, or ns as digits) and a
    ``body``, as fapilog writes them; other JSON is not a record.
    """
    stripped = raw.strip()
    if not stripped.startswith(b"{"):
        return None
    try:
        data = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or "body" not in data:
        return None
    timestamp = _parse_time(data.get("timestamp"))
    if timestamp is None:
        return None
    attributes = data.get("attributes")
    logger = data.get("logger")
    severity = data.get("severity_number")
    text = data.get("severity_text")
    if type(severity) is not int:
        severity = _level_of(text)
    event_name = data.get("event_name")
    return LogEvent(
        timestamp=timestamp,
        trace_id=_hex_id(data.get("trace_id")),
        span_id=_hex_id(data.get("span_id")),
        trace_flags=data["trace_flags"] if type(data.get("trace_flags")) is int else 0,
        severity_text=text if type(text) is str else None,
        severity_number=severity,
        body=data["body"],
        attributes=attributes if type(attributes) is dict else {},
        event_name=event_name if type(event_name) is str else None,
        instrumentation_scope=InstrumentationScope(logger)
        if type(logger) is str and logger
        else None,
    )


def _parse_time(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is not str:
        return None
    if value.isdigit():  # what the encoder writes for a time it cannot format
        return int(value)
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0)
        )
    except (OverflowError, ValueError):
        return None
    if zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    nanos = int((fraction or "").ljust(9, "0"))
    return seconds * 1_000_000_000 + nanos


def _hex_id(value: Any) -> int:
    if type(value) is not str:
        return 0
    try:
        return int(value, 16)
    except ValueError:
        return 0


def _level_of(text: Any) -> int:
    if type(text) is not str:
        return 0
    try:
        return _severity.parse_level(text)
    except ValueError:
        return 0


# -- following --------------------------------------------------------------------------


class Tail:
    """One followed file: reads what is appended, reopens it after rotation."""

    def __init__(self, path: str, lines: int | None) -> None:
        self.path = path
        self.start_lines = lines  # for the first open only; a new file is read whole
        self.handle: IO[bytes] | None = None
        self.identity: tuple[int, int] | None = None
        self.partial = b""

    def poll(self, viewer: Viewer) -> bool:
        """Hand ``viewer`` every complete line appended since the last poll.

        Returns:
            Whether anything was read.
        """
        if self.handle is None and not self.open():
            return False
        assert self.handle is not None
        progressed = self.drain(viewer)
        try:
            status = os.stat(self.path)
        except OSError:  # renamed away and not yet replaced: keep the old handle
            return progressed
        if (status.st_dev, status.st_ino) != self.identity:  # rotated
            progressed = self.drain(viewer) or progressed  # what was written before the move
            if self.partial:
                viewer.line(self.partial)
                self.partial = b""
            self.close()
            return self.poll(viewer) or True
        if status.st_size < self.handle.tell():  # truncated in place (copytruncate)
            self.handle.seek(0)
            self.partial = b""
            progressed = self.drain(viewer) or progressed
        return progressed

    def open(self) -> bool:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115  # kept open between polls
        except OSError:  # not there yet (or not readable yet): look again next poll
            self.start_lines = None  # when it appears, it is new: read it whole
            return False
        status = os.fstat(handle.fileno())
        self.identity = (status.st_dev, status.st_ino)
        if self.start_lines is not None:
            handle.seek(_tail_offset(handle, self.start_lines))
            self.start_lines = None
        self.handle = handle
        return True

    def drain(self, viewer: Viewer) -> bool:
        assert self.handle is not None
        data = self.handle.read()
        if not data:
            return False
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        viewer.lines(data[:cut].splitlines(keepends=True) if cut else [])
        viewer.flush()
        return True

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            self.identity = None


def follow(
    paths: list[str],
    viewer: Viewer,
    stop: threading.Event,
    *,
    lines: int | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Follow ``paths`` until ``stop`` is set, as ``tail -F`` does.

    Args:
        paths: the files; one that does not exist yet is waited for.
        viewer: handles every line.
        stop: set to end following.
        lines: start with the last ``lines`` lines of each file (default 10).
        poll_seconds: the wait between looks when nothing was read.
    """
    tails = [Tail(path, _FOLLOW_LINES if lines is None else lines) for path in paths]
    try:
        while not stop.is_set():
            progressed = False
            for tail in tails:
                progressed = tail.poll(viewer) or progressed
            if not progressed:
                stop.wait(poll_seconds)
    finally:
        for tail in tails:
            if tail.partial:
                viewer.line(tail.partial)
            tail.close()
        viewer.flush()


def _tail_offset(handle: IO[bytes], count: int) -> int:
    """Offset of the start of the last ``count`` lines of ``handle`` (0 when fewer)."""
    end = handle.seek(0, os.SEEK_END)
    if count == 0:
        return end
    position = end
    found = 0
    ignore_last = True  # a final newline ends the last line; it does not start one
    while position > 0:
        step = min(_BLOCK, position)
        position -= step
        handle.seek(position)
        chunk = handle.read(step)
        index = len(chunk)
        while True:
            index = chunk.rfind(b"\n", 0, index)
            if index < 0:
                break
            if ignore_last and position + index == end - 1:
                ignore_last = False
                continue
            ignore_last = False
            found += 1
            if found == count:
                return position + index + 1
        ignore_last = False
    return 0


# -- helpers ----------------------------------------------------------------------------


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _level(text: str) -> int:
    try:
        return _severity.parse_level(int(text) if text.isdigit() else text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _trace_id(text: str) -> str:
    value = text.strip().lower().removeprefix("0x").replace("-", "")
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError(f"a trace id is 32 hex digits, not {text!r}")
    return value


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:  # closed, or a stream-like object without a working isatty
        return False
