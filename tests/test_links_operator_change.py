"""Operator change (操作员变更) on a live link, from the users' side (issue 22).

- The customer asks on the portal (add an operator with a role) and uploads the 变更申请书 signed
  and sealed; the account manager finds it in the queue, is refused without the form, accepts it
  and approves on the case page; the counter maker enters the new operator's
  K宝; the maker cannot confirm their own entry; a checker confirms: the key is issued, the
  link's operators rotate with an ``operators_changed`` event, the request is done.
- The account manager asks to remove an operator: the checker's confirmation revokes the keys.
- A role change keeps the key and ends the old row.
- Refused: a second open operator change (launch control), a closed link, another company.
"""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from django.utils import timezone

from casetypes import declaration
from counter.models import Operator, UKey
from documents.form_codes import form_code
from documents.models import DocumentKind
from documents.samples import sample_pdf
from links import changes, services
from links.models import LinkEvent, LinkRequest, LinkStatus, LiveLink
from links.requests import operator_change as oc
from onboarding.models import OnboardingCase
from onboarding.services import CaseError
from onboarding.states import State
from tests.factories import resident_id
from tests.html_forms import browser_post_data, form_with, page_forms
from tests.links_request_helpers import change_form_on_file, messages_of, review_accept, upload


@pytest.fixture
def live(world):
    case = world.case(State.LIVE)
    return case, LiveLink.objects.get(onboarding_case=case)


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def _state(request: LinkRequest) -> str:
    return OnboardingCase.objects.get(pk=request.case_id).state


def _post_transition(client, request: LinkRequest, name: str, reason: str = ""):
    """Press the transition's button on the case page as rendered (its form, as a browser posts it)."""
    page = client.get(f"/cases/{request.case.public_id}/").content.decode()
    form = next(f for f in page_forms(page) if f.action.endswith(f"/transition/{name}/"))
    data = browser_post_data(form)
    if reason:
        data["reason"] = [reason]
    return client.post(form.action, data, follow=True)


def test_the_customer_adds_an_operator_and_the_counter_issues_the_key_with_dual_control(world, live, client):
    _, link = live
    client.force_login(world.customer_x)
    page = client.get(f"/portal/links/{link.public_id}/").content.decode()
    assert f"/portal/links/{link.public_id}/operator-change/" in page
    url = f"/portal/links/{link.public_id}/operator-change/"
    form = form_with(client.get(url).content.decode(), "id_number")
    data = browser_post_data(form)
    new_id = resident_id(77)
    data.update(action=["add"], name=["操作员丙"], id_number=[new_id], role=["authorise"], reason=["新增授权人"])
    response = client.post(url, data, follow=True)
    assert "操作员变更申请已提交" in _messages(response)
    request = LinkRequest.objects.get(link=link, kind=oc.CODE)
    assert request.channel == "portal" and request.opened_by == world.customer_x
    assert request.details == {"action": "add", "name": "操作员丙", "id_number": new_id, "role": "authorise"}
    body = response.content.decode()
    assert "新增操作员 操作员丙(授权)" in body  # the portal case page's panel
    case = OnboardingCase.objects.get(pk=request.case_id)
    assert case.case_type == oc.CODE and case.state == oc.REVIEW and case.account_manager == world.am_a
    assert case.current_visit.holder_role == "account_manager"
    # The account manager finds it in the queue and approves it on the case page.
    client.force_login(world.am_a)
    home = client.get("/").content.decode()
    assert case.reference in home and "审核操作员变更申请" in home
    # Not before the 变更申请书 signed and sealed is on file: refused, with the reason.
    response = _post_transition(client, request, "operator_change_approved")
    assert "签字盖章的变更申请书尚未上传" in _messages(response) and _state(request) == oc.REVIEW
    # The customer uploads the scan on the portal case page; the account manager accepts it.
    client.force_login(world.customer_x)
    portal_url = f"/portal/cases/{case.public_id}/"
    response = upload(client, portal_url, DocumentKind.LINK_CHANGE_FORM, sample_pdf("signed"))
    assert any("已上传" in m for m in messages_of(response)), messages_of(response)
    client.force_login(world.am_a)
    review_accept(client, f"/cases/{case.public_id}/")
    response = _post_transition(client, request, "operator_change_approved")
    assert "等待柜面办理" in _messages(response)
    assert _state(request) == oc.COUNTER
    # The counter maker enters the new operator's K宝.
    client.force_login(world.maker)
    assert case.reference in client.get("/").content.decode()
    page = client.get(f"/cases/{case.public_id}/").content.decode()
    assert "新增操作员 操作员丙(授权)" in page
    form = form_with(page, "serial")
    data = browser_post_data(form)
    expires = timezone.localdate() + dt.timedelta(days=600)
    data.update(serial=["KB-ADD-1"], expires_on=[expires.isoformat()])
    response = client.post(form.action, data, follow=True)
    assert "等待柜面复核" in _messages(response), _messages(response)
    assert _state(request) == oc.CHECKING
    added = Operator.objects.get(case=link.onboarding_case, id_number=new_id)
    assert not UKey.objects.filter(operator=added).exists()  # nothing issued until checked
    # The maker, also holding the checker's role, cannot confirm their own entry.
    world.maker.groups.add(world.checker.groups.get())
    response = client.post(f"/links/requests/{case.public_id}/operator-change/confirm/", follow=True)
    assert "不能复核自己录入的事项" in _messages(response)
    assert _state(request) == oc.CHECKING
    assert not link.current_operators().filter(operator=added).exists()
    # The checker confirms: the key is issued, the operator is on the link, the request done.
    client.force_login(world.checker)
    page = client.get(f"/cases/{case.public_id}/").content.decode()
    assert "KB-ADD-1" in page and "复核通过,变更生效" in page
    response = client.post(f"/links/requests/{case.public_id}/operator-change/confirm/", follow=True)
    assert "操作员变更已生效" in _messages(response)
    key = UKey.objects.get(serial="KB-ADD-1")
    assert key.operator == added and key.expires_on == expires
    row = link.current_operators().get(operator=added)
    assert row.role == "authorise" and row.ukey == key and row.name == "操作员丙"
    request.refresh_from_db()
    assert not request.is_open and _state(request) == oc.DONE
    event = link.events.get(name=LinkEvent.Name.OPERATORS_CHANGED)
    assert event.actor == world.checker and event.request == request and event.data["ukey"] == "KB-ADD-1"
    assert row.started_event == event
    # The customer follows it on the portal.
    client.force_login(world.customer_x)
    page = client.get(f"/portal/links/{link.public_id}/").content.decode()
    assert "操作员丙" in page and "操作员变更" in page


