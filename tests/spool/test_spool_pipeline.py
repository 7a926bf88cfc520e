"""The durable spool in the pipeline (``spool_dir``): placement, catch-up, replay, failure.

* An exporter that is down for longer than its backlog lasts loses nothing: its lane
  parks what does not fit (on disk), catches up from the spool once it delivers, in
  order, and every event arrives exactly once; without the spool the same run drops.
* Only redacted events reach the spool.
* A directory left behind (the exporter was down at shutdown) is replayed by the next
  pipeline before its own events; ``replayed`` counts it outside ``emitted``.
* Two exporters keep independent cursors: the one that delivers is not held up.
* A disk failure degrades to memory only: one diagnostic line, ``spool.degraded``,
  every event still delivered, nothing raised into the caller.
* Settings: ``configure(spool=...)`` and the validation of the spool settings.

The spool itself is a small in-memory stand-in with the :class:`fapilog.spool.Spool`
interface (its own tests cover the files); the chaos tests use the real one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from fapilog import ConfigError, Exporter, ExportResult, Pipeline, Settings
from fapilog._diagnostics import reporter
from fapilog.pipeline import _pipeline
from fapilog.pipeline._durable import SpoolLink

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fapilog import LogEvent


@dataclasses.dataclass
class Disk:
    """What survives a process: records and cursors."""

    records: dict[int, Any] = dataclasses.field(default_factory=dict)
    cursors: dict[str, int] = dataclasses.field(default_factory=dict)
    head: int = 0
    appended: list[Any] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Result:
    first_seq: int
    count: int
    dropped: dict[str, int]


@dataclasses.dataclass
class _Stats:
    bytes: int
    segments: int
    head_seq: int
    cursors: dict[str, int]
    corrupt: int
    dropped: dict[str, int]


class FakeSpool:
    """The Spool interface on a :class:`Disk`; ``fail_after`` appends, then ENOSPC."""

    def __init__(self, disk: Disk, fail_after: int | None = None) -> None:
        self.disk = disk
        self.fail_after = fail_after
        self.closed = False

    def register(self, exporter: str) -> None:
        self.disk.cursors.setdefault(exporter, min(self.disk.records, default=self.disk.head))

    def append(self, events: Sequence[LogEvent]) -> _Result:
        if self.fail_after is not None:
            if self.fail_after <= 0:
                raise OSError(28, "No space left on device")
            self.fail_after -= 1
        first = self.disk.head
        for event in events:
            self.disk.records[self.disk.head] = event
            self.disk.appended.append(event)
            self.disk.head += 1
        return _Result(first, len(events), {})

    def read(
        self, exporter: str, max_events: int, max_bytes: int, *, start: int | None = None
    ) -> list[tuple[int, Any]]:
        start = self.disk.cursors[exporter] if start is None else start
        out = []
        for seq in range(start, self.disk.head):
            if seq in self.disk.records:
                out.append((seq, self.disk.records[seq]))
                if len(out) >= max_events:
                    break
        return out

    def commit(self, exporter: str, next_seq: int) -> None:
        assert next_seq >= self.disk.cursors[exporter], "a cursor never moves back"
        self.disk.cursors[exporter] = next_seq

    def stats(self) -> _Stats:
        return _Stats(0, 1, self.disk.head, dict(self.disk.cursors), 0, {})

    def gc(self) -> None:
        low = min(self.disk.cursors.values(), default=self.disk.head)
        for seq in [s for s in self.disk.records if s < low]:
            del self.disk.records[seq]

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    """Every pipeline with ``spool_dir`` set gets a FakeSpool on this disk."""
    found = Disk()

    def open_link(settings: Settings) -> SpoolLink | None:
        if settings.spool_dir is None:
            return None
        return SpoolLink(FakeSpool(found, opened.pop(0) if opened else None), "fake")

    opened: list[int | None] = []
    monkeypatch.setattr(_pipeline, "open_link", open_link)
    found.fail_plan = opened  # type: ignore[attr-defined]
    return found


class Switch(Exporter):
    """Retryable failure while ``down``; records what it delivered."""

    def __init__(self, name: str = "switch", *, down: bool = True) -> None:
        self.name = name
        self.down = down
        self.got: Counter[str] = Counter()
        self.calls = 0

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.calls += 1
        await asyncio.sleep(0)
        if self.down:
            return ExportResult.retryable("collector down")
        for event in batch:
            self.got[str(event.body)] += 1
        return ExportResult.success()


def _small(**extra: Any) -> dict[str, Any]:
    return {
        "max_queue_size": 200,
        "max_export_batch_size": 50,
        "export_timeout_ms": 100,
        "schedule_delay_ms": 5,
        "retry_max_backoff_ms": 20,
        "retry_initial_backoff_ms": 5,
        **extra,
    }


def _identity(stats: Any) -> bool:
    return bool(stats.emitted == stats.exported + stats.dropped_total + stats.in_flight)


def _log(pipeline: Pipeline, n: int, start: int = 0) -> None:
    logger = pipeline.get_logger("spool")
    for i in range(start, start + n):
        logger.info(f"e{i}")


def test_an_outage_longer_than_the_backlog_loses_nothing(disk: Disk) -> None:
    exporter = Switch()
    pipeline = Pipeline(exporters=[exporter], spool_dir="/fake", **_small())
    try:
        _log(pipeline, 3000)
        assert not pipeline.flush(timeout=0.5)  # the exporter is down
        mid = pipeline.stats()
        assert _identity(mid)
        assert mid.dropped_total == 0
        exporter.down = False
        assert pipeline.flush(timeout=20)
        stats = pipeline.stats()
    finally:
        pipeline.shutdown(timeout=5)
    assert exporter.got == Counter({f"e{i}": 1 for i in range(3000)})
    assert stats.exported == stats.emitted == 3000
    assert stats.dropped_total == 0 and stats.in_flight == 0
    assert disk.cursors["switch"] == disk.head == 3000


def test_without_the_spool_the_same_outage_drops() -> None:
    exporter = Switch()
    pipeline = Pipeline(exporters=[exporter], overflow="drop_newest", **_small())
    try:
        _log(pipeline, 3000)
        pipeline.flush(timeout=0.5)
        exporter.down = False
        pipeline.flush(timeout=10)
        stats = pipeline.stats()
    finally:
        pipeline.shutdown(timeout=5)
    assert stats.spool is None
    assert _identity(stats)
    assert sum(exporter.got.values()) < 3000
    assert stats.dropped_total > 0


def test_only_redacted_events_are_spooled(disk: Disk) -> None:
    pipeline = Pipeline(exporters=[Switch(down=False)], spool_dir="/fake", **_small())
    try:
        pipeline.get_logger("x").info("login", password="hunter2-secret")
        assert pipeline.flush(timeout=5)
    finally:
        pipeline.shutdown(timeout=5)
    assert len(disk.appended) == 1
    assert "hunter2-secret" not in repr(disk.appended[0].attributes)


def test_a_directory_left_behind_is_replayed_before_new_events(disk: Disk) -> None:
    first = Pipeline(exporters=[Switch()], spool_dir="/fake", **_small())
    _log(first, 300)
    first.flush(timeout=0.3)
    first.shutdown(timeout=0.5)  # the exporter is still down
    left = first.stats()
    assert left.dropped.get("spooled", 0) == 300
    assert _identity(left)

    again = Switch(down=False)
    second = Pipeline(exporters=[again], spool_dir="/fake", **_small())
    try:
        _log(second, 100, start=1000)
        assert second.flush(timeout=10)
        stats = second.stats()
    finally:
        second.shutdown(timeout=5)
    assert again.got == Counter({f"e{i}": 1 for i in [*range(300), *range(1000, 1100)]})
    assert list(again.got)[:300] == [f"e{i}" for i in range(300)]  # replay first
    assert stats.emitted == stats.exported == 100  # replayed records are counted apart
    assert stats.spool is not None
    assert stats.spool.replayed == 300 and stats.spool.replay_pending == 0
    assert stats.spool.possible_duplicates == 50  # one batch per exporter
    assert disk.cursors["switch"] == disk.head


def test_each_exporter_has_its_own_cursor(disk: Disk) -> None:
    up, down = Switch("up", down=False), Switch("down")
    pipeline = Pipeline(exporters=[up, down], spool_dir="/fake", **_small())
    try:
        _log(pipeline, 2000)
        pipeline.flush(timeout=0.5)
        assert sum(up.got.values()) == 2000  # not held up by the other
        assert disk.cursors["up"] == 2000 > disk.cursors["down"]
        down.down = False
        assert pipeline.flush(timeout=20)
        stats = pipeline.stats()
    finally:
        pipeline.shutdown(timeout=5)
    assert up.got == down.got == Counter({f"e{i}": 1 for i in range(2000)})
    assert stats.exported == 2000 and stats.dropped_total == 0


def test_a_disk_failure_degrades_to_memory_with_one_line(
    disk: Disk, capfd: pytest.CaptureFixture[str]
) -> None:
    disk.fail_plan.append(3)  # type: ignore[attr-defined]
    exporter = Switch(down=False)
    pipeline = Pipeline(exporters=[exporter], spool_dir="/fake", **_small())
    try:
        for i in range(20):  # several drains
            _log(pipeline, 50, start=i * 50)
            pipeline.flush(timeout=5)
        stats = pipeline.stats()
    finally:
        pipeline.shutdown(timeout=5)
    assert exporter.got == Counter({f"e{i}": 1 for i in range(1000)})
    assert stats.spool is not None and stats.spool.degraded
    assert stats.exported == 1000 and _identity(stats)
    assert reporter.flush(5)
    lines = [line for line in capfd.readouterr().err.splitlines() if "spool" in line]
    assert len(lines) == 1 and "memory only" in lines[0]


def test_spool_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAPILOG_SPOOL_DIR", raising=False)
    assert Settings.load().spool_dir is None
    assert Settings.load(spool_fsync="interval").spool_fsync == "interval"
    with pytest.raises(ConfigError, match="spool_fsync"):
        Settings.load(spool_fsync="sometimes")
    with pytest.raises(ConfigError, match="spool_max_bytes"):
        Settings.load(spool_max_bytes=0)
    monkeypatch.setenv("FAPILOG_SPOOL_DIR", "/var/lib/app/spool")
    assert str(Settings.load().spool_dir) == "/var/lib/app/spool"


def test_configure_spool_is_shorthand_for_spool_dir(disk: Disk) -> None:
    import fapilog

    pipeline = fapilog.configure(exporters=[Switch(down=False)], spool="/fake")
    try:
        assert str(pipeline.settings.spool_dir) == "/fake"
        assert pipeline.stats().spool is not None
    finally:
        pipeline.shutdown(timeout=5)
