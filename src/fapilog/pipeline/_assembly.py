"""Pipeline assembly: settings (and code's arguments) -> the parts a pipeline runs.

:func:`assemble` decides everything a :class:`~fapilog.Pipeline` is made of before
it starts: the Resource, the processors in their order (built-in enrichers, then
redaction and compliance, then sampling and de-duplication, then the
application's), the exporters, the memory plan and the batch options. The running
pipeline only runs them.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource

from fapilog._diagnostics import reporter
from fapilog._retry import RetryPolicy
from fapilog.exporters._registry import resolve_exporters, resolve_processors
from fapilog.pipeline._batch import BatchOptions
from fapilog.pipeline._size import MemoryPlan
from fapilog.processors._builtin import (
    BaggageProcessor,
    BoundContextProcessor,
    SpanContextProcessor,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter
    from fapilog.processors._base import Processor

__all__ = [
    "Parts",
    "assemble",
    "batch_options",
    "default_resource",
    "volume_processors",
]


@dataclass
class Parts:
    """What a pipeline is made of (see :func:`assemble`)."""

    resource: Resource
    span_processor: SpanContextProcessor
    bound_processor: BoundContextProcessor
    processors: list[Processor]
    exporters: list[Exporter]
    plan: MemoryPlan
    batch_options: BatchOptions


def assemble(
    settings: Settings,
    *,
    exporters: Iterable[Any] | Mapping[str, Mapping[str, Any]] | None,
    processors: Iterable[Any] | Mapping[str, Mapping[str, Any]] | Any | None,
    resource: Resource | None,
) -> Parts:
    """Build the parts of a pipeline from ``settings`` and what code passed.

    Args:
        settings: the validated settings.
        exporters: ``exporters=`` of the pipeline; ``None`` means the ``exporters``
            setting.
        processors: ``processors=`` of the pipeline; ``None`` means the ``processors``
            setting (names), anything else replaces it.
        resource: the Resource; ``None`` detects it (:func:`default_resource`).

    Raises:
        ConfigError: an exporter or processor cannot be built from what was given.
    """
    if resource is None:
        resource = default_resource(settings)
    span_processor = SpanContextProcessor()
    bound_processor = BoundContextProcessor()
    builtin: list[Processor] = [span_processor, bound_processor]
    if settings.baggage_keys:
        builtin.append(BaggageProcessor(settings.baggage_keys))
    # After the enrichers (so bound context and baggage are redacted too), before
    # user processors (so they, and every exporter, only see redacted data).
    builtin.extend(protection_processors(settings))
    user = _user_processors(settings, processors)
    # After redaction and compliance (a summary repeats only redacted data), before
    # the application's processors; one given by name among those replaces ours.
    builtin.extend(volume_processors(settings, user))
    built_exporters: list[Exporter] = resolve_exporters(
        settings.exporters if exporters is None else exporters, settings
    )
    check_audit_trail(settings, built_exporters)
    plan = MemoryPlan(settings.max_queue_bytes)
    return Parts(
        resource=resource,
        span_processor=span_processor,
        bound_processor=bound_processor,
        processors=[*builtin, *user],
        exporters=built_exporters,
        plan=plan,
        batch_options=batch_options(settings, plan),
    )


def _user_processors(settings: Settings, processors: Any) -> list[Processor]:
    """The application's processors: ``processors=`` if given, else the setting's names."""
    items = settings.processors if processors is None else processors
    return resolve_processors(items, settings)


def batch_options(settings: Settings, plan: MemoryPlan) -> BatchOptions:
    """The batch processor's tunables under ``settings`` and the memory ``plan``."""
    return BatchOptions(
        max_batch_size=settings.max_export_batch_size,
        schedule_delay=settings.schedule_delay_ms / 1000,
        export_timeout=settings.export_timeout_ms / 1000,
        max_queue_size=settings.max_queue_size,
        max_queue_bytes=plan.lane_bytes,
        max_batch_bytes=plan.batch_bytes,
        block=settings.overflow == "block",
        drop_oldest=settings.overflow == "drop_oldest",
        # A full lane that delivers nothing holds the worker up for half of what a
        # blocked caller may wait (then it sheds), so a caller blocked meanwhile
        # gets room before its own timeout: see AsyncBatchProcessor.
        lane_wait=max(settings.block_timeout_ms / 2000, 0.01),
        retry=RetryPolicy.from_settings(settings),
    )


def protection_processors(settings: Settings) -> list[Processor]:
    """The redaction and compliance processors ``settings`` ask for, in order."""
    from fapilog.compliance import ComplianceProcessor, get_profile
    from fapilog.redaction import DEFAULT_RULES, RedactionProcessor

    profiles = [get_profile(name) for name in settings.compliance]
    out: list[Processor] = []
    if settings.redaction:
        extra = [rule for profile in profiles for rule in profile.redaction_rules]
        out.append(
            RedactionProcessor(
                (*extra, *DEFAULT_RULES),
                hmac_key=settings.redaction_hmac_key,
                allow_keys=settings.redaction_allow_keys or None,
                max_scan_bytes=settings.redaction_max_scan_bytes,
            )
        )
    if profiles:
        out.append(ComplianceProcessor(profiles, mode=settings.compliance_mode))
    return out


def volume_processors(settings: Settings, user: Iterable[Processor] = ()) -> list[Processor]:
    """The sampling and de-duplication processors ``settings`` ask for, in order.

    Sampling runs when ``sampling_ratio`` is below 1 or ``sampling_rules`` is set,
    de-duplication when ``dedup_window_ms`` is set; sampling first, so repeats are
    counted among the events sampling kept. A processor of the same class among the
    application's ``user`` processors (``processors=["sampling"]``, built from the
    same settings) is not doubled.
    """
    from fapilog.processors._dedup import DedupProcessor
    from fapilog.processors._sampling import SamplingProcessor

    given = {type(p) for p in user}
    out: list[Processor] = []
    wants_sampling = settings.sampling_ratio < 1.0 or bool(settings.sampling_rules)
    if wants_sampling and SamplingProcessor not in given:
        out.append(SamplingProcessor.from_settings(settings))
    if settings.dedup_window_ms is not None and DedupProcessor not in given:
        out.append(DedupProcessor.from_settings(settings))
    return out


def check_audit_trail(settings: Settings, exporters: list[Exporter]) -> None:
    """Warn when an active compliance profile expects an audit trail and none is set up.

    A warning, not an error: the audit exporter may live in another pipeline.
    """
    if not settings.compliance:
        return
    from fapilog.audit import AuditExporter
    from fapilog.compliance import get_profile

    needing = [n for n in settings.compliance if get_profile(n).audit_trail_required]
    if needing and not any(isinstance(e, AuditExporter) for e in exporters):
        reporter.report(
            "audit_trail_missing",
            f"compliance profile(s) {', '.join(needing)} expect a tamper-evident audit "
            "trail, but this pipeline has no fapilog.audit.AuditExporter",
        )


def default_resource(settings: Settings) -> Resource:
    """The OTel Resource for ``settings``: host/process facts < OTEL env < service_name.

    Process command-line arguments are deliberately left out: they often carry
    credentials.
    """
    detected = Resource(
        {
            "host.name": socket.gethostname(),
            "process.pid": os.getpid(),
            "process.runtime.name": platform.python_implementation().lower(),
            "process.runtime.version": platform.python_version(),
        }
    )
    explicit = {"service.name": settings.service_name} if settings.service_name else {}
    try:
        return detected.merge(Resource.create(explicit))
    except RuntimeError:  # its detectors' thread pool refuses work at interpreter exit
        return detected.merge(Resource(explicit))
