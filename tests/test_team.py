"""A branch supervisor sees his subtree's team on the dashboard: who holds which open cases,
how many are overdue, which waits longest, each linked to the filtered case list."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from branches.roles import Role
from onboarding.models import OnboardingCase, StageVisit
from onboarding.states import CUSTOMER, State
from tests.factories import enterprise, user

ROW = re.compile(r'<tr class="team-row[^"]*">(.*?)</tr>', re.S)


def team(client, who) -> dict[str, dict[str, str]] | None:
    """The team table as read: {"who · role": {"cells": text, "html": row}}, None without the section."""
    client.force_login(who)
    page = client.get(reverse("home")).content.decode()
    client.logout()
    if 'id="team"' not in page:
        return None
    rows = {}
    for html in ROW.findall(page):
        cells = [
            re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
        ]
        rows[f"{cells[0]} · {cells[1]}"] = {"cells": cells, "html": html}
    return rows


def test_the_supervisor_sees_who_holds_what_in_his_subtree(client, world) -> None:
    intake = world.case(State.BRANCH_INTAKE)
    with freeze_time(timezone.now() - dt.timedelta(days=20)):  # its visit began then (never rewritten)
        late = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="迟到公司"))
    StageVisit.objects.filter(pk=late.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=9))
    world.case(State.JOINT_TESTING)  # waits on the customer, chased by am_a
    ukey = world.case(State.UKEY_ISSUANCE)
    world.case(State.BRANCH_INTAKE, company=world.company_y)  # branch B: another supervisor's

    rows = team(client, world.supervisor)
    assert rows is not None
    am = rows["am_a · 客户经理 · A机构"]["cells"]
    assert am[2] == "2"  # held: the two intake cases
    assert am[3] == "1"  # one overdue
    assert am[4] == "1"  # one waiting on the customer
    assert late.reference in am[5] and "已超时" in am[5]  # the longest waiting, overdue
    assert intake.reference not in am[5]
    html = rows["am_a · 客户经理 · A机构"]["html"]
    assert f"?account_manager={world.am_a.pk}" in html
    assert f"?account_manager={world.am_a.pk}&amp;overdue=on" in html
    counter = rows["maker · 柜面经办 · A机构"]["cells"]
    assert counter[2] == "1" and ukey.reference in counter[5]
    assert f"?branch={world.branch_a.pk}&amp;state=ukey_issuance" in rows["maker · 柜面经办 · A机构"]["html"]
    assert "am_a2 · 客户经理 · A机构" in rows  # on the team, nothing held
    # Scoped: branch B's people and cases are not his.
    assert not [k for k in rows if k.startswith("am_b")]
    assert world.company_y.name not in str(rows)
    # The filtered list the link opens shows exactly the held cases of that person.
    client.force_login(world.supervisor)
    listed = client.get(reverse("case_list") + f"?account_manager={world.am_a.pk}&overdue=on").content.decode()
    assert late.reference in listed and intake.reference not in listed


def test_the_other_supervisor_and_the_staff_see_no_such_table(client, world) -> None:
    world.case(State.BRANCH_INTAKE)
    other = team(client, world.supervisor_other)
    assert other is not None and "am_a · 客户经理 · A机构" not in other
    for who in (world.am_a, world.approver, world.maker, world.checker):
        assert team(client, who) is None, who


@pytest.mark.django_db(transaction=True)
def test_the_team_follows_new_people_renamed_branches_roles_taken_away_and_leavers(client, world) -> None:
    """The subtree's staff are kept between requests (`config.usercache.kept`): every change to
    the people or the branches shows on the next dashboard."""
    world.case(State.BRANCH_INTAKE)
    assert "am_a2 · 客户经理 · A机构" in team(client, world.supervisor)
    # The next request does not read the staff again.
    client.force_login(world.supervisor)
    client.get(reverse("home"))
    with CaptureQueriesContext(connection) as reads:
        client.get(reverse("home"))
    assert '"accounts_user"."username"' not in "\n".join(q["sql"] for q in reads.captured_queries)

    newcomer = user("am_new", Role.ACCOUNT_MANAGER, branch=world.branch_a)
    assert "am_new · 客户经理 · A机构" in team(client, world.supervisor)
    newcomer.display_name = "新来的客户经理"
    newcomer.save()
    assert "新来的客户经理 · 客户经理 · A机构" in team(client, world.supervisor)
    world.branch_a.name = "改名后的支行"
    world.branch_a.save()
    rows = team(client, world.supervisor)
    assert "新来的客户经理 · 客户经理 · 改名后的支行" in rows and "am_a · 客户经理 · 改名后的支行" in rows
    newcomer.groups.remove(Group.objects.get(name=Role.ACCOUNT_MANAGER))
    assert not [k for k in team(client, world.supervisor) if k.startswith("新来的客户经理")]
    world.am_a2.is_active = False
    world.am_a2.save()
    assert not [k for k in team(client, world.supervisor) if k.startswith("am_a2")]


def test_the_team_table_costs_the_same_queries_with_more_cases(client, world) -> None:
    def queries() -> int:
        client.force_login(world.supervisor)
        client.get(reverse("home"))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("home")).status_code == 200
        return len(ctx.captured_queries)

    world.case(State.BRANCH_INTAKE)
    world.case(State.UKEY_ISSUANCE)
    world.case(State.HEAD_OFFICE_APPROVAL)  # the page shows a due time (the calendar is read once)
    few = queries()
    for name in ("丙公司", "丁公司", "戊公司"):
        world.case(State.HEAD_OFFICE_APPROVAL, company=enterprise(world.branch_a, name=name))
        world.case(State.JOINT_TESTING, company=enterprise(world.branch_a, name=name + "二"))
    assert queries() == few <= 15


@pytest.mark.postgres
def test_the_kept_stages_give_the_counted_groups(world) -> None:
    """On PostgreSQL the table is grouped from `OpenStage` (kept by triggers): every group's count,
    overdue count and longest-waiting case equal the read of the cases joined to their visits."""
    from casetypes import declaration
    from onboarding import services
    from onboarding import team as team_view
    from onboarding.states import WORKING_STAGES

    for state in (State.BRANCH_INTAKE, State.HEAD_OFFICE_APPROVAL, State.JOINT_TESTING, State.UKEY_ISSUANCE):
        with freeze_time(timezone.now() - dt.timedelta(days=12)):
            old = world.case(state, company=enterprise(world.branch_a, name=f"{state}旧"))
        StageVisit.objects.filter(pk=old.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=2))
        world.case(state)
        world.case(state, company=world.company_y)
    paused = world.case(State.TEST_PACKAGE_ISSUANCE)
    StageVisit.objects.filter(pk=paused.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=2))
    services.case_transition(case=paused, name="suspend", user=world.am_a, reason="客户暂缓")
    world.case(State.DRAFT)
    world.case(State.LIVE)
    # Cases without an account manager (a group with a NULL manager), one of them overdue.
    for state in (State.BRANCH_INTAKE, State.HEAD_OFFICE_APPROVAL):
        with freeze_time(timezone.now() - dt.timedelta(days=5)):
            orphan = world.case(state, company=enterprise(world.branch_a, name=f"{state}无经理"))
        OnboardingCase.objects.filter(pk=orphan.pk).update(account_manager=None)
    StageVisit.objects.filter(pk=orphan.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=1))

    open_states = (*declaration.initial_states(), *WORKING_STAGES)
    first = declaration.initial_states()
    now = timezone.now()
    for who in (world.supervisor, world.supervisor_other, world.approver):
        counted = team_view._groups_counted(who.branch, open_states, now)
        kept = team_view._groups_kept(who.branch, open_states, now)
        assert counted, who
        keys = sorted(counted[0])
        # A group the customer holds past a first state shows no longest-waiting case (its
        # account manager's row counts it as with the customer): the kept read looks none up.
        unshown = [r for r in counted if r["current_visit__holder_role"] == CUSTOMER and r["state"] not in first]
        assert unshown or who != world.supervisor, who
        for row in unshown:
            row.update(dict.fromkeys(_FIRST_CASE))
        assert _rows(kept, keys) == _rows(counted, keys), who
        if who == world.supervisor:
            # the old ones and the orphan approval (the suspended one is not overdue)
            assert sum(r["late"] for r in kept) == 5
            orphans = [r for r in kept if r["account_manager_id"] is None]
            assert len(orphans) == 2 and all(r["reference"] for r in orphans)


_FIRST_CASE = ("reference", "public_id", "current_visit__entered_at", "current_visit__due_at")


def _rows(rows, keys) -> list[tuple[str, ...]]:
    return sorted(tuple(str(r[k]) for k in keys) for r in rows)
