"""The public extension API: everything an exporter or processor plugin may import.

A plugin is an ordinary Python distribution that imports fapilog only through this
module (and the other public modules: ``fapilog``, ``fapilog.config``,
``fapilog.errors``, ``fapilog.exporters``, ``fapilog.otel``). Modules whose name starts with an
underscore are private: they change in any release without notice.

Versioning:
    :data:`API_VERSION` is the semantic version of this module, separate from the
    package version. A minor release adds names or optional arguments; anything a
    plugin written for an earlier ``1.x`` relies on keeps working. A major release
    may remove or change names. A plugin class declares the version it was written
    for as a class attribute, ``api_version = "1.0"``; :func:`check_api_version`
    (used by ``fapilog plugins list`` and ``fapilog plugins check``) tells whether
    this fapilog serves it. 1.1 added :attr:`Processor.drop_reason` and
    :meth:`Processor.poll` (plugins written for 1.0 work unchanged); a plugin that
    relies on them declares ``api_version = "1.1"``.

Writing an exporter:
    Subclass :class:`Exporter` and implement ``async export(batch)``, returning an
    :class:`ExportResult`. The pipeline owns retries, timeouts and drop accounting:
    an exporter reports what happened (success, retryable with an optional
    ``retry_after``, partial with the rejected count, failure) and never retries on
    its own. Set :attr:`Exporter.retry_policy` to a :class:`RetryPolicy` for
    backoff of its own. A retry passes the very same events again, so an exporter
    that delivers part of a batch per call keeps a :class:`BatchProgress` and sends
    only what is still owed. Read options with :func:`load_options` (keyword
    arguments over environment variables, errors naming the variable), keep tokens in
    :class:`Secret` / :class:`SecretHeaders`, build failure reasons with
    :func:`safe_reason`, and honour ``Retry-After`` with :func:`parse_retry_after`.
    :func:`event_to_dict`, :func:`encode_json_line` and :func:`encode_json_lines`
    give fapilog's JSON form of an event; :func:`format_rfc3339` its timestamps.

Writing a processor:
    Subclass :class:`Processor` and implement ``on_emit(event)``: mutate the event
    in place, return ``False`` to drop it. Set ``keeps_size = True`` when it only
    masks, cuts, flags or drops, and return counters from ``counts()``: they appear
    in ``fapilog.stats().protection``. Since API 1.1: set ``drop_reason`` (a class
    attribute, ``"filtered"`` by default) to the reason its drops are counted under
    (``"sampled"``, ``"deduplicated"``...), and override ``poll(now_ns)`` to emit
    events it owes (summaries of what it held back): the worker calls it after
    every drain, at least once per ``schedule_delay`` and before every flush (after
    ``force_flush()``); what it returns runs through the later processors and
    counts as newly emitted.

Publishing:
    Register the class under the entry-point group ``fapilog.exporters`` or
    ``fapilog.processors``; it can then be named in ``configure()`` and in
    ``FAPILOG_EXPORTERS`` / ``FAPILOG_PROCESSORS``. An object with a
    ``from_settings(settings, **options)`` classmethod is built through it, any
    other is called with the options as keyword arguments.

Example:
    A minimal exporter::

        from collections.abc import Sequence

        from fapilog.plugin import Exporter, ExportResult, LogEvent, encode_json_lines


        class StdoutBytesExporter(Exporter):
            api_version = "1.0"

            async def export(self, batch: Sequence[LogEvent]) -> ExportResult:
                print(encode_json_lines(batch).decode(), end="")
                return ExportResult.success()
"""

from __future__ import annotations

from fapilog._diagnostics import reporter as _reporter
from fapilog._event import LogEvent
from fapilog._retry import RetryPolicy
from fapilog.errors import ConfigError, ConfigTypeError
from fapilog.exporters._base import Exporter, ExportResult, ExportStatus
from fapilog.exporters._escape import escape_control
from fapilog.exporters._http_util import (
    decoded_credential,
    parse_retry_after,
    safe_reason,
    secret_words,
)
from fapilog.exporters._jsonl import encode_json_line, encode_json_lines, event_to_dict
from fapilog.exporters._options_util import build_options as load_options
from fapilog.exporters._progress import BatchProgress
from fapilog.exporters._secret import Secret, SecretHeaders, wrap_secret
from fapilog.exporters._timefmt import format_rfc3339
from fapilog.pipeline._lifecycle import install_process_hooks
from fapilog.processors._base import Processor

__all__ = [
    "API_VERSION",
    "BatchProgress",
    "ConfigError",
    "ConfigTypeError",
    "ExportResult",
    "ExportStatus",
    "Exporter",
    "LogEvent",
    "Processor",
    "RetryPolicy",
    "Secret",
    "SecretHeaders",
    "check_api_version",
    "decoded_credential",
    "encode_json_line",
    "encode_json_lines",
    "escape_control",
    "event_to_dict",
    "format_rfc3339",
    "install_process_hooks",
    "load_options",
    "parse_retry_after",
    "report",
    "safe_reason",
    "secret_words",
    "wrap_secret",
]

API_VERSION = "1.1"
"""The semantic version (``MAJOR.MINOR``) of this extension API.

History: ``1.0`` (fapilog 3.0); ``1.1`` added :attr:`Processor.drop_reason` and
:meth:`Processor.poll`."""


def check_api_version(declared: str | None) -> tuple[bool, str]:
    """Whether a plugin written for API ``declared`` works with this fapilog.

    Compatible when the major versions are equal and the declared minor version is
    not newer than :data:`API_VERSION`'s. Never raises: a malformed declaration is
    reported as incompatible.

    Args:
        declared: the plugin class's ``api_version`` (``"1.0"``), or ``None`` when it
            declares none (then it is assumed to be written for ``1.0``).

    Returns:
        ``(compatible, reason)``, the reason being one human-readable sentence for
        ``fapilog plugins list``.
    """
    if declared is None:
        return True, "does not declare api_version; assumed 1.0"
    ours = _parse_version(API_VERSION)
    theirs = _parse_version(declared) if isinstance(declared, str) else None
    if ours is None or theirs is None:
        return False, f"api_version {declared!r} is not a version like {API_VERSION!r}"
    if theirs[0] != ours[0]:
        return False, (
            f"written for plugin API {declared}; this fapilog provides {API_VERSION} "
            "(a different major version)"
        )
    if theirs[1] > ours[1]:
        return False, (
            f"written for plugin API {declared}, newer than this fapilog's {API_VERSION}; "
            "upgrade fapilog"
        )
    return True, f"written for plugin API {declared}; this fapilog provides {API_VERSION}"


def _parse_version(text: str) -> tuple[int, int] | None:
    """``"1.2"`` (or ``"1"``, ``"1.2.3"``) as ``(1, 2)``; None if it is not one."""
    parts = text.strip().split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def report(key: str, message: str) -> None:
    """Write one diagnostic line on stderr, rate-limited and scrubbed of secrets.

    For a plugin's own problems (a rejected record, a connection that keeps failing).
    Never blocks and never raises; the line goes to the process's original stderr,
    not through logging, so it cannot recurse into the pipeline. Lines with the same
    ``key`` are written at most once per interval; the others are counted and the
    count is shown with the next one. What the redaction detectors recognise
    (tokens, passwords, card numbers) is masked before the line is written.

    Args:
        key: groups lines for rate limiting, e.g. ``"rejected:my_exporter"``; it is
            kept apart from fapilog's own keys.
        message: one line of text.
    """
    try:
        _reporter.report(f"plugin:{key}", message)
    except Exception:  # diagnostics must never break the plugin that reports
        pass
