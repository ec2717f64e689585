"""In Chromium: the bank's test gateway has posted what it saw; the customer finds the rows
filled on the portal and confirms one row, then all the others, without typing (issue 25).

The confirm buttons sit in the matrix's rows but belong to a form of their own (HTML's `form`
attribute): this is the browser's side of that. Screenshots go to $SCREENSHOT_DIR, else a temp dir.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onboarding import rules
from onboarding.models import ModuleTestResult
from tests.browser.test_portal_case_page import _login
from tests.factories import World
from tests.test_joint_test_gateway import ACCOUNT, URL, _case_in_joint_testing, _gateway, _rows, _tx


@pytest.mark.browser
def test_customer_confirms_what_the_gateway_saw(live_server, transactional_db, browser, tmp_path):
    target = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    world = World()
    case = _case_in_joint_testing(world)
    rows = _rows(case)
    body = {"test_account": ACCOUNT, "observations": [_tx(f"GW-{i}", m, c) for i, (m, c) in enumerate(rows)]}
    assert _gateway(world).post(URL, body).status_code == 201

    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    _login(page, live_server.url, "customer_x")
    page.goto(f"{live_server.url}/portal/cases/{case.public_id}/#testing")
    assert page.locator("[data-observed]").count() == len(rows)
    assert "银行测试网关已观测到" in page.inner_text("#testing")
    page.screenshot(path=str(target / "portal-joint-testing-gateway-observed.png"), full_page=True)

    first = f"{rows[0][0]}:{rows[0][1]}"
    page.locator(f'[data-observed="{first}"] button').click()
    page.wait_for_selector("text=已确认 1 个测试用例的测试网关记录")
    assert page.locator("[data-observed]").count() == len(rows) - 1
    assert ModuleTestResult.objects.filter(case=case, observation__trace_id="GW-0", passed=True).count() == 1

    page.click("button[value=all]")
    page.wait_for_selector(f"text=已确认 {len(rows) - 1} 个测试用例的测试网关记录")
    assert page.locator("[data-observed]").count() == 0
    assert "测试网关记录" in page.inner_text("#testing table")
    case.refresh_from_db()
    assert rules.joint_tests_missing(case) == []
    page.screenshot(path=str(target / "portal-joint-testing-gateway-confirmed.png"), full_page=True)
