"""The ``fapilog`` command: ``--version``, ``version`` and ``config``.

``config`` must say where every value came from (default, the variable that set it, or
the keyword argument given in code by the module named with ``--app``) and never print
a secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fapilog
from fapilog.__main__ import main

SECRET = "s3cret-t0ken-42"


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FAPILOG_", "OTEL_"))}


@pytest.fixture(autouse=True)
def _no_fapilog_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("FAPILOG_", "OTEL_")):
            monkeypatch.delenv(name)


def _cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fapilog", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**_clean_environ(), **env},
    )


def _config_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["config", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def _write_app(directory: Path, name: str, body: str) -> str:
    (directory / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return name


# -- version ---------------------------------------------------------------------------


def test_dash_dash_version_prints_name_and_version_as_a_subprocess() -> None:
    done = _cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"fapilog {fapilog.__version__}"


def test_version_subcommand_still_prints_the_bare_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == fapilog.__version__


# -- config: sources -------------------------------------------------------------------


def test_config_subprocess_names_env_and_code_sources(tmp_path: Path) -> None:
    """One value from the environment, one from configure() in code, one default; the
    code wins over a variable that sets the same setting, as at run time."""
    app = _write_app(
        tmp_path,
        "cli_app_env_code",
        """
        import fapilog

        pipeline = fapilog.configure(level="debug", exporters="memory")
        """,
    )
    done = _cli(
        "config",
        "--app",
        f"{app}:pipeline",
        cwd=tmp_path,
        OTEL_SERVICE_NAME="checkout",
        FAPILOG_LEVEL="error",
    )
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line}
    assert rows["level"] == ["debug", "code", "level=", "(overrides", "FAPILOG_LEVEL)"]
    assert rows["service_name"] == ["checkout", "env", "OTEL_SERVICE_NAME"]
    assert rows["overflow"] == ["block", "default"]
    assert rows["exporters"] == ["memory", "code", "exporters="]


def test_config_json_gives_source_and_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAPILOG_MAX_QUEUE_SIZE", "1000")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    data = _config_json(capsys)
    settings = data["settings"]
    assert isinstance(settings, dict)
    assert settings["max_queue_size"] == {
        "value": 1000,
        "source": "env",
        "origin": "FAPILOG_MAX_QUEUE_SIZE",
    }
    assert settings["schedule_delay_ms"] == {
        "value": 50,
        "source": "env",
        "origin": "OTEL_BLRP_SCHEDULE_DELAY",
    }
    assert settings["level"] == {"value": "INFO", "source": "default"}
    assert data["app"] is None and data["error"] is None
    assert data["exporters"] == [{"name": "console", "source": "default"}]


def test_fapilog_variable_wins_over_otel_and_is_the_one_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
    monkeypatch.setenv("FAPILOG_EXPORTERS", "memory")
    data = _config_json(capsys)
    assert data["exporters"] == [{"name": "memory", "source": "env", "origin": "FAPILOG_EXPORTERS"}]


def test_app_module_without_attr_uses_what_import_configured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = _write_app(
        tmp_path,
        "cli_app_import_only",
        """
        import fapilog

        fapilog.configure(service_name="shop", exporters=["memory"], schedule_delay_ms=5)
        app = object()  # e.g. an ASGI app: not called, not a configuration
        """,
    )
    for spec in (app, f"{app}:app"):
        sys.modules.pop(app, None)  # imported afresh, as by a new `fapilog` process
        data = _config_json(capsys, "--app", spec)
        settings = data["settings"]
        assert isinstance(settings, dict)
        assert settings["service_name"] == {
            "value": "shop",
            "source": "code",
            "origin": "service_name=",
        }
        assert settings["schedule_delay_ms"]["source"] == "code"
        assert data["app"] == spec


def test_app_function_and_settings_attributes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FAPILOG_OVERFLOW", "drop_oldest")
    app = _write_app(
        tmp_path,
        "cli_app_factories",
        """
        import fapilog

        SETTINGS = fapilog.Settings.load(level="warn")

        def setup_logging():
            fapilog.configure(level="error", exporters="memory")
        """,
    )
    data = _config_json(capsys, "--app", f"{app}:SETTINGS")
    settings = data["settings"]
    assert isinstance(settings, dict)
    assert settings["level"] == {"value": "warn", "source": "code", "origin": "level="}
    assert settings["overflow"]["origin"] == "FAPILOG_OVERFLOW"
    data = _config_json(capsys, "--app", f"{app}:setup_logging")
    settings = data["settings"]
    assert isinstance(settings, dict)
    assert settings["level"] == {"value": "error", "source": "code", "origin": "level="}


def test_app_that_configures_nothing_shows_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FAPILOG_LEVEL", "debug")
    app = _write_app(tmp_path, "cli_app_nothing", "X = 1\n")
    assert main(["config", "--app", app]) == 0
    out = capsys.readouterr().out
    assert "configures nothing in code" in out
    assert "env FAPILOG_LEVEL" in out


def test_bad_app_exits_2_and_says_what_to_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["config", "--app", "no_such_module_here"]) == 2
    assert "PYTHONPATH" in capsys.readouterr().err
    app = _write_app(tmp_path, "cli_app_attrs", "X = 1\n")
    assert main(["config", "--app", f"{app}:missing"]) == 2
    assert "missing" in capsys.readouterr().err
    crashing = _write_app(tmp_path, "cli_app_crash", f"raise RuntimeError('db://u:{SECRET}@h')\n")
    assert main(["config", "--app", crashing]) == 2
    err = capsys.readouterr().err
    assert "RuntimeError" in err and "cli_app_crash.py:1" in err
    assert SECRET not in err  # an application's error message may quote a credential
    invalid = _write_app(
        tmp_path, "cli_app_invalid", "import fapilog\nfapilog.configure(level='LOUD')\n"
    )
    assert main(["config", "--app", invalid]) == 2
    assert "unknown level 'LOUD'" in capsys.readouterr().err


def test_invalid_environment_exits_1_naming_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAPILOG_LEVEL", "LOUD")
    assert main(["config"]) == 1
    assert "FAPILOG_LEVEL: unknown level 'LOUD'" in capsys.readouterr().err


# -- config: OTLP options --------------------------------------------------------------


def test_otlp_options_from_env_with_their_variables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2500")
    monkeypatch.setenv("FAPILOG_OTLP_MAX_CONCURRENT_EXPORTS", "2")
    data = _config_json(capsys)
    exporters = data["exporters"]
    assert isinstance(exporters, list)
    (otlp,) = exporters
    options = otlp["otlp"]
    assert options["endpoint"] == {
        "value": "http://logs:4317",
        "source": "env",
        "origin": "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    }
    assert options["compression"]["origin"] == "OTEL_EXPORTER_OTLP_COMPRESSION"
    assert options["timeout"] == {
        "value": 2.5,
        "source": "env",
        "origin": "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    }
    assert options["max_concurrent_exports"]["origin"] == "FAPILOG_OTLP_MAX_CONCURRENT_EXPORTS"
    assert options["protocol"] == {"value": "grpc", "source": "default"}
    assert options["insecure"] == {"value": False, "source": "default"}


def test_sdk_exporter_name_implies_the_protocol(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp_proto_http")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    data = _config_json(capsys)
    exporters = data["exporters"]
    assert isinstance(exporters, list)
    options = exporters[0]["otlp"]
    assert options["protocol"]["value"] == "http/protobuf"
    assert options["protocol"]["origin"] == "OTEL_LOGS_EXPORTER (otlp_proto_http)"
    assert options["endpoint"]["value"] == "http://collector:4318/v1/logs"


def test_otlp_exporter_object_in_code_has_code_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
    app = _write_app(
        tmp_path,
        "cli_app_otlp_object",
        f"""
        import fapilog
        from fapilog.exporters.otlp import OTLPExporter

        pipeline = fapilog.configure(
            exporters=[OTLPExporter(endpoint="http://127.0.0.1:9", timeout=3.0,
                                    headers={{"authorization": "Bearer {SECRET}"}})],
        )
        """,
    )
    data = _config_json(capsys, "--app", f"{app}:pipeline")
    exporters = data["exporters"]
    assert isinstance(exporters, list)
    (otlp,) = exporters
    assert otlp["source"] == "code" and otlp["origin"] == "exporters="
    options = otlp["otlp"]
    assert options["endpoint"]["source"] == "code"
    assert options["timeout"] == {
        "value": 3.0,
        "source": "code",
        "origin": "timeout=",
        "overrides": "OTEL_EXPORTER_OTLP_TIMEOUT",
    }
    assert options["headers"] == {
        "value": {"authorization": "***"},
        "source": "code",
        "origin": "headers=",
    }
    assert options["compression"]["origin"] == "OTEL_EXPORTER_OTLP_COMPRESSION"
    assert SECRET not in json.dumps(data)


def test_secrets_are_masked_in_text_and_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"https://user:{SECRET}@collector:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{SECRET}")
    monkeypatch.setenv("FAPILOG_REDACTION_HMAC_KEY", SECRET)
    monkeypatch.setenv("FAPILOG_SPLUNK_TOKEN", SECRET)
    monkeypatch.setenv("FAPILOG_ELASTICSEARCH_URL", f"https://elastic:{SECRET}@es:9200")
    monkeypatch.setenv("FAPILOG_SYSLOG_HOST", "siem.example")
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    data = _config_json(capsys)
    for out in (text, json.dumps(data)):
        assert SECRET not in out
    assert "https://user:***@collector:4317" in text
    assert "authorization=***" in text
    other = data["other_variables"]
    assert other == {
        "FAPILOG_ELASTICSEARCH_URL": "https://elastic:***@es:9200",
        "FAPILOG_SPLUNK_TOKEN": "***",
        "FAPILOG_SYSLOG_HOST": "siem.example",
    }
    settings = data["settings"]
    assert isinstance(settings, dict)
    assert settings["redaction_hmac_key"]["value"] == "***"


def test_otlp_variables_without_an_otlp_exporter_are_listed_as_unused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"x-token={SECRET}")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "no OTLP exporter is configured (not used)" in out
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in out and SECRET not in out
