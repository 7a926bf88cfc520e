"""Render a :class:`~fapilog.LogEvent` for people: the console's pretty format.

:func:`render_pretty` is what the console exporter writes to a terminal and what
``fapilog pretty`` prints. A record is a head line, optionally followed by
continuation lines that are all indented by four spaces::

    2026-11-23 20:40:00.123+01:00 ERROR shop.api app.py:42 in pay  pricing failed  order_id=7
        Traceback (most recent call last):
          File "/srv/app.py", line 40, in pay
            1 / 0
        ZeroDivisionError: division by zero

* The head line is time, level (padded to five columns), logger, call site, message
  and the ``key=value`` pairs (two spaces between the parts).
* The time is local with its UTC offset, or UTC marked ``Z`` (:data:`ConsoleTime`).
* The call site comes from the OpenTelemetry attributes ``code.file.path``,
  ``code.line.number`` and ``code.function.name``; the attributes it shows are not
  repeated as pairs.
* ``exception.stacktrace`` is written as an indented block, one traceback line per
  line, chained exceptions included; optionally with each frame's local variables.
* With a width, pairs that do not fit wrap onto continuation lines, and a value too
  long for a line of its own is cut with ``…(+N chars)``.

Safety: only a record's head line starts at column 0. Every piece of user data is
passed through :func:`~fapilog.exporters._escape.escape_control`, and the lines of
a traceback are split on ``\\n`` only and indented, so no message, value or
exception text can forge a record line or emit a terminal escape sequence.

:func:`format_pretty` is the older one-line form (UTC without a zone marker, the
stack trace escaped onto the line), kept for callers that want one line per record.
"""

from __future__ import annotations

import functools
import math
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

import orjson

from fapilog.exporters._escape import escape_control
from fapilog.exporters._jsonsafe import NAN_STRINGS, hex_id, json_safe
from fapilog.exporters._timefmt import utc_seconds

if TYPE_CHECKING:
    from fapilog._event import LogEvent
    from fapilog.redaction import RedactionProcessor

__all__ = [
    "ConsoleTime",
    "PrettyOptions",
    "auto_colors",
    "format_console_time",
    "format_pretty",
    "render_pretty",
    "terminal_width",
]

ConsoleTime = Literal["local", "utc"]
"""``local``: the local time with its UTC offset (``+01:00``); ``utc``: UTC marked ``Z``."""

CONSOLE_TIMES: tuple[ConsoleTime, ...] = ("local", "utc")

INDENT = "    "
"""Prefix of every continuation line (wrapped pairs, traceback, locals)."""

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_KEY = "\x1b[36m"  # cyan
_LOGGER = "\x1b[34m"  # blue
_ERROR_LINE = "\x1b[1;31m"  # bold red
_FUNCTION = "\x1b[35m"  # magenta
_LEVEL_STYLES = (  # (lowest severity number, style); OTel ranges of four
    (21, "\x1b[1;41;97m"),  # FATAL: bold white on red
    (17, "\x1b[1;31m"),  # ERROR: bold red
    (13, "\x1b[33m"),  # WARN: yellow
    (9, "\x1b[32m"),  # INFO: green
    (5, "\x1b[34m"),  # DEBUG: blue
    (1, "\x1b[2m"),  # TRACE: dim
)
_NEEDS_QUOTES = re.compile(r'[\s"=\\]')
_STACKTRACE_KEY = "exception.stacktrace"
_TYPE_KEY = "exception.type"
_MESSAGE_KEY = "exception.message"
_FILE_KEY = "code.file.path"
_LINE_KEY = "code.line.number"
_FUNCTION_KEY = "code.function.name"

# The lines traceback.format_exception writes between and around chained exceptions.
_CHAIN_LINES = frozenset(
    {
        "During handling of the above exception, another exception occurred:",
        "The above exception was the direct cause of the following exception:",
    }
)
_TRACEBACK_HEAD = "Traceback (most recent call last):"
_FRAME_LINE = re.compile(r'^(\s*)File "(.*)", line (\d+), in (.*)$')
_CARETS = re.compile(r"^\s*[\^~]+\s*$")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?::|$)")

_MIN_VALUE_COLUMNS = 16  # a cut value keeps at least this much, however narrow the line
_LOCALS_LIMIT = 400  # longest local shown without a width


