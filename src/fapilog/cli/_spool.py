"""``fapilog spool``: look into a spool directory, and deliver one left behind.

* ``inspect DIR``: segments (file, bytes, sequence range, records), pending records per
  exporter cursor, corrupt or torn records, and the process holding the lock, read
  without taking the lock and without writing anything (:func:`fapilog.spool.inspect`);
* ``drain DIR``: takes the directory's lock, delivers every record still pending
  through the exporters named by ``--exporters`` or by the settings
  (``FAPILOG_EXPORTERS`` / ``OTEL_LOGS_EXPORTER`` and their options from the
  environment), advancing each exporter's cursor after every delivered batch, then
  exits: 0 when nothing is left pending for those exporters, 1 otherwise. A drain
  never expires records by age (:data:`DRAIN_MAX_AGE_S`): what it leaves pending is
  still there for the next drain.

See ``docs/durability.md`` (operations) and ``docs/cli.md``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from fapilog._retry import RetryPolicy
    from fapilog.config import Settings
    from fapilog.exporters import Exporter
    from fapilog.spool import Spool

__all__ = ["add_parser", "run"]

#: Exit codes: everything delivered / something left pending / could not start.
OK, PENDING, USAGE = 0, 1, 2

#: The age bound a drain opens the spool with: a thousand years, so nothing expires
#: while draining. A directory left behind is often older than the application's own
#: ``spool_max_age_s`` (7 days by default), and a drain is asked to deliver what it holds.
DRAIN_MAX_AGE_S = 1000 * 365 * 86400.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``spool`` (``inspect``, ``drain``) to the ``fapilog`` command."""
    parser = sub.add_parser(
        "spool",
        help="inspect a spool directory, or deliver one left behind",
        description="The durable spool (FAPILOG_SPOOL_DIR): see docs/durability.md.",
    )
    actions = parser.add_subparsers(dest="spool_command")
    inspect = actions.add_parser(
        "inspect",
        help="segments, pending records per exporter, corrupt records, lock holder",
        description=(
            "Read a spool directory without locking or changing it: its segments with "
            "sizes and sequence ranges, the records pending for each exporter's cursor, "
            "corrupt and torn records, and the process that holds its lock, if any. "
            "Exit code 0; 2 when the directory is not a spool."
        ),
    )
    inspect.add_argument("directory", type=Path, help="the spool directory")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    drain = actions.add_parser(
        "drain",
        help="deliver what a spool directory holds, then exit",
        description=(
            "Take the directory's lock and deliver every pending record through the "
            "exporters named by --exporters, or else by FAPILOG_EXPORTERS / "
            "OTEL_LOGS_EXPORTER, built with their options from the environment exactly "
            "as the application builds them. Each exporter resumes from its cursor in "
            "the directory (one without a cursor starts at the oldest record) and the "
            "cursor advances after every delivered batch, so a drain that is "
            "interrupted resumes where it stopped. Exit code 0: nothing is left pending "
            "for these exporters; 1: something is (the counts say what); 2: the "
            "directory is locked by a live process, cannot be written, or no exporter "
            "is named."
        ),
    )
    drain.add_argument("directory", type=Path, help="the spool directory")
    drain.add_argument(
        "--exporters",
        metavar="NAMES",
        help="comma-separated exporter names (default: FAPILOG_EXPORTERS / OTEL_LOGS_EXPORTER)",
    )
    drain.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up on what is still pending after this long (default: 60)",
    )
    drain.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """Run ``fapilog spool ...``; returns the exit code."""
    command = getattr(args, "spool_command", None)
    if command == "inspect":
        return _inspect(args)
    if command == "drain":
        return _drain(args)
    print("usage: fapilog spool {inspect,drain} DIR ...; see fapilog spool --help")
    return USAGE


def _error(command: str, message: str) -> int:
    print(f"fapilog spool {command}: {message}", file=sys.stderr)
    return USAGE


# -- inspect --------------------------------------------------------------------------


def _inspect(args: argparse.Namespace) -> int:
    from fapilog.spool import inspect

    directory: Path = args.directory
    if not directory.is_dir():
        return _error("inspect", f"{directory}: no such directory")
    try:
        info = inspect(directory)
    except (OSError, ValueError) as exc:
        return _error("inspect", f"{directory}: {_one_line(exc)}")
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return OK
    for line in _inspect_lines(directory, info):
        print(line)
    return OK


