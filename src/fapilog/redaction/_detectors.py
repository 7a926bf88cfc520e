"""The default rule set: secret-named keys and value detectors with checksums.

Every pattern is linear-time in practice: no nested unbounded quantifiers, every
repetition bounded, and a cheap prefilter (a digit, ``@``, ``eyJ``...) in front.
"""

from __future__ import annotations

from fapilog.redaction._rules import KeyRule, PatternRule

__all__ = [
    "DEFAULT_KEY_RULE",
    "DEFAULT_PATTERN_RULES",
    "DEFAULT_RULES",
    "iban_valid",
    "luhn_valid",
]


def luhn_valid(text: str) -> bool:
    """True if the digits of ``text`` form a plausible payment card number.

    13-19 digits, a leading digit 2-6 (the card networks' ranges; this keeps
    epoch-millisecond timestamps and most order ids out) and a valid Luhn check.
    """
    digits = [int(c) for c in text if c.isdigit()]
    if not 13 <= len(digits) <= 19 or not 2 <= digits[0] <= 6:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """True if ``text`` (spaces allowed) passes the ISO 13616 mod-97 check."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _secret_looking(text: str) -> bool:
    """A 40-character token counts as an AWS-style secret only with mixed classes.

    Git SHAs and hex digests (lower-case hex) are left alone.
    """
    has_upper = any(c.isupper() for c in text)
    has_lower = any(c.islower() for c in text)
    has_digit = any(c.isdigit() for c in text)
    return has_upper and has_lower and (has_digit or "/" in text or "+" in text)


#: Key words whose values are always secret (matched as words, any separator/case).
DEFAULT_KEY_RULE = KeyRule(
    name="secret_key",
    terms=(
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "secrets",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "api_key",
        "apikey",
        "authorization",
        "auth_token",
        "cookie",
        "cookies",
        "set_cookie",
        "session",
        "sessionid",
        "private_key",
        "privatekey",
        "credential",
        "credentials",
        "ssn",
        "credit_card",
        "creditcard",
        "card_number",
        "cardnumber",
        "pan",
        "cvv",
        "cvc",
        "cvv2",
        "signature",
        "connection_string",
    ),
)

_B64 = "A-Za-z0-9+/"
_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

DEFAULT_PATTERN_RULES: tuple[PatternRule, ...] = (
    PatternRule(
        name="pem_private_key",
        trigger_chars="-",
        pattern=(
            r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY-----"
            r"(?:[\s\S]{0,16384}?-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY-----|[\s\S]{0,16384})"
        ),
        prefilter="PRIVATE KEY",
        min_length=30,
    ),
    PatternRule(
        name="url_credentials",
        trigger_chars=":",
        pattern=r"[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s/:@]{0,256}:(?P<secret>[^\s/@]{1,256})@",
        prefilter="://",
        min_length=10,
    ),
    PatternRule(
        name="jwt",
        trigger_chars=".",
        pattern=r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,4096}\.eyJ[A-Za-z0-9_-]{2,16384}\.[A-Za-z0-9_-]{0,4096}",
        prefilter="eyJ",
        min_length=20,
    ),
    PatternRule(
        name="bearer_token",
        trigger_chars="Bb",
        pattern=r"(?i:\bbearer)[ \t]{1,10}(?P<secret>[A-Za-z0-9._~+/=-]{8,4096})",
        prefilter="(?i:bearer)",
        min_length=15,
    ),
    PatternRule(
        name="secret_assignment",
        trigger_chars="=:",
        pattern=(
            r"(?i:(?<![A-Za-z0-9])(?:passw(?:or)?d|pwd|secret|token|api[_-]?key"
            r"|private[_-]?key|client[_-]?secret|credentials?|access[_-]?key))"
            r"[\"']?[ \t]{0,3}[=:][ \t]{0,3}[\"']?(?P<secret>[^\s&,;\"'}]{1,512})"
        ),
        prefilter=r"[=:]",
        min_length=5,
    ),
    PatternRule(
        name="aws_access_key_id",
        trigger_chars="A",
        pattern=r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])",
        prefilter="A[KSBC][IC]A",
        min_length=20,
    ),
    PatternRule(
        name="gcp_api_key",
        trigger_chars="A",
        pattern=r"(?<![0-9A-Za-z_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])",
        prefilter="AIza",
        min_length=39,
    ),
    PatternRule(
        name="azure_storage_key",
        trigger_chars="=",
        pattern=(
            r"(?i:(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig)=)"
            rf"(?P<secret>[{_B64}%=-]{{16,512}})"
        ),
        prefilter="(?i:key|signature|sig)=",
        min_length=20,
    ),
    PatternRule(
        name="azure_storage_key",
        trigger_chars="=",
        pattern=rf"(?<![{_B64}])[{_B64}]{{86}}==(?![{_B64}=])",
        prefilter=rf"[{_B64}]{{86}}==",
        min_length=88,
    ),
    PatternRule(
        name="aws_secret_key",
        trigger_chars=_DIGITS + "/+",
        pattern=rf"(?<![{_B64}=])[{_B64}]{{40}}(?![{_B64}=])",
        validate=_secret_looking,
        prefilter=rf"[{_B64}]{{40}}",
        min_length=40,
    ),
    PatternRule(
        name="email",
        trigger_chars="@",
        pattern=(
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@"
            r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}"
        ),
        prefilter="@",
        min_length=6,
    ),
    PatternRule(
        name="credit_card",
        min_digits=13,
        trigger_chars=_DIGITS,
        pattern=r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w.-])",
        action="partial",
        prefilter=r"\d{4}",
        min_length=13,
        validate=luhn_valid,
    ),
    PatternRule(
        name="iban",
        min_digits=2,
        trigger_chars=_UPPER,
        pattern=(
            r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
            r"(?![A-Za-z0-9])"
        ),
        prefilter=r"[A-Z]{2}\d\d",
        min_length=15,
        validate=iban_valid,
    ),
    PatternRule(
        name="ssn",
        min_digits=9,
        trigger_chars="-",
        pattern=r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])",
        prefilter=r"\d-\d",
        min_length=11,
    ),
    PatternRule(
        name="phone",
        min_digits=7,
        trigger_chars=" .-+(",
        pattern=(
            r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])"
            r"|(?<![\w+])\+\d{8,15}(?![\w-])"
        ),
        prefilter=r"\d{3}",
        min_length=10,
    ),
)
"""Value detectors, in the order they run (URL credentials before email, etc.)."""

#: Everything :class:`~fapilog.redaction.RedactionProcessor` applies by default.
DEFAULT_RULES: tuple[KeyRule | PatternRule, ...] = (DEFAULT_KEY_RULE, *DEFAULT_PATTERN_RULES)
