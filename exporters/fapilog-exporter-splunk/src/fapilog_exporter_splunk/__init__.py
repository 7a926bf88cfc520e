"""Splunk HTTP Event Collector exporter for fapilog.

::

    import fapilog
    from fapilog_exporter_splunk import SplunkHECExporter

    fapilog.configure(
        exporters=[SplunkHECExporter(url="https://splunk.example.com:8088", token=token)]
    )

or ``FAPILOG_EXPORTERS=splunk_hec`` with ``FAPILOG_SPLUNK_URL`` and
``FAPILOG_SPLUNK_TOKEN`` set. See ``docs/exporters/splunk.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fapilog_exporter_splunk._exporter import SplunkHECExporter
from fapilog_exporter_splunk._options import SplunkHECOptions

if TYPE_CHECKING:
    from fapilog_exporter_splunk._otel import SplunkHECLogRecordExporter

__all__ = ["SplunkHECExporter", "SplunkHECLogRecordExporter", "SplunkHECOptions"]


def __getattr__(name: str) -> Any:
    # Imported lazily: it needs fapilog.otel, which the core exporter does not.
    if name == "SplunkHECLogRecordExporter":
        from fapilog_exporter_splunk._otel import SplunkHECLogRecordExporter

        return SplunkHECLogRecordExporter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
