"""At most 10 settlement accounts per registration, said in the project's own words.

Django's formset limit answered 11 accounts with its generic "请最多提交 10 个表单" (and built only
10 of the 11 rows); the page must say what validators.validate_account_count says, on the
staff and the portal forms, in Chinese and in English.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from companies.models import Enterprise, SettlementAccount
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.factories import Role, enterprise, user

OWN_MESSAGE = {"zh-hans": "每次注册最多登记10个账户", "en": "At most 10 accounts per registration"}
GENERIC_MESSAGE = {"zh-hans": "请最多提交", "en": "Please submit at most"}


def _company_post(company: Enterprise | None, n_accounts: int) -> dict[str, object]:
    data: dict[str, object] = {
        "name": company.name if company else "杭州西湖茶业有限公司",
        "uscc": company.uscc if company else "91350100M000100Y43",
        "legal_rep_name": company.legal_rep_name if company else "王五",
        "legal_rep_id_number": company.legal_rep_id_number if company else "11010519491231002X",
        "handler_name": company.handler_name if company else "王五",
        "handler_id_number": company.handler_id_number if company else "11010519491231002X",
        "acc-TOTAL_FORMS": str(n_accounts),
        "acc-INITIAL_FORMS": "0",
        "acc-MIN_NUM_FORMS": "0",
        "acc-MAX_NUM_FORMS": "10",
        "modules": ["account_query"],
        "fee_amount": "2000",
        "risk_level": "low",
    }
    for i in range(n_accounts):
        data[f"acc-{i}-account_number"] = f"62220000999900{i:02d}"
        data[f"acc-{i}-account_name"] = "账户"
    return data


@pytest.fixture
def pages(world):
    customer_new = user("customer_n", Role.ENTERPRISE_USER, enterprise=enterprise(world.branch_a, name="戊公司"))
    draft = world.case(State.DRAFT)
    return {
        "staff new": (world.am_a, reverse("case_new"), None),
        "staff edit": (world.am_a, reverse("case_edit", args=[draft.public_id]), world.company_x),
        "portal new": (customer_new, reverse("portal:case_new"), customer_new.enterprise),
        "portal edit": (world.customer_x, reverse("portal:case_edit", args=[draft.public_id]), world.company_x),
    }


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("page_name", ["staff new", "staff edit", "portal new", "portal edit"])
def test_eleven_accounts_are_refused_with_the_projects_message(client, pages, page_name, language):
    who, url, company = pages[page_name]
    client.force_login(who)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    cases, accounts = OnboardingCase.objects.count(), SettlementAccount.objects.count()
    response = client.post(url, _company_post(company, 11))
    html = response.content.decode()
    assert response.status_code == 200
    assert OWN_MESSAGE[language] in html
    assert GENERIC_MESSAGE[language] not in html
    assert OnboardingCase.objects.count() == cases and SettlementAccount.objects.count() == accounts


@pytest.mark.parametrize("page_name", ["staff new", "staff edit", "portal new", "portal edit"])
def test_ten_accounts_are_accepted(client, pages, page_name):
    who, url, company = pages[page_name]
    client.force_login(who)
    response = client.post(url, _company_post(company, 10))
    assert response.status_code == 302, response.content.decode()[-2000:]
    registered = company or Enterprise.objects.get(uscc="91350100M000100Y43")
    assert registered.accounts.count() == 10


def test_a_form_far_beyond_the_limit_is_refused_with_the_same_message(client, pages):
    who, url, _company = pages["staff new"]
    client.force_login(who)
    response = client.post(url, {**_company_post(None, 11), "acc-TOTAL_FORMS": "2000"})
    assert OWN_MESSAGE["zh-hans"] in response.content.decode()
    assert OnboardingCase.objects.count() == 1  # the draft of the fixture
