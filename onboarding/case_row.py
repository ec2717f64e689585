"""The case page's case row: two statements written once per process (issue 26).

`selectors.case_page_get` read the case and its one-to-ones through the ORM in two queries of a
few joined tables each; building those two statements and their objects cost Django about
2.5 ms of CPU per page (5–7 ms under cProfile), several times their running. The same two
statements are written once from the models' metadata (`config.statements.Statement`: the
reader's scope and the case's id are parameters, never part of the text) and their rows turned
into the same model instances, with the same related objects cached on them, as
`select_related` would: the templates and panels see no difference.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection

from config.statements import Statement, prepared, quote, read_cursor


@functools.cache
def _statements(vendor: str, relations: tuple[str, ...]) -> tuple[Statement, Statement]:
    from companies.models import CompanyVersion

    from .models import ChangeRequest, OnboardingCase

    q = quote
    case = OnboardingCase._meta
    versions, requests = CompanyVersion._meta, ChangeRequest._meta
    latest = (
        f"SELECT v.{q(versions.pk.column)} FROM {q(versions.db_table)} v "  # noqa: S608 (names from the models)
        f"WHERE v.{q(versions.get_field('enterprise').column)} = t0.{q(case.get_field('enterprise').column)} "
        f"ORDER BY v.{q(versions.get_field('number').column)} DESC LIMIT 1"
    )
    exists = (
        f"EXISTS(SELECT 1 FROM {q(requests.db_table)} r "  # noqa: S608 (names from the models)
        f"WHERE r.{q(requests.get_field('case').column)} = t0.{q(case.pk.column)})"
    )
    row = Statement(
        OnboardingCase,
        ["enterprise", "company_version", "branch", "account_manager", "current_visit"],
        extra=[("latest_company_version_id", latest), ("has_change_requests", exists)],
        inner=["enterprise", "branch"],
    )
    others = Statement(
        OnboardingCase,
        ["branch__parent", "test_package__recorded_by", "production_config__recorded_by", *relations],
        inner=["branch"],
        known=["", "branch"],
        many="visits",
    )
    return row, others


def statements() -> tuple[Statement, Statement]:
    """The case row's two statements: the case with its company, company version, branch,
    account manager and current visit (and two facts about its company data); then its
    one-to-ones, the branch's parent and `page_reads.page_relations`, with its visits (one row
    a visit: `read_others`)."""
    from .page_reads import page_relations

    return _statements(connection.vendor, tuple(page_relations))


def read_others(others: Statement, case: Any) -> None:
    """The case's one-to-ones (cached on `case` and its branch, read before) and its visits
    (`prime_visits`), in one statement: a row per visit, in the visits' order."""
    from .models import StageVisit

    # The visits' own order (`StageVisit.Meta.ordering`), as `case.visits.all()` gives them.
    fields = [StageVisit._meta.pk.name if name == "pk" else str(name) for name in StageVisit._meta.ordering]  # type: ignore[union-attr]
    order = ", ".join(others.many_column(name) for name in fields)
    with read_cursor() as cursor:
        cursor.execute(f"{others.head} WHERE {others.column('id')} = %s ORDER BY {order}", [case.pk])
        rows = cursor.fetchall()
    others.objects(rows[0], known=[case, case.branch])
    prime_visits(case, others.many_objects(rows, case))


def prime_visits(case: Any, visits: list[Any] | None = None) -> None:
    """`prefetch_related_objects([case], "visits")` from a statement compiled once (or the
    visits given, read with the case's one-to-ones): the stage tracker and the time split read
    `case.visits.all()`."""
    from .models import StageVisit

    if "visits" in getattr(case, "_prefetched_objects_cache", {}):
        return
    if visits is None:
        read = prepared("visits", lambda owner: StageVisit.objects.filter(case_id=owner), StageVisit)
        visits = [objects[0] for objects in read.rows(case.pk)]
        remote = StageVisit._meta.get_field("case").cache_name
        for visit in visits:
            visit._state.fields_cache[remote] = case
    qs = case.visits.all()
    qs._result_cache = visits
    qs._prefetch_done = True
    if not hasattr(case, "_prefetched_objects_cache"):
        case._prefetched_objects_cache = {}
    case._prefetched_objects_cache["visits"] = qs
