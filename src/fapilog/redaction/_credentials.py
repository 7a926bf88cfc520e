"""Credential detectors: service tokens, auth headers, connection strings, keys.

Modelled on what secret scanners (gitleaks, detect-secrets, trufflehog) look for, but
written for log lines: every pattern is anchored on a fixed prefix or a key word,
every repetition is bounded (most are possessive, so a failed match gives nothing
back), and each rule sits behind cheap gates (trigger characters, lower-case
substring ``needles``) so ordinary text never reaches its regex.

The service tokens share one rule, :data:`SERVICE_TOKENS`, whose regex branches on
the token's first character (the regex engine then skips every position whose
character starts no token); :func:`service_name` names the service of a match for
``fapilog.redacted``.
"""

from __future__ import annotations

import base64
import binascii

from fapilog.redaction._rules import PatternRule

__all__ = [
    "AUTHORIZATION_HEADER",
    "AWS_SECRET_KEY",
    "AZURE_AD_CLIENT_SECRET",
    "AZURE_SAS_OR_ACCOUNT_KEY",
    "AZURE_STORAGE_KEY",
    "BASIC_AUTH",
    "BEARER_TOKEN",
    "CLOUD_KEYS",
    "COOKIE_HEADER",
    "CREDENTIAL_PATTERN_RULES",
    "DATABRICKS_TOKEN",
    "DIGEST_AUTH",
    "DOTTED_TOKENS",
    "JDBC_CREDENTIALS",
    "JWT",
    "MAILCHIMP_KEY",
    "PEM_PRIVATE_KEY",
    "PUTTY_PRIVATE_KEY",
    "SECRET_ASSIGNMENT",
    "SERVICE_TOKENS",
    "TELEGRAM_BOT_TOKEN",
    "TWILIO_KEY",
    "URL_CREDENTIALS",
    "WEBHOOK_URL",
    "basic_credentials",
    "secret_looking",
    "service_name",
]

_B64 = "A-Za-z0-9+/"
_DIGITS = "0123456789"


# -- validators and labels -------------------------------------------------------------


def secret_looking(text: str) -> bool:
    """True if a 40-character token mixes classes like an AWS secret access key.

    Upper and lower case plus a digit, ``/`` or ``+``: git SHAs and hex digests
    (lower-case hex) never qualify.
    """
    has_upper = any(c.isupper() for c in text)
    has_lower = any(c.islower() for c in text)
    has_digit = any(c.isdigit() for c in text)
    return has_upper and has_lower and (has_digit or "/" in text or "+" in text)


def basic_credentials(text: str) -> bool:
    """True if the last word of ``text`` is base64 of ``user:password`` (HTTP Basic).

    This is what tells ``Basic dXNlcjpwYXNz`` from prose such as "basic
    authentication": the word must decode, and the decoded text must hold a colon.
    """
    token = text.split()[-1]
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in raw and len(raw) >= 3


#: (prefix, name) pairs, most specific first: how :func:`service_name` names a match.
_SERVICE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("github_pat_", "github_token"),
    ("gh", "github_token"),
    ("glsa_", "grafana_token"),
    ("glc_", "grafana_token"),
    ("gl", "gitlab_token"),
    ("xox", "slack_token"),
    ("xapp-", "slack_token"),
    ("sk-ant-", "anthropic_key"),
    ("sk-", "openai_key"),
    ("sk_", "stripe_key"),
    ("rk_", "stripe_key"),
    ("whsec_", "stripe_key"),
    ("shp", "shopify_token"),
    ("sq0", "square_token"),
    ("npm_", "npm_token"),
    ("pypi-", "pypi_token"),
    ("SG.", "sendgrid_key"),
    ("SK", "twilio_key"),
    ("ya29.", "google_oauth_token"),
    ("GOCSPX-", "google_oauth_token"),
    ("AIza", "gcp_api_key"),
    ("hf_", "huggingface_token"),
    ("hv", "vault_token"),
    ("dp.", "doppler_token"),
    ("dckr_", "docker_token"),
    ("do", "digitalocean_token"),
    ("PMAK-", "postman_key"),
    ("lin_api_", "linear_key"),
    ("ATATT", "atlassian_token"),
    ("AGE-", "age_secret_key"),
    ("A", "aws_access_key_id"),
)


