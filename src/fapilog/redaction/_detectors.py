"""The default rule set: secret-named keys, credential detectors, personal data.

Every pattern is linear-time in practice: no nested unbounded quantifiers, every
repetition bounded, and cheap gates (trigger characters, substrings, a digit
count) in front. The credential detectors live in ``_credentials.py``.
"""

from __future__ import annotations

from fapilog.redaction._credentials import CREDENTIAL_PATTERN_RULES
from fapilog.redaction._rules import KeyRule, PatternRule

__all__ = [
    "CONTEXT_KEY_RULE",
    "CREDENTIAL_CONTEXTS",
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
        "access_key",
        "account_key",
        "auth_key",
        "client_key",
        "encryption_key",
        "master_key",
        "signing_key",
        "passcode",
        "otp",
        "jwt",
    ),
)

#: Key or parent-key words that name a credential context (a service or an auth scheme).
CREDENTIAL_CONTEXTS: tuple[str, ...] = (
    "aws",
    "gcp",
    "google",
    "azure",
    "stripe",
    "paypal",
    "braintree",
    "adyen",
    "square",
    "razorpay",
    "plaid",
    "klarna",
    "payment",
    "payments",
    "twilio",
    "sendgrid",
    "mailgun",
    "mailchimp",
    "github",
    "gitlab",
    "bitbucket",
    "slack",
    "discord",
    "telegram",
    "openai",
    "anthropic",
    "huggingface",
    "npm",
    "pypi",
    "docker",
    "heroku",
    "datadog",
    "sentry",
    "okta",
    "auth0",
    "firebase",
    "vault",
    "oauth",
    "oauth2",
    "auth",
    "authentication",
    "credential",
    "credentials",
    "secret",
    "secrets",
    "api",
    "jwt",
    "hmac",
    "webhook",
    "signing",
    "encryption",
    "ssh",
)

#: Generic key words that are secret only in a credential context: ``key`` under
#: ``stripe`` (``{"stripe": {"key": ...}}``) or in ``stripe_key``; ``id`` is not
#: among them (client, key and account ids identify, they do not authenticate).
CONTEXT_KEY_RULE = KeyRule(
    name="credential_key",
    terms=("key", "keys", "sig", "pass", "pw", "pin"),
    contexts=CREDENTIAL_CONTEXTS,
)

_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

DEFAULT_PATTERN_RULES: tuple[PatternRule, ...] = (
    *CREDENTIAL_PATTERN_RULES,
    PatternRule(
        name="email",
        trigger_chars="@",
        pattern=(
            # the top-level domain is letters: "left-pad@1.3.0" is a package, not a mailbox
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@"
            r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,7}\.[A-Za-z]{2,63}(?![A-Za-z0-9-])"
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
"""Value detectors, in the order they run: credentials first (URL credentials before
email, service tokens before the generic ones), then personal data."""

#: Everything :class:`~fapilog.redaction.RedactionProcessor` applies by default.
DEFAULT_RULES: tuple[KeyRule | PatternRule, ...] = (
    DEFAULT_KEY_RULE,
    CONTEXT_KEY_RULE,
    *DEFAULT_PATTERN_RULES,
)
