"""Issue 20, a lighter import: what ``import fapilog`` and the first log call load.

* ``import fapilog`` and ``get_logger()`` load neither the pipeline, asyncio, the OTel
  SDK nor pydantic; the public names that live there are still there (PEP 562).
* The zero-configuration default pipeline runs on :class:`fapilog._defaults.DefaultSettings`,
  built without pydantic; the tests below fail when those defaults drift from
  ``Settings``'s.
* Whenever there is something to validate (a ``FAPILOG_*`` variable, a mapped ``OTEL_*``
  one, arguments in code), the pydantic model is used, with the same errors as before.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

import fapilog
from fapilog._defaults import DefaultSettings, configured_in_environment, load_settings
from fapilog.config import OTEL_ENV, ConfigError, Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable that configures fapilog (in any case, as pydantic-settings reads them)."""
    for name in list(os.environ):
        if name.upper().startswith(("FAPILOG_", "OTEL_")):
            monkeypatch.delenv(name)
    return monkeypatch


# -- the light defaults are Settings()'s ------------------------------------------------------


def test_every_setting_has_the_same_default_value_and_type(clean_env: pytest.MonkeyPatch) -> None:
    """Fails when a field of Settings is added, removed or changes its default without
    fapilog/_defaults.py following."""
    light = load_settings()
    assert type(light) is DefaultSettings
    full = Settings.load()
    fields = list(Settings.model_fields)
    assert list(vars(light)) == fields, "add the new setting's default to fapilog/_defaults.py"
    for name in fields:
        mine, theirs = getattr(light, name), getattr(full, name)
        assert (type(mine), mine) == (type(theirs), theirs), name
    assert list(DefaultSettings.model_fields) == fields
    assert Settings.defaults().model_dump() == full.model_dump()


def test_the_light_settings_answer_as_the_model_does(clean_env: pytest.MonkeyPatch) -> None:
    light, full = load_settings(), Settings.load()
    assert light.level_number == full.level_number
    assert [light.source(n) for n in Settings.model_fields] == ["default"] * len(
        Settings.model_fields
    )
    # source() reads the environment when asked, as the model's does.
    clean_env.setenv("OTEL_LOGS_EXPORTER", "otlp")
    assert light.source("exporters") == full.source("exporters") == "OTEL_LOGS_EXPORTER"
    # The pydantic API, from the model with the same values.
    assert light.model_dump() == full.model_dump()
    assert light.model_fields_set == full.model_fields_set == set()
    assert repr(light) == repr(full)


def test_the_light_settings_are_read_only_and_share_no_list() -> None:
    one, two = DefaultSettings(), DefaultSettings()
    assert one.exporters == two.exporters == ["console"]
    assert one.exporters is not two.exporters
    assert one.levels is not two.levels
    with pytest.raises(AttributeError, match="read-only"):
        one.level = "DEBUG"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        one.no_such_setting  # type: ignore[attr-defined]  # noqa: B018


# -- what counts as something to validate ------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "configured"),
    [
        (None, False),
        ("FAPILOG_LEVEL", True),
        ("fapilog_level", True),  # pydantic-settings matches the prefix in any case
        ("FAPILOG_Max_Queue_Size", True),
        ("FAPILOG_PURE_PYTHON", False),  # not a setting: the model ignores it too
        *[(name, True) for name in OTEL_ENV],
        ("OTEL_EXPORTER_OTLP_ENDPOINT", False),  # read by the OTLP exporter, not Settings
        ("OTEL_RESOURCE_ATTRIBUTES", False),  # read by the OTel Resource
    ],
)
def test_configured_in_environment(
    clean_env: pytest.MonkeyPatch, variable: str | None, configured: bool
) -> None:
    if variable is not None:
        clean_env.setenv(variable, "")  # even an empty value: Settings reads (or rejects) it
    assert configured_in_environment() is configured


def test_settings_read_no_file_that_the_light_path_would_miss() -> None:
    """Settings reads the environment only: no .env file, no secrets directory."""
    config = Settings.model_config
    assert config.get("env_file") is None
    assert config.get("secrets_dir") is None
    sources = Settings.settings_customise_sources(Settings, *(object(),) * 4)  # type: ignore[arg-type]
    assert len(sources) == 3  # init arguments, FAPILOG_* (env) and the mapped OTEL_*


