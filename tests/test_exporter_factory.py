"""Exporters and processors by name, with options: one factory per name.

``exporters=`` takes names, ``{name: {options}}``, ``(name, options)`` pairs and
objects; each named exporter is built as ``factory(settings, **options)``. Plugins
come from entry points; here a fake distribution (a ``*.dist-info`` directory with an
``entry_points.txt`` on ``sys.path``) provides them.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

import fapilog
from fapilog import ConfigError, LogEvent, Settings
from fapilog.errors import ConfigTypeError
from fapilog.exporters import _registry as registry
from fapilog.exporters._registry import (
    exporter_by_name,
    resolve_exporters,
    resolve_processors,
)
from fapilog.exporters.console import ConsoleExporter
from fapilog.exporters.file import FileExporter
from fapilog.exporters.memory import InMemoryExporter

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PLUGIN = "fake_fapilog_plugin"
TOKEN = "tok-5f1e2d3c4b5a69788796a5b4"

PLUGIN_SOURCE = '''
from fapilog import ConfigError, Processor
from fapilog.exporters import Exporter, ExportResult


class PlainExporter(Exporter):
    """Built as cls(**options): its signature lists its options."""

    name = "fake_plain"

    def __init__(self, *, url: str = "http://default", token: str = "") -> None:
        self.url = url
        self.token = token
        self.events = []

    def __repr__(self) -> str:
        return f"PlainExporter(url={self.url!r})"

    async def export(self, batch):
        self.events.extend(batch)
        return ExportResult.success()


class SettingsExporter(Exporter):
    """Built as from_settings(settings, **options)."""

    name = "fake_settings"

    def __init__(self, service, options) -> None:
        self.service = service
        self.options = options

    @classmethod
    def from_settings(cls, settings, **options):
        return cls(settings.service_name, options)

    async def export(self, batch):
        return ExportResult.success()


class BrokenExporter(Exporter):
    def __init__(self, *, token: str) -> None:
        raise ValueError(f"could not log in with token {token}\\nretry later")

    async def export(self, batch):
        return ExportResult.success()


class StrictExporter(Exporter):
    def __init__(self, **options) -> None:
        raise ConfigError("invalid fake strict exporter configuration: region= must be eu or us")

    async def export(self, batch):
        return ExportResult.success()


def make_garbage(**options):
    return object()


class TenantProcessor(Processor):
    def __init__(self, tenant: str = "none") -> None:
        self.tenant = tenant

    def on_emit(self, event):
        event.attributes["tenant"] = self.tenant


class UpperProcessor(Processor):
    @classmethod
    def from_settings(cls, settings, **options):
        made = cls()
        made.service = settings.service_name
        made.options = options
        return made

    def on_emit(self, event):
        event.body = str(event.body).upper()
'''

ENTRY_POINTS = f"""
[fapilog.exporters]
fake_plain = {PLUGIN}:PlainExporter
fake_settings = {PLUGIN}:SettingsExporter
fake_broken = {PLUGIN}:BrokenExporter
fake_strict = {PLUGIN}:StrictExporter
fake_garbage = {PLUGIN}:make_garbage
fake_missing = {PLUGIN}_gone:Nothing