@dataclass(frozen=True)
class PrettyOptions:
    """How :func:`render_pretty` lays a record out.

    Attributes:
        colors: add ANSI colours (level by severity, dim time and call site, cyan keys,
            the exception line in red).
        time: ``local`` (with the UTC offset) or ``utc`` (marked ``Z``).
        show_locals: under each traceback frame, list its local variables (only when
            the event still holds the exception object, i.e. in the process that
            logged it). Names and values pass through fapilog's default redaction.
        width: the terminal's columns. Pairs that do not fit wrap onto continuation
            lines and an over-long value is cut; ``None`` never wraps or cuts.
    """

    colors: bool = False
    time: ConsoleTime = "local"
    show_locals: bool = False
    width: int | None = None


def auto_colors(tty: bool) -> bool:
    """Decide colours from the environment, for a stream that is (or is not) a TTY.

    ``NO_COLOR`` (any non-empty value) turns them off; else ``FORCE_COLOR`` (non-empty,
    not ``"0"``) turns them on, TTY or not; else ``TERM=dumb`` turns them off; else a
    TTY gets them.

    Args:
        tty: whether the stream is a terminal.

    Returns:
        Whether to colour.
    """
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR")
    if force and force != "0":
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    return tty


def terminal_width(stream: IO[str]) -> int | None:
    """Columns of the terminal behind ``stream``: ``COLUMNS`` if set, else its size.

    Args:
        stream: a stream that is a TTY.

    Returns:
        The width, or ``None`` when neither gives one.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        width = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # not backed by a terminal after all
        return None
    return width if width > 0 else None


# -- time -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _local_second(seconds: int, zone: tuple[str, str]) -> tuple[str, str]:
    """(``YYYY-MM-DD HH:MM:SS``, ``+HH:MM``) of ``seconds`` in the local zone.

    ``zone`` (``time.tzname``) is part of the key so that a ``time.tzset()`` after a
    change of ``TZ`` is honoured.
    """
    local = time.localtime(seconds)
    offset = local.tm_gmtoff
    sign = "-" if offset < 0 else "+"
    hours, rest = divmod(abs(offset), 3600)
    return time.strftime("%Y-%m-%d %H:%M:%S", local), f"{sign}{hours:02d}:{rest // 60:02d}"


def format_console_time(timestamp_ns: int, mode: ConsoleTime) -> str:
    """Format ns since the Unix epoch for the console, to the millisecond.

    Args:
        timestamp_ns: nanoseconds since the Unix epoch.
        mode: ``local`` gives ``2026-11-23 20:40:00.123+01:00``, ``utc`` gives
            ``2026-11-23 19:40:00.123Z``.

    Returns:
        The time; the bare number as a string when the platform cannot format it.
    """
    try:
        seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
        millis = nanos // 1_000_000
        if mode == "utc":
            return f"{utc_seconds(seconds, '%Y-%m-%d %H:%M:%S')}.{millis:03d}Z"
        stamp, offset = _local_second(seconds, time.tzname)
        return f"{stamp}.{millis:03d}{offset}"
    except (OverflowError, OSError, ValueError, TypeError):
        return str(timestamp_ns)


def _format_plain_utc(timestamp_ns: int) -> str:
    """The one-line format's time: UTC to the millisecond, without a zone marker."""
    try:
        seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
        return f"{utc_seconds(seconds, '%Y-%m-%d %H:%M:%S')}.{nanos // 1_000_000:03d}"
    except (OverflowError, OSError, ValueError, TypeError):
        return str(timestamp_ns)


# -- values -----------------------------------------------------------------------------


def _level_style(severity_number: int) -> str:
    for lowest, style in _LEVEL_STYLES:
        if severity_number >= lowest:
            return style
    return ""


def _pretty_key(key: Any) -> str:
    return _quote_if_needed(key if type(key) is str else str(key))


