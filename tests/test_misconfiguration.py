"""Configuration mistakes: never an exception from a log call, never a silent loss.

Mistakes in the environment are found lazily, at the first log call that builds the
default pipeline: they must not raise into application code. The fallback pipeline
(console on stderr, redaction on) takes the events, counts them, and one diagnostic
line names the variable and the fix. Mistakes made in code fail loudly where they
are made, in ``configure()`` / ``Pipeline()``, naming the setting and the fix.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.resources import Resource

import fapilog
from fapilog import ConfigError, Pipeline, Processor, Settings
from fapilog._api import FALLBACK_SETTINGS, configure_from_environment, default_pipeline
from fapilog._diagnostics import reporter
from fapilog.config import ConfigTypeError
from fapilog.exporters.memory import InMemoryExporter
from support import RecordingExporter

ROOT = Path(__file__).resolve().parents[1]

# Logs through every kind of call, then prints the accounting as JSON on stdout.
_APP = """
    import asyncio, json, logging
    import fapilog

    log = fapilog.get_logger("app")
    log.info("first event", order_id=7)
    log.warning("second event", password="hunter2")
    asyncio.run(log.ainfo("third event"))
    logging.getLogger("lib").addHandler(fapilog.FapilogHandler())
    logging.getLogger("lib").error("fourth event")
    assert fapilog.flush(10)
    s = fapilog.stats()
    print(json.dumps({"emitted": s.emitted, "exported": s.exported,
                      "dropped": s.dropped_total, "in_flight": s.in_flight,
                      "exporters": [e.name for e in fapilog.default_pipeline().exporters]}))
