"""Rule types: what to look for (a key name or a value pattern) and what to do with it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Action", "KeyRule", "PatternRule", "normalize_key"]

Action = Literal["mask", "partial", "hash", "drop"]
"""What a rule does to a match.

* ``mask``: replace with ``[REDACTED]``.
* ``partial``: keep the last ``keep_last`` letters/digits, star the others (a card
  ``4111 1111 1111 1111`` becomes ``**** **** **** 1111``).
* ``hash``: replace with ``hmac:<16 hex>``, an HMAC-SHA256 under the processor's key,
  so equal values stay correlatable without being readable. Without a key: ``mask``.
* ``drop``: remove the field (key rules) or the whole value holding the match
  (pattern rules); a string body becomes ``[REDACTED]``.
"""

_CAMEL_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_ACRONYM = re.compile(r"([A-Z]{1,64})([A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]{1,64}")


def normalize_key(key: str) -> str:
    """Reduce a key to lower-case words joined by ``_``, framed by ``_``.

    ``API-Key``, ``apiKey``, ``x_api_key`` and ``http.header.Api_Key`` all contain
    ``_api_key_`` afterwards, so a rule term matches whole words at any position.

    Args:
        key: an attribute or map key as logged.

    Returns:
        The normalised form, e.g. ``"_x_api_key_"``.
    """
    key = key[:256]
    key = _CAMEL_ACRONYM.sub(r"\1_\2", key)
    key = _CAMEL_LOWER_UPPER.sub(r"\1_\2", key)
    return "_" + _NON_ALNUM.sub("_", key.lower()).strip("_") + "_"


@dataclass(frozen=True)
class KeyRule:
    """Redacts the value under any key whose name contains one of ``terms`` as words.

    Matching is case-insensitive and ignores separators and camelCase: the term
    ``api_key`` matches ``API-Key``, ``apiKey``, ``x_api_key`` and
    ``headers.Api-Key``, at any nesting depth; ``ssn`` does not match ``classname``.

    A rule with ``contexts`` is *context-aware*: it applies only to a key that
    itself holds one of those words (``stripe_key``) or that sits, at any depth,
    under a key that does (``{"stripe": {"key": ...}}``). Generic words such as
    ``key`` are secret only in such a context.

    Attributes:
        name: the rule name reported in ``fapilog.redacted``.
        terms: key words, written lower-case with ``_`` between words.
        action: what to do with the value (see :data:`Action`).
        keep_last: characters kept by the ``partial`` action.
        contexts: words naming a credential context (``stripe``, ``aws``...); empty
            means the rule applies everywhere.
    """

    name: str
    terms: tuple[str, ...]
    action: Action = "mask"
    keep_last: int = 4
    contexts: tuple[str, ...] = ()

    def matches(self, normalized_key: str) -> bool:
        """True if ``normalized_key`` (from :func:`normalize_key`) holds a term."""
        return any(f"_{term}_" in normalized_key for term in self.terms)

    def names_context(self, normalized_key: str) -> bool:
        """True if ``normalized_key`` holds one of the :attr:`contexts` words."""
        return any(f"_{word}_" in normalized_key for word in self.contexts)


@dataclass(frozen=True)
class PatternRule:
    """Finds secrets inside string values with a bounded, backtracking-safe regex.

    The gates run cheapest first: ``min_length``, ``trigger_chars`` (one pass in
    C for all rules), ``min_digits``, ``needles`` and ``context`` (plain substring
    tests on the lower-cased string), ``prefilter``; only then ``pattern``.

    Attributes:
        name: the rule name reported in ``fapilog.redacted``.
        pattern: the regex. If it has a group named ``secret``, only that group is
            replaced (``Bearer [REDACTED]``); otherwise the whole match is.
        action: what to do with a match (see :data:`Action`).
        prefilter: a cheap regex that must match somewhere before ``pattern`` runs
            (e.g. ``r"\\d{3}"``); ``None`` runs ``pattern`` on every string. Use
            scoped flags (``(?i:bearer)``), not global ones.
        trigger_chars: characters of which at least one must occur in a string for
            the rule to run (e.g. the digits for card numbers); checked in C before
            any regex, it is what keeps ordinary text cheap. ``""`` means always run.
        min_length: strings shorter than this are skipped.
        min_digits: strings with fewer decimal digits than this are skipped (a card
            number has at least 13).
        validate: a check on the matched text (e.g. Luhn); a match it rejects is
            left alone.
        keep_last: characters kept by the ``partial`` action.
        flags: regex flags for ``pattern``.
        needles: lower-case substrings of which at least one must occur in the
            lower-cased string (``("bearer",)``); plain substring search, far
            cheaper than a case-insensitive regex. Empty: no such gate.
        context: lower-case substrings that make a match credible: the rule runs
            only where one occurs in the lower-cased string, or where the string
            sits under a key naming a credential context (see
            :attr:`KeyRule.contexts`). This is how a bare 40-character string counts
            as an AWS secret only next to ``aws`` or an ``AKIA`` id. Empty: the rule
            needs no context.
        label: names a match in ``fapilog.redacted`` instead of ``name`` (one rule
            for many services reports ``github_token``, ``stripe_key``...).
    """

    name: str
    pattern: str
    action: Action = "mask"
    prefilter: str | None = None
    trigger_chars: str = ""
    min_length: int = 1
    min_digits: int = 0
    validate: Callable[[str], bool] | None = None
    keep_last: int = 4
    flags: int = 0
    needles: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    label: Callable[[str], str] | None = None
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    compiled_prefilter: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    triggers: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.pattern, self.flags))
        pre = re.compile(self.prefilter) if self.prefilter is not None else None
        object.__setattr__(self, "compiled_prefilter", pre)
        object.__setattr__(self, "triggers", frozenset(self.trigger_chars))
