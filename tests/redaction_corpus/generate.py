"""Writes ``corpus.jsonl``: labelled secrets and look-alikes for the redaction tests.

Every secret here is synthetic: random characters in the shape of a real credential
(seeded, so the file is reproducible). Run ``python tests/redaction_corpus/generate.py``
after changing the lists; the test reads only the JSON lines.

Fields of a line:

* ``text``: what is logged (a value, a message, a key, a logger name...).
* ``where``: how it is logged: ``value`` (an attribute value), ``percent_arg`` (a
  ``%s`` argument), ``message`` (the message itself), ``nested`` (a value in a map
  under ``parent``), ``list`` (an item of a list), ``key`` (an attribute key),
  ``nested_key`` (a key of a nested map), ``logger`` (the logger name),
  ``event_name``, ``exception`` (the message of a raised exception).
* ``label``: ``secret`` (must not survive) or ``benign`` (must survive untouched).
* ``kind``: what it is (``github_token``, ``uuid``...).
* ``secret``: for secrets, the substring that must not survive (default: ``text``).
* ``key`` / ``parent``: the attribute key / parent key used by ``value`` and ``nested``.
* ``format``: the message of a ``percent_arg`` case (default ``"value was %s"``).
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path
from typing import Any

rng = random.Random(20261205)

B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits
URLSAFE = B62 + "_-"


def pick(alphabet: str, n: int) -> str:
    """``n`` random characters; base62 ones always mix cases and digits like real tokens."""
    while True:
        out = "".join(rng.choice(alphabet) for _ in range(n))
        if alphabet not in (B62, URLSAFE) or n < 12:
            return out
        classes = (str.isdigit, str.isupper, str.islower)
        if all(any(test(c) for c in out) for test in classes):
            return out


def b64(n_bytes: int) -> str:
    return base64.b64encode(rng.randbytes(n_bytes)).decode()


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        digits = [int(c) for c in body + check]
        total = 0
        for i, d in enumerate(reversed(digits)):
            if i % 2:
                d = d * 2 - 9 if d * 2 > 9 else d * 2
            total += d
        if total % 10 == 0:
            return body + check
    raise AssertionError


def luhn_failing(prefix: str, length: int) -> str:
    good = luhn_complete(prefix, length)
    return good[:-1] + str((int(good[-1]) + 1) % 10)


# -- secrets ---------------------------------------------------------------------------

TOKENS: dict[str, list[str]] = {
    "github_token": [
        "ghp_" + pick(B62, 36),
        "gho_" + pick(B62, 36),
        "ghu_" + pick(B62, 36),
        "ghs_" + pick(B62, 36),
        "ghr_" + pick(B62, 36),
        "github_pat_" + pick(B62, 22) + "_" + pick(B62, 59),
    ],
    "gitlab_token": ["glpat-" + pick(URLSAFE, 20), "glptt-" + pick(HEX, 40)],
    "slack_token": [
        "xoxb-" + pick(string.digits, 12) + "-" + pick(string.digits, 13) + "-" + pick(B62, 24),
        "xoxp-" + pick(string.digits, 12) + "-" + pick(string.digits, 12) + "-" + pick(HEX, 32),
        "xapp-1-A" + pick(UPPER_DIGITS, 10) + "-" + pick(string.digits, 13) + "-" + pick(HEX, 64),
    ],
    "stripe_key": [
        "sk_live_" + pick(B62, 24),
        "sk_test_" + pick(B62, 99),
        "rk_live_" + pick(B62, 24),
        "whsec_" + pick(B62, 32),
    ],
    "aws_access_key_id": ["AKIA" + pick(UPPER_DIGITS, 16), "ASIA" + pick(UPPER_DIGITS, 16)],
    "gcp_api_key": ["AIza" + pick(URLSAFE, 35)],
    "google_oauth_token": ["ya29." + pick(URLSAFE, 120), "GOCSPX-" + pick(URLSAFE, 28)],
    "npm_token": ["npm_" + pick(B62, 36)],
    "pypi_token": ["pypi-AgEIcHlwaS5vcmc" + pick(URLSAFE, 70)],
    "twilio_key": ["SK" + pick(HEX, 32)],
    "sendgrid_key": ["SG." + pick(URLSAFE, 22) + "." + pick(URLSAFE, 43)],
    "openai_key": [
        "sk-proj-" + pick(URLSAFE, 48) + "T3BlbkFJ" + pick(URLSAFE, 48),
        "sk-" + pick(B62, 48),
    ],
    "anthropic_key": ["sk-ant-api03-" + pick(URLSAFE, 93) + "AA"],
    "huggingface_token": ["hf_" + pick(string.ascii_letters, 34)],
    "shopify_token": ["shpat_" + pick(HEX, 32)],
    "square_token": ["sq0atp-" + pick(URLSAFE, 22)],
    "digitalocean_token": ["dop_v1_" + pick(HEX, 64)],
    "doppler_token": ["dp.pt." + pick(B62, 43)],
    "vault_token": ["hvs." + pick(URLSAFE, 90)],
    "databricks_token": ["dapi" + pick("abcdefgh0123456789", 32)],
    "docker_token": ["dckr_pat_" + pick(URLSAFE, 27)],
    "postman_key": ["PMAK-" + pick(HEX, 24) + "-" + pick(HEX, 34)],
    "linear_key": ["lin_api_" + pick(B62, 40)],
    "mailchimp_key": [pick(HEX, 32) + "-us14"],
    "telegram_bot_token": [pick(string.digits, 10) + ":AA" + pick(URLSAFE, 33)],
    "age_secret_key": ["AGE-SECRET-KEY-1" + pick("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)],
    "jwt": [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        + base64.urlsafe_b64encode(json.dumps({"sub": pick(B62, 8), "exp": 1893456000}).encode())
        .decode()
        .rstrip("=")
        + "."
        + pick(URLSAFE, 43)
    ],
}

PLACEMENTS = ("value", "percent_arg", "message", "nested", "list", "key", "nested_key")
cases: list[dict[str, Any]] = []


def add(text: str, where: str, label: str, kind: str, **extra: Any) -> None:
    cases.append({"text": text, "where": where, "label": label, "kind": kind, **extra})


# Every token in the placements where a token turns up in logs.
for kind, tokens in TOKENS.items():
    for i, token in enumerate(tokens):
        for j, where in enumerate(PLACEMENTS):
            if i and j % 2:  # further tokens of a kind: every other placement
                continue
            if where == "message":
                add(
                    f"retrying upload with credential {token} after 2 failures",
                    where,
                    "secret",
                    kind,
                    secret=token,
                )
            else:
                add(token, where, "secret", kind)
        if i == 0:
            add(f"svc.client.{token}", "logger", "secret", kind, secret=token)
            add(f"login.{token}", "event_name", "secret", kind, secret=token)

# Credentials recognised by their context rather than a prefix.
BASIC = base64.b64encode(f"deploy:{pick(B62, 16)}".encode()).decode()
DIGEST = pick(HEX, 32)
PG = pick(B62, 18)
MONGO = pick(B62, 20)
REDIS = pick(B62, 24)
AMQP = pick(B62, 16)
ADO = pick(B62, 14) + "!"
JDBC = pick(B62, 12)
ORA = pick(B62, 12)
AWS_SECRET = pick(B62 + "/+", 39) + "Z"
AZURE = b64(64)
SAS = pick(B62, 30) + "%3D"
COOKIE = pick(B62, 32)
BEARER = pick(URLSAFE, 40)
PW = pick(B62, 14)
SLACK_HOOK = f"https://hooks.slack.com/services/T{pick(UPPER_DIGITS, 8)}/B{pick(UPPER_DIGITS, 10)}/{pick(B62, 24)}"
DISCORD_HOOK = f"https://discord.com/api/webhooks/{pick(string.digits, 18)}/{pick(URLSAFE, 68)}"
TEAMS_HOOK = (
    f"https://contoso.webhook.office.com/webhookb2/{pick(HEX, 8)}-{pick(HEX, 4)}@{pick(HEX, 8)}"
    f"/IncomingWebhook/{pick(HEX, 32)}/{pick(HEX, 8)}"
)
PEM_BODY = "\n".join(b64(48) for _ in range(6))
CONTEXTUAL = [
    (f"Authorization: Basic {BASIC}", BASIC, "basic_auth"),
    (f"upstream replied 401 to basic {BASIC}", BASIC, "basic_auth"),
    (
        f'Authorization: Digest username="bob", realm="api", nonce="{pick(HEX, 16)}", '
        f'uri="/v1/x", response="{DIGEST}"',
        DIGEST,
        "digest_auth",
    ),
    (f"Authorization: Bearer {BEARER}", BEARER, "bearer_token"),
    (f"Cookie: session={COOKIE}; theme=dark", COOKIE, "cookie_header"),
    (f"connecting to postgres://app:{PG}@db.internal:5432/orders", PG, "url_credentials"),
    (
        f"mongodb+srv://svc:{MONGO}@cluster0.ab1cd.mongodb.net/app?retryWrites=true",
        MONGO,
        "url_credentials",
    ),
    (f"cache at redis://:{REDIS}@redis:6379/0", REDIS, "url_credentials"),
    (f"amqp://guest:{AMQP}@rabbit:5672/vhost", AMQP, "url_credentials"),
    (
        f"Server=tcp:db,1433;Database=app;User ID=sa;Password={ADO};Encrypt=true",
        ADO,
        "connection_string",
    ),
    (f"jdbc:mysql://db:3306/app?user=app&password={JDBC}&useSSL=true", JDBC, "connection_string"),
    (f"jdbc:oracle:thin:scott/{ORA}@db:1521/ORCL", ORA, "connection_string"),
    (f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET, "aws_secret_key"),
    (
        f"aws credentials {TOKENS['aws_access_key_id'][0]} {AWS_SECRET}",
        AWS_SECRET,
        "aws_secret_key",
    ),
    (
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE};"
        "EndpointSuffix=core.windows.net",
        AZURE,
        "azure_storage_key",
    ),
    (
        f"GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig={SAS}",
        SAS,
        "azure_storage_key",
    ),
    (f"login failed password={PW} for bob", PW, "secret_assignment"),
    (
        f'config loaded: {{"db": {{"host": "db", "password": "{PW}x"}}}}',
        PW + "x",
        "secret_assignment",
    ),
    (f'dbPassword: "{PW}y"', PW + "y", "secret_assignment"),
    (f"PGPASSWORD={PW}z psql -h db", PW + "z", "secret_assignment"),
    (
        f"export GITHUB_TOKEN={TOKENS['github_token'][0]}",
        TOKENS["github_token"][0],
        "secret_assignment",
    ),
    (
        f"//npm.registry.example/:_authToken={TOKENS['npm_token'][0]}",
        TOKENS["npm_token"][0],
        "npm_token",
    ),
    (f"//npm.registry.example/:_auth={BASIC}", BASIC, "npm_token"),
    (f"client_secret: {PW}q", PW + "q", "secret_assignment"),
    (f"webhook {SLACK_HOOK} returned 200", SLACK_HOOK.rsplit("/", 1)[1], "webhook_url"),
    (DISCORD_HOOK, DISCORD_HOOK.rsplit("/", 1)[1], "webhook_url"),
    (TEAMS_HOOK, TEAMS_HOOK.rsplit("/", 2)[1], "webhook_url"),
    (
        f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
        PEM_BODY.split("\n")[2],
        "pem_private_key",
    ),
    (
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----",
        PEM_BODY.split("\n")[3],
        "pem_private_key",
    ),
    (
        f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{PEM_BODY}\n-----END PGP PRIVATE KEY BLOCK-----",
        PEM_BODY.split("\n")[4],
        "pem_private_key",
    ),
]
for text, secret, kind in CONTEXTUAL:
    add(text, "message", "secret", kind, secret=secret)
    add(text, "value", "secret", kind, secret=secret, key="detail")
for text, secret, kind in CONTEXTUAL[:14:3]:
    add(text, "exception", "secret", kind, secret=secret)
add(SLACK_HOOK, "value", "secret", "webhook_url", secret=SLACK_HOOK.rsplit("/", 1)[1], key="url")
add(
    f"svc.notify.{SLACK_HOOK.split('//')[1]}",
    "logger",
    "secret",
    "webhook_url",
    secret=SLACK_HOOK.rsplit("/", 1)[1],
)

# Generic names that are secret only under a credential context.
for parent, key in (
    ("stripe", "key"),
    ("aws", "key"),
    ("payment", "pin"),
    ("twilio", "key"),
    ("oauth", "sig"),
    ("credentials_store", "pass"),
):
    add(pick(B62, 20), "nested", "secret", "context_key", parent=parent, key=key)
for key in ("stripe_key", "awsKey", "github.keys", "vault-pass"):
    add(pick(B62, 20), "value", "secret", "context_key", key=key)
# A 40-character secret with nothing but its key to say it is one.
add(AWS_SECRET[::-1], "nested", "secret", "aws_secret_key", parent="aws", key="access")
add(AWS_SECRET[1:] + "Q", "value", "secret", "aws_secret_key", key="aws")

# Personal data the default rules also cover.
for text, secret, kind in (
    (f"card {luhn_complete('4', 16)} charged", None, "pii_card"),
    ("ssn 078-05-1120 on file", "078-05-1120", "pii_ssn"),
    ("contact jane.roe@example.org", "jane.roe@example.org", "pii_email"),
    ("iban DE89370400440532013000", "DE89370400440532013000", "pii_iban"),
    ("call +1 415-555-2671", "415-555-2671", "pii_phone"),
):
    card = secret or text.split()[1]
    add(text, "message", "secret", kind, secret=card[:12])

# The leaks reported against the previous release, verbatim in shape.
add(
    "ghp_" + pick(B62, 36),
    "percent_arg",
    "secret",
    "reported_github_percent_arg",
    format="pushing with %s to origin",
)
add(
    "github_pat_" + pick(B62, 22) + "_" + pick(B62, 59),
    "value",
    "secret",
    "reported_github_pat_value",
    key="gh",
)
add(
    "sk_live_" + pick(B62, 24),
    "nested",
    "secret",
    "reported_stripe_key_under_key",
    parent="stripe",
    key="key",
)
add(f"Authorization: Basic {BASIC}", "message", "secret", "reported_basic_in_message", secret=BASIC)
add(SLACK_HOOK, "message", "secret", "reported_slack_webhook", secret=SLACK_HOOK.rsplit("/", 1)[1])
NPM = "npm_" + pick(B62, 36)
add(
    f"//npm.registry.example/:_authToken={NPM}",
    "message",
    "secret",
    "reported_npm_authtoken",
    secret=NPM,
)
GHP = "ghp_" + pick(B62, 36)
add(f"worker.{GHP}", "logger", "secret", "reported_token_in_logger_name", secret=GHP)
add(
    "xoxb-" + pick(string.digits, 12) + "-" + pick(string.digits, 13) + "-" + pick(B62, 24),
    "key",
    "secret",
    "reported_secret_as_key",
)
add("ghp_" + pick(B62, 36), "nested_key", "secret", "reported_secret_as_nested_key")

# Honest hard cases: secrets with no shape and no secret-named key.
PROSE = pick(B62, 12)
add(f"the admin password is {PROSE}", "message", "secret", "prose_password", secret=PROSE)
add(pick(HEX, 32), "value", "secret", "twilio_auth_token_bare", key="twilio_auth")
HEROKU = f"{pick(HEX, 8)}-{pick(HEX, 4)}-{pick(HEX, 4)}-{pick(HEX, 4)}-{pick(HEX, 12)}"
add(HEROKU, "value", "secret", "heroku_api_key_uuid", key="heroku_api")

# -- look-alikes -----------------------------------------------------------------------


def uuid4() -> str:
    h = pick(HEX, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


BENIGN: list[tuple[str, str]] = [
    *((uuid4(), "uuid") for _ in range(5)),
    *((pick(HEX, 40), "git_sha") for _ in range(4)),
    *((pick(HEX, 64), "sha256_hex") for _ in range(3)),
    (pick(HEX, 32), "md5_hex"),
    *((pick(B62, 40), "nonce_40_mixed") for _ in range(4)),
    *((b64(30), "base64_blob_40") for _ in range(3)),
    (b64(48), "base64_blob_64"),
    ("sha512-" + b64(64), "sri_integrity"),
    (b64(64), "base64_blob_88"),
    ("tokenizer", "word"),
    ("passwordless login enabled", "word"),
    ("secretary of state", "word"),
    ("keyboard layout us", "word"),
    ("skeleton loader shown", "word"),
    ("basic plan selected by the customer", "word"),
    ("bearer bonds are a legacy instrument", "word"),
    ("session started for tenant acme", "word"),
    ("token bucket refilled at 100/s", "word"),
    ("password reset email sent", "word"),
    ("cookie consent: accepted", "word"),
    ("the authorization service is degraded", "word"),
    ("prompt_tokens: 512 completion_tokens: 128", "word"),
    ("1.2.3", "version"),
    ("v2.31.0-rc.1+build.20240115", "version"),
    ("python 3.11.7 on linux", "version"),
    ("opentelemetry-sdk==1.43.0", "version"),
    ("order 4111111111111112 shipped", "order_number_luhn_fail"),
    (f"order {luhn_failing('5', 16)} shipped", "order_number_luhn_fail"),
    (f"ref {luhn_failing('3', 15)}", "order_number_luhn_fail"),
    ("ORD-2024-000123", "order_number"),
    ("order-4111111111111111", "order_number"),
    ("2024-01-15T10:00:00.123Z", "timestamp"),
    ("1700000000000", "epoch_ms"),
    ("10.20.30.40", "ip"),
    ("fe80::1ff:fe23:4567:890a", "ipv6"),
    ("00:1A:2B:3C:4D:5E", "mac"),
    ("/var/lib/app/data_2024.db", "path"),
    ("photos/2024/img_0001.jpg", "s3_object_key"),
    ("https://api.example.com/v1/users?page=2&sort=asc", "url"),
    ("postgres://db.internal:5432/orders", "url_no_password"),
    ("https://github.com/org/repo/pull/1234", "url"),
    ("pk_live_" + pick(B62, 24), "stripe_publishable_key"),
    ("ghp_test", "short_prefix"),
    ("sk-learn-compatible-estimators", "slug"),
    ("task-queue-consumer-group-1", "slug"),
    ("user_id_hash_algorithm", "identifier"),
    ("AKIA is the prefix of an AWS access key id", "prose"),
    ("eyJhbGciOiJIUzI1NiJ9", "jwt_header_only"),
    ("C024BE91L", "slack_channel_id"),
    ("#ff00aa", "color"),
    ("GB00 WEST 1234 5698 7654 32", "iban_mod97_fail"),
    ("retry 3 of 5 after 250ms", "text"),
    ("GET /orders/12345 200 in 12.5ms", "text"),
    ("user@localhost", "local_address"),
    ("price 1,299.00 EUR", "text"),
    ("sha256:" + pick(HEX, 64), "image_digest"),
    ("Xk9" + pick(B62, 37), "nonce_40_mixed"),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "user_agent",
    ),
    ("SELECT id, email_verified FROM users WHERE tenant_id = $1 LIMIT 50", "sql"),
    ("pod api-7f9c8d6b5-x2kqp restarted", "k8s"),
    (f"image ghcr.io/org/api:1.4.2@sha256:{pick(HEX, 64)}", "image_ref"),
    ("Content-Type: application/json; charset=utf-8", "http_header"),
    (f"X-Request-Id: {uuid4()}", "http_header"),
    (f'ETag: "{pick(HEX, 40)}"', "http_header"),
    ('WWW-Authenticate: Basic realm="api", charset="UTF-8"', "http_header"),
    ('WWW-Authenticate: Bearer realm="example"', "http_header"),
    (f"traceparent: 00-{pick(HEX, 32)}-{pick(HEX, 16)}-01", "http_header"),
    (f"trace_id={pick(HEX, 32)} span_id={pick(HEX, 16)}", "trace_ids"),
    ("status=ok retries=3 latency_ms=12", "key_values"),
    ("token_type=Bearer expires_in=3600 scope=openid", "oauth_response"),
    ("grant_type=client_credentials&scope=orders.read", "oauth_request"),
    ("max_tokens=1024 temperature=0.2", "key_values"),
    ("keyspace_hits=1234 keyspace_misses=56", "key_values"),
    ("Authorization header missing", "word"),
    ("token expired at 2024-01-15T10:00:00Z", "word"),
    ("Using SECRET_KEY from environment", "word"),
    ("POST /oauth/token 200 in 35ms", "text"),
    (f"charge ch_{pick(B62, 24)} succeeded", "stripe_object_id"),
    (f"customer cus_{pick(B62, 14)} created", "stripe_object_id"),
    (f"commit {pick(HEX, 40)} by alice", "git_sha"),
    ("Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==", "http_header"),
    ("gs://bucket/path/to/object.parquet", "url"),
    ("arn:aws:iam::123456789012:role/service-role/api", "aws_arn"),
    ("ghpages deploy finished", "word"),
    ("npm install left-pad@1.3.0", "text"),
    ("xoxo from the release team", "word"),
    ("invoice INV-2024-0001 total 129.99", "text"),
    ("cpu=250m memory=512Mi replicas=3", "key_values"),
    ('File "/app/handlers.py", line 42, in handle_request', "traceback_line"),
    ("redirect_uri=https://app.example.com/callback&state=af0ifjsldkj", "oauth_request"),
    ("deployment.apps/api-gateway configured", "k8s"),
    ("dates 2024-01-15 and 2024-02-20", "text"),
    (f"build {pick(HEX, 32)}", "build_id"),
    (f"request {uuid4()} from 10.0.0.12 took 12ms", "text"),
    (f"idempotency key {uuid4()}", "uuid"),
    (b64(33), "base64_blob_44"),
]
for i, (text, kind) in enumerate(BENIGN):
    where = ("value", "message", "nested", "percent_arg", "list")[i % 5]
    add(text, where, "benign", kind)
for text, kind in (
    ("tokenizer_version", "key_word"),
    ("secretary_name", "key_word"),
    ("keyboard_layout", "key_word"),
    ("passwordless", "key_word"),
    ("nonce", "key_word"),
    ("git_sha", "key_word"),
):
    add(text, "key", "benign", kind)
for parent, key, value in (
    ("s3", "key", "photos/2024/img_0001.jpg"),
    ("cache", "key", "user:42:profile"),
    ("stripe", "customer_id", "cus_" + pick(B62, 14)),
    ("aws", "region", "eu-west-1"),
    ("request", "nonce", pick(B62, 40)),
):
    add(value, "nested", "benign", "context_lookalike", parent=parent, key=key)
for name, kind in (
    ("app.tokenizer", "logger_name"),
    ("payments.stripe.webhooks", "logger_name"),
    ("uvicorn.access", "logger_name"),
    ("sqlalchemy.engine.Engine", "logger_name"),
):
    add(name, "logger", "benign", kind)
for name, kind in (("user.login", "event_name"), ("order.shipped", "event_name")):
    add(name, "event_name", "benign", kind)

if __name__ == "__main__":
    out = Path(__file__).with_name("corpus.jsonl")
    with out.open("w") as fh:
        for case in cases:
            fh.write(json.dumps({k: v for k, v in case.items() if v is not None}) + "\n")
    secrets = sum(c["label"] == "secret" for c in cases)
    print(f"{len(cases)} cases ({secrets} secrets, {len(cases) - secrets} look-alikes) -> {out}")
