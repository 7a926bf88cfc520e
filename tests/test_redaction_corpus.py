"""The labelled corpus: every secret redacted, every look-alike untouched, rates measured.

``tests/redaction_corpus/corpus.jsonl`` (written by ``generate.py`` next to it) holds
secrets placed where they turn up in logs (attribute values, ``%s`` arguments, message
text, nested maps, lists, attribute and map keys, logger names, event names, exception
messages) and look-alikes that must pass untouched (UUIDs, git SHAs, hashes, nonces,
base64 blobs, ordinary words, versions, order numbers failing Luhn...). Each case goes
through the default pipeline's redaction via ``capture_logs``; run with ``-s`` to see
the measured rates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import fapilog
from fapilog import LogEvent, Pipeline
from fapilog.redaction import REDACTED_ATTRIBUTE
from fapilog.testing import InMemoryExporter, capture_logs

CORPUS = [
    json.loads(line)
    for line in (Path(__file__).parent / "redaction_corpus" / "corpus.jsonl")
    .read_text()
    .splitlines()
    if line.strip()
]
SECRETS = [c for c in CORPUS if c["label"] == "secret"]
BENIGN = [c for c in CORPUS if c["label"] == "benign"]
REPORTED = [c for c in SECRETS if c["kind"].startswith("reported_")]

# What this corpus measures today (see docs/redaction.md): the floors below are these
# figures, so a detector that gets worse fails the test.
DETECTION_FLOOR = 0.99
FALSE_POSITIVE_CEILING = 0.0


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['kind']}-{case['where']}"


def _log(case: dict[str, Any], log: fapilog.Logger, logger_factory: Any) -> None:
    """Log ``case['text']`` the way its ``where`` says."""
    text, where = case["text"], case["where"]
    key, parent = case.get("key", "note"), case.get("parent", "data")
    if where == "value":
        log.info("event", **{key: text})
    elif where == "percent_arg":
        log.info(case.get("format", "value was %s"), text)
    elif where == "message":
        log.info(text)
    elif where == "nested":
        log.info("event", **{parent: {key: text}})
    elif where == "list":
        log.info("event", items=["first", text])
    elif where == "key":
        log.info("event", **{text: "v"})
    elif where == "nested_key":
        log.info("event", data={text: "v"})
    elif where == "logger":
        logger_factory(text).info("event")
    elif where == "event_name":
        log.info("event", event_name=text)
    elif where == "exception":
        try:
            raise ValueError(text)
        except ValueError:
            log.exception("operation failed")
    else:  # pragma: no cover  # a typo in the corpus
        raise AssertionError(f"unknown placement {where!r}")


def _strings(value: Any) -> list[str]:
    """Every string in ``value``, map keys included, at any depth."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def _output(event: LogEvent) -> str:
    """All an exporter could write of ``event``: body, attributes, logger and event name."""
    return "\n".join(
        [
            *_strings(event.body),
            *_strings(event.attributes),
            event.scope_name,
            str(event.event_name),
        ]
    )


def _untouched(case: dict[str, Any], event: LogEvent) -> bool:
    """The look-alike is where it was logged, unchanged, and no rule fired."""
    text, where, attrs = case["text"], case["where"], event.attributes
    key, parent = case.get("key", "note"), case.get("parent", "data")
    if REDACTED_ATTRIBUTE in attrs:
        return False
    placed: dict[str, object] = {
        "value": attrs.get(key),
        "percent_arg": event.body,
        "message": event.body,
        "nested": attrs.get(parent),
        "list": attrs.get("items"),
        "key": attrs.get(text),
        "nested_key": attrs.get("data"),
        "logger": event.scope_name,
        "event_name": event.event_name,
    }
    expected: dict[str, object] = {
        "value": text,
        "percent_arg": case.get("format", "value was %s") % text,
        "message": text,
        "nested": {key: text},
        "list": ["first", text],
        "key": "v",
        "nested_key": {text: "v"},
        "logger": text,
        "event_name": text,
    }
    return placed[where] == expected[where]


def _captured(case: dict[str, Any]) -> LogEvent:
    with capture_logs() as logs:
        _log(case, fapilog.get_logger("corpus"), fapilog.get_logger)
    (event,) = logs
    return event


def _caught(case: dict[str, Any], event: LogEvent) -> bool:
    return case.get("secret", case["text"]) not in _output(event)


def test_the_corpus_covers_every_placement_and_both_labels() -> None:
    """At least 200 cases; secrets in every placement; look-alikes of many kinds."""
    assert len(CORPUS) >= 200
    assert {c["where"] for c in SECRETS} == {
        "value",
        "percent_arg",
        "message",
        "nested",
        "list",
        "key",
        "nested_key",
        "logger",
        "event_name",
        "exception",
    }
    assert len({c["kind"] for c in BENIGN}) >= 30
    assert len(REPORTED) >= 9


@pytest.mark.parametrize("case", REPORTED, ids=_case_id)
def test_every_reported_leak_is_caught(case: dict[str, Any]) -> None:
    """The leaks found in the previous release no longer reach the output."""
    event = _captured(case)
    assert _caught(case, event), _output(event)
    assert event.attributes[REDACTED_ATTRIBUTE]


@pytest.mark.parametrize("case", BENIGN, ids=_case_id)
def test_every_look_alike_is_untouched(case: dict[str, Any]) -> None:
    """UUIDs, SHAs, hashes, nonces, blobs, words, versions... pass exactly as logged."""
    event = _captured(case)
    assert _untouched(case, event), (event.body, event.attributes, event.scope_name)


def test_detection_and_false_positive_rates() -> None:
    """Measure both rates over the whole corpus, print them and hold the floors."""
    missed = [c for c in SECRETS if not _caught(c, _captured(c))]
    touched = [c for c in BENIGN if not _untouched(c, _captured(c))]
    detection = 1 - len(missed) / len(SECRETS)
    false_positives = len(touched) / len(BENIGN)
    print(
        f"\nredaction corpus: {len(SECRETS)} secrets, {len(BENIGN)} look-alikes; "
        f"detection {detection:.4f} ({len(SECRETS) - len(missed)}/{len(SECRETS)}), "
        f"false positives {false_positives:.4f} ({len(touched)}/{len(BENIGN)})"
    )
    for case in missed:
        print(f"  missed: {case['kind']} in {case['where']}")
    for case in touched:
        print(f"  touched: {case['kind']} in {case['where']}")
    assert detection >= DETECTION_FLOOR, [c["kind"] for c in missed]
    assert false_positives <= FALSE_POSITIVE_CEILING, [c["kind"] for c in touched]


def test_the_worker_path_catches_the_reported_leaks_too() -> None:
    """Through a real pipeline (worker thread, batched materialisation) to an exporter."""
    exporter = InMemoryExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    try:
        for case in REPORTED:
            _log(case, pipeline.get_logger("corpus"), pipeline.get_logger)
        assert pipeline.flush(10)
    finally:
        pipeline.shutdown(10)
    assert len(exporter.events) == len(REPORTED)
    output = "\n".join(_output(e) for e in exporter.events)
    leaked = [c["kind"] for c in REPORTED if c.get("secret", c["text"]) in output]
    assert leaked == []
