"""Keys of the audit log: HMAC and Ed25519 seals, AES-256-GCM records.

``cryptography`` is an optional dependency (``pip install 'fapilog[audit]'``): it is
imported only when Ed25519 or encryption is used. HMAC-SHA256 needs only the
standard library.

Key material is kept as bytes in private attributes and never written to a
``repr``, an error message, a diagnostic or the log directory; what identifies a
key on disk is its ``key_id``, a one-way fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "ED25519_ALG",
    "HMAC_ALG",
    "AuditKeyError",
    "RecordCipher",
    "SealChecker",
    "Signer",
    "load_public_key",
    "secret_bytes",
]

HMAC_ALG = "hmac-sha256"
ED25519_ALG = "ed25519"
_MIN_HMAC_KEY = 16
_INSTALL_HINT = "install the audit extra: pip install 'fapilog[audit]'"


class AuditKeyError(ValueError):
    """A key is missing, malformed or of the wrong kind (the message never contains it)."""


def _cryptography() -> Any:
    try:
        import cryptography.hazmat.primitives.asymmetric.ed25519 as ed25519
    except ImportError as exc:  # optional dependency
        raise ImportError(
            f"Ed25519 signing and audit log encryption need 'cryptography'; {_INSTALL_HINT}"
        ) from exc
    return ed25519


def secret_bytes(value: SecretStr | str | bytes, what: str) -> bytes:
    """The raw bytes of a secret given as ``SecretStr``, ``str`` (UTF-8) or ``bytes``.

    Raises:
        AuditKeyError: the value is empty or of another type.
    """
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes | bytearray):
        raise AuditKeyError(f"{what} must be a SecretStr, str or bytes, not {type(value).__name__}")
    if not value:
        raise AuditKeyError(f"{what} is empty")
    return bytes(value)


def _aes_key(value: SecretStr | str | bytes) -> bytes:
    """32 raw bytes, or 64 hex digits, or base64 of 32 bytes."""
    raw = secret_bytes(value, "encrypt_key")
    if len(raw) == 32:
        return raw
    text = raw.strip()
    for decode in (bytes.fromhex, base64.b64decode, base64.urlsafe_b64decode):
        try:
            key = decode(text.decode("ascii"))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            continue
        if len(key) == 32:
            return bytes(key)
    raise AuditKeyError(
        "encrypt_key must be 32 bytes (AES-256): raw bytes, 64 hex digits or base64"
    )


class Signer:
    """Signs seals and checkpoints with HMAC-SHA256 or an Ed25519 private key."""

    def __init__(
        self,
        *,
        key: SecretStr | str | bytes | None,
        signing: str,
        private_key: Ed25519PrivateKey | SecretStr | str | bytes | None,
    ) -> None:
        self._hmac_key: bytes | None = None
        self._private: Ed25519PrivateKey | None = None
        if signing == "hmac":
            if key is None:
                raise AuditKeyError("signing='hmac' needs key= (the HMAC secret)")
            self._hmac_key = secret_bytes(key, "key")
            if len(self._hmac_key) < _MIN_HMAC_KEY:
                raise AuditKeyError(f"key must be at least {_MIN_HMAC_KEY} bytes long")
            self.alg = HMAC_ALG
            self.key_id = hmac_key_id(self._hmac_key)
        elif signing == "ed25519":
            if private_key is None:
                raise AuditKeyError("signing='ed25519' needs private_key=")
            self._private = _load_private_key(private_key)
            self.alg = ED25519_ALG
            self.key_id = ed25519_key_id(self._private.public_key())
        else:
            raise AuditKeyError(f"signing must be 'hmac' or 'ed25519', not {signing!r}")

    def __repr__(self) -> str:
        return f"Signer(alg={self.alg!r}, key_id={self.key_id!r})"

    def sign(self, data: bytes) -> str:
        """Base64 signature (or MAC) of ``data``."""
        if self._hmac_key is not None:
            mac = hmac.new(self._hmac_key, data, hashlib.sha256).digest()
            return base64.b64encode(mac).decode("ascii")
        assert self._private is not None
        return base64.b64encode(self._private.sign(data)).decode("ascii")

    def checker(self) -> SealChecker:
        """A checker for this signer's own seals (used when resuming a directory)."""
        if self._hmac_key is not None:
            return SealChecker(key=self._hmac_key)
        assert self._private is not None
        return SealChecker(public_key=self._private.public_key())


