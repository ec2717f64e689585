"""Joint-test results from the bank's own test gateway (issue 25), from both sides.

The gateway posts the test transactions it saw with its own token (scope `test_gateway`); the
matching rows of the case's joint-test matrix show them as observed by the gateway; the
customer logs into the portal and confirms them, one row or all at once, instead of typing.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from api.models import ApiClient
from api.services import api_client_create
from branches.roles import Role
from onboarding import rules, services
from onboarding.models import CaseEvent, GatewayObservation, ModuleTestResult, OnboardingCase
from onboarding.services import CaseError
from onboarding.states import TEST_CASES, State
from tests.api_helpers import Api, api_token, enterprise_api
from tests.factories import provide_documents

URL = "/api/v1/test-gateway/observations/"
ACCOUNT, CERT = "6222000077770001", "GW-TEST-CERT-7"


def _rows(case) -> list[tuple[str, str]]:
    return [(m, code) for m in case.modules for code, _label in TEST_CASES[m]]


def _case_in_joint_testing(world, *, account: str = ACCOUNT, cert: str = CERT) -> OnboardingCase:
    """A case whose test package issued these credentials, now in joint testing."""
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    services.test_package_record(
        case=case,
        user=world.tech,
        test_endpoint="https://test.bank.example/h2h",
        test_accounts=account,
        test_certificate_ref=cert,
        doc_version="v2",
    )
    case = services.case_transition(case=case, user=world.tech, name="issue_test_package", reason="")
    provide_documents(case, State.JOINT_TESTING, uploader=world.customer_x, reviewer=world.tech)
    return OnboardingCase.objects.get(pk=case.pk)


def _gateway(world, scopes: str = "test_gateway") -> Api:
    creds = api_client_create(
        name="测试网关", scopes=scopes.split(), branch=world.head_office, roles=[Role.TECH_REVIEWER]
    )
    return Api(api_token(creds.client_id, creds.client_secret))


def _tx(trace: str, module: str, code: str, result: str = "0000", at: str = "2026-12-01T10:15:00+08:00") -> dict:
    return {
        "trace_id": trace,
        "module": module,
        "test_case": code,
        "interface": f"H2H.{module}.{code}",
        "result_code": result,
        "observed_at": at,
    }


def _portal(client: Client, world, case) -> str:
    client.force_login(world.customer_x)
    response = client.get(reverse("portal:case_detail", args=[case.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def _observed_rows(page: str) -> set[str]:
    return set(re.findall(r'data-observed="([^"]+)"', page))


def test_the_gateway_posts_and_the_customer_confirms_every_row(world, client):
    case = _case_in_joint_testing(world)
    rows = _rows(case)
    gateway = _gateway(world)
    body = {"test_account": ACCOUNT, "observations": [_tx(f"TR-{i}", m, c) for i, (m, c) in enumerate(rows)]}
    response = gateway.post(URL, body)
    assert response.status_code == 201, response.content
    assert response.json()["reference"] == case.reference
    assert sorted(response.json()["recorded"]) == sorted(f"TR-{i}" for i in range(len(rows)))
    # Idempotent by trace id: the same post again records nothing, says so.
    again = gateway.post(URL, body)
    assert again.status_code == 200 and again.json()["recorded"] == []
    assert len(again.json()["duplicates"]) == len(rows)
    assert GatewayObservation.objects.filter(case=case).count() == len(rows)
    assert CaseEvent.objects.filter(case=case, name="test_observed").count() == 1

    # The customer sees each row filled by the gateway, nothing typed yet; the to-do says to confirm.
    page = _portal(client, world, case)
    assert "确认测试网关记录的联调结果" in page
    home = client.get(reverse("portal:home")).content.decode()
    assert "确认测试网关记录的联调结果" in home
    assert _observed_rows(page) == {f"{m}:{c}" for m, c in rows}
    assert "银行测试网关已观测到" in page and "TR-0" in page and "0000" in page
    assert not ModuleTestResult.objects.filter(case=case).exists()

    # One row confirmed with its own button (the matrix's version posted as the page showed it).
    first = f"{rows[0][0]}:{rows[0][1]}"
    version = re.search(r'id="gateway-confirm".*?name="version" value="(\d+)"', page, re.S).group(1)
    url = reverse("portal:case_test_confirm", args=[case.public_id])
    response = client.post(url, {"confirm": first, "version": version})
    assert response.status_code == 302
    result = ModuleTestResult.objects.get(case=case)
    assert (result.module, result.test_case, result.passed, result.evidence) == (*rows[0], True, "TR-0")
    assert result.observation.trace_id == "TR-0" and result.recorded_by == world.customer_x
    page = _portal(client, world, case)
    assert first not in _observed_rows(page) and "测试网关记录" in page

    # Then all the others at once: every test case passed, the tech reviewer now holds the case.
    version = re.search(r'id="gateway-confirm".*?name="version" value="(\d+)"', page, re.S).group(1)
    assert client.post(url, {"confirm": "all", "version": version}).status_code == 302
    case.refresh_from_db()
    assert rules.joint_tests_missing(case) == []
    assert ModuleTestResult.objects.filter(case=case).count() == len(rows)
    assert case.current_visit.holder_role == Role.TECH_REVIEWER
    assert _observed_rows(_portal(client, world, case)) == set()


def test_a_failure_seen_by_the_gateway_is_confirmed_as_a_failure_and_a_later_success_replaces_it(world, client):
    case = _case_in_joint_testing(world)
    module, code = _rows(case)[0]
    gateway = _gateway(world)
    assert (
        gateway.post(URL, {"certificate_ref": CERT, "observations": [_tx("F-1", module, code, "E102")]}).status_code
        == 201
    )
    assert "交易失败" in _portal(client, world, case)
    services_result = services_confirm(world, case, [(module, code)])
    assert services_result[0].passed is False
    later = _tx("F-2", module, code, "0000", at="2026-12-01T11:00:00+08:00")
    assert gateway.post(URL, {"certificate_ref": CERT, "observations": [later]}).status_code == 201
    page = _portal(client, world, case)
    assert _observed_rows(page) == {f"{module}:{code}"} and "F-2" in page


def services_confirm(world, case, keys):
    from onboarding.test_gateway import test_observations_confirm

    return test_observations_confirm(case=case, user=world.customer_x, keys=keys)


def test_a_result_typed_after_the_observation_settles_it(world, client):
    case = _case_in_joint_testing(world)
    module, code = _rows(case)[0]
    _gateway(world).post(URL, {"test_account": ACCOUNT, "observations": [_tx("T-1", module, code)]})
    services.test_result_record(
        case=case, user=world.customer_x, module=module, test_case=code, passed=True, evidence="手工"
    )
    assert _observed_rows(_portal(client, world, case)) == set()
    with pytest.raises(CaseError):
        services_confirm(world, case, None)


# --- refused sides ------------------------------------------------------------------------------


def test_unknown_credentials_are_refused_and_nothing_is_kept(world):
    _case_in_joint_testing(world)
    response = _gateway(world).post(
        URL, {"test_account": "999999", "observations": [_tx("U-1", "account_query", "balance")]}
    )
    assert response.status_code == 404 and response.json()["code"] == "unknown_credentials"
    assert "测试凭证" in response.json()["detail"]
    response = _gateway(world).post(URL, {"observations": [_tx("U-2", "account_query", "balance")]})
    assert response.status_code == 400
    assert not GatewayObservation.objects.exists()


def test_a_case_not_in_joint_testing_is_refused(world):
    case = _case_in_joint_testing(world)
    rows = _rows(case)
    services.test_results_record(
        case=case,
        user=world.customer_x,
        outcomes=[services.TestOutcome(m, c, True, "E") for m, c in rows],
    )
    services.case_transition(case=case, user=world.tech, name="accept_test_report", reason="")
    response = _gateway(world).post(URL, {"test_account": ACCOUNT, "observations": [_tx("N-1", *rows[0])]})
    assert response.status_code == 409 and response.json()["code"] == "not_in_joint_testing"
    assert case.reference in response.json()["detail"]
    assert not GatewayObservation.objects.exists()


def test_a_trace_id_reused_for_another_transaction_is_refused_whole(world):
    case = _case_in_joint_testing(world)
    (m1, c1), (m2, c2) = _rows(case)[:2]
    gateway = _gateway(world)
    assert gateway.post(URL, {"test_account": ACCOUNT, "observations": [_tx("R-1", m1, c1)]}).status_code == 201
    clash = {"test_account": ACCOUNT, "observations": [_tx("R-2", m2, c2), _tx("R-1", m1, c1, "E999")]}
    response = gateway.post(URL, clash)
    assert response.status_code == 400 and response.json()["problems"] == ["追踪号 R-1"]
    assert list(GatewayObservation.objects.values_list("trace_id", flat=True)) == ["R-1"]
    bad = gateway.post(URL, {"test_account": ACCOUNT, "observations": [_tx("R-3", "account_query", "nope")]})
    assert bad.status_code == 400 and "nope" in bad.json()["problems"][0]


def test_the_scope_is_the_gateways_only(world):
    case = _case_in_joint_testing(world)
    body = {"test_account": ACCOUNT, "observations": [_tx("S-1", *_rows(case)[0])]}
    # A company's own API client never gets the scope, at creation or at the token endpoint.
    with pytest.raises(CaseError):
        api_client_create(name="ERP", scopes=["read", "test_gateway"], enterprise=world.company_x)
    assert enterprise_api(world.company_x).post(URL, body).status_code == 403
    # A bank client without the scope may not post either; the gateway's token reads nothing.
    assert _gateway(world, scopes="read write").post(URL, body).status_code == 403
    assert _gateway(world).get(f"/api/v1/cases/{case.public_id}/").status_code == 403
    assert not GatewayObservation.objects.exists()


def test_the_company_integrations_page_does_not_offer_the_scope(world, client, login):
    from tests.portal_helpers import member

    member(world.customer_x, admin=True)
    login(client, world.customer_x)
    page = client.get("/portal/integrations/").content.decode()
    assert 'value="read"' in page and "test_gateway" not in page
    # Posted by hand, the scope is refused by the form and no client is made.
    response = client.post("/portal/integrations/clients/new/", {"name": "ERP", "scopes": ["read", "test_gateway"]})
    assert response.status_code == 200
    assert not ApiClient.objects.filter(enterprise=world.company_x).exists()


def test_another_companys_customer_cannot_confirm(world, client):
    case = _case_in_joint_testing(world)
    _gateway(world).post(URL, {"test_account": ACCOUNT, "observations": [_tx("O-1", *_rows(case)[0])]})
    client.force_login(world.customer_y)
    response = client.post(reverse("portal:case_test_confirm", args=[case.public_id]), {"confirm": "all"})
    assert response.status_code == 404
    assert not ModuleTestResult.objects.filter(case=case).exists()


def test_the_observed_rows_read_in_english(world, client, settings):
    case = _case_in_joint_testing(world)
    _gateway(world).post(URL, {"test_account": ACCOUNT, "observations": [_tx("E-1", *_rows(case)[0])]})
    client.force_login(world.customer_x)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    assert "saw the transactions of 1 test case" in page and "Seen by the test gateway" in page
    assert "Confirm all" in page and "测试网关" not in page


def test_the_tech_reviewer_sees_what_waits_for_the_customer(world, client, login):
    case = _case_in_joint_testing(world)
    module, code = _rows(case)[0]
    _gateway(world).post(URL, {"test_account": ACCOUNT, "observations": [_tx("V-1", module, code)]})
    staff = login(Client(), world.tech)
    page = staff.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert f'data-observed="{module}:{code}"' in page and "V-1" in page and "待客户确认" in page
    services_confirm(world, case, None)
    page = staff.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert "data-observed" not in page and "测试网关记录" in page
