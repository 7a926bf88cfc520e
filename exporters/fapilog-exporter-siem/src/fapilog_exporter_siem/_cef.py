"""CEF payloads: ``CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|Extension``.

Escaping follows the ArcSight CEF specification: in the header ``\\`` and ``|``
get a backslash, and a line break (not allowed there) becomes a space; in the
extension ``\\`` and ``=`` get a backslash and CR/LF are written as ``\\r``/``\\n``.

* SignatureID is the OTel event name, else the logger name, else ``log``.
* Name is the message, line breaks flattened, cut to 512 characters; the whole
  message is in ``msg``. Severity is 0-10 (:func:`~._severity.cef_severity`).
* Extension keys: ``rt`` (event time, ms since the epoch), ``dvchost``, ``msg``;
  attributes with an obvious CEF key use it (:data:`STANDARD_KEYS`), the rest, like
  the metadata (``trace_id``, ``logger``...), keep their name with characters
  outside ``A-Za-z0-9_.`` made ``_`` (see :class:`~._keys.KeySanitizer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fapilog_exporter_siem._keys import KeySanitizer, extension_pairs
from fapilog_exporter_siem._severity import cef_severity

if TYPE_CHECKING:
    from fapilog_exporter_siem._record import Record

__all__ = ["STANDARD_KEYS", "cef_payload"]

#: OTel semantic-convention attribute keys -> the CEF key they map to.
STANDARD_KEYS: dict[str, str] = {
    "client.address": "src",
    "source.address": "src",
    "network.peer.address": "src",
    "client.port": "spt",
    "source.port": "spt",
    "server.address": "dst",
    "destination.address": "dst",
    "server.port": "dpt",
    "destination.port": "dpt",
    "url.full": "request",
    "http.url": "request",
    "http.request.method": "requestMethod",
    "http.method": "requestMethod",
    "user_agent.original": "requestClientApplication",
    "user.name": "suser",
    "enduser.id": "suser",
    "network.transport": "proto",
    "event.category": "cat",
    "event.outcome": "outcome",
}
_RESERVED = frozenset({"rt", "dvchost", "msg", *STANDARD_KEYS.values()})
_HEADER = str.maketrans({"\\": "\\\\", "|": "\\|", "\r": " ", "\n": " "})
_EXTENSION = str.maketrans({"\\": "\\\\", "=": "\\=", "\r": "\\r", "\n": "\\n"})
_KEY = KeySanitizer("A-Za-z0-9_.", 63, "_")
NAME_LIMIT = 512


def header_text(value: str) -> str:
    """Escape a CEF header field."""
    return value.translate(_HEADER)


def extension_value(value: str) -> str:
    """Escape a CEF extension value."""
    return value.translate(_EXTENSION)


def cef_payload(record: Record, vendor: str, product: str, version: str) -> str:
    """Encode ``record`` as one CEF line (no trailing line break).

    Args:
        record: the flattened event.
        vendor: Device Vendor.
        product: Device Product.
        version: Device Version.

    Returns:
        The CEF text.
    """
    signature = record.event_name or record.logger or "log"
    name = record.body[:NAME_LIMIT] or signature
    severity = str(cef_severity(record.severity_number))
    head = "|".join(
        header_text(part) for part in (vendor, product, version, signature, name, severity)
    )
    pairs = [("rt", str(record.timestamp_ns // 1_000_000)), ("dvchost", record.hostname)]
    if record.body:
        pairs.append(("msg", record.body))
    pairs += extension_pairs(record, standard_keys=STANDARD_KEYS, reserved=_RESERVED, sanitize=_KEY)
    extension = " ".join(f"{key}={extension_value(value)}" for key, value in pairs)
    return f"CEF:0|{head}|{extension}"