"""


def _run_app(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("FAPILOG_", "OTEL_"))}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_APP)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        cwd=ROOT,
    )


def _check_fallback(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 0, exactly one diagnostic naming ``needles``, every event on stderr, counted."""
    assert result.returncode == 0, result.stderr
    diagnostics = [line for line in result.stderr.splitlines() if line.startswith("fapilog:")]
    assert len(diagnostics) == 1, result.stderr
    (line,) = diagnostics
    assert "invalid logging configuration in the environment" in line
    assert "console on stderr with redaction on" in line
    for needle in needles:
        assert needle in line, line
    events = [json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")]
    assert [e["body"] for e in events] == [
        "first event",
        "second event",
        "third event",
        "fourth event",
    ]
    assert events[1]["attributes"]["password"] == "[REDACTED]"  # redaction is on
    stats = json.loads(result.stdout)
    assert stats == {
        "emitted": 4,
        "exported": 4,
        "dropped": 0,
        "in_flight": 0,
        "exporters": ["console"],
    }
    return line


# -- mistakes in the environment: the fallback, never an exception ----------------------


def test_a_misspelt_exporter_in_the_environment_falls_back_to_the_console() -> None:
    """OTEL_LOGS_EXPORTER=otpl: no log call raises; the line names the variable and the names."""
    line = _check_fallback(
        _run_app({"OTEL_LOGS_EXPORTER": "otpl"}),
        "unknown exporter 'otpl'",
        "OTEL_LOGS_EXPORTER",
        "use one of: alerts, console,",
    )
    assert "FAPILOG_EXPORTERS" not in line  # the variable that was set, not every candidate


def test_an_invalid_level_in_the_environment_falls_back_and_keeps_the_rest() -> None:
    """FAPILOG_LEVEL=LOUD: fallback at the default level; the valid service name is kept."""
    result = _run_app({"FAPILOG_LEVEL": "LOUD", "OTEL_SERVICE_NAME": "shop"})
    _check_fallback(result, "FAPILOG_LEVEL", "'LOUD'", "e.g. FAPILOG_LEVEL=INFO")
    first = json.loads(next(x for x in result.stderr.splitlines() if x.startswith("{")))
    assert first["service.name"] == "shop"


def test_a_file_path_under_a_file_in_the_environment_falls_back(tmp_path: Path) -> None:
    """FAPILOG_FILE_PATH under a regular file: named at start-up, not as EEXIST per batch."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = _run_app(
        {"FAPILOG_EXPORTERS": "file", "FAPILOG_FILE_PATH": str(blocker / "app.jsonl")}
    )
    line = _check_fallback(result, "FAPILOG_FILE_PATH", "is a file, not a directory")
    assert "EEXIST" not in line


def test_a_batch_larger_than_the_queue_in_the_environment_falls_back() -> None:
    """OTEL_BLRP_MAX_EXPORT_BATCH_SIZE above OTEL_BLRP_MAX_QUEUE_SIZE names both variables."""
    _check_fallback(
        _run_app({"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "5000", "OTEL_BLRP_MAX_QUEUE_SIZE": "100"}),
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        "at most 100",
    )


def test_an_invalid_otlp_endpoint_in_the_environment_falls_back() -> None:
    """An OTLP option the OTLP exporter rejects is an environment mistake like the others."""
    line = _check_fallback(
        _run_app(
            {
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:s3cretpw@collector:99999",
            }
        ),
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "port",
    )
    assert "s3cretpw" not in line


def test_a_valid_environment_has_no_diagnostic() -> None:
    """The control: a correct environment builds its own pipeline and says nothing."""
    result = _run_app({"FAPILOG_EXPORTERS": "console", "FAPILOG_LEVEL": "debug"})
    assert result.returncode == 0, result.stderr
    assert not [x for x in result.stderr.splitlines() if x.startswith("fapilog:")]
    assert json.loads(result.stdout)["exported"] == 4


@pytest.fixture
def fresh_reporter() -> Iterator[None]:
    reporter.reset()
    yield
    reporter.reset()


def test_default_pipeline_never_raises_for_the_environment(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], fresh_reporter: None
) -> None:
    """In process: the fallback is installed as the default, with FALLBACK_SETTINGS."""
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otpl")
    monkeypatch.setenv("FAPILOG_CONSOLE_STREAM", "stdout")
    pipeline = default_pipeline()
    assert default_pipeline() is pipeline
    assert [e.name for e in pipeline.exporters] == ["console"]
    for name, value in FALLBACK_SETTINGS.items():
        assert getattr(pipeline.settings, name) == value
    assert reporter.flush(5)
    err = capfd.readouterr().err
    assert err.count("fapilog: invalid logging configuration") == 1
    assert "OTEL_LOGS_EXPORTER" in err


def test_configure_from_environment_falls_back_but_code_mistakes_raise(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], fresh_reporter: None
) -> None:
    """The configurator's entry: env mistakes fall back; a bad processor is a code mistake."""
    monkeypatch.setenv("FAPILOG_LEVEL", "LOUD")
    with pytest.raises(ConfigTypeError, match="processors="):
        configure_from_environment(processors=[object()])
    seen: list[Settings] = []

    def resource(settings: Settings) -> Resource:
        seen.append(settings)
        return Resource({"service.name": "from-callable"})

    pipeline = configure_from_environment(resource=resource)
    assert fapilog.default_pipeline() is pipeline
    assert pipeline.resource.attributes["service.name"] == "from-callable"
    assert seen and seen[-1] is pipeline.settings and pipeline.settings.level == "INFO"
    assert reporter.flush(5)
    assert "FAPILOG_LEVEL" in capfd.readouterr().err


def test_configure_from_environment_puts_extra_exporter_names_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Names given (e.g. by opentelemetry-instrument) come before the settings', once each."""
    monkeypatch.setenv("FAPILOG_EXPORTERS", "memory,console")
    pipeline = configure_from_environment(exporters=["Console", "memory"])
    assert [e.name for e in pipeline.exporters] == ["console", "memory"]


def test_a_lazy_default_that_cannot_start_at_all_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], fresh_reporter: None
) -> None:
    """Even when no pipeline can start (no thread at interpreter exit), a call returns."""
    import fapilog._api as api

    def broken() -> Pipeline:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(api, "default_pipeline", broken)
    fapilog.get_logger("app").info("lost, but said so")
    assert reporter.flush(5)
    assert "no pipeline could be started" in capfd.readouterr().err


