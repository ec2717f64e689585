"""The whole journey in Chromium, every hand-off checked from the next person's side.

customer requests and submits → account manager → supervisor endorses → head-office approver
approves → tech issues the test package → customer records the joint-test matrix → tech passes
→ counter maker enters the identity check → counter checker confirms → tech issues the
production configuration → checker completes UKey issuance → customer confirms production
verification → account manager puts it live.

Each person has a browser of their own, logged in once. After each hand-off the next person's
dashboard (轮到我办理) shows the case with the action it needs and their bell has an unread
notice about it; the previous holder's and an unrelated colleague's show neither. Long
preparations (uploading and accepting the intake papers, the UKeys after the first entry) go
through the service layer; every check and every hand-off itself is clicked in the pages.

Screenshots with SAVE_SCREENSHOTS=1: docs/screenshots/journey-*.png (dashboard with the queue,
the supervisor's team, the staff case page's next-step panel, the portal case on a desktop and
a phone).
"""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest
from django.utils import timezone
from freezegun import freeze_time

from demo.counter_work import add_operators, issue_ukey
from documents import services as documents
from documents.samples import sample_pdf
from onboarding.models import OnboardingCase, StageVisit
from onboarding.states import TEST_CASES, State
from tests.browser.conftest import SCREENSHOTS
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD, World, enterprise, fill_assessment, operator_people, provide_documents

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}


class Person:
    """One person at their own browser."""

    def __init__(self, browser, base: str, username: str, *, staff: bool = True) -> None:
        self.name = username
        self.base = base
        self.context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
        self.page = self.context.new_page()
        if staff:
            staff_login(self.page, base, username)
        else:
            self.page.goto(f"{base}/login/")
            self.page.fill("input[name=login]", username)
            self.page.fill("input[name=password]", PASSWORD)
            self.page.click("button.primary")
        self.page.wait_for_load_state()

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def queue(self, ref: str) -> list[str]:
        """The actions 轮到我办理 lists for the case."""
        self.go("/")
        rows = self.page.locator("#queue .queue-item", has_text=ref)
        return [rows.nth(i).locator("a.queue-action").inner_text() for i in range(rows.count())]

    def unread(self, ref: str) -> list[str]:
        """Unread notices about the case on the notices page (the bell's target), then all read."""
        self.go("/reminders/")
        items = self.page.locator("li.unread", has_text=ref)
        texts = [items.nth(i).inner_text() for i in range(items.count())]
        button = self.page.locator("button", has_text="全部标为已读")
        if button.count():
            button.click()
            self.page.wait_for_load_state()
        return texts

    def bell_count(self) -> int:
        badge = self.page.locator("a.bell .badge")
        return int(badge.inner_text()) if badge.count() else 0


def handed_to(nxt: Person, ref: str, action: str, *, notice: str = "") -> None:
    """The next person finds the case in their queue with `action`, and a notice in their bell."""
    nxt.go("/")
    assert nxt.bell_count() >= 1, nxt.name
    assert action in nxt.queue(ref), (nxt.name, nxt.queue(ref))
    texts = nxt.unread(ref)
    assert texts, nxt.name
    if notice:
        assert any(notice in t for t in texts), (nxt.name, texts)


def not_theirs(people: list[Person], ref: str, action: str) -> None:
    for p in people:
        assert action not in p.queue(ref), (p.name, action)
        assert p.unread(ref) == [], p.name


def click_action(person: Person, ref: str, action: str) -> None:
    """Follow the queue's link: it opens the case page where the action is done."""
    person.go("/")
    row = person.page.locator("#queue .queue-item", has_text=ref).filter(has_text=action)
    row.locator("a.queue-action").click()
    person.page.wait_for_load_state()


def transition(person: Person, name: str) -> None:
    person.page.click(f"button[value={name}]")
    person.page.wait_for_load_state()