def test_the_model_ignores_a_variable_that_names_no_setting(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """What the light path skips is what the model does not read."""
    clean_env.setenv("FAPILOG_PURE_PYTHON", "1")
    clean_env.setenv("FAPILOG_NOT_A_SETTING", "no")
    assert Settings.load().model_dump() == Settings.defaults().model_dump()
    assert type(load_settings()) is DefaultSettings


def test_a_lowercase_variable_really_configures(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("fapilog_level", "debug")
    settings = load_settings()
    assert isinstance(settings, Settings)
    assert settings.level == "debug"


def test_a_bad_variable_gives_the_models_error(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FAPILOG_MAX_QUEUE_SIZE", "-1")
    with pytest.raises(ConfigError) as light:
        load_settings()
    with pytest.raises(ConfigError) as full:
        Settings.load()
    assert str(light.value) == str(full.value)
    assert "FAPILOG_MAX_QUEUE_SIZE: Input should be greater than 0 (got '-1')" in str(light.value)


def test_configure_with_nothing_in_code_or_environment_uses_the_defaults(
    clean_env: pytest.MonkeyPatch,
) -> None:
    pipeline = fapilog.configure(exporters=["memory"])
    try:
        assert type(pipeline.settings) is DefaultSettings
    finally:
        pipeline.shutdown()
    pipeline = fapilog.configure(exporters=["memory"], level="debug")
    try:
        assert isinstance(pipeline.settings, Settings)
        assert pipeline.settings.level == "debug"
    finally:
        pipeline.shutdown()


# -- a fresh interpreter -----------------------------------------------------------------------

#: Modules that ``import fapilog`` and ``get_logger()`` leave to the first event.
NOT_ON_IMPORT = (
    "asyncio",
    "fapilog.config",
    "fapilog.exporters",
    "fapilog.pipeline",
    "opentelemetry.sdk",
    "psutil",
    "pydantic",
    "pydantic_settings",
)
#: Modules the first log call with the zero-configuration defaults does not load.
#: The OTel SDK's logs module is for the adapters to SDK processors and exporters only.
NOT_ON_FIRST_CALL = ("fapilog.config", "opentelemetry.sdk._logs", "pydantic", "pydantic_settings")

_PROBE = """
    import json, sys
    watched = {watched!r}
    loaded = lambda: sorted(m for m in watched if m in sys.modules)
    import fapilog
    out = {{"import": loaded()}}
    log = fapilog.get_logger("shop")
    out["get_logger"] = loaded()
    bound = log.bind(order=7)  # bind() snapshots its values: it loads the capture helpers
    out["bind"] = loaded()
    log.info("hi", user="u1")
    out["first_call"] = loaded()
    out["scopes"] = [log._scope.name, bound._scope is log._scope]
    fapilog.flush()
    out["exported"] = fapilog.stats().exported
    out["settings"] = type(fapilog.default_pipeline().settings).__name__
    dir(fapilog)
    out["public"] = all(getattr(fapilog, name) is not None for name in fapilog.__all__)
    # The submodules ``import fapilog`` used to load are still attributes.
    out["submodules"] = [
        fapilog.config.Settings is fapilog.Settings,
        fapilog.stdlib.FapilogHandler is fapilog.FapilogHandler,
        fapilog.pipeline.Pipeline is fapilog.Pipeline,
    ]
    print(json.dumps(out))
"""


def _fresh(code: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter without FAPILOG_*/OTEL_* variables (plus
    ``env``), stderr to /dev/null; its last stdout line, as JSON."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith(("FAPILOG_", "OTEL_"))}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**clean, **(env or {})},
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def fresh() -> dict[str, Any]:
    return _fresh(_PROBE.format(watched=sorted({*NOT_ON_IMPORT, *NOT_ON_FIRST_CALL})))


def test_import_and_get_logger_load_no_pipeline_sdk_asyncio_or_pydantic(
    fresh: dict[str, Any],
) -> None:
    assert fresh["import"] == []
    assert fresh["get_logger"] == []
    # bind() snapshots its values with the capture helpers (which import the OTel SDK),
    # but still builds no pipeline and loads neither asyncio nor pydantic.
    # psutil where it is installed (an optional import of the pipeline's memory plan).
    psutil = ["psutil"] if importlib.util.find_spec("psutil") is not None else []
    assert fresh["bind"] == ["fapilog.pipeline", "opentelemetry.sdk", *psutil]


def test_loggers_made_before_the_sdk_get_their_scope_at_the_first_call(
    fresh: dict[str, Any],
) -> None:
    """The OTel scope (an SDK object) of loggers created before the first capture is
    given then, shared by a logger and its bound copies, as when made at creation."""
    assert fresh["scopes"] == ["shop", True]


def test_the_first_log_call_with_the_defaults_loads_no_pydantic(fresh: dict[str, Any]) -> None:
    assert [m for m in fresh["first_call"] if m in NOT_ON_FIRST_CALL] == []


def test_the_first_log_call_delivers_on_the_light_defaults(fresh: dict[str, Any]) -> None:
    assert fresh["exported"] == 1
    assert fresh["settings"] == "DefaultSettings"
    assert fresh["public"] is True
    assert fresh["submodules"] == [True, True, True]
    # The first event did load what it needs.
    assert {"fapilog.pipeline", "opentelemetry.sdk", "asyncio"} <= set(fresh["first_call"])


def test_a_bad_variable_still_falls_back_with_the_same_line_on_the_first_call() -> None:
    """As before issue 20: the first log call installs the fallback pipeline and one line
    names the variable; configure() raises the model's error."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import fapilog
                fapilog.get_logger().info("x")
                fapilog.flush()
                try:
                    fapilog.configure()
                except fapilog.ConfigError as exc:
                    print("configure:", str(exc).replace("\\n", " | "))
                """
            ),
        ],
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("FAPILOG_", "OTEL_"))},
            "FAPILOG_MAX_QUEUE_SIZE": "-1",
        },
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert (
        "fapilog: invalid logging configuration in the environment (FAPILOG_MAX_QUEUE_SIZE: "
        "Input should be greater than 0 (got '-1')); until it is fixed, events go to the "
        "console on stderr with redaction on"
    ) in proc.stderr
    assert '"body":"x"' in proc.stderr  # delivered by the fallback
    assert proc.stdout.strip() == (
        "configure: invalid fapilog configuration: | "
        "  - FAPILOG_MAX_QUEUE_SIZE: Input should be greater than 0 (got '-1')"
    )


