"""One way to turn a pydantic ``ValidationError`` into a readable :class:`ConfigError` text.

Used by the settings (:mod:`fapilog.config`), the OTLP exporter's options and every
options model built with :func:`fapilog.exporters._options_util.build_options`. Each
caller says how to name where a value came from (a keyword argument, an environment
variable) and which inputs may be echoed back; a field that can hold a secret never
has its input shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fapilog.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from pydantic import ValidationError

__all__ = ["check_known", "explain"]


def explain(
    title: str,
    exc: ValidationError,
    *,
    fields: Collection[str],
    source: Callable[[str], str],
    show_input: Callable[[str], bool],
    hints: Mapping[str, str] | None = None,
    env_variable: Callable[[str], str | None] | None = None,
    special: Mapping[str, Callable[[Mapping[str, Any]], tuple[str, Collection[str]]]] | None = None,
    noun: str = "option",
) -> tuple[str, list[str]]:
    """Describe every error of ``exc`` on its own line, naming what to fix.

    Args:
        title: the first line, e.g. ``"invalid OTLP exporter configuration:"``.
        exc: the validation error of a model whose fields are ``fields``.
        fields: the model's field names; an error on another name (an unknown keyword)
            is reported with the known ones.
        source: names where a field's value came from: ``"timeout= argument"``, an
            environment variable such as ``"FAPILOG_LEVEL"``.
        show_input: whether the offending input of a field may be echoed back; it
            must be False for every field that can hold a secret.
        hints: per field, text appended to its line (e.g. ``"; use gzip or none"``).
        env_variable: the environment variable of a field, for a required field that
            is missing (``"FAPILOG_SPLUNK_TOKEN is not set: ..."``).
        special: per error type, a formatter of the whole line from the error's
            ``ctx`` (e.g. a check that involves two fields).
        noun: what a field is called in the unknown-name line (``"setting"``).

    Returns:
        The message (title, then ``"  - "`` lines) and the fields at fault, each once,
        in the order of the errors.
    """
    hints = hints or {}
    special = special or {}
    lines = [title]
    at_fault: list[str] = []
    for error in exc.errors():
        kind = str(error["type"])
        formatter = special.get(kind)
        if formatter is not None:
            line, names = formatter(error.get("ctx") or {})
            lines.append(f"  - {line}")
            at_fault += names
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:
            lines.append(f"  - {message}")
            continue
        name = str(error["loc"][0])
        if name not in fields:
            known = ", ".join(sorted(fields))
            lines.append(f"  - {name!r} is not a {noun}; known {noun}s: {known}")
            continue
        at_fault.append(name)
        hint = hints.get(name, "")
        if kind == "missing":
            variable = env_variable(name) if env_variable is not None else None
            if variable is not None:
                lines.append(
                    f"  - {variable} is not set: set {variable} or pass {name}= "
                    f"(it is required){hint}"
                )
            else:
                lines.append(f"  - {name}= is required (it has no default){hint}")
            continue
        got = f" (got {error['input']!r})" if "input" in error and show_input(name) else ""
        lines.append(f"  - {source(name)}: {message}{got}{hint}")
    return "\n".join(lines), list(dict.fromkeys(at_fault))


def check_known(given: Collection[str], known: Collection[str], *, what: str) -> None:
    """Reject keyword options ``what`` does not have, listing the ones it has.

    Args:
        given: the option names passed.
        known: the option names ``what`` accepts, in the order to list them.
        what: the thing configured, as in ``"OTLP exporter"``.

    Raises:
        ConfigError: some names are unknown: ``"unknown OTLP exporter option(s) x;
            known options: ..."``.
    """
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown {what} option(s) {', '.join(unknown)}; known options: {', '.join(known)}"
        )
