"""Audit keys live only in SecretKey: no repr, str, vars() value, pickle or error shows them."""

from __future__ import annotations

import asyncio
import base64
import copy
import pickle
from pathlib import Path
from typing import Any

import pytest

from audit_support import AES_KEY, KEY, audit_event
from fapilog.audit import AuditExporter, AuditKeyError, AuditLockError
from fapilog.audit._keys import RecordCipher, SealChecker, SecretKey, Signer

ED_RAW = bytes(range(100, 132))
HMAC_RAW = b"\xfe\x01binary-hmac-key\x00\xff"


def _forms(secret: bytes | str) -> list[str]:
    """Ways key material could show up in text."""
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = [repr(raw)[2:-1], raw.hex(), base64.b64encode(raw).decode()]
    if isinstance(secret, str):
        forms.append(secret)
    return forms


SECRETS = [f for s in (KEY, AES_KEY, ED_RAW, HMAC_RAW) for f in _forms(s)]


def _assert_clean(text: str, where: str) -> None:
    for form in SECRETS:
        assert form not in text, f"key material in {where}: {text!r}"


def _walk(obj: Any, where: str, seen: set[int], depth: int = 0) -> None:
    """Every attribute value reachable through vars() and slots: its repr and str."""
    if id(obj) in seen or depth > 6:
        return
    seen.add(id(obj))
    _assert_clean(repr(obj), where)
    _assert_clean(str(obj), where)
    if isinstance(obj, SecretKey):
        return  # the wrapper: its value is reachable only through reveal()
    values: list[tuple[str, Any]] = []
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        values += list(vars(obj).items())
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name != "__weakref__" and hasattr(obj, name):
                values.append((name, getattr(obj, name)))
    if isinstance(obj, dict):
        values += [(str(k), v) for k, v in obj.items()]
    elif isinstance(obj, list | tuple | set | frozenset):
        values += [(str(i), v) for i, v in enumerate(obj)]
    for name, value in values:
        if isinstance(value, int | float | bool | type(None) | Path):
            continue
        _walk(value, f"{where}.{name}", seen, depth + 1)


def _assert_unpicklable(obj: Any) -> None:
    with pytest.raises(TypeError) as info:
        pickle.dumps(obj)
    _assert_clean(str(info.value), f"pickling {type(obj).__name__}")


@pytest.fixture
def exporters(tmp_path: Path) -> list[AuditExporter]:
    made = [
        AuditExporter(tmp_path / "hmac", key=KEY, encrypt_key=AES_KEY, fsync=False),
        AuditExporter(tmp_path / "raw", key=HMAC_RAW, encrypt_key=AES_KEY.hex(), fsync=False),
        AuditExporter(tmp_path / "ed", signing="ed25519", private_key=ED_RAW, encrypt_key=AES_KEY),
    ]

    async def use() -> None:
        for exporter in made:
            assert (await exporter.export([audit_event(1)])).ok

    asyncio.run(use())
    return made


def test_exporters_and_everything_they_hold_show_no_key(exporters: list[AuditExporter]) -> None:
    """repr, str and the repr/str of every attribute reachable from an exporter (writer,
    signer, checker, cipher, lock) are clean; the keys themselves sit in SecretKey."""
    for exporter in exporters:
        _walk(exporter, type(exporter).__name__, set())
        for value in vars(exporter).values():
            _assert_clean(repr(value), "vars(exporter)")
        writer = exporter._writer
        for value in vars(writer).values():
            _assert_clean(repr(value), "vars(writer)")
        signer = writer._signer
        held = [v for v in vars(signer).values() if v is not None]
        assert any(isinstance(v, SecretKey) for v in held)
        assert not any(isinstance(v, bytes | bytearray) for v in held)
        asyncio.run(exporter.shutdown())


def test_no_audit_object_can_be_pickled_and_the_error_shows_no_key(
    exporters: list[AuditExporter],
) -> None:
    """Exporter, writer, signer, checker, cipher and SecretKey refuse pickling cleanly."""
    exporter = exporters[0]
    writer = exporter._writer
    signer = writer._signer
    for obj in (
        exporter,
        writer,
        signer,
        writer._cipher,
        signer.checker(),
        SealChecker(key=KEY),
        RecordCipher(AES_KEY),
        SecretKey(KEY.encode()),
    ):
        _assert_unpicklable(obj)
    for exporter in exporters:
        asyncio.run(exporter.shutdown())


def test_secret_key_reveals_only_on_request() -> None:
    """SecretKey masks itself, has no __dict__, and copies to itself."""
    secret = SecretKey(KEY.encode())
    assert repr(secret) == str(secret) == "SecretKey('**********')"
    assert not hasattr(secret, "__dict__")
    assert copy.copy(secret) is secret and copy.deepcopy(secret) is secret
    assert secret.reveal() == KEY.encode()


def test_standalone_key_holders_show_no_key() -> None:
    """Signer (HMAC and Ed25519), SealChecker and RecordCipher, walked the same way."""
    for obj in (
        Signer(key=KEY, signing="hmac", private_key=None),
        Signer(key=None, signing="ed25519", private_key=ED_RAW),
        Signer(key=HMAC_RAW, signing="hmac", private_key=None),
        SealChecker(key=KEY),
        RecordCipher(AES_KEY),
    ):
        _walk(obj, type(obj).__name__, set())


def test_errors_never_contain_key_material(tmp_path: Path) -> None:
    """Rejected keys and a locked directory: the messages name the problem, not the key."""
    cases: list[dict[str, Any]] = [
        {"key": "short-key"},
        {"key": KEY, "encrypt_key": KEY},  # not a valid AES-256 key
        {"signing": "ed25519", "private_key": KEY},  # not an Ed25519 key
        {"key": KEY, "signing": "rsa"},
    ]
    for options in cases:
        with pytest.raises(AuditKeyError) as info:
            AuditExporter(tmp_path, **options)
        _assert_clean(str(info.value), f"error for {sorted(options)}")
        assert "short-key" not in str(info.value)
    first = AuditExporter(tmp_path, key=KEY)
    with pytest.raises(AuditLockError) as lock_info:
        AuditExporter(tmp_path, key=KEY, encrypt_key=AES_KEY)
    _assert_clean(str(lock_info.value), "AuditLockError")
    asyncio.run(first.shutdown())
