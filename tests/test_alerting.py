"""Alerting: rules over the event stream, notifications to a real loopback receiver.

A threaded HTTP server on 127.0.0.1 plays the webhook receiver. Windows and rate limits
run on an injected clock, so a "60 s window" passes in no time; the receiver is waited
for through a condition variable and the exporter's ``wait_idle()``, never by sleeping.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import fapilog
from fapilog.alerting import (
    SCHEMA,
    AlertExporter,
    AlertRule,
    SlackNotifier,
    WebhookNotifier,
    load_rules,
)
from fapilog.exporters import InMemoryExporter
from fapilog.plugin import ConfigError, RetryPolicy
from fapilog.testing.conformance import Backend, ExporterConformance
from fapilog.testing.conformance._checks import spy_diagnostics

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from fapilog.plugin import ExportResult, LogEvent

TOKEN = "T0KEN-9f8e7d6c5b4a3210"
FAST_RETRY = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_attempts=2)


# -- the receiver ---------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on loopback: stores JSON bodies, can answer slowly or with errors."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.statuses: deque[int] = deque()
        self.delay = 0.0
        self.release = threading.Event()
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if receiver.delay:
                    receiver.release.wait(receiver.delay)
                with receiver.cond:
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                    if status == 200:
                        receiver.bodies.append(json.loads(raw))
                        receiver.paths.append(self.path)
                        receiver.cond.notify_all()
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{TOKEN}"

    def wait_for(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.bodies) >= n, timeout)
            return list(self.bodies)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/{TOKEN}"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pipeline_with(
    alerts: AlertExporter, **settings: Any
) -> tuple[fapilog.Pipeline, InMemoryExporter]:
    memory = InMemoryExporter()
    values: dict[str, Any] = {"schedule_delay_ms": 5, "level": "DEBUG", "service_name": "shop"}
    values.update(settings)
    return fapilog.Pipeline(exporters=[memory, alerts], **values), memory


def settle(pipeline: fapilog.Pipeline, alerts: AlertExporter) -> None:
    """Every logged event evaluated, every notification delivered or given up."""
    assert pipeline.flush(timeout=5)
    assert alerts.wait_idle(timeout=5)


# -- rules, de-duplication, resolution ----------------------------------------------------------


def test_threshold_crossing_fires_once_deduplicates_and_resolves(receiver: Receiver) -> None:
    clock = Clock()
    rule = AlertRule("errors", threshold=10, window=60, level="ERROR", group_by=["service.name"])
    alerts = AlertExporter([rule], [WebhookNotifier(receiver.url)], clock=clock)
    pipeline, memory = pipeline_with(alerts)
    log = pipeline.get_logger("shop.api")
    try:
        for i in range(9):
            log.error("payment failed", attempt=i)
            log.warning("slow")  # below the rule's level: not counted
        settle(pipeline, alerts)
        assert receiver.bodies == []

        log.error("payment failed", attempt=9)  # the 10th within 60 s
        settle(pipeline, alerts)
        assert len(receiver.bodies) == 1
        firing = receiver.bodies[0]
        assert firing["status"] == "firing"
        assert firing["rule"] == "errors"
        assert firing["group"] == {"service.name": "shop"}  # from the resource
        assert firing["value"] == 10
        assert firing["sample"]["body"] == "payment failed"
        assert firing["sample"]["attributes"]["attempt"] == 9
        assert firing["resource"]["service.name"] == "shop"

        for _ in range(25):  # still firing: de-duplicated
            log.error("payment failed")
        settle(pipeline, alerts)
        assert len(receiver.bodies) == 1

        clock.t += 61  # the window empties
        alerts.evaluate_now()
        settle(pipeline, alerts)
        assert [b["status"] for b in receiver.bodies] == ["firing", "resolved"]
        resolved = receiver.bodies[1]
        assert resolved["id"] == firing["id"]
        assert resolved["matched"] == 35
        assert resolved["ended_at"] is not None

        for _ in range(10):  # a new burst fires again
            log.error("payment failed")
        settle(pipeline, alerts)
        assert [b["status"] for b in receiver.bodies] == ["firing", "resolved", "firing"]
        assert alerts.counts()["sent"] == 3
    finally:
        assert pipeline.shutdown(timeout=5)
    assert len(memory.events) == 9 * 2 + 1 + 25 + 10


def test_records_spread_wider_than_the_window_never_fire(receiver: Receiver) -> None:
    clock = Clock()
    rule = AlertRule("errors", threshold=3, window=10, level="ERROR")
    alerts = AlertExporter([rule], [WebhookNotifier(receiver.url)], clock=clock)
    pipeline, _ = pipeline_with(alerts)
    log = pipeline.get_logger("x")
    try:
        for _ in range(5):
            log.error("boom")
            log.error("boom")
            settle(pipeline, alerts)
            clock.t += 10  # two per 10 s: never three within one window
        assert receiver.bodies == []
        assert alerts.counts()["firing"] == 0
    finally:
        pipeline.shutdown(timeout=5)


def test_group_by_gives_one_notification_per_group_and_the_rate_limit_holds_the_rest(
    receiver: Receiver,
) -> None:
    clock = Clock()
    rule = AlertRule(
        "tenant-errors",
        threshold=3,
        window=1000,
        level="ERROR",
        group_by=["tenant"],
        notify_limit=2,
        notify_period=100,
    )
    alerts = AlertExporter([rule], [WebhookNotifier(receiver.url)], clock=clock)
    pipeline, _ = pipeline_with(alerts)
    log = pipeline.get_logger("shop")
    try:
        for tenant in "abcd":
            for _ in range(4):
                log.error("quota exceeded", tenant=tenant)
        settle(pipeline, alerts)
        assert [b["group"] for b in receiver.bodies] == [{"tenant": "a"}, {"tenant": "b"}]
        assert alerts.counts()["suppressed"] == 2

        clock.t += 100  # the rate limit's period passed
        for _ in range(3):
            log.error("quota exceeded", tenant="e")
        settle(pipeline, alerts)
        assert len(receiver.bodies) == 3
        third = receiver.bodies[2]
        assert third["group"] == {"tenant": "e"}
        assert third["suppressed"] == 2  # the held-back ones are announced
        assert "held back" in third["summary"]
    finally:
        pipeline.shutdown(timeout=5)


def test_match_fields_logger_prefix_attributes_presence_and_body() -> None:
    def event(
        attributes: dict[str, Any],
        body: Any = "db timeout on primary",
        severity: int = 17,
        scope: str = "shop.db",
    ) -> LogEvent:
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from fapilog.plugin import LogEvent

        return LogEvent(
            timestamp=1,
            severity_number=severity,
            body=body,
            attributes=dict(attributes),
            instrumentation_scope=InstrumentationScope(scope),
        )

    rule = AlertRule(
        "db",
        threshold=1,
        level="error",
        logger="shop",
        attributes={"http.status_code": 503},
        present=["db.system"],
        body_contains="timeout",
    )
    good: dict[str, Any] = {"http.status_code": 503, "db.system": "pg"}
    assert rule.matches(event(good))
    assert rule.matches(event(good, scope="shop"))
    assert rule.matches(event(good, body=b"timeout (bytes)"))
    assert rule.matches(event({**good, "http.status_code": 503.0}))
    assert not rule.matches(event(good, scope="shopping"))  # prefix on dot boundaries
    assert not rule.matches(event(good, severity=13))  # WARN < ERROR
    assert not rule.matches(event({**good, "http.status_code": 500}))
    assert not rule.matches(event({**good, "http.status_code": "503"}))
    assert not rule.matches(event({"http.status_code": 503}))  # db.system missing
    assert not rule.matches(event(good, body="all fine"))
    assert not rule.matches(event(good, body={"timeout": 1}))  # only text bodies
    assert not rule.matches(event(good, body=None))
    assert rule.group_of(event(good)) == ()


def test_a_rate_rule_is_a_count_over_its_window(receiver: Receiver) -> None:
    clock = Clock()
    rule = AlertRule("hot", kind="rate", threshold=0.5, window=20)  # 10 records in 20 s
    assert rule.count_threshold == 10
    alerts = AlertExporter([rule], [WebhookNotifier(receiver.url)], clock=clock)
    pipeline, _ = pipeline_with(alerts)
    log = pipeline.get_logger("x")
    try:
        for _ in range(9):
            log.info("tick")
        settle(pipeline, alerts)
        assert receiver.bodies == []
        log.info("tick")
        settle(pipeline, alerts)
        assert [(b["kind"], b["value"]) for b in receiver.bodies] == [("rate", 0.5)]
    finally:
        pipeline.shutdown(timeout=5)


class FakeStats:
    def __init__(self, emitted: int, dropped: dict[str, int]) -> None:
        self.emitted = emitted
        self.dropped = dropped


def test_drop_rate_rule_reads_the_pipeline_stats_and_ignores_deliberate_drops(
    receiver: Receiver,
) -> None:
    clock = Clock()
    current = [FakeStats(100, {})]
    rule = AlertRule("losing", kind="drop_rate", threshold=0.1, window=60, min_drops=5)
    alerts = AlertExporter(
        [rule], [WebhookNotifier(receiver.url)], clock=clock, stats=lambda: current[0]
    )
    pipeline, _ = pipeline_with(alerts)
    try:
        alerts.evaluate_now()  # the baseline
        clock.t += 10
        current[0] = FakeStats(200, {"filtered": 50, "sampled": 40})  # deliberate: no loss
        alerts.evaluate_now()
        clock.t += 10
        current[0] = FakeStats(300, {"filtered": 50, "sampled": 40, "queue_full": 30})
        alerts.evaluate_now()
        assert alerts.wait_idle(5)
        assert len(receiver.bodies) == 1
        firing = receiver.bodies[0]
        assert (firing["kind"], firing["status"]) == ("drop_rate", "firing")
        assert firing["value"] == pytest.approx(30 / 200)
        assert "15.00% of emitted events lost" in firing["summary"]

        clock.t += 61  # no new losses within the window
        current[0] = FakeStats(900, {"filtered": 50, "sampled": 40, "queue_full": 30})
        alerts.evaluate_now()
        clock.t += 1
        alerts.evaluate_now()
        assert alerts.wait_idle(5)
        assert [b["status"] for b in receiver.bodies] == ["firing", "resolved"]
        assert receiver.bodies[1]["matched"] == 30
    finally:
        pipeline.shutdown(timeout=5)


# -- payloads ---------------------------------------------------------------------------------


def test_webhook_payload_follows_the_documented_schema(receiver: Receiver) -> None:
    rule = AlertRule("any", threshold=1, description="anything at all", group_by=["user"])
    alerts = AlertExporter([rule], [WebhookNotifier(receiver.url)])
    pipeline, _ = pipeline_with(alerts)
    try:
        pipeline.get_logger("shop.api").error("card declined", user=7)
        settle(pipeline, alerts)
    finally:
        pipeline.shutdown(timeout=5)
    (body,) = receiver.bodies
    assert set(body) == {
        "schema", "id", "status", "rule", "kind", "description", "group", "value",
        "threshold", "window_seconds", "started_at", "ended_at", "matched", "suppressed",
        "summary", "sample", "resource",
    }  # fmt: skip
    assert body["schema"] == SCHEMA == "fapilog.alert/1"
    assert body["group"] == {"user": "7"}
    assert body["id"] == f"any/user=7/{body['id'].rsplit('/', 1)[1]}"
    assert body["started_at"].endswith("Z") and body["ended_at"] is None
    assert body["sample"]["severity_text"] == "ERROR"
    assert body["sample"]["logger"] == "shop.api"
    assert body["summary"] == "[FIRING] any (user=7): 1 matching records in 60 s (threshold 1)"
    assert receiver.paths == [f"/hooks/{TOKEN}"]


def test_slack_payload_has_text_and_optional_blocks_with_escaped_content(
    receiver: Receiver,
) -> None:
    rules = [AlertRule("<team> & co", threshold=1, group_by=["tenant"])]
    with_blocks = SlackNotifier(receiver.url, name="slack")
    plain = SlackNotifier(receiver.url, name="plain", blocks=False)
    alerts = AlertExporter(rules, [with_blocks, plain])
    pipeline, _ = pipeline_with(alerts)
    try:
        pipeline.get_logger("x").error("a <b> c", tenant="<acme>")
        settle(pipeline, alerts)
    finally:
        pipeline.shutdown(timeout=5)
    assert len(receiver.bodies) == 2
    full = next(b for b in receiver.bodies if "blocks" in b)
    bare = next(b for b in receiver.bodies if "blocks" not in b)
    assert set(bare) == {"text"}
    assert bare["text"] == full["text"]
    assert full["text"].startswith(":rotating_light: [FIRING] &lt;team&gt; &amp; co")
    assert "tenant=&lt;acme&gt;" in full["text"]
    assert "<" not in full["text"]
    assert [b["type"] for b in full["blocks"]] == ["header", "section", "context"]
    assert full["blocks"][0]["text"] == {"type": "plain_text", "text": "FIRING: <team> & co"}
    assert "> a &lt;b&gt; c" in full["blocks"][1]["text"]["text"]


# -- rules files --------------------------------------------------------------------------------

TOML = """
[[notifiers]]
name = "ops"
type = "slack"
url_env = "ALERT_TEST_SLACK_URL"
timeout = 3
retry = { initial_backoff = 0.1, max_backoff = 2, max_attempts = 3 }