class SealChecker:
    """Checks seals and checkpoints with an HMAC key and/or an Ed25519 public key."""

    def __init__(
        self,
        *,
        key: SecretStr | str | bytes | None = None,
        public_key: Ed25519PublicKey | bytes | str | None = None,
    ) -> None:
        self._hmac_key = secret_bytes(key, "key") if key is not None else None
        self._public: Ed25519PublicKey | None = None
        if public_key is not None:
            self._public = (
                load_public_key(public_key) if isinstance(public_key, bytes | str) else public_key
            )
        self.key_ids: dict[str, str] = {}
        if self._hmac_key is not None:
            self.key_ids[HMAC_ALG] = hmac_key_id(self._hmac_key)
        if self._public is not None:
            self.key_ids[ED25519_ALG] = ed25519_key_id(self._public)

    def __repr__(self) -> str:
        return f"SealChecker(algs={sorted(self.key_ids)})"

    def has_key(self, alg: str) -> bool:
        """Whether a key for ``alg`` was given."""
        return alg in self.key_ids

    def check(self, alg: str, data: bytes, signature: str) -> bool:
        """Whether ``signature`` is a valid seal of ``data`` under ``alg``."""
        try:
            sig = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError, TypeError):
            return False
        if alg == HMAC_ALG and self._hmac_key is not None:
            expected = hmac.new(self._hmac_key, data, hashlib.sha256).digest()
            return hmac.compare_digest(expected, sig)
        if alg == ED25519_ALG and self._public is not None:
            from cryptography.exceptions import InvalidSignature

            try:
                self._public.verify(sig, data)
            except InvalidSignature:
                return False
            return True
        return False


class RecordCipher:
    """AES-256-GCM per record: a fresh 96-bit nonce each time, the sequence number as AAD."""

    def __init__(self, key: SecretStr | str | bytes) -> None:
        _cryptography()
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(_aes_key(key))

    def __repr__(self) -> str:
        return "RecordCipher(AES-256-GCM)"

    def encrypt(self, seq: int, plaintext: bytes) -> dict[str, str]:
        """The stored form of one record: ``{"alg", "nonce", "ct"}`` (base64)."""
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, plaintext, _aad(seq))
        return {
            "alg": "A256GCM",
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "ct": base64.b64encode(ct).decode("ascii"),
        }

    def decrypt(self, seq: int, stored: Any) -> bytes | None:
        """The plaintext, or None when the key is wrong or the record was altered."""
        from cryptography.exceptions import InvalidTag

        try:
            nonce = base64.b64decode(stored["nonce"], validate=True)
            ct = base64.b64decode(stored["ct"], validate=True)
            return bytes(self._aead.decrypt(nonce, ct, _aad(seq)))
        except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
            return None


def _aad(seq: int) -> bytes:
    return str(seq).encode("ascii")


def hmac_key_id(key: bytes) -> str:
    """A fingerprint of an HMAC key that reveals nothing about it (itself an HMAC)."""
    return hmac.new(key, b"fapilog-audit key id", hashlib.sha256).hexdigest()[:16]


def ed25519_key_id(public: Ed25519PublicKey) -> str:
    """The fingerprint of an Ed25519 public key: SHA-256 of its raw bytes, shortened."""
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _load_private_key(value: Ed25519PrivateKey | SecretStr | str | bytes) -> Ed25519PrivateKey:
    ed25519 = _cryptography()
    if isinstance(value, ed25519.Ed25519PrivateKey):
        return value  # type: ignore[no-any-return]  # narrowed via the lazily imported module
    from cryptography.hazmat.primitives import serialization

    raw = secret_bytes(value, "private_key")  # type: ignore[arg-type]  # not a key object here
    if len(raw) == 32:
        return ed25519.Ed25519PrivateKey.from_private_bytes(raw)  # type: ignore[no-any-return]
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        raise AuditKeyError(
            "private_key must be an Ed25519PrivateKey, 32 raw bytes or an unencrypted PEM"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise AuditKeyError("private_key is not an Ed25519 key")
    return key  # type: ignore[no-any-return]


def load_public_key(value: bytes | str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM, 32 raw bytes or 64 hex digits.

    Raises:
        AuditKeyError: the value is none of those.
        ImportError: ``cryptography`` is not installed.
    """
    ed25519 = _cryptography()
    from cryptography.hazmat.primitives import serialization

    raw = value.encode("utf-8") if isinstance(value, str) else value
    if len(raw) == 32:
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)  # type: ignore[no-any-return]
    text = raw.strip()
    if len(text) == 64:
        try:
            return ed25519.Ed25519PublicKey.from_public_bytes(  # type: ignore[no-any-return]
                bytes.fromhex(text.decode("ascii"))
            )
        except (ValueError, UnicodeDecodeError):
            pass
    try:
        key = serialization.load_pem_public_key(text)
    except (ValueError, TypeError):
        raise AuditKeyError(
            "public key must be a PEM Ed25519 public key, 32 raw bytes or 64 hex digits"
        ) from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise AuditKeyError("public key is not an Ed25519 key")
    return key  # type: ignore[no-any-return]
