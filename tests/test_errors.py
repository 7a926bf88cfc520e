"""fapilog.errors (a leaf module) and the one ValidationError explainer (_validation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_core import PydanticCustomError

import fapilog
import fapilog.config
import fapilog.errors
from fapilog._validation import check_known, explain

SRC = Path(__file__).resolve().parents[1] / "src" / "fapilog"


def test_config_errors_are_the_same_objects_everywhere() -> None:
    assert fapilog.ConfigError is fapilog.config.ConfigError is fapilog.errors.ConfigError
    assert fapilog.config.ConfigTypeError is fapilog.errors.ConfigTypeError
    error = fapilog.errors.ConfigTypeError("exporters=: nope", fields=["exporters"])
    assert isinstance(error, fapilog.ConfigError)
    assert isinstance(error, TypeError)
    assert isinstance(error, ValueError)
    assert error.fields == ("exporters",)


def test_errors_and_validation_load_without_any_other_fapilog_module() -> None:
    """Executed from their files alone, in a fresh interpreter: no fapilog module is
    imported (the package's __init__ would import everything, so it is not used)."""
    script = f"""
import importlib.util, sys
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
errors = load("fapilog.errors", {str(SRC / "errors.py")!r})
load("fapilog._validation", {str(SRC / "_validation.py")!r})
extra = sorted(m for m in sys.modules if m.split(".")[0] == "fapilog")
assert extra == ["fapilog._validation", "fapilog.errors"], extra
assert issubclass(errors.ConfigTypeError, TypeError)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


class _Options(BaseModel):
    model_config = {"extra": "forbid"}

    host: str
    port: int = Field(default=1, gt=0)
    token: SecretStr | None = None
    low: int = 0
    high: int = 10

    @model_validator(mode="after")
    def _ordered(self) -> _Options:
        if self.low > self.high:
            raise PydanticCustomError(
                "out_of_order", "low {low} > high {high}", {"low": self.low, "high": self.high}
            )
        return self


def _explain(data: dict[str, Any], **kwargs: Any) -> tuple[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        _Options(**data)
    options: dict[str, Any] = {
        "fields": _Options.model_fields,
        "source": lambda name: f"{name}= argument",
        "show_input": lambda name: name != "token",
    }
    options.update(kwargs)
    return explain("invalid test options:", caught.value, **options)


def test_explain_names_each_field_its_source_input_and_hint() -> None:
    message, fields = _explain({"host": "h", "port": 0, "token": 5}, hints={"port": "; e.g. 4317"})
    lines = message.splitlines()
    assert lines[0] == "invalid test options:"
    assert "  - port= argument: Input should be greater than 0 (got 0); e.g. 4317" in lines
    assert fields == ["port", "token"]


def test_explain_never_echoes_a_field_whose_input_may_be_secret() -> None:
    message, _ = _explain({"host": "h", "token": ["hunter2-secret"]})
    assert "token= argument" in message
    assert "hunter2" not in message


def test_explain_a_missing_required_field_names_its_variable_or_argument() -> None:
    with_env, _ = _explain({}, env_variable=lambda name: f"APP_{name.upper()}")
    assert "  - APP_HOST is not set: set APP_HOST or pass host= (it is required)" in with_env
    without, fields = _explain({})
    assert "  - host= is required (it has no default)" in without
    assert fields == ["host"]


def test_explain_unknown_names_list_the_known_ones() -> None:
    message, fields = _explain({"host": "h", "colour": 1}, noun="setting")
    assert "  - 'colour' is not a setting; known settings: high, host, low, port, token" in message
    assert fields == []


def test_explain_special_errors_use_their_formatter_and_blame_their_fields() -> None:
    def ordered(ctx: Any) -> tuple[str, list[str]]:
        return f"low ({ctx['low']}) must not exceed high ({ctx['high']})", ["low", "high"]

    message, fields = _explain(
        {"host": "h", "low": 5, "high": 1}, special={"out_of_order": ordered}
    )
    assert "  - low (5) must not exceed high (1)" in message
    assert fields == ["low", "high"]
    plain, _ = _explain({"host": "h", "low": 5, "high": 1})
    assert "  - low 5 > high 1" in plain  # a model-level error without a formatter


def test_check_known_lists_the_known_options_in_their_order() -> None:
    check_known({"a"}, ["b", "a"], what="test exporter")
    with pytest.raises(fapilog.ConfigError) as caught:
        check_known({"z", "x", "a"}, ["b", "a"], what="test exporter")
    assert str(caught.value) == "unknown test exporter option(s) x, z; known options: b, a"
