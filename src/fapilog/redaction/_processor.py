"""RedactionProcessor: masks secrets in keys, values, JSON strings and exceptions."""

from __future__ import annotations

import bisect
import collections
import functools
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from fapilog.processors._base import Processor
from fapilog.redaction._detectors import DEFAULT_RULES
from fapilog.redaction._rules import KeyRule, PatternRule, normalize_key

if TYPE_CHECKING:
    import re
    from collections.abc import Iterable

    from pydantic import SecretStr

    from fapilog._event import LogEvent
    from fapilog.redaction._rules import Action

__all__ = ["MASK", "REDACTED_ATTRIBUTE", "TRUNCATED", "RedactionProcessor"]

MASK = "[REDACTED]"
"""What ``mask`` puts in place of a secret."""

TRUNCATED = "[TRUNCATED]"
"""Appended where a string longer than ``max_scan_bytes`` was cut."""

REDACTED_ATTRIBUTE = "fapilog.redacted"
"""The attribute listing the names of the rules that fired on an event."""

_DROP: Any = object()  # sentinel: remove this field from its parent
_MAX_DEPTH = 32
_KEY_CACHE_LIMIT = 4096
# Always kept in allow-list mode: the exception fields (still scanned) and our own notes.
_ALWAYS_ALLOWED = ("exception.type", "exception.message", "exception.stacktrace")
_MAX_CUT_TOKEN = 4096
_CARD_MIN = 10**12  # ints below this have fewer than 13 digits: not a card number
_CLEAN_CACHE_LIMIT = 8192
_CLEAN_MAX_LEN = 256