def test_every_hand_off_reaches_the_next_person(browser, live_server, tmp_path):
    folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path

    def shot(page, name: str) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    world = World()
    # Other work on the desks, so the dashboards look like a working day: an overdue intake case
    # for the manager, a case waiting on the approver.
    with freeze_time(timezone.now() - dt.timedelta(days=14)):  # its visit began then (never rewritten)
        late = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="北京丙辰贸易有限公司"))
    StageVisit.objects.filter(pk=late.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=7))
    world.case(
        State.HEAD_OFFICE_APPROVAL, endorsed=True, company=enterprise(world.branch_a, name="北京甲子科技有限公司")
    )
    base = live_server.url
    customer = Person(browser, base, "customer_x", staff=False)
    am = Person(browser, base, "am_a")
    am2 = Person(browser, base, "am_a2")  # same branch, not this case's manager
    sup = Person(browser, base, "supervisor")
    sup2 = Person(browser, base, "supervisor_other")
    approver = Person(browser, base, "approver")
    tech = Person(browser, base, "tech")
    maker = Person(browser, base, "maker")
    checker = Person(browser, base, "checker")

    # 1. The customer requests a link in the portal and submits it.
    customer.go("/portal/cases/new/")
    for module in ("account_query", "reconciliation"):
        customer.page.check(f"input[name=modules][value={module}]")
    customer.page.fill("input[name=erp_system]", "用友NC Cloud")
    customer.page.click('button:has-text("保存草稿")')
    customer.page.wait_for_selector("text=已保存为草稿")
    case = OnboardingCase.objects.get(enterprise=world.company_x)
    ref = case.reference
    customer.page.click("#submit button.primary")
    customer.page.wait_for_selector("text=已提交受理,客户经理将审核贵司资料")  # and the to-dos left (issue 25)

    # → the account manager the portal picked (the branch's manager with the fewest open cases).
    manager = case.account_manager
    if manager == world.am_a2:
        am, am2 = am2, am
    handed_to(am, ref, "受理:收齐材料、评估后上报立项审批")
    not_theirs([am2, sup, approver], ref, "受理:收齐材料、评估后上报立项审批")
    # The intake papers (uploaded by the customer, accepted by the manager) and the assessment.
    case = OnboardingCase.objects.get(pk=case.pk)
    provide_documents(case, State.BRANCH_INTAKE, uploader=world.customer_x, reviewer=manager)
    fill_assessment(OnboardingCase.objects.get(pk=case.pk), manager)
    click_action(am, ref, "受理:收齐材料、评估后上报立项审批")
    assert am.page.url.endswith("#next-step")
    transition(am, "submit_for_approval")

    # → the supervisor: endorsement. His dashboard also shows his team.
    endorse = "分行审核:立项上报"
    handed_to(sup, ref, endorse)
    not_theirs([am, sup2, approver], ref, endorse)
    sup.go("/")
    team = sup.page.inner_text("#team")
    assert manager.username in team and ref in team
    shot(sup.page, "journey-supervisor-dashboard")
    click_action(sup, ref, endorse)
    transition(sup, "endorse")

    # → the head-office approver.
    approve = "总行审批:立项批复、费用通过"
    handed_to(approver, ref, approve)
    approver.go("/")
    shot(approver.page, "journey-approver-dashboard")
    not_theirs([sup, am, tech], ref, approve)
    click_action(approver, ref, approve)
    transition(approver, "approve")

    # → head-office tech: the test package, from the queue straight to its form.
    package = "登记并下发测试包"
    handed_to(tech, ref, package)
    not_theirs([approver, sup, am2], ref, package)
    click_action(tech, ref, package)
    assert tech.page.url.endswith("#test-package")
    shot(tech.page, "journey-staff-case-next-step")
    form = tech.page.locator("#test-package form")
    form.locator("input[name=test_endpoint]").fill("https://test.bank.example/h2h")
    form.locator("[name=test_accounts]").fill("6222000011112222")
    form.locator("input[name=test_certificate_ref]").fill("TEST-CERT-01")
    form.locator("input[name=doc_version]").fill("v2.3")
    form.locator("button.primary").click()
    tech.page.wait_for_load_state()
    transition(tech, "issue_test_package")

    # → the customer: the joint tests (portal to-do and bell).
    assert customer.unread(ref), "the customer's bell"
    customer.go(f"/portal/cases/{case.public_id}/")
    assert "当前办理方:贵司" in customer.page.inner_text(".case-head")
    assert "https://test.bank.example/h2h" in customer.page.inner_text("#test-package")
    assert customer.page.locator('li.action[data-key^="test_result:"]').count() >= 1
    not_theirs([tech, approver], ref, package)
    rows = [(m, code) for m in case.modules for code, _label in TEST_CASES[m]]
    for i, (module, code) in enumerate(rows):
        customer.page.select_option(f'select[name="result-{module}:{code}"]', "pass")
        customer.page.fill(f'input[name="evidence-{module}:{code}"]', f"TX-2026-{i:04d}")
    shot(customer.page, "journey-portal-case-desktop")
    phone_ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    phone_ctx.add_cookies(customer.context.cookies())
    phone = phone_ctx.new_page()
    phone.goto(f"{base}/portal/cases/{case.public_id}/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "journey-portal-case-phone")
    phone_ctx.close()
    customer.page.click("#testing button.primary")
    customer.page.wait_for_selector(f"text=已登记 {len(rows)} 个测试用例的结果")
    documents.document_upload(
        case=OnboardingCase.objects.get(pk=case.pk),
        user=world.customer_x,
        kind="test_report",
        upload=io.BytesIO(sample_pdf("report")),
        name="测试报告.pdf",
    )

    # → tech: accept the report and pass the tests.
    decide = "确认联调测试结果:测试通过或要求重测"
    handed_to(tech, ref, decide)
    assert "审核文件:测试报告" in tech.queue(ref)
    not_theirs([approver, am2], ref, decide)
    customer.go(f"/portal/cases/{case.public_id}/")
    assert customer.page.locator('li.action[data-key^="test_result:"]').count() == 0
    click_action(tech, ref, "审核文件:测试报告")
    assert tech.page.url.endswith("#documents")
    tech.page.locator('tr[data-kind="test_report"] button[value=accept]').click()
    tech.page.wait_for_load_state()
    transition(tech, "accept_test_report")

    # → the counter maker (tech is told too: the production configuration is his).
    identity = "柜面录入:临柜身份核验"
    handed_to(maker, ref, identity)
    assert tech.queue(ref) == ["登记生产配置"]
    tech.unread(ref)
    not_theirs([checker, approver], ref, identity)
    add_operators(OnboardingCase.objects.get(pk=case.pk), world.maker, operator_people(case.pk))
    click_action(maker, ref, identity)
    assert maker.page.url.endswith("#counter")
    ent = case.company
    # The one-visit form (issue 25); the UKeys are issued below through the services.
    maker.page.select_option("#counter-visit select[name=person]", "legal_rep")
    maker.page.fill("#counter-visit input[name=person_name]", ent.legal_rep_name)
    maker.page.fill("#counter-visit input[name=id_number]", ent.legal_rep_id_number)
    maker.page.locator("#counter-visit button.primary").click()
    maker.page.wait_for_load_state()

    # → the counter checker.
    check = "复核:临柜身份核验(maker录入)"
    handed_to(checker, ref, check, notice="待您复核")
    not_theirs([maker, am2], ref, check)
    click_action(checker, ref, check)
    checker.page.locator("#counter button", has_text="复核确认").first.click()
    checker.page.wait_for_load_state()
    # The UKeys: issued, downloaded, activated and each confirmed (maker and checker in turn).
    for i, operator in enumerate(OnboardingCase.objects.get(pk=case.pk).operators.order_by("pk")):
        issue_ukey(OnboardingCase.objects.get(pk=case.pk), operator, world.maker, world.checker, serial=f"JK{i}")
    checker.unread(ref)  # the notices of those service-layer entries
    # Each confirmation went back to the maker (issue 25): read, so the bell shows only open work.
    assert any("复核生效" in t for t in maker.unread(ref)), maker.name

    # → tech: the counter is done; the production configuration is missing.
    config = "登记生产配置"
    assert tech.queue(ref) == [config]
    assert checker.queue(ref) == [] and maker.queue(ref) == []
    click_action(tech, ref, config)
    assert tech.page.url.endswith("#production")
    form = tech.page.locator("#production form")
    form.locator("input[name=production_endpoint]").fill("https://h2h.bank.example/prod")
    form.locator("input[name=certificate_serial]").fill("PROD-CERT-9")
    form.locator("[name=production_accounts]").fill(ent.accounts[0]["account_number"])
    form.locator("button.primary").click()
    tech.page.wait_for_selector("text=生产配置已下发")

    # → the checker completes UKey issuance.
    complete = "UKey发放完成,转客户生产验证"
    handed_to(checker, ref, complete, notice="生产配置")
    not_theirs([tech, maker, am2], ref, complete)
    click_action(checker, ref, complete)
    transition(checker, "complete_ukey_issuance")

    # → the customer: production verification.
    assert customer.unread(ref), "the customer's bell"
    customer.go(f"/portal/cases/{case.public_id}/")
    assert customer.page.locator('li.action[data-key="confirm_production"]').count() == 1
    assert "https://h2h.bank.example/prod" in customer.page.inner_text("#production-config")
    not_theirs([checker, tech], ref, complete)
    customer.page.check("input[name=transactions_done]")
    customer.page.check("input[name=reconciled]")
    customer.page.locator("#production button.primary").click()
    customer.page.wait_for_load_state()

    # → the account manager puts it live.
    live = "行方确认,正式上线"
    handed_to(am, ref, live)
    not_theirs([am2, checker], ref, live)
    click_action(am, ref, live)
    transition(am, "go_live")
    assert OnboardingCase.objects.get(pk=case.pk).state == State.LIVE
    for p in (am, sup, approver, tech, maker, checker):
        assert p.queue(ref) == [], p.name
    customer.go(f"/portal/cases/{case.public_id}/")
    assert "已上线" in customer.page.inner_text(".case-head")
    for p in (customer, am, am2, sup, sup2, approver, tech, maker, checker):
        p.context.close()
