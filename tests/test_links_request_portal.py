"""Issue 22, from the users' side: the portal's 撤回 box offers only the withdrawal the case's own
type declares, and opening a service request tells whoever holds its first stage (and the
company's people when the bank opened it), on the bell and by mail through the outbox.

- An open UKey-loss request has no withdrawal: no box on the portal case page, and a forged post
  is refused with a reason, the request untouched. An onboarding draft shows the box and it works.
- A termination the customer asked for shows 撤回注销申请 while the letter waits; it works, and the
  link goes back to 正常. Once approved, no box.
- A customer's operator change: the account manager finds the notice on the bell and the case in
  轮到我办理; a portal loss report: the counter maker does; English notices carry no Chinese but data.
- A termination the bank opened tells the company's people; a renewal opened by the sweep tells
  them only through its own reminder.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from counter.models import UKey
from links import request_services, services
from links.models import LinkRequest, LinkStatus
from links.requests import operator_change, termination, ukey_loss
from notices.models import Notification, OutboxEmail
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.factories import resident_id
from tests.html_forms import browser_post_data, form_with
from tests.links_request_helpers import (
    as_user,
    change_form_on_file,
    fill_and_post,
    live_link,
    messages_of,
    text,
    transition,
)
from tests.test_notices_loops import CJK, bell_count, notice_items, notices_page, unread


def _portal(case) -> str:
    return f"/portal/cases/{case.public_id}/"


def _withdraw_box(page: str) -> str | None:
    found = re.search(r'<details class="card" id="withdraw">(.*?)</details>', page, re.S)
    return found.group(1) if found else None


def _offered(case, user) -> dict[str, str]:
    """What the portal's action providers offer `user` on the case (key → text)."""
    from portal.actions import actions_for

    return {a.key: str(a.text) for a in actions_for(case=OnboardingCase.objects.get(pk=case.pk), user=user)}


def _post_withdraw(client: Client, case, reason: str = "不再需要") -> object:
    version = OnboardingCase.objects.get(pk=case.pk).version
    return client.post(
        reverse("portal:case_withdraw", args=[case.public_id]), {"version": version, "reason": reason}, follow=True
    )


# --- 1. the withdraw box follows the case type's declaration ------------------------------------


def test_an_open_ukey_loss_request_offers_no_withdrawal_and_a_forged_one_is_refused(world):
    link = live_link(world)
    key = link.current_operators().first().ukey
    request = services.ukey_loss_report(link=link, ukey=key, user=world.customer_x, reason="遗失")
    customer = as_user(world.customer_x)
    page = text(customer.get(_portal(request.case)))
    assert request.case.reference in page
    assert _withdraw_box(page) is None and "撤回申请" not in page
    assert reverse("portal:case_withdraw", args=[request.case.public_id]) not in page
    # Nor among what the portal offers the customer on the case.
    assert "withdraw" not in _offered(request.case, world.customer_x)
    # A forged post: refused with the reason, the request as it was.
    done = _post_withdraw(customer, request.case)
    assert "此申请在当前阶段不能由贵司撤回" in messages_of(done)
    request.refresh_from_db()
    assert request.is_open and OnboardingCase.objects.get(pk=request.case_id).state == ukey_loss.REPORTED
    key.refresh_from_db()
    assert key.status == UKey.Status.LOST


def test_an_onboarding_draft_offers_the_withdrawal_and_it_works(world):
    case = world.case(State.DRAFT)
    customer = as_user(world.customer_x)
    page = text(customer.get(_portal(case)))
    box = _withdraw_box(page)
    assert box is not None and "撤回申请" in box and "确认撤回" in box
    assert _offered(case, world.customer_x)["withdraw"] == "如不再需要开通,可撤回申请"
    done = fill_and_post(customer, _portal(case), "/withdraw/", reason="暂不开通")
    assert "申请已撤回,案件结束" in messages_of(done)
    case.refresh_from_db()
    assert case.state == State.WITHDRAWN
    # Ended: no box any more.
    assert _withdraw_box(text(customer.get(_portal(case)))) is None
    # Another company's user cannot reach it at all.
    assert _post_withdraw(as_user(world.customer_y), case).status_code == 404


