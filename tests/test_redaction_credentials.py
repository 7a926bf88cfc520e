"""Credential detectors: service tokens, auth headers, connection strings; no ReDoS."""

from __future__ import annotations

import base64
import time

import pytest

from fapilog import LogEvent
from fapilog.redaction import DEFAULT_PATTERN_RULES, MASK, REDACTED_ATTRIBUTE, RedactionProcessor
from fapilog.redaction._credentials import _SERVICE_PREFIXES

# Synthetic tokens in the shape of real ones (random, never issued).
GHP = "ghp_R8mZ2kQv7Lx1Nw4Tb9Yc3Hd6Fj0Gs5Pa2Ue8"
BASIC = base64.b64encode(b"deploy:Zr7-kQ2xLm9").decode()
AWS_SECRET = "Zx9Lq2Wv7Nb4Mk1Rt8Yp3Hs6Df0Ga5Jc/Eu+Io2w"
NONCE = "Xk9Lq2Wv7Nb4Mk1Rt8Yp3Hs6Df0Ga5JcEuIo2aBc"  # 40 mixed-case characters


def redact(text: str) -> tuple[str, set[str]]:
    fired: set[str] = set()
    out = RedactionProcessor().redact_value(text, fired)
    return out, fired


@pytest.mark.parametrize(
    ("text", "secret", "rule"),
    [
        (f"push with {GHP}", GHP, "github_token"),
        ("gho_" + GHP[4:], GHP[4:], "github_token"),
        ("github_pat_11ABCDEFG0aBcDeFgHiJkL_" + "x1Y2z3" * 10, "x1Y2z3x1Y2z3", "github_token"),
        ("glpat-Zq8xN2mL7vR4tY9wK3bC", "Zq8xN2mL7vR4tY9wK3bC", "gitlab_token"),
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIj", "slack_token"),
        ("xapp-1-A0123456789-1234567890123-" + "ab12" * 16, "ab12ab12", "slack_token"),
        ("key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("rk_test_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("whsec_4eC39HqLyjWDarjtT1zdp7dcXyZ12345", "4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("npm_" + "a1B2c3D4e5" * 4, "a1B2c3D4e5", "npm_token"),
        ("pypi-AgEIcHlwaS5vcmc" + "Ab1_-" * 14, "Ab1_-Ab1_-", "pypi_token"),
        ("SG." + "aB3dE6gH9jK2mN5pQ8sT1v" + "." + "xY4" * 14 + "z", "xY4xY4xY4", "sendgrid_key"),
        ("SK" + "0123456789abcdef" * 2, "0123456789abcdef", "twilio_key"),
        ("sk-proj-" + "Ab3_" * 12 + "T3BlbkFJ" + "Zy7-" * 12, "T3BlbkFJ", "openai_key"),
        ("sk-" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7" * 2, "aB3dE6gH9jK2", "openai_key"),
        ("sk-ant-api03-" + "Ab3_Cd4-" * 12 + "AA", "Ab3_Cd4-Ab3_", "anthropic_key"),
        ("ya29.a0AfH6SMB" + "x7Y-" * 15, "x7Y-x7Y-", "google_oauth_token"),
        ("GOCSPX-" + "Ab3_Cd4-" * 3 + "Xy9z", "Ab3_Cd4-", "google_oauth_token"),
        ("AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI", "SyDdI0hCZtE6vyS", "gcp_api_key"),
        ("ASIA" + "Z7QRSTUVWXY23456", "Z7QRSTUVWXY23456", "aws_access_key_id"),
        ("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh", "AbCdEfGhIjKl", "huggingface_token"),
        ("shpat_" + "0123456789abcdef" * 2, "0123456789abcdef", "shopify_token"),
        ("sq0atp-" + "Ab3_Cd4-" * 3, "Ab3_Cd4-", "square_token"),
        ("dop_v1_" + "0123456789abcdef" * 4, "0123456789abcdef", "digitalocean_token"),
        ("dp.pt." + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7" * 2, "aB3dE6gH9jK2", "doppler_token"),
        ("hvs." + "CAESI" + "Ab3_Cd4-" * 11, "Ab3_Cd4-Ab3_", "vault_token"),
        ("dckr_pat_" + "Ab3_Cd4-" * 4, "Ab3_Cd4-", "docker_token"),
        (
            "PMAK-" + "0123456789abcdef01234567-" + "0123456789abcdef" * 2 + "ab",
            "-0123456789",
            "postman_key",
        ),
        ("lin_api_" + "aB3dE6gH9j" * 4, "aB3dE6gH9j", "linear_key"),
        (
            "AGE-SECRET-KEY-1" + "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" * 2,
            "QPZRY9X8GF2T",
            "age_secret_key",
        ),
        ("ATATT3xFfGF0" + "Ab3_Cd4-" * 22, "Ab3_Cd4-Ab3_", "atlassian_token"),
        ("glsa_" + "aB3dE6gH9j" * 3 + "aB_0a1b2c3d", "aB3dE6gH9j", "grafana_token"),
        ("dapi" + "0123456789abcdef" * 2, "0123456789abcdef", "databricks_token"),
        ("1234567890:AA" + "Ab3_Cd4-" * 4 + "z", "Ab3_Cd4-Ab3_", "telegram_bot_token"),
        ("0123456789abcdef" * 2 + "-us14", "0123456789abcdef", "mailchimp_key"),
        ("secret abc1Q~" + "Ab3_Cd4.~" * 4, "Ab3_Cd4.~", "azure_ad_client_secret"),
        (
            "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFGHI/aB3dE6gH9jK2mN5pQ8sT1vW4",
            "aB3dE6gH9jK2mN5pQ8sT1vW4",
            "webhook_url",
        ),
        (
            "https://discord.com/api/webhooks/123456789012345678/" + "Ab3_Cd4-" * 8,
            "Ab3_Cd4-",
            "webhook_url",
        ),
        (f"Authorization: Basic {BASIC}", BASIC, "authorization_header"),
        (f'"authorization": "token {GHP[4:]}"', GHP[4:], "authorization_header"),
        (f"curl got 401 with basic {BASIC}", BASIC, "basic_auth"),
        (
            'Authorization: Digest username="bob", response="6629fae49393a05397450978507c4ef1"',
            "6629fae49393a05397450978507c4ef1",
            "digest_auth",
        ),
        ("Cookie: sid=Zr7kQ2xLm9; theme=dark", "Zr7kQ2xLm9", "cookie_header"),
        ("Set-Cookie: sid=Zr7kQ2xLm9; Path=/; HttpOnly", "Zr7kQ2xLm9", "cookie_header"),
        ("mongodb+srv://svc:Zr7kQ2xLm9@cluster0.mongodb.net/app", "Zr7kQ2xLm9", "url_credentials"),
        ("redis://:Zr7kQ2xLm9@redis:6379/0", "Zr7kQ2xLm9", "url_credentials"),
        ("amqp://guest:p@ss:w0rd@rabbit:5672/", "ss:w0rd", "url_credentials"),  # '@' in password
        ("jdbc:oracle:thin:scott/Zr7kQ2xLm9@db:1521/ORCL", "Zr7kQ2xLm9", "url_credentials"),
        (
            "Server=db;User ID=sa;Password=Zr7kQ2xLm9;Encrypt=true",
            "Zr7kQ2xLm9",
            "secret_assignment",
        ),
        ("jdbc:mysql://db/app?user=a&password=Zr7kQ2xLm9&ssl=1", "Zr7kQ2xLm9", "secret_assignment"),
        ("//npm.registry.example/:_authToken=Zr7kQ2xLm9", "Zr7kQ2xLm9", "secret_assignment"),
        (f"//npm.registry.example/:_auth={BASIC}", BASIC, "secret_assignment"),
        ('dbPassword: "correct horse battery"', "horse battery", "secret_assignment"),
        ("PGPASSWORD=Zr7kQ2xLm9 psql", "Zr7kQ2xLm9", "secret_assignment"),
        ("X-Amz-Signature=Zr7kQ2xLm9abc", "Zr7kQ2xLm9abc", "secret_assignment"),
        (f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET, "secret_assignment"),
        (f"aws keys AKIAZ7QRSTUVWXY23456 {AWS_SECRET}", AWS_SECRET, "aws_secret_key"),
        (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----",
            "lQOYBF0",
            "pem_private_key",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjE",
            "pem_private_key",
        ),
        (
            "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\nAAAAIBhYWFhYWFhYWFh\nPrivate-MAC: 00",
            "AAAAIBhYWFhYWFhYWFh",
            "pem_private_key",
        ),
    ],
)
def test_each_credential_detector_finds_its_secret(text: str, secret: str, rule: str) -> None:
    """The secret is gone and the detector (the service, for tokens) is named."""
    out, fired = redact(text)
    assert secret not in out
    assert rule in fired


@pytest.mark.parametrize(
    "text",
    [
        NONCE,  # a bare 40-character nonce is not an AWS secret
        f"nonce={NONCE}",
        "sha512-" + base64.b64encode(bytes(range(64))).decode(),  # subresource integrity
        base64.b64encode(bytes(range(30))).decode(),  # 40 base64 characters
        "basic authentication failed for user bob",
        "basic plan selected",
        'WWW-Authenticate: Basic realm="api"',
        'WWW-Authenticate: Bearer realm="example"',
        "token_type=Bearer expires_in=3600",
        "grant_type=client_credentials",
        "prompt_tokens: 512",
        "tokenizer=bpe",
        "sk-learn-compatible-estimators-list",
        "hf_modelcheckpointfilenamesforexamples",  # letters only, no upper case
        "pk_live_4eC39HqLyjWDarjtT1zdp7dc",  # Stripe publishable keys are public
        "cus_NffrFeUfNV2Hib ch_3Nv0FGLkdIwHu7ix0snN0B15",
        "ghp_short",
        "the authorization service is degraded",
        "cookie consent: granted",
        "npm install left-pad@1.3.0",
        "postgres://db.internal:5432/orders",
        "response=200 in 12ms",
        "AKIA is the prefix of an AWS key id",
        "desk_booking enabled for task-runner",
    ],
)
def test_credential_look_alikes_pass_untouched(text: str) -> None:
    """Prose, public ids, digests and nonces are not credentials."""
    out, fired = redact(text)
    assert out == text, fired
    assert not fired


def _event(**attributes: object) -> LogEvent:
    return LogEvent(timestamp=1, body="msg", attributes=dict(attributes))


def test_a_40_character_secret_needs_context() -> None:
    """The same 40 characters: untouched as a nonce, masked next to aws or under an aws key."""
    e = _event(
        nonce=NONCE,
        aws=NONCE,
        cloud={"aws": {"access": NONCE}, "request": {"nonce": NONCE}},
        note=f"aws access {NONCE}",
        payload=f'{{"aws": {{"v": "{NONCE}"}}}}',  # context also holds inside JSON strings
    )
    RedactionProcessor().on_emit(e)
    assert e.attributes["nonce"] == NONCE
    assert e.attributes["aws"] == MASK
    assert e.attributes["cloud"] == {"aws": {"access": MASK}, "request": {"nonce": NONCE}}
    assert e.attributes["note"] == f"aws access {MASK}"
    assert NONCE not in e.attributes["payload"]
    assert e.attributes[REDACTED_ATTRIBUTE] == ["aws_secret_key"]


def test_tokens_are_masked_whole_and_named_in_the_event() -> None:
    """The whole token becomes [REDACTED]; fapilog.redacted names the service."""
    e = _event(note=f"deploying with {GHP} and sk_live_4eC39HqLyjWDarjtT1zdp7dc now")
    RedactionProcessor().on_emit(e)
    assert e.attributes["note"] == f"deploying with {MASK} and {MASK} now"
    assert e.attributes[REDACTED_ATTRIBUTE] == ["github_token", "stripe_key"]


def _adversarial_inputs(size: int) -> list[str]:
    seeds: set[str] = {p for p, _ in _SERVICE_PREFIXES}
    for rule in DEFAULT_PATTERN_RULES:
        seeds.update(rule.needles)
        seeds.update(rule.context)
    seeds.update(
        (
            "Authorization: ",
            "Basic ",
            "Bearer ",
            'password="',
            "dbPassword:",
            "a://b:",
            "eyJa.eyJ",
            "-----BEGIN PRIVATE KEY-----",
            'response="',
            "Cookie: ",
            "jdbc:oracle:thin:a/",
            "hooks.slack.com/services/",
            "Private-Lines: 1\n",
            "1234567890:AA",
            "sk-ant-api03-",
            "{",
        )
    )
    inputs = []
    for seed in sorted(seeds):
        inputs.append((seed * (size // len(seed) + 1))[:size])
        for filler in ("aB3", "=", " "):
            inputs.append((seed + filler * size)[:size])
    return inputs


def test_100_kb_of_adversarial_input_scans_in_well_under_a_second() -> None:
    """Every prefix, needle and key word repeated or followed by 100 kB: linear time."""
    size = 100_000
    p = RedactionProcessor(max_scan_bytes=2 * size)  # scan it all, no cut
    worst = (0.0, "")
    for text in _adversarial_inputs(size):
        start = time.perf_counter()
        p.on_emit(LogEvent(timestamp=1, body=text, attributes={"v": text, text: 1}))
        elapsed = time.perf_counter() - start
        worst = max(worst, (elapsed, text[:24]))
    print(f"\nslowest 100 kB adversarial input: {worst[0] * 1000:.1f} ms ({worst[1]!r}...)")
    assert worst[0] < 1.0, worst
