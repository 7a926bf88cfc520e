"""Per-logger levels on the caller: set_level, the levels setting, prefixes, runtime changes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import fapilog
from fapilog import Pipeline, Settings, _levels
from fapilog.config import ConfigError
from fapilog.stdlib import capture_stdlib
from support import RecordingExporter


@pytest.fixture(autouse=True)
def _no_runtime_levels() -> Iterator[None]:
    """Runtime levels are process-wide: every test starts and ends without any."""
    _levels.clear()
    yield
    _levels.clear()


@pytest.fixture
def pipe() -> Iterator[tuple[Pipeline, RecordingExporter]]:
    exporter = RecordingExporter()
    pipeline = Pipeline(
        exporters=[exporter],
        level="INFO",
        levels={"shop.db": "DEBUG", "urllib3": "WARNING"},
        schedule_delay_ms=5,
    )
    yield pipeline, exporter
    pipeline.shutdown(timeout=5)


def _bodies(pipeline: Pipeline, exporter: RecordingExporter) -> list[object]:
    assert pipeline.flush(5)
    return [event.body for event in exporter.events]


def test_the_levels_setting_applies_per_logger_by_longest_dotted_prefix(pipe) -> None:
    """shop.db=DEBUG covers shop.db.pool, not shop or shopping; urllib3=WARNING silences INFO."""
    pipeline, exporter = pipe
    pipeline.get_logger("shop.db").debug("db debug")
    pipeline.get_logger("shop.db.pool").debug("pool debug")
    pipeline.get_logger("shop").debug("shop debug")  # the global INFO
    pipeline.get_logger("shop.dbx").debug("dbx debug")  # not a dotted child of shop.db
    pipeline.get_logger("urllib3.connectionpool").info("urllib3 info")
    pipeline.get_logger("urllib3.connectionpool").warning("urllib3 warning")
    pipeline.get_logger("other").info("other info")
    assert _bodies(pipeline, exporter) == [
        "db debug",
        "pool debug",
        "urllib3 warning",
        "other info",
    ]


def test_set_level_changes_existing_bound_and_new_loggers_at_once(pipe) -> None:
    pipeline, exporter = pipe
    log = pipeline.get_logger("shop.api")
    bound = log.bind(request_id="r1")
    log.debug("before")
    fapilog.set_level("shop", "DEBUG")
    log.debug("log after")
    bound.debug("bound after")
    pipeline.get_logger("shop.api.v2").debug("new after")
    bound.bind(more=1).debug("rebound after")
    assert log.is_enabled_for("debug")
    fapilog.set_level("shop", None)  # back to the configured level
    log.debug("reverted")
    assert not log.is_enabled_for("debug")
    assert _bodies(pipeline, exporter) == [
        "log after",
        "bound after",
        "new after",
        "rebound after",
    ]


def test_runtime_level_wins_at_the_same_name_the_longer_prefix_wins_otherwise(pipe) -> None:
    pipeline, exporter = pipe
    fapilog.set_level("shop", "ERROR")  # shop.db keeps its own (longer) DEBUG rule
    fapilog.set_level("urllib3", "DEBUG")  # same name as the setting's rule: wins
    pipeline.get_logger("shop.db").debug("db debug")
    pipeline.get_logger("shop.web").warning("web warning")
    pipeline.get_logger("urllib3").debug("urllib3 debug")
    assert _bodies(pipeline, exporter) == ["db debug", "urllib3 debug"]


def test_the_global_level_set_at_runtime_and_reverted(pipe) -> None:
    pipeline, exporter = pipe
    log = pipeline.get_logger("other")
    fapilog.set_level(None, "ERROR")
    log.warning("dropped")
    pipeline.get_logger("shop.db").debug("own rule still applies")
    fapilog.set_level("*", None)
    log.warning("kept")
    assert _bodies(pipeline, exporter) == ["own rule still applies", "kept"]


def test_get_level_names_the_effective_level_of_the_default_pipeline() -> None:
    fapilog.configure(exporters=[RecordingExporter()], level="WARN", levels={"a.b": "debug"})
    assert fapilog.get_level() == "WARN"
    assert fapilog.get_level("a.b.c") == "DEBUG"
    assert fapilog.get_level("a") == "WARN"
    fapilog.set_level("a", "error")
    assert fapilog.get_level("a.x") == "ERROR"
    assert fapilog.get_level("a.b") == "DEBUG"


def test_a_default_pipeline_replaced_by_configure_gives_its_levels_to_existing_loggers() -> None:
    first, second = RecordingExporter(), RecordingExporter()
    log = fapilog.get_logger("svc.db")
    fapilog.configure(exporters=[first], level="INFO")
    log.debug("not wanted")
    fapilog.configure(exporters=[second], level="INFO", levels={"svc": "DEBUG"})
    log.debug("wanted")
    assert fapilog.flush(5)
    assert first.events == []
    assert [event.body for event in second.events] == ["wanted"]


def test_runtime_levels_apply_before_the_lazy_default_pipeline_exists(monkeypatch) -> None:
    monkeypatch.setenv("FAPILOG_EXPORTERS", "none")
    fapilog.set_level("lazy", "ERROR")
    log = fapilog.get_logger("lazy.x")
    assert not log.is_enabled_for("warning")
    assert fapilog.stats().emitted == 0  # filtered on the caller: nothing was built


def test_fapilog_levels_env_is_parsed_and_checked(monkeypatch) -> None:
    monkeypatch.setenv("FAPILOG_LEVELS", " shop.db=DEBUG , urllib3=warning,")
    assert Settings.load().levels == {"shop.db": "DEBUG", "urllib3": "warning"}
    monkeypatch.setenv("FAPILOG_LEVELS", "shop.db=LOUD")
    with pytest.raises(ConfigError, match="FAPILOG_LEVELS"):
        Settings.load()
    monkeypatch.setenv("FAPILOG_LEVELS", "shop.db")
    with pytest.raises(ConfigError, match="name=LEVEL"):
        Settings.load()


def test_set_level_refuses_what_is_not_a_level() -> None:
    with pytest.raises(ValueError, match="unknown level"):
        fapilog.set_level("x", "LOUD")
    with pytest.raises(TypeError):
        fapilog.set_level(3, "INFO")  # type: ignore[arg-type]
    assert _levels.get_override("x") is None


def test_the_stdlib_handler_follows_per_logger_levels(pipe) -> None:
    pipeline, exporter = pipe
    stdlib_logger = logging.getLogger("levels_test_stdlib")
    capture = capture_stdlib("DEBUG", pipeline=pipeline, logger=stdlib_logger)
    try:
        child = logging.getLogger("levels_test_stdlib.child")
        child.debug("below the global INFO")
        fapilog.set_level("levels_test_stdlib.child", "DEBUG")
        child.debug("per-logger DEBUG")
        fapilog.set_level("levels_test_stdlib", "ERROR")
        stdlib_logger.warning("below the runtime ERROR")
        child.debug("child keeps its longer rule")
    finally:
        capture.uninstall()
    assert _bodies(pipeline, exporter) == ["per-logger DEBUG", "child keeps its longer rule"]


def test_loggers_without_a_rule_keep_the_one_comparison_on_the_global_level(pipe) -> None:
    """The threshold is a plain severity number: no rate-limit flag, no limiter."""
    pipeline, _ = pipe
    log = pipeline.get_logger("plain")
    assert (log._level, log._limit) == (pipeline.intake.level, None)


def test_levels_change_under_concurrent_logging_never_leak_a_disabled_level() -> None:
    """Threads log (and bind) while the level flips: no exception, and no INFO event from
    a call made wholly after set_level("conc", "ERROR") returned and before it was undone."""
    exporter = RecordingExporter()
    pipeline = Pipeline(
        exporters=[exporter], level="INFO", max_queue_size=100_000, overflow="drop_newest"
    )
    log = pipeline.get_logger("conc.worker")
    phase = ["open"]
    stop = threading.Event()
    errors: list[BaseException] = []
    closed_calls: list[str] = []  # ids of calls made wholly inside a closed window

    def work(n: int) -> None:
        i = 0
        try:
            while not stop.is_set():
                before = phase[0]
                call = f"{n}-{i}"
                if i % 2:
                    log.bind(i=i).info("tick", call=call)
                else:
                    log.info("tick", call=call)
                if before.startswith("closed") and phase[0] == before:
                    closed_calls.append(call)
                i += 1
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(100):
            fapilog.set_level("conc", "ERROR")
            phase[0] = f"closed-{round_}"  # published after set_level returned
            log.info("main", call=f"main-{round_}")  # this thread, after it returned
            closed_calls.append(f"main-{round_}")
            for _ in range(20):
                if stop.wait(0):  # let the workers run inside the closed window
                    break
            phase[0] = f"reopening-{round_}"  # before the level opens again
            fapilog.set_level("conc", None)
            phase[0] = f"open-{round_}"
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert pipeline.flush(10)
    pipeline.shutdown(timeout=5)
    assert errors == []
    assert closed_calls  # the windows were exercised
    exported = {e.attributes["call"] for e in exporter.events}
    assert exported  # and the open ones let events through
    assert exported.isdisjoint(closed_calls)
    stats = pipeline.stats()
    assert stats.emitted == stats.exported + stats.dropped_total + stats.in_flight


# -- watch_levels --------------------------------------------------------------------------


def test_watch_levels_applies_the_file_and_follows_its_edits(tmp_path: Path, pipe) -> None:
    pipeline, exporter = pipe
    path = tmp_path / "levels"
    path.write_text("# levels of the shop\nshop.web=DEBUG\nshop.jobs=ERROR, shop.api=debug\n")
    watcher = fapilog.watch_levels(path, interval=0)
    try:
        web, jobs = pipeline.get_logger("shop.web"), pipeline.get_logger("shop.jobs")
        web.debug("web debug")
        jobs.warning("jobs warning dropped")
        path.write_text("shop.jobs=WARN\n")  # shop.web's rule deleted: back to INFO
        os.utime(path, ns=(1, 1))  # a change whatever the clock's resolution
        assert watcher.check()
        assert not watcher.check()  # unchanged: nothing applied
        web.debug("web debug dropped")
        jobs.warning("jobs warning")
        assert watcher.reloads == 2
    finally:
        watcher.stop(keep=False)
    jobs.info("jobs info back to the global level")
    assert _bodies(pipeline, exporter) == [
        "web debug",
        "jobs warning",
        "jobs info back to the global level",
    ]


def test_a_bad_levels_file_changes_nothing_and_a_deleted_one_removes_its_rules(
    tmp_path: Path, capfd
) -> None:
    path = tmp_path / "levels"
    path.write_text("svc=DEBUG\n")
    watcher = fapilog.watch_levels(path, interval=0)
    try:
        assert _levels.get_override("svc") == _levels.parse_level("DEBUG")
        path.write_text("svc=LOUD\n")
        os.utime(path, ns=(2, 2))
        assert not watcher.check()
        assert _levels.get_override("svc") == _levels.parse_level("DEBUG")
        path.unlink()
        assert watcher.check()
        assert _levels.get_override("svc") is None
    finally:
        watcher.stop()
    from fapilog._diagnostics import reporter

    reporter.flush(1)
    assert "not applied" in capfd.readouterr().err


def test_the_watch_thread_applies_a_change_without_a_call(tmp_path: Path) -> None:
    path = tmp_path / "levels"
    watcher = fapilog.watch_levels(path, interval=0.01)
    try:
        assert watcher.reloads == 0  # no file yet
        watcher.reloaded.clear()
        path.write_text("threaded=ERROR\n")
        assert watcher.reloaded.wait(5)
        assert _levels.get_override("threaded") == _levels.parse_level("ERROR")
    finally:
        watcher.stop()
    assert "stopped" in repr(watcher)