def service_name(match: str) -> str:
    """The detector name of a :data:`SERVICE_TOKENS` match (``ghp_…`` → ``github_token``)."""
    for prefix, name in _SERVICE_PREFIXES:
        if match.startswith(prefix):
            return name
    return "service_token"  # pragma: no cover  # every branch has a prefix above


def _branch(first: str, bodies: tuple[str, ...], boundary: str = "A-Za-z0-9") -> str:
    """One first-character branch: ``first``, a boundary check, then the bodies.

    The boundary (no letter/digit right before the token) is a lookbehind placed
    after the first character, so the branch still starts with a literal and the
    regex engine can skip positions by their first character.
    """
    return f"{first}(?<![{boundary}]{first})(?:{'|'.join(bodies)})"


_SERVICE_BRANCHES = (
    _branch(
        "g",
        (
            r"h[pousr]_[A-Za-z0-9]{30,255}+",  # GitHub PAT, OAuth, user, server, refresh
            r"ithub_pat_[A-Za-z0-9_]{22,255}+",  # GitHub fine-grained PAT
            r"lsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}",  # Grafana service account
            r"lc_[A-Za-z0-9+/]{32,400}+={0,2}",  # Grafana cloud
            # GitLab: personal, deploy, runner, trigger, SCIM, CI job, feed... tokens
            r"l(?:pat|dt|rt|ptt|soat|cbt|ft|imt|oas|agent|ffct|rrt|wt|dct)-"
            r"[A-Za-z0-9_-]{20,300}+(?:\.[0-9a-z]{2,20}+)?",
        ),
    ),
    _branch(
        "x",
        (
            r"ox[abposre]-[A-Za-z0-9-]{10,250}+",  # Slack bot, user, app, refresh...
            r"oxe\.xox[bp]-[A-Za-z0-9-]{10,250}+",  # Slack rotating token
            r"app-\d-[A-Za-z0-9-]{10,250}+",  # Slack app-level token
        ),
    ),
    _branch(
        "s",
        (
            r"k_(?:live|test)_[A-Za-z0-9]{10,250}+",  # Stripe secret key
            r"k-ant-[a-z]{2,10}\d{2}-[A-Za-z0-9_-]{20,400}+",  # Anthropic
            r"k-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,400}+",  # OpenAI project keys
            r"k-(?=[A-Za-z]{0,127}[0-9])[A-Za-z0-9]{32,128}+",  # OpenAI legacy, others
            r"hp(?:at|ca|pa|ss)_[a-fA-F0-9]{32,64}+",  # Shopify
            r"q0(?:atp|csp)-[A-Za-z0-9_-]{22,64}+",  # Square
        ),
    ),
    _branch("r", (r"k_(?:live|test)_[A-Za-z0-9]{10,250}+",)),  # Stripe restricted key
    _branch("w", (r"hsec_[A-Za-z0-9]{20,250}+",)),  # Stripe webhook secret
    _branch("n", (r"pm_[A-Za-z0-9]{36,250}+",)),  # npm
    _branch("p", (r"ypi-AgE[A-Za-z0-9_-]{40,4096}+",)),  # PyPI (a macaroon)
    _branch("G", (r"OCSPX-[A-Za-z0-9_-]{24,64}+",)),  # Google OAuth client secret
    _branch("h", (r"f_(?=[a-z]{0,63}[A-Z])[A-Za-z]{30,64}+",)),  # Hugging Face
    _branch(
        "d",
        (
            r"o[opr]_v1_[a-f0-9]{64}",  # DigitalOcean
            r"ckr_pat_[A-Za-z0-9_-]{24,64}+",  # Docker Hub
        ),
    ),
    _branch("P", (r"MAK-[a-f0-9]{24}-[a-f0-9]{34}",)),  # Postman
    _branch("l", (r"in_api_[A-Za-z0-9]{40,64}+",)),  # Linear
)

SERVICE_TOKENS = PatternRule(
    name="service_token",
    pattern="|".join(_SERVICE_BRANCHES),
    trigger_chars="_-",
    min_length=15,
    label=service_name,
)
"""Fixed-prefix tokens whose prefix ends in ``_`` or ``-`` (GitHub, GitLab, Slack,
Stripe, OpenAI, Anthropic, npm, PyPI, Shopify, Square...), reported by service name.

No checksum is required (GitHub and npm tokens carry a CRC32): a string with the
prefix and the length of a token is a token for redaction purposes, and a scheme
change on the service's side must not make a real token pass. Tokens with other
prefixes are in :data:`DOTTED_TOKENS`, :data:`CLOUD_KEYS` and :data:`TWILIO_KEY`,
split by the characters they must contain so each rule's gate stays selective.
"""

