"""Elasticsearch 8 / OpenSearch 2 exporter for fapilog: ``_bulk`` with ECS documents.

::

    import fapilog
    from fapilog_exporter_elasticsearch import ElasticsearchExporter

    fapilog.configure(exporters=[ElasticsearchExporter(url="https://es.internal:9200")])

or ``FAPILOG_EXPORTERS=elasticsearch`` with ``FAPILOG_ELASTICSEARCH_URL`` and friends.
See ``docs/exporters/elasticsearch.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fapilog_exporter_elasticsearch._config import ElasticsearchExporterOptions
from fapilog_exporter_elasticsearch._exporter import ElasticsearchExporter

if TYPE_CHECKING:
    from fapilog_exporter_elasticsearch._otel import ElasticsearchLogRecordExporter

__all__ = [
    "ElasticsearchExporter",
    "ElasticsearchExporterOptions",
    "ElasticsearchLogRecordExporter",
]


def __getattr__(name: str) -> Any:
    # Imported on first use: it needs fapilog.otel, which the exporter itself does not.
    if name == "ElasticsearchLogRecordExporter":
        from fapilog_exporter_elasticsearch._otel import ElasticsearchLogRecordExporter

        return ElasticsearchLogRecordExporter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
