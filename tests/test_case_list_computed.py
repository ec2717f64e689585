"""The case list as its readers see it, computed for every request (issue 26).

What is kept between requests (the filter's options: the subtree's branches and account
managers) follows every change at the next request; what is written in Python (the rows, the
options, the forecast cells) is escaped as the templates did; the count says how many cases
the filters select.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from branches.roles import Role
from onboarding import selectors
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.factories import enterprise, user


def _options(page: str, name: str) -> list[tuple[str, str]]:
    """The (value, shown text) of each option of a select of the filter form."""
    block = page[page.index(f'<select name="{name}"') :]
    block = block[: block.index("</select>")]
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', block)


def _page(client, **params: str) -> str:
    response = client.get(reverse("case_list"), params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_filter_options_follow_new_people_renamed_branches_and_roles_taken_away(client, world) -> None:
    client.force_login(world.supervisor)
    page = _page(client)
    managers = _options(page, "account_manager")
    assert managers[0] == ("", "全部") and (str(world.am_a.pk), str(world.am_a)) in managers
    assert (str(world.branch_a.pk), world.branch_a.name) in _options(page, "branch")
    # The next request reads neither the branches nor the people again (kept in the cache).
    with CaptureQueriesContext(connection) as reads:
        _page(client)
    sql = "\n".join(q["sql"] for q in reads.captured_queries)
    assert '"branches_branch"."name"' not in sql and '"accounts_user"."username"' not in sql

    newcomer = user("am_new", Role.ACCOUNT_MANAGER, branch=world.branch_a)
    assert (str(newcomer.pk), "am_new") in _options(_page(client), "account_manager")

    newcomer.display_name = "新来的客户经理"
    newcomer.save()
    assert (str(newcomer.pk), "新来的客户经理") in _options(_page(client), "account_manager")

    world.branch_a.name = "改名后的支行"
    world.branch_a.save()
    assert (str(world.branch_a.pk), "改名后的支行") in _options(_page(client), "branch")

    newcomer.groups.remove(Group.objects.get(name=Role.ACCOUNT_MANAGER))
    assert str(newcomer.pk) not in dict(_options(_page(client), "account_manager"))
    # Filtering by someone no longer offered is refused, as for any value not offered.
    page = _page(client, account_manager=str(newcomer.pk))
    assert "msg error" in page and "筛选条件有误,请更正后再查询。" in page


def test_names_with_markup_are_shown_as_text(client, world) -> None:
    company = enterprise(world.branch_a, name='<b>"甲&乙"</b>有限公司')
    case = world.case(State.BRANCH_INTAKE, company=company)
    world.am_a.display_name = "<i>王&五</i>"
    world.am_a.save()
    world.branch_a.name = "A&B<支行>"
    world.branch_a.save()
    client.force_login(world.supervisor)
    page = _page(client)
    row = page[page.index(f">{case.reference}</a>") :]
    row = row[: row.index("</tr>")]
    assert f"<td>{escape(company.name)}<div" in row and company.name not in page
    assert f"<td>{escape('A&B<支行>')}</td>" in row and f"<td>{escape('<i>王&五</i>')}</td>" in row
    assert (str(world.branch_a.pk), escape("A&B<支行>")) in _options(page, "branch")
    assert (str(world.am_a.pk), escape("<i>王&五</i>")) in _options(page, "account_manager")
    assert "<i>王" not in page and "A&B<" not in page


def test_the_count_is_what_the_filters_select(client, world) -> None:
    world.case(State.BRANCH_INTAKE)
    world.case(State.DRAFT)
    world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_b, name="乙方公司"))
    client.force_login(world.approver)
    for params in (
        {},
        {"state": State.BRANCH_INTAKE},
        {"branch": str(world.tier1.pk)},
        {"branch": str(world.tier1.pk), "state": State.DRAFT},
        {"branch": str(world.branch_b.pk)},
    ):
        expected = selectors.case_filter(
            selectors.case_list(user=world.approver),
            state=params.get("state", ""),
            branch=type(world.tier1).objects.get(pk=params["branch"]) if "branch" in params else None,
        ).count()
        assert f"共 {expected} 件" in _page(client, **params), params


def _references(page: str) -> list[str]:
    """The case references the list shows, in its order."""
    return re.findall(r'<td><a href="/cases/[^"]+/">([^<]+)</a></td>', page)


def test_each_row_names_its_manager_also_when_the_filter_does_not_offer_them(client, world) -> None:
    """The rows take the account managers' and branches' names from the filter's options, and
    read only those the options lack: a manager of another subtree, or no longer a manager."""
    offered = world.case(State.BRANCH_INTAKE)
    other_subtree = world.case(State.BRANCH_INTAKE)
    no_longer = world.case(State.DRAFT)
    world.am_b.display_name = "乙支行的<经理>"
    world.am_b.save()
    OnboardingCase.objects.filter(pk=other_subtree.pk).update(account_manager=world.am_b)
    OnboardingCase.objects.filter(pk=no_longer.pk).update(account_manager=world.am_a2)
    world.am_a2.groups.remove(Group.objects.get(name=Role.ACCOUNT_MANAGER))
    client.force_login(world.supervisor)
    page = _page(client)
    assert str(world.am_b.pk) not in dict(_options(page, "account_manager"))
    assert str(world.am_a2.pk) not in dict(_options(page, "account_manager"))

    def row(case: OnboardingCase) -> str:
        cells = page[page.index(f">{case.reference}</a>") :]
        return cells[: cells.index("</tr>")]

    assert f"<td>{world.branch_a.name}</td>\n  <td>am_a</td>" in row(offered)
    assert f"<td>{escape('乙支行的<经理>')}</td>" in row(other_subtree)
    assert "<td>am_a2</td>" in row(no_longer)
    # With every manager and branch offered, the page reads no person and no branch name.
    OnboardingCase.objects.filter(pk__in=[other_subtree.pk, no_longer.pk]).update(account_manager=world.am_a)
    with CaptureQueriesContext(connection) as reads:
        page = _page(client)
    assert sorted(_references(page)) == sorted(c.reference for c in (offered, other_subtree, no_longer))
    sql = [q["sql"] for q in reads.captured_queries]
    rows = [q for q in sql if '"onboarding_onboardingcase"."public_id"' in q]
    assert len(rows) == 1 and '"accounts_user"' not in rows[0] and '"branches_branch"' not in rows[0]
    assert not any('"accounts_user"."id" IN' in q or '"branches_branch"."id" IN' in q for q in sql)


def test_head_offices_list_is_every_case_while_it_is_the_only_root(client, world) -> None:
    """Head office's subtree holds every branch, so its list reads every case unfiltered; a second
    root's branch (not head office's) takes that away at the next request."""
    from branches.models import BranchLevel
    from onboarding.models import StageVisit
    from tests.factories import branch

    def overdue(case: OnboardingCase) -> OnboardingCase:
        StageVisit.objects.filter(pk=case.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=3))
        return case

    cases = [overdue(world.case(State.BRANCH_INTAKE)), world.case(State.DRAFT)]
    cases.append(overdue(world.case(State.JOINT_TESTING, company=world.company_y)))
    client.force_login(world.approver)
    assert sorted(_references(_page(client))) == sorted(c.reference for c in cases)
    assert "共 3 件" in _page(client)

    elsewhere = branch(
        "E", BranchLevel.SUB_BRANCH, branch("E1", BranchLevel.BRANCH, branch("HO2", BranchLevel.HEAD_OFFICE))
    )
    moved = overdue(world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="别行公司")))
    OnboardingCase.objects.filter(pk=moved.pk).update(branch=elsewhere)
    for params, want in (({}, cases), ({"overdue": "on"}, [cases[0], cases[2]])):
        page = _page(client, **params)
        assert sorted(_references(page)) == sorted(c.reference for c in want), params
        assert f"共 {len(want)} 件" in page, params


def test_the_overdue_list_is_longest_overdue_first_for_every_reader(client, world) -> None:
    """On PostgreSQL the overdue list's page is found in `OpenStage` (its due time and case id
    kept beside the visit's): the order is the cases' own, longest overdue first, then by id."""
    from onboarding.models import StageVisit

    now = timezone.now()
    for days, state, company in (
        (2, State.BRANCH_INTAKE, world.company_x),
        (9, State.JOINT_TESTING, world.company_x),
        (5, State.UKEY_ISSUANCE, world.company_y),
        (9, State.BRANCH_INTAKE, world.company_y),
        (1, State.HEAD_OFFICE_APPROVAL, world.company_x),
    ):
        case = world.case(state, company=company)
        StageVisit.objects.filter(pk=case.current_visit_id).update(due_at=now - dt.timedelta(days=days))
    world.case(State.BRANCH_INTAKE)  # not overdue
    for who in (world.approver, world.supervisor, world.am_a, world.am_b):
        client.force_login(who)
        visible = OnboardingCase.objects.filter(selectors.case_visible_q(who))
        want = list(selectors.case_filter(visible, overdue=True).values_list("reference", flat=True))
        assert want and _references(_page(client, overdue="on")) == want, who


def test_every_list_pages_as_the_orms_list_for_every_reader(client, world) -> None:
    """The page's ids are written out (`selectors.CaseKeys`, the overdue list's from `OpenStage`
    on PostgreSQL, a search as the ORM compiled it once): for every reader and filter, each page shows the cases of the ORM's list
    (`case_list` filtered by `case_filter`) in its order, ties of creation and due times
    included, and the count says how many."""
    import math

    from branches.models import Branch
    from onboarding.models import StageVisit

    now = timezone.now()
    cases = [
        world.case(
            (State.BRANCH_INTAKE, State.DRAFT, State.HEAD_OFFICE_APPROVAL)[i % 3],
            company=(world.company_x, world.company_y)[i % 2],
        )
        for i in range(28)
    ]
    # Ties: a third of the cases created at one time, the overdue ones due two by two.
    OnboardingCase.objects.filter(pk__in=[c.pk for c in cases[::3]]).update(created_at=now - dt.timedelta(hours=1))
    OnboardingCase.objects.filter(pk__in=[c.pk for c in cases[1::4]]).update(account_manager=world.am_a2)
    for i, case in enumerate(cases[::2]):
        StageVisit.objects.filter(pk=case.current_visit_id).update(due_at=now - dt.timedelta(days=1 + i // 2))
    filters: list[dict[str, str]] = [
        {},
        {"state": State.BRANCH_INTAKE},
        {"branch": str(world.tier1.pk)},
        {"branch": str(world.branch_b.pk)},
        {"account_manager": str(world.am_a2.pk)},
        {"account_manager": str(world.am_a2.pk), "state": State.DRAFT},
        {"overdue": "on"},
        {"overdue": "on", "state": State.HEAD_OFFICE_APPROVAL},
        {"overdue": "on", "branch": str(world.branch_a.pk)},
        {"overdue": "on", "account_manager": str(world.am_a2.pk)},
        {"q": "乙公司"},
        {"q": " 公司 ", "state": State.DRAFT},
        {"q": cases[3].reference.lower()},
        {"q": "%"},
        {"q": "公司", "overdue": "on"},
    ]
    for who in (world.approver, world.supervisor, world.am_a, world.am_b):
        client.force_login(who)
        for params in filters:
            listed = selectors.case_filter(
                selectors.case_list(user=who),
                state=params.get("state", ""),
                branch=Branch.objects.get(pk=params["branch"]) if "branch" in params else None,
                account_manager_id=int(params["account_manager"]) if "account_manager" in params else None,
                overdue="overdue" in params,
                search=params.get("q", "").strip(),
            )
            want = list(listed.values_list("reference", flat=True))
            pages = max(1, math.ceil(len(want) / 25))
            for number in (1, 2):
                page = _page(client, page=str(number), **params)
                if "筛选条件有误" in page:  # a branch or manager this reader is not offered
                    assert _references(page) == [], (who, params)
                    continue
                shown = min(number, pages)  # past the last page: the last
                assert _references(page) == want[(shown - 1) * 25 : shown * 25], (who, params, number)
                assert f"共 {len(want)} 件" in page, (who, params)


def test_the_rows_read_by_id_are_the_orms_values(world) -> None:
    """The rows' statement compiled once (`config.frozen`, the ids as one list parameter) reads
    what the ORM's `values()` read, for no id, one, several and ids no case has."""
    cases = [world.case(State.BRANCH_INTAKE), world.case(State.DRAFT, company=world.company_y)]
    for ids in ([], [cases[0].pk], [c.pk for c in cases], [cases[1].pk, 987_654_321]):
        got = sorted(selectors.case_list_rows_by_id(ids), key=lambda row: row["pk"])
        orm = OnboardingCase.objects.filter(pk__in=ids).order_by("pk").values(*selectors.CASE_LIST_ROW_FIELDS)
        assert got == list(orm), ids
