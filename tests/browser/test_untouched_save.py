"""Open every page that edits a case's dates or company data in Chromium, click save without
touching anything, and check that the stored record did not move.

A date rendered in the Chinese input format (`2027/01/29`) is shown empty by Chromium's date
input and posted empty: before the fix, this cleared 目标上线日期 and the authorisation letter's
validity was refused. Both languages are checked: Chinese by default, English by its cookie.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from onboarding.models import OnboardingCase
from onboarding.states import Module, State
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD, Role, World, enterprise, user
from tests.record_snapshot import case_record, enterprise_record

SAVE = "form.case-form button[type=submit]"


def _customer_login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/portal/")


def _save_untouched(page, url: str, done_url: str) -> None:
    page.goto(url)
    dates = page.eval_on_selector_all(
        "input[type=date]", "els => els.map(e => [e.name, e.value, e.getAttribute('value')])"
    )
    # What Chromium holds is what the server rendered: nothing was dropped as unreadable.
    assert all(shown == (rendered or "") for _name, shown, rendered in dates), dates
    page.click(SAVE)
    page.wait_for_load_state()
    if page.url != done_url:
        errors = page.locator(".error, .msg.error").all_inner_texts()
        pytest.fail(f"saving {url} untouched was refused: {errors}")


def _english(context, base: str) -> None:
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": base}])


@pytest.fixture
def dated(transactional_db):
    world = World()
    company = enterprise(world.branch_a, handler_is_rep=False, name="北京丁卯科技有限公司", accounts=3)
    user("customer_d", Role.ENTERPRISE_USER, enterprise=company)
    draft = world.case(State.DRAFT, company=company)
    intake = world.case(State.BRANCH_INTAKE, company=company)
    target = timezone.localdate() + dt.timedelta(days=60)
    OnboardingCase.objects.filter(pk__in=[draft.pk, intake.pk]).update(target_date=target, erp_system="用友NC")
    return {"world": world, "company": company, "draft": draft, "intake": intake, "target": target}


@pytest.mark.browser
def test_staff_edit_pages_saved_untouched_keep_the_record(live_server, browser, dated):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    staff_login(page, base, "am_a")
    for language in ("zh-hans", "en"):
        if language == "en":
            _english(context, base)
        for case in (dated["draft"], dated["intake"]):
            before = case_record(case)
            assert before["case"]["target_date"] == dated["target"]
            assert before["enterprise"]["authorisation_valid_until"] is not None
            _save_untouched(page, f"{base}/cases/{case.public_id}/edit/", f"{base}/cases/{case.public_id}/")
            assert case_record(case) == before, (language, case.state)
    context.close()


@pytest.mark.browser
def test_portal_pages_saved_untouched_keep_the_record(live_server, browser, dated):
    base = live_server.url
    company, draft = dated["company"], dated["draft"]
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    _customer_login(page, base, "customer_d")
    for language in ("zh-hans", "en"):
        if language == "en":
            _english(context, base)
        before = case_record(draft)
        _save_untouched(page, f"{base}/portal/cases/{draft.public_id}/edit/", f"{base}/portal/cases/{draft.public_id}/")
        assert case_record(draft) == before, language

        # A new request starts from the company's record: only the modules are chosen.
        before_company = enterprise_record(company)
        cases_before = set(OnboardingCase.objects.filter(enterprise=company).values_list("pk", flat=True))
        page.goto(f"{base}/portal/cases/new/")
        page.check(f"input[name=modules][value={Module.ACCOUNT_QUERY}]")
        page.click(SAVE)
        page.wait_for_url(f"{base}/portal/cases/*/")
        assert enterprise_record(company) == before_company, language
        (new_case,) = OnboardingCase.objects.filter(enterprise=company).exclude(pk__in=cases_before)
        assert new_case.modules == [Module.ACCOUNT_QUERY]
    context.close()


@pytest.mark.browser
def test_audit_filter_keeps_its_dates(live_server, browser, dated):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    staff_login(page, base, "auditor")
    page.goto(f"{base}/audit/?date_from=2026-01-05&date_to=2026-02-27")
    page.click("form.filters button.primary")
    page.wait_for_load_state()
    assert "date_from=2026-01-05" in page.url and "date_to=2026-02-27" in page.url
    assert page.input_value("input[name=date_from]") == "2026-01-05"
    context.close()
