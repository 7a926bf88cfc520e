"""The contenders: each one set up the way its documentation recommends for JSON lines.

Every setup returns a :class:`Setup`: the bound logging call, the *style* in which
it takes the event (see ``workloads.LOOPS``), and ``finish()``, which flushes or
shuts the logger down and reports what it wrote or delivered. Library imports
happen inside the setup functions, so this module imports in any virtualenv
(fapilog 0.18 runs from its own, see ``legacy.py``).

Two kinds of destination:

* ``"devnull"`` (W1, W3): JSON lines through a counting ``/dev/null`` stream;
* ``"otlp"`` (W2): OTLP/gRPC to a collector endpoint (only contenders that have
  an OTLP path: the OTel SDK's two and fapilog v3).

fapilog v3 runs three ways: ``fapilog`` (the headline: its defaults, only the
exporter given), ``fapilog-sync`` (the same, W3 with plain ``log.info``) and
``fapilog-tuned`` (redaction off, lossless, the buffer sized to the run).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from _common import BytesCounter, StdoutStandIn, TextCounter

SERVICE = "peers-bench"
BATCH_SIZE = 512
SCHEDULE_DELAY_MS = 200


@dataclass
class Setup:
    """A configured contender, ready to log ``MESSAGE`` + ``FIELDS``."""

    call: Callable[..., Any]
    style: str
    finish: Callable[[], dict[str, Any] | Awaitable[dict[str, Any]]]
    notes: list[str] = field(default_factory=list)
    astart: Callable[[], Awaitable[None]] | None = None
    """Async set-up to await inside the loop before the first call (W3)."""


@dataclass(frozen=True)
class Options:
    """What a setup needs to know about the run."""

    destination: str  # "devnull" or "otlp"
    total_events: int  # warm-up included: queues are sized so nothing need drop
    endpoint: str = ""  # OTLP/gRPC endpoint for destination "otlp"
    in_loop: bool = False  # set up from inside a running asyncio loop (W3)


def _stdlib_logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


# -- stdlib logging + python-json-logger -----------------------------------------------------


def stdlib(opts: Options) -> Setup:
    """stdlib logging with python-json-logger's ``JsonFormatter``; fields via ``extra=``."""
    from pythonjsonlogger.json import JsonFormatter

    out = TextCounter()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    log = _stdlib_logger("bench.stdlib", handler)

    def finish() -> dict[str, Any]:
        handler.flush()
        return {"written": out.lines}

    return Setup(log.info, "extra", finish)


# -- structlog + orjson (structlog's "performance" recipe) -----------------------------------


def structlog_orjson(opts: Options) -> Setup:
    """structlog as its performance docs recommend: orjson renderer, ``BytesLoggerFactory``."""
    import orjson
    import structlog

    out = BytesCounter()
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(file=out),  # type: ignore[arg-type]
    )
    log = structlog.get_logger("bench")

    def finish() -> dict[str, Any]:
        out.flush()
        return {"written": out.lines}

    return Setup(log.info, "kwargs", finish)


# -- loguru (serialize=True) -----------------------------------------------------------------


def loguru_serialize(opts: Options) -> Setup:
    """loguru with ``serialize=True``: one JSON object per line, fields in ``extra``."""
    from loguru import logger

    out = TextCounter()
    logger.remove()
    logger.add(cast(Any, out), serialize=True, level="INFO", enqueue=False, backtrace=False)

    def finish() -> dict[str, Any]:
        logger.complete()
        logger.remove()
        return {"written": out.lines}

    return Setup(logger.info, "kwargs", finish)


# -- picologging -----------------------------------------------------------------------------

# Not %(asctime)s: picologging 0.9.3 renders it as garbage bytes on CPython 3.11 (stray
# newlines among them, which the line count caught); %(created)f is a JSON number.
PICO_FORMAT = (
    '{"time":%(created)f,"level":"%(levelname)s","logger":"%(name)s","message":"%(message)s"}'
)
PICO_MESSAGE = "request handled method=%s path=%s status=%d duration_ms=%s user_id=%s"


def picologging_json(opts: Options) -> Setup:
    """picologging with a JSON-shaped format (it has no JSON formatter; see the note)."""
    import picologging

    out = TextCounter()
    handler = picologging.StreamHandler(out)
    handler.setFormatter(picologging.Formatter(PICO_FORMAT))
    log = picologging.Logger("bench.pico", picologging.INFO)
    log.addHandler(handler)

    def finish() -> dict[str, Any]:
        handler.flush()
        return {"written": out.lines}

    notes = [
        "picologging has no JSON formatter and does not carry `extra` into the record: "
        "a JSON-shaped %-format, fields as %-args in the message, nothing escaped; "
        "%(created)f as the timestamp, because 0.9.3's %(asctime)s renders garbage bytes"
    ]
    return Setup(log.info, "pico", finish, notes)


# -- the OpenTelemetry SDK -------------------------------------------------------------------


