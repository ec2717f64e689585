"""What a case and its company hold, to compare before and after a save."""

from __future__ import annotations

from typing import Any

from companies.models import Enterprise
from onboarding.models import OnboardingCase

CASE_FIELDS = (
    "modules",
    "erp_system",
    "connection_notes",
    "fee_amount",
    "fee_note",
    "risk_level",
    "risk_note",
    "target_date",
    "state",
)
SKIPPED_ENTERPRISE_FIELDS = {"id", "public_id", "created_at"}


def enterprise_record(enterprise: Enterprise) -> dict[str, Any]:
    enterprise = Enterprise.objects.get(pk=enterprise.pk)
    record = {
        f.attname: getattr(enterprise, f.attname)
        for f in Enterprise._meta.concrete_fields
        if f.attname not in SKIPPED_ENTERPRISE_FIELDS
    }
    record["accounts"] = sorted(
        enterprise.accounts.values_list("account_number", "account_name", "opening_branch")  # type: ignore[attr-defined]
    )
    return record


def case_record(case: OnboardingCase) -> dict[str, Any]:
    case = OnboardingCase.objects.get(pk=case.pk)
    return {"case": {f: getattr(case, f) for f in CASE_FIELDS}, "enterprise": enterprise_record(case.enterprise)}
