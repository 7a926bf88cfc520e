"""OTel severity numbers mapped to syslog, CEF and LEEF severities."""

from __future__ import annotations

__all__ = ["SEVERITY_TABLE", "cef_severity", "syslog_severity"]

# OTel severity_number (index 0-24) -> (syslog severity 0-7, CEF severity 0-10).
# Unspecified (0) counts as INFO. Within the FATAL range the higher numbers climb to
# alert and emergency.
SEVERITY_TABLE: tuple[tuple[int, int], ...] = (
    (6, 3),  # 0 unspecified
    *((7, 0),) * 4,  # TRACE 1-4: debug
    *((7, 1),) * 4,  # DEBUG 5-8: debug
    (6, 3),  # INFO 9: informational
    *((5, 4),) * 3,  # INFO2-4 10-12: notice
    (4, 5),  # WARN 13: warning
    *((4, 6),) * 3,  # WARN2-4
    (3, 7),  # ERROR 17: error
    *((3, 8),) * 3,  # ERROR2-4
    (2, 9),  # FATAL 21: critical
    (2, 9),  # FATAL2
    (1, 10),  # FATAL3: alert
    (0, 10),  # FATAL4: emergency
)


def syslog_severity(severity_number: int) -> int:
    """Map an OTel severity number (0-24) to a syslog severity (0 emerg ... 7 debug)."""
    return SEVERITY_TABLE[min(max(severity_number, 0), 24)][0]


def cef_severity(severity_number: int) -> int:
    """Map an OTel severity number (0-24) to a CEF severity (0-10; LEEF uses 1-10)."""
    return SEVERITY_TABLE[min(max(severity_number, 0), 24)][1]