# -- mistakes in code: ConfigError naming the setting and the fix -----------------------


def test_a_misspelt_exporter_in_code_raises() -> None:
    """configure(exporters=["otpl"]) fails in configure(), listing the names."""
    with pytest.raises(ConfigError, match=r"unknown exporter 'otpl'.*use one of") as info:
        fapilog.configure(exporters=["otpl"])
    assert info.value.fields == ("exporters",)


@pytest.mark.parametrize(
    ("level", "number"),
    [
        (5, 1),
        (logging.DEBUG, 5),
        (logging.INFO, 9),
        (logging.WARNING, 13),
        (logging.ERROR, 17),
        (logging.CRITICAL, 21),
        (15, 8),
        (0, 0),
        ("20", 9),
        ("warning", 13),
    ],
)
def test_logging_numbers_are_levels(level: int | str, number: int) -> None:
    """configure(level=logging.DEBUG) works: logging numbers map to OTel severities."""
    pipeline = fapilog.configure(exporters=[], level=level)
    assert pipeline.intake.level == number == pipeline.settings.level_number


@pytest.mark.parametrize("level", [True, -1, "LOUD", 2.5])
def test_a_bad_level_in_code_raises_naming_the_argument(level: object) -> None:
    """Booleans, negative numbers, unknown names: ConfigError naming level= and the fix."""
    with pytest.raises(ConfigError, match=r"level= argument.*e\.g\. FAPILOG_LEVEL=INFO"):
        fapilog.configure(exporters=[], level=level)


def test_one_string_is_a_list_of_names() -> None:
    """exporters="console" is one exporter named console, not the exporters c, o, n..."""
    assert [e.name for e in fapilog.configure(exporters="console").exporters] == ["console"]
    both = Pipeline(exporters="memory, console")
    assert [e.name for e in both.exporters] == ["memory", "console"]
    both.shutdown()
    settings = Settings.load(baggage_keys="tenant", compliance="pci-dss", exporters="memory")
    assert settings.baggage_keys == ["tenant"] and settings.compliance == ["pci-dss"]


def test_one_exporter_or_processor_object_is_a_list_of_one() -> None:
    """exporters=InMemoryExporter() and processors=MyProcessor() need no list around them."""

    class Tag(Processor):
        def on_emit(self, event: fapilog.LogEvent) -> None:
            event.attributes["tagged"] = True

    exporter = InMemoryExporter()
    pipeline = fapilog.configure(exporters=exporter, processors=Tag())
    fapilog.get_logger("app").info("x")
    assert pipeline.flush(5)
    assert [e.attributes["tagged"] for e in exporter.events] == [True]


def test_objects_that_are_not_processors_are_rejected_naming_them() -> None:
    """processors=[object()] used to drop every event; now configure() says why and how."""
    with pytest.raises(
        ConfigTypeError, match=r"an object of type 'object' is not a processor.*on_emit"
    ):
        fapilog.configure(exporters=[], processors=[object()])

    class Duck:
        def on_emit(self, event: object) -> None: ...

    with pytest.raises(TypeError, match=r"Duck' is not a processor \(it has on_emit"):
        fapilog.configure(exporters=[], processors=[Duck()])

    class Tag(Processor):
        def on_emit(self, event: fapilog.LogEvent) -> None: ...

    with pytest.raises(ConfigError, match=r"Tag is a class; pass an instance: .*Tag\(\.\.\.\)"):
        fapilog.configure(exporters=[], processors=[Tag])
    with pytest.raises(ConfigError, match="the callable"):
        fapilog.configure(exporters=[], processors=[lambda event: None])
    assert not isinstance(fapilog._api._DEFAULT.pipeline, Pipeline)  # nothing installed


def test_an_otel_log_record_processor_is_wrapped() -> None:
    """An OTel LogRecordProcessor is accepted as is (wrapped, as OTel exporters are)."""
    seen: list[str] = []

    class Sdk(LogRecordProcessor):
        def on_emit(self, log_record: object) -> None:
            seen.append(type(log_record).__name__)

        def shutdown(self) -> None: ...

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    exporter = RecordingExporter()
    pipeline = fapilog.configure(exporters=[exporter], processors=[Sdk()])
    fapilog.get_logger("app").info("x")
    assert pipeline.flush(5)
    assert len(seen) == 1 and len(exporter.events) == 1


