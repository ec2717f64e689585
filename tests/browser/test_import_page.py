"""A supervisor uploads a GB18030 CSV of a branch pipeline in Chromium, reads the check (every row's
fate, errors by column), imports the valid rows, and no console or CSP error shows. Screenshots:
import-upload, import-dry-run."""

from __future__ import annotations

import pytest

from onboarding.models import OnboardingCase
from tests.browser.helpers import staff_login
from tests.transfers_helpers import bad_row, encode, good_row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_supervisor_checks_then_imports_the_valid_rows(page, live_server, shot, tmp_path):
    from tests.factories import World

    world = World()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.set_viewport_size({"width": 1280, "height": 900})
    data, _name = encode(
        [
            good_row(1),
            bad_row(2),
            good_row(3, 当前阶段="分支行受理", 总行立项审批日期="", 测试包下发日期="", 联调测试日期=""),
            good_row(4, manager="am_b"),
        ],
        "gb18030",
    )
    path = tmp_path / "网点存量客户.csv"
    path.write_bytes(data)

    staff_login(page, live_server.url, world.supervisor.username)
    page.goto(f"{live_server.url}/cases/")
    page.click("text=批量导入")
    page.wait_for_selector("input[name=file]")
    shot("import-upload")
    page.set_input_files("input[name=file]", str(path))
    page.click("button:has-text('上传并检查')")
    page.wait_for_selector("table.import-report")
    main = page.inner_text("main")
    assert "统一社会信用代码校验位不正确" in main and "“am_b”不是您管辖范围内在岗的客户经理" in main
    assert page.locator("tr.fate-invalid").count() == 2 and page.locator("tr.fate-valid").count() == 2
    shot("import-dry-run")
    assert not OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").exists()

    page.click("button:has-text('仅导入 2 个有效行')")
    page.wait_for_selector("tr.fate-imported")
    assert page.locator("tr.fate-imported").count() == 2
    assert OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").count() == 2
    assert problems == []