def _pretty_value(value: Any) -> str:
    cls = type(value)
    if cls is str:
        return _quote_if_needed(value)
    if cls is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if cls is int:
        return str(value)
    if cls is float:
        return repr(value) if math.isfinite(value) else NAN_STRINGS[repr(value)]
    # Containers, bytes and anything unexpected: compact JSON, escaped like the rest.
    safe = json_safe(value, 0, fix_text=True)
    if type(safe) is str:
        return _quote_if_needed(safe)
    text = orjson.dumps(safe, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    return escape_control(text)


def _quote_if_needed(text: str) -> str:
    if text and text.isprintable() and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + escape_control(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def _columns(text: str) -> int:
    """Terminal columns ``text`` takes (wide East Asian characters count two)."""
    if text.isascii():
        return len(text)
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return total


def _cut(text: str, columns: int) -> str:
    """The longest prefix of ``text`` that fits in ``columns``."""
    if text.isascii():
        return text[:columns]
    used = 0
    for index, char in enumerate(text):
        used += 0 if unicodedata.combining(char) else _columns(char)
        if used > columns:
            return text[:index]
    return text


# -- the one-line form ------------------------------------------------------------------


def format_pretty(event: LogEvent, *, colors: bool) -> str:
    """Render ``event`` as one human-readable line, without a trailing newline.

    The one-line form; the console writes :func:`render_pretty` instead. Layout:
    ``2026-11-23 19:40:00.123 INFO  shop.orders  order paid  order_id=7
    note="two words" trace_id=… span_id=…`` (the level padded to five columns, two
    spaces between logger, message and the ``key=value`` pairs). The time is UTC with
    milliseconds, without a zone marker; attributes keep their order, except that
    ``exception.stacktrace`` comes last; values with spaces, quotes, ``=`` or
    backslashes are double-quoted with ``\\"`` and ``\\\\`` escapes; containers are
    compact JSON. Every control character from the event is escaped (see
    :func:`~fapilog.exporters._escape.escape_control`), so the stack trace, too,
    stays on the one line.

    Args:
        event: the event to render; it is not modified.
        colors: add ANSI colours (the level by severity, dim time, cyan keys).

    Returns:
        The line.
    """
    try:
        return _format_one_line(event, colors)
    except Exception as exc:  # never lose the batch over one odd event
        return f"<fapilog could not format an event: {type(exc).__name__}>"


def _format_one_line(event: LogEvent, colors: bool) -> str:
    level = escape_control(event.severity_text or "").ljust(5)
    stamp = _format_plain_utc(event.timestamp)
    logger = escape_control(event.scope_name)
    message = _message(event.body)
    pairs = []
    if event.event_name is not None:
        pairs.append(("event_name", event.event_name))
    stacktrace = None
    for key, value in event.attributes.items():
        if key == _STACKTRACE_KEY:
            stacktrace = value
        else:
            pairs.append((key, value))
    pairs.extend(_ids(event))
    if stacktrace is not None:
        pairs.append((_STACKTRACE_KEY, stacktrace))

    if colors:
        style = _level_style(event.severity_number)
        head = f"{_DIM}{stamp}{_RESET} {style}{level}{_RESET}" if style else f"{stamp} {level}"
        parts = [f"{_LOGGER}{logger}{_RESET}"] if logger else []
        if message:
            parts.append(f"{_BOLD}{message}{_RESET}")
        rendered = [f"{_KEY}{_pretty_key(k)}{_RESET}={_pretty_value(v)}" for k, v in pairs]
    else:
        head = f"{stamp} {level}"
        parts = [logger] if logger else []
        if message:
            parts.append(message)
        rendered = [f"{_pretty_key(k)}={_pretty_value(v)}" for k, v in pairs]
    if rendered:
        parts.append(" ".join(rendered))
    # The level is padded to five columns, so one space keeps the columns aligned.
    return f"{head} {'  '.join(parts)}" if parts else head


def _message(body: Any) -> str:
    if type(body) is str:
        return escape_control(body)
    return "" if body is None else _pretty_value(body)


def _ids(event: LogEvent) -> list[tuple[str, str]]:
    ids = []
    if event.trace_id:
        ids.append(("trace_id", hex_id(event.trace_id, "032x")))
    if event.span_id:
        ids.append(("span_id", hex_id(event.span_id, "016x")))
    return ids


# -- the console form -------------------------------------------------------------------


def render_pretty(event: LogEvent, options: PrettyOptions) -> str:
    """Render ``event`` for a person at a terminal, without a trailing newline.

    See this module's docstring for the layout. Never raises: an event that cannot be
    rendered becomes a line saying so.

    Args:
        event: the event to render; it is not modified.
        options: colours, clock, locals and width.

    Returns:
        The head line, followed by its continuation lines (if any), joined by ``\\n``.
    """
    try:
        return _Renderer(event, options).render()
    except Exception as exc:  # never lose the batch over one odd event
        return f"<fapilog could not format an event: {type(exc).__name__}>"


class _Renderer:
    """Lays out one event; a class only to share the options between the steps."""

    def __init__(self, event: LogEvent, options: PrettyOptions) -> None:
        self.event = event
        self.options = options
        self.colors = options.colors
        self.width = options.width

    def style(self, text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if self.colors and style and text else text

    def render(self) -> str:
        event = self.event
        attributes = event.attributes
        site, shown = _call_site(attributes)
        stack = attributes.get(_STACKTRACE_KEY)
        block = type(stack) is str and bool(stack.strip())
        skip = set(shown)
        if block:
            assert isinstance(stack, str)
            skip.add(_STACKTRACE_KEY)
            skip.update(_repeated_in_stack(attributes, stack))

        level = escape_control(event.severity_text or "").ljust(5)
        stamp = format_console_time(event.timestamp, self.options.time)
        head = f"{self.style(stamp, _DIM)} {self.style(level, _level_style(event.severity_number))}"
        head_columns = _columns(stamp) + 1 + _columns(level)
        parts: list[tuple[str, int]] = []  # (text, columns)
        logger = escape_control(event.scope_name)
        if logger or site:
            text = " ".join(t for t in (self.style(logger, _LOGGER), self.style(site, _DIM)) if t)
            parts.append((text, _columns(" ".join(t for t in (logger, site) if t))))
        message = _message(event.body)
        if message:
            parts.append((self.style(message, _BOLD), _columns(message)))

        pairs: list[tuple[str, str]] = []
        if event.event_name is not None:
            pairs.append(("event_name", _pretty_value(event.event_name)))
        for key, value in attributes.items():
            if key not in skip:
                pairs.append((_pretty_key(key), _pretty_value(value)))
        pairs.extend(_ids(event))

        line = head
        columns = head_columns
        if parts:
            line += " " + "  ".join(text for text, _ in parts)
            columns += 1 + sum(c for _, c in parts) + 2 * (len(parts) - 1)
        lines = self.lay_out_pairs(line, columns, bool(parts), pairs)
        if block:
            assert isinstance(stack, str)
            lines.extend(self.traceback_lines(stack))
        return "\n".join(lines)

    def pair(self, key: str, value: str) -> str:
        return f"{self.style(key, _KEY)}={value}"

    def lay_out_pairs(
        self, line: str, columns: int, after_parts: bool, pairs: list[tuple[str, str]]
    ) -> list[str]:
        """The head line with the pairs, wrapped onto continuation lines when too wide."""
        if not pairs:
            return [line]
        width = self.width
        separator = "  " if after_parts else " "
        if width is None:
            return [line + separator + " ".join(self.pair(k, v) for k, v in pairs)]
        lines: list[str] = []
        on_head, empty = True, False  # on the head line; on a continuation line still empty
        for key, value in pairs:
            size = _columns(key) + 1 + _columns(value)
            gap = len(separator) if on_head else (0 if empty else 1)
            if columns + gap + size <= width:
                line += (separator if on_head else " " * gap) + self.pair(key, value)
                columns += gap + size
                empty = False
                continue
            if not empty:  # start a continuation line
                lines.append(line)
                line, columns, on_head, empty = INDENT, len(INDENT), False, True
            if columns + size > width:  # alone on its line and still too long: cut
                value = self.cut_value(value, width - columns - _columns(key) - 1)
                size = _columns(key) + 1 + _columns(value)
            line += self.pair(key, value)
            columns += size
            empty = False
        lines.append(line)
        return lines

    def cut_value(self, value: str, room: int) -> str:
        """``value`` cut to ``room`` columns, marked with how much was left out."""
        total = len(value)
        room = max(room, _MIN_VALUE_COLUMNS)
        if _columns(value) <= room:
            return value
        marker = f"…(+{total} chars)"  # at least as long as the marker written
        kept = _cut(value, max(room - len(marker), 1))
        return kept + self.style(f"…(+{total - len(kept)} chars)", _DIM)

    def traceback_lines(self, stack: str) -> list[str]:
        """The stack trace, one indented line per traceback line, with locals if asked."""
        raw_lines = stack.split("\n")
        while raw_lines and not raw_lines[-1].strip():
            raw_lines.pop()
        frames = _exception_frames(self.event.exception) if self.options.show_locals else []
        next_frame = 0
        pending: list[str] = []  # locals of the last frame, written after its source
        pending_indent = -1
        out: list[str] = []
        for raw in raw_lines:
            indent = len(raw) - len(raw.lstrip(" "))
            if pending and indent <= pending_indent:
                out.extend(pending)
                pending = []
            match = _FRAME_LINE.match(raw)
            # A blank line stays blank: no trailing spaces to copy along.
            out.append(INDENT + self.traceback_line(raw, match) if raw.strip() else "")
            if match and frames:
                found = _find_frame(frames, next_frame, match)
                if found is not None:
                    next_frame = found + 1
                    pending = self.locals_lines(frames[found][3], indent + 4)
                    pending_indent = indent
        out.extend(pending)
        return out

    def traceback_line(self, raw: str, frame: re.Match[str] | None) -> str:
        if frame is not None and self.colors:
            lead, path, number, function = frame.groups()
            return (
                f'{lead}{self.style("File ", _DIM)}"{self.style(escape_control(path), _KEY)}"'
                f"{self.style(', line ', _DIM)}{self.style(number, _KEY)}"
                f"{self.style(', in ', _DIM)}{self.style(escape_control(function), _FUNCTION)}"
            )
        text = escape_control(raw)
        if not self.colors:
            return text
        stripped = raw.strip()
        if stripped == _TRACEBACK_HEAD:
            return self.style(text, _DIM)
        if stripped in _CHAIN_LINES:
            return self.style(text, _BOLD)
        if _CARETS.match(raw):
            return self.style(text, _DIM)
        if raw == raw.lstrip() and _EXCEPTION_LINE.match(raw):
            return self.style(text, _ERROR_LINE)
        return text

    def locals_lines(self, names: dict[str, Any], indent: int) -> list[str]:
        if not names:
            return []
        shown = _redacted_locals(names)
        lines = []
        prefix = INDENT + " " * indent
        for name, text in shown.items():
            label = f"{escape_control(str(name))} = "
            value = escape_control(text)
            room = (
                self.width - _columns(prefix) - _columns(label)
                if self.width is not None
                else _LOCALS_LIMIT
            )
            if _columns(value) > room:
                value = self.cut_value(value, room)
            lines.append(prefix + self.style(label, _DIM) + value)
        return lines


def _call_site(attributes: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The call site text (``app.py:42 in pay``) and the attribute keys it shows."""
    path = attributes.get(_FILE_KEY)
    if type(path) is not str or not path:
        return "", ()
    text = _display_path(path)
    keys = [_FILE_KEY]
    line = attributes.get(_LINE_KEY)
    if (type(line) is int and line >= 0) or (type(line) is str and line.isdigit()):
        text += f":{line}"
        keys.append(_LINE_KEY)
    function = attributes.get(_FUNCTION_KEY)
    if type(function) is str and function:
        text += f" in {function}"
        keys.append(_FUNCTION_KEY)
    return escape_control(text), tuple(keys)


def _display_path(path: str) -> str:
    """``path`` relative to the current directory when it lies under it."""
    try:
        cwd = os.getcwd()
    except OSError:
        return path
    prefix = cwd.rstrip(os.sep) + os.sep
    return path[len(prefix) :] if path.startswith(prefix) and len(path) > len(prefix) else path


def _repeated_in_stack(attributes: dict[str, Any], stack: str) -> list[str]:
    """``exception.type`` and ``exception.message`` when the stack trace shows both."""
    kind = attributes.get(_TYPE_KEY)
    message = attributes.get(_MESSAGE_KEY, "")
    if type(kind) is not str or type(message) is not str:
        return []
    if kind.rpartition(".")[2] in stack and message in stack:
        return [_TYPE_KEY, _MESSAGE_KEY]
    return []


# -- locals -----------------------------------------------------------------------------

# (file name, line number, function name, frame locals) of one traceback entry.
_Frame = tuple[str, int, str, dict[str, Any]]


def _exception_frames(exc: BaseException | None) -> list[_Frame]:
    """Every traceback entry of ``exc`` and its chain, in the order Python prints them."""
    if exc is None:
        return []
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    frames: list[_Frame] = []
    for error in reversed(chain):  # the oldest exception is printed first
        tb = error.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            code = frame.f_code
            # A module's "locals" are its globals (every import): not worth a listing.
            names = {} if frame.f_locals is frame.f_globals else frame.f_locals
            frames.append((code.co_filename, tb.tb_lineno, code.co_name, names))
            tb = tb.tb_next
    return frames


def _find_frame(frames: list[_Frame], start: int, line: re.Match[str]) -> int | None:
    """The index of the first frame from ``start`` that a ``File ...`` line names."""
    _, path, number, function = line.groups()
    for index in range(start, len(frames)):
        filename, lineno, name, _ = frames[index]
        if filename == path and str(lineno) == number and name == function:
            return index
    return None


_redactor: RedactionProcessor | None = None


def _redacted_locals(names: dict[str, Any]) -> dict[str, str]:
    """``repr`` of each local, through the default redaction rules (names and values)."""
    global _redactor  # built on first use: most consoles never show locals
    if _redactor is None:
        from fapilog.redaction import RedactionProcessor

        _redactor = RedactionProcessor()
    texts = {}
    for name, value in list(names.items()):
        try:
            text = repr(value)
        except Exception as exc:  # a broken __repr__ must not cost the record
            text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
        texts[str(name)] = text[:4096]
    redacted = _redactor.redact_value(texts)
    if not isinstance(redacted, dict):
        return {}
    return {str(k): v if type(v) is str else _pretty_value(v) for k, v in redacted.items()}
