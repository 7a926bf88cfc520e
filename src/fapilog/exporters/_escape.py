"""Escaping for humans: nothing in user text may break or forge a console line."""

from __future__ import annotations

import re

__all__ = ["escape_control"]

_NAMED_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
# Line-breaking and invisible reordering characters: the Unicode line and paragraph
# separators, and the bidirectional controls that can make a line read differently
# from what it contains ("Trojan Source").
_UNICODE_UNSAFE: tuple[int, ...] = (
    *(0x061C, 0x200E, 0x200F, 0x2028, 0x2029),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)
_CONTROL_POINTS = (*range(0x20), 0x7F, *range(0x80, 0xA0))
_ESCAPE_TABLE: dict[int, str] = {
    cp: _NAMED_ESCAPES.get(cp, f"\\x{cp:02x}") for cp in _CONTROL_POINTS
} | {cp: f"\\u{cp:04x}" for cp in _UNICODE_UNSAFE}
_ASCII_ESCAPE_TABLE = {cp: esc for cp, esc in _ESCAPE_TABLE.items() if cp < 0x80}
# Lone surrogates (from undecodable bytes) cannot be written to a UTF-8 stream at all.
_UNSAFE_RE = re.compile(
    "[" + "".join(re.escape(chr(cp)) for cp in sorted(_ESCAPE_TABLE)) + "\ud800-\udfff]"
)


def escape_control(text: str) -> str:
    """Escape every character of ``text`` that could break or forge a console line.

    C0 controls (incl. TAB, LF, CR, ESC, NUL), DEL, C1 controls, U+2028/U+2029, the
    bidirectional formatting controls and lone surrogates become visible escapes such
    as ``\\n``, ``\\x1b`` or ``\\u2028``. Other text, non-ASCII letters included, is
    unchanged.

    Args:
        text: any string.

    Returns:
        ``text`` itself when it holds nothing to escape, else the escaped copy.
    """
    if text.isprintable():  # one C-level scan; true for almost every message
        return text
    if text.isascii():  # translate's ASCII path is the fastest there is
        return text.translate(_ASCII_ESCAPE_TABLE)
    return _UNSAFE_RE.sub(_escape_match, text)


def _escape_match(match: re.Match[str]) -> str:
    cp = ord(match.group())
    return _ESCAPE_TABLE.get(cp) or f"\\u{cp:04x}"
