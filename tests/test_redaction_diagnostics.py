"""fapilog's own stderr diagnostics pass through the redaction detectors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fapilog import Pipeline, _diagnostics
from fapilog._diagnostics import reporter, scrub
from fapilog.testing import InMemoryExporter

GHP = "ghp_R8mZ2kQv7Lx1Nw4Tb9Yc3Hd6Fj0Gs5Pa2Ue8"
PASSWORD = "Zr7kQ2xLm9hunter"


@pytest.fixture(autouse=True)
def _fresh_reporter() -> Iterator[None]:
    reporter.reset()
    yield
    reporter.reset()


def test_a_diagnostic_line_is_scrubbed_before_it_reaches_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Secrets in a reported message are masked; the rest of the line is kept."""
    reporter.report("test:scrub", f"export failed: db password={PASSWORD} token={GHP} at db:5432")
    assert reporter.flush(5)
    err = capfd.readouterr().err
    assert "fapilog: export failed: db password=[REDACTED] token=[REDACTED] at db:5432" in err
    assert PASSWORD not in err and GHP not in err


class _Exploding:
    """An event name whose ``__str__`` raises with secrets in its message."""

    def __str__(self) -> str:
        raise ValueError(f"db password={PASSWORD} token={GHP}")


def test_a_user_exception_quoted_by_a_diagnostic_is_scrubbed(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """An event that cannot be built is reported without the secrets its error carries."""
    exporter = InMemoryExporter()
    pipeline = Pipeline(exporters=[exporter], schedule_delay_ms=5)
    try:
        pipeline.get_logger("t").info("login", event_name=_Exploding())
        assert pipeline.flush(5)
    finally:
        pipeline.shutdown(5)
    assert reporter.flush(5)
    err = capfd.readouterr().err
    assert "could not build an event" in err
    assert "ValueError" in err
    assert PASSWORD not in err and GHP not in err


def test_a_failing_scrub_withholds_the_line(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """If redaction itself fails, the diagnostic is withheld, never printed raw."""

    class Broken:
        def redact_text(self, text: str) -> str:
            raise RuntimeError("boom")

    monkeypatch.setattr(_diagnostics, "_scrubber", Broken())
    reporter.report("test:broken", f"token={GHP}")
    assert reporter.flush(5)  # the writer thread scrubs, with the broken scrubber
    err = capfd.readouterr().err
    assert "diagnostic withheld" in err and "RuntimeError" in err
    assert GHP not in err


def test_scrub_applies_context_dependent_rules() -> None:
    """In diagnostics a 40-character AWS-shaped secret is masked even without context."""
    secret = "Zx9Lq2Wv7Nb4Mk1Rt8Yp3Hs6Df0Ga5Jc/Eu+Io2w"
    assert scrub(f"signing with {secret}") == "signing with [REDACTED]"
    assert scrub("exporter 'otlp': export timed out after 10s") == (
        "exporter 'otlp': export timed out after 10s"
    )
