"""Read the records of an audit log back (decrypting them when given the key)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from fapilog.audit._format import SEGMENT_RE, segment_name
from fapilog.audit._keys import RecordCipher
from fapilog.audit._walk import parse_segment

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pydantic import SecretStr

__all__ = ["iter_records"]


def iter_records(
    path: str | os.PathLike[str],
    *,
    decrypt_key: SecretStr | str | bytes | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield every record of an audit log directory, in order, as ``{"seq", "event"}``.

    This reads; it does not verify (run :func:`verify` first). Encrypted records are
    decrypted with ``decrypt_key``; without it they are yielded as ``{"seq", "enc"}``.

    Args:
        path: the log directory.
        decrypt_key: the AES-256 key of an encrypted log.

    Raises:
        ValueError: a record does not decrypt with ``decrypt_key``.
    """
    cipher = RecordCipher(decrypt_key) if decrypt_key is not None else None
    directory = Path(path)
    indices = sorted(
        int(m.group(1)) for name in os.listdir(directory) if (m := SEGMENT_RE.fullmatch(name))
    )
    for index in indices:
        for entry in parse_segment((directory / segment_name(index)).read_bytes()):
            obj = entry.obj
            if obj is None or "seq" not in obj:
                continue
            if "enc" in obj and cipher is not None:
                plain = cipher.decrypt(obj["seq"], obj["enc"])
                if plain is None:
                    raise ValueError(f"record seq {obj['seq']} does not decrypt with this key")
                yield {"seq": obj["seq"], "event": orjson.loads(plain)}
            elif "enc" in obj:
                yield {"seq": obj["seq"], "enc": obj["enc"]}
            else:
                yield {"seq": obj["seq"], "event": obj.get("event")}
