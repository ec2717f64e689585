"""Production and test endpoints are kept apart however the same address is spelled.

`https://test.bank.example:443/api` and `https://test.bank.example./api` are the test endpoint
`https://test.bank.example/api`; they used to pass as a different production endpoint.
"""

from __future__ import annotations

import pytest

from onboarding import services
from onboarding.models import OnboardingCase, ProductionConfig
from onboarding.models import TestPackage as Package
from onboarding.services import CaseError
from onboarding.states import State
from onboarding.validators import normalise_endpoint

TEST = "https://test.bank.example/api"
SAME_AS_TEST = {
    "default https port": "https://test.bank.example:443/api",
    "trailing dot of the host": "https://test.bank.example./api",
    "dot and port": "https://test.bank.example.:443/api",
    "upper-case scheme and host": "HTTPS://Test.BANK.example/api",
    "trailing slash": "https://test.bank.example/api/",
    "spaces around": "  https://test.bank.example/api  ",
    "fragment": "https://test.bank.example/api#top",
}
REALLY_DIFFERENT = {
    "other host": "https://h2h.bank.example/api",
    "other port": "https://test.bank.example:8443/api",
    "other scheme": "http://test.bank.example/api",
    "other path": "https://test.bank.example/api/v2",
    "a query": "https://test.bank.example/api?env=prod",
    "path case": "https://test.bank.example/API",
    "sub-domain": "https://prod.test.bank.example/api",
}
REFUSED = "生产地址与测试地址相同"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("http://h.example:80/x", "http://h.example/x"),
        ("https://h.example", "https://h.example/"),
        ("https://h.example:443", "https://h.example/"),
        ("https://测试.例子/api", "https://xn--0zwm56d.xn--fsqu00a/api"),
        ("https://测试。例子。/api", "https://XN--0zwm56d.xn--fsqu00a./api"),
        ("https://[::1]:443/x/", "https://[::1]/x"),
        ("https://h.example/a?b=1&c=2", "https://h.example/a/?b=1&c=2"),
    ],
)
def test_spellings_of_one_endpoint_normalise_alike(one, other):
    assert normalise_endpoint(one) == normalise_endpoint(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("http://h.example:443/x", "https://h.example/x"),  # a port is default only for its own scheme
        ("https://h.example:80/x", "https://h.example/x"),
        ("https://h.example/a?b=1", "https://h.example/a?b=2"),
        ("https://h.example/a", "https://h.example/b"),
    ],
)
def test_different_endpoints_stay_different(one, other):
    assert normalise_endpoint(one) != normalise_endpoint(other)


def test_normal_form():
    assert normalise_endpoint("HTTPS://Test.Bank.Example.:443") == "https://test.bank.example/"
    assert normalise_endpoint("https://test.bank.example:8443/api/?q=1#x") == "https://test.bank.example:8443/api?q=1"
    assert normalise_endpoint("test.bank.example/api/") == normalise_endpoint("//TEST.bank.example./api")
    assert normalise_endpoint("https://h.example:notaport/") == "https://h.example:notaport/"
    assert normalise_endpoint("") == ""


@pytest.fixture
def ukey_case(world) -> OnboardingCase:
    case = world.case(State.UKEY_ISSUANCE)
    Package.objects.filter(case=case).update(test_endpoint=TEST)
    return OnboardingCase.objects.get(pk=case.pk)


def _issue(world, case, endpoint):
    return services.production_config_record(
        case=case,
        user=world.tech,
        production_endpoint=endpoint,
        certificate_serial="PROD-9",
        production_accounts=case.enterprise.accounts.first().account_number,
        connection_type="internet",
    )


@pytest.mark.parametrize("endpoint", SAME_AS_TEST.values(), ids=SAME_AS_TEST.keys())
def test_the_test_endpoint_spelled_otherwise_is_refused_as_production(world, ukey_case, endpoint):
    with pytest.raises(CaseError) as exc:
        _issue(world, ukey_case, endpoint)
    assert any(REFUSED in p for p in exc.value.problems), exc.value.problems
    assert not ProductionConfig.objects.filter(case=ukey_case).exists()


@pytest.mark.parametrize("endpoint", REALLY_DIFFERENT.values(), ids=REALLY_DIFFERENT.keys())
def test_a_really_different_production_endpoint_is_allowed(world, ukey_case, endpoint):
    config = _issue(world, ukey_case, endpoint)
    assert config.problems() == []


def test_the_stage_guard_refuses_a_test_endpoint_recorded_behind_the_services_back(world):
    case = world.case(State.PRODUCTION_VERIFICATION)
    config = ProductionConfig.objects.get(case=case)
    ProductionConfig.objects.filter(pk=config.pk).update(production_endpoint="https://TEST.bank.example.:443/h2h/")
    config.refresh_from_db()
    assert any(REFUSED in p for p in config.problems())
