"""What the peer-suite's processes share: the event, counting sinks, summaries.

Standard library only: this module is imported by workers running in other
virtual environments too (fapilog 0.18 lives in its own, see ``legacy.py``).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
from collections.abc import Iterable
from typing import Any

MESSAGE = "request handled"
FIELDS: dict[str, Any] = {
    "method": "GET",
    "path": "/api/orders",
    "status": 200,
    "duration_ms": 12.5,
    "user_id": "u-123",
}
"""The one event every contender logs: a message and these five fields."""


class TextCounter:
    """A text stream onto ``/dev/null`` that counts the lines written through it.

    Every contender writes through the same kind of counter, so drops are counted
    (lines written against events emitted) rather than assumed zero. Its cost, one
    Python method call and a ``str.count`` per write, is paid by all alike.
    """

    encoding = "utf-8"

    def __init__(self) -> None:
        self._file = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return self._file.write(text)

    def flush(self) -> None:
        self._file.flush()

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        self._file.close()


class BytesCounter:
    """The bytes counterpart of :class:`TextCounter` (structlog's BytesLogger, fapilog 0.18)."""

    def __init__(self) -> None:
        self._file = open(os.devnull, "wb")  # noqa: SIM115 - closed by close()
        self.lines = 0

    def write(self, data: bytes | memoryview) -> int:
        self.lines += bytes(data).count(b"\n")
        return self._file.write(data)

    def writelines(self, chunks: Iterable[bytes | memoryview]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        self._file.flush()

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        self._file.close()


class StdoutStandIn:
    """A ``sys.stdout`` replacement whose ``.buffer`` is a :class:`BytesCounter`."""

    encoding = "utf-8"

    def __init__(self) -> None:
        self.buffer = BytesCounter()
        self.text = TextCounter()

    @property
    def lines(self) -> int:
        return self.buffer.lines + self.text.lines

    def write(self, text: str) -> int:
        return self.text.write(text)

    def flush(self) -> None:
        self.buffer.flush()
        self.text.flush()

    def isatty(self) -> bool:
        return False


def summarize(values: list[float]) -> dict[str, float] | None:
    """Median, min and max of ``values`` (``None`` when there are none)."""
    clean = [v for v in values if v == v]  # drop NaN
    if not clean:
        return None
    return {"median": statistics.median(clean), "min": min(clean), "max": max(clean)}


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB.

    ``VmHWM`` from ``/proc/self/status`` where there is one (Linux): the high-water mark
    of this process's own memory. Not ``ru_maxrss`` there: Linux carries it across
    ``fork`` and ``exec``, so a worker started by a 25 MiB suite process reported at
    least 25 MiB whatever it did itself. Elsewhere ``ru_maxrss`` (KiB on Linux, bytes
    on macOS) is the best there is.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
