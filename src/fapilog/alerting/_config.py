"""``load_rules``: alert rules and notifiers from a TOML or JSON file."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fapilog.alerting._notifiers import Notifier, SlackNotifier, WebhookNotifier
from fapilog.alerting._rules import AlertRule
from fapilog.plugin import ConfigError, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["AlertConfig", "load_rules"]

_NOTIFIER_TYPES: dict[str, type[Notifier]] = {"webhook": WebhookNotifier, "slack": SlackNotifier}
_NOTIFIER_KEYS = (
    "name",
    "type",
    "url",
    "url_env",
    "headers_env",
    "timeout",
    "give_up_after",
    "max_pending",
    "retry",
    "blocks",
)
_RETRY_KEYS = ("initial_backoff", "max_backoff", "multiplier", "jitter", "max_attempts")
_RULE_KEYS = tuple(f.name for f in dataclasses.fields(AlertRule))


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """What a rules file holds.

    Attributes:
        rules: the rules, in file order.
        notifiers: the notifiers, in file order.
    """

    rules: tuple[AlertRule, ...]
    notifiers: tuple[Notifier, ...]


def load_rules(path: str | os.PathLike[str]) -> AlertConfig:
    """Read alert rules and notifiers from a TOML (``.toml``) or JSON (``.json``) file.

    The file has two arrays of tables, ``rules`` and ``notifiers`` (see
    docs/alerting.md for every field). A notifier's URL comes from the environment
    variable ``url_env`` names (recommended: the URL is a credential) or from
    ``url``; header values only from variables (``headers_env``).

    Args:
        path: the file.

    Returns:
        The rules and notifiers, validated (notifier names unique, every rule's
        ``notify`` naming a notifier).

    Raises:
        ConfigError: the file cannot be read or parsed, or an entry is invalid; the
            message names the file, the entry (``rules[2] 'errors'``) and the field,
            never a URL or header value.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise _error(file, f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise _error(file, "is not UTF-8 text") from None
    suffix = file.suffix.lower()
    data: Any
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _error(file, f"is not valid TOML: {exc}") from None
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _error(
                file, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
    else:
        raise _error(file, "must end in .toml or .json (the format is chosen by the suffix)")
    if not isinstance(data, dict):
        raise _error(file, "must hold a table with 'rules' and 'notifiers'")
    unknown = sorted(set(data) - {"rules", "notifiers"})
    if unknown:
        raise _error(
            file, f"unknown key(s) {', '.join(map(repr, unknown))}; known: rules, notifiers"
        )
    raw_notifiers = _array(file, data, "notifiers")
    raw_rules = _array(file, data, "rules")
    if not raw_rules:
        raise _error(file, "has no rules: add at least one [[rules]] table")
    if not raw_notifiers:
        raise _error(file, "has no notifiers: add at least one [[notifiers]] table")
    notifiers = tuple(_notifier(file, i, entry) for i, entry in enumerate(raw_notifiers))
    names: set[str] = set()
    for i, notifier in enumerate(notifiers):
        if notifier.name in names:
            raise _error(file, f"notifiers[{i}] {notifier.name!r}: name: used twice")
        names.add(notifier.name)
    rules: list[AlertRule] = []
    for i, entry in enumerate(raw_rules):
        rule = _rule(file, i, entry)
        if any(r.name == rule.name for r in rules):
            raise _error(file, f"rules[{i}] {rule.name!r}: name: used twice")
        unknown_targets = [n for n in rule.notify if n not in names]
        if unknown_targets:
            raise _error(
                file,
                f"rules[{i}] {rule.name!r}: notify: no notifier named "
                f"{', '.join(map(repr, unknown_targets))}; known: {', '.join(sorted(names))}",
            )
        rules.append(rule)
    return AlertConfig(rules=tuple(rules), notifiers=notifiers)


def _error(file: Path, problem: str) -> ConfigError:
    return ConfigError(f"alert rules file {str(file)!r}: {problem}", fields=("alert_rules",))


def _array(file: Path, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _error(file, f"{key}: must be an array of tables ([[{key}]] in TOML)")
    return value


def _entry_name(entry: Mapping[str, Any]) -> str:
    name = entry.get("name")
    return f" {name!r}" if isinstance(name, str) else ""


def _rule(file: Path, index: int, entry: Any) -> AlertRule:
    where = f"rules[{index}]"
    if not isinstance(entry, dict):
        raise _error(file, f"{where}: must be a table, got {type(entry).__name__}")
    where += _entry_name(entry)
    unknown = sorted(set(entry) - set(_RULE_KEYS))
    if unknown:
        raise _error(
            file,
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(_RULE_KEYS)}",
        )
    if "name" not in entry:
        raise _error(file, f"{where}: name: missing")
    if "threshold" not in entry:
        raise _error(file, f"{where}: threshold: missing")
    try:
        return AlertRule(**entry)
    except ConfigError as exc:
        # "alert rule 'x': field: problem" -> "rules[i] 'x': field: problem"
        text = str(exc)
        _, sep, rest = text.partition(": ")
        raise _error(file, f"{where}: {rest if sep else text}") from None


def _notifier(file: Path, index: int, entry: Any) -> Notifier:
    where = f"notifiers[{index}]"
    if not isinstance(entry, dict):
        raise _error(file, f"{where}: must be a table, got {type(entry).__name__}")
    where += _entry_name(entry)
    unknown = sorted(set(entry) - set(_NOTIFIER_KEYS))
    if unknown:
        raise _error(
            file,
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(_NOTIFIER_KEYS)}",
        )
    kind = entry.get("type")
    cls = _NOTIFIER_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise _error(
            file, f"{where}: type: must be one of {', '.join(_NOTIFIER_TYPES)}, got {kind!r}"
        )
    url = _url(file, where, entry)
    options: dict[str, Any] = {}
    if "name" in entry:
        options["name"] = entry["name"]
    for key in ("timeout", "give_up_after", "max_pending"):
        if key in entry:
            options[key] = entry[key]
    if "blocks" in entry:
        if cls is not SlackNotifier:
            raise _error(file, f"{where}: blocks: only a slack notifier takes it")
        options["blocks"] = entry["blocks"]
    if "headers_env" in entry:
        options["headers"] = _headers(file, where, entry["headers_env"])
    if "retry" in entry:
        options["retry"] = _retry(file, where, entry["retry"])
    try:
        return cls(url, **options)
    except ConfigError as exc:
        text = str(exc)
        _, sep, rest = text.partition(": ")
        raise _error(file, f"{where}: {rest if sep else text}") from None


def _url(file: Path, where: str, entry: Mapping[str, Any]) -> str:
    if ("url" in entry) == ("url_env" in entry):
        raise _error(
            file,
            f"{where}: url_env: give exactly one of url_env (the environment variable "
            "holding the URL, recommended) or url",
        )
    if "url" in entry:
        url = entry["url"]
        if not isinstance(url, str):
            raise _error(file, f"{where}: url: must be a string")
        return url
    variable = entry["url_env"]
    if not isinstance(variable, str) or not variable:
        raise _error(file, f"{where}: url_env: must name an environment variable")
    value = os.environ.get(variable)
    if not value:
        raise _error(file, f"{where}: url_env: the environment variable {variable} is not set")
    return value


def _headers(file: Path, where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _error(file, f"{where}: headers_env: must be a table of header names to variables")
    out: dict[str, str] = {}
    for header, variable in value.items():
        if not isinstance(variable, str) or not variable:
            raise _error(file, f"{where}: headers_env.{header}: must name an environment variable")
        plain = os.environ.get(variable)
        if not plain:
            raise _error(
                file,
                f"{where}: headers_env.{header}: the environment variable {variable} is not set",
            )
        out[header] = plain
    return out


def _retry(file: Path, where: str, value: Any) -> RetryPolicy:
    if not isinstance(value, dict):
        raise _error(file, f"{where}: retry: must be a table ({', '.join(_RETRY_KEYS)})")
    unknown = sorted(set(value) - set(_RETRY_KEYS))
    if unknown:
        raise _error(
            file,
            f"{where}: retry: unknown field(s) {', '.join(unknown)}; "
            f"known: {', '.join(_RETRY_KEYS)}",
        )
    try:
        return RetryPolicy(**value)
    except (TypeError, ValueError) as exc:
        raise _error(file, f"{where}: retry: {str(exc).removeprefix('RetryPolicy: ')}") from None
