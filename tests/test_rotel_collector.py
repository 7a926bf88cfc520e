"""RotelCollector: a real collector receives what the official OTel SDK exporters send."""

from __future__ import annotations

import gc
import os
import socket
import stat
import textwrap
import time
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from fapilog.testing import _rotel
from fapilog.testing._rotel import CollectedLog, RotelCollector, RotelCollectorError, parse_value
from otlp_fault_server import FaultServer

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from opentelemetry.sdk._logs.export import LogRecordExporter

pytestmark = pytest.mark.e2e

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331


def emit(
    exporter: LogRecordExporter,
    records: Iterable[LogRecord],
    *,
    batch: bool = False,
    scope: tuple[str, str] = ("checkout.api", "1.2.3"),
) -> None:
    """Send ``records`` through the OTel SDK and flush them out."""
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    if batch:
        processor: Any = BatchLogRecordProcessor(
            exporter, max_queue_size=100_000, max_export_batch_size=512, schedule_delay_millis=50
        )
    else:
        processor = SimpleLogRecordProcessor(exporter)
    provider.add_log_record_processor(processor)
    logger = provider.get_logger(*scope)
    for record in records:
        logger.emit(record)
    provider.shutdown()


def traced() -> Any:
    """A context whose current span has TRACE_ID / SPAN_ID, sampled."""
    span = SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1))
    return set_span_in_context(NonRecordingSpan(span))


