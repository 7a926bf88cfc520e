"""The ``opentelemetry_configurator`` entry point: OTel SDK traces/metrics + fapilog logs.

Traces and metrics are set up exactly as the SDK's own configurator does (same
helpers, same environment variables). Logs go through a fapilog pipeline instead
of an SDK ``LoggerProvider``: one pipeline, made the default one, receives
``fapilog.get_logger()`` calls, stdlib :mod:`logging` records and OTel Logs API
records, each exactly once.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk import _configuration as sdk_config
from opentelemetry.sdk.environment_variables import OTEL_CONFIG_FILE
from opentelemetry.sdk.resources import Resource
from opentelemetry.semconv.resource import ResourceAttributes

from fapilog._diagnostics import reporter
from fapilog.otel._provider import DedupFapilogHandler, FapilogLoggerProvider

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk._logs import LogRecordProcessor

    from fapilog.config import Settings
    from fapilog.pipeline._pipeline import Pipeline

__all__ = ["FapilogConfigurator"]


class FapilogConfigurator(sdk_config._OTelSDKConfigurator):
    """Configures the OTel SDK for traces and metrics, and fapilog for logs.

    Selected by ``opentelemetry-instrument`` through the ``opentelemetry_configurator``
    entry point ``fapilog`` (or ``OTEL_PYTHON_CONFIGURATOR=fapilog``). Logs:

    * resource: ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` and the
      ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` detectors (shared with traces and
      metrics), over fapilog's host/process facts;
    * processors: fapilog's (trace context, redaction, compliance per ``FAPILOG_*``),
      then any OTel ``log_record_processors`` passed by a distro;
    * exporters: the names in ``FAPILOG_EXPORTERS`` or ``OTEL_LOGS_EXPORTER``,
      resolved through fapilog's registry (``otlp``, ``console``, ``file``, entry
      points of ``fapilog.exporters`` and ``opentelemetry_logs_exporter``);
    * stdlib logging captured from the root logger at the pipeline's level;
    * a global OTel ``LoggerProvider`` writing into the same pipeline.

    The keyword arguments are those of the SDK configurator
    (``opentelemetry.sdk._configuration._initialize_components``). For logs,
    ``log_exporter_names`` and ``log_record_processors`` are honoured,
    ``setup_logging_handler=False`` turns stdlib capture off, and the SDK-only
    ``export_log_record_processor`` and ``logger_configurator`` do not apply.
    """

    def _configure(self, **kwargs: Any) -> None:
        if os.environ.get(OTEL_CONFIG_FILE):
            reporter.report(
                "otel_config_file",
                f"{OTEL_CONFIG_FILE} is set: the SDK's declarative configuration is used "
                "as is, and fapilog's logs pipeline is not installed",
            )
            super()._configure(**kwargs)  # type: ignore[no-untyped-call]  # SDK is untyped here
            return
        _initialize(**kwargs)


def _initialize(
    auto_instrumentation_version: str | None = None,
    trace_exporter_names: list[str] | None = None,
    metric_exporter_names: list[str] | None = None,
    log_exporter_names: list[str] | None = None,
    sampler: Any = None,
    resource_attributes: dict[str, Any] | None = None,
    id_generator: Any = None,
    setup_logging_handler: bool | None = None,
    exporter_args_map: Any = None,
    span_processors: Any = None,
    export_span_processor: Any = None,
    log_record_processors: Sequence[LogRecordProcessor] | None = None,
    export_log_record_processor: Any = None,
    tracer_configurator: Any = None,
    meter_configurator: Any = None,
    logger_configurator: Any = None,
    **unknown: Any,
) -> None:
    """``_initialize_components`` of the SDK, with fapilog in place of its logs part."""
    if unknown:  # a newer SDK's argument: say so rather than fail the whole start-up
        reporter.report(
            "otel_configure_kwargs",
            f"FapilogConfigurator ignores unknown argument(s): {', '.join(sorted(unknown))}",
        )
    attributes = dict(resource_attributes or {})
    if auto_instrumentation_version:
        attributes[ResourceAttributes.TELEMETRY_AUTO_VERSION] = auto_instrumentation_version
    resource = Resource.create(attributes)

    pre_init = sdk_config._import_opamp("pre_sdk_init_function")
    if pre_init is not None:
        pre_init(resource)

    span_exporters, metric_exporters, _ = sdk_config._import_exporters(
        *installed_exporters(
            (trace_exporter_names or []) + sdk_config._get_exporter_names("traces"),
            (metric_exporter_names or []) + sdk_config._get_exporter_names("metrics"),
        ),
        [],
    )
    if sampler is None:
        sampler = sdk_config._import_sampler(sdk_config._get_sampler())
    if id_generator is None:
        id_generator = sdk_config._import_id_generator(sdk_config._get_id_generator())
    if tracer_configurator is None:
        tracer_configurator = sdk_config._import_tracer_configurator(
            sdk_config._get_tracer_configurator()
        )
    if meter_configurator is None:
        meter_configurator = sdk_config._import_meter_configurator(
            sdk_config._get_meter_configurator()
        )
    sdk_config._init_tracing(
        exporters=span_exporters,
        id_generator=id_generator,
        sampler=sampler,
        resource=resource,
        exporter_args_map=exporter_args_map,
        span_processors=span_processors,
        export_span_processor=export_span_processor,
        tracer_configurator=tracer_configurator,
    )
    sdk_config._init_metrics(
        exporters_or_readers=metric_exporters,
        resource=resource,
        exporter_args_map=exporter_args_map,
        meter_configurator=meter_configurator,
    )
    pipeline = init_logs(
        resource,
        exporter_names=log_exporter_names or [],
        otel_processors=log_record_processors or [],
        capture_stdlib=setup_logging_handler is not False,
    )
    # SIGTERM ends the process through fapilog's handler, not through atexit, so the
    # SDK's own exit hooks never run: the pipeline's shutdown flushes spans and
    # metrics too, concurrently with the logs and within the same bound.
    pipeline.add_companion_flush(_flush_tracer_provider)
    pipeline.add_companion_flush(_flush_meter_provider)

    post_init = sdk_config._import_opamp("post_sdk_init_function")
    if post_init is not None:
        post_init(resource)


#: The distribution that provides each of the SDK's exporter entry-point names.
_EXPORTER_PACKAGES: dict[str, str] = {
    "otlp_proto_grpc": "opentelemetry-exporter-otlp-proto-grpc",
    "otlp_proto_http": "opentelemetry-exporter-otlp-proto-http",
    "zipkin_json": "opentelemetry-exporter-zipkin-json",
    "zipkin_proto": "opentelemetry-exporter-zipkin-proto-http",
    "prometheus": "opentelemetry-exporter-prometheus",
}


def installed_exporters(
    trace_names: Sequence[str], metric_names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The trace and metric exporter names that have an installed entry point.

    A missing exporter must not cost the logs: the SDK's configurator raises for
    it, and the CLI then gives up on everything ("Failed to auto initialize").
    Here the missing ones are left out (spans are still created, so log records
    keep their trace ids) and one line on stderr names the package to install.

    Args:
        trace_names: entry-point names in ``opentelemetry_traces_exporter``.
        metric_names: entry-point names in ``opentelemetry_metrics_exporter``.

    Returns:
        The names of each list that can be loaded, in their order.
    """
    from importlib.metadata import entry_points

    missing: list[tuple[str, str]] = []
    kept: list[list[str]] = []
    for signal, group, names in (
        ("traces", "opentelemetry_traces_exporter", trace_names),
        ("metrics", "opentelemetry_metrics_exporter", metric_names),
    ):
        present = []
        for name in dict.fromkeys(names):
            if entry_points(group=group, name=name):
                present.append(name)
            else:
                missing.append((signal, name))
        kept.append(present)
    if missing:
        what = ", ".join(f"{signal} exporter '{name}'" for signal, name in missing)
        packages = sorted(
            {_EXPORTER_PACKAGES.get(name, f"the package of '{name}'") for _, name in missing}
        )
        signals = sorted({signal for signal, _ in missing})
        off = " and ".join(f"OTEL_{s.upper()}_EXPORTER=none" for s in signals)
        reporter.report(
            "otel_missing_exporter",
            f"{what} not installed: those {' and '.join(signals)} are not exported "
            "(logs still are, with their trace ids). Fix: pip install 'fapilog[instrument]' "
            f"(or {', '.join(packages)}), or set {off}",
        )
    return kept[0], kept[1]


