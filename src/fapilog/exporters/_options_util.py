"""Turning an exporter options model's ``ValidationError`` into one readable message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Container, Mapping

    from pydantic import ValidationError

__all__ = ["explain_invalid"]


def explain_invalid(
    title: str,
    exc: ValidationError,
    *,
    env_prefix: str,
    overrides: Container[str],
    show_input: Callable[[str], bool],
    hints: Mapping[str, str],
) -> str:
    """Describe every error of ``exc``, naming the variable or argument to fix.

    Args:
        title: the first line, e.g. ``"invalid Splunk HEC exporter configuration:"``.
        exc: the options model's validation error.
        env_prefix: the environment prefix, e.g. ``"FAPILOG_SPLUNK_"``.
        overrides: names passed as keyword arguments (named as ``name= argument``;
            anything else is named as its environment variable).
        show_input: whether the offending input of a field may be echoed back; it
            must be False for every field that can hold a secret.
        hints: per field, text appended to its line (e.g. ``"; e.g. 10 (seconds)"``).

    Returns:
        A multi-line message for :class:`~fapilog.ConfigError`.
    """
    lines = [title]
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:
            lines.append(f"  - {message}")
            continue
        name = str(error["loc"][0])
        var = f"{env_prefix}{name.upper()}"
        hint = hints.get(name, "")
        if error["type"] == "missing":
            lines.append(f"  - {var} is not set: set {var} or pass {name}= (it is required){hint}")
            continue
        where = f"{name}= argument" if name in overrides else var
        got = f" (got {error['input']!r})" if "input" in error and show_input(name) else ""
        lines.append(f"  - {where}: {message}{got}{hint}")
    return "\n".join(lines)