def _otel_provider(opts: Options) -> tuple[Any, Callable[[], dict[str, Any]]]:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogExporter
    from opentelemetry.sdk.resources import Resource

    out: TextCounter | None = None
    if opts.destination == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter: Any = OTLPLogExporter(endpoint=opts.endpoint, insecure=True)
    else:
        out = TextCounter()
        exporter = ConsoleLogExporter(
            out=cast(Any, out), formatter=lambda r: r.to_json(indent=None) + "\n"
        )
    provider = LoggerProvider(resource=Resource({"service.name": SERVICE}), shutdown_on_exit=False)
    # Lossless: the queue holds every event of the run, so the processor never drops.
    provider.add_log_record_processor(
        BatchLogRecordProcessor(
            exporter,
            schedule_delay_millis=SCHEDULE_DELAY_MS,
            max_export_batch_size=BATCH_SIZE,
            max_queue_size=max(opts.total_events, BATCH_SIZE),
        )
    )

    def finish() -> dict[str, Any]:
        provider.shutdown()
        return {"written": out.lines} if out is not None else {}

    return provider, finish


def otel_handler(opts: Options) -> Setup:
    """The OTel SDK behind the stdlib: ``LoggingHandler`` + ``BatchLogRecordProcessor``."""
    from opentelemetry.sdk._logs import LoggingHandler

    provider, finish = _otel_provider(opts)
    log = _stdlib_logger("bench.otel", LoggingHandler(logger_provider=provider))
    return Setup(log.info, "extra", finish)


def otel_emit(opts: Options) -> Setup:
    """The OTel SDK's own API: ``Logger.emit`` + ``BatchLogRecordProcessor``."""
    provider, finish = _otel_provider(opts)
    return Setup(provider.get_logger("bench").emit, "otel-emit", finish)


# -- fapilog v3 (this repository) ------------------------------------------------------------


def _fapilog_exporter(opts: Options) -> tuple[Any, TextCounter | None]:
    """The only thing fapilog's contenders are given: where the events go."""
    if opts.destination == "otlp":
        from fapilog.exporters.otlp import OTLPExporter

        return OTLPExporter(endpoint=opts.endpoint, protocol="grpc"), None
    from fapilog.exporters.console import ConsoleExporter

    out = TextCounter()
    return ConsoleExporter(out, format="json"), out  # type: ignore[arg-type]


def _fapilog_setup(
    pipeline: Any,
    log: Any,
    out: TextCounter | None,
    opts: Options,
    *,
    awaited: bool,
    shutdown: Callable[..., Any],
    ashutdown: Callable[..., Awaitable[bool]],
) -> Setup:
    def accounting(clean: bool) -> dict[str, Any]:
        stats = pipeline.stats()
        res: dict[str, Any] = {
            "accounting": {
                "emitted": stats.emitted,
                "exported": stats.exported,
                "dropped": stats.dropped_total,
                "clean_shutdown": clean,
            }
        }
        if out is not None:
            res["written"] = out.lines
        return res

    if opts.in_loop:

        async def afinish() -> dict[str, Any]:
            return accounting(await ashutdown(timeout=600))

        if awaited:
            return Setup(log.ainfo, "akwargs", afinish)
        return Setup(log.info, "kwargs", afinish)

    def finish() -> dict[str, Any]:
        return accounting(shutdown(timeout=600))

    return Setup(log.info, "kwargs", finish)


def fapilog_v3(opts: Options) -> Setup:
    """fapilog v3 as a user gets it: ``configure(exporters=[...])``, every other setting default.

    Redaction on, resource detection, the default buffer (``max_queue_size``) and
    overflow policy (``block`` for ``block_timeout_ms``, then drop): a drop shows in
    the run's counts. In W3 the coroutines ``await log.ainfo(...)``.
    """
    import fapilog

    exporter, out = _fapilog_exporter(opts)
    pipeline = fapilog.configure(exporters=[exporter])
    log = fapilog.get_logger("bench")
    return _fapilog_setup(
        pipeline,
        log,
        out,
        opts,
        awaited=True,
        shutdown=fapilog.shutdown,
        ashutdown=fapilog.ashutdown,
    )


def fapilog_sync(opts: Options) -> Setup:
    """:func:`fapilog_v3` (the defaults), called with plain ``log.info`` from coroutines (W3)."""
    import fapilog

    exporter, out = _fapilog_exporter(opts)
    pipeline = fapilog.configure(exporters=[exporter])
    log = fapilog.get_logger("bench")
    return _fapilog_setup(
        pipeline,
        log,
        out,
        opts,
        awaited=False,
        shutdown=fapilog.shutdown,
        ashutdown=fapilog.ashutdown,
    )


