"""The next-step panel at the top of the staff case page."""

from __future__ import annotations

from django.urls import reverse

from onboarding import services
from onboarding.states import State


def page(client, who, case) -> str:
    client.force_login(who)
    response = client.get(reverse("case_detail", args=[case.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def panel(html: str) -> str:
    start = html.index('id="next-step"')
    return html[start : html.index("</section>", start)]


def test_the_panel_comes_before_the_history_and_names_the_holder_and_the_due_time(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE)
    html = page(client, world.am_a, case)
    assert html.index('id="next-step"') < html.index('class="tracker"') < html.index('id="actions"')
    p = panel(html)
    assert f"客户经理 {case.account_manager}" in p
    assert "尚余" in p and "个工作日" in p


def test_missing_items_link_to_where_they_are_settled_and_only_the_allowed_actions_are_offered(client, world) -> None:
    case = world.case(State.JOINT_TESTING, documents=False)
    p = panel(page(client, world.tech, case))
    assert "尚缺" in p and 'href="#testing"' in p
    options = {o.name: o for o in services.case_transition_options(case=case, user=world.tech)}
    mine = p[p.index("my-actions") :]
    assert options["accept_test_report"].label not in mine  # blocked until the tests pass
    assert options["return_to_test_package"].label in mine
    p = panel(page(client, world.approver, case))
    assert f"客户:{case.company.name}" in p  # joint testing: the customer holds it
    assert "您可以" not in p


def test_a_supervisor_case_is_held_by_the_supervisor_role_of_the_tier1_branch(client, world) -> None:
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    assert case.current_visit.holder_role == "branch_supervisor"  # endorsement comes first
    p = panel(page(client, world.supervisor, case))
    assert f"分行审核 · {world.tier1.name}" in p
