"""What a shutdown needs besides the worker: companion flushes and the loss report.

At shutdown a pipeline flushes companions (the OTel SDK's tracer and meter
providers) on threads of their own within the same bound, and when events were lost
writes one line on stderr: the counts as in ``stats()``, per exporter the most likely
cause, and per reason the likely fix under the pipeline's settings.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from fapilog._diagnostics import reporter
from fapilog.pipeline._stats import NOT_LOSS, loss_line

if TYPE_CHECKING:
    from collections.abc import Callable

    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter
    from fapilog.pipeline._stats import Accounting, PipelineStats

__all__ = ["Companions", "exporter_hint", "losses", "report_loss"]


class Companions:
    """Flushes of other telemetry that run whenever the pipeline shuts down."""

    def __init__(self) -> None:
        self._flushes: list[Callable[[int], object]] = []
        self._threads: list[threading.Thread] = []

    def add(self, flush: Callable[[int], object]) -> None:
        """Register an OTel-style ``force_flush(timeout_millis)``."""
        self._flushes.append(flush)

    def start(self, deadline: float) -> None:
        """Start each flush on a thread of its own with the time left (once)."""
        flushes, self._flushes = self._flushes, []
        for flush in flushes:

            def run(flush: Callable[[int], object] = flush) -> None:
                millis = max(0, int((deadline - time.monotonic()) * 1000))
                try:
                    flush(millis)
                except Exception as exc:
                    reporter.report("companion_flush", f"flush at shutdown failed: {exc!r}")

            thread = threading.Thread(target=run, name="fapilog-companion-flush", daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self, deadline: float) -> None:
        """Wait for the flushes started, until ``deadline`` (monotonic seconds)."""
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def losses(stats: PipelineStats) -> int:
    """Events lost (dropped for any reason but a processor's decision)."""
    return sum(n for reason, n in stats.dropped.items() if reason not in NOT_LOSS)


def report_loss(
    label: str,
    key: str,
    final: PipelineStats,
    *,
    settings: Settings,
    exporters: list[Exporter],
    acct: Accounting,
    byte_limited: bool,
    stalled: str | None,
) -> None:
    """One line on stderr when events were lost: counts as in ``stats()``, and fixes."""
    line = loss_line(
        label,
        final,
        _loss_hints(final, exporters, acct),
        _loss_fixes(settings, byte_limited=byte_limited, stalled=stalled),
    )
    if line is not None:
        reporter.report(key, line)


def _loss_fixes(settings: Settings, *, byte_limited: bool, stalled: str | None) -> dict[str, str]:
    """The likely fix of each pipeline-wide drop reason under these settings."""
    s = settings
    if s.overflow == "block":
        full = (
            f"buffer full: raise block_timeout_ms ({s.block_timeout_ms}) or "
            f"max_queue_size ({s.max_queue_size}); on an event loop use the awaitable "
            "log.ainfo(...) twins, which wait instead of dropping"
        )
    else:
        full = f"buffer full: raise max_queue_size ({s.max_queue_size}) or use overflow=block"
    if byte_limited:  # the byte bound, not the count, is what filled
        full += f"; with events this large, raise max_queue_bytes ({s.max_queue_bytes})"
    if stalled:
        full = f"the worker is stuck in {stalled}; " + full
    shutdown = (
        f"undelivered when shutdown_timeout_ms ({s.shutdown_timeout_ms}) ran out: "
        "raise it if the destination is just slow"
    )
    if stalled:
        shutdown = f"the worker is stuck in {stalled}; " + shutdown
    return {
        "queue_full": full,
        "export_backlog": (
            "an exporter fell behind: raise max_queue_size / max_queue_bytes or use overflow=block"
        ),
        "shutdown": shutdown,
        "after_shutdown": "logged after shutdown: shut down later, or not before exit",
        "processor_error": "a processor raised or returned garbage: see its earlier fapilog: line",
    }


def _loss_hints(
    final: PipelineStats, exporters: list[Exporter], acct: Accounting
) -> dict[str, str]:
    """Per exporter that lost events: what most likely went wrong and the fix."""
    hints: dict[str, str] = {}
    lanes = list(final.exporters.items())
    for exporter, (name, lane) in zip(exporters, lanes, strict=False):
        if not lane.dropped_total:
            continue
        error = acct.lanes[name].last_error if name in acct.lanes else ""
        refused = bool({"failed", "rejected"} & set(lane.dropped))
        hints[name] = exporter_hint(exporter, lane.exported, error, refused=refused)
    return hints


def exporter_hint(exporter: Exporter, exported: int, error: str, *, refused: bool) -> str:
    """What most likely kept ``exporter`` from delivering, and the fix, in a phrase.

    Duck-typed on what the built-in exporters expose (an OTLP exporter's
    ``options.display_endpoint``, credentials masked; a file exporter's ``path``).
    """
    name = exporter.name or type(exporter).__name__
    if len(error) > 200:
        error = error[:199] + "…"
    last = f" (last error: {error})" if error else ""
    endpoint = getattr(getattr(exporter, "options", None), "display_endpoint", None)
    if isinstance(endpoint, str) and name.startswith("otlp"):
        if exported == 0 and not refused:  # the cause was told at the first failure
            return (
                f"collector unreachable at {endpoint}: start it or set OTEL_EXPORTER_OTLP_ENDPOINT"
            )
        return f"collector at {endpoint} refused or was too slow{last}"
    path = getattr(exporter, "path", None)
    if isinstance(path, os.PathLike) and not _writable(os.fspath(path)):
        return f"file path not writable: {os.fspath(path)}{last}"
    return f"exporter {name!r} did not deliver{last}" if error else ""


def _writable(path: str) -> bool:
    """Whether ``path`` can be appended to (or created in its directory)."""
    if os.path.exists(path):
        return os.access(path, os.W_OK)
    parent = os.path.dirname(path) or "."
    return os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)