class RedactionProcessor(Processor):
    """Redacts secrets and personal data before any exporter or user processor sees them.

    Runs on the pipeline worker. Key rules redact the value under secret-named keys
    at any depth; pattern rules find secrets inside strings (the body, attribute
    values, nested maps and lists, strings holding JSON, ``exception.message`` and
    ``exception.stacktrace``). The names of the rules that fired (never the values)
    are listed in the ``fapilog.redacted`` attribute.

    Fails closed: a string longer than ``max_scan_bytes`` characters is cut there
    (and marked ``[TRUNCATED]``); a value the processor cannot handle is dropped
    and counted in :attr:`failures`, never passed through.

    Args:
        rules: key and pattern rules, applied in order; default :data:`DEFAULT_RULES`.
        hmac_key: key for the ``hash`` action; without one, ``hash`` masks instead.
        allow_keys: if given, only these top-level attribute keys pass (a trailing
            ``*`` matches a prefix, e.g. ``"http.*"``); others are dropped and noted
            as ``allow_list``. ``exception.*`` and ``fapilog.*`` always pass.
        max_scan_bytes: longest string scanned; the rest is dropped.

    Attributes:
        events_redacted: events on which at least one rule fired.
        fired: how often each rule fired, by name.
        failures: values dropped because redacting them raised.
        truncated: strings cut at ``max_scan_bytes``.
    """

    #: Never grows an event much, so the pipeline keeps the size it estimated when
    #: the event was built (see ``_keeps_size`` in ``pipeline/_pipeline.py``).
    _fapilog_keeps_size = True

    def __init__(
        self,
        rules: Iterable[KeyRule | PatternRule] = DEFAULT_RULES,
        *,
        hmac_key: SecretStr | str | bytes | None = None,
        allow_keys: Iterable[str] | None = None,
        max_scan_bytes: int = 65536,
    ) -> None:
        rules = tuple(rules)
        self.key_rules = tuple(r for r in rules if isinstance(r, KeyRule))
        self.pattern_rules = tuple(r for r in rules if isinstance(r, PatternRule))
        self._hmac_key = _key_bytes(hmac_key)
        self.allow_keys: frozenset[str] | None = None
        self._allow_prefixes: tuple[str, ...] = ()
        if allow_keys is not None:
            keys = list(allow_keys)
            self.allow_keys = frozenset(k for k in keys if not k.endswith("*"))
            prefixes = (k[:-1] for k in keys if k.endswith("*"))
            self._allow_prefixes = ("fapilog.", *prefixes)
        self.max_scan_bytes = max_scan_bytes
        self._min_length = min((r.min_length for r in self.pattern_rules), default=1 << 30)
        self._buckets = _gates(self.pattern_rules)
        self._bucket_lengths = [length for length, _, _ in self._buckets]
        self._key_cache: dict[str, KeyRule | None] = {}
        self._clean: set[str] = set()  # strings known to hold nothing to redact
        self._candidates: dict[tuple[int, frozenset[str]], tuple[PatternRule, ...]] = {}
        self.events_redacted = 0
        self.fired: collections.Counter[str] = collections.Counter()
        self.failures = 0
        self.truncated = 0

    # -- public helpers --------------------------------------------------------------

    def redact_value(self, value: Any, fired: set[str] | None = None) -> Any:
        """Redact one value (string, number, map, list) as an attribute value would be.

        Args:
            value: the value.
            fired: a set the names of the rules that fired are added to.

        Returns:
            The redacted value, or ``None`` when a rule dropped it.
        """
        out = self._value(value, set() if fired is None else fired, 0)
        return None if out is _DROP else out

    def counts(self) -> dict[str, int]:
        """Counters for :attr:`fapilog.PipelineStats.protection` (names prefixed ``redaction.``)."""
        out = {
            "redaction.events": self.events_redacted,
            "redaction.failures": self.failures,
            "redaction.truncated": self.truncated,
        }
        for rule, n in dict(self.fired).items():  # dict() copies in one step
            out[f"redaction.rule.{rule}"] = n
        return out

    # -- Processor -------------------------------------------------------------------

    def on_emit(self, event: LogEvent) -> None:
        """Redact ``event`` in place and note which rules fired."""
        fired: set[str] = set()
        attributes = event.attributes
        if attributes:
            if self.allow_keys is not None:
                self._apply_allow_list(attributes, fired)
            new = self._map(attributes, fired, 0)
            if new is not attributes:
                attributes.clear()
                attributes.update(new)
        body = event.body
        if type(body) is str:
            if len(body) >= self._min_length and body not in self._clean:
                out = self._string(body, fired)
                event.body = MASK if out is _DROP else out
        elif body is not None and not isinstance(body, (bool, float)):
            out = self._value(body, fired, 0)
            event.body = MASK if out is _DROP else out
        if fired:
            self.events_redacted += 1
            self.fired.update(fired)
            attributes[REDACTED_ATTRIBUTE] = sorted(fired)

    # -- the walk --------------------------------------------------------------------

    def _apply_allow_list(self, attributes: dict[str, Any], fired: set[str]) -> None:
        allowed = self.allow_keys or frozenset()
        for key in list(attributes):
            if key in allowed or key in _ALWAYS_ALLOWED or key.startswith(self._allow_prefixes):
                continue
            del attributes[key]
            fired.add("allow_list")

    def _key_rule(self, key: str) -> KeyRule | None:
        cache = self._key_cache
        try:
            return cache[key]
        except KeyError:
            pass
        if not self.key_rules:
            return None
        normalized = normalize_key(key)
        rule = next((r for r in self.key_rules if r.matches(normalized)), None)
        if len(cache) < _KEY_CACHE_LIMIT:
            cache[key] = rule
        return rule

    def _map(self, mapping: dict[str, Any], fired: set[str], depth: int) -> dict[str, Any]:
        """Return ``mapping`` itself when nothing changed, else a redacted copy."""
        changed: dict[str, Any] | None = None
        key_cache = self._key_cache
        clean = self._clean
        min_length = self._min_length
        for key, value in mapping.items():
            if key == REDACTED_ATTRIBUTE:
                continue
            try:
                rule = key_cache[key] if key in key_cache else self._key_rule(key)
                if rule is not None:
                    fired.add(rule.name)
                    out = self._act(rule.action, value, rule.keep_last)
                elif type(value) is str:  # the common case, inlined
                    if len(value) < min_length or value in clean:
                        continue
                    out = self._string(value, fired)
                elif type(value) is int:
                    if value < _CARD_MIN or not self.pattern_rules:
                        continue
                    out = self._value(value, fired, depth + 1)
                elif type(value) is float or type(value) is bool:
                    continue
                else:
                    out = self._value(value, fired, depth + 1)
            except Exception:
                self.failures += 1
                fired.add("redaction_error")
                out = _DROP
            if out is not value:
                if changed is None:
                    changed = dict(mapping)
                if out is _DROP:
                    del changed[key]
                else:
                    changed[key] = out
        return mapping if changed is None else changed

    def _value(self, value: Any, fired: set[str], depth: int) -> Any:
        if isinstance(value, str):
            return self._string(value, fired) if len(value) >= self._min_length else value
        if isinstance(value, (bool, float)) or value is None:
            return value
        if isinstance(value, int):
            # A card number logged as an int is still a card number.
            if value >= _CARD_MIN and self.pattern_rules:
                text = str(value)
                out = self._string(text, fired)
                return value if out is text else out
            return value
        if depth >= _MAX_DEPTH:
            fired.add("max_depth")
            return MASK
        if isinstance(value, dict):
            return self._map(value, fired, depth)
        if isinstance(value, list):
            return self._list(value, fired, depth)
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).decode("utf-8", "replace")
            if len(text) < self._min_length:
                return value
            out = self._string(text, fired)
            return value if out is text else out
        return self._string(str(value), fired)

    def _list(self, items: list[Any], fired: set[str], depth: int) -> list[Any]:
        changed: list[Any] | None = None
        for i, item in enumerate(items):
            try:
                out = self._value(item, fired, depth + 1)
            except Exception:
                self.failures += 1
                fired.add("redaction_error")
                out = _DROP
            if out is not item and changed is None:
                changed = list(items[:i])
            if changed is not None and out is not _DROP:
                changed.append(out)
        return items if changed is None else changed

    def _string(self, text: str, fired: set[str]) -> Any:
        """Redact one string; returns ``text`` itself when nothing fired."""
        clean = self._clean
        if text in clean:
            return text
        original = text
        if len(text) > self.max_scan_bytes:
            # Fail closed: keep only what we scan, and never half a token at the cut.
            text = _cut(text, self.max_scan_bytes) + TRUNCATED
            self.truncated += 1
            fired.add("truncated")
        stripped = text.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            out = self._json_string(stripped, fired)
            if out is not None:
                return original if out is stripped else out
        # One pass in C over the trigger characters of every rule a string this long
        # can match rejects the common string (no digits, '@', ':', '='...) at once.
        index = bisect.bisect_right(self._bucket_lengths, len(text)) - 1
        if index < 0:
            return original if text is original else text
        _, gate, rules = self._buckets[index]
        if gate is not None:
            present = gate.intersection(text)  # one pass over the text, in C
            # The same few character mixes recur: remember which rules each one needs.
            candidates = self._candidates.get((index, present))
            if candidates is None:
                candidates = tuple(r for r in rules if not r.triggers.isdisjoint(present))
                if len(self._candidates) >= _KEY_CACHE_LIMIT:
                    self._candidates.clear()
                self._candidates[index, present] = candidates
            rules = candidates
        digits = -1
        any_hit = False
        for rule in rules:
            if rule.min_digits:
                if digits < 0:
                    raw = text.encode("utf-8", "surrogatepass")
                    digits = len(raw) - len(raw.translate(None, b"0123456789"))
                if digits < rule.min_digits:
                    continue
            pre = rule.compiled_prefilter
            if pre is not None and pre.search(text) is None:
                continue
            hits: list[bool] = []
            text = rule.compiled.sub(functools.partial(self._replace, rule=rule, hits=hits), text)
            if hits:
                any_hit = True
                fired.add(rule.name)
                if rule.action == "drop":
                    return _DROP
        if not any_hit and text is original and len(text) <= _CLEAN_MAX_LEN:
            # Log values repeat (paths, ids, messages): remember the clean ones.
            if len(clean) >= _CLEAN_CACHE_LIMIT:
                clean.clear()
            clean.add(text)
        return original if text == original else text

    def _json_string(self, text: str, fired: set[str]) -> str | None:
        """Redact a string that holds a JSON object/array; None if it does not parse."""
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
            return None
        before = len(fired)
        out = self._value(parsed, fired, 1)
        if out is parsed and len(fired) == before:
            return text
        return MASK if out is _DROP else json.dumps(out, ensure_ascii=False)

    def _replace(self, match: re.Match[str], rule: PatternRule, hits: list[bool]) -> str:
        found = match.group(0)
        if rule.validate is not None and not rule.validate(found):
            return found
        hits.append(True)
        if "secret" in rule.compiled.groupindex and match.group("secret") is not None:
            start, end = match.span("secret")
            base = match.start()
            secret = match.group("secret")
            replaced = self._act(rule.action, secret, rule.keep_last)
            replaced = MASK if replaced is _DROP else replaced
            return found[: start - base] + str(replaced) + found[end - base :]
        replaced = self._act(rule.action, found, rule.keep_last)
        return MASK if replaced is _DROP else str(replaced)

    def _act(self, action: Action, value: Any, keep_last: int) -> Any:
        if action == "drop":
            return _DROP
        if action == "hash" and self._hmac_key is not None:
            data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
            digest = hmac.new(self._hmac_key, data, hashlib.sha256).hexdigest()
            return f"hmac:{digest[:16]}"
        if action == "partial" and isinstance(value, (str, int)) and not isinstance(value, bool):
            return _partial(str(value), keep_last)
        return MASK


