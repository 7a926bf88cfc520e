"""Exporters and helpers shared by the core tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path

from fapilog import Exporter, ExportResult, LogEvent
from fapilog.pipeline._intake import Intake


class RecordingExporter(Exporter):
    """Keeps every event; optionally answers from a script of results first."""

    name = "recording"

    def __init__(self, script: Sequence[ExportResult] = (), name: str | None = None) -> None:
        self.events: list[LogEvent] = []
        self.calls = 0
        self.batch_sizes: list[int] = []
        self.script = list(script)
        self.shutdown_called = False
        self.lock = threading.Lock()
        if name:
            self.name = name

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.calls += 1
        self.batch_sizes.append(len(batch))
        if self.script:
            result = self.script.pop(0)
            if result.ok:
                with self.lock:
                    self.events.extend(batch)
            elif result.rejected:
                with self.lock:
                    self.events.extend(batch[result.rejected :])
            return result
        with self.lock:
            self.events.extend(batch)
        return ExportResult.success()

    async def shutdown(self) -> None:
        self.shutdown_called = True


class HangingExporter(Exporter):
    """An exporter whose export and shutdown never return (until cancelled)."""

    name = "hanging"

    def __init__(self) -> None:
        self.started = threading.Event()

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def shutdown(self) -> None:
        await asyncio.Event().wait()


class GatedExporter(Exporter):
    """Blocks every export until the test opens the gate (a slow backend)."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.events: list[LogEvent] = []

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        self.entered.set()
        while not self.gate.is_set():
            await asyncio.sleep(0.005)
        self.events.extend(batch)
        return ExportResult.success()


def identity_holds(stats: object) -> bool:
    """emitted == exported + dropped + in_flight."""
    s = stats
    return s.emitted == s.exported + s.dropped_total + s.in_flight  # type: ignore[attr-defined]


class AppendFileExporter(Exporter):
    """Appends one line per event body to a file with O_APPEND (survives fork)."""

    name = "append-file"

    def __init__(self, path: str) -> None:
        self.path = path

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        import os

        data = "".join(f"{e.body}\n" for e in batch).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return ExportResult.success()


ROOT = Path(__file__).resolve().parents[1]


def run_python(
    code: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh interpreter at the repository root.

    The child sees this process's environment without ``FAPILOG_*`` and ``OTEL_*``
    variables, plus ``env``.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("FAPILOG_", "OTEL_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
    )


class _BareOwner:
    """What an Intake needs of its pipeline outside capture and flush on write."""

    serial = 0


def bare_intake(
    max_queue: int = 3,
    policy: str = "drop_newest",
    block_timeout: float = 0.0,
    level: int = 9,
) -> Intake:
    """An :class:`Intake` with no pipeline behind it: what log calls append stays in its
    ring (no worker takes it)."""
    return Intake(
        _BareOwner(),  # type: ignore[arg-type]
        level=level,
        max_queue=max_queue,
        intake_bytes=1 << 30,
        policy=policy,
        block_timeout=block_timeout,
    )