def gone(pid: int, timeout: float = 5.0) -> bool:
    """Whether ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


class TestReceiving:
    def test_a_grpc_record_arrives_with_every_field(self, rotel_collector: RotelCollector) -> None:
        """A record sent over OTLP/gRPC is received and parsed back field by field."""
        exporter = GrpcLogExporter(endpoint=rotel_collector.grpc_endpoint, insecure=True)
        emit(
            exporter,
            [
                LogRecord(
                    timestamp=1_700_000_000_123_456_789,
                    observed_timestamp=1_700_000_000_999_999_999,
                    context=traced(),
                    severity_text="WARN",
                    severity_number=SeverityNumber.WARN,
                    body="payment declined",
                    attributes={
                        "order.id": "A-17",
                        "amount": 42,
                        "ratio": 0.25,
                        "retry": True,
                        "tags": ["card", "eu, west"],
                        "customer": {"tier": "gold", "limits": {"daily": 500, "ids": [1, 2]}},
                        "raw": b"\x00\xff",
                    },
                    event_name="payment.declined",
                )
            ],
        )

        assert rotel_collector.wait_for(1, timeout=10) == 1
        [record] = rotel_collector.records()
        assert record.body == "payment declined"
        assert record.severity_text == "WARN"
        assert record.severity_number == SeverityNumber.WARN.value
        assert record.attributes == {
            "order.id": "A-17",
            "amount": 42,
            "ratio": 0.25,
            "retry": True,
            "tags": ["card", "eu, west"],
            "customer": {"tier": "gold", "limits": {"daily": 500, "ids": [1, 2]}},
            "raw": b"\x00\xff",
        }
        assert record.resource_attributes["service.name"] == "checkout"
        assert record.resource_attributes["telemetry.sdk.language"] == "python"
        assert (record.scope_name, record.scope_version) == ("checkout.api", "1.2.3")
        assert record.trace_id == f"{TRACE_ID:032x}"
        assert record.span_id == f"{SPAN_ID:016x}"
        assert record.flags == 1
        assert record.timestamp == 1_700_000_000_123_456_789
        assert record.observed_timestamp == 1_700_000_000_999_999_999
        assert record.event_name == "payment.declined"

    def test_http_records_arrive_with_structured_bodies(
        self, rotel_collector: RotelCollector
    ) -> None:
        """Records sent over OTLP/HTTP arrive in order, map and list bodies included."""
        exporter = HttpLogExporter(endpoint=rotel_collector.http_logs_endpoint)
        emit(
            exporter,
            [
                LogRecord(
                    body={"event": "login", "user": {"id": 7}}, severity_number=SeverityNumber.ERROR
                ),
                LogRecord(body=[1, "two", 3.5], attributes={"empty": "", "none": []}),
                LogRecord(body=None),
            ],
            scope=("auth", ""),
        )

        assert rotel_collector.wait_for(3, timeout=10) == 3
        first, second, third = rotel_collector.records()
        assert first.body == {"event": "login", "user": {"id": 7}}
        assert first.severity_number == 17
        assert first.severity_text == ""
        assert first.trace_id == first.span_id == ""
        assert (first.scope_name, first.scope_version) == ("auth", "")
        assert second.body == [1, "two", 3.5]
        assert second.attributes == {"empty": "", "none": []}
        assert third.body is None
        assert third.severity_number == 0
        assert first.resource_attributes["service.name"] == "checkout"

    def test_a_multiline_body_is_rebuilt(self, rotel_collector: RotelCollector) -> None:
        """Newlines inside a string body survive rotel's line-oriented output."""
        body = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: no'
        emit(
            GrpcLogExporter(endpoint=rotel_collector.grpc_endpoint, insecure=True),
            [LogRecord(body=body, attributes={"note": "a\nb"})],
        )

        assert rotel_collector.wait_for(1, timeout=10) == 1
        [record] = rotel_collector.records()
        assert record.body == body
        assert record.attributes == {"note": "a\nb"}

    def test_five_thousand_records_are_counted_quickly(
        self, rotel_collector: RotelCollector
    ) -> None:
        """count() keeps up with thousands of records without parsing them."""
        exporter = GrpcLogExporter(endpoint=rotel_collector.grpc_endpoint, insecure=True)
        emit(
            exporter,
            (LogRecord(body="tick", attributes={"seq": i}) for i in range(5000)),
            batch=True,
        )

        assert rotel_collector.wait_for(5000, timeout=20) == 5000
        started = time.perf_counter()
        for _ in range(1000):
            rotel_collector.count()
        assert time.perf_counter() - started < 1.0
        records = rotel_collector.records()
        assert sorted(r.attributes["seq"] for r in records) == list(range(5000))

    def test_reset_counts_only_what_arrives_afterwards(
        self, rotel_collector: RotelCollector
    ) -> None:
        """After reset(), count(), wait_for() and records() start again from zero."""
        exporter = GrpcLogExporter(endpoint=rotel_collector.grpc_endpoint, insecure=True)
        emit(exporter, [LogRecord(body="before") for _ in range(3)])
        assert rotel_collector.wait_for(3, timeout=10) == 3

        rotel_collector.reset()
        assert rotel_collector.count() == 0
        emit(
            GrpcLogExporter(endpoint=rotel_collector.grpc_endpoint, insecure=True),
            [LogRecord(body="after")],
        )

        assert rotel_collector.wait_for(1, timeout=10) == 1
        assert [r.body for r in rotel_collector.records()] == ["after"]
        assert rotel_collector.output.count("Str(before)") == 3

    def test_wait_for_returns_the_short_count_at_its_deadline(
        self, rotel_collector: RotelCollector
    ) -> None:
        """wait_for() does not raise when too few records arrive: it returns what came."""
        started = time.monotonic()
        assert rotel_collector.wait_for(1, timeout=0.2) == 0
        assert 0.2 <= time.monotonic() - started < 5

    def test_records_received_just_before_stop_are_kept(self, tmp_path: Path) -> None:
        """stop() lets rotel flush: the records and the output file are complete afterwards."""
        output_file = tmp_path / "rotel.out"
        collector = RotelCollector(output_file=output_file)
        with collector:
            emit(
                HttpLogExporter(endpoint=collector.http_logs_endpoint),
                [LogRecord(body=f"late {i}") for i in range(3)],
            )
        assert collector.count() == 3
        assert [r.body for r in collector.records()] == ["late 0", "late 1", "late 2"]
        assert output_file.read_text() == collector.output
        assert "Starting Rotel." in collector.output

    def test_basic_verbosity_counts_without_details(self) -> None:
        """verbosity='basic' counts from rotel's per-request summary; records() refuses."""
        with RotelCollector(verbosity="basic") as collector:
            emit(
                GrpcLogExporter(endpoint=collector.grpc_endpoint, insecure=True),
                [LogRecord(body="x") for _ in range(7)],
                batch=True,
            )
            assert collector.wait_for(7, timeout=10) == 7
            with pytest.raises(RotelCollectorError, match="verbosity='detailed'"):
                collector.records()

    @pytest.mark.parametrize("protocol", ["grpc", "http"])
    def test_forward_mode_delivers_to_a_downstream_receiver(self, protocol: str) -> None:
        """With forward_to, rotel re-exports what it receives over OTLP."""
        with FaultServer() as downstream:
            endpoint = downstream.grpc_endpoint if protocol == "grpc" else downstream.http_endpoint
            with RotelCollector(
                debug_log=False, forward_to=endpoint, forward_protocol=protocol
            ) as collector:
                emit(
                    GrpcLogExporter(endpoint=collector.grpc_endpoint, insecure=True),
                    [LogRecord(body="relayed", attributes={"n": 1}) for _ in range(4)],
                )
                assert downstream.wait_for_records(4, timeout=10) == 4
                with pytest.raises(RotelCollectorError, match="debug_log=True"):
                    collector.count()

        forwarded = downstream.requests[0]
        assert forwarded.protocol == protocol
        assert forwarded.log_records[0].body.string_value == "relayed"
        if protocol == "http":
            assert forwarded.path == "/v1/logs"
            assert forwarded.compression == "gzip"


