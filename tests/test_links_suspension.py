"""Suspension and resumption of a live link: the customer's request from the portal, the
bank's risk decision, the dormancy sweep's proposal (never a suspension by itself); the
supervisor decides; the link's status moves as link events."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from branches.roles import Role
from links import request_services
from links.models import LinkEvent, LinkRequest, LinkStatus, LiveLink
from links.requests import suspension
from notices.models import Notification
from onboarding.models import OnboardingCase
from tests.factories import user
from tests.html_forms import form_with
from tests.links_request_helpers import (
    as_user,
    fill_and_post,
    forged_transition,
    live_link,
    messages_of,
    post_form,
    text,
    transition,
)


def _statuses(link: LiveLink) -> list[str]:
    return [e.data["to"] for e in link.events.filter(name=LinkEvent.Name.STATUS_CHANGED).order_by("pk")]


def test_the_customer_asks_to_suspend_then_to_resume_and_the_supervisor_decides(world):
    link = live_link(world)
    customer = as_user(world.customer_x)
    url = f"/portal/links/{link.public_id}/requests/suspension/"
    page = text(customer.get(url))
    assert "暂停直联服务" in page and 'name="reason_code"' not in page  # the customer's own request only
    done = fill_and_post(customer, url, url, reason="年底系统升级,暂停一个月")
    req = LinkRequest.objects.get(link=link, kind=suspension.SUSPENSION)
    assert done.redirect_chain[-1][0] == f"/portal/cases/{req.case.public_id}/"
    assert req.details["reason_code"] == "customer" and req.channel == "portal"
    assert "银行正在审核该申请" in text(done)
    link.refresh_from_db()
    assert link.status == LinkStatus.ACTIVE  # nothing happens before the decision

    # A second suspension while this one is open: refused with the reason, nothing created.
    done = fill_and_post(customer, url, url, reason="再申请一次")
    assert any("已有一笔办理中的“暂停直联服务”申请" in m for m in messages_of(done))
    assert LinkRequest.objects.filter(link=link, kind=suspension.SUSPENSION).count() == 1

    sup = as_user(world.supervisor)
    staff_page = f"/cases/{req.case.public_id}/"
    assert "同意暂停" in text(sup.get(staff_page))
    done = transition(sup, staff_page, "suspension_approved")
    assert "直联服务已暂停" in messages_of(done)
    link.refresh_from_db()
    assert link.status == LinkStatus.SUSPENDED and _statuses(link) == ["suspended"]
    assert "已暂停" in text(customer.get(f"/portal/cases/{req.case.public_id}/"))

    # Resumption, asked by the customer, approved by the supervisor.
    url = f"/portal/links/{link.public_id}/requests/resumption/"
    fill_and_post(customer, url, url, reason="升级完成")
    resume = LinkRequest.objects.get(link=link, kind=suspension.RESUMPTION)
    transition(sup, f"/cases/{resume.case.public_id}/", "resumption_approved")
    link.refresh_from_db()
    assert link.status == LinkStatus.ACTIVE and _statuses(link) == ["suspended", "active"]


def test_a_risk_suspension_is_not_approved_by_the_person_who_asked(world):
    link = live_link(world)
    both = user("am_sup", Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR, branch=world.tier1)
    client = as_user(both)
    url = f"/links/{link.public_id}/requests/suspension/"
    page = text(client.get(url))
    done = post_form(client, url, form_with(page, "reason_code"), reason_code="risk", reason="涉嫌可疑交易,风险处置")
    req = LinkRequest.objects.get(link=link, kind=suspension.SUSPENSION)
    assert req.details["reason_code"] == "risk"
    staff_page = f"/cases/{req.case.public_id}/"
    assert "同意暂停" not in text(client.get(staff_page))
    done = forged_transition(client, req.case, "suspension_approved")
    assert "申请人不能审批自己提交的申请" in messages_of(done)
    link.refresh_from_db()
    assert link.status == LinkStatus.ACTIVE
    # Declining needs a reason; the link stays in service.
    transition(as_user(world.supervisor), staff_page, "suspension_declined", reason="核查后无风险")
    assert OnboardingCase.objects.get(pk=req.case_id).state == suspension.SUSPENSION_DECLINED
    link.refresh_from_db()
    assert link.status == LinkStatus.ACTIVE


def test_resumption_of_a_link_in_service_is_refused(world):
    link = live_link(world)
    customer = as_user(world.customer_x)
    url = f"/portal/links/{link.public_id}/requests/resumption/"
    done = fill_and_post(customer, url, url, reason="恢复")
    assert any("只有状态为“已暂停”的直联服务可以恢复" in m for m in messages_of(done))
    assert not LinkRequest.objects.filter(link=link).exists()


def test_the_dormancy_sweep_proposes_a_suspension_for_review_once(world, settings):
    settings.LINK_DORMANT_DAYS = 365
    link = live_link(world)
    busy = live_link(world)
    LiveLink.objects.filter(pk=link.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=400))
    LiveLink.objects.filter(pk=busy.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=200))

    result = request_services.dormant_sweep()
    assert len(result.opened) == 1
    req = LinkRequest.objects.get(link=link, kind=suspension.SUSPENSION)
    assert req.details["reason_code"] == "dormant" and req.channel == "system"
    assert not LinkRequest.objects.filter(link=busy).exists()
    link.refresh_from_db()
    assert link.status == LinkStatus.ACTIVE  # proposed, not suspended
    assert request_services.dormant_sweep().opened == []
    # The supervisor sees the reason and decides.
    sup = as_user(world.supervisor)
    page = text(sup.get(f"/cases/{req.case.public_id}/"))
    assert "一年无业务(久悬)" in page
    transition(sup, f"/cases/{req.case.public_id}/", "suspension_approved")
    link.refresh_from_db()
    assert link.status == LinkStatus.SUSPENDED
    # The link's record of the suspension says why, as the sweep said it.
    suspended = LinkEvent.objects.filter(link=link, name=LinkEvent.Name.STATUS_CHANGED).order_by("-pk").first()
    last = timezone.localdate(timezone.now() - dt.timedelta(days=400)).isoformat()
    assert suspended is not None and suspended.reason == f"400天无业务(最近一次:{last})", suspended
    # A person cannot pick "dormant" by hand.
    done = as_user(world.am_a).post(
        f"/links/{busy.public_id}/requests/suspension/", {"reason_code": "dormant", "reason": "x"}, follow=True
    )
    assert not LinkRequest.objects.filter(link=busy).exists()
    assert done.status_code == 200


def test_the_request_page_reads_english_for_an_english_customer(world):
    from django.conf import settings as conf

    link = live_link(world)
    customer = as_user(world.customer_x)
    customer.post("/i18n/setlang/", {"language": "en", "next": "/portal/"})
    assert customer.cookies[conf.LANGUAGE_COOKIE_NAME].value == "en"
    page = text(customer.get(f"/portal/links/{link.public_id}/requests/suspension/"))
    assert "<h1>Suspend the live link" in page and "Submit the application" in page
    done = fill_and_post(
        customer,
        f"/portal/links/{link.public_id}/requests/resumption/",
        "/requests/resumption/",
        reason="x",
    )
    assert any("Only a suspended live link can be resumed" in m for m in messages_of(done))
    # Suspended: the note and the refusal read English too.
    LiveLink.objects.filter(pk=link.pk).update(status=LinkStatus.SUSPENDED)
    page = text(customer.get(f"/portal/links/{link.public_id}/"))
    assert "for an operator, account or module change, apply for resumption first" in page
    page = text(customer.get(f"/portal/links/{link.public_id}/operator-change/"))
    assert "The service is suspended: apply for resumption first" in page


def test_the_link_pages_offer_the_requests_the_link_can_take(world):
    """The customer starts a request from the portal's link page, staff from theirs: suspend
    while in service, resume while suspended, terminate unless already closing."""
    link = live_link(world)
    portal_page = text(as_user(world.customer_x).get(f"/portal/links/{link.public_id}/"))
    assert f"/portal/links/{link.public_id}/requests/suspension/" in portal_page
    assert f"/portal/links/{link.public_id}/requests/termination/" in portal_page
    assert "/requests/resumption/" not in portal_page
    staff_page = text(as_user(world.am_a).get(f"/links/{link.public_id}/"))
    assert f"/links/{link.public_id}/requests/suspension/" in staff_page
    assert f"/links/{link.public_id}/retention/" in staff_page
    LiveLink.objects.filter(pk=link.pk).update(status=LinkStatus.SUSPENDED)
    portal_page = text(as_user(world.customer_x).get(f"/portal/links/{link.public_id}/"))
    assert f"/portal/links/{link.public_id}/requests/resumption/" in portal_page
    assert "/requests/suspension/" not in portal_page
    staff_page = text(as_user(world.am_a).get(f"/links/{link.public_id}/"))
    assert f"/links/{link.public_id}/requests/resumption/" in staff_page


# --- the customer withdraws their own suspension or resumption --------------------------------------


def _portal(case) -> str:
    return f"/portal/cases/{case.public_id}/"


def _withdraw_box(page: str) -> str | None:
    found = re.search(r'<details class="card" id="withdraw">(.*?)</details>', page, re.S)
    return found.group(1) if found else None


def _post_withdraw(client, case, reason: str = "不再需要") -> object:
    version = OnboardingCase.objects.get(pk=case.pk).version
    return client.post(f"/portal/cases/{case.public_id}/withdraw/", {"version": version, "reason": reason}, follow=True)


def test_the_customer_withdraws_a_suspension_while_it_waits_for_the_supervisor(world):
    link = live_link(world)
    customer = as_user(world.customer_x)
    url = f"/portal/links/{link.public_id}/requests/suspension/"
    fill_and_post(customer, url, url, reason="年底系统升级")
    req = LinkRequest.objects.get(link=link, kind=suspension.SUSPENSION)
    sup = as_user(world.supervisor)
    assert req.case.reference in text(sup.get("/"))  # 轮到我办理
    assert Notification.objects.filter(recipient=world.supervisor, case_id=req.case_id, cleared_at=None).exists()
    # The staff case page offers the supervisor no withdrawal (it is the customer's); the request
    # shows once, its link a click away.
    staff = text(sup.get(f"/cases/{req.case.public_id}/"))
    assert "撤回暂停申请" not in staff
    assert staff.count('id="link-suspension"') == 1 and 'id="link-request"' not in staff
    assert f'href="/links/{link.public_id}/"' in staff

    page = text(customer.get(_portal(req.case)))
    box = _withdraw_box(page)
    assert box is not None and "撤回暂停申请" in box and "确认撤回" in box and "Version" not in box
    # The request is with the bank: not a draft, nothing for the company to submit.
    assert "当前办理方:银行" in page and "草稿:尚未提交至开户行" not in page and "完善申请资料" not in page
    done = fill_and_post(customer, _portal(req.case), "/withdraw/", reason="升级推迟,暂不需要")
    assert "暂停申请已撤回" in messages_of(done)
    req.refresh_from_db()
    link.refresh_from_db()
    assert not req.is_open and link.status == LinkStatus.ACTIVE and _statuses(link) == []
    assert OnboardingCase.objects.get(pk=req.case_id).state == suspension.SUSPENSION_WITHDRAWN
    # The supervisor's queue and bell lose it; the account manager is told it ended, with the reason.
    assert req.case.reference not in text(sup.get("/"))
    assert not Notification.objects.filter(recipient=world.supervisor, case_id=req.case_id, cleared_at=None).exists()
    told = Notification.objects.get(recipient=world.am_a, case_id=req.case_id, kind="case_ended")
    assert "暂停申请已撤回" in told.text and "升级推迟" in told.text
    # The link's history: closed through the portal by the customer.
    closed = link.events.get(name=LinkEvent.Name.REQUEST_CLOSED)
    assert closed.channel == "portal" and closed.actor == world.customer_x
    # Ended: no box; the customer may ask again.
    assert _withdraw_box(text(customer.get(_portal(req.case)))) is None
    fill_and_post(customer, url, url, reason="还是需要暂停")
    assert LinkRequest.objects.filter(link=link, kind=suspension.SUSPENSION, is_open=True).count() == 1


def test_the_customer_withdraws_a_resumption_and_the_link_stays_suspended(world):
    link = live_link(world)
    LiveLink.objects.filter(pk=link.pk).update(status=LinkStatus.SUSPENDED)
    customer = as_user(world.customer_x)
    url = f"/portal/links/{link.public_id}/requests/resumption/"
    fill_and_post(customer, url, url, reason="恢复使用")
    req = LinkRequest.objects.get(link=link, kind=suspension.RESUMPTION)
    done = fill_and_post(customer, _portal(req.case), "/withdraw/", reason="再等一个月")
    assert "恢复申请已撤回" in messages_of(done)
    link.refresh_from_db()
    assert link.status == LinkStatus.SUSPENDED
    assert OnboardingCase.objects.get(pk=req.case_id).state == suspension.RESUMPTION_WITHDRAWN
    # Another company's user cannot reach it.
    assert _post_withdraw(as_user(world.customer_y), req.case).status_code == 404


def test_a_suspended_link_with_a_resumption_under_way_says_so_once(world):
    """The customer asked to resume: each page says once that a resumption is under way (the
    suspended link's notes and the launch controls' notes are one list, not two)."""
    link = live_link(world)
    LiveLink.objects.filter(pk=link.pk).update(status=LinkStatus.SUSPENDED)
    link.refresh_from_db()
    request_services.resumption_open(link=link, user=world.customer_x, reason="恢复")
    note = "该直联服务已有一笔办理中的“恢复直联服务”申请"
    portal_page = text(as_user(world.customer_x).get(f"/portal/links/{link.public_id}/"))
    staff_page = text(as_user(world.am_a).get(f"/links/{link.public_id}/"))
    for page in (portal_page, staff_page):
        assert page.count(note) == 1
        assert page.count("服务已暂停:仍可挂失UKey") == 1
        assert f"/links/{link.public_id}/requests/resumption/" not in page


def test_a_risk_or_dormancy_suspension_is_not_the_customers_to_withdraw(world, settings):
    link = live_link(world)
    risk = request_services.suspension_open(link=link, user=world.am_a, reason_code="risk", reason="可疑交易")
    customer = as_user(world.customer_x)
    page = text(customer.get(_portal(risk.case)))
    assert _withdraw_box(page) is None and "撤回暂停申请" not in page
    done = _post_withdraw(customer, risk.case)
    assert "该申请不是贵司在企业客户端提交的,不能由贵司撤回" in messages_of(done)
    risk.refresh_from_db()
    assert risk.is_open and OnboardingCase.objects.get(pk=risk.case_id).state == suspension.SUSPENSION_REVIEW
    # The account manager who opened it cannot withdraw it either (a forged post on the staff side).
    done = forged_transition(as_user(world.am_a), risk.case, "suspension_withdrawn", reason="x")
    assert OnboardingCase.objects.get(pk=risk.case_id).state == suspension.SUSPENSION_REVIEW
    assert messages_of(done)
    transition(as_user(world.supervisor), f"/cases/{risk.case.public_id}/", "suspension_declined", reason="已核实")

    settings.LINK_DORMANT_DAYS = 365
    LiveLink.objects.filter(pk=link.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=400))
    request_services.dormant_sweep()
    dormant = LinkRequest.objects.get(link=link, kind=suspension.SUSPENSION, is_open=True)
    assert _withdraw_box(text(customer.get(_portal(dormant.case)))) is None
    done = _post_withdraw(customer, dormant.case)
    assert "该申请不是贵司在企业客户端提交的,不能由贵司撤回" in messages_of(done)
    assert OnboardingCase.objects.get(pk=dormant.case_id).state == suspension.SUSPENSION_REVIEW


# --- a suspended link offers only what it can take --------------------------------------------------


def test_a_suspended_link_offers_and_takes_only_loss_resumption_and_termination(world):
    link = live_link(world)
    sup_done = request_services.suspension_open(link=link, user=world.customer_x, reason_code="customer", reason="x")
    transition(as_user(world.supervisor), f"/cases/{sup_done.case.public_id}/", "suspension_approved")
    link.refresh_from_db()
    assert link.status == LinkStatus.SUSPENDED
    customer = as_user(world.customer_x)
    portal_page = text(customer.get(f"/portal/links/{link.public_id}/"))
    for refused in ("/operator-change/", "/account-change/", "/requests/suspension/"):
        assert f"/portal/links/{link.public_id}{refused}" not in portal_page, refused
    for offered in ("/requests/resumption/", "/requests/termination/", "/ukey-loss/"):
        assert f"/portal/links/{link.public_id}{offered}" in portal_page, offered
    assert "服务已暂停" in portal_page
    staff_page = text(as_user(world.am_a).get(f"/links/{link.public_id}/"))
    assert f"/links/{link.public_id}/operator-change/" not in staff_page
    assert f"/links/{link.public_id}/account-change/" not in staff_page
    assert f"/links/{link.public_id}/requests/resumption/" in staff_page

    # The change pages, reached by address: the reason, no form; a forged post is refused.
    for path in ("operator-change", "account-change"):
        page = text(customer.get(f"/portal/links/{link.public_id}/{path}/"))
        assert "服务已暂停,请先申请恢复" in page and 'name="reason"' not in page
    done = customer.post(
        f"/portal/links/{link.public_id}/operator-change/",
        {"action": "add", "name": "操作员丙", "id_number": "x", "role": "authorise", "reason": "新增"},
        follow=True,
    )
    assert done.status_code == 200
    assert not LinkRequest.objects.filter(link=link, kind__in=("operator_change", "account_change")).exists()
    from links import services
    from links.requests import account_change, operator_change, ukey_loss

    for kind in (operator_change.CODE, account_change.CODE):
        with pytest.raises(services.LaunchRefused, match="服务已暂停,请先申请恢复"):
            services.request_open(link=link, kind=kind, user=world.am_a, channel="bank")
    assert services.launch_refusal(link=link, kind=suspension.SUSPENSION) == "该直联服务已暂停"

    # A lost key is blocked at any hour, suspended or not.
    key = link.current_operators().first().ukey
    done = fill_and_post(customer, f"/portal/links/{link.public_id}/", "/ukey-loss/", ukey=key.pk, reason="遗失")
    assert any("挂失已生效" in m for m in messages_of(done))
    assert LinkRequest.objects.filter(link=link, kind=ukey_loss.CODE, is_open=True).exists()
    # Resumption puts it back in service, and the changes are offered again.
    resume = request_services.resumption_open(link=link, user=world.customer_x, reason="恢复")
    transition(as_user(world.supervisor), f"/cases/{resume.case.public_id}/", "resumption_approved")
    portal_page = text(customer.get(f"/portal/links/{link.public_id}/"))
    assert f"/portal/links/{link.public_id}/operator-change/" in portal_page and "服务已暂停" not in portal_page


# --- the channel on the link's records --------------------------------------------------------------


def test_status_changes_name_the_channel_they_came_through(world, settings):
    link = live_link(world)
    risk = request_services.suspension_open(link=link, user=world.am_a, reason_code="risk", reason="可疑交易")
    transition(as_user(world.supervisor), f"/cases/{risk.case.public_id}/", "suspension_approved")
    changed = link.events.get(name=LinkEvent.Name.STATUS_CHANGED)
    assert changed.channel == "bank" and changed.actor == world.supervisor
    assert link.events.get(name=LinkEvent.Name.REQUEST_CLOSED).channel == "bank"
    assert link.events.get(name=LinkEvent.Name.REQUEST_OPENED).channel == "bank"
    # The link's history reads it: 行内, not 系统.
    history = text(as_user(world.am_a).get(f"/links/{link.public_id}/")).split('id="history"', 1)[1]
    status_line = next(li for li in history.split("<li>") if "服务状态变更" in li)
    assert "行内" in status_line and "系统" not in status_line

    # The customer terminates on the portal: 注销中 through the portal; withdrawn, back through it.
    link.refresh_from_db()
    request_services.resumption_open(link=link, user=world.am_a, reason="核实无风险")
    resume = LinkRequest.objects.get(link=link, kind=suspension.RESUMPTION)
    transition(as_user(world.supervisor), f"/cases/{resume.case.public_id}/", "resumption_approved")
    from links.requests import termination

    customer = as_user(world.customer_x)
    url = f"/portal/links/{link.public_id}/requests/termination/"
    fill_and_post(customer, url, url, reason="业务调整")
    closing = link.events.filter(name=LinkEvent.Name.STATUS_CHANGED).order_by("-pk").first()
    assert closing.data["to"] == "closing" and closing.channel == "portal"
    term = LinkRequest.objects.get(link=link, kind=termination.CODE)
    fill_and_post(customer, _portal(term.case), "/withdraw/", reason="继续使用")
    back = link.events.filter(name=LinkEvent.Name.STATUS_CHANGED).order_by("-pk").first()
    assert back.data["to"] == "active" and back.channel == "portal"

    # The dormancy sweep: 系统.
    settings.LINK_DORMANT_DAYS = 365
    LiveLink.objects.filter(pk=link.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=400))
    request_services.dormant_sweep()
    opened = link.events.filter(name=LinkEvent.Name.REQUEST_OPENED).order_by("-pk").first()
    assert opened.channel == "system"


def test_the_link_pages_do_not_offer_a_request_already_open_and_say_why(world):
    """An open operator change: neither the customer's nor the account manager's link page offers
    a second one (each says why); what is not open is still offered. A termination under way
    offers nothing new."""
    from links import services
    from links.requests import operator_change

    link = live_link(world)
    services.request_open(link=link, kind=operator_change.CODE, user=world.am_a, channel="bank")
    customer = as_user(world.customer_x)
    portal_page = text(customer.get(f"/portal/links/{link.public_id}/"))
    assert f"/portal/links/{link.public_id}/operator-change/" not in portal_page
    assert f"/portal/links/{link.public_id}/account-change/" in portal_page
    assert "已有一笔办理中的“操作员变更”申请" in portal_page
    staff_page = text(as_user(world.am_a).get(f"/links/{link.public_id}/"))
    assert f"/links/{link.public_id}/operator-change/" not in staff_page
    assert f"/links/{link.public_id}/account-change/" in staff_page
    assert "已有一笔办理中的“操作员变更”申请" in staff_page

    services.request_open(link=link, kind="link_termination", user=world.am_a, channel="bank")
    link.refresh_from_db()
    portal_page = text(customer.get(f"/portal/links/{link.public_id}/"))
    for path in ("/operator-change/", "/account-change/", "/requests/suspension/", "/requests/termination/"):
        assert f"/portal/links/{link.public_id}{path}" not in portal_page, path
    assert "注销办结前不能提交新的申请" in portal_page
