"""RedactionProcessor: masks secrets in values, keys, names, JSON strings and exceptions."""

from __future__ import annotations

import bisect
import collections
import copy
import functools
import json
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fapilog.processors._base import Processor
from fapilog.redaction._detectors import DEFAULT_RULES
from fapilog.redaction._rules import KeyRule, PatternRule, normalize_key
from fapilog.redaction._secret import HmacKey

if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterable

    from pydantic import SecretBytes, SecretStr

    from fapilog._event import LogEvent
    from fapilog.redaction._rules import Action

try:  # read by the compiled build; a pure install may not have mypy_extensions
    from mypy_extensions import mypyc_attr
except ImportError:  # pragma: no cover - depends on the environment

    def mypyc_attr(*args: Any, **kwargs: Any) -> Callable[[type], type]:  # type: ignore[misc]
        return lambda cls: cls


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
_NO_KEY_RULE: tuple[KeyRule | None, KeyRule | None, bool] = (None, None, False)

# What the walk knows of a key: the key rule that applies outside a credential
# context, the one that applies inside, and whether the key names such a context.
_KeyInfo = tuple["KeyRule | None", "KeyRule | None", bool]


# A regular Python class when compiled too (its methods are still compiled): a native
# class has no __dict__, which its copy, pickling and secret-hiding protocol rely on.
@mypyc_attr(native_class=False)
class RedactionProcessor(Processor):
    """Redacts secrets and personal data before any exporter or user processor sees them.

    Runs on the pipeline worker. Key rules redact the value under secret-named keys
    at any depth (context-aware ones only under a key naming a credential context,
    such as ``key`` under ``stripe``); pattern rules find secrets inside strings
    (the body, attribute values, nested maps and lists, strings holding JSON,
    ``exception.message`` and ``exception.stacktrace``) and inside the names around
    them: attribute and map keys at any depth, the event name and the logger
    (instrumentation scope) name. A key holding a secret is replaced by its redacted
    text (``[REDACTED]``, then ``[REDACTED]#2``... when that key is taken), and its
    value is redacted as any other. The names of the rules that fired (never the
    values) are listed in the ``fapilog.redacted`` attribute.

    Fails closed: a string longer than ``max_scan_bytes`` characters is cut there
    (and marked ``[TRUNCATED]``); a value the processor cannot handle is dropped
    and counted in :attr:`failures`, never passed through.

    The HMAC key is held as a keyed MAC state (:class:`HmacKey`), never as bytes or
    text: no ``repr``, ``vars()`` value or error shows it, and a pickled processor
    leaves it behind (after unpickling, ``hash`` masks, as without a key).

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

    api_version = "1.0"  # the fapilog.plugin API it is written for

    #: Never grows an event much, so the pipeline keeps the size it estimated when
    #: the event was built (see :attr:`Processor.keeps_size`).
    keeps_size = True

    def __init__(
        self,
        rules: Iterable[KeyRule | PatternRule] = DEFAULT_RULES,
        *,
        hmac_key: SecretStr | SecretBytes | str | bytes | None = None,
        allow_keys: Iterable[str] | None = None,
        max_scan_bytes: int = 65536,
    ) -> None:
        rules = tuple(rules)
        self.key_rules = tuple(r for r in rules if isinstance(r, KeyRule))
        self.pattern_rules = tuple(r for r in rules if isinstance(r, PatternRule))
        self._hmac = HmacKey.from_secret(hmac_key)
        # Words naming a credential context, from every context-aware key rule.
        self._contexts = tuple(sorted({w for r in self.key_rules for w in r.contexts}))
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
        self._key_cache: dict[str, _KeyInfo] = {}  # only keys holding no secret
        self._clean: set[str] = set()  # strings known to hold nothing to redact
        self._candidates: dict[tuple[int, frozenset[str]], tuple[PatternRule, ...]] = {}
        self.events_redacted = 0
        self.fired: collections.Counter[str] = collections.Counter()
        self.failures = 0
        self.truncated = 0

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the HMAC key: an unpickled processor masks ``hash`` matches."""
        state = dict(self.__dict__)
        state["_hmac"] = None
        return state

    def __copy__(self) -> RedactionProcessor:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)  # in-process copies keep the (shared) key
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> RedactionProcessor:
        new = object.__new__(type(self))
        memo[id(self)] = new
        for name, value in self.__dict__.items():
            setattr(new, name, copy.deepcopy(value, memo))
        return new

    # -- public helpers --------------------------------------------------------------

    def redact_value(self, value: Any, fired: set[str] | None = None) -> Any:
        """Redact one value (string, number, map, list) as an attribute value would be.

        Args:
            value: the value.
            fired: a set the names of the rules that fired are added to.

        Returns:
            The redacted value, or ``None`` when a rule dropped it.
        """
        out = self._value(value, set() if fired is None else fired, 0, False)
        return None if out is _DROP else out

    def redact_text(self, text: str, fired: set[str] | None = None) -> str:
        """Redact one string with every pattern rule, context-dependent ones included.

        What fapilog's own diagnostics pass through before they reach stderr: a
        string in which the context-dependent rules (the AWS secret key) run as if
        it sat under a credential key.

        Args:
            text: the text.
            fired: a set the names of the rules that fired are added to.

        Returns:
            The redacted text (``[REDACTED]`` when a ``drop`` rule fired).
        """
        out = self._string(text, set() if fired is None else fired, True)
        return MASK if out is _DROP else str(out)

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
            new = self._map(attributes, fired, 0, False)
            if new is not attributes:
                attributes.clear()
                attributes.update(new)
        min_length = self._min_length
        name = event.event_name
        if name and len(name) >= min_length and name not in self._clean:
            out = self._string(name, fired, False)
            if out is not name:
                event.event_name = MASK if out is _DROP else str(out)
        scope = event.instrumentation_scope
        if scope is not None:
            name = scope.name
            if name and len(name) >= min_length and name not in self._clean:
                out = self._string(name, fired, False)
                if out is not name:
                    event.instrumentation_scope = InstrumentationScope(
                        MASK if out is _DROP else str(out),
                        scope.version,
                        scope.schema_url,
                        scope.attributes,
                    )
        body = event.body
        if type(body) is str:
            if len(body) >= self._min_length and body not in self._clean:
                out = self._string(body, fired, False)
                event.body = MASK if out is _DROP else out
        elif body is not None and not isinstance(body, (bool, float)):
            out = self._value(body, fired, 0, False)
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

    def _inspect_key(self, key: Any, fired: set[str]) -> tuple[_KeyInfo, str | None]:
        """What the walk needs to know of ``key``, and its redacted text if it holds a secret.

        Keys without a secret are cached; a key holding one is not (the cache must
        never keep a secret).
        """
        text = key if type(key) is str else str(key)
        info = _NO_KEY_RULE
        if self.key_rules:
            normalized = normalize_key(text)
            names_context = any(f"_{w}_" in normalized for w in self._contexts)
            plain: KeyRule | None = None
            in_context: KeyRule | None = None
            for rule in self.key_rules:
                if not rule.matches(normalized):
                    continue
                if in_context is None:
                    in_context = rule
                if plain is None and (not rule.contexts or names_context):
                    plain = rule
                if plain is not None:
                    break
            info = (plain, in_context, names_context)
        new_key: str | None = None
        if self.pattern_rules and len(text) >= self._min_length:
            found: set[str] = set()
            out = self._string(text, found, False)
            if out is not text:
                new_key = MASK if out is _DROP else str(out)
                fired.update(found)
        if new_key is None:
            cache = self._key_cache
            if len(cache) >= _KEY_CACHE_LIMIT:
                cache.clear()
            cache[key] = info
        return info, new_key

    def _map(
        self, mapping: dict[Any, Any], fired: set[str], depth: int, ctx: bool
    ) -> dict[Any, Any]:
        """Return ``mapping`` itself when nothing changed, else a redacted copy.

        ``ctx``: the map sits under a key naming a credential context.
        """
        changed: dict[Any, Any] | None = None
        renamed: list[tuple[Any, str]] | None = None  # (key, redacted key): rare
        key_cache = self._key_cache
        clean = self._clean
        min_length = self._min_length
        for key, value in mapping.items():
            if key == REDACTED_ATTRIBUTE:
                continue
            try:
                info = key_cache.get(key)
                if info is None:
                    info, new_key = self._inspect_key(key, fired)
                    if new_key is not None:
                        renamed = renamed or []
                        renamed.append((key, new_key))
                rule = info[1] if ctx else info[0]
                if rule is not None:
                    fired.add(rule.name)
                    out = self._act(rule.action, value, rule.keep_last)
                elif type(value) is str:  # the common case, inlined
                    if len(value) < min_length:
                        continue
                    inner = ctx or info[2]
                    if not inner and value in clean:
                        continue
                    out = self._string(value, fired, inner)
                elif type(value) is int:
                    if value < _CARD_MIN or not self.pattern_rules:
                        continue
                    out = self._value(value, fired, depth + 1, ctx or info[2])
                elif type(value) is float or type(value) is bool:
                    continue
                else:
                    out = self._value(value, fired, depth + 1, ctx or info[2])
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
        if renamed is not None:
            if changed is None:
                changed = dict(mapping)
            for key, new_key in renamed:
                if key in changed:  # not dropped
                    value = changed.pop(key)
                    changed[_free_key(new_key, changed)] = value
        return mapping if changed is None else changed

    def _value(self, value: Any, fired: set[str], depth: int, ctx: bool) -> Any:
        # ``same`` is never narrowed: compiled (mypyc), a value narrowed to int or float
        # is unboxed, and returning it would hand back a new plain int for an IntEnum.
        same: Any = value
        if isinstance(value, str):
            return self._string(value, fired, ctx) if len(value) >= self._min_length else value
        if isinstance(value, (bool, float)) or value is None:
            return same
        if isinstance(value, int):
            # A card number logged as an int is still a card number.
            if value >= _CARD_MIN and self.pattern_rules:
                text = str(value)
                out = self._string(text, fired, ctx)
                return same if out is text else out
            return same
        if depth >= _MAX_DEPTH:
            fired.add("max_depth")
            return MASK
        if isinstance(value, dict):
            return self._map(value, fired, depth, ctx)
        if isinstance(value, list):
            return self._list(value, fired, depth, ctx)
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).decode("utf-8", "replace")
            if len(text) < self._min_length:
                return value
            out = self._string(text, fired, ctx)
            return value if out is text else out
        return self._string(str(value), fired, ctx)

    def _list(self, items: list[Any], fired: set[str], depth: int, ctx: bool) -> list[Any]:
        changed: list[Any] | None = None
        for i, item in enumerate(items):
            try:
                out = self._value(item, fired, depth + 1, ctx)
            except Exception:
                self.failures += 1
                fired.add("redaction_error")
                out = _DROP
            if out is not item and changed is None:
                changed = list(items[:i])
            if changed is not None and out is not _DROP:
                changed.append(out)
        return items if changed is None else changed

    def _string(self, text: str, fired: set[str], ctx: bool) -> Any:
        """Redact one string; returns ``text`` itself when nothing fired.

        ``ctx``: the string sits under a key naming a credential context, so the
        rules that need context (see :attr:`PatternRule.context`) run on it.
        """
        clean = self._clean
        if not ctx and text in clean:
            return text
        original = text
        if len(text) > self.max_scan_bytes:
            # Fail closed: keep only what we scan, and never half a token at the cut.
            text = _cut(text, self.max_scan_bytes) + TRUNCATED
            self.truncated += 1
            fired.add("truncated")
        stripped = text.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            out = self._json_string(stripped, fired, ctx)
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
        low: str | None = None  # the lower-cased text, made when a rule needs it
        for rule in rules:
            if rule.min_digits:
                if digits < 0:
                    raw = text.encode("utf-8", "surrogatepass")
                    digits = len(raw) - len(raw.translate(None, b"0123456789"))
                if digits < rule.min_digits:
                    continue
            if rule.needles:
                if low is None:
                    low = text.lower()
                for needle in rule.needles:
                    if needle in low:
                        break
                else:
                    continue
            if rule.context and not ctx:
                if low is None:
                    low = text.lower()
                for word in rule.context:
                    if word in low:
                        break
                else:
                    continue
            pre = rule.compiled_prefilter
            if pre is not None and pre.search(text) is None:
                continue
            hits: list[str] = []
            text = rule.compiled.sub(functools.partial(self._replace, rule=rule, hits=hits), text)
            if hits:
                any_hit = True
                low = None
                fired.update(hits)
                if rule.action == "drop":
                    return _DROP
        if not any_hit and text is original and len(text) <= _CLEAN_MAX_LEN:
            # Log values repeat (paths, ids, messages): remember the clean ones.
            if len(clean) >= _CLEAN_CACHE_LIMIT:
                clean.clear()
            clean.add(text)
        return original if text == original else text

    def _json_string(self, text: str, fired: set[str], ctx: bool) -> str | None:
        """Redact a string that holds a JSON object/array; None if it does not parse."""
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
            return None
        before = len(fired)
        out = self._value(parsed, fired, 1, ctx)
        if out is parsed and len(fired) == before:
            return text
        return MASK if out is _DROP else json.dumps(out, ensure_ascii=False)

    def _replace(self, match: re.Match[str], rule: PatternRule, hits: list[str]) -> str:
        found = match.group(0)
        if rule.validate is not None and not rule.validate(found):
            return found
        hits.append(rule.name if rule.label is None else rule.label(found))
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
        if action == "hash" and self._hmac is not None:
            data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
            return f"hmac:{self._hmac.hexdigest(data)[:16]}"
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


def _free_key(key: str, taken: dict[str, Any]) -> str:
    """``key``, or ``key#2``, ``key#3``... the first not already in ``taken``."""
    if key not in taken:
        return key
    n = 2
    while f"{key}#{n}" in taken:
        n += 1
    return f"{key}#{n}"