class TestLifecycle:
    def test_it_listens_only_on_loopback_ports_it_reports(
        self, rotel_collector: RotelCollector
    ) -> None:
        """Both receivers accept connections on 127.0.0.1 at the advertised ports."""
        for endpoint in (rotel_collector.grpc_endpoint, rotel_collector.http_endpoint):
            assert endpoint.startswith("http://127.0.0.1:")
            port = int(endpoint.rsplit(":", 1)[1])
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        assert rotel_collector.http_logs_endpoint.endswith("/v1/logs")
        assert f"127.0.0.1:{rotel_collector.grpc_endpoint.rsplit(':', 1)[1]}" in (
            rotel_collector.output
        )

    def test_stop_leaves_no_process_and_can_be_repeated(self) -> None:
        """stop() ends the agent; calling it again, or before start, does nothing."""
        collector = RotelCollector()
        collector.stop()
        collector.start()
        pid = collector.pid
        assert pid is not None
        collector.stop()
        assert collector.pid is None
        assert gone(pid)
        collector.stop()

    def test_a_forgotten_collector_stops_its_agent_when_collected(self) -> None:
        """Dropping a running collector without stop() still ends the agent."""
        collector = RotelCollector()
        collector.start()
        pid = collector.pid
        assert pid is not None

        del collector
        gc.collect()

        assert gone(pid)

    def test_stop_kills_children_left_in_the_process_group(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A child that ignores SIGTERM does not survive stop()."""
        child_pid_file = tmp_path / "child.pid"
        monkeypatch.setenv("CHILD_PID_FILE", str(child_pid_file))
        binary = fake_agent(
            tmp_path,
            """
            (trap '' TERM; exec sleep 60) &
            echo $! > "$CHILD_PID_FILE"
            echo "fake agent up"
            wait
            """,
        )
        collector = RotelCollector(binary=binary, startup_timeout=0.5)

        with pytest.raises(RotelCollectorError, match=r"within 0\.5 s") as failure:
            collector.start()

        assert "fake agent up" in str(failure.value)
        assert gone(int(child_pid_file.read_text()))
        assert collector.pid is None

    def test_an_agent_that_exits_at_startup_is_reported_with_its_output(self) -> None:
        """A startup failure raises an error quoting the exit code and rotel's own words."""
        collector = RotelCollector(extra_args=["--no-such-flag"])

        with pytest.raises(
            RotelCollectorError, match="exited during startup with code 2"
        ) as failure:
            collector.start()

        assert "--no-such-flag" in str(failure.value)
        assert collector.pid is None

    def test_a_port_taken_meanwhile_is_retried_on_fresh_ports(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If another process binds a chosen port first, start() picks new ports."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            choose = _rotel._free_ports
            calls: list[int] = []

            def first_one_busy(count: int) -> list[int]:
                calls.append(count)
                ports = choose(count)
                return [busy, *ports[1:]] if len(calls) == 1 else ports

            monkeypatch.setattr(_rotel, "_free_ports", first_one_busy)
            with RotelCollector() as collector:
                assert len(calls) == 2
                assert collector.grpc_endpoint != f"http://127.0.0.1:{busy}"
                assert "Address already in use" not in collector.output

    def test_a_missing_rotel_package_names_the_install_command(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without the rotel package, start() says how to install it."""
        monkeypatch.setattr(_rotel.importlib.util, "find_spec", lambda name: None)

        with pytest.raises(RotelCollectorError, match="pip install rotel"):
            RotelCollector().start()

    def test_a_missing_binary_is_reported(self, tmp_path: Path) -> None:
        """An explicit binary path that does not exist fails clearly."""
        with pytest.raises(RotelCollectorError, match="not found or not executable"):
            RotelCollector(binary=tmp_path / "nope").start()

    def test_addresses_need_a_started_collector(self) -> None:
        """Endpoints are only known once the collector has started."""
        with pytest.raises(RotelCollectorError, match="not been started"):
            _ = RotelCollector().grpc_endpoint


def fake_agent(tmp_path: Path, script: str) -> Path:
    """An executable shell script standing in for rotel-agent."""
    path = tmp_path / "fake-agent"
    path.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# Verbatim rotel output, except "$" marking where rotel ends a line with a space.
SAMPLE = """\
2026-11-23T19:52:05.504410Z  INFO Starting Rotel. grpc_endpoint="127.0.0.1:1"
ResourceLog #0
Resource SchemaURL: https://schemas/1
Resource attributes:
     -> service.name: Str(svc)
     -> host.cpus: Int(8)
ScopeLogs #0
ScopeLogs SchemaURL: $
InstrumentationScope my.scope 1.2.3
InstrumentationScope attributes:
     -> team: Str(payments)
LogRecord #0
ObservedTimestamp: 20
Timestamp: 10
SeverityText: FATAL
Body: Str(first line
second line)
Attributes:
     -> weird key: with colon: Str(v)
     -> nothing: Empty
    Trace ID       : 0af7651916cd43dd8448eb211c80319c
    Span ID        : b7ad6b7169203331
Flags: 257
2026-11-23T19:52:05.6Z  WARN something unrelated
LogRecord #1
ObservedTimestamp: 0
Timestamp: 0
SeverityText: $
SeverityNumber: SEVERITY_NUMBER_DEBUG3(7)
Body: Bytes([1, 2])
    Trace ID       : $
    Span ID        : $
Flags: 0
ResourceLog #1
Resource SchemaURL: $
ScopeLogs #0
ScopeLogs SchemaURL: $
LogRecord #0
ObservedTimestamp: 0
Timestamp: 0
SeverityText: $
SeverityNumber: SEVERITY_NUMBER_UNSPECIFIED(0)
Body: Empty
    Trace ID       : $
    Span ID        : $
Flags: 0
""".replace("$\n", "\n")


class TestParsing:
    def test_the_debug_output_becomes_records(self) -> None:
        """Resource, scope and record blocks are combined into one CollectedLog each."""
        parser = _rotel._DebugLogParser()
        # Fed in two pieces of whole lines, as the reader thread hands them over.
        cut = SAMPLE.index("LogRecord #1")
        parser.feed(SAMPLE[:cut])
        parser.feed(SAMPLE[cut:])
        first, second, third = parser.records

        assert first == CollectedLog(
            body="first line\nsecond line",
            severity_text="FATAL",
            severity_number=None,  # rotel prints no SeverityNumber outside the enum
            attributes={"weird key: with colon": "v", "nothing": None},
            resource_attributes={"service.name": "svc", "host.cpus": 8},
            scope_name="my.scope",
            scope_version="1.2.3",
            scope_attributes={"team": "payments"},
            trace_id="0af7651916cd43dd8448eb211c80319c",
            span_id="b7ad6b7169203331",
            flags=257,
            timestamp=10,
            observed_timestamp=20,
        )
        assert (second.body, second.severity_number, second.scope_name) == (
            b"\x01\x02",
            7,
            "my.scope",
        )
        assert third.resource_attributes == {}
        assert (third.scope_name, third.body) == ("", None)

    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("Str(a)", "a"),
            ("Str()", ""),
            ("Str(a), Str(b)", "a), Str(b"),
            ("Int(-5)", -5),
            ("Double(3.5)", 3.5),
            ("Double(1)", 1.0),
            ("Double(-inf)", float("-inf")),
            ("Bool(false)", False),
            ("Bytes([0, 255])", b"\x00\xff"),
            ("Bytes([])", b""),
            ("Empty", None),
            ("Slice()", []),
            ("Map()", {}),
            ("Slice(Int(1), Str(b, c), Map(k:Bool(true)))", [1, "b, c", {"k": True}]),
            ("Map(a:b:Str(c, d:Str(e)), :Str(empty key))", {"a:b": "c, d:Str(e)", "": "empty key"}),
            ("Slice(Str((x)))", ["(x)"]),
            ("Something(new)", "Something(new)"),
        ],
    )
    def test_values_are_rebuilt_from_their_rendering(self, text: str, value: object) -> None:
        """Each AnyValue rendering maps back to the Python value that was sent."""
        assert parse_value(text) == value

    def test_nan_survives(self) -> None:
        """Double(NaN) becomes a float NaN."""
        result = parse_value("Double(NaN)")
        assert isinstance(result, float)
        assert result != result

    def test_long_lists_do_not_recurse(self) -> None:
        """A 5,000-element list parses (backtracking uses a stack, not recursion)."""
        text = "Slice(" + ", ".join(f"Int({i})" for i in range(5000)) + ")"
        assert parse_value(text) == list(range(5000))

    def test_ambiguous_nested_strings_take_the_shortest_reading(self) -> None:
        """A nested string containing '), Str(' is split: the output cannot tell."""
        assert parse_value("Slice(Str(x), Str(y))") == ["x", "y"]