def fapilog_tuned(opts: Options) -> Setup:
    """fapilog v3 like for like with the peers: no redaction, lossless, queue sized to the run.

    The suite's headline configuration until issue 20: ``redaction=False``, a resource of
    only ``service.name``, ``overflow="block"`` with a 600 s timeout and a buffer
    (``max_queue_size``) that holds every event of the run, batch 512, 200 ms delay.
    """
    from opentelemetry.sdk.resources import Resource

    import fapilog

    exporter, out = _fapilog_exporter(opts)
    pipeline = fapilog.Pipeline(
        exporters=[exporter],
        resource=Resource({"service.name": SERVICE}),
        redaction=False,
        max_export_batch_size=BATCH_SIZE,
        schedule_delay_ms=SCHEDULE_DELAY_MS,
        overflow="block",
        # Lossless: a full buffer makes the caller wait, never drop.
        block_timeout_ms=600_000,
        # Like the OTel SDK configuration: a queue that holds the whole run.
        max_queue_size=max(opts.total_events, BATCH_SIZE),
    )
    log = pipeline.get_logger("bench")
    return _fapilog_setup(
        pipeline,
        log,
        out,
        opts,
        awaited=True,
        shutdown=pipeline.shutdown,
        ashutdown=pipeline.ashutdown,
    )


# -- fapilog 0.18.1 (the previous major, from its own virtualenv) ---------------------------


def fapilog_018(opts: Options) -> Setup:
    """fapilog 0.18.1's ``get_logger`` with its stdout JSON sink, waiting instead of dropping."""
    import importlib

    # Typed as Any: type checkers resolve the name ``fapilog`` to this repository's v3.
    fapilog: Any = importlib.import_module("fapilog")
    sinks: Any = importlib.import_module("fapilog.plugins.sinks.stdout_json")

    # Its stdout sink writes to sys.stdout.buffer (capture_mode: no os.writev on the
    # fd), so a stand-in stdout counts the lines.
    stand_in = StdoutStandIn()
    real_stdout = sys.stdout
    sys.stdout = cast(Any, stand_in)
    settings = fapilog.Settings(
        core={
            # The README's advice for durability: wait for space instead of dropping.
            "drop_on_full": False,
            # Like for like with the peers: no enrichers, no redactors.
            "enrichers": [],
            "redactors": [],
        }
    )
    sink = sinks.StdoutJsonSink(capture_mode=True)

    def result(drain: Any) -> dict[str, Any]:
        sys.stdout = real_stdout
        return {
            "written": stand_in.lines,
            "accounting": {
                "emitted": drain.submitted,
                "exported": drain.processed,
                "dropped": drain.dropped,
            },
        }

    if opts.in_loop:
        # Its async facade (``await logger.info``), the mode its README recommends
        # for asyncio code; created here, inside the running loop.
        holder: dict[str, Any] = {}

        async def astart() -> None:
            holder["log"] = await fapilog.get_async_logger(
                "bench", settings=settings, sinks=[sink], reuse=False
            )

        def ainfo(*args: Any, **kwargs: Any) -> Awaitable[None]:
            info: Callable[..., Awaitable[None]] = holder["log"].info
            return info(*args, **kwargs)

        async def afinish() -> dict[str, Any]:
            return result(await holder["log"].stop_and_drain())

        return Setup(ainfo, "akwargs", afinish, astart=astart)

    log = fapilog.get_logger("bench", settings=settings, sinks=[sink], reuse=False)

    def finish() -> dict[str, Any]:
        return result(asyncio.run(log.stop_and_drain()))

    return Setup(log.info, "kwargs", finish)


SETUPS: dict[str, Callable[[Options], Setup]] = {
    "stdlib": stdlib,
    "structlog": structlog_orjson,
    "loguru": loguru_serialize,
    "picologging": picologging_json,
    "otel-handler": otel_handler,
    "otel-emit": otel_emit,
    "fapilog-0.18": fapilog_018,
    "fapilog": fapilog_v3,
    "fapilog-sync": fapilog_sync,
    "fapilog-tuned": fapilog_tuned,
}
"""Contender name -> setup, in the order rounds run them."""

# picologging ships no wheels for CPython 3.13 and later: there, it is not a contender.
if importlib.util.find_spec("picologging") is None:
    del SETUPS["picologging"]

LABELS = {
    "stdlib": "stdlib logging + python-json-logger",
    "structlog": "structlog + orjson (BytesLogger)",
    "loguru": "loguru (serialize=True)",
    "picologging": "picologging (JSON-shaped format)",
    "otel-handler": "OTel SDK via stdlib LoggingHandler",
    "otel-emit": "OTel SDK Logger.emit",
    "fapilog-0.18": "fapilog 0.18.1",
    "fapilog": "fapilog v3 (defaults)",
    "fapilog-sync": "fapilog v3 (defaults, sync log.info in coroutines)",
    "fapilog-tuned": "fapilog v3 tuned (redaction off, queue sized to the run, lossless)",
}

FAPILOG_V3 = ("fapilog", "fapilog-sync", "fapilog-tuned")
"""This repository's contenders (``--src`` points them at another source tree)."""

HEADLINE = ("fapilog", "fapilog-sync")
"""fapilog with its defaults: the figures the targets are judged on."""

OTLP_CONTENDERS = ("otel-handler", "otel-emit", "fapilog", "fapilog-tuned")
"""Contenders with an OTLP path (W2, W5); the others are n/a there."""
