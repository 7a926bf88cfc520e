"""The async exporter protocol every fapilog backend implements."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog._event import LogEvent
    from fapilog._retry import RetryPolicy

__all__ = ["ExportResult", "ExportStatus", "Exporter"]


class ExportStatus(enum.Enum):
    """How an export attempt ended."""

    SUCCESS = "success"
    """Every record was delivered."""
    RETRYABLE = "retryable"
    """Nothing (or not everything) was delivered, and the same batch may be sent again."""
    PARTIAL = "partial"
    """Delivered except ``rejected`` records, which the backend refused for good."""
    FAILURE = "failure"
    """Nothing was delivered and retrying will not help."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """The outcome of :meth:`Exporter.export`.

    Build one with the class methods rather than the constructor.
    """

    status: ExportStatus
    retry_after: float | None = None
    """Seconds the backend asked us to wait before retrying (a minimum delay)."""
    rejected: int = 0
    """For PARTIAL: how many records of the batch the backend rejected."""
    reason: str = ""
    """A short, secret-free description for diagnostics and drop counters."""

    @classmethod
    def success(cls) -> ExportResult:
        """Every record was delivered."""
        return _SUCCESS

    @classmethod
    def retryable(cls, reason: str = "", *, retry_after: float | None = None) -> ExportResult:
        """The batch may be sent again, no earlier than ``retry_after`` seconds from now."""
        return cls(ExportStatus.RETRYABLE, retry_after=retry_after, reason=reason)

    @classmethod
    def partial(cls, rejected: int, reason: str = "") -> ExportResult:
        """Delivered except ``rejected`` records, which must not be retried."""
        if rejected < 0:
            raise ValueError("rejected must be >= 0")
        return cls(ExportStatus.PARTIAL, rejected=rejected, reason=reason)

    @classmethod
    def failure(cls, reason: str = "") -> ExportResult:
        """Nothing was delivered and retrying will not help."""
        return cls(ExportStatus.FAILURE, reason=reason)

    @property
    def ok(self) -> bool:
        """True when the result is SUCCESS."""
        return self.status is ExportStatus.SUCCESS


_SUCCESS = ExportResult(ExportStatus.SUCCESS)


class Exporter(abc.ABC):
    """Base class for async exporters.

    The pipeline calls every method on its worker thread's event loop, never on the
    application's. By default ``export`` is never called concurrently for one
    exporter: the pipeline waits for one call to end (or time out) before the next.
    An exporter whose ``export`` is safe to run for several batches at once raises
    :attr:`max_concurrent_exports`. Retries,
    timeouts and drop accounting are the pipeline's job; an exporter reports what
    happened through its :class:`ExportResult` and should not retry on its own.
    An exception raised by ``export`` is treated as a retryable failure and
    reported (rate-limited) on stderr.
    """

    #: The version of :mod:`fapilog.plugin` this exporter was written for, e.g.
    #: ``"1.0"``; ``None`` means not declared (assumed ``"1.0"``). See
    #: :func:`fapilog.plugin.check_api_version`.
    api_version: ClassVar[str | None] = None

    #: Name used in stats and diagnostics; defaults to the class name.
    name: str = ""

    #: This exporter's own pause between retries of one batch (a class or instance
    #: attribute); ``None`` uses the pipeline's policy, from the ``retry_*`` settings.
    #: The export timeout stays the deadline either way.
    retry_policy: RetryPolicy | None = None

    #: How many batches the pipeline may export at once through this exporter. Keep 1
    #: unless ``export`` keeps no per-call state that another call could clobber; a
    #: retry of one batch may then interleave with other batches.
    max_concurrent_exports: int = 1

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    @abc.abstractmethod
    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        """Deliver ``batch``.

        Args:
            batch: events in emission order; the exporter must not mutate them.

        Returns:
            What happened, as an :class:`ExportResult`.
        """

    async def force_flush(self, timeout: float | None = None) -> bool:
        """Push out anything the exporter buffers itself. Returns True on success."""
        return True

    async def start(self) -> None:  # noqa: B027  # optional hook, empty on purpose
        """Open connections. Called on the pipeline's event loop before the first export.

        Also called again in a forked child's new worker (after :meth:`after_fork`).
        Optional: an exporter may still connect lazily in :meth:`export`. Opening
        here matters where the first export may come at interpreter exit, when
        Python 3.12 and later refuse to start the threads a client library needs.
        Exceptions are reported on stderr and the pipeline runs on.
        """

    async def shutdown(self) -> None:  # noqa: B027  # optional hook, empty on purpose
        """Release connections and files. Called once, after the last export."""

    def after_fork(self) -> None:  # noqa: B027  # optional hook, empty on purpose
        """Reset per-process state (sockets, channels, loops) in a forked child.

        Called in the child after ``os.fork()``, before the child's pipeline worker
        starts. Must not flush or close anything the parent still uses.
        """
