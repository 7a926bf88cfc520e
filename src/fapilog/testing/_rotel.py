"""A real OpenTelemetry collector for end-to-end tests: the ``rotel`` agent on loopback.

:class:`RotelCollector` runs the ``rotel-agent`` binary shipped by the ``rotel``
package in the foreground, bound only to ``127.0.0.1`` on free ports, and captures
what it prints. With ``debug_log=True`` (the default) rotel prints every log record
it receives; :meth:`RotelCollector.records` parses that output back into
:class:`CollectedLog` objects, and :meth:`RotelCollector.count` /
:meth:`RotelCollector.wait_for` count records cheaply without parsing them.

For volume tests, count with ``verbosity="basic"`` (one summary line per request) or
forward to an OTLP receiver of your own with ``forward_to``; the detailed output
costs roughly 400 bytes of text per record, which :meth:`RotelCollector.records`
parses at roughly 20,000 records a second (see ``docs/collector-testing.md``).

This module imports without ``rotel`` installed; the binary is located when a
collector starts.
"""

from __future__ import annotations

import codecs
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from fapilog.testing._rotel_output import (
    _RECORD_END,
    CollectedLog,
    CollectedSpan,
    _DebugLogParser,
    _SpanParser,
    parse_value,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

__all__ = ["CollectedLog", "CollectedSpan", "RotelCollector", "RotelCollectorError", "parse_value"]

_HOST = "127.0.0.1"
_READ_SIZE = 1 << 16
_PORT_ATTEMPTS = 5
_FIXED_PORT_RETRY_DELAY = 0.2
_STOP_TIMEOUT = 5.0
_READY_POLL_INTERVAL = 0.02

_STARTED_MARKER = "Starting Rotel."
_BASIC_LOGS_LINE = re.compile(r"Received logs\..*\blogs=(\d+)")


class RotelCollectorError(RuntimeError):
    """The collector could not be located, started, or asked for what it cannot give."""


class RotelCollector:
    """A ``rotel-agent`` process receiving OTLP logs on loopback, for tests.

    Example::

        with RotelCollector() as collector:
            export_some_logs(endpoint=collector.grpc_endpoint)
            assert collector.wait_for(3, timeout=5) == 3
            assert collector.records()[0].body == "hello"

    Args:
        debug_log: Have rotel print the log records it receives; needed by
            :meth:`count`, :meth:`wait_for` and :meth:`records`.
        verbosity: ``"detailed"`` prints every field of every record (parsed by
            :meth:`records`); ``"basic"`` prints one line per export request, which
            is enough for :meth:`count` and much cheaper under volume.
        forward_to: Also export what is received over OTLP to this endpoint, e.g.
            ``"http://127.0.0.1:4317"`` (a receiver the test runs).
        forward_protocol: ``"grpc"`` or ``"http"`` for ``forward_to``; for HTTP give
            the base URL, rotel appends ``/v1/logs``. rotel gzips what it forwards
            (this rotel build sends gzip even when asked for no compression).
        batch_timeout: rotel's logs batch timeout (a rotel duration such as
            ``"20ms"``): how long a received record may wait in a batch before it
            is forwarded. The debug log is printed on receipt, unbatched. ``None``
            keeps rotel's default (200ms).
        binary: Path of the ``rotel-agent`` executable; by default the one inside
            the installed ``rotel`` package.
        startup_timeout: Seconds to wait for rotel to start and both receivers to
            accept connections.
        output_file: Also write everything the collector prints to this file.
        extra_args: More ``rotel-agent start`` arguments, appended last.
        grpc_port: Listen for OTLP/gRPC on this loopback port instead of a free one,
            e.g. to start a collector where a client is already sending (the port
            of an earlier collector, or one the test chose before any collector
            ran). If the port is taken, :meth:`start` retries briefly, then raises.
        http_port: Likewise for OTLP/HTTP.
        traces: Also receive spans and print them (see :meth:`spans`); by default the
            traces receiver is off and a trace exporter pointed here gets errors.
        metrics: Also receive metrics (accepted and discarded, not printed), so an
            application exporting all three signals to one endpoint sees no errors.

    Raises:
        ValueError: ``verbosity`` or ``forward_protocol`` is not one of its choices,
            or a port is outside 1-65535 or both ports are the same.
    """

    def __init__(
        self,
        *,
        debug_log: bool = True,
        verbosity: Literal["detailed", "basic"] = "detailed",
        forward_to: str | None = None,
        forward_protocol: Literal["grpc", "http"] = "grpc",
        batch_timeout: str | None = "20ms",
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 10.0,
        output_file: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        grpc_port: int | None = None,
        http_port: int | None = None,
        traces: bool = False,
        metrics: bool = False,
    ) -> None:
        if forward_protocol not in ("grpc", "http"):
            raise ValueError(f"forward_protocol must be 'grpc' or 'http', not {forward_protocol!r}")
        if verbosity not in ("detailed", "basic"):
            raise ValueError(f"verbosity must be 'detailed' or 'basic', not {verbosity!r}")
        for name, port in (("grpc_port", grpc_port), ("http_port", http_port)):
            if port is not None and not 0 < port < 65536:
                raise ValueError(f"{name} must be between 1 and 65535, not {port!r}")
        if grpc_port is not None and grpc_port == http_port:
            raise ValueError(f"grpc_port and http_port must differ, both are {grpc_port}")
        self._debug_log = debug_log
        self._verbosity = verbosity
        self._forward_to = forward_to
        self._forward_protocol = forward_protocol
        self._batch_timeout = batch_timeout
        self._binary = None if binary is None else Path(binary)
        self._startup_timeout = startup_timeout
        self._output_file = None if output_file is None else Path(output_file)
        self._extra_args = tuple(extra_args)
        self._fixed_ports = (grpc_port, http_port)
        self._traces = traces
        self._metrics = metrics

        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._reader: threading.Thread | None = None
        self._workdir: str | None = None
        self._grpc_port = 0
        self._http_port = 0
        self._capture = _Capture()
        self._parse_lock = threading.Lock()
        self._parser = _DebugLogParser()
        self._parsed_chunks = 0
        self._base_count = 0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the collector and wait until both OTLP receivers accept connections.

        Raises:
            RotelCollectorError: rotel is not installed, the binary is missing, the
                collector exited during startup, or it was not listening within
                ``startup_timeout`` seconds. The message includes its output.
        """
        if self._process is not None:
            raise RotelCollectorError("the collector is already running")
        binary = self._binary if self._binary is not None else _packaged_binary()
        if not os.access(binary, os.X_OK):
            raise RotelCollectorError(f"rotel-agent binary not found or not executable: {binary}")
        self._workdir = tempfile.mkdtemp(prefix="fapilog-rotel-")
        try:
            for attempt in range(_PORT_ATTEMPTS):
                if attempt and self._fixed_ports != (None, None):
                    time.sleep(_FIXED_PORT_RETRY_DELAY)  # a fixed port: give it time
                self._grpc_port, self._http_port = self._choose_ports()
                if self._launch(binary):
                    return
        except BaseException:
            self.stop()
            raise
        output = self.output
        self.stop()
        raise RotelCollectorError(
            f"rotel could not bind its ports after {_PORT_ATTEMPTS} attempts; output:\n{output}"
        )

    def stop(self) -> None:
        """Stop the collector: SIGTERM, then SIGKILL if it has not exited within 5 s.

        rotel flushes the batch it holds when terminated, so records received before
        ``stop()`` are in :attr:`output` afterwards. Safe to call more than once.
        """
        self._reap()
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> RotelCollector:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------

    @property
    def grpc_endpoint(self) -> str:
        """The OTLP/gRPC receiver, ``"http://127.0.0.1:PORT"``."""
        return f"http://{_HOST}:{self._require_port(self._grpc_port)}"

    @property
    def http_endpoint(self) -> str:
        """The OTLP/HTTP receiver's base URL, ``"http://127.0.0.1:PORT"``.

        Logs are posted to :attr:`http_logs_endpoint` (``/v1/logs``).
        """
        return f"http://{_HOST}:{self._require_port(self._http_port)}"

    @property
    def http_logs_endpoint(self) -> str:
        """The OTLP/HTTP logs URL, ``"http://127.0.0.1:PORT/v1/logs"``."""
        return f"{self.http_endpoint}/v1/logs"

    @property
    def pid(self) -> int | None:
        """Process id of the running collector, ``None`` when stopped."""
        return None if self._process is None else self._process.pid

    @property
    def output(self) -> str:
        """Everything the collector printed so far (stdout and stderr, in order)."""
        return self._capture.text()

    # -- received records ------------------------------------------------------------

    def count(self) -> int:
        """Number of log records received since start (or the last :meth:`reset`).

        Counts record markers in the output without parsing it. A record counts once
        rotel printed it completely, so :meth:`records` has at least this many.

        Raises:
            RotelCollectorError: the collector runs without ``debug_log``.
        """
        self._require_debug_log()
        return self._capture.records - self._base_count

    def wait_for(self, n: int, timeout: float = 10.0) -> int:
        """Wait until at least ``n`` records arrived since start or the last reset.

        Returns early if the collector exits. Never raises for too few records:
        assert on the returned count.

        Args:
            n: Records to wait for.
            timeout: Seconds to wait at most.

        Returns:
            The count reached, which may be below ``n`` on timeout.

        Raises:
            RotelCollectorError: the collector runs without ``debug_log``.
        """
        self._require_debug_log()
        self._capture.wait_until(n + self._base_count, timeout)
        return self.count()

    def records(self) -> list[CollectedLog]:
        """The records received since start (or the last :meth:`reset`), parsed.

        Parsing is incremental: each call parses only output that is new.

        Raises:
            RotelCollectorError: the collector runs without ``debug_log`` or with
                ``verbosity="basic"``.
        """
        self._require_debug_log()
        if self._verbosity != "detailed":
            raise RotelCollectorError("records() needs verbosity='detailed'")
        with self._parse_lock:
            chunks = self._capture.chunks_from(self._parsed_chunks)
            self._parsed_chunks += len(chunks)
            for chunk in chunks:
                self._parser.feed(chunk)
            return self._parser.records[self._base_count :]

    def spans(self) -> list[CollectedSpan]:
        """Every span received since start (``traces=True``), parsed.

        :meth:`reset` does not apply to spans: filter by trace id instead.

        Raises:
            RotelCollectorError: the collector runs without ``traces``, ``debug_log``
                or with ``verbosity="basic"``.
        """
        self._require_debug_log()
        if not self._traces or self._verbosity != "detailed":
            raise RotelCollectorError("spans() needs traces=True and verbosity='detailed'")
        parser = _SpanParser()
        parser.feed(self._capture.text())
        parser.close()
        return parser.spans

    def reset(self) -> None:
        """Forget the records received so far: counts and records start again from 0.

        :attr:`output` keeps everything.
        """
        self._base_count = self._capture.records

    # -- internals -------------------------------------------------------------------

    def _choose_ports(self) -> tuple[int, int]:
        """The fixed ports given to the constructor, free loopback ports for the others."""
        fixed = [port for port in self._fixed_ports if port is not None]
        # Ask for spares: the kernel may hand out a fixed port that is free right now.
        free = [port for port in _free_ports(2 + len(fixed)) if port not in fixed]
        grpc_port, http_port = self._fixed_ports
        return (
            free.pop() if grpc_port is None else grpc_port,
            free.pop() if http_port is None else http_port,
        )

    def _command(self, binary: Path) -> list[str]:
        workdir = self._workdir or tempfile.gettempdir()
        command = [
            str(binary),
            "start",
            "--otlp-grpc-endpoint",
            f"{_HOST}:{self._grpc_port}",
            "--otlp-http-endpoint",
            f"{_HOST}:{self._http_port}",
            "--log-format",
            "text",
            # Only used with --daemon, but keep rotel away from its shared /tmp defaults.
            "--pid-file",
            os.path.join(workdir, "rotel-agent.pid"),
            "--log-file",
            os.path.join(workdir, "rotel-agent.log"),
        ]
        if not self._traces:
            command.append("--otlp-receiver-traces-disabled")
        if not self._metrics:
            command.append("--otlp-receiver-metrics-disabled")
        if self._debug_log:
            command += ["--debug-log", "logs", "--debug-log-verbosity", self._verbosity]
            if self._traces:
                command += ["--debug-log", "traces"]
        if self._batch_timeout is not None:
            command += ["--logs-batch-timeout", self._batch_timeout]
        if self._forward_to is not None:
            command += [
                "--exporter",
                "otlp",
                "--otlp-exporter-endpoint",
                self._forward_to,
                "--otlp-exporter-protocol",
                self._forward_protocol,
            ]
        else:
            # rotel refuses to start without an exporter; the debug log is ours.
            command += ["--exporter", "blackhole"]
        command += self._extra_args
        return command

    def _launch(self, binary: Path) -> bool:
        """Start one process on the chosen ports; False if a port was taken meanwhile."""
        self._capture = _Capture(self._output_file)
        with self._parse_lock:
            self._parser = _DebugLogParser()
            self._parsed_chunks = 0
        self._base_count = 0
        # A private environment: inherited ROTEL_* settings must not reconfigure the agent.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEL_")}
        env["NO_COLOR"] = "1"
        _add_libpython_dir(env)
        process = subprocess.Popen(
            self._command(binary),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            bufsize=0,
            start_new_session=True,  # its own process group, so stop() reaches any child
        )
        self._process = process
        # A collector dropped or left running at interpreter exit must not outlive us.
        self._finalizer = weakref.finalize(self, _terminate_group, process)
        assert process.stdout is not None
        self._reader = threading.Thread(
            target=self._capture.pump,
            args=(process.stdout,),
            name=f"rotel-output-{process.pid}",
            daemon=True,
        )
        self._reader.start()
        deadline = time.monotonic() + self._startup_timeout
        while True:
            if _exited(process.pid):
                self._reap()
                if "Address already in use" in self.output:
                    return False
                raise RotelCollectorError(
                    f"rotel exited during startup with code {process.returncode}; "
                    f"output:\n{self.output}"
                )
            # rotel logs its start line only after binding both ports: until then a
            # port that accepts may belong to whoever took it since we chose it.
            if (
                _STARTED_MARKER in self._capture.text()
                and _accepts(self._grpc_port)
                and _accepts(self._http_port)
            ):
                return True
            if time.monotonic() >= deadline:
                output = self.output
                self.stop()
                raise RotelCollectorError(
                    f"rotel did not log {_STARTED_MARKER!r} and listen on "
                    f"{_HOST}:{self._grpc_port} and {_HOST}:{self._http_port} within "
                    f"{self._startup_timeout} s; output:\n{output}"
                )
            time.sleep(_READY_POLL_INTERVAL)

    def _reap(self) -> None:
        """Stop (or collect) the process and its group, then drain its output."""
        process, self._process = self._process, None
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        if process is not None:
            _terminate_group(process)
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.join(_STOP_TIMEOUT)
        self._capture.close()

    def _require_port(self, port: int) -> int:
        if port == 0:
            raise RotelCollectorError("the collector has not been started")
        return port

    def _require_debug_log(self) -> None:
        if not self._debug_log:
            raise RotelCollectorError("counting and parsing records needs debug_log=True")


# -- process and ports -------------------------------------------------------------------


def _add_libpython_dir(env: dict[str, str]) -> None:
    """Let the agent find this interpreter's ``libpython``.

    The ``rotel`` wheel's agent links against ``libpython3.X.so`` (for its Python
    processors). A system Python has it on the loader's default path; a Python built
    into its own prefix (pyenv, a custom build) keeps it in its ``LIBDIR``, where the
    agent would not find it and exit at once ("error while loading shared libraries").
    """
    libdir = sysconfig.get_config_var("LIBDIR")
    if not libdir or not sys.platform.startswith("linux"):
        return
    existing = env.get("LD_LIBRARY_PATH")
    env["LD_LIBRARY_PATH"] = f"{libdir}{os.pathsep}{existing}" if existing else str(libdir)


def _packaged_binary() -> Path:
    """The ``rotel-agent`` inside the installed ``rotel`` package."""
    spec = importlib.util.find_spec("rotel")
    if spec is None or not spec.submodule_search_locations:
        raise RotelCollectorError(
            "RotelCollector needs the 'rotel' package, which ships the collector binary: "
            "pip install rotel"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "rotel-agent"


def _free_ports(count: int) -> list[int]:
    """Distinct loopback ports that were free a moment ago."""
    sockets: list[socket.socket] = []
    try:
        # Holding every socket until all are bound keeps the ports distinct.
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((_HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _accepts(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback port."""
    with contextlib.suppress(OSError), socket.create_connection((_HOST, port), timeout=0.5):
        return True
    return False


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and anything left in its process group, then reap it."""
    pid = process.pid  # start_new_session made it the leader of group ``pid``
    if process.returncode is None:
        if not _exited(pid):
            _signal_group(pid, signal.SIGTERM)
            if not _wait_exited(pid, _STOP_TIMEOUT):
                _signal_group(pid, signal.SIGKILL)
                _wait_exited(pid, _STOP_TIMEOUT)
        # The leader is an unreaped zombie, so the group id cannot have been reused:
        # anything its children left in the group is ours to kill.
        _signal_group(pid, signal.SIGKILL)
    process.wait(_STOP_TIMEOUT)


def _exited(pid: int) -> bool:
    """Whether child ``pid`` has exited, without reaping it."""
    try:
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, pid, flags) is not None
    except ChildProcessError:
        return True


def _wait_exited(pid: int, timeout: float) -> bool:
    """Poll until child ``pid`` exits (not reaping it) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not _exited(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# -- output capture ----------------------------------------------------------------------


class _Capture:
    """The collector's output, read by a background thread, kept as complete lines."""

    def __init__(self, path: Path | None = None) -> None:
        self._cond = threading.Condition()
        self._chunks: list[str] = []
        self._partial = ""
        self._records = 0
        self._eof = False
        self._file: TextIO | None = None
        if path is not None:
            self._file = path.open("w", encoding="utf-8")

    @property
    def records(self) -> int:
        """Records seen complete so far (detailed markers plus basic batch totals)."""
        with self._cond:
            return self._records

    def pump(self, stream: Any) -> None:
        """Read ``stream`` until end of file (runs on the reader thread)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            while True:
                data: bytes = stream.read(_READ_SIZE)
                if not data:
                    break
                self._add(decoder.decode(data))
            self._add(decoder.decode(b"", final=True) + "\n", final=True)
        finally:
            with self._cond:
                self._eof = True
                self._cond.notify_all()
            with contextlib.suppress(OSError):
                stream.close()

    def _add(self, text: str, *, final: bool = False) -> None:
        with self._cond:
            pending = self._partial + text
            cut = pending.rfind("\n") + 1
            complete, self._partial = pending[:cut], pending[cut:]
            if final and complete == "\n":
                complete = ""
            if not complete:
                return
            self._chunks.append(complete)
            # Only whole lines are counted, so a marker split across reads counts once.
            lines = "\n" + complete
            self._records += lines.count("\n" + _RECORD_END)
            if "Received logs." in complete:
                self._records += sum(int(m) for m in _BASIC_LOGS_LINE.findall(complete))
            if self._file is not None:
                self._file.write(complete)
                self._file.flush()
            self._cond.notify_all()

    def wait_until(self, records: int, timeout: float) -> None:
        """Block until ``records`` were seen, the output ended, or ``timeout`` passed."""
        with self._cond:
            self._cond.wait_for(lambda: self._records >= records or self._eof, timeout)

    def chunks_from(self, index: int) -> list[str]:
        """Complete-line chunks captured after the first ``index``."""
        with self._cond:
            return self._chunks[index:]

    def text(self) -> str:
        """All output so far, including an unfinished last line."""
        with self._cond:
            return "".join(self._chunks) + self._partial

    def close(self) -> None:
        """Close the optional output file."""
        with self._cond:
            if self._file is not None:
                self._file.close()
                self._file = None
