"""``max_queue_bytes`` bounds the process's memory whatever the events look like.

Each case runs in a fresh interpreter: it logs big (or many small) events while the
only exporter is OTLP/HTTP to a closed loopback port, so nothing is ever delivered
and every event stays buffered or is dropped. The peak resident set size minus the
resident size before the first call must stay within ``max_queue_bytes`` plus the
constant documented in ``docs/memory.md`` (:data:`CONSTANT`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

#: The documented allowance on top of ``max_queue_bytes`` (docs/memory.md): the
#: exporter's encoded copies of the batches it is exporting, allocator slack, and the
#: interpreter's own growth (first use of the HTTP client, the encoder...).
CONSTANT = 32 * 1024 * 1024

MIB = 1024 * 1024

_CHILD = textwrap.dedent(
    """
    import json, os, socket, sys, time

    shape, count, bound, policy = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    # A loopback port nobody listens on: every export is refused and retried.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"

    import psutil

    import fapilog

    pipeline = fapilog.Pipeline(
        exporters=["otlp"],
        max_queue_bytes=bound,
        overflow=policy,
        block_timeout_ms=0,
        export_timeout_ms=120_000,
    )
    log = pipeline.get_logger("membound")
    pad = "x" * 990
    big = "y" * (1024 * 1024)

    def event(i):
        if shape == "nested":  # 1 MB in a nested list: 100 lists of 10 fresh strings
            rows = [[f"{i:06d}{j:02d}{k:02d}" + pad for k in range(10)] for j in range(100)]
            log.info("nested", rows=rows, i=i)
        elif shape == "string":  # one fresh 1 MB string
            log.info("string", blob=big + str(i), i=i)
        else:  # the common event: five scalars
            log.info("order placed", order_id=i, user=f"user-{i}", amount=12.5, ok=True)

    process = psutil.Process()
    base = process.memory_info().rss
    for i in range(count):
        event(i)
    deadline = time.monotonic() + 60
    while pipeline.stats().queued and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # the lanes' first export attempts (encoding) happen now
    stats = pipeline.stats()
    # VmHWM, this process's own high-water mark: ru_maxrss would include the parent's
    # (Linux carries the RSS high-water mark of the pre-exec image over into it).
    with open("/proc/self/status", encoding="ascii") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    peak = int(hwm.split()[1]) * 1024  # kB
    print(json.dumps({
        "grown": peak - base,
        "emitted": stats.emitted,
        "dropped": dict(stats.dropped),
        "in_flight": stats.in_flight,
    }))
    sys.stdout.flush()
    pipeline.shutdown(timeout=0.5)
    """
)


def _run(shape: str, count: int, bound: int, policy: str = "block") -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, shape, str(count), str(bound), policy],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "OTEL_SERVICE_NAME": "membound"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


pytestmark = [
    pytest.mark.once,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="reads VmHWM from /proc: Linux"
    ),
]


@pytest.mark.parametrize(
    ("shape", "count", "bound"),
    [
        ("nested", 1500, 64 * MIB),
        ("nested", 600, 8 * MIB),
        ("string", 1500, 64 * MIB),
        ("string", 600, 8 * MIB),
        ("small", 200_000, 8 * MIB),
    ],
)
def test_peak_memory_stays_within_the_byte_bound(shape: str, count: int, bound: int) -> None:
    result = _run(shape, count, bound)
    grown = int(result["grown"])  # type: ignore[call-overload]
    assert grown <= bound + CONSTANT, (
        f"{shape}: grew {grown / MIB:.0f} MiB with max_queue_bytes={bound / MIB:.0f} MiB",
        result,
    )
    # Not a vacuous pass: the events were logged, and what did not fit was counted.
    assert result["emitted"] == count
    dropped = result["dropped"]
    assert isinstance(dropped, dict)
    assert result["in_flight"] + sum(dropped.values()) == count  # type: ignore[operator]


def test_the_bound_holds_under_drop_newest_too() -> None:
    result = _run("nested", 1500, 64 * MIB, "drop_newest")
    grown = int(result["grown"])  # type: ignore[call-overload]
    assert grown <= 64 * MIB + CONSTANT, result
