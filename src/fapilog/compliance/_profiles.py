"""The compliance profiles: documented bundles of rules, required and forbidden fields."""

from __future__ import annotations

from dataclasses import dataclass

from fapilog.errors import ConfigError
from fapilog.redaction._rules import KeyRule, PatternRule

__all__ = ["PROFILES", "ComplianceProfile", "get_profile"]


@dataclass(frozen=True)
class ComplianceProfile:
    """One regulation's logging rules, as fapilog enforces them.

    Attributes:
        name: the profile name used in ``FAPILOG_COMPLIANCE``.
        title: the regulation or framework.
        redaction_rules: rules added in front of the default redaction rules.
        required_audit_fields: attributes every audit event must carry (an event is
            an audit event if its ``event_name`` is ``"audit"`` or its attribute
            ``fapilog.audit`` is true); ``actor`` is also satisfied by
            ``audit.actor``.
        forbidden_fields: key words (as in :class:`~fapilog.redaction.KeyRule`) that
            must not appear in any exported event, at any depth.
        audit_trail_required: whether the regulation expects a tamper-evident audit
            trail to be configured alongside the log pipeline.
        retention: the retention the regulation asks for (a note; fapilog does not
            delete data in your backends).
        references: the requirements each check serves.
    """

    name: str
    title: str
    redaction_rules: tuple[KeyRule | PatternRule, ...] = ()
    required_audit_fields: tuple[str, ...] = ()
    forbidden_fields: tuple[str, ...] = ()
    audit_trail_required: bool = False
    retention: str = ""
    references: tuple[str, ...] = ()


_AUDIT_FIELDS = ("actor", "action", "outcome", "target")

_PCI_SAD = (
    "cvv",
    "cvv2",
    "cvc",
    "cvc2",
    "cid",
    "pin",
    "pin_block",
    "track_data",
    "track1",
    "track2",
    "magstripe",
)

PCI_DSS = ComplianceProfile(
    name="pci-dss",
    title="PCI DSS v4.0",
    redaction_rules=(
        KeyRule("pci_sensitive_auth_data", _PCI_SAD, action="drop"),
        KeyRule(
            "pci_pan",
            ("pan", "card_number", "cardnumber", "credit_card", "primary_account_number"),
            action="partial",
        ),
    ),
    required_audit_fields=_AUDIT_FIELDS,
    forbidden_fields=_PCI_SAD,
    audit_trail_required=True,
    retention="12 months of audit logs, the last 3 immediately available (Req. 10.5.1)",
    references=(
        "3.3.1: sensitive authentication data (CVV, PIN, track data) not retained",
        "3.4.1: PAN masked when displayed (at most BIN and last four digits)",
        "3.5.1: PAN unreadable wherever stored (logs included)",
        "10.2.2: audit records hold user, event type, success/failure, affected resource",
    ),
)

_HIPAA_IDS = (
    "patient_name",
    "mrn",
    "medical_record_number",
    "health_plan_id",
    "beneficiary_id",
    "member_id",
    "date_of_birth",
    "dob",
    "birth_date",
    "birthdate",
    "address",
    "street",
    "zip",
    "zipcode",
    "postal_code",
    "fax",
    "license_number",
    "vehicle_id",
    "device_serial",
    "ip",
    "ip_address",
    "client_address",
    "phone",
    "phone_number",
    "email",
)

_HIPAA_BIOMETRIC = ("biometric", "fingerprint", "face_photo", "photo")

HIPAA = ComplianceProfile(
    name="hipaa",
    title="HIPAA Privacy and Security Rules",
    redaction_rules=(
        KeyRule("hipaa_biometric", _HIPAA_BIOMETRIC, action="drop"),
        KeyRule("hipaa_identifier", _HIPAA_IDS, action="mask"),
    ),
    required_audit_fields=_AUDIT_FIELDS,
    forbidden_fields=_HIPAA_BIOMETRIC,
    audit_trail_required=True,
    retention="6 years for required documentation (45 CFR 164.316(b)(2))",
    references=(
        "164.514(b)(2): the 18 Safe Harbor identifiers removed from logged data",
        "164.312(b): audit controls record who accessed what, and the outcome",
        "164.312(a)(1): access control; credentials never logged",
    ),
)

_GDPR_SPECIAL = (
    "religion",
    "ethnicity",
    "ethnic_origin",
    "race",
    "sexual_orientation",
    "political_opinion",
    "political_opinions",
    "trade_union",
    "health",
    "health_data",
    "genetic",
    "biometric",
)

GDPR = ComplianceProfile(
    name="gdpr",
    title="EU General Data Protection Regulation",
    redaction_rules=(
        KeyRule("gdpr_special_category", _GDPR_SPECIAL, action="drop"),
        KeyRule(
            "gdpr_pseudonymise",
            ("email", "ip", "ip_address", "client_address", "user_email", "phone", "phone_number"),
            action="hash",
        ),
        KeyRule(
            "gdpr_personal_data",
            (
                "first_name",
                "last_name",
                "full_name",
                "name_of_user",
                "date_of_birth",
                "dob",
                "birth_date",
                "address",
                "street",
                "national_id",
                "passport",
                "passport_number",
            ),
            action="mask",
        ),
    ),
    required_audit_fields=("actor", "action", "outcome"),
    forbidden_fields=_GDPR_SPECIAL,
    audit_trail_required=False,
    retention="no longer than necessary for the purpose (Art. 5(1)(e)); set per purpose",
    references=(
        "Art. 5(1)(c): data minimisation (allow-list mode, personal data masked)",
        "Art. 9: special categories of personal data never logged",
        "Art. 25: data protection by design and by default (redaction on by default)",
        "Art. 32: pseudonymisation (keyed hash of email/IP) and security of processing",
    ),
)

SOX = ComplianceProfile(
    name="sox",
    title="Sarbanes-Oxley Act",
    redaction_rules=(
        KeyRule("sox_account_number", ("account_number", "bank_account"), action="partial"),
    ),
    required_audit_fields=_AUDIT_FIELDS,
    audit_trail_required=True,
    retention="7 years for audit records (SOX 802, 17 CFR 210.2-06)",
    references=(
        "404: internal control over financial reporting; audit events name actor, "
        "action, outcome and target",
        "802: audit records retained and protected from alteration",
    ),
)

SOC2 = ComplianceProfile(
    name="soc2",
    title="SOC 2 (AICPA Trust Services Criteria)",
    required_audit_fields=("actor", "action", "outcome"),
    audit_trail_required=True,
    retention="per your policy; auditors commonly expect 1 year",
    references=(
        "CC6.1: logical access; credentials and keys never logged (default rules)",
        "CC7.2: security events monitored; audit events name actor, action, outcome",
    ),
)

#: Every profile by name.
PROFILES: dict[str, ComplianceProfile] = {p.name: p for p in (PCI_DSS, HIPAA, GDPR, SOX, SOC2)}


def get_profile(name: str) -> ComplianceProfile:
    """The profile called ``name`` (case-insensitive).

    Raises:
        ConfigError: no profile has that name; the message lists the valid ones.
    """
    try:
        return PROFILES[name.lower()]
    except KeyError:
        valid = ", ".join(sorted(PROFILES))
        raise ConfigError(f"unknown compliance profile {name!r}; use one of {valid}") from None
