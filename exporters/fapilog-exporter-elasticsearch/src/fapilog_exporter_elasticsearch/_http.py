"""HTTP helpers of the exporter: certificate errors and TLS settings."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fapilog_exporter_elasticsearch._config import ElasticsearchExporterOptions

__all__ = ["certificate_error", "verify_setting"]


def verify_setting(options: ElasticsearchExporterOptions) -> ssl.SSLContext | bool:
    """What ``httpx`` gets as ``verify``: the CA file's context, the default, or off.

    Raises:
        OSError: the CA file cannot be read or parsed (``ssl.SSLError`` included).
    """
    if not options.verify:
        return False
    if options.ca_file is not None:
        return ssl.create_default_context(cafile=str(options.ca_file))
    return True


def certificate_error(exc: BaseException) -> str | None:
    """The verification message when ``exc`` comes from a refused server certificate."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return str(current.verify_message or current.reason or "certificate refused")
        current = current.__cause__ or current.__context__
    return None