def _inspect_lines(directory: Path, info: Mapping[str, Any]) -> list[str]:
    segments: list[Mapping[str, Any]] = list(info.get("segments") or [])
    lines = [f"spool {directory}"]
    lock = info.get("lock")
    if lock:
        pid = lock.get("pid")
        alive = lock.get("alive")
        state = "alive" if alive else "not running: the lock is stale" if alive is False else ""
        lines.append(f"lock: held by pid {pid}" + (f" ({state})" if state else ""))
    else:
        lines.append("lock: free")
    total = sum(int(s.get("bytes") or 0) for s in segments)
    records = sum(int(s.get("records") or 0) for s in segments)
    lines.append(f"segments: {len(segments)}, {_size(total)}, {records} record(s)")
    rows: list[tuple[str, ...]] = [("file", "bytes", "sequences", "records", "corrupt")]
    for s in segments:
        first, last = s.get("first_seq"), s.get("last_seq")
        span = f"{first}..{last}" if last is not None and s.get("records") else f"{first}.. (empty)"
        damage = str(s.get("corrupt") or 0) + (" + torn tail" if s.get("torn") else "")
        rows.append((str(s.get("name")), str(s.get("bytes")), span, str(s.get("records")), damage))
    if segments:
        lines.extend("  " + line for line in _table(rows))
    cursors: Mapping[str, Mapping[str, Any]] = info.get("cursors") or {}
    if cursors:
        lines.append("pending per exporter:")
        pending: list[tuple[str, ...]] = [("exporter", "next sequence", "pending")]
        pending += [(n, str(c.get("next_seq")), str(c.get("pending"))) for n, c in cursors.items()]
        lines.extend("  " + line for line in _table(pending))
    else:
        lines.append("pending per exporter: no cursor yet (every record is pending)")
    lines.append(f"corrupt records: {info.get('corrupt', 0)}")
    return lines


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows]


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


# -- drain ----------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What draining one exporter did."""

    exporter: str
    delivered: int = 0
    rejected: int = 0
    """Records the backend refused for good (a partial result): not retried."""
    pending: int = 0
    """Records still pending for this exporter when the drain ended."""
    error: str = ""
    """Why the drain of this exporter stopped early (secret-free)."""


def _drain(args: argparse.Namespace) -> int:
    from fapilog.config import ConfigError, Settings
    from fapilog.exporters._registry import resolve_exporters
    from fapilog.spool import Spool, SpoolLockedError, SpoolUnavailable, inspect

    directory: Path = args.directory
    if not directory.is_dir():
        return _error("drain", f"{directory}: no such directory")
    if not args.timeout > 0:
        return _error("drain", "--timeout must be a number of seconds > 0")
    try:
        settings = Settings.load()
        names = args.exporters
        if names is None and settings.source("exporters") == "default":
            found = ", ".join(sorted(inspect(directory).get("cursors") or {})) or "none"
            return _error(
                "drain",
                "name the exporters to deliver through: --exporters otlp, or "
                f"FAPILOG_EXPORTERS / OTEL_LOGS_EXPORTER (cursors in {directory}: {found})",
            )
        source = "--exporters" if names is not None else settings.source("exporters")
        exporters = resolve_exporters(
            names if names is not None else settings.exporters, settings, source=source
        )
    except ConfigError as exc:
        return _error("drain", str(exc))
    if not exporters:
        return _error("drain", "no exporter to deliver through (the exporters are 'none')")
    try:
        spool = Spool.open(directory, max_age_s=DRAIN_MAX_AGE_S)
    except SpoolLockedError as exc:
        return _error(
            "drain",
            f"{_one_line(exc)}; wait for that process to exit (a process "
            "started on the directory delivers what it holds) or stop it first",
        )
    except SpoolUnavailable as exc:
        return _error(
            "drain",
            f"{directory} cannot be written ({_one_line(exc)}); draining "
            "must persist each exporter's cursor: copy the directory somewhere "
            "writable and drain the copy",
        )
    started = time.monotonic()
    try:
        outcomes = asyncio.run(_deliver(spool, exporters, settings, started + args.timeout))
        corrupt = int(getattr(spool.stats(), "corrupt", 0))
        try:
            spool.gc()
        except OSError:
            pass  # delivered segments stay on disk; the next open collects them
    finally:
        spool.close()
    return _report(directory, outcomes, corrupt, time.monotonic() - started, args.json)