def test_the_account_manager_removes_an_operator_and_the_keys_are_revoked(world, live, client):
    _, link = live
    leaving = link.current_operators().get(name="操作员乙")
    key = leaving.ukey
    client.force_login(world.am_a)
    page = client.get(f"/links/{link.public_id}/").content.decode()
    assert f"/links/{link.public_id}/operator-change/" in page
    url = f"/links/{link.public_id}/operator-change/"
    form = form_with(client.get(url).content.decode(), "operator")
    data = browser_post_data(form)
    data.update(action=["remove"], operator=[str(leaving.operator_id)], reason=["离职"])
    response = client.post(url, data, follow=True)
    assert "操作员变更申请已提交" in _messages(response)
    request = LinkRequest.objects.get(link=link, kind=oc.CODE)
    assert request.channel == "bank" and "删除操作员 操作员乙" in response.content.decode()
    change_form_on_file(request, uploader=world.customer_x, reviewer=world.am_a)
    _post_transition(client, request, "operator_change_approved")
    # The maker records the removal (no key to enter), the checker confirms.
    client.force_login(world.maker)
    page = client.get(f"/cases/{request.case.public_id}/").content.decode()
    form = next(f for f in page_forms(page) if f.action.endswith("/operator-change/make/"))
    response = client.post(form.action, browser_post_data(form), follow=True)
    assert "等待柜面复核" in _messages(response)
    assert key.status != UKey.Status.REVOKED and link.current_operators().filter(pk=leaving.pk).exists()
    client.force_login(world.checker)
    response = client.post(f"/links/requests/{request.case.public_id}/operator-change/confirm/", follow=True)
    assert "操作员变更已生效" in _messages(response)
    key.refresh_from_db()
    assert key.status == UKey.Status.REVOKED
    assert Operator.objects.get(pk=leaving.operator_id).removed_at is not None
    leaving.refresh_from_db()
    assert leaving.ended_at is not None and not link.current_operators().filter(operator_id=leaving.operator_id)
    event = link.events.get(name=LinkEvent.Name.OPERATORS_CHANGED)
    assert event.data["revoked"] == [key.serial] and leaving.ended_event == event