[[notifiers]]
name = "pager"
type = "webhook"
url_env = "ALERT_TEST_PAGER_URL"
headers_env = { authorization = "ALERT_TEST_PAGER_AUTH" }

[[rules]]
name = "errors-per-service"
level = "ERROR"
threshold = 10
window = 60
group_by = ["service.name"]
notify = ["ops"]

[[rules]]
name = "losing-events"
kind = "drop_rate"
threshold = 0.01
window = 300
"""


@pytest.fixture
def alert_env(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> Receiver:
    monkeypatch.setenv("ALERT_TEST_SLACK_URL", receiver.url)
    monkeypatch.setenv("ALERT_TEST_PAGER_URL", receiver.url + "/pager")
    monkeypatch.setenv("ALERT_TEST_PAGER_AUTH", f"Bearer {TOKEN}")
    return receiver


def test_rules_file_in_toml_and_json(tmp_path: Path, alert_env: Receiver) -> None:
    toml_file = tmp_path / "alerts.toml"
    toml_file.write_text(TOML)
    import tomllib

    json_file = tmp_path / "alerts.json"
    json_file.write_text(json.dumps(tomllib.loads(TOML)))
    for path in (toml_file, json_file):
        config = load_rules(path)
        assert [r.name for r in config.rules] == ["errors-per-service", "losing-events"]
        assert config.rules[0] == AlertRule(
            "errors-per-service",
            level="ERROR",
            threshold=10,
            window=60,
            group_by=["service.name"],
            notify=["ops"],
        )
        ops, pager = config.notifiers
        assert isinstance(ops, SlackNotifier) and isinstance(pager, WebhookNotifier)
        assert ops.timeout == 3 and ops.retry.max_attempts == 3
        assert pager.headers.names() == ["authorization"]
        assert TOKEN not in repr(config)


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ("[[rules]\nname='x'", ".toml", "is not valid TOML"),
        ('{"rules": [}', ".json", "is not valid JSON: Expecting value at line 1 column 12"),
        ("rules = []", ".yaml", "must end in .toml or .json"),
        ("[[notifiers]]\ntype='slack'\nurl_env='ALERT_TEST_SLACK_URL'", ".toml", "has no rules"),
        (
            TOML + "\n[[rules]]\nname = 'bad'\nthreshold = 'ten'\n",
            ".toml",
            "rules[2] 'bad': threshold: must be a number > 0, got 'ten'",
        ),
        (
            TOML + "\n[[rules]]\nname = 'typo'\nthreshold = 1\nwindw = 5\n",
            ".toml",
            "rules[2] 'typo': unknown field(s) windw; known: name, threshold",
        ),
        (
            TOML + "\n[[rules]]\nname = 'lvl'\nthreshold = 1\nlevel = 'LOUD'\n",
            ".toml",
            "rules[2] 'lvl': level: must be one of TRACE",
        ),
        (
            TOML + "\n[[rules]]\nname = 'to'\nthreshold = 1\nnotify = ['nobody']\n",
            ".toml",
            "rules[2] 'to': notify: no notifier named 'nobody'; known: ops, pager",
        ),
        (
            TOML + "\n[[rules]]\nname = 'errors-per-service'\nthreshold = 1\n",
            ".toml",
            "rules[2] 'errors-per-service': name: used twice",
        ),
        (
            TOML + "\n[[rules]]\nthreshold = 1\n",
            ".toml",
            "rules[2]: name: missing",
        ),
        (
            TOML.replace('kind = "drop_rate"', 'kind = "drop_rate"\nmin_drops = 0'),
            ".toml",
            "rules[1] 'losing-events': min_drops: must be an integer >= 1, got 0",
        ),
        (
            TOML.replace('"ALERT_TEST_SLACK_URL"', '"ALERT_TEST_UNSET_VARIABLE"'),
            ".toml",
            "notifiers[0] 'ops': url_env: the environment variable ALERT_TEST_UNSET_VARIABLE "
            "is not set",
        ),
        (
            TOML.replace('type = "slack"', 'type = "pagerduty"'),
            ".toml",
            "notifiers[0] 'ops': type: must be one of webhook, slack, got 'pagerduty'",
        ),
        (
            TOML.replace("timeout = 3", "timeout = -1"),
            ".toml",
            "notifiers[0] 'ops': timeout: must be a number > 0, got -1",
        ),
        (
            TOML.replace("max_attempts = 3", "max_attempts = 0"),
            ".toml",
            "notifiers[0] 'ops': retry: max_attempts must be None or an integer >= 1",
        ),
        (
            TOML.replace('url_env = "ALERT_TEST_PAGER_URL"', f'url = "ftp://x/{TOKEN}"'),
            ".toml",
            "notifiers[1] 'pager': url: must be an http:// or https:// URL with a host "
            "(the value is not shown",
        ),
    ],
)
def test_rules_file_errors_name_the_file_the_entry_and_the_field(
    tmp_path: Path, alert_env: Receiver, text: str, suffix: str, expected: str
) -> None:
    path = tmp_path / f"alerts{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(f"alert rules file {str(path)!r}")
    assert expected in message
    assert TOKEN not in message
    assert caught.value.fields == ("alert_rules",)


def test_rules_in_code_are_validated_naming_rule_and_field(receiver: Receiver) -> None:
    with pytest.raises(ConfigError, match="alert rule 'x': window: must be a number of seconds"):
        AlertRule("x", threshold=1, window=0)
    with pytest.raises(ConfigError, match="alert rule 'x': threshold: a drop_rate is a fraction"):
        AlertRule("x", kind="drop_rate", threshold=5)
    with pytest.raises(ConfigError, match="at most 100000"):
        AlertRule("x", kind="rate", threshold=10_000, window=3600)
    hook = WebhookNotifier(receiver.url)
    with pytest.raises(ConfigError, match="alert rule 'x': notify: no notifier named 'pager'"):
        AlertExporter([AlertRule("x", threshold=1, notify=["pager"])], [hook])
    with pytest.raises(ConfigError, match="two rules are named 'x'"):
        AlertExporter([AlertRule("x", threshold=1), AlertRule("x", threshold=2)], [hook])
    with pytest.raises(ConfigError, match="give at least one notifier"):
        AlertExporter([AlertRule("x", threshold=1)], [])


def test_missing_httpx_is_a_config_error_at_configure_time(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # import httpx -> ImportError
    with pytest.raises(ConfigError, match=r"needs httpx.*pip install 'fapilog\[otlp\]'"):
        SlackNotifier(receiver.url)


def test_built_by_name_from_the_alert_rules_setting(
    tmp_path: Path, alert_env: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import EntryPoint

    from fapilog.exporters import _registry

    found = _registry._entry_points
    alerts_ep = EntryPoint("alerts", "fapilog.alerting:AlertExporter", "fapilog.exporters")
    monkeypatch.setattr(
        _registry,
        "_entry_points",
        lambda group: {
            **found(group),
            **({"alerts": alerts_ep} if group == alerts_ep.group else {}),
        },
    )  # the same entry point core's pyproject declares, whether or not it is installed
    path = tmp_path / "alerts.toml"
    path.write_text(TOML)
    monkeypatch.setenv("FAPILOG_ALERT_RULES", str(path))
    monkeypatch.setenv("FAPILOG_EXPORTERS", "memory,alerts")
    pipeline = fapilog.Pipeline(fapilog.Settings(), schedule_delay_ms=5, service_name="svc")
    try:
        log = pipeline.get_logger("x")
        for _ in range(10):
            log.error("down")
        assert pipeline.flush(timeout=5)
        bodies = alert_env.wait_for(1)
        assert bodies[0]["text"].startswith(":rotating_light: [FIRING] errors-per-service")
    finally:
        pipeline.shutdown(timeout=5)
    monkeypatch.delenv("FAPILOG_ALERT_RULES")
    with pytest.raises(ConfigError, match="the alerts exporter needs a rules file"):
        fapilog.Pipeline(exporters=["alerts"])
    monkeypatch.delenv("ALERT_TEST_SLACK_URL")
    with pytest.raises(ConfigError, match=r"alerts\.toml.*notifiers\[0\] 'ops': url_env"):
        fapilog.Pipeline(exporters={"alerts": {"rules": str(path)}})


# -- delivery: retries, isolation, bounds -------------------------------------------------------


def test_retryable_answers_are_retried_and_permanent_ones_given_up(receiver: Receiver) -> None:
    retry = RetryPolicy(initial_backoff=0.01, max_backoff=0.02, max_attempts=3)
    hook = WebhookNotifier(receiver.url, retry=retry)
    alerts = AlertExporter([AlertRule("any", threshold=1, group_by=["n"])], [hook])
    pipeline, _ = pipeline_with(alerts)
    try:
        receiver.statuses.extend([503, 429])  # then 200
        pipeline.get_logger("x").error("one", n=1)
        settle(pipeline, alerts)
        assert len(receiver.bodies) == 1
        receiver.statuses.extend([400])  # for good
        with spy_diagnostics() as lines:
            pipeline.get_logger("x").error("two", n=2)
            settle(pipeline, alerts)
        assert len(receiver.bodies) == 1
        counts = alerts.counts()
        assert (counts["sent"], counts["failed"], counts["retries"]) == (1, 1, 2)
        assert any("gave up" in line and "HTTP 400" in line for line in lines)
    finally:
        pipeline.shutdown(timeout=5)


@pytest.mark.parametrize("fault", ["down", "slow"])
def test_a_down_or_slow_receiver_changes_nothing_for_the_application(
    receiver: Receiver, fault: str
) -> None:
    if fault == "down":
        url = closed_port_url()
    else:
        url = receiver.url
        receiver.delay = 5.0  # each request sleeps 5 s
    hook = WebhookNotifier(url, timeout=10, retry=FAST_RETRY, max_pending=5)
    rule = AlertRule(
        "per-request", threshold=1, level="ERROR", group_by=["request"], notify_limit=1000
    )
    alerts = AlertExporter([rule], [hook], shutdown_grace=0.2)
    pipeline, memory = pipeline_with(alerts)
    log = pipeline.get_logger("shop")
    n = 2000
    slowest = 0.0
    with spy_diagnostics() as lines:
        for i in range(n):
            started = time.perf_counter()
            log.error("request failed", request=i % 40)  # 40 groups fire
            slowest = max(slowest, time.perf_counter() - started)
        assert pipeline.flush(timeout=5)
        assert memory.wait_for(n, timeout=5)
        started = time.monotonic()
        assert pipeline.shutdown(timeout=5)
        took = time.monotonic() - started
    assert slowest < 0.1, f"a log.error call took {slowest:.3f} s"
    assert took < 2.0, f"shutdown took {took:.2f} s"
    stats = pipeline.stats()
    assert stats.exported == n and stats.dropped_total == 0
    assert stats.exporters["alerts"].exported == n
    counts = alerts.counts()
    assert counts["sent"] == 0
    assert counts["pending"] == 0
    # every notification is accounted: failed, dropped for a full queue or at shutdown
    assert counts["failed"] + counts["dropped.queue_full"] + counts.get("dropped.shutdown", 0) == 40
    assert counts["suppressed"] == 0
    if fault == "slow":  # at most one request in flight for 5 s and five waiting
        assert counts["failed"] == 0
        assert counts["dropped.queue_full"] >= 40 - 5 - 1
        assert counts["dropped.shutdown"] == 40 - counts["dropped.queue_full"]
    for text in [*lines, repr(alerts), repr(counts), repr(stats)]:
        assert TOKEN not in text and url not in text


def test_the_webhook_url_never_appears_in_repr_errors_or_diagnostics(receiver: Receiver) -> None:
    url = closed_port_url()
    hook = WebhookNotifier(url, headers={"authorization": f"Bearer {TOKEN}"}, retry=FAST_RETRY)
    slack = SlackNotifier(url + "/slack", retry=FAST_RETRY)
    alerts = AlertExporter([AlertRule("any", threshold=1)], [hook, slack])
    texts = [repr(hook), str(hook), repr(slack), repr(alerts), str(alerts), repr(hook.headers)]
    import pickle

    with pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(hook.url)
    with spy_diagnostics() as lines:
        pipeline, _ = pipeline_with(alerts)
        try:
            pipeline.get_logger("x").error("boom")
            settle(pipeline, alerts)
        finally:
            pipeline.shutdown(timeout=5)
    assert any("gave up" in line for line in lines), lines
    texts += lines
    for text in texts:
        assert TOKEN not in text, text
        assert str(hook.url.get_secret_value()) not in text


# -- the conformance kit ------------------------------------------------------------------------


class EvaluatedBackend(Backend):
    """What AlertExporter "stores": the bodies of the records its rules evaluated.

    AlertExporter delivers no records anywhere (it sends notifications about them), so
    the kit's delivery checks apply to evaluation: every record the pipeline counts as
    exported by the alerts lane was seen by the rule engine exactly once. Fault
    scripting (fail_next, reject, hang) does not apply: the exporter never fails a batch.
    """

    observes_children = False

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.lock = threading.Lock()

    def received(self) -> Sequence[str]:
        with self.lock:
            return list(self.bodies)


class RecordingAlertExporter(AlertExporter):
    """AlertExporter that also notes what it evaluated (for the kit's backend)."""

    name = "alerts"

    def __init__(self, backend: EvaluatedBackend, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.backend = backend

    async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
        result = await super().export(batch)
        with self.backend.lock:
            self.backend.bodies.extend(str(e.body) for e in batch)
        return result


_DOWN: list[str] = []  # one closed-port URL for the kit's runs


class TestAlertExporterConformance(ExporterConformance):
    shutdown_bound = 3.0

    @contextlib.contextmanager
    def backend(self) -> Iterator[Backend]:
        yield EvaluatedBackend()

    def make_exporter(self, backend: Backend) -> RecordingAlertExporter:
        assert isinstance(backend, EvaluatedBackend)
        # Every record fires (one group per seq) towards a receiver that is down, with
        # the webhook token in its URL: failures are reported, never with the token.
        rule = AlertRule("every", threshold=1, group_by=["seq"])
        hook = WebhookNotifier(self._url, retry=FAST_RETRY, max_pending=20)
        return RecordingAlertExporter(backend, [rule], [hook], shutdown_grace=0.3)

    @property
    def _url(self) -> str:
        if not _DOWN:
            _DOWN.append(closed_port_url())
        return _DOWN[0]

    def secrets(self) -> Sequence[str]:
        return [TOKEN]
