"""The case list as its readers see it, computed for every request (issue 26).

What is kept between requests (the filter's options: the subtree's branches and account
managers) follows every change at the next request; what is written in Python (the rows, the
options, the forecast cells) is escaped as the templates did; the count says how many cases
the filters select.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from branches.roles import Role
from onboarding import selectors
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