[fapilog.processors]
fake_tenant = {PLUGIN}:TenantProcessor
fake_upper = {PLUGIN}:UpperProcessor
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FAPILOG_")):
            monkeypatch.delenv(name)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fake installed distribution with exporter and processor entry points."""
    (tmp_path / f"{PLUGIN}.py").write_text(textwrap.dedent(PLUGIN_SOURCE), encoding="utf-8")
    info = tmp_path / f"{PLUGIN}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PLUGIN}\nVersion: 1.2.3\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop(PLUGIN, None)


def settings(**overrides: Any) -> Settings:
    return Settings.defaults(**overrides)


# -- shapes -----------------------------------------------------------------------------


def test_a_mapping_of_names_to_options_builds_each_exporter_with_its_options(
    tmp_path: Path,
) -> None:
    stream = io.StringIO()
    built = resolve_exporters(
        {
            "console": {"stream": stream, "format": "json"},
            "file": {"path": tmp_path / "app.jsonl", "max_bytes": 4096},
            "memory": None,
        },
        settings(),
    )
    console, file, memory = built
    assert isinstance(console, ConsoleExporter)
    assert console.stream is stream
    assert console.format == "json"
    assert isinstance(file, FileExporter)
    assert file.path == tmp_path / "app.jsonl"
    assert file.max_bytes == 4096
    assert isinstance(memory, InMemoryExporter)


def test_pairs_names_and_objects_mix_in_one_list(tmp_path: Path) -> None:
    mine = InMemoryExporter()
    built = resolve_exporters(
        [("memory", {"name": "audit"}), "console", mine, {"file": {"path": tmp_path / "a.log"}}],
        settings(),
    )
    assert [type(e).__name__ for e in built] == [
        "InMemoryExporter",
        "ConsoleExporter",
        "InMemoryExporter",
        "FileExporter",
    ]
    assert built[0].name == "audit"
    assert built[2] is mine
    # One (name, options) pair on its own is one exporter, not two names.
    (single,) = resolve_exporters(("memory", {"name": "solo"}), settings())
    assert single.name == "solo"


def test_console_options_override_the_console_settings() -> None:
    base = settings(console_format="pretty", console_colors=True, console_stream="stderr")
    (exporter,) = resolve_exporters({"console": {"stream": "stdout", "colors": False}}, base)
    assert isinstance(exporter, ConsoleExporter)
    assert exporter.stream is sys.stdout
    assert exporter.colors is False
    assert exporter.format == "pretty"  # not given: the setting
    (plain,) = resolve_exporters(["console"], base)
    assert plain.colors is True and plain.stream is None  # stderr at each export


def test_a_console_stream_object_receives_the_lines() -> None:
    stream = io.StringIO()
    (exporter,) = resolve_exporters({"console": {"stream": stream, "format": "json"}}, settings())
    event = LogEvent(timestamp=1_700_000_000_000_000_000, body="hello stream")
    asyncio.run(exporter.export([event]))
    assert '"hello stream"' in stream.getvalue()


def test_otlp_options_reach_the_built_exporter() -> None:
    pytest.importorskip("grpc")
    (grpc,) = resolve_exporters(
        {"otlp": {"endpoint": "http://127.0.0.1:4317", "headers": {"x-tenant": TOKEN}}},
        settings(),
    )
    assert grpc.options.endpoint == "http://127.0.0.1:4317"
    assert grpc.options.headers["x-tenant"].get_secret_value() == TOKEN
    assert grpc.options.endpoint_source == "endpoint="
    assert TOKEN not in repr(grpc)
    (http,) = resolve_exporters(
        [("otlp_proto_http", {"endpoint": "http://127.0.0.1:4318/v1/logs", "timeout": 2.5})],
        settings(),
    )
    assert http.options.protocol == "http/protobuf"
    assert http.options.timeout == 2.5


def test_an_sdk_otlp_name_refuses_another_protocol() -> None:
    with pytest.raises(ConfigError, match="'otlp_proto_grpc' exporter sends with protocol 'grpc'"):
        resolve_exporters({"otlp_proto_grpc": {"protocol": "http/protobuf"}}, settings())


def test_none_anywhere_still_means_no_exporters() -> None:
    assert resolve_exporters({"none": None, "memory": {}}, settings()) == []


def test_configure_takes_the_mapping_shape() -> None:
    pipeline = fapilog.configure(
        exporters={"memory": {"name": "by-name"}}, schedule_delay_ms=5, redaction=False
    )
    try:
        (exporter,) = pipeline.exporters
        assert isinstance(exporter, InMemoryExporter)
        assert exporter.name == "by-name"
        pipeline.get_logger("t").info("delivered")
        assert exporter.wait_for(1, timeout=5)
    finally:
        pipeline.shutdown()


# -- mistakes -----------------------------------------------------------------------------


def test_an_unknown_option_names_the_exporter_the_option_and_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_exporters({"console": {"colour": True}}, settings())
    message = str(caught.value)
    assert "'console' exporter" in message
    assert "colour" in message
    assert "known options: format, stream, time, colors, locals" in message
    with pytest.raises(ConfigError, match=r"unknown 'memory' exporter option\(s\) size; known"):
        resolve_exporters({"memory": {"size": 3}}, settings())
    pytest.importorskip("grpc")
    with pytest.raises(ConfigError, match=r"unknown OTLP exporter option\(s\) endpiont"):
        resolve_exporters({"otlp": {"endpiont": "http://x:1"}}, settings())


def test_a_wrong_option_value_names_the_exporter_and_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_exporters({"console": {"format": "xml"}}, settings())
    message = str(caught.value)
    assert message.startswith("invalid options of the 'console' exporter (known options:")
    assert "  - format= option: Input should be 'auto', 'pretty' or 'json' (got 'xml')" in message
    with pytest.raises(ConfigError, match=r"max_bytes= option: Input should be greater than 0"):
        resolve_exporters({"file": {"path": tmp_path / "x.log", "max_bytes": 0}}, settings())
    with pytest.raises(ConfigError, match="stream= must be 'stderr', 'stdout' or a text stream"):
        resolve_exporters({"console": {"stream": 3}}, settings())


def test_a_file_path_given_as_an_option_is_checked_and_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_exporters({"file": {"path": tmp_path}}, settings())
    assert str(caught.value).startswith("path= option: ")
    assert "is a directory" in str(caught.value)


def test_options_that_are_not_a_mapping_are_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="the options of exporter 'memory' must be a mapping"):
        resolve_exporters([("memory", ["name"])], settings())


# -- plugins --------------------------------------------------------------------------------


@pytest.mark.usefixtures("plugins")
def test_an_entry_point_exporter_is_built_from_its_options() -> None:
    (plain,) = resolve_exporters(
        {"fake_plain": {"url": "https://splunk:8088", "token": TOKEN}}, settings()
    )
    assert type(plain).__name__ == "PlainExporter"
    assert plain.url == "https://splunk:8088"
    assert plain.token == TOKEN
    (default,) = resolve_exporters("fake_plain", settings())
    assert default.url == "http://default"


@pytest.mark.usefixtures("plugins")
def test_from_settings_is_preferred_and_receives_the_settings() -> None:
    (built,) = resolve_exporters(
        [("FAKE_SETTINGS", {"region": "eu"})], settings(service_name="shop")
    )
    assert built.service == "shop"
    assert built.options == {"region": "eu"}


@pytest.mark.usefixtures("plugins")
def test_an_option_the_plugin_signature_lacks_is_named_with_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_exporters({"fake_plain": {"tokn": "x"}}, settings())
    assert str(caught.value) == (
        "unknown exporter 'fake_plain' option(s) tokn; known options: url, token"
    )


@pytest.mark.usefixtures("plugins")
def test_a_plugin_that_raises_is_named_with_the_exception_type_never_the_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_exporters({"fake_broken": {"token": TOKEN}}, settings())
    message = str(caught.value)
    assert "exporter 'fake_broken'" in message
    assert f"{PLUGIN}:BrokenExporter from {PLUGIN} 1.2.3" in message
    assert "ValueError" in message
    assert TOKEN not in message
    assert "\n" not in message  # control characters flattened
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.usefixtures("plugins")
def test_a_plugins_own_config_error_passes_through() -> None:
    with pytest.raises(ConfigError, match=r"^invalid fake strict exporter configuration: region="):
        resolve_exporters(["fake_strict"], settings())


@pytest.mark.usefixtures("plugins")
def test_a_plugin_that_builds_garbage_or_does_not_load_is_reported() -> None:
    with pytest.raises(ConfigTypeError, match=r"exporter 'fake_garbage' .* built an object"):
        resolve_exporters(["fake_garbage"], settings())
    with pytest.raises(
        ConfigError, match=r"exporter 'fake_missing': its entry point .* does not load"
    ):
        resolve_exporters(["fake_missing"], settings())


@pytest.mark.usefixtures("plugins")
def test_an_unknown_exporter_name_lists_the_plugins_too() -> None:
    with pytest.raises(ConfigError) as caught:
        exporter_by_name("nope", settings())
    assert "fake_plain" in str(caught.value)
    assert "console" in str(caught.value)


@pytest.mark.usefixtures("plugins")
def test_configure_builds_a_plugin_exporter_and_processor_by_name() -> None:
    pipeline = fapilog.configure(
        exporters={"fake_plain": {"token": TOKEN}},
        processors={"fake_tenant": {"tenant": "acme"}},
        schedule_delay_ms=5,
        redaction=False,
    )
    try:
        (exporter,) = pipeline.exporters
        pipeline.get_logger("t").info("hello")
        assert pipeline.flush(timeout=5)
        (event,) = exporter.events
        assert event.attributes["tenant"] == "acme"
    finally:
        pipeline.shutdown()


# -- processors by name --------------------------------------------------------------------


@pytest.mark.usefixtures("plugins")
def test_processors_by_name_mapping_and_pairs() -> None:
    from fapilog.processors import LevelFilter

    mine = LevelFilter(9)
    built = resolve_processors(
        ["fake_tenant", ("fake_tenant", {"tenant": "acme"}), {"fake_upper": {"x": 1}}, mine],
        settings(service_name="shop"),
    )
    assert [type(p).__name__ for p in built] == [
        "TenantProcessor",
        "TenantProcessor",
        "UpperProcessor",
        "LevelFilter",
    ]
    assert built[0].tenant == "none"
    assert built[1].tenant == "acme"
    assert built[2].service == "shop"
    assert built[2].options == {"x": 1}
    assert built[3] is mine


@pytest.mark.usefixtures("plugins")
def test_an_unknown_processor_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_processors(["sampler"], settings())
    assert str(caught.value) == (
        "unknown processor 'sampler' (from FAPILOG_PROCESSORS or processors=); "
        "known processors: dedup, fake_tenant, fake_upper, sampling"  # core's own, too
    )
    assert caught.value.fields == ("processors",)


def test_with_no_processor_plugin_the_message_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An installation whose fapilog.processors group is empty (core registers its own
    # sampling and dedup there, so only a broken install gets here).
    monkeypatch.setattr(registry, "_entry_points", lambda group: {})
    with pytest.raises(ConfigError, match=r"none installed .* 'fapilog\.processors' entry-point"):
        resolve_processors("sampler", settings())


@pytest.mark.usefixtures("plugins")
def test_fapilog_processors_is_a_comma_separated_list_of_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAPILOG_PROCESSORS", " fake_tenant , fake_upper,")
    loaded = Settings.load()
    assert loaded.processors == ["fake_tenant", "fake_upper"]
    assert loaded.source("processors") == "FAPILOG_PROCESSORS"
    built = resolve_processors(loaded.processors, loaded)
    assert [type(p).__name__ for p in built] == ["TenantProcessor", "UpperProcessor"]
    assert Settings.defaults().processors == []


@pytest.mark.usefixtures("plugins")
def test_fapilog_processors_reaches_the_pipeline_and_processors_replaces_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAPILOG_PROCESSORS", "fake_tenant,fake_upper")
    pipeline = fapilog.configure(exporters={"fake_plain": {}}, schedule_delay_ms=5)
    try:
        pipeline.get_logger("t").info("hello")
        assert pipeline.flush(timeout=5)
        (event,) = pipeline.exporters[0].events
        assert (event.body, event.attributes["tenant"]) == ("HELLO", "none")
    finally:
        pipeline.shutdown()
    # processors= in code replaces the setting's list (as exporters= does).
    pipeline = fapilog.configure(
        exporters={"fake_plain": {}}, processors=["fake_tenant"], schedule_delay_ms=5
    )
    try:
        pipeline.get_logger("t").info("hello")
        assert pipeline.flush(timeout=5)
        (event,) = pipeline.exporters[0].events
        assert (event.body, event.attributes["tenant"]) == ("hello", "none")
    finally:
        pipeline.shutdown()
