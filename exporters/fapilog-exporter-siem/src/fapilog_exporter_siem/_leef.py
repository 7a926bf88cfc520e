"""LEEF 2.0 payloads: ``LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|attributes``.

* The attributes are ``key=value`` pairs separated by the delimiter (TAB by default,
  written ``x09`` in the header; a printable delimiter is written as itself).
* In the header, ``\\`` and ``|`` get a backslash and TAB/CR/LF become spaces. In
  values, ``\\`` is written ``\\\\``, TAB ``\\t``, LF ``\\n``, CR ``\\r``, and any other
  delimiter gets a backslash. ``=`` needs no escaping in values: a reader splits each
  pair at its first ``=``, and keys never contain one.
* EventID is the OTel event name, else the logger name, else ``log``.
* Keys: ``devTime`` (ISO 8601 with ms, described by ``devTimeFormat``), ``sev``
  (1-10), ``msg``; attributes with an obvious LEEF key use it (:data:`STANDARD_KEYS`),
  the rest keep their name with characters outside ``A-Za-z0-9_.`` made ``_``.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from fapilog_exporter_siem._keys import KeySanitizer, extension_pairs
from fapilog_exporter_siem._severity import cef_severity

if TYPE_CHECKING:
    from fapilog_exporter_siem._record import Record

__all__ = ["DEV_TIME_FORMAT", "STANDARD_KEYS", "delimiter_field", "leef_payload"]

#: OTel semantic-convention attribute keys -> the LEEF key they map to.
STANDARD_KEYS: dict[str, str] = {
    "client.address": "src",
    "source.address": "src",
    "network.peer.address": "src",
    "client.port": "srcPort",
    "source.port": "srcPort",
    "server.address": "dst",
    "destination.address": "dst",
    "server.port": "dstPort",
    "destination.port": "dstPort",
    "user.name": "usrName",
    "enduser.id": "usrName",
    "network.transport": "proto",
    "event.category": "cat",
}
DEV_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"
_RESERVED = frozenset({"devTime", "devTimeFormat", "sev", "msg", *STANDARD_KEYS.values()})
_HEADER = str.maketrans({"\\": "\\\\", "|": "\\|", "\t": " ", "\r": " ", "\n": " "})
_KEY = KeySanitizer("A-Za-z0-9_.", 63, "_")


def delimiter_field(delimiter: str) -> str:
    """The header's delimiter field: the character, or ``xHH`` unless printable."""
    if delimiter.isprintable() and delimiter not in "| " and delimiter.isascii():
        return delimiter
    return f"x{ord(delimiter):02X}"


def value_table(delimiter: str) -> dict[int, str]:
    """The translation table escaping a value for ``delimiter``."""
    table = {ord("\\"): "\\\\", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}
    if delimiter not in "\t":
        table[ord(delimiter)] = "\\" + delimiter
    return table


@functools.lru_cache(maxsize=128)
def _utc_seconds(seconds: int) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return "1970-01-01T00:00:00"


def _dev_time(timestamp_ns: int) -> str:
    seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
    return f"{_utc_seconds(seconds)}.{nanos // 1_000_000:03d}Z"


def leef_payload(record: Record, vendor: str, product: str, version: str, delimiter: str) -> str:
    """Encode ``record`` as one LEEF 2.0 line (no trailing line break).

    Args:
        record: the flattened event.
        vendor: Vendor header field.
        product: Product header field.
        version: Version header field.
        delimiter: the attribute delimiter (one character).

    Returns:
        The LEEF text.
    """
    event_id = record.event_name or record.logger or "log"
    head = "|".join(p.translate(_HEADER) for p in (vendor, product, version, event_id))
    pairs = [
        ("devTime", _dev_time(record.timestamp_ns)),
        ("devTimeFormat", DEV_TIME_FORMAT),
        ("sev", str(max(1, cef_severity(record.severity_number)))),
    ]
    if record.body:
        pairs.append(("msg", record.body))
    pairs += extension_pairs(record, standard_keys=STANDARD_KEYS, reserved=_RESERVED, sanitize=_KEY)
    table = value_table(delimiter)
    body = delimiter.join(f"{key}={value.translate(table)}" for key, value in pairs)
    return f"LEEF:2.0|{head}|{delimiter_field(delimiter)}|{body}"