def test_objects_that_are_not_exporters_are_rejected_naming_them() -> None:
    """ConfigTypeError (both ConfigError and TypeError) names the type and the fix."""
    with pytest.raises(
        ConfigTypeError, match=r"exporters=: an object of type 'int' is not an exporter"
    ):
        fapilog.configure(exporters=[3])
    with pytest.raises(TypeError, match=r"InMemoryExporter is a class; pass an instance"):
        fapilog.configure(exporters=[InMemoryExporter])


def test_a_file_path_that_can_never_be_written_is_rejected(tmp_path: Path) -> None:
    """A parent that is a file, or a directory as the path: ConfigError at configure()."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"file_path= argument: .* is a file, not a directory"):
        fapilog.configure(exporters=["file"], file_path=blocker / "deeper" / "app.jsonl")
    with pytest.raises(ConfigError, match="is a directory, not a file") as info:
        fapilog.configure(exporters=["file"], file_path=tmp_path)
    assert info.value.fields == ("file_path",)
    fine = fapilog.configure(exporters=["file"], file_path=tmp_path / "new" / "dir" / "a.jsonl")
    assert [e.name for e in fine.exporters] == ["file"]


def test_a_file_path_in_a_read_only_directory_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory the process cannot create the file in is named at configure().

    Write permission is what ``os.access`` says; it is faked for the directory so
    that the test means the same when run as root (who may write anywhere).
    """
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x.jsonl").write_text("")
    locked.chmod(0o500)
    real_access = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        if Path(str(path)) == locked and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    try:
        with pytest.raises(ConfigError, match=r"cannot be created: .*locked' is not writable"):
            fapilog.configure(exporters=["file"], file_path=locked / "sub" / "app.jsonl")
        # An existing writable file can be appended to; rotating needs the directory.
        with pytest.raises(ConfigError, match=r"cannot be rotated: .*locked' is not writable"):
            fapilog.configure(exporters=["file"], file_path=locked / "x.jsonl", file_max_bytes=10)
        appending = fapilog.configure(exporters=["file"], file_path=locked / "x.jsonl")
        assert [e.name for e in appending.exporters] == ["file"]
    finally:
        locked.chmod(0o700)


def test_an_explicit_batch_larger_than_the_queue_is_rejected() -> None:
    """max_export_batch_size > max_queue_size: both named, with the bound to use."""
    with pytest.raises(ConfigError, match=r"max_export_batch_size \(100, from ") as info:
        fapilog.configure(exporters=[], max_queue_size=10, max_export_batch_size=100)
    assert "max_queue_size (10, from max_queue_size= argument)" in str(info.value)
    assert "at most 10" in str(info.value)
    assert set(info.value.fields) == {"max_export_batch_size", "max_queue_size"}


def test_a_small_queue_alone_keeps_the_default_batch_size() -> None:
    """Only a chosen batch size is checked: max_queue_size=4 alone is not an error."""
    assert Settings.load(max_queue_size=4).max_export_batch_size == 512


def test_a_failed_configure_leaves_the_previous_default_in_place() -> None:
    """A code mistake raises before anything is replaced or shut down."""
    exporter = InMemoryExporter()
    good = fapilog.configure(exporters=[exporter])
    with pytest.raises(ConfigError):
        fapilog.configure(exporters=["otpl"])
    assert fapilog.default_pipeline() is good
    fapilog.get_logger("app").info("still here")
    assert good.flush(5)
    assert [e.body for e in exporter.events] == ["still here"]


def test_a_pipeline_built_directly_rejects_a_non_processor() -> None:
    """Pipeline(...) checks processors= as configure() does, naming the object and the fix."""
    with pytest.raises(TypeError, match=r"'object' is not a processor; subclass fapilog.Processor"):
        fapilog.Pipeline(processors=[object()])
