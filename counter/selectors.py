"""Reads for the counter panel and the expiry list, scoped like every case read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from onboarding.models import OnboardingCase
from onboarding.page_reads import read_once
from onboarding.selectors import case_visible_q

from .models import CounterEntry, Operator, UKey

EXPIRY_WINDOW_DAYS = 30


def case_entries(*, case: OnboardingCase) -> QuerySet[CounterEntry]:
    return case.counter_entries.select_related("maker", "checker", "operator", "ukey__operator", "replaces").order_by(
        "-made_at", "-pk"
    )


def case_entry_list(*, case: OnboardingCase) -> list[CounterEntry]:
    """The case's counter entries, newest first; read once per case page (`onboarding.page_reads`)."""
    return read_once(case, "counter.entries", lambda: list(case_entries(case=case)))


def case_operators(*, case: OnboardingCase) -> list[Operator]:
    """Every operator of the case (removed ones last) with its keys; read once per case page.

    The guards (operator identities, what UKey issuance still needs), the counter panel and
    its issue and activation forms all take them from here.
    """

    def read() -> list[Operator]:
        keys = UKey.objects.select_related("issued_entry__maker", "issued_entry__checker", "replaces").order_by(
            "issued_at", "pk"
        )
        return list(case.operators.prefetch_related(Prefetch("ukeys", queryset=keys)).order_by("removed_at", "pk"))

    return read_once(case, "counter.operators", read)


def active_operators(*, case: OnboardingCase) -> list[Operator]:
    """The operators not removed, in the order they were named."""
    return sorted((o for o in case_operators(case=case) if o.removed_at is None), key=lambda o: o.pk)


def ukeys_expiring(*, user: Any, within_days: int = EXPIRY_WINDOW_DAYS, today: dt.date | None = None) -> QuerySet[UKey]:
    """Keys in use whose certificate runs out within the window (or already has), soonest first."""
    today = today or timezone.localdate()
    visible = OnboardingCase.objects.filter(case_visible_q(user))
    return (
        UKey.objects.filter(case__in=visible, expires_on__lte=today + dt.timedelta(days=within_days))
        .exclude(status__in=[UKey.Status.REPLACED, UKey.Status.REVOKED])
        .select_related("operator", "case__enterprise", "case__branch")
        .order_by("expires_on", "pk")
    )
