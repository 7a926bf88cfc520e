"""Validating an exporter's options model from keyword arguments over its environment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from fapilog._validation import check_known, explain
from fapilog.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["build_options"]

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
    check_known(overrides, list(model.model_fields), what=what)

    def variable(name: str) -> str:
        return f"{env_prefix}{name.upper()}"

    try:
        return model(**overrides)
    except ValidationError as exc:
        message, _ = explain(
            f"invalid {what} configuration:",
            exc,
            fields=model.model_fields,
            source=lambda name: f"{name}= argument" if name in overrides else variable(name),
            show_input=show_input,
            hints=hints,
            env_variable=variable,
        )
    # Raised outside the handler: the ValidationError (whose errors() keep every
    # input, secrets included) is not chained to the ConfigError as its context.
    raise ConfigError(message)
