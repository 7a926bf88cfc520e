"""Syslog for SIEMs: RFC 5424 over TLS, TCP or UDP, with RFC 5424 SD, CEF or LEEF payloads.

::

    import fapilog
    from fapilog_exporter_siem import SyslogExporter

    fapilog.configure(exporters=[SyslogExporter(host="siem.example.com", format="cef")])

or ``FAPILOG_EXPORTERS=syslog`` with ``FAPILOG_SYSLOG_HOST=...``. See
``docs/exporters/siem.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fapilog_exporter_siem._exporter import SyslogExporter, SyslogStats
from fapilog_exporter_siem._options import SyslogOptions

if TYPE_CHECKING:
    from fapilog_exporter_siem._otel import SyslogLogRecordExporter

__all__ = ["SyslogExporter", "SyslogLogRecordExporter", "SyslogOptions", "SyslogStats"]


def __getattr__(name: str) -> Any:
    # Imported on demand: it pulls in fapilog.otel, which plain pipeline users never need.
    if name == "SyslogLogRecordExporter":
        from fapilog_exporter_siem._otel import SyslogLogRecordExporter

        return SyslogLogRecordExporter
    raise AttributeError(f"module 'fapilog_exporter_siem' has no attribute {name!r}")
