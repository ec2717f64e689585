"""After production configuration the portal presents the production parameters as what the
customer configures; the test package becomes history (collapsed), not a second set beside them."""

from __future__ import annotations

import re

from django.urls import reverse

from onboarding import services
from onboarding.states import State

TEST_ENDPOINT = "https://test.bank.example/h2h"
HISTORY = re.compile(
    r'<details class="card history" id="test-package">\s*<summary>(.*?)</summary>(.*?)</details>', re.S
)


def _page(client, world, case) -> str:
    client.force_login(world.customer_x)
    response = client.get(reverse("portal:case_detail", args=[case.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_test_package_becomes_history_once_production_is_configured(client, world):
    case = world.case(State.UKEY_ISSUANCE)
    before = _page(client, world, case)
    assert 'id="production-config"' not in before and "测试环境参数(历史)" not in before
    section = re.search(
        r'<section class="card" id="test-package">\s*<h2>测试环境参数</h2>(.*?)</section>', before, re.S
    )
    assert section is not None and TEST_ENDPOINT in section.group(1)

    services.production_config_record(
        case=case,
        user=world.tech,
        production_endpoint="https://h2h.bank.example",
        certificate_serial="PROD-1",
        production_accounts=case.company.account_numbers[0],
    )
    after = _page(client, world, case)
    production = re.search(r'<section class="card" id="production-config">(.*?)</section>', after, re.S)
    assert production is not None
    assert "https://h2h.bank.example" in production.group(1) and "PROD-1" in production.group(1)
    assert "请贵司按以下生产环境参数配置系统" in production.group(1)
    # The test parameters: only inside a closed <details>, after the production ones, marked history.
    history = HISTORY.search(after)
    assert history is not None and history.group(1) == "测试环境参数(历史)"
    assert TEST_ENDPOINT in history.group(2) and "TEST-1" in history.group(2)
    assert after.count(TEST_ENDPOINT) == 1 and after.count("TEST-1") == 1
    assert after.index('id="production-config"') < after.index('id="test-package"')
    assert "<h2>测试环境参数</h2>" not in after


def test_in_english_the_history_is_labelled_too(client, world, settings):
    case = world.case(State.PRODUCTION_VERIFICATION)
    client.force_login(world.customer_x)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    history = HISTORY.search(page)
    assert history is not None and "测试" not in history.group(1)
