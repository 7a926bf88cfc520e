"""Keys of the audit log: HMAC and Ed25519 seals, AES-256-GCM records.

``cryptography`` is an optional dependency (``pip install 'fapilog[audit]'``): it is
imported only when Ed25519 or encryption is used. HMAC-SHA256 needs only the
standard library.

Key material (HMAC secrets, the Ed25519 private key, the AES key schedule) is held
only inside a :class:`SecretKey`: it is never in a ``repr``, ``str``, ``vars()``
value, an error message, a diagnostic or the log directory, and pickling raises.
What identifies a key on disk is its ``key_id``, a one-way fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from pydantic import SecretStr

from fapilog.audit._format import record_signed_part
from fapilog.exporters._secret import MASK, refuse_pickle

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
    "SecretKey",
    "Signer",
    "load_public_key",
    "secret_bytes",
]

HMAC_ALG = "hmac-sha256"
ED25519_ALG = "ed25519"
_MIN_HMAC_KEY = 16
_INSTALL_HINT = "install the audit extra: pip install 'fapilog[audit]'"


_T = TypeVar("_T")


class AuditKeyError(ValueError):
    """A key is missing, malformed or of the wrong kind (the message never contains it)."""


class SecretKey(Generic[_T]):
    """Key material (bytes or a key object) that never shows or serialises itself.

    ``repr`` and ``str`` show ``**********``; the object has no ``__dict__`` (its one
    slot is private); pickling raises :class:`TypeError` without the value; ``copy``
    and ``deepcopy`` return the object itself. Only :meth:`reveal` hands the value to
    the code that signs, checks or encrypts with it.

    Args:
        value: the key.
    """

    __slots__ = ("_value",)

    def __init__(self, value: _T) -> None:
        self._value = value

    def reveal(self) -> _T:
        """The key itself, for the call that uses it; never store or print it."""
        return self._value

    def __repr__(self) -> str:
        return f"SecretKey({MASK!r})"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        refuse_pickle(self)

    def __copy__(self) -> SecretKey[_T]:
        return self

    def __deepcopy__(self, memo: object) -> SecretKey[_T]:
        return self


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
    """Signs headers, records, seals and checkpoints with HMAC-SHA256 or Ed25519.

    The key is held in a :class:`SecretKey`; pickling a signer raises.
    """

    def __init__(
        self,
        *,
        key: SecretStr | str | bytes | None,
        signing: str,
        private_key: Ed25519PrivateKey | SecretStr | str | bytes | None,
    ) -> None:
        self._hmac_key: SecretKey[bytes] | None = None
        self._private: SecretKey[Ed25519PrivateKey] | None = None
        if signing == "hmac":
            if key is None:
                raise AuditKeyError("signing='hmac' needs key= (the HMAC secret)")
            raw = secret_bytes(key, "key")
            if len(raw) < _MIN_HMAC_KEY:
                raise AuditKeyError(f"key must be at least {_MIN_HMAC_KEY} bytes long")
            self._hmac_key = SecretKey(raw)
            self.alg = HMAC_ALG
            self.key_id = hmac_key_id(raw)
        elif signing == "ed25519":
            if private_key is None:
                raise AuditKeyError("signing='ed25519' needs private_key=")
            private = _load_private_key(private_key)
            self._private = SecretKey(private)
            self.alg = ED25519_ALG
            self.key_id = ed25519_key_id(private.public_key())
        else:
            raise AuditKeyError(f"signing must be 'hmac' or 'ed25519', not {signing!r}")

    def __repr__(self) -> str:
        return f"Signer(alg={self.alg!r}, key_id={self.key_id!r})"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        refuse_pickle(self)

    def sign(self, data: bytes) -> str:
        """Base64 signature (or MAC) of ``data``."""
        if self._hmac_key is not None:
            mac = hmac.new(self._hmac_key.reveal(), data, hashlib.sha256).digest()
            return base64.b64encode(mac).decode("ascii")
        assert self._private is not None
        return base64.b64encode(self._private.reveal().sign(data)).decode("ascii")

    def sign_record(self, record_hash: str) -> str:
        """The ``sig`` of a record: a MAC (or signature) of its hash, made as it is written."""
        return self.sign(record_signed_part(record_hash))

    def checker(self) -> SealChecker:
        """A checker for this signer's own signatures (used when resuming a directory)."""
        if self._hmac_key is not None:
            return SealChecker(key=self._hmac_key.reveal())
        assert self._private is not None
        return SealChecker(public_key=self._private.reveal().public_key())


class SealChecker:
    """Checks signatures of seals, headers, records and checkpoints.

    With an HMAC key (held in a :class:`SecretKey`) and/or an Ed25519 public key.
    """

    def __init__(
        self,
        *,
        key: SecretStr | str | bytes | None = None,
        public_key: Ed25519PublicKey | bytes | str | None = None,
    ) -> None:
        raw = secret_bytes(key, "key") if key is not None else None
        self._hmac_key = SecretKey(raw) if raw is not None else None
        self._public: Ed25519PublicKey | None = None
        if public_key is not None:
            self._public = (
                load_public_key(public_key) if isinstance(public_key, bytes | str) else public_key
            )
        self.key_ids: dict[str, str] = {}
        if raw is not None:
            self.key_ids[HMAC_ALG] = hmac_key_id(raw)
        if self._public is not None:
            self.key_ids[ED25519_ALG] = ed25519_key_id(self._public)

    def __repr__(self) -> str:
        return f"SealChecker(algs={sorted(self.key_ids)})"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        refuse_pickle(self)

    def has_key(self, alg: str) -> bool:
        """Whether a key for ``alg`` was given."""
        return alg in self.key_ids

    def check(self, alg: str, data: bytes, signature: str) -> bool:
        """Whether ``signature`` is a valid signature (or MAC) of ``data`` under ``alg``."""
        try:
            sig = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError, TypeError):
            return False
        if alg == HMAC_ALG and self._hmac_key is not None:
            expected = hmac.new(self._hmac_key.reveal(), data, hashlib.sha256).digest()
            return hmac.compare_digest(expected, sig)
        if alg == ED25519_ALG and self._public is not None:
            from cryptography.exceptions import InvalidSignature

            try:
                self._public.verify(sig, data)
            except InvalidSignature:
                return False
            return True
        return False

    def check_record(self, alg: str, record_hash: Any, signature: Any) -> bool:
        """Whether a record's ``sig`` authenticates its ``hash`` (both as read from disk)."""
        if not isinstance(record_hash, str) or not isinstance(signature, str):
            return False
        return self.check(alg, record_signed_part(record_hash), signature)


class RecordCipher:
    """AES-256-GCM per record: a fresh 96-bit nonce each time, the sequence number as AAD.

    The cipher (and with it the key) is held in a :class:`SecretKey`.
    """

    def __init__(self, key: SecretStr | str | bytes) -> None:
        _cryptography()
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = SecretKey(AESGCM(_aes_key(key)))

    def __repr__(self) -> str:
        return "RecordCipher(AES-256-GCM)"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        refuse_pickle(self)

    def encrypt(self, seq: int, plaintext: bytes) -> dict[str, str]:
        """The stored form of one record: ``{"alg", "nonce", "ct"}`` (base64)."""
        nonce = os.urandom(12)
        ct = self._aead.reveal().encrypt(nonce, plaintext, _aad(seq))
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
            return bytes(self._aead.reveal().decrypt(nonce, ct, _aad(seq)))
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
