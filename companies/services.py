"""Company-data versions: recording a company's data as an immutable version, and the
difference between two versions. Cases (in `onboarding`) point to these versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from .models import ACCOUNT_FIELDS, DATA_FIELDS, CompanyVersion, Enterprise


def company_accounts(enterprise: Enterprise) -> list[dict[str, str]]:
    # `.all()` uses a prefetch of the accounts when there is one (a list of cases reads them
    # for all its companies at once), one query otherwise; ordered by id either way.
    rows = sorted(enterprise.accounts.all(), key=lambda a: a.pk)
    return [{f: getattr(a, f) for f in ACCOUNT_FIELDS} for a in rows]


def company_snapshot(enterprise: Enterprise) -> CompanyVersion:
    """The company's current data as an unsaved version (for reading, never for a case)."""
    return CompanyVersion(
        enterprise=enterprise,
        number=0,
        accounts=company_accounts(enterprise),
        **{f: getattr(enterprise, f) for f in DATA_FIELDS},
    )


def company_version_latest(enterprise: Enterprise) -> CompanyVersion | None:
    return CompanyVersion.objects.filter(enterprise=enterprise).order_by("-number").first()


def _same(a: CompanyVersion, b: CompanyVersion) -> bool:
    return a.values() == b.values() and a.accounts == b.accounts


def company_version_record(*, enterprise: Enterprise, user: Any) -> CompanyVersion:
    """Record the company's current data as its next version; the latest one if nothing changed.

    The company row is locked so two saves of one company number their versions in turn
    (the unique (company, number) constraint catches the rest on SQLite).
    """
    with transaction.atomic():
        Enterprise.objects.select_for_update().filter(pk=enterprise.pk).first()
        snapshot = company_snapshot(enterprise)
        latest = company_version_latest(enterprise)
        if latest is not None and _same(latest, snapshot):
            return latest
        top = CompanyVersion.objects.filter(enterprise=enterprise).aggregate(n=Max("number"))["n"] or 0
        snapshot.number = top + 1
        snapshot.created_by = user if getattr(user, "pk", None) else None
        snapshot.created_at = timezone.now()
        snapshot.save()
        return snapshot


def _text(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def field_label(name: str) -> str:
    return str(getattr(CompanyVersion._meta.get_field(name), "verbose_name", name))


def company_diff(old: CompanyVersion, new: CompanyVersion) -> dict[str, Any]:
    """What changed from `old` to `new`, JSON-ready (dates as ISO text) for case events.

    {"fields": [{"field", "old", "new"}], "accounts_added": [...], "accounts_removed": [...],
    "accounts_changed": [{"account_number", "old": {...}, "new": {...}}]}
    """
    fields = [
        {"field": f, "old": _text(getattr(old, f)), "new": _text(getattr(new, f))}
        for f in DATA_FIELDS
        if getattr(old, f) != getattr(new, f)
    ]
    before = {a["account_number"]: a for a in old.accounts}
    after = {a["account_number"]: a for a in new.accounts}
    return {
        "fields": fields,
        "accounts_added": [a for n, a in after.items() if n not in before],
        "accounts_removed": [a for n, a in before.items() if n not in after],
        "accounts_changed": [
            {"account_number": n, "old": before[n], "new": a}
            for n, a in after.items()
            if n in before and before[n] != a
        ],
    }


def diff_is_empty(diff: dict[str, Any]) -> bool:
    return not any(diff.get(k) for k in ("fields", "accounts_added", "accounts_removed", "accounts_changed"))
