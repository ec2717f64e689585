"""Suspension and resumption of a live link: the customer's request from the portal, the
bank's risk decision, the dormancy sweep's proposal (never a suspension by itself); the
supervisor decides; the link's status moves as link events."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from branches.roles import Role
from links import request_services
from links.models import LinkEvent, LinkRequest, LinkStatus, LiveLink
from links.requests import suspension
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