def _flush_tracer_provider(timeout_millis: int) -> object:
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    return flush(timeout_millis) if flush is not None else True


def _flush_meter_provider(timeout_millis: int) -> object:
    from opentelemetry import metrics

    flush = getattr(metrics.get_meter_provider(), "force_flush", None)
    return flush(timeout_millis) if flush is not None else True


def init_logs(
    resource: Resource,
    *,
    exporter_names: Sequence[str] = (),
    otel_processors: Sequence[LogRecordProcessor] = (),
    capture_stdlib: bool = True,
) -> Pipeline:
    """Install fapilog as the process's logs pipeline (the configurator's logs part).

    Args:
        resource: the SDK resource shared with traces and metrics.
        exporter_names: exporter names to use before those of the settings.
        otel_processors: OTel ``LogRecordProcessor``\\ s to run after fapilog's own.
        capture_stdlib: install the stdlib bridge on the root logger.

    Returns:
        The new default pipeline.

    An invalid setting or exporter name in the environment does not raise: the
    fallback pipeline (console on stderr, redaction on) is installed instead, and one
    line on stderr names the variable and the fix.
    """
    from fapilog._api import configure_from_environment
    from fapilog.pipeline._pipeline import default_resource
    from fapilog.processors._otel import OTelProcessor

    # Settings come from the environment here: a mistake there must not cost the
    # application its logs (nor raise into the CLI), so it falls back to the console.
    pipeline = configure_from_environment(
        exporters=exporter_names,
        processors=[OTelProcessor(p) for p in otel_processors],
        resource=lambda settings: _logs_resource(settings, resource, default_resource(settings)),
    )
    settings = pipeline.settings  # the fallback's, if it fell back
    if capture_stdlib:
        _capture_root(pipeline, settings)
    set_logger_provider(FapilogLoggerProvider())
    return pipeline


