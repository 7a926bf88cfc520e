"""Run a fapilog async :class:`~fapilog.Exporter` as an OTel SDK ``LogRecordExporter``."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from typing import TYPE_CHECKING, ClassVar

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from fapilog._diagnostics import reporter
from fapilog._event import LogEvent
from fapilog._retry import RetryPolicy
from fapilog.exporters._base import ExportResult, ExportStatus
from fapilog.otel._loop import LoopThread

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk._logs import ReadableLogRecord

    from fapilog.config import Settings
    from fapilog.exporters._base import Exporter

__all__ = ["ConsoleLogRecordExporter", "FapilogLogRecordExporter", "FileLogRecordExporter"]

#: A final attempt is not started with less than this left before the deadline.
_MIN_ATTEMPT = 0.05
_live: weakref.WeakSet[FapilogLogRecordExporter] = weakref.WeakSet()


class FapilogLogRecordExporter(LogRecordExporter):
    """Lets a fapilog exporter serve inside a plain OTel ``LoggerProvider``.

    The OTel SDK exports synchronously (a ``BatchLogRecordProcessor`` calls
    :meth:`export` on its own thread); fapilog exporters are async. This adapter
    converts each ``ReadableLogRecord`` to a :class:`~fapilog.LogEvent` (losslessly:
    every LogRecord field, resource and scope), runs the async export on a private
    event-loop thread and waits for it. Because the OTel SDK does not retry, the
    adapter does what a fapilog pipeline would: it retries retryable results with the
    pauses of a :class:`~fapilog.plugin.RetryPolicy` (the same implementation the
    pipeline's lanes use), honouring ``retry_after`` as a minimum, until the export
    timeout or the policy's ``max_attempts``. ``PARTIAL`` counts as success, like a
    partially accepted OTLP request in the SDK's OTLP exporter; the rejected count is
    reported on stderr.

    The standard SDK configurator instantiates ``opentelemetry_logs_exporter``
    entry points without arguments, so a subclass only names the fapilog exporter::

        class SplunkLogRecordExporter(FapilogLogRecordExporter):
            exporter_name = "splunk_hec"

    Args:
        exporter: the fapilog exporter; by default the one registered as
            :attr:`exporter_name`, built from ``FAPILOG_*``/``OTEL_*`` settings.
        timeout: bound in seconds on one export including its retries; by default
            the ``export_timeout_ms`` setting (``OTEL_BLRP_EXPORT_TIMEOUT``).
        retry: the retry policy; the exporter's own ``retry_policy`` wins over it, and
            without either the ``retry_*`` settings give it
            (:meth:`RetryPolicy.from_settings`).

    Raises:
        ConfigError: the named exporter is unknown or its settings are missing.
        TypeError: no exporter was given and the class names none.
    """

    #: The fapilog exporter name (``"console"``, ``"file"``, ``"otlp"``, an entry point).
    exporter_name: ClassVar[str] = ""

    def __init__(
        self,
        exporter: Exporter | None = None,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        settings: Settings | None = None

        def loaded() -> Settings:
            nonlocal settings
            if settings is None:
                from fapilog.config import Settings

                settings = Settings.load()
            return settings

        if exporter is None:
            if not self.exporter_name:
                raise TypeError(
                    f"{type(self).__name__} needs an exporter: pass one, or subclass and "
                    "set exporter_name"
                )
            from fapilog.exporters._registry import exporter_by_name

            exporter = exporter_by_name(self.exporter_name, loaded())
        if timeout is None:
            timeout = loaded().export_timeout_ms / 1000
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        own = getattr(exporter, "retry_policy", None)
        if isinstance(own, RetryPolicy):
            retry = own
        elif retry is None:
            retry = RetryPolicy.from_settings(loaded())
        self.exporter: Exporter = exporter
        self.timeout = timeout
        #: The pauses between attempts (see :class:`~fapilog.plugin.RetryPolicy`).
        self.retry: RetryPolicy = retry
        self._runner = LoopThread(exporter.name)
        self._export_lock = threading.Lock()
        self._closed = False
        _live.add(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.exporter!r})"

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        """Export ``batch`` through the fapilog exporter; blocks until done or timed out.

        Returns:
            SUCCESS when every record was delivered (or all but backend-rejected ones),
            FAILURE otherwise (the reason is reported on stderr, rate-limited).
        """
        if self._closed:
            self._report("closed", "export called after shutdown; batch not delivered")
            return LogRecordExportResult.FAILURE
        if not batch:
            return LogRecordExportResult.SUCCESS
        try:
            events = [LogEvent.from_sdk(record) for record in batch]
        except Exception as exc:
            self._report("convert", f"could not convert a log record: {exc!r}")
            return LogRecordExportResult.FAILURE
        with self._export_lock:  # the Exporter contract: never two exports at once
            try:
                # A little slack so the inner deadline, not this one, normally fires.
                result = self._runner.run(self._export(events), self.timeout + 1.0)
            except TimeoutError:
                result = ExportResult.failure(f"export timed out after {self.timeout:g}s")
            except Exception as exc:
                result = ExportResult.failure(f"export raised {type(exc).__name__}")
        if result.status is ExportStatus.SUCCESS:
            return LogRecordExportResult.SUCCESS
        if result.status is ExportStatus.PARTIAL:
            if result.rejected:
                self._report(
                    "rejected",
                    f"{result.rejected} record(s) rejected by the backend: {result.reason}",
                )
            return LogRecordExportResult.SUCCESS
        self._report("failed", f"export failed: {result.reason}")
        return LogRecordExportResult.FAILURE

    async def _export(self, events: list[LogEvent]) -> ExportResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        attempts = 0  # export calls made for this batch
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return ExportResult.failure(f"export timed out after {self.timeout:g}s")
            attempts += 1
            try:
                result = await asyncio.wait_for(self.exporter.export(events), remaining)
            except TimeoutError:
                return ExportResult.failure(f"export timed out after {self.timeout:g}s")
            except Exception as exc:  # an exporter bug is a retryable failure, as in a pipeline
                result = ExportResult.retryable(f"{type(exc).__name__} raised by exporter")
            if result.status is not ExportStatus.RETRYABLE:
                return result
            if not self.retry.allows_retry(attempts):
                return self._gave_up(attempts, "the retry policy's max_attempts", result.reason)
            left = deadline - loop.time()
            if result.retry_after is not None and result.retry_after >= left:
                return self._gave_up(attempts, f"{self.timeout:g}s", result.reason)
            # As in a pipeline's lane: the retry-after is a minimum, and the last
            # attempt is made just before the deadline rather than given up early.
            delay = min(self.retry.delay(attempts - 1, result.retry_after), left - _MIN_ATTEMPT)
            if delay < 0:
                return self._gave_up(attempts, f"{self.timeout:g}s", result.reason)
            await asyncio.sleep(delay)

    @staticmethod
    def _gave_up(attempts: int, limit: str, reason: str) -> ExportResult:
        return ExportResult.failure(f"gave up after {attempts} attempt(s) within {limit}: {reason}")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Ask the fapilog exporter to push out what it buffers itself.

        Returns:
            True if it did so within ``timeout_millis``.
        """
        if self._closed:
            return True
        timeout = max(timeout_millis, 1) / 1000
        try:
            return bool(self._runner.run(self.exporter.force_flush(timeout), timeout))
        except Exception:
            return False

    def shutdown(self) -> None:
        """Close the fapilog exporter and stop the private loop thread. Idempotent."""
        if self._closed:
            return
        with self._export_lock:
            self._closed = True
            try:
                self._runner.run(self.exporter.shutdown(), self.timeout)
            except Exception as exc:
                self._report("shutdown", f"exporter shutdown failed: {type(exc).__name__}")
            finally:
                self._runner.stop()
        _live.discard(self)

    def _after_fork(self) -> None:
        self._export_lock = threading.Lock()
        self._runner.after_fork()
        try:
            self.exporter.after_fork()
        except Exception as exc:
            self._report("after_fork", f"exporter after_fork raised {exc!r}")

    def _report(self, kind: str, message: str) -> None:
        name = self.exporter.name
        reporter.report(f"otel_{kind}:{name}", f"{type(self).__name__}({name}): {message}")


class ConsoleLogRecordExporter(FapilogLogRecordExporter):
    """fapilog's console exporter as an OTel ``LogRecordExporter``.

    Registered as ``fapilog_console`` in ``opentelemetry_logs_exporter`` (the SDK
    already owns the plain ``console`` name); reads ``FAPILOG_CONSOLE_*`` settings.
    """

    exporter_name = "console"


class FileLogRecordExporter(FapilogLogRecordExporter):
    """fapilog's rotating JSON-lines file exporter as an OTel ``LogRecordExporter``.

    Registered as ``file`` in ``opentelemetry_logs_exporter``; needs
    ``FAPILOG_FILE_PATH`` (and reads the other ``FAPILOG_FILE_*`` settings).
    """

    exporter_name = "file"


def _reset_in_child() -> None:
    for exporter in list(_live):
        exporter._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)