DOTTED_TOKENS = PatternRule(
    name="service_token",
    pattern="|".join(
        (
            _branch("S", (r"G\.[A-Za-z0-9_-]{16,32}+\.[A-Za-z0-9_-]{16,64}+",)),  # SendGrid
            _branch("y", (r"a29\.[A-Za-z0-9_-]{20,2048}+",)),  # Google OAuth access token
            _branch("h", (r"v[sbr]\.[A-Za-z0-9_-]{24,512}+",)),  # HashiCorp Vault
            _branch("d", (r"p\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,64}+",)),  # Doppler
        )
    ),
    trigger_chars=".",
    needles=("sg.", "ya29.", "hvs.", "hvb.", "hvr.", "dp."),
    min_length=26,
    label=service_name,
)
"""SendGrid, Google OAuth access, Vault and Doppler tokens (their prefix ends in ``.``)."""

CLOUD_KEYS = PatternRule(
    name="service_token",
    pattern="A(?:"
    + "|".join(
        (
            # AWS access key ids (the secret part is AWS_SECRET_KEY, with context)
            r"(?<![A-Z0-9]A)(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])",
            r"(?<![0-9A-Za-z_-]A)Iza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])",  # Google API key
            r"(?<![A-Za-z0-9]A)TATT3[A-Za-z0-9_=-]{150,300}+",  # Atlassian
            r"(?<![A-Za-z0-9]A)GE-SECRET-KEY-1[0-9A-Z]{58}",  # age
        )
    )
    + ")",
    trigger_chars="A",
    needles=("akia", "asia", "abia", "acca", "a3t", "aiza", "atatt3", "age-secret-key-"),
    min_length=20,
    label=service_name,
)
"""AWS access key ids (``AKIA``/``ASIA``...), Google API keys (``AIza``), Atlassian
API tokens and age secret keys."""

TWILIO_KEY = PatternRule(
    name="service_token",
    pattern=r"(?<![A-Za-z0-9])SK[0-9a-fA-F]{32}(?![0-9A-Za-z])",
    trigger_chars="K",
    prefilter="SK",
    min_length=34,
    label=service_name,
)

DATABRICKS_TOKEN = PatternRule(
    name="databricks_token",
    pattern=r"(?<![A-Za-z0-9])dapi[a-h0-9]{32}(?:-\d)?(?![A-Za-z0-9])",
    trigger_chars="d",
    needles=("dapi",),
    min_length=36,
)

TELEGRAM_BOT_TOKEN = PatternRule(
    name="telegram_bot_token",
    pattern=r"(?<![0-9])\d{8,10}:AA[A-Za-z0-9_-]{33}",
    trigger_chars=":",
    needles=(":aa",),
    min_length=44,
)

MAILCHIMP_KEY = PatternRule(
    name="mailchimp_key",
    pattern=r"(?<![0-9a-f])[0-9a-f]{32}-us\d{1,2}(?![0-9])",
    trigger_chars="-",
    needles=("-us",),
    min_length=36,
)

AZURE_AD_CLIENT_SECRET = PatternRule(
    name="azure_ad_client_secret",
    pattern=r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}+",
    trigger_chars="~",
    needles=("q~",),
    min_length=40,
)

PEM_PRIVATE_KEY = PatternRule(
    name="pem_private_key",
    trigger_chars="-",
    pattern=(
        r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]{0,16384}?-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----"
        r"|[\s\S]{0,16384})"
    ),
    needles=("private key",),
    min_length=30,
)
"""PEM (PKCS#1/#8, EC, OpenSSH, encrypted) and PGP private key blocks; a block without
its END line is redacted to the end of the string."""

PUTTY_PRIVATE_KEY = PatternRule(
    name="pem_private_key",
    trigger_chars="-",
    pattern=r"Private-Lines: ?\d{1,4}\r?\n(?P<secret>[A-Za-z0-9+/=\r\n]{1,16384}+)",
    needles=("private-lines",),
    min_length=20,
)

URL_CREDENTIALS = PatternRule(
    name="url_credentials",
    trigger_chars=":",
    # The password may hold an unencoded '@': it runs to the last '@' of the authority.
    pattern=r"[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s/:@]{0,256}:(?P<secret>[^\s/?#]{1,256})@",
    prefilter="://",
    min_length=10,
)
"""``scheme://user:password@host`` (postgres, mongodb+srv, redis, amqp, https...)."""