def _logs_resource(settings: Settings, sdk: Resource, facts: Resource) -> Resource:
    """Host/process facts < the SDK resource (env, detectors) < FAPILOG_SERVICE_NAME."""
    resource = facts.merge(sdk)
    if settings.service_name and resource.attributes.get("service.name") != settings.service_name:
        resource = resource.merge(Resource({"service.name": settings.service_name}))
    return resource


def _stdlib_level(severity: int) -> int:
    """The :mod:`logging` level at which records reach ``severity`` in fapilog."""
    if severity <= 4:
        return 1  # TRACE: everything a custom low level may emit
    return (min((severity - 1) // 4, 5)) * 10


def _capture_root(pipeline: Pipeline, settings: Settings) -> None:
    """Route root-logger records into the default pipeline; undone when it shuts down."""
    root = logging.getLogger()
    level = _stdlib_level(settings.level_number)
    handler = DedupFapilogHandler(level)
    old_level = root.level
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    _undo_at_shutdown(pipeline, root, handler, old_level)


def _undo_at_shutdown(
    pipeline: Pipeline, root: logging.Logger, handler: logging.Handler, old_level: int
) -> None:
    def undo() -> None:
        from fapilog._api import _DEFAULT
        from fapilog.pipeline._pipeline import Pipeline

        successor = _DEFAULT.pipeline
        if isinstance(successor, Pipeline) and successor is not pipeline:
            # fapilog.configure() replaced the pipeline: the bridge (which writes to
            # whatever is the default) stays, and goes with the new pipeline instead.
            _undo_at_shutdown(successor, root, handler, old_level)
            return
        root.removeHandler(handler)
        root.setLevel(old_level)

    pipeline.add_shutdown_hook(undo)
