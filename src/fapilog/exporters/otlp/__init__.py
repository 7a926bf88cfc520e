"""OTLP log exporters (gRPC and HTTP/protobuf), configured by the standard OTel env.

Use :func:`OTLPExporter` to get the exporter for the configured protocol::

    from fapilog.exporters.otlp import OTLPExporter

    exporter = OTLPExporter(endpoint="https://collector:4317", headers={"x-tenant": "acme"})

Needs the ``otlp`` extra: ``pip install 'fapilog[otlp]'``.
"""

from __future__ import annotations

from typing import Any

from fapilog.exporters.otlp._config import OTLPExporterOptions
from fapilog.exporters.otlp._grpc import OTLPGrpcExporter
from fapilog.exporters.otlp._http import OTLPHttpExporter

__all__ = ["OTLPExporter", "OTLPExporterOptions", "OTLPGrpcExporter", "OTLPHttpExporter"]


def OTLPExporter(  # reads like the class it builds, as OTel's exporters do
    options: OTLPExporterOptions | None = None, **kwargs: Any
) -> OTLPGrpcExporter | OTLPHttpExporter:
    """Create the OTLP exporter for the configured protocol.

    Args:
        options: resolved options; when omitted they are read from ``**kwargs`` over
            the ``OTEL_EXPORTER_OTLP_*`` environment variables.
        **kwargs: any :class:`OTLPExporterOptions` field, when ``options`` is not given.

    Returns:
        An :class:`OTLPGrpcExporter` for ``protocol="grpc"`` (the default), an
        :class:`OTLPHttpExporter` for ``protocol="http/protobuf"``.

    Raises:
        ConfigError: an option is invalid; the message names the argument or variable.
        TypeError: both ``options`` and keyword arguments were given.
    """
    if options is None:
        options = OTLPExporterOptions.from_env(**kwargs)
    elif kwargs:
        raise TypeError("pass either options or keyword arguments, not both")
    if options.protocol == "grpc":
        return OTLPGrpcExporter(options)
    return OTLPHttpExporter(options)
