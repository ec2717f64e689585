"""What the portal tells the customer (issue 10): the parameters the bank issued, the joint-test
matrix saved at once, who holds the case, a finished live case, and transitions in their own words."""

from __future__ import annotations

from django.urls import reverse

from onboarding import services
from onboarding.states import TEST_CASES, State


def _page(client, user, case):
    client.force_login(user)
    return client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()


def _all_tests(case):
    return [(m, code) for m in case.modules for code, _label in TEST_CASES[m]]


def test_customer_sees_the_test_environment_once_issued(client, world):
    before = world.case(State.TEST_PACKAGE_ISSUANCE)
    assert "测试环境参数" not in _page(client, world.customer_x, before)
    case = world.case(State.JOINT_TESTING)
    page = _page(client, world.customer_x, case)
    assert 'id="test-package"' in page
    for value in ("https://test.bank.example/h2h", "111", "TEST-1", "v1"):
        assert value in page


def test_customer_sees_production_parameters_once_issued(client, world):
    testing = world.case(State.JOINT_TESTING)
    assert "生产环境参数" not in _page(client, world.customer_x, testing)
    case = world.case(State.PRODUCTION_VERIFICATION)
    page = _page(client, world.customer_x, case)
    assert 'id="production-config"' in page
    assert "https://h2h.bank.example" in page and "PROD-1" in page
    assert case.production_config.production_accounts in page


def test_other_company_sees_nothing_of_it(client, world):
    case = world.case(State.PRODUCTION_VERIFICATION)
    client.force_login(world.customer_y)
    assert client.get(reverse("portal:case_detail", args=[case.public_id])).status_code == 404


def test_the_matrix_lists_every_test_case_of_every_module(client, world):
    case = world.case(State.JOINT_TESTING)
    page = _page(client, world.customer_x, case)
    for module, code in _all_tests(case):
        assert f'name="result-{module}:{code}"' in page
        assert f'name="evidence-{module}:{code}"' in page
        assert f'name="notes-{module}:{code}"' in page


def test_the_matrix_is_saved_at_once_and_read_back(client, world):
    case = world.case(State.JOINT_TESTING)
    tests = _all_tests(case)
    data = {"version": case.version}
    for i, (module, code) in enumerate(tests):
        data[f"result-{module}:{code}"] = "pass" if i else "fail"
        data[f"evidence-{module}:{code}"] = f"TX-{code}"
        data[f"notes-{module}:{code}"] = "超时重发" if i == 0 else ""
    events_before = case.events.count()
    client.force_login(world.customer_x)
    response = client.post(reverse("portal:case_test_result", args=[case.public_id]), data, follow=True)
    assert f"已登记 {len(tests)} 个测试用例的结果" in response.content.decode()
    assert case.test_results.count() == len(tests)
    assert case.events.count() == events_before + 1  # one write, one event
    case.refresh_from_db()
    page = _page(client, world.customer_x, case)
    assert "超时重发" in page and f"TX-{tests[1][1]}" in page
    assert page.count("✘ 未通过") >= 1


def test_rows_without_a_result_are_left_alone_and_a_pass_needs_evidence(client, world):
    case = world.case(State.JOINT_TESTING)
    (module, code), *_rest = _all_tests(case)
    client.force_login(world.customer_x)
    url = reverse("portal:case_test_result", args=[case.public_id])
    data = {"version": case.version, f"result-{module}:{code}": "pass", f"notes-{module}:{code}": "第二次重发"}
    response = client.post(url, data, follow=True)
    page = response.content.decode()
    assert "通过的测试用例须填写测试凭据" in page
    assert not case.test_results.exists()
    # The page comes back with what was typed, to add the evidence and save again.
    assert 'value="第二次重发"' in page and '<option value="pass" selected>' in page
    response = client.post(url, {"version": case.version}, follow=True)
    assert "请至少填写一个测试用例的结果" in response.content.decode()


def test_a_stale_matrix_is_a_conflict(client, world):
    case = world.case(State.JOINT_TESTING)
    (module, code), *_rest = _all_tests(case)
    client.force_login(world.customer_x)
    url = reverse("portal:case_test_result", args=[case.public_id])
    data = {"version": case.version - 1, f"result-{module}:{code}": "fail"}
    client.post(url, data)
    assert not case.test_results.exists()


def test_the_customer_holds_the_case_while_it_has_to_dos(client, world):
    case = world.case(State.BRANCH_INTAKE, documents=False)  # the bank's stage; the documents are the customer's
    page = _page(client, world.customer_x, case)
    assert "上传《" in page or "签字盖章后上传" in page
    assert "当前办理方:贵司" in page
    assert "当前办理方:银行" not in page
    assert "银行正在处理" not in page


def test_the_bank_holds_when_nothing_is_owed(client, world):
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    page = _page(client, world.customer_x, case)
    assert "当前办理方:银行" in page and "银行正在处理" in page


def test_a_live_case_says_it_is_live(client, world):
    case = world.case(State.LIVE)
    page = _page(client, world.customer_x, case)
    assert "已上线" in page and "银企直联已上线" in page
    assert "银行正在处理" not in page and "当前办理方" not in page
    client.force_login(world.customer_x)
    home = client.get(reverse("portal:home")).content.decode()
    assert "银行正在处理" not in home and "已上线" in home


def test_submitting_says_what_happened_and_agrees_with_the_header(client, world):
    case = world.case(State.DRAFT)
    client.force_login(world.customer_x)
    response = client.post(reverse("portal:case_submit", args=[case.public_id]), {"version": case.version}, follow=True)
    page = response.content.decode()
    # The intake papers are still the company's to give: the header names it as the holder, and
    # the message says so too instead of "the case went to the account manager" (issue 25).
    assert "当前办理方:贵司" in page
    assert "已提交受理,客户经理将审核贵司资料。贵司尚有" in page and "项待办" in page
    assert services.transition_done_message("submit") not in page


def test_the_form_to_do_generates_and_downloads_the_pdf(client, world):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    page = _page(client, world.customer_x, case)
    url = reverse("form_generate", args=[case.public_id, "application_form"])
    assert f'action="{url}"' in page and 'name="download"' in page
    response = client.post(url, {"download": "1", "version": case.version}, follow=True)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content if response.streaming else [response.content]).startswith(b"%PDF")


def test_the_new_portal_sections_in_english(client, world):
    from tests.test_i18n import chinese_labels

    cases = [world.case(s) for s in (State.JOINT_TESTING, State.PRODUCTION_VERIFICATION, State.LIVE)]
    client.force_login(world.customer_x)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    for case in cases:
        page = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
        assert chinese_labels(page) == [], case.state
    page = client.get(reverse("portal:case_detail", args=[cases[1].public_id])).content.decode()
    assert "Test environment" in page and "Production parameters" in page
