"""Checks shared by the exporter and processor suites."""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["api_version_problem", "once_mark", "secret_problem", "spy_diagnostics"]


def api_version_problem(cls: type, *, required: bool = True) -> str | None:
    """Why ``cls``'s ``api_version`` is not acceptable, or None when it is."""
    from fapilog.plugin import API_VERSION, check_api_version

    declared = getattr(cls, "api_version", None)
    if declared is None and required:
        return (
            f"{cls.__qualname__} does not declare api_version: add "
            f'api_version = "{API_VERSION}" to the class (the fapilog.plugin API it was '
            "written for)"
        )
    compatible, reason = check_api_version(declared)
    if not compatible:
        return f"{cls.__qualname__} declares api_version {declared!r}: {reason}"
    return None


def secret_problem(texts: Sequence[tuple[str, str]], secrets: Sequence[str]) -> str | None:
    """The first place a secret shows, described without showing it; None when none does."""
    for where, text in texts:
        for index, secret in enumerate(secrets):
            if secret and secret in text:
                shown = text.replace(secret, "<SECRET>")
                if len(shown) > 300:
                    at = shown.index("<SECRET>")
                    shown = "..." + shown[max(0, at - 120) : at + 130] + "..."
                return f"{where} shows a secret (secrets()[{index}]): {shown}"
    return None


@contextlib.contextmanager
def spy_diagnostics() -> Iterator[list[str]]:
    """Every message given to fapilog's diagnostics reporter in the block, unscrubbed.

    Checked before fapilog's scrubbing on purpose: a plugin must not rely on the
    detectors recognising its credential.
    """
    from fapilog._diagnostics import reporter

    lines: list[str] = []
    original = reporter.report

    def spy(key: str, message: str, *, plain: str | None = None) -> None:
        lines.append(message)
        original(key, message, plain=plain)

    reporter.reset()  # rate limiting must not hide a line of this test
    reporter.report = spy  # type: ignore[method-assign]
    try:
        yield lines
    finally:
        del reporter.report


def once_mark() -> pytest.MarkDecorator:
    """``pytest.mark.once`` (slow: run on one interpreter), without an unknown-mark warning.

    fapilog's own suite registers the marker; a plugin's suite may or may not.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
        return pytest.mark.once
