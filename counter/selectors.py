"""Reads for the counter panel and the expiry list, scoped like every case read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from config.statements import Prepared, prepared
from onboarding.models import OnboardingCase
from onboarding.page_reads import marked, read_once
from onboarding.selectors import case_visible_q

from .models import CounterEntry, Operator, UKey

EXPIRY_WINDOW_DAYS = 30


def case_entries(*, case: OnboardingCase) -> QuerySet[CounterEntry]:
    return case.counter_entries.select_related("maker", "checker", "operator", "ukey__operator", "replaces").order_by(
        "-made_at", "-pk"
    )


def case_entry_list(*, case: OnboardingCase) -> list[CounterEntry]:
    """The case's counter entries, newest first; read once per case page (`onboarding.page_reads`).

    On a case page, which reads the case's operators with their keys anyway (`case_operators`:
    the guards, the counter panel and its forms), each entry's operator, key and replaced key
    are taken from those rather than joined again: four joins fewer, about a millisecond of
    building the query."""

    def read() -> list[CounterEntry]:
        if not marked(case):
            return list(case_entries(case=case))
        operators = case_operators(case=case)
        entries = [objects[0] for objects in _entries_read().rows(case.pk)]
        for e in entries:  # as `case.counter_entries` would: each entry's case is this one
            e._state.fields_cache["case"] = case
        by_pk = {o.pk: o for o in operators}
        keys = {k.pk: k for o in operators for k in o.ukeys.all()}
        wanted_keys = ({e.ukey_id for e in entries} | {e.replaces_id for e in entries}) - {None}
        if not ({e.operator_id for e in entries} - {None} <= by_pk.keys() and wanted_keys <= keys.keys()):
            return list(case_entries(case=case))  # a key or operator not of this case's: joined
        for e in entries:
            e.operator = by_pk[e.operator_id] if e.operator_id is not None else None
            e.ukey = keys[e.ukey_id] if e.ukey_id is not None else None
            e.replaces = keys[e.replaces_id] if e.replaces_id is not None else None
        return entries

    return read_once(case, "counter.entries", read)


def _entries_read() -> Prepared:
    """The case page's read of the counter entries with maker and checker, compiled once per process."""
    return prepared(
        "counter.case_entries",
        lambda owner: (
            CounterEntry.objects.filter(case_id=owner).select_related("maker", "checker").order_by("-made_at", "-pk")
        ),
        CounterEntry,
        ["maker", "checker"],
    )


OPERATORS_KEY = "counter.operators"


def case_operators(*, case: OnboardingCase) -> list[Operator]:
    """Every operator of the case (removed ones last) with its keys; read once per case page.

    The guards (operator identities, what UKey issuance still needs), the counter panel and
    its issue and activation forms all take them from here.
    """

    def read() -> list[Operator]:
        statement = prepared(
            "counter.case_operators",
            lambda owner: Operator.objects.filter(case_id=owner).order_by("removed_at", "pk"),
            Operator,
        )
        operators = [objects[0] for objects in statement.rows(case.pk)]
        for o in operators:  # as `case.operators` would: each operator's case is this one
            o._state.fields_cache["case"] = case
        # Their keys as `prefetch_related("ukeys")` reads them, but read whether or not the case
        # has operators: the page's number of queries does not depend on the case's data
        # (issue 26: the same queries at 1,000 and 100,000 cases).
        by_operator: dict[int, list[UKey]] = {o.pk: [] for o in operators}
        for objects in _ukeys_read().rows(case.pk):
            key = objects[0]
            if key.operator_id in by_operator:
                by_operator[key.operator_id].append(key)
        for o in operators:
            keys = by_operator[o.pk]
            for key in keys:
                key._state.fields_cache["operator"] = o
            qs = o.ukeys.all()
            qs._result_cache = keys
            qs._prefetch_done = True
            o._prefetched_objects_cache = {"ukeys": qs}
        return operators

    return read_once(case, OPERATORS_KEY, read)


def _ukeys_read() -> Prepared:
    """The keys of a case's operators with who issued them and the key each replaced, in the
    order they were issued; compiled once per process."""
    return prepared(
        "counter.case_ukeys",
        lambda owner: (
            UKey.objects.filter(operator__case_id=owner)
            .select_related("issued_entry__maker", "issued_entry__checker", "replaces")
            .order_by("issued_at", "pk")
        ),
        UKey,
        ["issued_entry__maker", "issued_entry__checker", "replaces"],
    )


def active_operators(*, case: OnboardingCase) -> list[Operator]:
    """The operators not removed, in the order they were named."""
    return sorted((o for o in case_operators(case=case) if o.removed_at is None), key=lambda o: o.pk)


def ukey_serials_taken(serials: Iterable[str]) -> set[str]:
    """Those of `serials` the register already holds, or a counter issuance waiting for its
    checker names (an import refuses them, naming the serial)."""
    wanted = {s for s in serials if s}
    if not wanted:
        return set()
    held = set(UKey.objects.filter(serial__in=wanted).values_list("serial", flat=True))
    pending = CounterEntry.objects.filter(
        kind=CounterEntry.Kind.ISSUE_UKEY, status=CounterEntry.Status.PENDING, serial__in=wanted
    ).values_list("serial", flat=True)
    return held | set(pending)


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


def counter_work(*, case: OnboardingCase) -> dict[str, Any]:
    """What the counter may still record in one visit: whether an identity check is needed (none
    confirmed or pending) and the operators who hold no key and have none pending."""
    entries = case_entry_list(case=case)
    live = (CounterEntry.Status.PENDING, CounterEntry.Status.CONFIRMED)
    identity_needed = not any(e.kind == CounterEntry.Kind.IDENTITY_CHECK and e.status in live for e in entries)
    pending_for = {
        e.operator_id
        for e in entries
        if e.kind == CounterEntry.Kind.ISSUE_UKEY and e.status == CounterEntry.Status.PENDING and e.replaces_id is None
    }
    operators = [
        o for o in active_operators(case=case) if o.pk not in pending_for and not any(k.in_use for k in o.ukeys.all())
    ]
    return {"identity_needed": identity_needed, "operators_without_key": operators}


def keys_to_activate(*, case: OnboardingCase) -> list[UKey]:
    """Keys issued (or downloaded) and not yet activated, with no activation pending, each with its operator."""
    pending = {
        e.ukey_id
        for e in case_entry_list(case=case)
        if e.kind == CounterEntry.Kind.CERT_ACTIVATION and e.status == CounterEntry.Status.PENDING
    }
    keys = []
    for operator in active_operators(case=case):
        for key in operator.ukeys.all():
            if key.status in (UKey.Status.ISSUED, UKey.Status.DOWNLOADED) and key.pk not in pending:
                key.operator = operator
                keys.append(key)
    return keys
