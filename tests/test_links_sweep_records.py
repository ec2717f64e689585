"""What the record says about who opened a request and why, from the users' side (issue 22).

- A request a sweep opens (certificate renewal, dormancy suspension, periodic review) is the
  account manager's (their queue, their case), but its history says the system opened it:
  "系统(证书到期检查) 创建案件", never "<account manager> 创建案件"; so do the link's page and the
  request's facts. A request a person opens still names that person.
- A periodic review says why it is due (risk level, last review or go-live, the interval) on the
  case page, on the notices of the account manager and the company, and on the link's history,
  in Chinese and in English.
- The live link's creation is recorded in the channel of whoever made it go live (行内 for staff).
- An operator or accounts change shows one card on the staff case page (its change panel, with
  the link, who asked, and the change), not the generic request card as well.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from links import changes, request_services
from links.models import LinkEvent, LinkRequest, LiveLink
from links.requests import cert_renewal, suspension
from links.requests import periodic_review as pr
from onboarding.models import OnboardingCase
from tests.links_request_helpers import as_user, live_link, text, transition

CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


def _page(client: Client, url: str, *, english: bool = False) -> str:
    if english:
        client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(url)
    client.cookies.pop(django_settings.LANGUAGE_COOKIE_NAME, None)
    assert response.status_code == 200, (url, response.status_code)
    return text(response)


def _timeline_items(page: str) -> list[str]:
    """The case history as a reader sees it: each event's text, tags stripped."""
    body = page.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    items = re.findall(r"<li[^>]*>(.*?)</li>", body, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", i)).strip() for i in items]


def _link_history(page: str) -> list[str]:
    body = page.split('id="history"', 1)[1].split("</ol>", 1)[0]
    items = re.findall(r"<li[^>]*>(.*?)</li>", body, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", i)).strip() for i in items]


def _notices(client: Client, *, english: bool = False) -> list[str]:
    page = _page(client, reverse("notification_list"), english=english)
    body = page.split('class="notices plain"', 1)[1].split("</ul>", 1)[0] if 'class="notices plain"' in page else ""
    items = re.findall(r"<li[^>]*>(.*?)</li>", body, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", i)).strip() for i in items]


def _created(items: list[str]) -> str:
    found = [i for i in items if "创建案件" in i or "created" in i.lower()]
    assert len(found) == 1, items
    return found[0]


def test_a_renewal_the_sweep_opened_says_the_system_opened_it_and_is_the_account_managers(world, settings):
    settings.LINK_RENEWAL_LEAD_DAYS = 90
    link = live_link(world)
    LiveLink.objects.filter(pk=link.pk).update(
        certificate_serial="FEP-OLD-1", certificate_expires_on=timezone.localdate() + dt.timedelta(days=40)
    )
    request_services.renewal_sweep()
    request = LinkRequest.objects.get(link=link, kind=cert_renewal.CODE)
    case = OnboardingCase.objects.get(pk=request.case_id)
    assert case.account_manager == world.am_a and request.opened_by == world.am_a  # still theirs
    am = as_user(world.am_a)
    assert case.reference in _page(am, "/")  # in their queue
    page = _page(am, f"/cases/{case.public_id}/")
    created = _created(_timeline_items(page))
    assert created.startswith(timezone.localtime(case.created_at).strftime("%Y-%m-%d"))
    assert "系统(证书到期检查)" in created and f"负责人:{world.am_a}" in created
    assert f"{world.am_a} 创建案件" not in created
    # The request's facts, the link's request list and its history say so too.
    assert "系统(证书到期检查) · 系统" in page
    link_page = _page(am, f"/links/{link.public_id}/")
    assert "系统(证书到期检查) · 系统" in link_page
    opened = [i for i in _link_history(link_page) if "提交服务申请" in i]
    assert len(opened) == 1 and "系统(证书到期检查)" in opened[0] and str(world.am_a) not in opened[0]
    # In English.
    english = _created(_timeline_items(_page(am, f"/cases/{case.public_id}/", english=True)))
    assert "System (certificate expiry check)" in english and f"Owner: {world.am_a}" in english


def test_a_dormancy_suspension_says_the_dormancy_check_opened_it(world, settings):
    settings.LINK_DORMANT_DAYS = 365
    link = live_link(world)
    LiveLink.objects.filter(pk=link.pk).update(last_activity_at=timezone.now() - dt.timedelta(days=400))
    request_services.dormant_sweep()
    request = LinkRequest.objects.get(link=link, kind=suspension.SUSPENSION)
    assert request.opened_by == world.am_a
    page = _page(as_user(world.supervisor), f"/cases/{request.case.public_id}/")
    created = _created(_timeline_items(page))
    assert "系统(久悬检查)" in created and f"{world.am_a} 创建案件" not in created
    # Why, in each reader's language: the days without business and the last one.
    last = (timezone.localdate() - dt.timedelta(days=400)).isoformat()
    assert f"400天无业务(最近一次:{last})" in page
    english = _page(as_user(world.supervisor), f"/cases/{request.case.public_id}/", english=True)
    assert f"No activity for 400 days (last: {last})" in english and "天无业务" not in english
    link_history = _link_history(_page(as_user(world.am_a), f"/links/{link.public_id}/", english=True))
    assert any(f"No activity for 400 days (last: {last})" in i for i in link_history), link_history


def test_a_renewal_says_why_in_each_readers_language(world, settings):
    settings.LINK_RENEWAL_LEAD_DAYS = 90
    link = live_link(world)
    expires = timezone.localdate() + dt.timedelta(days=40)
    LiveLink.objects.filter(pk=link.pk).update(certificate_serial="FEP-OLD-2", certificate_expires_on=expires)
    request_services.renewal_sweep()
    request = LinkRequest.objects.get(link=link, kind=cert_renewal.CODE)
    am = as_user(world.am_a)
    assert f"证书将于{expires.isoformat()}到期,系统自动发起证书更新" in _page(am, f"/cases/{request.case.public_id}/")
    english = _page(am, f"/cases/{request.case.public_id}/", english=True)
    said = f"The certificate expires on {expires.isoformat()}; renewal opened automatically"
    assert said in english and "系统自动发起证书更新" not in english
    link_history = _link_history(_page(am, f"/links/{link.public_id}/", english=True))
    assert any(said in i for i in link_history), link_history


def test_a_request_a_person_opens_still_names_that_person(world):
    link = live_link(world)
    request = request_services.suspension_open(
        link=link, user=world.customer_x, reason_code="customer", reason="系统升级期间暂停"
    )
    page = _page(as_user(world.am_a), f"/cases/{request.case.public_id}/")
    created = _created(_timeline_items(page))
    assert f"{world.customer_x} 创建案件" in created and "系统(" not in created
    assert f"{world.customer_x} · 企业客户端" in page


def test_a_periodic_review_says_why_it_is_due_on_the_case_page_and_the_notices(world, settings):
    settings.LINK_REVIEW_MONTHS = {"high": 12, "medium": 24, "low": 36}
    link = live_link(world)
    OnboardingCase.objects.filter(pk=link.onboarding_case_id).update(risk_level="high")
    went_live = timezone.now() - dt.timedelta(days=400)
    LiveLink.objects.filter(pk=link.pk).update(went_live_at=went_live)
    assert changes.periodic_reviews_open()
    request = LinkRequest.objects.get(link=link, kind=pr.CODE, is_open=True)
    case = OnboardingCase.objects.get(pk=request.case_id)
    day = timezone.localdate(went_live).isoformat()
    reason = f"高风险,上线 {day} 后未复核,每 12 个月复核"
    am = as_user(world.am_a)
    page = _page(am, f"/cases/{case.public_id}/")
    assert reason in page
    assert "系统(定期复核检查)" in _created(_timeline_items(page))
    assert any(reason in n for n in _notices(am))
    customer = as_user(world.customer_x)
    assert any(reason in n and "银行已为贵司发起定期复核" in n for n in _notices(customer))
    assert any(reason in i for i in _link_history(_page(am, f"/links/{link.public_id}/")))
    # In English: the reason reads in English, the date as it is.
    english_reason = f"High risk, not reviewed since going live on {day}, reviewed every 12 months"
    assert english_reason in _page(am, f"/cases/{case.public_id}/", english=True)
    english_notices = [n for n in _notices(customer, english=True) if english_reason in n]
    assert english_notices and not CJK.search(
        english_notices[0].replace(case.reference, "").replace(case.enterprise.name, "")
    )
    # Closed, and due again a year later: the reason counts from the last review.
    transition(am, f"/cases/{case.public_id}/", "periodic_review_passed")
    request.refresh_from_db()
    assert not request.is_open
    closed = timezone.localdate(request.closed_at)
    assert not changes.periodic_reviews_open(today=changes._add_months(closed, 11))
    second = changes.periodic_reviews_open(today=changes._add_months(closed, 12))
    assert len(second) == 1
    again = f"高风险,上次复核 {closed.isoformat()},每 12 个月复核"
    assert again in _page(am, f"/cases/{second[0].case.public_id}/")


def test_an_unassessed_link_says_it_is_reviewed_as_medium(world, settings):
    settings.LINK_REVIEW_MONTHS = {"high": 12, "medium": 24, "low": 36}
    link = live_link(world)
    OnboardingCase.objects.filter(pk=link.onboarding_case_id).update(risk_level="")
    LiveLink.objects.filter(pk=link.pk).update(went_live_at=timezone.now() - dt.timedelta(days=700))
    assert not changes.periodic_reviews_open()  # 23 months: not yet due at the medium interval
    LiveLink.objects.filter(pk=link.pk).update(went_live_at=timezone.now() - dt.timedelta(days=740))
    (request,) = changes.periodic_reviews_open()
    page = _page(as_user(world.am_a), f"/cases/{request.case.public_id}/")
    assert "风险等级未评定(按中风险)" in page and "每 24 个月复核" in page


def test_the_link_is_created_in_the_channel_of_whoever_made_it_go_live(world):
    link = live_link(world)  # the account manager pressed 正式上线 on the case page
    created = link.events.get(name=LinkEvent.Name.CREATED)
    assert created.actor == world.am_a and created.channel == "bank"
    history = _link_history(_page(as_user(world.am_a), f"/links/{link.public_id}/"))
    line = next(i for i in history if "直联服务建立" in i)
    assert f"{world.am_a} · 行内" in line


def test_an_operator_change_shows_one_card_with_what_the_generic_card_showed(world):
    link = live_link(world)
    row = link.current_operators().get(name="操作员甲")
    request = changes.operator_change_open(
        link=link,
        user=world.customer_x,
        action="role",
        operator_id=row.operator_id,
        role="authorise",
        reason="岗位调整",
    )
    page = _page(as_user(world.am_a), f"/cases/{request.case.public_id}/")
    assert 'id="link-request"' not in page and page.count('id="change-request"') == 1
    card = page.split('id="change-request"', 1)[1].split("</section>", 1)[0]
    for shown in (link.reference, str(world.customer_x), "企业客户端", "操作员变更", "岗位调整", "变更申请书(PDF)"):
        assert shown in card, shown


def test_an_accounts_change_shows_one_card(world):
    link = live_link(world)
    account = link.current_accounts().first()
    row = {
        "account_number": account.account_number,
        "account_name": account.account_name,
        "opening_branch": account.opening_branch,
        "can_query": True,
        "can_pay": account.can_pay,
    }
    request = changes.account_change_open(
        link=link, user=world.am_a, accounts=[row], modules=[*link.modules, "e_receipt"], reason="增加电子回单"
    )
    page = _page(as_user(world.supervisor), f"/cases/{request.case.public_id}/")
    assert 'id="link-request"' not in page and page.count('id="change-request"') == 1
    card = page.split('id="change-request"', 1)[1].split("</section>", 1)[0]
    for shown in (link.reference, str(world.am_a), "行内", "账户/功能变更", "增加电子回单", account.account_number):
        assert shown in card, shown


def test_a_customers_notices_page_keeps_the_portals_menu(world):
    customer = _page(as_user(world.customer_x), reverse("notification_list"))
    menu = customer.split("<nav", 1)[1].split("</nav>", 1)[0]
    assert "我的申请" in menu and "案件列表" not in menu
    staff = _page(as_user(world.am_a), reverse("notification_list"))
    assert "案件列表" in staff.split("<nav", 1)[1].split("</nav>", 1)[0]
