"""Joint testing by test case, the reviewer's retest, and production configuration kept apart
from the test package (endpoint, certificate and accounts)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from demo.counter_work import record_all_tests_passed
from onboarding import services
from onboarding.models import CaseEvent, ProductionConfig
from onboarding.services import CaseError
from onboarding.states import TEST_CASES, State
from tests.factories import MODULES


def _accept(world, case):
    return services.case_transition(case=case, user=world.tech, name="accept_test_report")


def _pass(case, who, module, code):
    return services.test_result_record(
        case=case, user=who, module=module, test_case=code, passed=True, evidence=f"TX-{code}"
    )


def test_every_test_case_of_every_module_must_pass(world):
    case = world.case(State.JOINT_TESTING)
    all_cases = [(m, c) for m in case.modules for c, _l in TEST_CASES[m]]
    assert len(all_cases) > len(MODULES)  # more than one case per module
    for module, code in all_cases[:-1]:
        _pass(case, world.customer_x, module, code)
    with pytest.raises(CaseError) as exc:
        _accept(world, case)
    assert any("对账结果反馈" in p for p in exc.value.problems)
    _pass(case, world.customer_x, *all_cases[-1])
    assert _accept(world, case).state == State.UKEY_ISSUANCE


def test_a_later_failure_supersedes_a_pass(world):
    case = world.case(State.JOINT_TESTING)
    record_all_tests_passed(case, world.customer_x)
    module, (code, _label) = case.modules[0], TEST_CASES[case.modules[0]][0]
    services.test_result_record(
        case=case, user=world.customer_x, module=module, test_case=code, passed=False, notes="超时"
    )
    with pytest.raises(CaseError):
        _accept(world, case)


def test_a_pass_needs_evidence_and_a_known_test_case(world):
    case = world.case(State.JOINT_TESTING)
    module = case.modules[0]
    with pytest.raises(CaseError):
        services.test_result_record(case=case, user=world.tech, module=module, test_case="balance", passed=True)
    with pytest.raises(CaseError):
        services.test_result_record(
            case=case, user=world.tech, module=module, test_case="nope", passed=True, evidence="x"
        )
    with pytest.raises(CaseError):
        services.test_result_record(
            case=case, user=world.tech, module="payroll", test_case="submit", passed=True, evidence="x"
        )
    with pytest.raises(CaseError):  # counter staff do not record test results
        services.test_result_record(
            case=case, user=world.maker, module=module, test_case="balance", passed=True, evidence="x"
        )


def test_retest_keeps_the_case_in_joint_testing_with_the_reason(world):
    case = world.case(State.JOINT_TESTING)
    record_all_tests_passed(case, world.customer_x)
    case.refresh_from_db()
    assert case.current_visit.holder_role == "tech_reviewer"
    module, code = case.modules[0], TEST_CASES[case.modules[0]][0][0]
    services.test_retest_request(case=case, user=world.tech, reason="余额字段精度不符", items=[(module, code)])
    case.refresh_from_db()
    assert case.state == State.JOINT_TESTING
    assert case.current_visit.holder_role == "customer"
    assert CaseEvent.objects.get(case=case, name="retest_requested").reason == "余额字段精度不符"
    with pytest.raises(CaseError) as exc:
        _accept(world, case)
    assert any("余额查询" in p for p in exc.value.problems)
    _pass(case, world.customer_x, module, code)
    assert _accept(world, case).state == State.UKEY_ISSUANCE


def test_retest_needs_a_reason_and_the_tech_reviewer(world):
    case = world.case(State.JOINT_TESTING)
    item = [(case.modules[0], TEST_CASES[case.modules[0]][0][0])]
    with pytest.raises(CaseError):
        services.test_retest_request(case=case, user=world.tech, reason="  ", items=item)
    with pytest.raises(CaseError):
        services.test_retest_request(case=case, user=world.customer_x, reason="重测", items=item)
    with pytest.raises(CaseError):
        services.test_retest_request(case=case, user=world.tech, reason="重测", items=[])
    assert not case.test_results.exists()


# --- production configuration ------------------------------------------------------------------

TEST_ENDPOINT = "https://test.bank.example/h2h"  # what tests.factories records in the test package


@pytest.fixture
def ukey_case(world):
    return world.case(State.UKEY_ISSUANCE)


def _config(world, case, **overrides):
    values = {
        "production_endpoint": "https://h2h.bank.example",
        "certificate_serial": "PROD-1",
        "production_accounts": case.enterprise.accounts.first().account_number,
        "connection_type": "internet",
        "front_end_processor": "10.0.0.8",
    }
    values.update(overrides)
    return services.production_config_record(case=case, user=world.tech, **values)


def test_production_config_with_its_own_values_is_accepted(world, ukey_case):
    config = _config(world, ukey_case)
    assert config.problems() == []
    assert CaseEvent.objects.filter(case=ukey_case, name="production_config").exists()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("production_endpoint", TEST_ENDPOINT + "/", "生产地址与测试地址相同"),
        # Scheme and host are case-insensitive; the path is not (RFC 3986, tests/test_endpoints.py).
        ("production_endpoint", "HTTPS://TEST.BANK.EXAMPLE/h2h", "生产地址与测试地址相同"),
        ("production_endpoint", "https://test.bank.example:443/h2h", "生产地址与测试地址相同"),
        ("certificate_serial", "test-1", "生产证书与测试证书相同"),
        ("production_accounts", "111", "是测试账号"),
    ],
)
def test_production_config_reusing_a_test_value_is_refused_with_the_reason(world, ukey_case, field, value, reason):
    if field == "production_accounts":
        # Make the reused test account a registered account too, so only the reuse is wrong.
        from companies.models import SettlementAccount

        SettlementAccount.objects.create(enterprise=ukey_case.enterprise, account_number="111", account_name="x")
    with pytest.raises(CaseError) as exc:
        _config(world, ukey_case, **{field: value})
    assert any(reason in p for p in exc.value.problems), exc.value.problems
    assert not ProductionConfig.objects.filter(case=ukey_case).exists()
    assert not CaseEvent.objects.filter(case=ukey_case, name="production_config").exists()


def test_production_accounts_must_be_registered_and_given(world, ukey_case):
    with pytest.raises(CaseError) as exc:
        _config(world, ukey_case, production_accounts="999999")
    assert any("999999" in p and "登记" in p for p in exc.value.problems)
    with pytest.raises(CaseError) as exc:
        _config(world, ukey_case, production_accounts="")
    assert any("生产账号未填写" in p for p in exc.value.problems)


def test_leased_line_needs_line_details(world, ukey_case):
    with pytest.raises(CaseError) as exc:
        _config(world, ukey_case, connection_type="leased_line", line_details="")
    assert any("专线" in p for p in exc.value.problems)
    assert _config(world, ukey_case, connection_type="leased_line", line_details="联通 MSTP 10M").line_details


def test_only_the_tech_reviewer_issues_production_config(world, ukey_case):
    with pytest.raises(CaseError):
        services.production_config_record(
            case=ukey_case, user=world.checker, production_endpoint="https://p", certificate_serial="P"
        )


# --- the pages: the joint-testing stage's own URLs on the case page (moved from counter/) -------


def _login(client, u):
    client.force_login(u)  # a complete login, second factor included (tests/conftest.py)
    return client


def test_tech_reviewer_records_a_result_from_the_case_page(client, world):
    case = world.case(State.JOINT_TESTING)
    url = reverse("case_test_result", args=[case.public_id])
    assert url == f"/cases/{case.public_id}/test-result/"
    page = _login(client, world.tech).get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert 'id="testing"' in page and url in page
    module, code = case.modules[0], TEST_CASES[case.modules[0]][0][0]
    response = client.post(url, {"test": f"{module}:{code}", "passed": "1", "evidence": "TX-1"})
    assert response.url == reverse("case_detail", args=[case.public_id]) + "#testing"
    assert case.test_results.get().recorded_by == world.tech


def test_a_result_from_someone_else_is_refused_with_the_reason(client, world):
    case = world.case(State.JOINT_TESTING)
    url = reverse("case_test_result", args=[case.public_id])
    page = _login(client, world.maker).get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert url not in page  # no form for counter staff
    module, code = case.modules[0], TEST_CASES[case.modules[0]][0][0]
    response = client.post(url, {"test": f"{module}:{code}", "passed": "1", "evidence": "TX-1"}, follow=True)
    assert [m.level_tag for m in response.context["messages"]][:1] == ["error"]
    assert not case.test_results.exists()
    client.logout()
    assert _login(client, world.customer_x).post(url, {}).status_code == 403  # staff pages only
    client.logout()
    other = world.case(State.JOINT_TESTING, company=world.company_y)
    assert _login(client, world.am_a).post(reverse("case_test_result", args=[other.public_id]), {}).status_code == 404


def test_tech_reviewer_asks_for_a_retest_from_the_case_page(client, world):
    case = world.case(State.JOINT_TESTING)
    record_all_tests_passed(case, world.customer_x)
    module, code = case.modules[0], TEST_CASES[case.modules[0]][0][0]
    response = _login(client, world.tech).post(
        reverse("case_test_retest", args=[case.public_id]), {"tests": [f"{module}:{code}"], "reason": "精度不符"}
    )
    assert response.url.endswith("#testing")
    assert CaseEvent.objects.get(case=case, name="retest_requested").reason == "精度不符"


def test_tech_reviewer_issues_production_config_from_the_case_page(client, world, ukey_case):
    url = reverse("case_production_config", args=[ukey_case.public_id])
    page = _login(client, world.tech).get(reverse("case_detail", args=[ukey_case.public_id])).content.decode()
    assert 'id="production"' in page and url in page
    values = {
        "production_endpoint": "https://h2h.bank.example",
        "certificate_serial": "PROD-1",
        "production_accounts": ukey_case.enterprise.accounts.first().account_number,
        "connection_type": "internet",
        "front_end_processor": "10.0.0.8",
    }
    response = client.post(url, values)
    assert response.url.endswith("#production")
    assert ProductionConfig.objects.get(case=ukey_case).certificate_serial == "PROD-1"
    response = client.post(url, {**values, "certificate_serial": "TEST-1"}, follow=True)
    assert "生产证书与测试证书相同" in response.content.decode()