def test_a_termination_offers_its_own_withdrawal_while_the_letter_waits(world):
    link = live_link(world)
    customer = as_user(world.customer_x)
    url = f"/portal/links/{link.public_id}/requests/termination/"
    fill_and_post(customer, url, url, reason="公司业务调整")
    request = LinkRequest.objects.get(link=link, kind=termination.CODE)
    link.refresh_from_db()
    assert link.status == LinkStatus.CLOSING
    page = text(customer.get(_portal(request.case)))
    box = _withdraw_box(page)
    assert box is not None and "撤回注销申请" in box and "撤回申请<" not in box
    assert _offered(request.case, world.customer_x)["withdraw"] == "如不再需要,可撤回注销申请"
    done = fill_and_post(customer, _portal(request.case), "/withdraw/", reason="继续使用")
    assert "注销申请已撤回" in messages_of(done)
    request.refresh_from_db()
    link.refresh_from_db()
    assert not request.is_open and link.status == LinkStatus.ACTIVE
    assert OnboardingCase.objects.get(pk=request.case_id).state == termination.WITHDRAWN


def test_an_approved_termination_offers_no_withdrawal(world):
    link = live_link(world)
    request = request_services.termination_open(link=link, user=world.customer_x, reason="公司注销")
    case = OnboardingCase.objects.get(pk=request.case_id)
    OnboardingCase.objects.filter(pk=case.pk).update(state=termination.APPROVAL)
    customer = as_user(world.customer_x)
    page = text(customer.get(_portal(case)))
    assert _withdraw_box(page) is None
    done = _post_withdraw(customer, case)
    assert "此申请在当前阶段不能由贵司撤回" in messages_of(done)
    link.refresh_from_db()
    assert link.status == LinkStatus.CLOSING


# --- 2. opening a request tells its first holders -------------------------------------------------


def test_a_customers_operator_change_is_handed_to_the_account_manager(world):
    link = live_link(world)
    customer = as_user(world.customer_x)
    url = f"/portal/links/{link.public_id}/operator-change/"
    data = browser_post_data(form_with(text(customer.get(url)), "id_number"))
    data.update(
        action=["add"], name=["操作员丙"], id_number=[resident_id(77)], role=["authorise"], reason=["新增授权人"]
    )
    done = customer.post(url, data, follow=True)
    assert "操作员变更申请已提交" in " ".join(messages_of(done))
    request = LinkRequest.objects.get(link=link, kind=operator_change.CODE)
    case = request.case
    # The account manager: the bell, the notice naming the request type, the queue.
    am = as_user(world.am_a)
    assert bell_count(am, world.am_a) == 1
    items = unread(notice_items(notices_page(am, world.am_a)))
    assert any(case.reference in i and "新的操作员变更" in i and "现由您办理" in i for i in items), items
    home = text(am.get("/"))
    assert case.reference in home and "审核操作员变更申请" in home
    # Read in English: no Chinese but the data (the reference, the company's name, the reason).
    english = notice_items(notices_page(am, world.am_a, english=True))
    mine = [i for i in english if case.reference in i]
    assert mine and "is now yours to handle" in mine[0]
    left = mine[0].replace(case.enterprise.name, "").replace("新增授权人", "")
    assert not CJK.search(left), mine[0]
    # One mail through the outbox to the account manager, with the staff page of the case.
    mail = OutboxEmail.objects.get(key=f"opened:{case.pk}:staff")
    assert world.am_a.email in mail.to and mail.payload["path"] == f"/cases/{case.public_id}/"
    # The customer opened it: nobody tells them what they just did; the counter is not told yet.
    assert not Notification.objects.filter(recipient=world.customer_x, case_id=case.pk).exists()
    assert not Notification.objects.filter(recipient__in=[world.maker, world.checker], case_id=case.pk).exists()
    # Once the account manager has approved it (the signed 变更申请书 accepted first), the notice
    # has done its work: it clears.
    change_form_on_file(request, uploader=world.customer_x, reviewer=world.am_a)
    transition(am, f"/cases/{case.public_id}/", "operator_change_approved")
    assert OnboardingCase.objects.get(pk=case.pk).state != operator_change.REVIEW
    assert not Notification.objects.filter(
        recipient=world.am_a, case_id=case.pk, kind="case_opened", cleared_at__isnull=True
    ).exists()


