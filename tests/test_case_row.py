"""The case page's reads written once (`config.statements`, issue 26) give what the ORM gave.

`case_page_get` reads the case row by two statements written from the models, and the page's
lists (events, visits, test results, counter entries, messages, document versions) by
statements the ORM compiled once: each is compared here with the ORM's own read of the same
rows (every column's value after the database's converters, and the related objects cached on
them), and the row's scope keeps its allowed and refused sides.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from onboarding import selectors
from onboarding.models import CaseEvent, OnboardingCase, State
from onboarding.page_reads import page_reads
from portal.models import CaseMessage
from portal.selectors import case_messages_page
from tests.factories import enterprise, user


def _values(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_case_row_is_the_orms(world: Any) -> None:
    case = world.case(State.PRODUCTION_VERIFICATION)
    orm = (
        OnboardingCase.objects.select_related(
            "enterprise",
            "company_version",
            "branch__parent",
            "account_manager",
            "current_visit",
            "test_package__recorded_by",
            "production_config__recorded_by",
        )
        .prefetch_related("visits")
        .get(pk=case.pk)
    )
    for reader in (world.am_a, world.supervisor, world.approver, world.customer_x):
        read = selectors.case_page_get(user=reader, public_id=case.public_id)
        assert _values(read) == _values(orm)
        # Every related object the page uses came with the row: reading them asks nothing.
        with CaptureQueriesContext(connection) as ctx:
            pairs = [
                (read.enterprise, orm.enterprise),
                (read.company_version, orm.company_version),
                (read.branch, orm.branch),
                (read.branch.parent, orm.branch.parent),
                (read.account_manager, orm.account_manager),
                (read.current_visit, orm.current_visit),
            ]
            one_to_ones = [
                (getattr(read, n, None), getattr(orm, n, None)) for n in ("test_package", "production_config")
            ]
            visits = list(read.visits.all())
        assert ctx.captured_queries == []
        for mine, theirs in pairs + one_to_ones:
            assert (mine is None) == (theirs is None)
            if mine is not None:
                assert _values(mine) == _values(theirs)
        for mine, _theirs in one_to_ones:
            if mine is not None:
                assert mine.case is read
                assert (mine.recorded_by is None) == (mine.recorded_by_id is None)
        assert [_values(v) for v in visits] == [_values(v) for v in orm.visits.all()]
        assert all(v.case is read for v in visits)
        assert read.has_change_requests is False
        assert (
            read.latest_company_version_id
            == orm.enterprise.versions.order_by("-number").values_list("pk", flat=True).first()
        )


def test_case_row_keeps_its_scope(world: Any) -> None:
    mine = world.case(State.BRANCH_INTAKE)
    theirs = world.case(State.BRANCH_INTAKE, company=world.company_y)
    assert theirs.branch_id == world.branch_b.pk
    # Allowed: the case's branch and every branch above it; the case's own company.
    for reader in (world.am_a, world.supervisor, world.approver, world.auditor):
        assert selectors.case_page_get(user=reader, public_id=mine.public_id).pk == mine.pk
    assert selectors.case_page_get(user=world.customer_x, public_id=mine.public_id).pk == mine.pk
    # Refused: another subtree, another company, no role, an inactive user, nobody.
    nobody = user("no_role", branch=world.head_office)
    inactive = user("gone", "head_office_approver", branch=world.head_office)
    inactive.is_active = False
    for reader in (world.am_a, world.supervisor, world.customer_x, nobody, inactive, AnonymousUser()):
        with pytest.raises(Http404):
            selectors.case_page_get(user=reader, public_id=theirs.public_id)
    with pytest.raises(Http404):
        selectors.case_page_get(user=world.customer_y, public_id=mine.public_id)


def test_branch_path_prefix_is_a_prefix_not_a_pattern(world: Any) -> None:
    """The scope's `LIKE` takes the reader's path as text: `_` or `%` in it match only themselves."""
    from config.statements import like_prefix

    _like, prefix = like_prefix("/1_2%/")
    assert prefix.endswith("%")
    assert prefix[:-1] != "/1_2%/"  # escaped


def test_page_lists_are_the_orms(world: Any) -> None:
    case = world.case(State.JOINT_TESTING)
    for n in range(25):
        CaseMessage.objects.create(case=case, author=world.customer_x, from_customer=True, body=f"留言{n}")
    page_reads(case)
    recent, _sla, events = selectors.case_page_events(case=case)
    orm_events = list(selectors.case_timeline(case=case))
    assert [_values(e) for e in events if e in orm_events] == [_values(e) for e in orm_events if e in events]
    assert [e.pk for e in recent.events] == [e.pk for e in orm_events[-selectors.CASE_PAGE_EVENTS :]]
    assert all(e.actor_id is None or e.actor.pk == e.actor_id for e in events)
    page = case_messages_page(case=case, newest=True)
    orm_messages = list(CaseMessage.objects.filter(case=case).order_by("created_at", "pk"))
    assert [_values(m) for m in page.rows] == [_values(m) for m in orm_messages[-20:]]
    assert page.older == orm_messages[-20].pk and page.newer is None
    assert all(m.author.pk == m.author_id for m in page.rows)
    results = selectors.case_test_results(case=case)
    orm_results = list(case.test_results.select_related("recorded_by").order_by("recorded_at", "pk"))
    assert [_values(r) for r in results] == [_values(r) for r in orm_results]
    assert CaseEvent.objects.filter(case=case).exists()


def test_other_company_case_page_is_refused_over_http(world: Any, client: Any) -> None:
    theirs = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_b, name="丙公司"))
    client.force_login(world.customer_x)
    assert client.get(f"/portal/cases/{theirs.public_id}/").status_code == 404


@pytest.mark.parametrize("state", [State.DRAFT, State.JOINT_TESTING, State.LIVE])
def test_case_row_one_to_ones_visits_and_live_link_are_two_reads(world: Any, state: str) -> None:
    """The case row, then its one-to-ones with its visits (a row per visit) and, at a live end,
    its live link: two reads whatever the stage and however many visits, the visits in order."""
    case = world.case(state)
    with CaptureQueriesContext(connection) as ctx:
        read = selectors.case_page_get(user=world.am_a, public_id=case.public_id)
        visits = list(read.visits.all())
        _ = [read.branch.parent, getattr(read, "test_package", None), getattr(read, "live_link", None)]
    assert len(ctx.captured_queries) == 2, [q["sql"][:80] for q in ctx.captured_queries]
    assert [v.pk for v in visits] == list(case.visits.order_by("entered_at", "pk").values_list("pk", flat=True))
    assert visits and all(v.case is read for v in visits)
