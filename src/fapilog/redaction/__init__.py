"""Redaction: secrets and personal data masked on the worker, before any exporter.

On by default (``FAPILOG_REDACTION=false`` turns it off). See ``docs/redaction.md``.
"""

from __future__ import annotations

from fapilog.redaction._detectors import (
    CONTEXT_KEY_RULE,
    CREDENTIAL_CONTEXTS,
    DEFAULT_KEY_RULE,
    DEFAULT_PATTERN_RULES,
    DEFAULT_RULES,
    iban_valid,
    luhn_valid,
)
from fapilog.redaction._processor import MASK, REDACTED_ATTRIBUTE, TRUNCATED, RedactionProcessor
from fapilog.redaction._rules import Action, KeyRule, PatternRule, normalize_key

__all__ = [
    "CONTEXT_KEY_RULE",
    "CREDENTIAL_CONTEXTS",
    "DEFAULT_KEY_RULE",
    "DEFAULT_PATTERN_RULES",
    "DEFAULT_RULES",
    "MASK",
    "REDACTED_ATTRIBUTE",
    "TRUNCATED",
    "Action",
    "KeyRule",
    "PatternRule",
    "RedactionProcessor",
    "iban_valid",
    "luhn_valid",
    "normalize_key",
]
