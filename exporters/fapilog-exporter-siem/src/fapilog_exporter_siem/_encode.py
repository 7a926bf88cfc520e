"""From a LogEvent to the bytes of one syslog message, within the size limit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fapilog_exporter_siem._cef import cef_payload
from fapilog_exporter_siem._leef import leef_payload
from fapilog_exporter_siem._record import Flattener
from fapilog_exporter_siem._rfc5424 import SDBuilder, message

if TYPE_CHECKING:
    from fapilog.plugin import LogEvent
    from fapilog_exporter_siem._options import SyslogOptions
    from fapilog_exporter_siem._record import Record

__all__ = ["Encoded", "MessageEncoder", "frame"]

_ELLIPSIS = "..."
_MAX_ROUNDS = 64


class Encoded:
    """One encoded message and whether it had to be shortened."""

    __slots__ = ("data", "truncated")

    def __init__(self, data: bytes, truncated: bool) -> None:
        self.data = data
        self.truncated = truncated


def frame(data: bytes) -> bytes:
    """RFC 6587 octet-counting framing: ``MSG-LEN SP SYSLOG-MSG``."""
    return b"%d %b" % (len(data), data)


class MessageEncoder:
    """Encodes events in the configured format, shortening those over the limit.

    A message longer than ``options.message_limit`` is shortened by cutting the
    longest value (the message or an attribute) and marking the cut with ``...``,
    repeatedly, until it fits; only a message whose header alone is too long is cut
    at the byte limit (on a UTF-8 character boundary).

    Args:
        options: the resolved options.
    """

    __slots__ = ("_facility", "_flatten", "_format", "_limit", "_options", "_sd")

    def __init__(self, options: SyslogOptions) -> None:
        self._options = options
        self._format = options.format
        self._facility = options.facility
        self._limit = options.message_limit
        self._sd = SDBuilder(options.sd_name, options.enterprise_number)
        self._flatten = Flattener(options)

    def encode(self, event: LogEvent) -> Encoded:
        """Encode ``event`` as one syslog message (without framing).

        Raises:
            Exception: only for an event too broken to read at all; the exporter
                counts it as rejected.
        """
        record = self._flatten(event)
        data = self._render(record)
        if len(data) <= self._limit:
            return Encoded(data, False)
        return Encoded(self._shorten(record, len(data)), True)

    def _render(self, record: Record) -> bytes:
        try:
            return self._text(record).encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (from undecodable bytes) cannot be UTF-8. Rare, so only
            # now is every field repaired, before escaping, so the escapes stay valid.
            return self._text(record.valid_text()).encode("utf-8")

    def _text(self, record: Record) -> str:
        if self._format == "rfc5424":
            text = message(record, self._facility, self._sd.build(record), record.body)
        else:
            opts = self._options
            product = opts.product or record.app_name or "fapilog"
            if self._format == "cef":
                payload = cef_payload(record, opts.vendor, product, opts.product_version)
            else:
                payload = leef_payload(
                    record, opts.vendor, product, opts.product_version, opts.leef_delimiter
                )
            text = message(record, self._facility, "-", payload)
        return text

    def _shorten(self, record: Record, size: int) -> bytes:
        record = record.copy()
        for _ in range(_MAX_ROUNDS):
            excess = size - self._limit
            # The longest value: the body (index -1) or an attribute.
            longest, where = len(record.body), -1
            for i, (_, value) in enumerate(record.attributes):
                if len(value) > longest:
                    longest, where = len(value), i
            if longest <= len(_ELLIPSIS):
                break
            keep = max(0, longest - max(excess, 16) - len(_ELLIPSIS))
            if where < 0:
                record.body = record.body[:keep] + _ELLIPSIS
            else:
                key, value = record.attributes[where]
                record.attributes[where] = (key, value[:keep] + _ELLIPSIS)
            data = self._render(record)
            size = len(data)
            if size <= self._limit:
                return data
        record.attributes.clear()
        record.meta.clear()
        record.body = ""
        data = self._render(record)
        if len(data) <= self._limit:
            return data
        return data[: self._limit].decode("utf-8", "ignore").encode("utf-8")
