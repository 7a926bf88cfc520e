"""OTLPExporterOptions: kwargs over OTEL_EXPORTER_OTLP_* env, per the OTel spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from fapilog.config import ConfigError
from fapilog.exporters.otlp import OTLPExporterOptions

TOKEN = "s3cr3t-t0ken-value-123"


def load(env: dict[str, str] | None = None, **kwargs: object) -> OTLPExporterOptions:
    return OTLPExporterOptions.from_env(environ=env or {}, **kwargs)


class TestDefaults:
    def test_defaults_follow_the_spec_with_grpc_as_protocol(self) -> None:
        """gRPC to localhost:4317, no headers, no compression, 10 s, 4 MiB requests."""
        options = load()
        assert options.protocol == "grpc"
        assert options.endpoint == "http://localhost:4317"
        assert options.headers == {}
        assert options.compression == "none"
        assert options.timeout == 10.0
        assert options.insecure is False
        assert options.max_request_bytes == 4 * 1024 * 1024

    def test_http_default_endpoint_includes_the_logs_path(self) -> None:
        """The HTTP default is the full URL http://localhost:4318/v1/logs."""
        assert load(protocol="http/protobuf").endpoint == "http://localhost:4318/v1/logs"

    def test_direct_construction_ignores_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """OTLPExporterOptions(...) is explicit; only from_env reads variables."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://elsewhere:4317")
        assert OTLPExporterOptions().endpoint == "http://localhost:4317"
        assert OTLPExporterOptions.from_env().endpoint == "http://elsewhere:4317"

    def test_options_are_frozen(self) -> None:
        """Options cannot change after validation."""
        with pytest.raises(ValidationError):
            load().timeout = 1.0


class TestPrecedence:
    def test_logs_variable_beats_generic_variable(self) -> None:
        """OTEL_EXPORTER_OTLP_LOGS_X wins over OTEL_EXPORTER_OTLP_X for every option."""
        env = {
            "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "b=2",
        }
        options = load(env)
        assert options.compression == "gzip"
        assert options.timeout == 2.5
        assert {k: v.get_secret_value() for k, v in options.headers.items()} == {"b": "2"}

    def test_keyword_arguments_beat_the_environment(self) -> None:
        """A keyword argument wins over both variables."""
        env = {
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://env:1",
        }
        options = load(env, timeout=3.0, endpoint="http://kw:2")
        assert options.timeout == 3.0
        assert options.endpoint == "http://kw:2"

    def test_empty_variables_count_as_unset(self) -> None:
        """An empty logs variable falls through to the generic one."""
        env = {"OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
        assert load(env).compression == "gzip"

    def test_unknown_keyword_is_rejected_with_the_known_names(self) -> None:
        """A typo in a keyword argument is an error listing the options."""
        with pytest.raises(
            ConfigError, match=r"unknown OTLP exporter option.*endpont.*known options"
        ):
            load(endpont="http://x:1")


class TestEndpoint:
    def test_generic_endpoint_gets_the_logs_path_for_http(self) -> None:
        """For http/protobuf, OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: /v1/logs is appended."""
        env = {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318",
        }
        assert load(env).endpoint == "https://c:4318/v1/logs"
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "https://c:4318/base/"
        assert load(env).endpoint == "https://c:4318/base/v1/logs"

    def test_logs_endpoint_is_used_as_is(self) -> None:
        """OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is the full URL, nothing appended."""
        env = {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://c/custom",
        }
        assert load(env).endpoint == "https://c/custom"

    def test_generic_endpoint_is_used_as_is_for_grpc(self) -> None:
        """gRPC has no per-signal path."""
        assert load({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317"}).endpoint == "https://c:4317"

    def test_keyword_endpoint_is_used_as_is(self) -> None:
        """endpoint= is the full URL for HTTP."""
        assert load(protocol="http/protobuf", endpoint="http://c:1/x").endpoint == "http://c:1/x"

    @pytest.mark.parametrize(
        ("endpoint", "insecure", "tls", "target"),
        [
            ("https://c:4317", False, True, "c:4317"),
            ("https://c:4317", True, True, "c:4317"),
            ("http://c:4317", False, False, "c:4317"),
            ("c:4317", False, True, "c:4317"),
            ("c:4317", True, False, "c:4317"),
            ("https://user:pw@c", False, True, "c"),
        ],
    )
    def test_grpc_tls_follows_the_scheme_then_insecure(
        self, endpoint: str, insecure: bool, tls: bool, target: str
    ) -> None:
        """https → TLS, http → plain, no scheme → TLS unless insecure (OTEL_EXPORTER_OTLP_INSECURE)."""
        options = load(endpoint=endpoint, insecure=insecure)
        assert options.tls is tls
        assert options.grpc_target == target

    def test_insecure_is_read_from_env(self) -> None:
        """OTEL_EXPORTER_OTLP_INSECURE=true (any case) turns TLS off for a scheme-less endpoint."""
        options = load({"OTEL_EXPORTER_OTLP_LOGS_INSECURE": "TRUE"}, endpoint="c:4317")
        assert options.tls is False

    @pytest.mark.parametrize(
        "endpoint", ["ftp://c:1", "http://", "c:4317/v1/logs", "http://c:port"]
    )
    def test_bad_endpoints_are_rejected(self, endpoint: str) -> None:
        """Only http(s) URLs with a host, or host:port for gRPC, are endpoints."""
        with pytest.raises(ConfigError, match="endpoint= argument"):
            load(endpoint=endpoint)

    def test_http_endpoint_needs_a_scheme(self) -> None:
        """http/protobuf needs a URL, named in the error with its variable."""
        env = {
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "c:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
        with pytest.raises(
            ConfigError, match="OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: the endpoint needs an http"
        ):
            load(env)


class TestValues:
    def test_protocol_http_json_is_rejected_naming_the_variable(self) -> None:
        """http/json is refused with the variable and the supported values."""
        with pytest.raises(ConfigError) as info:
            load({"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/json"})
        message = str(info.value)
        assert "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL" in message
        assert "http/json is not supported" in message
        assert "grpc or http/protobuf" in message

    def test_unknown_protocol_is_rejected(self) -> None:
        """Anything but grpc and http/protobuf is an error naming the fix."""
        with pytest.raises(
            ConfigError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL.*use grpc or http/protobuf"
        ):
            load({"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"})

    def test_protocol_and_compression_are_case_insensitive(self) -> None:
        """Values are matched ignoring case, as other OTel SDKs do."""
        options = load(
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "HTTP/Protobuf",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "GZIP",
            }
        )
        assert (options.protocol, options.compression) == ("http/protobuf", "gzip")

    def test_bad_compression_is_rejected(self) -> None:
        """Only gzip and none are supported."""
        with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_COMPRESSION.*use gzip or none"):
            load({"OTEL_EXPORTER_OTLP_COMPRESSION": "brotli"})

    def test_timeout_env_is_milliseconds(self) -> None:
        """OTEL_EXPORTER_OTLP_TIMEOUT is in ms; the option is seconds."""
        assert load({"OTEL_EXPORTER_OTLP_TIMEOUT": "250"}).timeout == 0.25

    @pytest.mark.parametrize("raw", ["-1", "0", "ten", "nan"])
    def test_bad_timeouts_are_rejected(self, raw: str) -> None:
        """A timeout must be a positive number of milliseconds."""
        with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_TIMEOUT.*milliseconds"):
            load({"OTEL_EXPORTER_OTLP_TIMEOUT": raw})

    def test_bad_timeout_argument_names_the_argument(self) -> None:
        """timeout= is validated too, and the error says which input was wrong."""
        with pytest.raises(ConfigError, match="timeout= argument: Input should be greater than 0"):
            load(timeout=0)

    def test_bad_insecure_is_rejected(self) -> None:
        """INSECURE takes true or false."""
        with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_INSECURE.*true.*false"):
            load({"OTEL_EXPORTER_OTLP_INSECURE": "yes"})

    def test_max_request_bytes_from_env(self) -> None:
        """FAPILOG_OTLP_MAX_REQUEST_BYTES sets the split limit; nonsense is rejected."""
        assert load({"FAPILOG_OTLP_MAX_REQUEST_BYTES": "65536"}).max_request_bytes == 65536
        with pytest.raises(ConfigError, match="FAPILOG_OTLP_MAX_REQUEST_BYTES"):
            load({"FAPILOG_OTLP_MAX_REQUEST_BYTES": "lots"})
        with pytest.raises(
            ConfigError, match="FAPILOG_OTLP_MAX_REQUEST_BYTES: Input should be greater"
        ):
            load({"FAPILOG_OTLP_MAX_REQUEST_BYTES": "10"})


class TestTlsFiles:
    def test_missing_certificate_file_is_rejected(self, tmp_path: Path) -> None:
        """A CA path that does not exist is an error naming the variable."""
        with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_CERTIFICATE.*does not exist"):
            load({"OTEL_EXPORTER_OTLP_CERTIFICATE": str(tmp_path / "nope.pem")})

    def test_client_key_and_certificate_go_together(self, tmp_path: Path) -> None:
        """Mutual TLS needs both the key and the certificate."""
        key = tmp_path / "client.key"
        key.write_text("key")
        with pytest.raises(ConfigError, match="must be set together"):
            load({"OTEL_EXPORTER_OTLP_CLIENT_KEY": str(key)})

    def test_tls_files_are_read_from_env(self, tmp_path: Path) -> None:
        """CERTIFICATE, CLIENT_KEY and CLIENT_CERTIFICATE become paths."""
        for name in ("ca.pem", "c.key", "c.pem"):
            (tmp_path / name).write_text("x")
        options = load(
            {
                "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE": str(tmp_path / "ca.pem"),
                "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(tmp_path / "c.key"),
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(tmp_path / "c.pem"),
            }
        )
        assert options.certificate_file == tmp_path / "ca.pem"
        assert options.client_key_file == tmp_path / "c.key"
        assert options.client_certificate_file == tmp_path / "c.pem"


class TestHeaders:
    def test_headers_are_url_decoded_and_lower_cased(self) -> None:
        """W3C-baggage format: k=v pairs, comma separated, percent-decoded, names lower-cased."""
        env = {
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc, X-Tenant = acme ,x-eq=a%3Db%2Cc"
        }
        headers = {k: v.get_secret_value() for k, v in load(env).headers.items()}
        assert headers == {"authorization": "Bearer abc", "x-tenant": "acme", "x-eq": "a=b,c"}

    def test_header_values_are_secret(self) -> None:
        """Values are SecretStr, whatever form they were given in."""
        options = load(headers={"a": "x", "b": SecretStr("y")})
        assert all(isinstance(value, SecretStr) for value in options.headers.values())

    def test_headers_keyword_accepts_the_env_format(self) -> None:
        """headers= may also be a 'k=v,k2=v2' string."""
        assert set(load(headers="a=1,b=2").headers) == {"a", "b"}

    @pytest.mark.parametrize("raw", [TOKEN, f"=v{TOKEN}", f"bad key={TOKEN}"])
    def test_malformed_headers_are_rejected_without_echoing_them(self, raw: str) -> None:
        """The error gives the entry's position and the format, never the entry's text."""
        with pytest.raises(ConfigError) as info:
            load({"OTEL_EXPORTER_OTLP_HEADERS": f"ok=1,{raw}"})
        assert "OTEL_EXPORTER_OTLP_HEADERS: entry 2" in str(info.value)
        assert TOKEN not in str(info.value)

    def test_control_characters_in_values_are_rejected_without_echoing(self) -> None:
        """A decoded newline (header injection) is refused; the value is not shown."""
        with pytest.raises(ConfigError) as info:
            load({"OTEL_EXPORTER_OTLP_HEADERS": f"a={TOKEN}%0Ax-evil=1"})
        assert "control character" in str(info.value)
        assert TOKEN not in str(info.value)

    def test_token_never_appears_in_repr_or_str(self) -> None:
        """repr() and str() of the options mask header values."""
        options = load({"OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{TOKEN}"})
        assert TOKEN not in repr(options)
        assert TOKEN not in str(options)
        assert "authorization" in repr(options)

    def test_token_never_appears_in_validation_errors(self) -> None:
        """Even pydantic's own errors (direct construction) hide the input."""
        with pytest.raises(ValidationError) as info:
            OTLPExporterOptions(headers={"a": TOKEN}, timeout=-1)
        assert TOKEN not in str(info.value)

    def test_endpoint_password_is_masked_in_repr(self) -> None:
        """A password in the endpoint URL is shown as ***."""
        options = load(endpoint=f"https://user:{TOKEN}@c:4317")
        assert TOKEN not in repr(options)
        assert options.display_endpoint == "https://user:***@c:4317"


class TestRedact:
    def test_redact_masks_header_values_and_their_tokens(self) -> None:
        """Whole values and long words of values (the token of 'Bearer <token>') are masked."""
        options = load(headers={"authorization": f"Bearer {TOKEN}"})
        assert options.redact(f"bad credentials Bearer {TOKEN}") == "bad credentials ***"
        assert options.redact(f"token {TOKEN} expired") == "token *** expired"

    def test_redact_flattens_control_characters_and_truncates(self) -> None:
        """Server text cannot inject lines and is kept short."""
        options = load()
        assert options.redact("a\nb\x1b[31m") == "a b [31m"
        assert len(options.redact("x" * 10_000)) == 300


def test_public_names_are_exactly_all() -> None:
    """fapilog.exporters.otlp exports its four public names and nothing else."""
    import fapilog.exporters.otlp as otlp

    public = {n for n in vars(otlp) if n.isidentifier() and not n.startswith("_")}
    public -= {"annotations", "Any"}
    assert sorted(otlp.__all__) == otlp.__all__
    assert set(otlp.__all__) == public
