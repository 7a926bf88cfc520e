"""Generic HTTP exporter for fapilog: batches as NDJSON or a JSON array to any URL.

::

    import fapilog
    from fapilog_exporter_http import HTTPExporter

    fapilog.configure(
        exporters=[HTTPExporter(url="https://logs.example.com/ingest", bearer_token=token)]
    )

or ``FAPILOG_EXPORTERS=http`` with ``FAPILOG_HTTP_URL`` set. See
``docs/exporters/http.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fapilog_exporter_http._exporter import HTTPExporter
from fapilog_exporter_http._options import HTTPExporterOptions

if TYPE_CHECKING:
    from fapilog_exporter_http._otel import HTTPLogRecordExporter

__all__ = ["HTTPExporter", "HTTPExporterOptions", "HTTPLogRecordExporter"]


def __getattr__(name: str) -> Any:
    # Imported lazily: it needs fapilog.otel, which the exporter itself does not.
    if name == "HTTPLogRecordExporter":
        from fapilog_exporter_http._otel import HTTPLogRecordExporter

        return HTTPLogRecordExporter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