def _partial(text: str, keep_last: int) -> str:
    """Star every letter/digit but the last ``keep_last`` (separators kept)."""
    alnum = sum(c.isalnum() for c in text)
    if alnum <= keep_last * 2:  # too short to reveal any part of it
        return MASK
    keep_from = alnum - keep_last
    out = []
    seen = 0
    for c in text:
        if c.isalnum():
            out.append(c if seen >= keep_from else "*")
            seen += 1
        else:
            out.append(c)
    return "".join(out)


def _gates(
    rules: tuple[PatternRule, ...],
) -> list[tuple[int, frozenset[str] | None, tuple[PatternRule, ...]]]:
    """Per minimum length: the rules that apply and the union of their trigger chars.

    The gate is ``None`` when some applicable rule has no trigger chars (run them all).
    """
    buckets: list[tuple[int, frozenset[str] | None, tuple[PatternRule, ...]]] = []
    for length in sorted({r.min_length for r in rules}):
        applicable = tuple(r for r in rules if r.min_length <= length)
        gate: frozenset[str] | None = None
        if all(r.triggers for r in applicable):
            gate = frozenset().union(*(r.triggers for r in applicable))
        buckets.append((length, gate, applicable))
    return buckets


def _cut(text: str, limit: int) -> str:
    """The first ``limit`` characters, minus a token the cut may have split."""
    end = limit
    stop = max(0, limit - _MAX_CUT_TOKEN)
    while end > stop and not text[end - 1].isspace():
        end -= 1
    return text[:end]


def _key_bytes(key: SecretStr | str | bytes | None) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, bytes):
        return key or None
    if isinstance(key, str):
        return key.encode() or None
    return key.get_secret_value().encode() or None
