"""``fapilog audit verify``: argument wiring for :func:`fapilog.audit.verify`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fapilog.audit._keys import AuditKeyError
from fapilog.audit._verify import verify

if TYPE_CHECKING:
    import argparse

__all__ = ["add_audit_parser", "run_audit"]

KEY_ENV = "FAPILOG_AUDIT_KEY"
DECRYPT_KEY_ENV = "FAPILOG_AUDIT_DECRYPT_KEY"


def add_audit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit verify`` to the ``fapilog`` command's subcommands."""
    audit = sub.add_parser("audit", help="tamper-evident audit logs")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    v = audit_sub.add_parser(
        "verify",
        help="verify an audit log directory",
        description=(
            "Verify the hash chain, seals and retention checkpoint of an audit log "
            f"directory. Keys may also come from ${KEY_ENV} and ${DECRYPT_KEY_ENV}; "
            "prefer files or the environment to options, which other users can see in "
            "the process list. Exit code 0: intact; 1: tampered or wrong key; 2: usage."
        ),
    )
    v.add_argument("path", help="the audit log directory")
    keys = v.add_mutually_exclusive_group()
    keys.add_argument("--key", help="the HMAC key (default: $FAPILOG_AUDIT_KEY)")
    keys.add_argument("--key-file", type=Path, help="file holding the HMAC key")
    v.add_argument("--public-key", type=Path, help="Ed25519 public key file (PEM or raw)")
    dec = v.add_mutually_exclusive_group()
    dec.add_argument(
        "--decrypt-key", help="AES-256 key to decrypt records (default: $FAPILOG_AUDIT_DECRYPT_KEY)"
    )
    dec.add_argument("--decrypt-key-file", type=Path, help="file holding the AES-256 key")
    v.add_argument(
        "--allow-open",
        action="store_true",
        help=(
            "accept an unsealed last segment (a log still being written, or left by a "
            "crash) up to its last record with a valid signature; any line after it, or "
            "not signed, still fails"
        ),
    )


def _secret(value: str | None, file: Path | None, env: str) -> bytes | None:
    if file is not None:
        data = file.read_bytes()
        # A trailing newline from an editor or `echo` is not part of the key, but a
        # raw 32-byte AES key may well end in a byte that looks like one.
        return data if len(data) == 32 else data.rstrip(b"\r\n")
    if value is not None:
        return value.encode("utf-8")
    from_env = os.environ.get(env)
    return from_env.encode("utf-8") if from_env else None


def run_audit(args: argparse.Namespace) -> int:
    """Run ``fapilog audit verify``; print the outcome and return the exit code."""
    try:
        key = _secret(args.key, args.key_file, KEY_ENV)
        decrypt_key = _secret(args.decrypt_key, args.decrypt_key_file, DECRYPT_KEY_ENV)
        public_key = args.public_key.read_bytes() if args.public_key is not None else None
        if key is None and public_key is None:
            print(
                f"fapilog audit verify: give --key, --key-file, ${KEY_ENV} or --public-key",
                file=sys.stderr,
            )
            return 2
        report = verify(
            args.path,
            key=key,
            public_key=public_key,
            decrypt_key=decrypt_key,
            allow_open=args.allow_open,
        )
    except (OSError, AuditKeyError, ImportError) as exc:
        # These messages name files and key kinds, never key material.
        print(f"fapilog audit verify: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    print(report.checked())
    for note in report.notes:
        print(f"note: {note}")
    if report.ok:
        print(f"head: seq {report.last_seq} hash {report.last_hash}")
    return 0 if report.ok else 1
