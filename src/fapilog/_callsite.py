"""Call sites: which pipelines record where a log call was made, and the attribute names.

The capture is inlined in the logger methods (:mod:`fapilog._logger`): one
``sys._getframe``, then the caller's code object goes into ``code.file.path`` and the
offset of its current instruction (``f_lasti``) into ``code.line.number``. That is
what costs the caller least: reading ``f_lineno`` walks the line table, and a third
key makes the call's ``**kwargs`` dict bigger; a code object, unlike a tuple, does
not make the dict tracked by the garbage collector. The worker turns the pair into
the three attributes (:func:`resolve`, called by materialisation). This module also
decides, once per pipeline, whether calls record their call site (the ``callsite``
setting).
"""

from __future__ import annotations

import sys
from types import CodeType, FrameType
from typing import Any

__all__ = ["FILE", "FUNCTION", "LINE", "callsite_enabled", "code_attributes", "resolve"]

#: OpenTelemetry semantic-convention attribute names (``code.*``, semconv 1.30+).
FILE = "code.file.path"
LINE = "code.line.number"
FUNCTION = "code.function.name"


def callsite_enabled(pipeline: Any) -> bool:
    """Whether log calls into ``pipeline`` record their call site.

    ``callsite="on"``/``"off"`` decide; ``"auto"`` (the default) is on when a console
    exporter of the pipeline renders pretty lines (format ``pretty``, or ``auto`` on a
    terminal when the pipeline is built), where people read the events and the place
    of each call helps. An object without settings (the lazy default, before its
    first event builds the real pipeline) answers False: that event's call site is
    added when the real pipeline is built, if it records them.
    """
    settings = getattr(pipeline, "settings", None)
    if settings is None:
        return False
    mode = getattr(settings, "callsite", "auto")
    if mode != "auto":
        return bool(mode == "on")
    # Looked up, never imported: this runs whenever a logger is made, on any thread, and
    # an import there could be under way when another thread forks, leaving the child a
    # module lock no thread of it holds. No console exporter can exist before its module.
    console = sys.modules.get("fapilog.exporters.console")
    console_type = getattr(console, "ConsoleExporter", None)
    if console_type is None:
        return False
    for exporter in getattr(pipeline, "exporters", ()):
        if isinstance(exporter, console_type):
            if exporter.format == "pretty":
                return True
            if exporter.format == "auto" and _isatty(exporter.stream or sys.stderr):
                return True
    return False


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:  # closed, None, or a stream-like object without isatty
        return False


def code_attributes(code: CodeType, line: int) -> dict[str, Any]:
    """The three ``code.*`` attributes for a line of ``code`` (the helpers' call sites)."""
    return {FILE: code.co_filename, LINE: line, FUNCTION: code.co_qualname}


#: (code, instruction offset) -> line, for the worker; bounded, cleared when full.
_lines: dict[tuple[CodeType, int], int] = {}
_MAX_LINES = 4096


def frame_at(depth: int) -> FrameType:
    """``sys._getframe(depth)``, or the outermost frame when the stack is not that deep.

    A wrapper's ``with_stacklevel(n)`` may ask for more frames than a call has (a call
    from the top of a thread, say): the call site is then the outermost frame, never
    an error raised into the logging call. The hot paths inline ``sys._getframe`` and
    come here only when it raises.
    """
    try:
        return sys._getframe(depth)
    except ValueError:
        frame = sys._getframe(1)
        while frame.f_back is not None:
            frame = frame.f_back
        return frame


def line_of(code: CodeType, lasti: int) -> int:
    """The source line of the instruction at byte offset ``lasti`` (what ``f_lineno`` says)."""
    key = (code, lasti)
    line = _lines.get(key)
    if line is None:
        line = code.co_firstlineno
        for start, end, number in code.co_lines():
            if start <= lasti < end:
                if number is not None:
                    line = number
                break
        if len(_lines) >= _MAX_LINES:
            _lines.clear()
        _lines[key] = line
    return line


def resolve(fields: dict[str, Any]) -> None:
    """Turn a captured call site (code object, instruction offset) into the attributes.

    Called on the worker for fields holding :data:`FILE`; a string there (given by
    the application, a bridge or a helper) is left alone.
    """
    code = fields[FILE]
    if type(code) is CodeType:
        lasti = fields.get(LINE)
        fields[FILE] = code.co_filename
        fields[LINE] = line_of(code, lasti) if type(lasti) is int else code.co_firstlineno
        fields[FUNCTION] = code.co_qualname
