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
    # The main action sits in the panel, before the stage tracker and everything else (issue 25).
    assert html.index('id="next-step"') < html.index('id="actions"') < html.index('class="tracker"')
    p = panel(html)
    assert f"客户经理 {case.account_manager}" in p
    assert "尚余" in p and "个工作日" in p


def test_missing_items_link_to_where_they_are_settled_and_only_the_allowed_actions_are_offered(client, world) -> None:
    case = world.case(State.JOINT_TESTING, documents=False)
    p = panel(page(client, world.tech, case))
    assert "尚缺" in p and 'href="#testing"' in p
    options = {o.name: o for o in services.case_transition_options(case=case, user=world.tech)}
    mine = p[p.index('id="actions"') :]
    blocked = f"disabled>{options['accept_test_report'].label}</button>"
    assert blocked in mine  # shown, blocked until the tests pass
    assert f'" >{options["return_to_test_package"].label}</button>' in mine
    p = panel(page(client, world.approver, case))
    assert f"客户:{case.company.name}" in p  # joint testing: the customer holds it
    assert 'class="transition"' not in p


def test_a_supervisor_case_is_held_by_the_supervisor_role_of_the_tier1_branch(client, world) -> None:
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    assert case.current_visit.holder_role == "branch_supervisor"  # endorsement comes first
    p = panel(page(client, world.supervisor, case))
    assert f"分行审核 · {world.tier1.name}" in p


def test_at_intake_each_missing_item_links_to_the_field_where_it_is_filled_in(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE, documents=False)
    p = panel(page(client, world.am_a, case))
    edit = reverse("case_edit", args=[case.public_id])
    assert f'<a href="{edit}#id_fee_amount">未填写费用评估</a>' in p
    assert f'<a href="{edit}#id_risk_level">未填写风险评估</a>' in p
    assert 'href="#documents">以下文件尚未审核通过' in p
    assert 'href="#actions"' not in p
    # The edit page has those fields under those ids.
    form = client.get(edit).content.decode()
    assert 'id="id_fee_amount"' in form and 'id="id_risk_level"' in form
    # A reader who may not edit is sent to the facts, not to a page refused to him.
    p = panel(page(client, world.supervisor, case))
    assert "#id_fee_amount" not in p and 'href="#case-facts">未填写费用评估' in p


def test_withdraw_and_reject_sit_apart_at_the_bottom_and_ask_for_confirmation(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE, documents=False)
    html = page(client, world.am_a, case)
    p = panel(html)
    assert "撤回申请" not in p and "暂停" not in p
    rare = html[html.index('id="rare-actions"') :]
    assert html.index('id="rare-actions"') > html.index('class="timeline"')
    assert rare.startswith('id="rare-actions"') and "<details" in html[html.index('id="rare-actions"') - 40 :]
    assert 'name="confirm"' in rare and "撤回申请" in rare
    url = reverse("case_transition", args=[case.public_id, "withdraw"])
    # Refused without the box ticked: nothing changes.
    response = client.post(url, {"version": case.version, "reason": "客户不再需要"})
    assert response.status_code == 302 and response.url.endswith("#rare-actions")
    case.refresh_from_db()
    assert case.state == State.BRANCH_INTAKE
    assert "须勾选确认" in client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    # Ticked: done.
    client.post(url, {"version": case.version, "reason": "客户不再需要", "confirm": "1"})
    case.refresh_from_db()
    assert case.state == State.WITHDRAWN


def test_the_approver_finds_reject_apart_and_approve_in_the_panel(client, world) -> None:
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    html = page(client, world.approver, case)
    p = panel(html)
    assert "总行立项批复" in p and "不予立项" not in p
    assert "不予立项" in html[html.index('id="rare-actions"') :]
    client.post(reverse("case_transition", args=[case.public_id, "reject"]), {"version": case.version, "reason": "x"})
    case.refresh_from_db()
    assert case.state == State.HEAD_OFFICE_APPROVAL


def test_the_approver_is_not_told_the_endorsement_is_missing_once_it_is_there(client, world) -> None:
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    p = panel(page(client, world.approver, case))
    assert "尚缺" not in p and "分行已审核,等待总行审批" not in p