JDBC_CREDENTIALS = PatternRule(
    name="url_credentials",
    trigger_chars=":",
    pattern=r"(?i:jdbc:oracle:[a-z]{1,10}):[^\s/@:]{1,128}/(?P<secret>[^\s@]{1,256})@",
    needles=("jdbc:",),
    min_length=20,
)
"""Oracle's ``jdbc:oracle:thin:user/password@host`` form."""

JWT = PatternRule(
    name="jwt",
    trigger_chars=".",
    pattern=(
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,4096}+\.eyJ[A-Za-z0-9_-]{2,16384}+"
        r"\.[A-Za-z0-9_-]{0,4096}+"
    ),
    prefilter="eyJ",
    min_length=20,
)

WEBHOOK_URL = PatternRule(
    name="webhook_url",
    trigger_chars="/",
    pattern=(
        r"(?:hooks\.slack\.com/(?:services|workflows|triggers)/"
        r"|discord(?:app)?\.com/api/webhooks/"
        r"|\.webhook\.office\.com/webhookb2/)"
        r"(?P<secret>[A-Za-z0-9_/@%+.=-]{16,1024}+)"
    ),
    needles=("hooks.slack.com", "/api/webhooks/", "webhook.office.com"),
    min_length=40,
)
"""Slack incoming webhooks, Discord and Microsoft Teams webhooks: the path is the
secret (the host stays readable)."""

BEARER_TOKEN = PatternRule(
    name="bearer_token",
    trigger_chars="Bb",
    # RFC 6750 b64token: token characters, then only '=' padding, then a boundary
    pattern=(
        r"(?i:\bbearer)[ \t]{1,10}(?P<secret>[A-Za-z0-9._~+/-]{8,4096}+=*+)"
        r"(?![A-Za-z0-9._~+/=-])"
    ),
    needles=("bearer",),
    min_length=15,
)

AUTHORIZATION_HEADER = PatternRule(
    name="authorization_header",
    trigger_chars=":=",
    pattern=(
        r"(?<![A-Za-z0-9_-])(?i:(?:proxy-)?authorization)\\?[\"']?[ \t]{0,3}[:=][ \t]{0,3}"
        r"\\?[\"']?(?!(?i:bearer|digest)[ \t])"
        r"(?:(?i:basic|token|negotiate|ntlm|apikey|api-key|key|sso-key|hmac|otp)[ \t]{1,10})?"
        r"(?P<secret>[^\s\"',;\\\[][^\s\"',;\\]{3,4095}+)"
    ),
    needles=("authorization",),
    min_length=16,
)
"""The credential of an ``Authorization:`` header in text, whatever its scheme
(``Basic``, ``token``, ``Negotiate``...; ``Bearer`` and ``Digest`` have their own
rules)."""

BASIC_AUTH = PatternRule(
    name="basic_auth",
    trigger_chars="Bb",
    pattern=r"(?<![A-Za-z0-9])(?i:basic)[ \t]{1,10}(?P<secret>[A-Za-z0-9+/]{4,4096}+={0,2})",
    needles=("basic",),
    validate=basic_credentials,
    min_length=12,
)
"""``Basic <base64 of user:password>`` anywhere in text (the decoded value must hold
a colon, so "basic authentication" is prose, not a credential)."""

DIGEST_AUTH = PatternRule(
    name="digest_auth",
    trigger_chars="=",
    pattern=(
        r"(?<![A-Za-z0-9_-])(?i:response)[ \t]{0,3}=[ \t]{0,3}\"?"
        r"(?P<secret>[0-9a-fA-F]{32,128}+)"
    ),
    needles=("response",),
    min_length=40,
)
"""The ``response="<hash>"`` of an HTTP Digest ``Authorization`` header."""

COOKIE_HEADER = PatternRule(
    name="cookie_header",
    trigger_chars=":",
    pattern=(
        r"(?<![A-Za-z0-9_-])(?i:(?:set-)?cookie)\\?[\"']?[ \t]{0,3}:[ \t]{0,3}\\?[\"']?"
        r"(?!\[REDACTED\])(?P<secret>[^\r\n\"'\\]{1,4096}+)"
    ),
    needles=("cookie",),
    min_length=10,
)
"""A ``Cookie:``/``Set-Cookie:`` header value in text, to the end of the line (or
quote): session cookies are bearer credentials."""

