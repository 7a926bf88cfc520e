"""Severity levels as the OpenTelemetry logs data model defines them.

The data model reserves four numbers per range (TRACE 1-4, DEBUG 5-8, INFO 9-12,
WARN 13-16, ERROR 17-20, FATAL 21-24). Standard library levels map onto the first
number of each range; levels in between keep their distance from the level below.
:mod:`logging` has no TRACE: fapilog's is :data:`STDLIB_TRACE` (5) where a
:mod:`logging` number is needed, and every :mod:`logging` level from 1 to 9 maps to
TRACE (1).
"""

from __future__ import annotations

import logging

TRACE = 1
DEBUG = 5
INFO = 9
WARN = 13
ERROR = 17
FATAL = 21

#: TRACE as a :mod:`logging` level number (``Logger.trace`` is ``log(5, ...)``; the
#: ``level`` setting and ``capture_stdlib`` read 5 as TRACE), the number loguru
#: gives its TRACE.
STDLIB_TRACE = 5

_RANGE_TEXT = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

_NAME_TO_NUMBER: dict[str, int] = {
    "TRACE": TRACE,
    "DEBUG": DEBUG,
    "INFO": INFO,
    "WARN": WARN,
    "WARNING": WARN,
    "ERROR": ERROR,
    "CRITICAL": FATAL,
    "FATAL": FATAL,
}


def severity_text(number: int) -> str:
    """Return the short OTel severity text ("INFO", "WARN", ...) for a severity number."""
    if number <= 0:
        return "UNSPECIFIED"
    return _RANGE_TEXT[min((number - 1) // 4, 5)]


def from_stdlib(levelno: int) -> int:
    """Map a :mod:`logging` level number to an OTel severity number (1-24).

    Matches the OTel Python SDK for levels 10-53 (``DEBUG(10) -> 5``, ``INFO(20) -> 9``,
    ``WARNING(30) -> 13``, ``ERROR(40) -> 17``, ``CRITICAL(50) -> 21``, up to three steps
    within a range). Unlike the SDK, levels 1-9 (custom TRACE levels) map to TRACE
    instead of UNSPECIFIED so they are not lost to severity filters.
    """
    if levelno <= 0:
        return 0
    if levelno < logging.DEBUG:
        return TRACE
    if levelno >= logging.CRITICAL:
        return FATAL + min(levelno - logging.CRITICAL, 3)
    decade = levelno // 10
    return DEBUG + (decade - 1) * 4 + min(levelno - decade * 10, 3)


def parse_level(level: int | str) -> int:
    """Turn a user-supplied level into an OTel severity number.

    Args:
        level: a name (``"info"``, ``"WARN"``, ``"warning"``, ``"critical"``...) or a
            :mod:`logging` level number (``logging.INFO`` == 20).

    Returns:
        The OTel severity number.

    Raises:
        ValueError: the name is unknown or the number is negative.
    """
    if isinstance(level, bool):
        raise ValueError(f"invalid level {level!r}")
    if isinstance(level, int):
        if level < 0:
            raise ValueError(f"invalid level {level!r}: must be >= 0")
        return from_stdlib(level)
    number = _NAME_TO_NUMBER.get(level.strip().upper())
    if number is None:
        names = ", ".join(sorted(set(_NAME_TO_NUMBER)))
        raise ValueError(f"unknown level {level!r}; use one of {names}")
    return number