def test_a_role_change_keeps_the_key_and_the_checker_may_send_it_back(world, live, client):
    _, link = live
    row = link.current_operators().get(name="操作员甲")
    request = changes.operator_change_open(
        link=link, user=world.customer_x, action="role", operator_id=row.operator_id, role="authorise"
    )
    change_form_on_file(request, uploader=world.customer_x, reviewer=world.am_a)
    services.request_transition(request=request, user=world.am_a, name="operator_change_approved")
    changes.operator_change_make(request=request, user=world.maker)
    # The checker sends it back with a reason (the form on the case page); the maker records again.
    client.force_login(world.checker)
    page = client.get(f"/cases/{request.case.public_id}/").content.decode()
    form = next(f for f in page_forms(page) if f.action.endswith("/operator-change/return/"))
    data = browser_post_data(form)
    data["reason"] = ["请核对角色"]
    response = client.post(form.action, data, follow=True)
    assert "已退回柜面经办" in _messages(response) and _state(request) == oc.COUNTER
    changes.operator_change_make(request=request, user=world.maker)
    changes.operator_change_confirm(request=request, user=world.checker)
    rows = list(link.operators.filter(operator_id=row.operator_id).order_by("started_at", "pk"))
    assert [(r.role, r.ukey_id, r.ended_at is None) for r in rows] == [
        ("entry", row.ukey_id, False),
        ("authorise", row.ukey_id, True),
    ]


def test_refused_a_second_open_change_a_closed_link_and_another_company(world, live, client):
    _, link = live
    row = link.current_operators().get(name="操作员甲")
    changes.operator_change_open(
        link=link, user=world.customer_x, action="role", operator_id=row.operator_id, role="review"
    )
    # The page says why instead of the form; a post is refused with the reason; nothing added.
    client.force_login(world.customer_x)
    url = f"/portal/links/{link.public_id}/operator-change/"
    page = client.get(url).content.decode()
    assert "已有一笔办理中的“操作员变更”申请" in page and 'id="operator-change-form"' not in page
    response = client.post(url, {"action": "role", "operator": row.operator_id, "role": "authorise"}, follow=True)
    assert "已有一笔办理中的“操作员变更”申请" in _messages(response)
    assert LinkRequest.objects.filter(link=link, kind=oc.CODE).count() == 1
    # Bad input: an add without a valid ID number is refused with the reason, nothing left behind.
    LinkRequest.objects.filter(link=link).update(is_open=False, closed_at=timezone.now())
    response = client.post(url, {"action": "add", "name": "某人", "id_number": "123", "role": "entry"}, follow=True)
    assert "身份证" in _messages(response)
    assert LinkRequest.objects.filter(link=link, kind=oc.CODE).count() == 1
    # Another company's user and another branch's staff get 404.
    client.force_login(world.customer_y)
    assert client.get(url).status_code == 404
    client.force_login(world.am_b)
    assert client.get(f"/links/{link.public_id}/operator-change/").status_code == 404
    # A closed link: refused, the reason in words.
    services.link_status_set(link=link, status=LinkStatus.CLOSED, actor=world.supervisor, reason="注销")
    link.refresh_from_db()
    with pytest.raises(services.LaunchRefused, match="已注销"):
        changes.operator_change_open(
            link=link, user=world.customer_x, action="role", operator_id=row.operator_id, role="review"
        )


def test_the_counter_cannot_act_out_of_turn(world, live):
    _, link = live
    row = link.current_operators().get(name="操作员甲")
    request = changes.operator_change_open(
        link=link, user=world.am_a, action="role", operator_id=row.operator_id, role="review"
    )
    with pytest.raises(CaseError, match="当前阶段不能录入变更"):
        changes.operator_change_make(request=request, user=world.maker)
    with pytest.raises(CaseError, match="此操作仅限"):
        services.request_transition(request=request, user=world.maker, name="operator_change_approved")
    with pytest.raises(CaseError) as refused:
        services.request_transition(request=request, user=world.am_a, name="operator_change_approved")
    assert refused.value.problems == ["签字盖章的变更申请书尚未上传"]
    change_form_on_file(request, uploader=world.am_a, reviewer=world.supervisor)
    services.request_transition(request=request, user=world.am_a, name="operator_change_approved")
    with pytest.raises(CaseError, match="此操作仅限"):
        changes.operator_change_make(request=request, user=world.checker)
    with pytest.raises(CaseError, match="当前阶段不能复核变更"):
        changes.operator_change_confirm(request=request, user=world.checker)


