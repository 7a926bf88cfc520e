"""What the benchmark scripts share (they run as scripts, so this imports as ``_shared``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fapilog import Exporter, ExportResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog import LogEvent


class NullExporter(Exporter):
    """Counts what it receives, delivers nowhere (isolates the pipeline from I/O)."""

    name = "null"

    def __init__(self) -> None:
        self.count = 0

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.count += len(batch)
        return ExportResult.success()
