"""Reads of the audit app.

`audit_events` merges the case history (onboarding.CaseEvent) and the access events of
this app into one list of dicts, newest first, so the audit page and the CSV export
page and stream the same rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from branches.models import Branch
from branches.roles import Role, has_role
from branches.scope import subtree_q
from companies.models import CompanyVersion, Enterprise
from config import keyset
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.selectors import case_ids_matching

from .models import AccessEvent, BreakGlassGrant
from .services import may_break_glass


def is_auditor(user: Any) -> bool:
    return bool(
        getattr(user, "is_authenticated", False) and user.branch_id is not None and has_role(user, Role.AUDITOR)
    )


def case_for_break_glass(*, user: Any, public_id: Any) -> OnboardingCase:
    """Any case, for a staff member about to state a reason; 404 for everyone else."""
    if not may_break_glass(user):
        raise Http404("no such case")
    try:
        return OnboardingCase.objects.select_related("enterprise", "branch").get(public_id=public_id)
    except (OnboardingCase.DoesNotExist, ValueError):
        raise Http404("no such case") from None


def active_grant(*, user: Any, case: OnboardingCase) -> BreakGlassGrant | None:
    return (
        BreakGlassGrant.objects.filter(user_id=user.pk, case=case, expires_at__gt=timezone.now())
        .order_by("-expires_at")
        .first()
    )


def case_get_with_grant(*, user: Any, public_id: Any) -> tuple[OnboardingCase, BreakGlassGrant]:
    """The case behind a live break-glass grant of this user; 404 without one."""
    case = case_for_break_glass(user=user, public_id=public_id)
    grant = active_grant(user=user, case=case)
    if grant is None:
        raise Http404("no grant")
    return case, grant


# Every column is an annotation with the same name, in the same order, on both sides of the
# UNION: SQL matches the two sides by position. Each side carries only its own table's columns
# and the ids of the person and the case: the names behind those ids are joined once, to the
# page's rows, around the union (`_LOOKUPS`), not on each side to every row it reads.
def _columns(qs: QuerySet, source: str, **cols: Any) -> QuerySet:
    blank = Value("", output_field=CharField())
    spec = {
        "src": Value(source, output_field=CharField()),
        "ev_id": F("pk"),
        "at": F("created_at"),
        "ev_kind": F("kind"),
        "ev_name": cols.get("ev_name", blank),
        "typed_username": cols.get("typed_username", blank),
        "from_st": cols.get("from_st", blank),
        "to_st": cols.get("to_st", blank),
        "why": F("reason"),
        "address": cols.get("address", blank),
        "page": cols.get("page", blank),
        "who_id": F("actor_id"),
        "case_key": F("case_id"),
    }
    return qs.order_by().annotate(**spec).values(*spec)


_SIDE_COLUMNS = (
    "src",
    "ev_id",
    "at",
    "ev_kind",
    "ev_name",
    "typed_username",
    "from_st",
    "to_st",
    "why",
    "address",
    "page",
)

# What each row shows of its person and case, looked up by id around the union. The case's
# version of the company data (the approved one past intake), as the case page shows it.
_LOOKUPS = (
    ("who", "au.{username}"),
    ("who_name", "au.{display_name}"),
    ("case_ref", "c.{reference}"),
    ("case_uuid", "c.{public_id}"),
    ("company", "COALESCE(cv.{name}, e.{name})"),
    ("branch_name", "b.{name}"),
)


def _with_lookups(events: QuerySet, *, order: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of the (ordered, cut) union `events`, each with its person's and case's names.

    One statement: `SELECT … FROM (<union>) u LEFT JOIN <user, case, company version,
    enterprise, branch>`. Joined on each side of the union instead, PostgreSQL planned two
    six-table joins for every page (3–14 ms of planning, and as long again starting them) to
    look up 51 rows' names.
    """
    user_table = get_user_model()._meta.db_table
    qn = connection.ops.quote_name
    inner_sql, params = events.query.get_compiler(using=events.db).as_sql()
    names = {n: qn(n) for n in ("username", "display_name", "reference", "public_id", "name")}
    columns = [f"u.{qn(c)}" for c in _SIDE_COLUMNS] + [
        expr.format(**names) + f" AS {qn(alias)}" for alias, expr in _LOOKUPS
    ]
    order_sql = ", ".join(f"u.{qn(o.lstrip('-'))} {'DESC' if o.startswith('-') else 'ASC'}" for o in order)
    # Names and the ORM's compiled union, never input: the filters' values are parameters.
    sql = (
        f"SELECT {', '.join(columns)} FROM ({inner_sql}) u"  # noqa: S608
        f" LEFT JOIN {qn(user_table)} au ON au.{qn('id')} = u.{qn('who_id')}"
        f" LEFT JOIN {qn(OnboardingCase._meta.db_table)} c ON c.{qn('id')} = u.{qn('case_key')}"
        f" LEFT JOIN {qn(CompanyVersion._meta.db_table)} cv ON cv.{qn('id')} = c.{qn('company_version_id')}"
        f" LEFT JOIN {qn(Enterprise._meta.db_table)} e ON e.{qn('id')} = c.{qn('enterprise_id')}"
        f" LEFT JOIN {qn(Branch._meta.db_table)} b ON b.{qn('id')} = c.{qn('branch_id')}"
        f" ORDER BY {order_sql}"
    )
    keys = [*_SIDE_COLUMNS, *(alias for alias, _expr in _LOOKUPS)]
    # What the ORM would convert (SQLite hands back text for times and UUIDs).
    converters = [
        (keys.index(key), _converters_of(field))
        for key, field in (
            ("at", CaseEvent._meta.get_field("created_at")),
            ("case_uuid", OnboardingCase._meta.get_field("public_id")),
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        raw = cursor.fetchall()
    rows = []
    for values in raw:
        values = list(values)
        for i, (field, funcs) in converters:
            for func in funcs:
                values[i] = func(values[i], field, connection)
        rows.append(dict(zip(keys, values, strict=True)))
    return rows


def _converters_of(field: Any) -> tuple[Any, list[Any]]:
    col = field.get_col(field.model._meta.db_table)
    return col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)


@dataclass(frozen=True)
class AuditKey:
    """Where a page of the log starts or ends: a row's time, source ("case"/"access") and id.

    The log's order is (time, source, id), newest first: ids alone repeat across the two
    tables. Written in a URL as `<microseconds since 1970>-<c|a><id>`.
    """

    at: dt.datetime
    src: str
    id: int

    def __str__(self) -> str:
        return f"{keyset.micros(self.at)}-{self.src[0]}{self.id}"

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> AuditKey:
        return cls(at=row["at"], src=row["src"], id=row["ev_id"])

    @classmethod
    def parse(cls, text: str | None) -> AuditKey | None:
        """The key in a URL; None for anything else (a hand-edited link starts at the top)."""
        try:
            stamp, rest = (text or "").split("-", 1)
            src = {"c": "case", "a": "access"}[rest[:1]]
            return cls(at=keyset.from_micros(int(stamp)), src=src, id=int(rest[1:]))
        except (KeyError, ValueError, OverflowError):
            return None


def _side_q(src: str, key: AuditKey, *, descending: bool) -> Q:
    """The rows of one side of the union that come after `key` in the log's order."""
    if src == key.src:
        return keyset.after_q("created_at", key.at, key.id, descending=descending)
    # Same instant, other source: "case" sorts above "access" (the order is by source too).
    if descending:
        return Q(created_at__lte=key.at) if src < key.src else Q(created_at__lt=key.at)
    return Q(created_at__gte=key.at) if src > key.src else Q(created_at__gt=key.at)


LOG_ORDER = ("-at", "-src", "-ev_id")
LOG_ORDER_UP = ("at", "src", "ev_id")


# How many cases a search of the log by case matches at most (a company name shared by more
# than this is no search for one case's record).
CASES_MATCHED = 200


def audit_events(
    *,
    case: str = "",
    person: str = "",
    branch: Branch | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    after: AuditKey | None = None,
    before: AuditKey | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Case events and access events, newest first (`LOG_ORDER`), at most `limit` of them.

    Keyset pages: `after` a key, the older rows; `before` a key, the newer ones, oldest first
    (`LOG_ORDER_UP`: the caller reverses them). `limit`: only that many rows are wanted. On
    PostgreSQL each side is then cut to its own `limit` rows past the key, read along its
    (created_at, id) index, before the union is sorted: a page reads about `limit` rows of
    each table however deep it is, instead of sorting every event ever recorded.
    """
    case_q = Q()
    access_q = Q()
    if case:
        # The matching cases first (reference, credit code or company name, on their indexes: a
        # handful of ids), then their events newest first along the events' (case, created_at,
        # id) indexes: a page of a case read thousands of times reads a page, not every read
        # sorted. Not every event tested against the text.
        by_case = Q(case_id__in=[row["pk"] for row in case_ids_matching(case)[:CASES_MATCHED]])
        case_q &= by_case
        access_q &= by_case
    if person:
        person = person.strip()
        # The people first (a handful of ids): their events are then read newest first along
        # the (actor, created_at, id) indexes, whatever else the log holds.
        people = list(
            get_user_model()
            .objects.filter(Q(username__iexact=person) | Q(display_name=person))
            .values_list("pk", flat=True)
        )
        by_person = Q(actor_id__in=people)
        case_q &= by_person
        access_q &= by_person | Q(username__iexact=person)
    if branch is not None:
        case_q &= subtree_q("case__branch", branch)
        access_q &= subtree_q("case__branch", branch) | (Q(case__isnull=True) & subtree_q("actor__branch", branch))
    tz = timezone.get_current_timezone()
    if date_from:
        start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
        case_q &= Q(created_at__gte=start)
        access_q &= Q(created_at__gte=start)
    if date_to:
        end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        case_q &= Q(created_at__lt=end)
        access_q &= Q(created_at__lt=end)
    case_events = _columns(
        CaseEvent.objects.filter(case_q),
        "case",
        ev_name=F("name"),
        from_st=F("from_state"),
        to_st=F("to_state"),
    )
    access_events = _columns(
        AccessEvent.objects.filter(access_q),
        "access",
        # What was read: the page or API call (its URL name), from the row's data.
        ev_name=Coalesce(Cast(KT("data__view"), CharField()), Value("", output_field=CharField())),
        typed_username=F("username"),
        address=F("ip"),
        page=F("path"),
    )
    descending = before is None
    key = after or before
    if key is not None:
        case_events = case_events.filter(_side_q("case", key, descending=descending))
        access_events = access_events.filter(_side_q("access", key, descending=descending))
    order = LOG_ORDER if descending else LOG_ORDER_UP
    if limit is not None and connection.features.supports_slicing_ordering_in_compound:
        side_order = ("-at", "-ev_id") if descending else ("at", "ev_id")
        case_events = case_events.order_by(*side_order)[:limit]
        access_events = access_events.order_by(*side_order)[:limit]
    union = case_events.union(access_events, all=True).order_by(*order)
    if limit is not None:
        union = union[:limit]
    return _with_lookups(union, order=order)


# What each read is, by the URL name the access event names (`data["view"]`); lazy labels.
READ_VIEWS: dict[str, Any] = {
    "case_detail": _("员工案件页"),
    "case_edit": _("员工案件编辑页"),
    "portal:case_detail": _("门户案件页"),
    "portal:case_edit": _("门户案件编辑页"),
    "document_detail": _("文件页"),
    "document_download": _("文件下载"),
    "document_view": _("文件在线查看"),
    "api:case_list": _("API 案件列表"),
    "api:case_detail": _("API 案件详情"),
    "api:case_documents": _("API 文件列表"),
    "api:version_download": _("API 文件下载"),
}

# Lazy labels: str() here would freeze the language of whoever imported the module first.
KIND_LABELS: dict[str, Any] = {
    **dict(CaseEvent.Kind.choices),
    **dict(AccessEvent.Kind.choices),
}