def test_the_type_is_declared_with_five_working_days(world):
    declared = declaration.case_type(oc.CODE)
    assert [s.holder for s in declared.stages] == ["account_manager", "counter_maker", "counter_checker"]
    assert sum(s.sla_days for s in declared.stages) == 5


def test_the_change_form_pdf_is_rendered_for_the_request_in_scope(world, live, client, tmp_path):
    _, link = live
    row = link.current_operators().get(name="操作员甲")
    request = changes.operator_change_open(
        link=link, user=world.customer_x, action="role", operator_id=row.operator_id, role="authorise", reason="调岗"
    )
    client.force_login(world.customer_x)
    page = client.get(f"/portal/cases/{request.case.public_id}/").content.decode()
    url = f"/portal/links/requests/{request.case.public_id}/change-form.pdf"
    assert url in page
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF")
    (tmp_path / "form.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "form.pdf"), "-"], capture_output=True, text=True).stdout
    assert "银企直联业务变更申请书" in text and link.reference in text and "操作员甲" in text
    assert "申请单位(公章)" in text and "调岗" in text and "■ 操作员变更" in text
    # The code the signed scan is filed by (the same as the form kept on the document list).
    assert form_code(request.case, DocumentKind.LINK_CHANGE_FORM) in text
    # Staff of the branch read it too; another company and another branch get 404.
    client.force_login(world.am_a)
    assert client.get(f"/links/requests/{request.case.public_id}/change-form.pdf").status_code == 200
    client.force_login(world.customer_y)
    assert client.get(url).status_code == 404
    client.force_login(world.supervisor_other)
    assert client.get(f"/links/requests/{request.case.public_id}/change-form.pdf").status_code == 404


def _next_step_panel(page: str) -> str:
    start = page.index('id="next-step"')
    return page[start : page.index("</section>", start)]


def test_at_the_check_the_next_step_panel_points_to_the_change_panels_form(world, live, client):
    """The checker's case page offers one way to confirm (the change panel's form, which the
    next-step panel links to), no greyed buttons nor a shortfall the form itself settles; the
    confirmation posted as a browser would works. The maker is offered the return only, and
    cannot confirm."""
    _, link = live
    row = link.current_operators().get(name="操作员甲")
    request = changes.operator_change_open(
        link=link, user=world.customer_x, action="role", operator_id=row.operator_id, role="authorise"
    )
    change_form_on_file(request, uploader=world.customer_x, reviewer=world.am_a)
    services.request_transition(request=request, user=world.am_a, name="operator_change_approved")
    changes.operator_change_make(request=request, user=world.maker)
    url = f"/cases/{request.case.public_id}/"
    # The maker: the change panel's return, linked from the next-step panel; no confirmation.
    client.force_login(world.maker)
    page = client.get(url).content.decode()
    panel = _next_step_panel(page)
    assert "/transition/" not in panel and "disabled" not in panel and "须由录入人先取消" not in panel
    assert 'href="#change-request">退回柜面经办</a>' in panel
    assert not [f for f in page_forms(page) if f.action.endswith("/operator-change/confirm/")]
    response = client.post(f"/links/requests/{request.case.public_id}/operator-change/confirm/", follow=True)
    assert "此操作仅限" in _messages(response) and _state(request) == oc.CHECKING
    # The checker: one link to the panel, one confirmation form, no dead buttons nor shortfall.
    client.force_login(world.checker)
    page = client.get(url).content.decode()
    panel = _next_step_panel(page)
    assert "/transition/" not in panel and "disabled" not in panel
    assert "尚缺" not in panel and "须由录入人先取消" not in panel and "尚未复核生效" not in panel
    assert panel.count('href="#change-request"') == 1 and "复核操作员变更" in panel
    assert "当前没有您可以办理的操作" not in panel
    assert page.count("复核通过,变更生效") == 1
    confirms = [f for f in page_forms(page) if f.action.endswith("/operator-change/confirm/")]
    assert len(confirms) == 1 and "/transition/" not in page.split('id="change-request"')[1].split("</section>")[0]
    response = client.post(confirms[0].action, browser_post_data(confirms[0]), follow=True)
    assert "操作员变更已生效" in _messages(response) and _state(request) == oc.DONE
    assert link.current_operators().get(operator_id=row.operator_id).role == "authorise"
