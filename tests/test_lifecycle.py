"""Process lifecycle: zero-config default, flush at interpreter exit and on SIGTERM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(
    code: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
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


def test_script_that_never_calls_shutdown_leaves_every_line(tmp_path: Path) -> None:
    """50,000 events to the file exporter and a plain exit: all 50,000 lines are there.

    The loop outruns the file exporter, so the default queue fills; callers wait for
    space (``block``) with a bound long enough that no event is dropped for overflow
    on a loaded machine. What is tested is the flush at exit, not overflow.
    """
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, block_timeout_ms=30_000)
        log = fapilog.get_logger("exit-test")
        for i in range(50_000):
            log.info("event", i=i)
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 50_000
    seen = sorted(json.loads(line)["attributes"]["i"] for line in lines)
    assert seen == list(range(50_000))


def test_exit_flush_still_works_when_the_app_exits_via_sys_exit(tmp_path: Path) -> None:
    """sys.exit() from the main thread with events buffered still flushes them."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import sys, fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, schedule_delay_ms=60000)
        fapilog.get_logger("x").error("last words")
        sys.exit(3)
        """
    )
    assert proc.returncode == 3, proc.stderr
    assert json.loads(out.read_text())["body"] == "last words"


def test_sigterm_with_the_default_disposition_flushes_then_dies_of_sigterm(
    tmp_path: Path,
) -> None:
    """SIGTERM would kill the process without exit hooks; the buffered event still lands."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import os, signal, time, fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, schedule_delay_ms=60000)
        fapilog.get_logger("x").warning("terminated")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        print("not reached")
        """
    )
    assert proc.returncode == -15, proc.stderr
    assert "not reached" not in proc.stdout
    assert json.loads(out.read_text())["body"] == "terminated"


def test_sigterm_handler_of_the_application_is_left_alone(tmp_path: Path) -> None:
    """An application that handles SIGTERM itself keeps its handler."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import os, signal, sys, fapilog
        signal.signal(signal.SIGTERM, lambda *_: print("app handler"))
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, schedule_delay_ms=60000)
        fapilog.get_logger("x").info("still running")
        os.kill(os.getpid(), signal.SIGTERM)
        print("alive")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["app", "handler", "alive"]
    assert json.loads(out.read_text())["body"] == "still running"  # via the exit flush


def test_server_that_restores_and_reraises_sigterm_gets_the_flush(tmp_path: Path) -> None:
    """uvicorn's pattern: own handler during serving, then restore and re-raise."""
    out = tmp_path / "app.jsonl"
    proc = _run(
        f"""
        import os, signal, fapilog
        fapilog.configure(exporters=["file"], file_path={str(out)!r}, schedule_delay_ms=60000)
        log = fapilog.get_logger("server")
        caught = []
        original = signal.signal(signal.SIGTERM, lambda sig, _: caught.append(sig))
        os.kill(os.getpid(), signal.SIGTERM)  # "serving": the server notes the signal
        log.info("graceful shutdown complete")
        signal.signal(signal.SIGTERM, original)
        signal.raise_signal(caught[0])
        print("not reached")
        """
    )
    assert proc.returncode == -15, proc.stderr
    assert "not reached" not in proc.stdout
    assert json.loads(out.read_text())["body"] == "graceful shutdown complete"


def test_zero_config_writes_json_lines_to_stderr_when_not_a_tty() -> None:
    """get_logger().info("hi", user="u1") with no setup prints one JSON line on stderr."""
    proc = _run(
        """
        from fapilog import get_logger
        log = get_logger()
        log.info("hi", user="u1")
        """
    )
    assert proc.returncode == 0
    (line,) = proc.stderr.strip().splitlines()
    record = json.loads(line)
    assert record["body"] == "hi"
    assert record["attributes"] == {"user": "u1"}
    assert record["severity_text"] == "INFO"


def test_console_output_is_one_line_per_record_for_hostile_text() -> None:
    """CR, LF and ESC in message and fields never split or colour console output."""
    proc = _run(
        r"""
        from fapilog import get_logger
        log = get_logger("x")
        log.info("line1\nline2\r\x1b[31mred", field="a\nb\x1b[0m", **{"k\ney": "v\u2028w"})
        log.info("second")
        """,
        env={"FAPILOG_CONSOLE_FORMAT": "pretty"},
    )
    assert proc.returncode == 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, lines
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr and "\u2028" not in proc.stderr
    assert "line1\\nline2" in lines[0]
