"""Severity numbers and texts per the OTel logs data model."""

from __future__ import annotations

import logging

import pytest

from fapilog import _severity


@pytest.mark.parametrize(
    ("levelno", "number"),
    [(5, 1), (10, 5), (11, 6), (15, 8), (20, 9), (25, 12), (30, 13), (40, 17), (50, 21), (60, 24)],
)
def test_stdlib_levels_map_onto_otel_ranges(levelno: int, number: int) -> None:
    """Stdlib levels map to the first number of each OTel range, offsets capped at +3."""
    assert _severity.from_stdlib(levelno) == number


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1, "TRACE"),
        (4, "TRACE"),
        (5, "DEBUG"),
        (9, "INFO"),
        (13, "WARN"),
        (17, "ERROR"),
        (24, "FATAL"),
    ],
)
def test_severity_text_uses_otel_spelling(number: int, text: str) -> None:
    """Texts are the OTel short names: WARN not WARNING, FATAL not CRITICAL."""
    assert _severity.severity_text(number) == text


def test_parse_level_accepts_names_and_stdlib_numbers() -> None:
    """Names in any case and stdlib numbers are both accepted."""
    assert _severity.parse_level("warning") == _severity.parse_level("WARN") == 13
    assert _severity.parse_level(logging.ERROR) == 17
    assert _severity.parse_level("critical") == 21


def test_parse_level_rejects_unknown_names_with_the_choices() -> None:
    """An unknown name fails with a message listing valid names."""
    with pytest.raises(ValueError, match="use one of"):
        _severity.parse_level("loud")
