"""Imported UKeys walked in Chromium: a supervisor imports a live link from the bank's spreadsheet
(a second row reusing a key the register already holds is refused in the check, naming it); the
counter's register shows the imported keys marked 导入 and the expiry list finds them; the
company's user reports one lost on the portal and it is blocked at once."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone

from branches.roles import Role
from counter.models import UKey
from links.models import LiveLink
from onboarding.states import State
from tests.browser.conftest import SCREENSHOTS
from tests.browser.helpers import staff_login
from tests.factories import PASSWORD, user
from tests.test_links_import import link_file, link_row, live_cases

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _page(browser):
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()


def _snap(page, tmp_path, name: str) -> Path:
    folder = SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_imported_keys_are_in_the_register_expire_and_are_blocked_when_reported_lost(live_server, browser, tmp_path):
    from tests.factories import World

    world = World()
    cases = live_cases(world, [1, 2])
    taken = UKey.objects.filter(case=world.case(State.LIVE)).order_by("pk").first().serial
    soon = (timezone.localdate() + dt.timedelta(days=25)).isoformat()
    data, _name = link_file(
        [
            link_row(cases[0], 1, 证书到期日=soon),
            link_row(cases[1], 2, 操作员=f"王五/复核/{taken}/310104198001010033"),
        ]
    )
    path = tmp_path / "存量直联服务.csv"
    path.write_bytes(data)
    base = live_server.url

    # The supervisor checks the file: the row reusing a registered key is refused, by its serial.
    sup = _page(browser)
    staff_login(sup, base, world.supervisor.username)
    sup.goto(f"{base}/transfers/import/links/")
    sup.set_input_files("input[name=file]", str(path))
    sup.click("button:has-text('上传并检查')")
    sup.wait_for_selector("table.import-report")
    assert f"K宝编号 {taken} 已在UKey登记簿中,不能重复导入" in sup.inner_text("main")
    _snap(sup, tmp_path, "imported-ukeys-check")
    sup.click("button:has-text('仅导入 1 个有效行')")
    sup.wait_for_selector("tr.fate-imported")
    link = LiveLink.objects.get(onboarding_case=cases[0])

    # The counter: the register marks the keys 导入; the expiry list finds them.
    maker = _page(browser)
    staff_login(maker, base, world.maker.username)
    maker.goto(f"{base}/cases/{cases[0].public_id}/")
    card = maker.locator("details.register-card")
    if card.get_attribute("open") is None:
        maker.click("summary:has-text('企业操作员与UKey登记簿')")
    register = maker.inner_text("table.register")
    assert "K0000000011" in register and "K0000000012" in register and register.count("导入") == 2
    assert "存量直联服务.csv 第 2 行" in register
    _snap(maker, tmp_path, "imported-ukeys-register")
    maker.goto(f"{base}/counter/expiring/?days=30")
    listed = maker.inner_text("main")
    assert "K0000000011" in listed and "K0000000012" in listed and taken not in listed
    _snap(maker, tmp_path, "imported-ukeys-expiring")

    # The company's user reports one lost on the portal: blocked at once.
    customer_user = user("imported_customer", Role.ENTERPRISE_USER, enterprise=cases[0].enterprise)
    customer = _page(browser)
    customer.goto(f"{base}/login/")
    customer.fill("input[name=login]", customer_user.username)
    customer.fill("input[name=password]", PASSWORD)
    customer.click("button.primary")
    customer.wait_for_url(f"{base}/portal/**")
    customer.goto(f"{base}/portal/links/{link.public_id}/")
    key = UKey.objects.get(serial="K0000000011")
    customer.select_option("#ukey-loss-form select[name=ukey]", str(key.pk))
    customer.fill("#ukey-loss-form input[name=reason]", "K宝遗失")
    customer.click("#ukey-loss-form button")
    customer.wait_for_selector("text=挂失已生效")
    key.refresh_from_db()
    assert key.status == UKey.Status.LOST
    assert "已挂失" in customer.inner_text("#link-operators")
    _snap(customer, tmp_path, "imported-ukeys-lost")
