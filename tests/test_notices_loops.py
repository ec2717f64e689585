"""Every loop and end tells the person who must act, in their language, and the bell clears
once the work is done (issue 25): rework to the customer with the reason and the documents to
redo marked 需补正, change requests, go-live, counter confirmations; and where a login lands."""

from __future__ import annotations

import io
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from counter.models import CounterEntry
from documents import services as documents
from documents.samples import sample_pdf
from notices.models import Notification, OutboxEmail
from onboarding import services
from onboarding.change_requests import change_request_file
from onboarding.models import ChangeRequest, OnboardingCase
from onboarding.states import State
from tests.factories import PASSWORD, TOTP_SECRET, user

CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
REASON = "营业执照复印件未加盖公章"


def notices_page(client: Client, who, *, english: bool = False) -> str:
    client.force_login(who)
    if english:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("notification_list"))
    assert page.status_code == 200
    client.cookies.pop(settings.LANGUAGE_COOKIE_NAME, None)
    return page.content.decode()


def notice_items(page: str) -> list[str]:
    """The notices of the page as a reader sees them: each item's text, tags stripped."""
    body = page.split('class="notices plain"', 1)[1].split("</ul>", 1)[0] if 'class="notices plain"' in page else ""
    items = re.findall(r"<li[^>]*>(.*?)</li>", body, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", i)).strip() for i in items]


def unread(items: list[str]) -> list[str]:
    return [i for i in items if "未读" in i or "Unread" in i]


def bell_count(client: Client, who) -> int:
    """The number on the bell in the top bar (0 when it shows none)."""
    client.force_login(who)
    page = client.get(reverse("notification_list")).content.decode()
    bell = re.search(r'<a class="bell[^"]*"[^>]*>(.*?)</a>', page, re.S)
    assert bell is not None
    badge = re.search(r">(\d+\+?)</span>", bell.group(1))
    return int(badge.group(1)) if badge else 0


def transition(client: Client, who, case: OnboardingCase, name: str, **data) -> None:
    client.force_login(who)
    case.refresh_from_db()
    page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    action = reverse("case_transition", args=[case.public_id, name])
    assert action in page, (who, name)
    response = client.post(action, {"version": case.version, **data})
    assert response.status_code == 302
    case.refresh_from_db()


# --- rework -------------------------------------------------------------------------------------


def test_a_return_tells_the_customer_with_the_reason_and_marks_the_documents_to_redo(client, world) -> None:
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    # The approver's return form offers the intake documents to mark for redo.
    client.force_login(world.approver)
    page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert 'name="redo" value="business_licence"' in page
    transition(client, world.approver, case, "return_to_intake", reason=REASON, redo=["business_licence"])
    assert case.state == State.BRANCH_INTAKE

    # The customer is told, with the reason, on the bell; the portal lists the document to redo.
    items = notice_items(notices_page(client, world.customer_x))
    assert any(REASON in i and "退回补件" in i and case.reference in i for i in unread(items)), items
    assert bell_count(client, world.customer_x) == 1
    portal = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    assert "补正《营业执照复印件(加盖公章)》(需补正)" in portal and f"退回原因:{REASON}" in portal
    assert "目前无需贵司办理" not in portal
    assert "需补正" in portal.split('id="documents"', 1)[1]
    # The account manager, who holds intake again, is told too, with the reason.
    assert any(REASON in i and "现由您办理" in i for i in unread(notice_items(notices_page(client, world.am_a))))
    # Another company's people hear nothing.
    assert not notice_items(notices_page(client, world.customer_y))
    # The customer's mail goes through the outbox, with the reason and the portal link.
    mail = OutboxEmail.objects.get(key__startswith="rework:", key__endswith=":customer")
    assert mail.kind == "notice" and world.customer_x.email in mail.to and case.enterprise.contact_email in mail.to
    from notices.outbox import renderers

    subject, body = renderers.one("notice")(mail)  # type: ignore[misc]
    assert REASON in body and f"/portal/cases/{case.public_id}/" in body and case.reference in subject

    # The marked document holds the stage until a new version is uploaded and accepted.
    case.refresh_from_db()
    options = {o.name: o for o in services.case_transition_options(case=case, user=world.am_a)}
    assert any("营业执照" in p for p in options["submit_for_approval"].problems)
    version = documents.document_upload(
        case=case,
        user=world.customer_x,
        kind="business_licence",
        upload=io.BytesIO(sample_pdf("business_licence")),
        name="licence.pdf",
    )
    documents.document_review(version=version, user=world.am_a, accept=True)
    portal = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    assert "需补正" not in portal
    transition(client, world.am_a, case, "submit_for_approval")
    # The work is done: the customer's and the account manager's notices of the return clear.
    assert bell_count(client, world.customer_x) == 0
    assert bell_count(client, world.am_a) == 0
    kept = Notification.objects.filter(recipient=world.customer_x, case=case)
    assert kept.count() == 1 and kept.get().cleared_at is not None  # kept in the record, cleared
    assert "已办结" in notices_page(client, world.customer_x)


def test_a_return_marking_a_document_of_another_stage_is_refused_and_changes_nothing(client, world) -> None:
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    client.force_login(world.approver)
    response = client.post(
        reverse("case_transition", args=[case.public_id, "return_to_intake"]),
        {"version": case.version, "reason": REASON, "redo": ["test_report"]},
        follow=True,
    )
    assert "不属于退回后的阶段" in response.content.decode()
    case.refresh_from_db()
    assert case.state == State.HEAD_OFFICE_APPROVAL
    assert not Notification.objects.filter(recipient=world.customer_x, case=case).exists()


def test_a_return_from_joint_testing_tells_the_customer_too(client, world) -> None:
    case = world.case(State.JOINT_TESTING)
    transition(client, world.tech, case, "return_to_test_package", reason="测试证书需重新签发")
    items = unread(notice_items(notices_page(client, world.customer_x)))
    assert any("测试证书需重新签发" in i and "退回测试包阶段" in i for i in items), items
    # The portal's case page shows it with the reason (the customer owes nothing in this stage).
    portal = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    assert "测试证书需重新签发" in portal.split('class="notices plain case-notices"', 1)[1]
    # Once the bank has issued the test package again, the return is no longer news: the
    # customer's notice is now the test package that is theirs to test.
    services.case_transition(case=case, user=world.tech, name="issue_test_package", expected_version=case.version)
    client.force_login(world.customer_x)
    portal = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    shown = portal.split('class="notices plain case-notices"', 1)[1].split("</ul>", 1)[0]
    assert "测试证书需重新签发" not in shown and "下发测试包,现由您办理" in shown
    assert bell_count(client, world.customer_x) == 1


# --- change requests -----------------------------------------------------------------------------


def _file(case: OnboardingCase, who) -> ChangeRequest:
    company = case.enterprise
    return change_request_file(
        case=case,
        user=who,
        data={
            "name": "甲公司(更名)",
            "legal_rep_name": company.legal_rep_name,
            "legal_rep_id_number": company.legal_rep_id_number,
            "handler_name": company.handler_name,
            "handler_id_number": company.handler_id_number,
        },
        accounts=[{"account_number": company.accounts.first().account_number, "account_name": "甲公司(更名)"}],
        reason="工商变更登记",
    )


def test_a_change_request_tells_the_manager_and_supervisor_and_clears_when_decided(client, world) -> None:
    case = world.case(State.JOINT_TESTING)
    request = _file(case, world.customer_x)
    for told in (world.am_a, world.supervisor):
        items = unread(notice_items(notices_page(client, told)))
        assert any("提交了变更申请" in i and "工商变更登记" in i for i in items), (told, items)
    for not_told in (world.supervisor_other, world.am_b, world.customer_x):
        assert not any("变更申请" in i for i in notice_items(notices_page(client, not_told))), not_told
    supervisor_before = bell_count(client, world.supervisor)

    client.force_login(world.supervisor)
    decide = reverse("change_request_decide", args=[request.public_id])
    client.post(decide, {"decision": "refuse", "reason": "证照未更新"})
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.REFUSED
    # The supervisor's filing notice cleared; the filer and the account manager hear the decision.
    assert bell_count(client, world.supervisor) == supervisor_before - 1
    for told in (world.customer_x, world.am_a):
        items = unread(notice_items(notices_page(client, told)))
        assert any("变更申请未获批准" in i and "证照未更新" in i for i in items), (told, items)
    assert not any("提交了变更申请" in i for i in unread(notice_items(notices_page(client, world.am_a))))


# --- go-live and ends ----------------------------------------------------------------------------


def test_go_live_tells_the_customer_and_the_account_manager_and_clears_the_rest(client, world) -> None:
    case = world.case(State.PRODUCTION_VERIFICATION)
    services.customer_confirm_production(case=case, user=world.customer_x)
    assert bell_count(client, world.am_a) >= 1  # the customer's confirmation: the AM's turn
    transition(client, world.am_a2, case, "go_live")  # a colleague at the branch makes it
    assert case.state == State.LIVE
    customer = unread(notice_items(notices_page(client, world.customer_x)))
    assert any("已正式上线" in i and case.reference in i for i in customer), customer
    am = unread(notice_items(notices_page(client, world.am_a)))
    assert am and all("已正式上线" in i for i in am), am  # everything else on the case cleared
    assert bell_count(client, world.am_a) == 1
    assert OutboxEmail.objects.filter(key__startswith="ended:", key__endswith=":customer").exists()
    # Nothing on the live case is left open but the news itself.
    assert not Notification.objects.filter(case=case, read_at__isnull=True).exclude(kind="case_ended").exists()


# --- the counter ----------------------------------------------------------------------------------


def test_a_confirmation_tells_the_maker_and_clears_the_checkers_notice(client, world) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    ent = case.enterprise
    client.force_login(world.maker)
    client.post(
        reverse("counter:identity_check", args=[case.public_id]),
        {"person": "legal_rep", "person_name": ent.legal_rep_name, "id_number": ent.legal_rep_id_number},
    )
    entry = CounterEntry.objects.filter(case=case).latest("pk")
    checker_before = bell_count(client, world.checker)
    assert any("待您复核" in i for i in unread(notice_items(notices_page(client, world.checker))))

    client.force_login(world.checker)
    case.refresh_from_db()
    client.post(reverse("counter:entry_confirm", args=[case.public_id, entry.public_id]), {"version": case.version})
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.CONFIRMED
    assert bell_count(client, world.checker) == checker_before - 1
    maker = unread(notice_items(notices_page(client, world.maker)))
    assert any("临柜身份核验" in i and "复核生效" in i and "checker" in i for i in maker), maker
    assert OutboxEmail.objects.filter(key=f"counter-confirmed:{entry.pk}:staff", to=[world.maker.email]).exists()


def test_a_cancelled_entry_clears_the_checkers_notice(client, world) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    ent = case.enterprise
    client.force_login(world.maker)
    client.post(
        reverse("counter:identity_check", args=[case.public_id]),
        {"person": "legal_rep", "person_name": ent.legal_rep_name, "id_number": ent.legal_rep_id_number},
    )
    entry = CounterEntry.objects.filter(case=case).latest("pk")
    before = bell_count(client, world.checker)
    client.force_login(world.maker)
    case.refresh_from_db()
    client.post(
        reverse("counter:entry_cancel", args=[case.public_id, entry.public_id]),
        {"version": case.version, "reason": "录入有误"},
    )
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.CANCELLED
    assert bell_count(client, world.checker) == before - 1


# --- the reader's language -------------------------------------------------------------------------


def test_every_kind_of_notice_reads_in_english_on_an_english_page(client, world) -> None:
    """One person gets a notice of each kind; the English page shows none of them in Chinese
    (the company's name, the reference and the reasons people typed are data)."""
    from notices.services import notices_create
    from onboarding.notifications import case_params

    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    transition(client, world.approver, case, "return_to_intake", reason="R1", redo=["business_licence"])
    all_kinds = user("all_kinds", *[], enterprise=world.company_x)
    p = case_params(case)
    visit = {"visit": 0, "holder": "x"}
    samples = {
        "handoff": {**p, **visit, "event": "return_to_intake", "reason": "R1"},
        "rework": {**p, **visit, "event": "return_to_intake", "reason": "R1"},
        "case_ended": {**p, "state": State.LIVE, "live": True, "reason": ""},
        "change_request_filed": {**p, "request": "r", "by": "am_a", "reason": "R2"},
        "change_request_decided": {**p, "request": "r", "approved": False, "reason": "R3"},
        "counter_check": {**p, "entry": 1, "entry_kind": "identity_check", "maker": "maker"},
        "counter_confirmed": {**p, "entry": 1, "entry_kind": "ukey_issuance", "checker": "checker"},
        "message": {"ref": case.reference, "excerpt": "hello", "case": p["case"]},
        "webhook": {"url": "https://example.test/hook", "reason": "HTTP 500"},
        "reminder": {**p, **visit, "stage": State.BRANCH_INTAKE, "level": 2},
    }
    for kind, params in samples.items():
        notices_create(recipients=[all_kinds], case_id=case.pk, kind=kind, params=params)
    # A notice written before notices had parameters still shows its text.
    notices_create(recipients=[all_kinds], case_id=case.pk, kind="", text="旧通知原文")
    data = (case.reference, case.enterprise.name)

    english = notice_items(notices_page(client, all_kinds, english=True))
    assert len(english) == len(samples) + 1
    old = [i for i in english if "旧通知原文" in i]
    assert len(old) == 1
    for item in english:
        if item in old:
            continue
        shown = item
        for d in data:
            shown = shown.replace(d, "")
        assert not CJK.search(shown), item
    chinese = notice_items(notices_page(client, all_kinds))
    assert any("银企直联已正式上线" in i for i in chinese) and any("待您复核" in i for i in chinese)
    # The real notices of the return read in English for the customer too.
    customer = notice_items(notices_page(client, world.customer_x, english=True))
    assert customer and all(
        not CJK.search(i.replace(case.reference, "").replace(case.enterprise.name, "")) for i in customer
    )


# --- where a login lands ---------------------------------------------------------------------------


def _login_form(client: Client, username: str, next_url: str):
    page = client.get(next_url)
    assert page.status_code == 302 and page["Location"] == f"/login/?next={next_url}"
    return client.post(page["Location"], {"login": username, "password": PASSWORD})


def test_a_customer_who_opens_the_root_lands_in_the_portal(world) -> None:
    client = Client()
    response = _login_form(client, "customer_x", "/")
    assert response.status_code == 302 and response["Location"] == "/"
    landing = client.get("/", follow=True)
    assert landing.status_code == 200 and landing.redirect_chain[-1][0] == "/portal/"
    # Any page meant for staff sends a customer to the portal, never to a 403.
    for url in ("/cases/", "/analytics/", "/transfers/import/", reverse("case_new")):
        response = client.get(url, follow=True)
        assert response.status_code == 200 and response.redirect_chain[-1][0] == "/portal/", url
    # A post to a staff page is still refused.
    assert client.post(reverse("case_new"), {}).status_code == 403


@pytest.mark.parametrize("who", ["am_a", "checker"])
def test_staff_who_open_the_root_land_on_their_own_start_page(world, who) -> None:
    from audit.mfa import totp_code, totp_enrol

    person = getattr(world, who)
    totp_enrol(person, TOTP_SECRET)
    client = Client()
    response = _login_form(client, person.username, "/")
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "轮到我办理" in home.content.decode()


# --- reminders -------------------------------------------------------------------------------------


def test_a_reminder_reads_in_english_and_clears_once_the_stage_is_done(
    client, world, django_capture_on_commit_callbacks
) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from freezegun import freeze_time

    from reminders import services as reminders

    sh = ZoneInfo("Asia/Shanghai")
    with freeze_time(dt.datetime(2026, 6, 1, 10, 0, tzinfo=sh)):
        case = world.case(State.BRANCH_INTAKE)
    with freeze_time(dt.datetime(2026, 6, 8, 10, 1, tzinfo=sh)), django_capture_on_commit_callbacks(execute=True):
        reminders.reminders_sweep()
    notice = Notification.objects.get(recipient=world.am_a, kind="reminder")
    assert notice.params["visit"] == case.current_visit_id and notice.params["stage"] == State.BRANCH_INTAKE
    chinese = unread(notice_items(notices_page(client, world.am_a)))
    assert any("分支行受理已超过办理时限" in i for i in chinese), chinese
    english = unread(notice_items(notices_page(client, world.am_a, english=True)))
    assert any("Branch intake is past its due time" in i for i in english), english
    reminded = bell_count(client, world.am_a)

    from tests.factories import fill_assessment

    fill_assessment(case, world.am_a)
    transition(client, world.am_a, case, "submit_for_approval")
    assert bell_count(client, world.am_a) == reminded - 1
    notice.refresh_from_db()
    assert notice.read_at is not None and notice.cleared_at is not None
