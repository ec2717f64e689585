"""The staff case page leads with what to do now, and staff pages fit a 390 px phone (issue 25).

Measured in Chromium: the case page's height at intake at 1280 px, and at 390 px that no page
scrolls sideways (wide tables scroll inside their own box). Screenshots with SAVE_SCREENSHOTS=1:
case-intake-1280, case-intake-390, case-counter-1280, case-counter-390."""

from __future__ import annotations

import pytest

from onboarding.states import State
from tests.browser.helpers import staff_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def measure(page) -> dict[str, int]:
    return page.evaluate(
        "() => ({height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth})"
    )


def test_the_intake_page_is_short_and_leads_with_the_main_action(page, live_server, shot):
    from tests.factories import World

    world = World()
    case = world.case(State.BRANCH_INTAKE, documents=False)
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_login(page, live_server.url, world.am_a.username)
    page.goto(f"{live_server.url}/cases/{case.public_id}/")
    size = measure(page)
    print("intake 1280:", size)
    shot("case-intake-1280")
    # The main action and what is missing come first, on the first screen.
    assert page.locator("#next-step button[value=submit_for_approval]").bounding_box()["y"] < 900
    assert not page.locator("#rare-actions textarea").first.is_visible()  # folded away
    assert size["height"] < 2700, size  # was 3,174 px here before (3,431 px in the walk)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/cases/{case.public_id}/")
    size390 = measure(page)
    print("intake 390:", size390)
    assert size390["width"] <= 390
    shot("case-intake-390")
    page.goto(f"{live_server.url}/cases/")
    assert measure(page)["width"] <= 390


def test_the_counter_stage_in_two_visits_and_the_pages_fit_a_phone(browser, page, live_server, shot):
    from counter.models import CounterEntry, UKey
    from demo.counter_work import add_operators
    from tests.factories import World, operator_people

    world = World()
    case = world.case(State.UKEY_ISSUANCE)
    add_operators(case, world.maker, operator_people(case.pk))
    ent = case.company
    url = f"{live_server.url}/cases/{case.public_id}/"
    # Each person at their own browser, logged in once (a TOTP code is not accepted twice).
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_login(page, live_server.url, world.maker.username)
    maker = page
    checker_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    checker = checker_ctx.new_page()
    staff_login(checker, live_server.url, world.checker.username)

    maker.goto(url)
    panel = maker.inner_text("#next-step")
    assert "临柜身份核验尚未经复核确认" in panel and "尚无经复核发放的UKey" in panel
    shot("case-counter-1280")
    maker.set_viewport_size({"width": 390, "height": 844})
    maker.goto(url)
    assert measure(maker)["width"] <= 390
    shot("case-counter-390")
    maker.set_viewport_size({"width": 1280, "height": 900})
    maker.goto(url)
    clicks = 0
    # The maker: one form for the identity check and both operators' keys.
    maker.select_option("#counter-visit select[name=person]", "legal_rep")
    maker.fill("#counter-visit input[name=person_name]", ent.legal_rep_name)
    maker.fill("#counter-visit input[name=id_number]", ent.legal_rep_id_number)
    for i, field in enumerate(maker.locator("#counter-visit input[name^=serial_]").all(), start=1):
        field.fill(f"KB-BR-{i:02d}")
    maker.click("#counter-visit button.primary")
    clicks += 1
    maker.wait_for_load_state()
    assert CounterEntry.objects.filter(case=case, status="pending").count() == 3
    # The checker: one action confirms the three entries.
    checker.goto(url)
    assert "全部复核确认(3 项)" in checker.inner_text("#counter")
    checker.click("form.confirm-all button.primary")
    clicks += 1
    checker.wait_for_load_state()
    assert UKey.objects.filter(case=case).count() == 2
    # The maker: the customer downloaded both certificates; download and activation, one action.
    maker.goto(url)
    maker.click("#counter-activations button.primary")
    clicks += 1
    maker.wait_for_load_state()
    checker.goto(url)
    checker.click("form.confirm-all button.primary")
    clicks += 1
    checker.wait_for_load_state()
    assert UKey.objects.filter(case=case, status=UKey.Status.ACTIVATED).count() == 2
    # Before issue 25, for two operators: 1 identity check + 2 issuances + 3 confirmations
    # + 2 downloads + 2 activations + 2 confirmations = 12 posts in 12 page visits.
    print("counter clicks (two operators):", clicks)
    assert clicks == 4
    for path in ("/", "/cases/", f"/cases/{case.public_id}/"):
        for who in (maker, checker):
            who.set_viewport_size({"width": 390, "height": 844})
            who.goto(f"{live_server.url}{path}")
            assert measure(who)["width"] <= 390, path
    checker_ctx.close()


def test_the_signed_upload_picks_the_form_from_the_files_name(page, live_server, tmp_path):
    from documents.form_codes import form_code
    from documents.models import DocumentVersion
    from documents.samples import sample_pdf
    from tests.factories import World

    world = World()
    case = world.case(State.BRANCH_INTAKE, documents=False)
    code = form_code(case, "service_agreement")
    scan = tmp_path / f"业务合作协议-签章-{code}.pdf"
    scan.write_bytes(sample_pdf())
    page.set_viewport_size({"width": 1280, "height": 900})
    staff_login(page, live_server.url, world.am_a.username)
    page.goto(f"{live_server.url}/cases/{case.public_id}/")
    form = page.locator("#upload-signed")
    form.locator("input[type=file]").set_input_files(str(scan))
    assert form.locator("select[name=kind]").input_value() == "service_agreement"
    assert form.locator("input[name=code]").input_value() == code
    form.locator("button.primary").click()
    page.wait_for_load_state()
    assert "已上传:业务合作协议 第 1 版" in page.inner_text(".messages")
    version = DocumentVersion.objects.get(document__case=case, document__generated=False)
    assert version.document.kind == "service_agreement"
