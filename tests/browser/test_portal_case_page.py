"""The customer's case page in Chromium: the test environment it must configure, the joint-test
matrix filled and saved at once, then the production parameters and the finished live case; on
a desktop and on a phone.

Screenshots go to $SCREENSHOT_DIR (docs/portal/ when refreshing the documentation), else a temp dir.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onboarding.states import TEST_CASES, State
from tests.factories import PASSWORD, World


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(f"{base}/portal/")


@pytest.mark.browser
def test_customer_reads_parameters_and_saves_the_matrix(live_server, transactional_db, browser, tmp_path):
    target = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    world = World()
    testing = world.case(State.JOINT_TESTING)
    verifying = world.case(State.PRODUCTION_VERIFICATION)
    live = world.case(State.LIVE)
    intake = world.case(State.BRANCH_INTAKE, documents=False)
    base = live_server.url

    desktop = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desktop.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _login(page, base, "customer_x")

    # "下载《银企直联申请表》,签字盖章后上传": the to-do itself hands over the filled PDF.
    page.goto(f"{base}/portal/cases/{intake.public_id}/")
    with page.expect_download() as download_info:
        page.locator('li[data-key="document:application_form"] button.action-download').click()
    pdf = tmp_path / "application-form.pdf"
    download_info.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    page.screenshot(path=str(target / "portal-case-intake-desktop.png"), full_page=True)

    page.goto(f"{base}/portal/cases/{testing.public_id}/")
    assert "https://test.bank.example/h2h" in page.inner_text("#test-package")
    assert "当前办理方:贵司" in page.inner_text(".case-head")
    rows = [(m, code) for m in testing.modules for code, _label in TEST_CASES[m]]
    for i, (module, code) in enumerate(rows):
        key = f"{module}:{code}"
        page.select_option(f'select[name="result-{key}"]', "pass" if i else "fail")
        page.fill(f'input[name="evidence-{key}"]', f"TX-2026-{i:04d}")
        if i == 0:
            page.fill(f'input[name="notes-{key}"]', "余额返回超时,已联系行方")
    page.screenshot(path=str(target / "portal-case-joint-testing-desktop.png"), full_page=True)
    page.click("#testing button.primary")
    page.wait_for_selector(f"text=已登记 {len(rows)} 个测试用例的结果")
    assert testing.test_results.count() == len(rows)
    matrix = page.inner_text("#testing table")
    assert "余额返回超时" in matrix and "TX-2026-0001" in matrix and "✘ 未通过" in matrix

    page.goto(f"{base}/portal/cases/{verifying.public_id}/")
    assert "https://h2h.bank.example" in page.inner_text("#production-config")
    page.screenshot(path=str(target / "portal-case-production-desktop.png"), full_page=True)

    page.goto(f"{base}/portal/cases/{live.public_id}/")
    head = page.inner_text(".case-head")
    assert "已上线" in head and "当前办理方" not in head
    assert "银行正在处理" not in page.inner_text("body")
    page.screenshot(path=str(target / "portal-case-live-desktop.png"), full_page=True)
    assert errors == []

    phone_ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    phone_ctx.add_cookies(desktop.cookies())
    phone = phone_ctx.new_page()
    for case, name in ((testing, "joint-testing"), (verifying, "production"), (live, "live")):
        phone.goto(f"{base}/portal/cases/{case.public_id}/")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} scrolls sideways on a phone ({width}px)"
        phone.screenshot(path=str(target / f"portal-case-{name}-phone.png"), full_page=True)
    desktop.close()
    phone_ctx.close()
