"""Compliance profiles (PCI DSS, HIPAA, GDPR, SOX, SOC 2) and the processor enforcing them.

Enable with ``FAPILOG_COMPLIANCE=pci-dss,gdpr``; see ``docs/compliance.md``.
"""

from __future__ import annotations

from fapilog.compliance._processor import (
    VIOLATIONS_ATTRIBUTE,
    ComplianceProcessor,
    is_audit_event,
)
from fapilog.compliance._profiles import PROFILES, ComplianceProfile, get_profile

__all__ = [
    "PROFILES",
    "VIOLATIONS_ATTRIBUTE",
    "ComplianceProcessor",
    "ComplianceProfile",
    "get_profile",
    "is_audit_event",
]
