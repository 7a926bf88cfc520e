"""RFC 5424 messages: header, structured data and MSG.

``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG``

* TIMESTAMP is UTC with microseconds (RFC 5424 allows at most six fractional digits).
* HOSTNAME, APP-NAME, PROCID and MSGID may hold only printable US-ASCII (33-126)
  and are cut to 255, 48, 128 and 32 characters; other characters become ``_``,
  and an empty value is the NILVALUE ``-``. MSGID is the OTel event name.
* MSG is UTF-8 **without** a byte-order mark (the ``MSG-ANY`` form): many receivers
  and SIEM parsers keep the BOM as part of the text, and CEF/LEEF parsers expect the
  payload to start with ``CEF:``/``LEEF:``.
"""

from __future__ import annotations

import functools
import re
import time
from typing import TYPE_CHECKING

from fapilog_exporter_siem._keys import KeySanitizer
from fapilog_exporter_siem._severity import syslog_severity

if TYPE_CHECKING:
    from fapilog_exporter_siem._record import Record

__all__ = ["SDBuilder", "escape_param_value", "format_timestamp", "header"]

_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")
_PARAM_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "]": "\\]"})
# SD-NAME: 1-32 printable US-ASCII except '=', SP, ']' and '"'.
_PARAM_NAME = KeySanitizer(r"\x21\x23-\x3c\x3e-\x5c\x5e-\x7e", 32, "~")


@functools.lru_cache(maxsize=128)
def _utc_seconds(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def format_timestamp(timestamp_ns: int) -> str:
    """RFC 5424 TIMESTAMP: ``2026-11-30T04:38:37.123456Z`` (the NILVALUE if unusable)."""
    try:
        seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
        if not 0 <= seconds < 253402300800:  # years 1970-9999
            return "-"
        return f"{_utc_seconds(seconds)}.{nanos // 1000:06d}Z"
    except (OverflowError, OSError, ValueError, TypeError):
        return "-"


def header_field(value: str, limit: int) -> str:
    """Make ``value`` a valid header field: printable US-ASCII, at most ``limit`` chars."""
    if not value:
        return "-"
    return _NOT_PRINTUSASCII.sub("_", value[:limit])


def header(record: Record, facility: int) -> str:
    """Everything before STRUCTURED-DATA: ``<PRI>1 TS HOST APP PROCID MSGID``."""
    pri = facility * 8 + syslog_severity(record.severity_number)
    return (
        f"<{pri}>1 {format_timestamp(record.timestamp_ns)} "
        f"{header_field(record.hostname, 255)} {header_field(record.app_name, 48)} "
        f"{header_field(record.procid, 128)} {header_field(record.event_name, 32)}"
    )


def escape_param_value(value: str) -> str:
    """Escape a PARAM-VALUE: ``\\``, ``"`` and ``]`` get a backslash (RFC 5424 6.3.3)."""
    return value.translate(_PARAM_ESCAPES)


class SDBuilder:
    """Writes a record's STRUCTURED-DATA: one element for metadata, one for attributes.

    ``[fapilog@32473 trace_id="..." logger="..."][fapilog.attrs@32473 key="value"]``;
    an element without parameters is left out, and no element at all is ``-``.
    Attribute keys become valid, unique PARAM-NAMEs (see :class:`KeySanitizer`).

    Args:
        sd_name: the name part of the SD-IDs.
        enterprise_number: the private enterprise number after ``@``.
    """

    __slots__ = ("attrs_id", "meta_id")

    def __init__(self, sd_name: str, enterprise_number: int) -> None:
        self.meta_id = f"{sd_name}@{enterprise_number}"
        self.attrs_id = f"{sd_name}.attrs@{enterprise_number}"

    def build(self, record: Record) -> str:
        """Return the STRUCTURED-DATA of ``record``."""
        parts = []
        for sd_id, params in ((self.meta_id, record.meta), (self.attrs_id, record.attributes)):
            if not params:
                continue
            used: set[str] = set()
            body = " ".join(
                f'{_PARAM_NAME(key, used)}="{escape_param_value(value)}"' for key, value in params
            )
            parts.append(f"[{sd_id} {body}]")
        return "".join(parts) or "-"


def message(record: Record, facility: int, structured_data: str, msg: str) -> str:
    """Assemble a whole RFC 5424 message (an empty MSG is left out with its space)."""
    head = f"{header(record, facility)} {structured_data}"
    return f"{head} {msg}" if msg else head