def test_a_loss_reported_on_the_portal_is_handed_to_the_counter_maker(world):
    link = live_link(world)
    key = link.current_operators().first().ukey
    customer = as_user(world.customer_x)
    done = fill_and_post(customer, f"/portal/links/{link.public_id}/", "/ukey-loss/", ukey=key.pk, reason="K宝遗失")
    assert any("挂失已生效" in m for m in messages_of(done))
    case = LinkRequest.objects.get(link=link, kind=ukey_loss.CODE).case
    maker = as_user(world.maker)
    assert bell_count(maker, world.maker) == 1
    items = unread(notice_items(notices_page(maker, world.maker)))
    assert any(case.reference in i and "新的UKey挂失补办" in i and "K宝遗失" in i for i in items), items
    home = text(maker.get("/"))
    assert case.reference in home
    english = [i for i in notice_items(notices_page(maker, world.maker, english=True)) if case.reference in i]
    assert english and "UKey loss and replacement" in english[0]
    left = english[0].replace(case.enterprise.name, "").replace("K宝遗失", "")
    assert not CJK.search(left), english[0]
    # The checker holds nothing yet; another branch's staff hear nothing.
    assert not Notification.objects.filter(recipient=world.checker, case_id=case.pk).exists()
    assert not Notification.objects.filter(recipient=world.am_b, case_id=case.pk).exists()


def test_a_termination_opened_by_the_bank_tells_the_company(world):
    link = live_link(world)
    request = request_services.termination_open(link=link, user=world.am_a, reason="企业已注销")
    case = request.case
    customer = as_user(world.customer_x)
    items = unread(notice_items(notices_page(customer, world.customer_x)))
    assert any(case.reference in i and "银行已为贵司发起注销直联服务" in i and "企业已注销" in i for i in items), items
    mail = OutboxEmail.objects.get(key=f"opened-by-bank:{case.pk}:customer")
    assert world.customer_x.email in mail.to and mail.payload["path"] == f"/portal/cases/{case.public_id}/"
    english = [i for i in notice_items(notices_page(customer, world.customer_x, english=True)) if case.reference in i]
    assert english and "the bank opened a request for your company" in english[0]
    # The account manager opened it and holds the letter stage: not told of their own act.
    assert not Notification.objects.filter(recipient=world.am_a, case_id=case.pk).exists()
    # Another company hears nothing.
    assert not Notification.objects.filter(recipient=world.customer_y, case_id=case.pk).exists()


def test_a_renewal_opened_by_the_sweep_reminds_the_company_once(world):
    link = live_link(world)
    today = timezone.localdate()
    type(link).objects.filter(pk=link.pk).update(certificate_expires_on=today + dt.timedelta(days=20))
    result = request_services.renewal_sweep(today=today)
    assert len(result.opened) == 1
    request = LinkRequest.objects.get(pk=result.opened[0])
    told = Notification.objects.filter(recipient=world.customer_x, case_id=request.case_id)
    assert [n.kind for n in told] == ["link_renewal"]


def test_the_notice_kinds_render_in_both_languages(world):
    from django.utils import translation

    from notices import kinds

    params = {"ref": "ZL-1", "company": "甲公司", "case": "x", "type": ukey_loss.CODE, "reason": ""}
    assert kinds.render_in("zh-hans", "case_opened", params) == "ZL-1 甲公司:新的UKey挂失补办,现由您办理"
    with translation.override("en"):
        english = kinds.render_in("en", "case_opened_by_bank", params)
    assert not CJK.search(english.replace("甲公司", "")), english
    assert settings.LANGUAGE_CODE == "zh-hans"
