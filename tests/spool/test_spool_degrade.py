"""Disk full and a read-only directory, for real, under a running application.

The application keeps running, every event is accounted for (the spool's refusals and
the memory path's deliveries), and stderr gets exactly one line about the spool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX rlimits")

_APP = textwrap.dedent(
    """
    import json, resource, signal, sys
    import fapilog
    from fapilog.testing import InMemoryExporter

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes fail with EFBIG
    limit = int(sys.argv[2])
    memory = InMemoryExporter()
    pipeline = fapilog.Pipeline(
        exporters=[memory], spool_dir=sys.argv[1], max_queue_size=100_000
    )
    if limit:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    log = pipeline.get_logger("app")
    for i in range(3000):
        log.info("order placed", order_id=i, note="x" * 200)
    flushed = pipeline.flush(10)
    stats = pipeline.stats()
    spool = stats.spool
    print(json.dumps({
        "flushed": flushed,
        "emitted": stats.emitted,
        "exported": stats.exported,
        "dropped": dict(stats.dropped),
        "in_flight": stats.in_flight,
        "received": len(memory.events),
        "degraded": None if spool is None else spool.degraded,
    }), flush=True)
    pipeline.shutdown(10)
    """
)


def run_app(directory: Path, limit: int) -> tuple[dict[str, object], list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _APP, str(directory), str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    spool_lines = [line for line in done.stderr.splitlines() if "spool" in line]
    return result, spool_lines


def test_a_full_disk_degrades_to_memory_with_one_line_and_exact_books(tmp_path: Path) -> None:
    result, lines = run_app(tmp_path / "spool", 64 * 1024)  # room for a few hundred
    assert result["degraded"] is True
    assert result["flushed"] is True
    assert len(lines) == 1 and "unavailable" in lines[0] and "memory only" in lines[0]
    # The memory path had room for everything: nothing lost when the disk filled,
    # not even the events of the append that failed.
    assert result["dropped"] == {} and result["in_flight"] == 0
    assert result["emitted"] == result["exported"] == result["received"] == 3000


def test_a_read_only_directory_degrades_from_the_start(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    if os.geteuid() == 0:  # root ignores file modes: make the directory immutable
        made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip("root, and chattr +i is not available here")
    else:
        directory.chmod(0o500)
    try:
        result, lines = run_app(directory, 0)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(directory)], check=False)
        else:
            directory.chmod(0o700)
    assert result["degraded"] is True
    assert len(lines) == 1 and "unavailable" in lines[0]
    assert result["exported"] == result["received"] == result["emitted"] == 3000