_TERMS = (
    r"passw(?:or)?d|pwd|passphrase|passcode|secret(?:[_-]?key)?|token|api[_-]?key|apikey"
    r"|private[_-]?key|client[_-]?secret|credentials?|access[_-]?key|auth[_-]?key"
    r"|account[_-]?key|signature|_auth"
)
_CAMEL_TERMS = (
    r"Passw(?:or)?d|Pwd|Passphrase|Secret(?:Key)?|Token|Api[_-]?[Kk]ey|APIKey|PrivateKey"
    r"|ClientSecret|Credentials?|AccessKey|AuthKey|AccountKey|Signature"
)
_UPPER_TERMS = r"PASSWORD|PASSWD|TOKEN|SECRET|APIKEY"

SECRET_ASSIGNMENT = PatternRule(
    name="secret_assignment",
    trigger_chars="=:",
    pattern=(
        rf"(?:(?<![A-Za-z0-9])(?i:{_TERMS})|(?<=[a-z0-9])(?:{_CAMEL_TERMS})"
        rf"|(?<=[A-Z0-9])(?:{_UPPER_TERMS}))"
        r"\\?[\"']?[ \t]{0,3}[=:][ \t]{0,3}\\?[\"']?(?!\[REDACTED\])"
        r"(?P<secret>(?<=\")[^\"\r\n\\]{1,512}(?=\\?\")|(?<=')[^'\r\n\\]{1,512}(?=')"
        r"|[^\s&,;\"'}\\]{1,512})"
    ),
    needles=("pass", "pwd", "secret", "token", "key", "credential", "signature", "_auth"),
    min_length=5,
)
"""``password=…``, ``"apiKey": "…"``, ``dbPassword: …``, ``_authToken=…`` (npm),
``PGPASSWORD=…`` inside free text; a quoted value is taken to its closing quote."""

AZURE_SAS_OR_ACCOUNT_KEY = PatternRule(
    name="azure_storage_key",
    trigger_chars="=",
    pattern=(
        r"(?i:(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig)=)"
        rf"(?P<secret>[{_B64}%=-]{{16,512}}+)"
    ),
    needles=("key=", "signature=", "sig="),
    min_length=20,
)

AZURE_STORAGE_KEY = PatternRule(
    name="azure_storage_key",
    trigger_chars="=",
    pattern=rf"(?<![{_B64}])[{_B64}]{{86}}==(?![{_B64}=])",
    needles=("==",),
    context=("azure", "account", "storage", "windows.net"),
    min_length=88,
)
"""A bare 88-character Azure storage account key, only with context (``azure``,
``account``, ``storage`` in the string, or a credential-context key): any 64 bytes
in base64 have that shape, SHA-512 subresource-integrity strings among them."""

AWS_SECRET_KEY = PatternRule(
    name="aws_secret_key",
    trigger_chars=_DIGITS + "/+",
    pattern=rf"(?<![{_B64}=])[{_B64}]{{40}}(?![{_B64}=])",
    validate=secret_looking,
    context=("aws", "amazon", "secret", "akia", "asia"),
    min_length=40,
)
"""40-character AWS secret access keys, only with context: ``aws``, ``amazon`` or
``secret`` in the same string, an ``AKIA``/``ASIA`` id there, or a key naming a
credential context. A bare 40-character nonce is left alone."""

#: The credential detectors, in the order they run.
CREDENTIAL_PATTERN_RULES: tuple[PatternRule, ...] = (
    PEM_PRIVATE_KEY,
    PUTTY_PRIVATE_KEY,
    URL_CREDENTIALS,
    JDBC_CREDENTIALS,
    JWT,
    SERVICE_TOKENS,
    DOTTED_TOKENS,
    CLOUD_KEYS,
    TWILIO_KEY,
    DATABRICKS_TOKEN,
    TELEGRAM_BOT_TOKEN,
    MAILCHIMP_KEY,
    AZURE_AD_CLIENT_SECRET,
    WEBHOOK_URL,
    BEARER_TOKEN,
    AUTHORIZATION_HEADER,
    BASIC_AUTH,
    DIGEST_AUTH,
    COOKIE_HEADER,
    AZURE_SAS_OR_ACCOUNT_KEY,
    AZURE_STORAGE_KEY,
    SECRET_ASSIGNMENT,
    AWS_SECRET_KEY,
)