def test_the_pipeline_package_names_are_lazy_too() -> None:
    from fapilog import pipeline

    assert set(pipeline.__all__) <= set(dir(pipeline))
    assert pipeline.Pipeline is fapilog.Pipeline
    with pytest.raises(AttributeError):
        pipeline.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError):
        fapilog.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


def test_the_exporter_and_processor_packages_name_their_adapters_lazily() -> None:
    """``fapilog.exporters`` and ``fapilog.processors`` import their classes on first
    access (the OTel adapters load the SDK's logs module), and each is the real class."""
    from fapilog import exporters, processors
    from fapilog.exporters._otel import OTelExporter
    from fapilog.exporters.file import FileExporter
    from fapilog.processors._otel import FapilogLogRecordProcessor, OTelProcessor

    for package in (exporters, processors, fapilog.pipeline):
        assert set(package.__all__) <= set(dir(package))
        assert all(getattr(package, name) is not None for name in package.__all__)
        # Nothing public beyond __all__ (the lazy-name helpers are imported privately).
        public = {
            name
            for name, value in vars(package).items()
            if not name.startswith("_")
            and not isinstance(value, types.ModuleType)
            and name != "annotations"
        }
        assert public == set(package.__all__), package.__name__
        with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
            package.NoSuchName  # noqa: B018
    assert exporters.OTelExporter is OTelExporter
    assert exporters.FileExporter is FileExporter
    assert processors.OTelProcessor is OTelProcessor
    assert processors.FapilogLogRecordProcessor is FapilogLogRecordProcessor


def test_a_pipeline_of_fapilog_exporters_does_not_load_the_sdk_logs_module() -> None:
    """The SDK's logs module is loaded by the adapters only: configuring a file exporter
    (and a processor) leaves it out; an OTel SDK exporter brings it in."""
    out = _fresh(
        """
        import json, sys, tempfile
        import fapilog
        from fapilog.exporters import FileExporter
        from fapilog.processors import LevelFilter
        path = tempfile.mktemp()
        fapilog.configure(exporters=[FileExporter(path)], processors=[LevelFilter("info")])
        fapilog.get_logger().info("x", user="u1")
        fapilog.flush()
        before = "opentelemetry.sdk._logs" in sys.modules
        from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter
        fapilog.configure(exporters=[ConsoleLogRecordExporter(out=open("/dev/null", "w"))])
        print(json.dumps([before, list(fapilog.stats().exporters), open(path).read().count("\\n")]))
        """
    )
    assert out == [False, ["otel:ConsoleLogRecordExporter"], 1]