def _lane_names(exporters: list[Exporter]) -> list[str]:
    """The cursor names a pipeline gives these exporters: their names, made unique."""
    names: list[str] = []
    for exporter in exporters:
        name = exporter.name or type(exporter).__name__
        unique, n = name, 2
        while unique in names:
            unique, n = f"{name}#{n}", n + 1
        names.append(unique)
    return names


async def _deliver(
    spool: Spool, exporters: list[Exporter], settings: Settings, deadline: float
) -> list[_Outcome]:
    from fapilog._retry import RetryPolicy

    default_policy = RetryPolicy.from_settings(settings)
    jobs = []
    for name, exporter in zip(_lane_names(exporters), exporters, strict=True):
        spool.register(name)
        policy = exporter.retry_policy or default_policy
        jobs.append(_drain_one(spool, name, exporter, policy, settings, deadline))
    return list(await asyncio.gather(*jobs))


async def _drain_one(
    spool: Spool,
    name: str,
    exporter: Exporter,
    policy: RetryPolicy,
    settings: Settings,
    deadline: float,
) -> _Outcome:
    from fapilog.exporters import ExportStatus

    outcome = _Outcome(name)
    attempt_timeout = settings.export_timeout_ms / 1000
    try:
        left = _left(deadline)
        await asyncio.wait_for(exporter.start(), left)
        while True:
            records = spool.read(name, settings.max_export_batch_size, settings.max_queue_bytes)
            if not records:
                break
            batch = [event for _, event in records]
            attempt = rejected = 0
            while True:
                try:
                    # The time left first: _left() raising after export(batch) made its
                    # coroutine would leave that coroutine never awaited.
                    left = min(attempt_timeout, _left(deadline))
                    result = await asyncio.wait_for(exporter.export(batch), left)
                except TimeoutError:
                    reason, retry_after = "export timed out", None
                else:
                    if result.status is ExportStatus.SUCCESS:
                        break
                    if result.status is ExportStatus.PARTIAL:
                        rejected = min(result.rejected, len(batch))
                        break
                    if result.status is ExportStatus.FAILURE:
                        raise _Stop(f"export failed: {result.reason or 'no reason given'}")
                    reason, retry_after = result.reason or "retryable failure", result.retry_after
                attempt += 1
                pause = policy.delay(attempt - 1, retry_after)
                if not policy.allows_retry(attempt) or time.monotonic() + pause >= deadline:
                    raise _Stop(f"{reason}; gave up after {attempt} attempt(s)")
                await asyncio.sleep(pause)
            spool.commit(name, records[-1][0] + 1)
            outcome.delivered += len(batch) - rejected
            outcome.rejected += rejected
        left = _left(deadline)
        await asyncio.wait_for(exporter.force_flush(), left)
    except _Stop as stop:
        outcome.error = str(stop)
    except TimeoutError:
        outcome.error = "--timeout ran out"
    except Exception as exc:  # an exporter's own bug: by type only, it may quote a secret
        outcome.error = f"the exporter raised {type(exc).__name__}"
    finally:
        try:
            await asyncio.wait_for(exporter.shutdown(), 5.0)
        except Exception:  # shutting down is best effort here
            pass
    outcome.pending = spool.pending(name)
    return outcome


class _Stop(Exception):
    """Draining one exporter ends early; the message says why."""


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _report(
    directory: Path, outcomes: list[_Outcome], corrupt: int, seconds: float, as_json: bool
) -> int:
    pending = sum(o.pending for o in outcomes)
    code = OK if pending == 0 else PENDING
    if as_json:
        out = {
            "directory": str(directory),
            "ok": code == OK,
            "delivered": sum(o.delivered for o in outcomes),
            "pending": pending,
            "corrupt": corrupt,
            "seconds": round(seconds, 3),
            "exporters": [asdict(o) for o in outcomes],
        }
        print(json.dumps(out, indent=2))
        return code
    print(f"fapilog spool drain {directory}")
    for o in outcomes:
        line = f"{o.exporter}: {o.delivered} delivered, {o.pending} pending"
        if o.rejected:
            line += f", {o.rejected} rejected by the backend"
        if o.error:
            line += f" ({o.error})"
        print(line)
    if corrupt:
        print(f"corrupt records skipped: {corrupt}")
    if code == OK:
        print(f"all pending records delivered in {seconds:.1f} s")
    else:
        print(f"{pending} record(s) still pending; run drain again once the cause is fixed")
    return code


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
