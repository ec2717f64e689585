"""Writes of the audit app: access events and break-glass grants (append-only rows)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from allauth.core.internal.httpkit import get_client_ip
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import STAFF_ROLES, user_roles
from config.statements import read_cursor
from onboarding.models import OnboardingCase
from onboarding.selectors import case_visible_q
from onboarding.services import CaseError

from .models import AccessEvent, BreakGlassGrant

MIN_REASON_LENGTH = 10


def client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    try:
        return get_client_ip(request) or ""
    except (ImproperlyConfigured, ValueError):  # a malformed proxy header must not lose the row
        return ""


def access_event(
    *,
    kind: str,
    actor: Any = None,
    username: str = "",
    case: OnboardingCase | None = None,
    reason: str = "",
    request: HttpRequest | None = None,
    data: dict[str, Any] | None = None,
) -> AccessEvent:
    """An access event, not yet saved (`access_record` saves one, `access_events_save` several)."""
    if actor is not None and not username:
        username = actor.get_username()
    return AccessEvent(
        kind=kind,
        actor=actor,
        username=username[:150],
        case=case,
        reason=reason,
        ip=client_ip(request),
        path=request.get_full_path()[:300] if request is not None else "",
        data=data or {},
    )


def access_record(
    *,
    kind: str,
    actor: Any = None,
    username: str = "",
    case: OnboardingCase | None = None,
    reason: str = "",
    request: HttpRequest | None = None,
    data: dict[str, Any] | None = None,
) -> AccessEvent:
    """Save one access event (every case page's read writes one: the evidence of issue 25).

    The INSERT is written once per process from the model's fields (`_insert`), not built by
    the ORM on every request (about 0.3 ms of CPU a page): the same columns and values as
    `event.save()` writes (each field's `pre_save` and `get_db_prep_save`), the id read back."""
    event = access_event(
        kind=kind, actor=actor, username=username, case=case, reason=reason, request=request, data=data
    )
    return _save_one(event)


def _save_one(event: AccessEvent) -> AccessEvent:
    """`event` saved by the INSERT written once per process (`_insert`)."""
    sql, fields, returning = _insert(connection.vendor)
    params = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in fields]
    # Prepared on its connection where reads are (`read_cursor`): every value is a parameter, so
    # PostgreSQL's one plan for it is the plan; parsing and planning it per page bought nothing.
    with transaction.mark_for_rollback_on_error(connection.alias), read_cursor() as cursor:
        cursor.execute(sql, params)
        if returning:
            pk = cursor.fetchone()[0]
        else:
            pk = connection.ops.last_insert_id(cursor, AccessEvent._meta.db_table, str(AccessEvent._meta.pk.column))
    event.pk = pk
    event._state.adding = False
    event._state.db = connection.alias
    return event


@functools.cache
def _insert(vendor: str) -> tuple[str, list[Any], bool]:
    """The access event's INSERT on this database (every column but the id), its fields in
    order, and whether it returns the new id (else the driver's last row id gives it)."""
    meta = AccessEvent._meta
    q = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    sql = (
        f"INSERT INTO {q(meta.db_table)} ({', '.join(q(str(f.column)) for f in fields)}) "  # noqa: S608 (names from the model)
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    returning = bool(connection.features.can_return_columns_from_insert)
    if returning:
        sql += f" RETURNING {q(str(meta.pk.column))}"
    return sql, fields, returning


def access_events_save(events: list[AccessEvent]) -> list[AccessEvent]:
    """Several access events of one request (a list read: one per case shown) in one INSERT.

    On PostgreSQL the INSERT is `bulk_create`'s own (`… SELECT * FROM UNNEST(%s::type[], …)`,
    one array per column whatever the number of rows) written once per process (`_insert_many`)
    and prepared on its connection: the ORM built it in ~2 ms of CPU for an API list of 50
    cases and PostgreSQL planned it on every call. The same values as `bulk_create` writes (each
    field's `pre_save` and `get_db_prep_save`), the ids read back in the rows' order."""
    if len(events) == 1:  # an API call that listed nothing: `access_record`'s INSERT
        _save_one(events[0])
        return events
    if not events or connection.vendor != "postgresql":
        return AccessEvent.objects.bulk_create(events)
    sql, fields = _insert_many()
    columns: list[list[Any]] = [[] for _ in fields]
    for event in events:
        for column, f in zip(columns, fields, strict=True):
            column.append(f.get_db_prep_save(f.pre_save(event, True), connection))
    with transaction.mark_for_rollback_on_error(connection.alias), read_cursor() as cursor:
        cursor.execute(sql, columns)
        pks = [row[0] for row in cursor.fetchall()]
    for event, pk in zip(events, pks, strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias
    return events


def access_reads_save(call: AccessEvent, read: AccessEvent, case_ids: list[int]) -> None:
    """An API call's event and a read of each case it listed (by id): `read` for every case,
    but for its case, saved after `call` (its id first, as before).

    On PostgreSQL both are one statement (`_insert_call_and_reads`, written once per process and
    prepared): the call's INSERT as a CTE, then `read`'s values with the cases' ids unnested,
    which reads the call's row first, so the call has the lowest id. The values are worked out
    once rather than for each of 50 rows, no model instance is made per case (a list of 50 cost
    ~2.5 ms of CPU in per-row field preparation and the driver's dumping of nine arrays), and one
    commit is flushed where two were (the two INSERTs took 4.3 ms on the client, 0.8 of it
    PostgreSQL's work)."""
    if not case_ids or connection.vendor != "postgresql":
        rows = [call] + [
            AccessEvent(**{f.attname: getattr(read, f.attname) for f in _fields()}, case_id=pk) for pk in case_ids
        ]
        access_events_save(rows)
        return
    sql, call_fields, read_fields = _insert_call_and_reads()
    params = [f.get_db_prep_save(f.pre_save(call, True), connection) for f in call_fields]
    params += [f.get_db_prep_save(f.pre_save(read, True), connection) for f in read_fields]
    params.append(list(case_ids))
    with transaction.mark_for_rollback_on_error(connection.alias), read_cursor() as cursor:
        cursor.execute(sql, params)
        call.pk = cursor.fetchone()[0]
    call._state.adding = False
    call._state.db = connection.alias


def _fields() -> list[Any]:
    """The access event's columns but the id and the case (set per row)."""
    meta = AccessEvent._meta
    return [f for f in meta.concrete_fields if f is not meta.pk and f.name != "case"]


@functools.cache
def _insert_call_and_reads() -> tuple[str, list[Any], list[Any]]:
    """An API call's access event and one read for each case id of an array, in the array's
    order, in one statement (PostgreSQL); it returns the call's id."""
    meta = AccessEvent._meta
    q = connection.ops.quote_name
    call_sql, call_fields, _ = _insert("postgresql")
    fields = _fields()
    case_column = q(str(meta.get_field("case").column))
    pk = q(str(meta.pk.column))
    values = ", ".join(f"%s::{str(f.db_type(connection)).split('(')[0]}" for f in fields)
    sql = (
        f"WITH call AS ({call_sql}) "  # noqa: S608 (names from the model)
        f"INSERT INTO {q(meta.db_table)} ({', '.join(q(str(f.column)) for f in fields)}, {case_column}) "
        f"SELECT {values}, u.id FROM call, UNNEST(%s::bigint[]) WITH ORDINALITY AS u(id, n) ORDER BY u.n "
        f"RETURNING (SELECT {pk} FROM call)"
    )
    return sql, call_fields, fields


@functools.cache
def _insert_many() -> tuple[str, list[Any]]:
    """The access events' INSERT of any number of rows on PostgreSQL, as `bulk_create` writes it."""
    meta = AccessEvent._meta
    q = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    arrays = ", ".join(f"(%s)::{str(f.db_type(connection)).split('(')[0]}[]" for f in fields)
    sql = (
        f"INSERT INTO {q(meta.db_table)} ({', '.join(q(str(f.column)) for f in fields)}) "  # noqa: S608 (names from the model)
        f"SELECT * FROM UNNEST({arrays}) RETURNING {q(str(meta.pk.column))}"
    )
    return sql, fields


def may_break_glass(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.branch_id is not None
        and user_roles(user) & STAFF_ROLES
    )


def break_glass_open(
    *, user: Any, case: OnboardingCase, ground: str, reason: str, request: HttpRequest | None = None
) -> BreakGlassGrant:
    """Open `case` read-only to `user` for BREAK_GLASS_MINUTES, with the reason on record.

    Only for cases outside the user's ordinary scope: inside it there is nothing to break.
    """
    if not may_break_glass(user):
        raise CaseError(_("只有银行员工可以申请越权查阅。"))
    if OnboardingCase.objects.filter(case_visible_q(user), pk=case.pk).exists():
        raise CaseError(_("该案件在您的管辖范围内,无需越权查阅。"))
    reason = reason.strip()
    problems = []
    if ground not in BreakGlassGrant.Ground.values:
        problems.append(_("请选择查阅依据。"))
    if len(reason) < MIN_REASON_LENGTH:
        problems.append(_("请说明查阅事由(至少 %(n)d 个字)。") % {"n": MIN_REASON_LENGTH})
    if problems:
        raise CaseError(_("不能越权查阅。"), problems)
    now = timezone.now()
    grant = BreakGlassGrant.objects.create(
        user=user,
        case=case,
        ground=ground,
        reason=reason,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=settings.BREAK_GLASS_MINUTES),
    )
    access_record(
        kind=AccessEvent.Kind.BREAK_GLASS,
        actor=user,
        case=case,
        reason=reason,
        request=request,
        data={"ground": ground, "grant": grant.pk, "expires_at": grant.expires_at.isoformat()},
    )
    return grant
