"""Reads for the counter panel and the expiry list, scoped like every case read."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from config.frozen import OWNER, frozen
from config.statements import Prepared, Statement, prepared, read_cursor
from onboarding.models import OnboardingCase
from onboarding.page_reads import marked, prime, read_once
from onboarding.selectors import case_visible_q

from .models import CounterEntry, Operator, UKey

EXPIRY_WINDOW_DAYS = 30


def case_entries(*, case: OnboardingCase) -> QuerySet[CounterEntry]:
    return case.counter_entries.select_related("maker", "checker", "operator", "ukey__operator", "replaces").order_by(
        "-made_at", "-pk"
    )


ANSWERED_KEY = "counter.entries.answered_for"


def case_entry_list(
    *, case: OnboardingCase, reader: Any = None, answered_for: Callable[[Any], Q] | None = None
) -> list[CounterEntry]:
    """The case's counter entries, newest first; read once per case page (`onboarding.page_reads`).

    On a case page, which reads the case's operators with their keys anyway (`case_operators`:
    the guards, the counter panel and its forms), each entry's operator, key and replaced key
    are taken from those rather than joined again: four joins fewer, about a millisecond of
    building the query. Read for a `reader` (the counter panel, giving `rules.answered_for_q` as
    `answered_for`), each entry also says whether that reader answers for it (`answers_for`: a
    pending entry they made or stand in for), and the page's memo names the reader
    (`ANSWERED_KEY`): no second query for it."""

    def read() -> list[CounterEntry]:
        if not marked(case):
            return list(case_entries(case=case))
        operators = case_operators(case=case)
        if reader is not None and answered_for is not None:
            entries = _entries_answered(case.pk, reader.pk, answered_for)
            prime(case, ANSWERED_KEY, reader.pk)
        else:
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


def _entries_answered(case_id: int, user_id: int, answered_for_q: Callable[[Any], Q]) -> list[CounterEntry]:
    """`_entries_read`'s entries, each with `answers_for` (whether the user answers for it, a
    pending one), by a statement compiled once a day per process (`config.frozen`): the
    stand-ins' filters (absences) hold the day's date."""
    from types import SimpleNamespace

    def build(case_id: int, user_id: int) -> QuerySet[CounterEntry]:
        answers = Q(status=CounterEntry.Status.PENDING) & answered_for_q(SimpleNamespace(pk=user_id))
        return (
            CounterEntry.objects.filter(case_id=case_id)
            .select_related("maker", "checker")
            .annotate(answers=ExpressionWrapper(answers, output_field=BooleanField()))
            .order_by("-made_at", "-pk")
        )

    read = frozen(f"counter.case_entries_answered:{timezone.localdate().isoformat()}", build, [OWNER, OWNER - 1])
    at = read.compiler.annotation_col_map["answers"]
    db = connection.alias
    entries = []
    for row in read._rows([case_id, user_id]):
        entry = CounterEntry.from_db(db, read.init_list, row[read.start : read.end])
        for populator in read.populators:
            populator.populate(row, entry)
        entry.answers_for = bool(row[at])  # type: ignore[attr-defined]
        entries.append(entry)
    return entries


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
        # One statement for the operators and their keys (the operators' table joined to the
        # keys', a row per key or one for an operator without): the page reads both whatever the
        # case holds, so its number of queries does not depend on the case's data (issue 26).
        statement, order = _operators_statement()
        with read_cursor() as cursor:
            cursor.execute(f"{statement.head} WHERE {statement.column('case')} = %s ORDER BY {order}", [case.pk])
            rows = cursor.fetchall()
        operators: list[Operator] = []
        keys: dict[int, list[UKey]] = {}
        for row in rows:
            operator, key = statement.objects(row)[:2]
            operator._state.fields_cache.pop("ukeys", None)  # the join's, not a relation's cache
            if operator.pk not in keys:
                operator._state.fields_cache["case"] = case  # as `case.operators` would
                operators.append(operator)
                keys[operator.pk] = []
            if key is not None:
                key._state.fields_cache["operator"] = operators[-1]
                keys[operator.pk].append(key)
        for o in operators:  # their keys as `prefetch_related("ukeys")` would hold them
            qs = o.ukeys.all()
            qs._result_cache = keys[o.pk]
            qs._prefetch_done = True  # type: ignore[attr-defined]
            o._prefetched_objects_cache = {"ukeys": qs}  # type: ignore[attr-defined]
        return operators

    return read_once(case, OPERATORS_KEY, read)


@functools.cache
def _operators_statement_of(vendor: str) -> tuple[Statement, str]:
    statement = Statement(
        Operator, ["ukeys", "ukeys__issued_entry__maker", "ukeys__issued_entry__checker", "ukeys__replaces"]
    )
    # The operators as `order_by("removed_at", "pk")` lists them, each one's keys as
    # `order_by("issued_at", "pk")` does.
    order = ", ".join(
        f"{statement.column(name, path)} ASC"
        for path, name in (("", "removed_at"), ("", "id"), ("ukeys", "issued_at"), ("ukeys", "id"))
    )
    return statement, order


def _operators_statement() -> tuple[Statement, str]:
    """The case's operators left-joined to their keys, each key with who issued it and the key it
    replaced, written once per process (`config.statements.Statement`)."""
    return _operators_statement_of(connection.vendor)


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
