"""Turning an exporter options model's ``ValidationError`` into one readable message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from fapilog.config import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Container, Mapping

__all__ = ["build_options", "explain_invalid"]

_Model = TypeVar("_Model", bound=BaseModel)


def build_options(
    model: type[_Model],
    overrides: Mapping[str, Any],
    *,
    what: str,
    env_prefix: str,
    show_input: Callable[[str], bool],
    hints: Mapping[str, str],
) -> _Model:
    """Validate an exporter's options model from keyword ``overrides`` over its env.

    Args:
        model: a pydantic-settings model reading ``env_prefix`` variables.
        overrides: keyword arguments; they win over the environment.
        what: the exporter, as in ``"Splunk HEC exporter"``.
        env_prefix: the environment prefix, e.g. ``"FAPILOG_SPLUNK_"``.
        show_input: whether a field's offending input may be echoed back (never for
            a field that can hold a secret).
        hints: per field, text appended to its error line.

    Returns:
        The validated options.

    Raises:
        ConfigError: an unknown keyword, or a missing or invalid value; the message
            names the keyword argument or environment variable and the fix. It has
            no chained ``ValidationError`` (that one would hold the inputs).
    """
    unknown = sorted(set(overrides) - set(model.model_fields))
    if unknown:
        raise ConfigError(
            f"unknown {what} option(s) {', '.join(unknown)}; "
            f"known options: {', '.join(model.model_fields)}"
        )
    try:
        return model(**overrides)
    except ValidationError as exc:
        message = explain_invalid(
            f"invalid {what} configuration:",
            exc,
            env_prefix=env_prefix,
            overrides=overrides,
            show_input=show_input,
            hints=hints,
        )
    # Raised outside the handler: the ValidationError (whose errors() keep every
    # input, secrets included) is not chained to the ConfigError as its context.
    raise ConfigError(message)


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
