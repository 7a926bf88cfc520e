"""Redaction value detectors: true positives masked, look-alike non-secrets untouched."""

from __future__ import annotations

import pytest

from fapilog.redaction import MASK, RedactionProcessor, iban_valid, luhn_valid


def redact(text: str) -> tuple[str, set[str]]:
    fired: set[str] = set()
    out = RedactionProcessor().redact_value(text, fired)
    return out, fired


@pytest.mark.parametrize(
    ("text", "secret", "rule"),
    [
        ("card 4111 1111 1111 1111 used", "4111 1111 1111 1111", "credit_card"),
        ("card 5555-5555-5555-4444", "5555-5555-5555-4444", "credit_card"),
        ("amex 378282246310005", "378282246310005", "credit_card"),
        ("ssn 123-45-6789", "123-45-6789", "ssn"),
        ("mail jane.doe+x@example.co.uk now", "jane.doe+x@example.co.uk", "email"),
        ("call +1 415-555-2671", "415-555-2671", "phone"),
        ("call (415) 555-2671", "555-2671", "phone"),
        ("intl +442071838750", "+442071838750", "phone"),
        ("iban GB82 WEST 1234 5698 7654 32", "GB82 WEST", "iban"),
        ("iban DE89370400440532013000", "DE89370400440532013000", "iban"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P",
            "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
            "jwt",
        ),
        ("Authorization: Bearer abc123def456ghi789", "abc123def456ghi789", "bearer_token"),
        ("key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws_access_key_id"),
        (
            "aws wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_key",
        ),
        (
            "gcp AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
            "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
            "gcp_api_key",
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4==;",
            "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4",
            "azure_storage_key",
        ),
        (
            "sas ?sv=2020&sig=abcDEF123%2Bxyz456789QRS",
            "abcDEF123%2Bxyz456789QRS",
            "azure_storage_key",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
            "MIIEowIBAAKCAQEA7",
            "pem_private_key",
        ),
        ("dsn postgres://admin:hunter2@db:5432/app", "hunter2", "url_credentials"),
        ("login failed password=hunter2 for bob", "hunter2", "secret_assignment"),
        ('cfg {"api_key": "sk_live_abcdef"', "sk_live_abcdef", "secret_assignment"),
    ],
)
def test_each_detector_finds_its_secret(text: str, secret: str, rule: str) -> None:
    """The secret substring is gone and the rule that fired is named."""
    out, fired = redact(text)
    assert secret not in out
    assert rule in fired


def test_card_partial_mask_keeps_the_last_four_digits() -> None:
    """Cards are partially masked by default: separators and the last four digits kept."""
    out, _ = redact("paid with 4111 1111 1111 1111")
    assert out == "paid with **** **** **** 1111"


def test_pem_key_without_an_end_line_is_redacted_to_the_end() -> None:
    """A truncated PEM block (no END line) is redacted from BEGIN on: fail closed."""
    out, _ = redact("key -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
    assert "MIIEvQ" not in out


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 shipped",  # fails Luhn
        "order-4111111111111111",  # part of an identifier
        "at 1700000000000 ms",  # epoch milliseconds
        "ts 1732406400123456789",  # epoch nanoseconds
        "2024-01-15T10:00:00.123Z",
        "request 550e8400-e29b-41d4-a716-446655440000",
        "version 1.2.3 build 20240115",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",  # git sha, lower-case hex
        "retry 3 of 5 after 250ms",
        "GET /orders/12345 200",
        "ip 192.168.100.12 port 8080",
        "iban-like GB00 WEST 1234 5698 7654 32",  # fails mod-97
        "user@localhost",  # no domain dot
        "ratio 12:34:56",
        "prompt tokens: 5",
        "Bearer",
        "hello world",
    ],
)
def test_non_secrets_pass_untouched(text: str) -> None:
    """Order ids, timestamps, UUIDs, versions, SHAs and short numbers are not redacted."""
    out, fired = redact(text)
    assert out == text, fired
    assert not fired


def test_luhn_and_iban_checks() -> None:
    """The checksum validators accept real test numbers and reject near misses."""
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("1234567812345670")  # Luhn-valid, but no card network starts with 1
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB83 WEST 1234 5698 7654 32")


def test_a_card_number_logged_as_an_int_is_redacted() -> None:
    """An int that is a Luhn-valid card number is replaced by its partial mask."""
    fired: set[str] = set()
    out = RedactionProcessor().redact_value(4111111111111111, fired)
    assert out == "************1111"
    assert RedactionProcessor().redact_value(1700000000000) == 1700000000000


def test_mask_constant() -> None:
    """The mask text is the documented one."""
    assert MASK == "[REDACTED]"
