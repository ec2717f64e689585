"""The customer's journey in headless Chromium: invited, requests a link, submits it; the
account manager finds it in intake.

Screenshots go to $SCREENSHOT_DIR (docs/portal/ when refreshing the documentation:
`SCREENSHOT_DIR=docs/portal .venv/bin/python -m pytest -m browser`), else a temp dir.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.core import mail

from documents.models import DocumentVersion
from documents.samples import sample_pdf
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.browser.helpers import staff_login
from tests.factories import World, enterprise

# `browser` is pytest-playwright's, launched from Debian's Chromium by tests/browser/conftest.py.
CUSTOMER_PASSWORD = "Bing-cfo-2026-secure"


@pytest.fixture
def shots(tmp_path):
    target = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)

    def shot(page, name: str) -> None:
        page.screenshot(path=str(target / f"{name}.png"), full_page=True)

    return shot


@pytest.mark.browser
def test_customer_requests_a_link_and_the_account_manager_finds_it(
    live_server, transactional_db, browser, shots, tmp_path
):
    world = World()
    company = enterprise(world.branch_a, name="北京丙辰贸易有限公司")
    base = live_server.url

    # 1. The account manager invites the company's finance contact.
    staff = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    am = staff.new_page()
    staff_login(am, base, "am_a")
    am.goto(f"{base}/portal/staff/enterprises/{company.public_id}/")
    am.fill("input[name=email]", "cfo@bingchen.example")
    am.fill("input[name=display_name]", "赵财务")
    am.click("text=发送邀请")
    am.wait_for_selector("text=邀请已发送")
    shots(am, "01-staff-invites-contact")
    (message,) = mail.outbox
    link = re.search(r"https?://\S+/portal/invite/\S+/", message.body).group(0)
    link = base + link[link.index("/portal/") :]

    # 2. The contact sets a password from the link and lands in the portal.
    customer_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    customer = customer_ctx.new_page()
    customer.goto(link)
    shots(customer, "02-invitation-set-password")
    customer.fill("input[name=password1]", CUSTOMER_PASSWORD)
    customer.fill("input[name=password2]", CUSTOMER_PASSWORD)
    customer.click("button.primary")
    customer.wait_for_url(f"{base}/portal/")
    shots(customer, "03-portal-home-empty")

    # 3. The customer requests a direct link: company data is prefilled from the bank's record.
    customer.click("text=申请开通银企直联 >> nth=0")
    customer.wait_for_url(f"{base}/portal/cases/new/")
    customer.check("input[name=modules][value=account_query]")
    customer.check("input[name=modules][value=reconciliation]")
    customer.fill("input[name=erp_system]", "用友NC Cloud")
    customer.fill("input[name=contact_name]", "赵财务")
    shots(customer, "04-request-form")
    customer.click('button:has-text("保存草稿")')
    customer.wait_for_selector("text=已保存为草稿")
    case = OnboardingCase.objects.get(enterprise=company)
    assert case.state == State.DRAFT and case.account_manager == world.am_a
    shots(customer, "05-draft-case")

    # 4. The customer submits it to the branch.
    customer.click("#submit button.primary")
    customer.wait_for_selector("text=已提交受理,客户经理将审核贵司资料")  # and the to-dos left (issue 25)
    case.refresh_from_db()
    assert case.state == State.BRANCH_INTAKE
    shots(customer, "06-submitted-case")

    # 5. The account manager sees it in "my work", in branch intake.
    am.goto(f"{base}/")
    row = am.locator("table.cases tr", has_text=case.reference)
    assert row.count() == 1 and "分支行受理" in row.inner_text()
    shots(am, "07-account-manager-my-work")
    am.goto(f"{base}/cases/{case.public_id}/")
    shots(am, "08-staff-case-page-with-thread")

    # 6. The customer's action list names the documents; it generates the application form,
    #    downloads it, and uploads the signed copy and the other intake documents.
    customer.reload()
    assert "下载《银企直联申请表》,签字盖章后上传" in customer.inner_text(".actions, #actions, body")
    row = customer.locator('tr[data-kind="application_form"]')
    row.locator("button", has_text="生成表单").click()
    customer.wait_for_selector("text=已生成")
    with customer.expect_download() as download_info:
        customer.locator('tr[data-kind="application_form"] a', has_text="v1").click()
    pdf_path = tmp_path / "application-form.pdf"
    download_info.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")
    shots(customer, "09-application-form-generated")
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(sample_pdf())
    for kind in ("application_form", "service_agreement", "business_licence", "legal_rep_id", "handler_id"):
        form = customer.locator(f'tr[data-kind="{kind}"] form.upload')
        form.locator("input[type=file]").set_input_files(str(signed))
        form.locator("button").click()
        customer.wait_for_selector(f'tr[data-kind="{kind}"] .status-uploaded')
    versions = DocumentVersion.objects.filter(
        document__case=case, document__generated=False, uploaded_by__enterprise=company
    )
    assert versions.count() == 5
    assert "签字盖章后上传" not in customer.inner_text("body")
    shots(customer, "10-documents-uploaded")

    # 7. The account manager sees the uploads waiting for review on the case page.
    am.goto(f"{base}/cases/{case.public_id}/")
    assert am.locator("#documents .status-uploaded").count() == 5
    shots(am, "11-staff-case-documents-to-review")

    # 8. On a phone: the portal home and the case page fit a 390×844 screen.
    phone_ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    phone_ctx.add_cookies(customer_ctx.cookies())
    phone = phone_ctx.new_page()
    for path, name in (("/portal/", "12-phone-portal-home"), (f"/portal/cases/{case.public_id}/", "13-phone-case")):
        phone.goto(base + path)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways on a phone ({width}px)"
        shots(phone, name)

    # 9. The same page in English through the language switch.
    customer.click("button[name=language][value=en]")
    customer.wait_for_selector("text=What you need to do")
    shots(customer, "14-case-in-english")
    for ctx in (staff, customer_ctx, phone_ctx):
        ctx.close()
