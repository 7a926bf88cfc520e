"""The README's main job: the demo service ships everything to a real collector and cleans up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.e2e
def test_demo_delivers_everything_and_leaves_no_process() -> None:
    done = subprocess.run(
        [sys.executable, "examples/demo_service.py", "--requests", "60", "--burst", "3000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "every event was delivered" in out
    emitted = int(re.search(r"pipeline:\s+emitted=(\d+) exported=(\d+)", out).group(1))
    received = int(re.search(r"collector: (\d+) records received", out).group(1))
    assert received == emitted > 3000
    assert re.search(r"\(60 distinct traces", out)
    for shown in ("'request handled'", "'payment failed'", "scope                inventory_client"):
        assert shown in out
    assert re.search(r"trace_id\s+[0-9a-f]{32}", out)
    assert "fapilog.redacted" in out
    assert "4111 1111 1111 1111" not in out and "sk_live_51Hx" not in out
    assert "card number or token in collector output: False" in out
    pid = int(re.search(r"collector \(pid (\d+)\)", out).group(1))
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the collector outlived the demo"
