"""A bank administrator in Chromium: the home page's link, a client for a branch with a role, an
endpoint on a real receiver, a test event in the delivery log, a disabled endpoint shown as
such; no console or CSP error. Screenshot: bank-integrations."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from api.models import ApiClient
from branches.roles import Role
from tests.browser.helpers import staff_login
from tests.factories import World, user
from tests.test_webhooks import Receiver
from webhooks import services as webhook_services
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_bank_administrator_sets_up_the_banks_systems(page, live_server, shot, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    world = World()
    admin = user("admin_t1", Role.TECH_REVIEWER, branch=world.tier1)
    admin.user_permissions.add(Permission.objects.get(codename="manage_bank_integrations"))
    receiver = Receiver([])
    disabled = webhook_services.endpoint_add(
        url="http://127.0.0.1:9/old-esb", events=[WebhookEvent.CASE_LIVE], branch=world.branch_a, description="旧 ESB"
    )
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason="ConnectionRefusedError"
    )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1280, "height": 900})
    try:
        staff_login(page, live_server.url, admin.username)
        page.click(".admin-links a[href='/integrations/']")  # on the home page
        page.wait_for_selector("#client-form")

        form = page.locator("#client-form")
        form.locator("input[name=name]").fill("核心系统 ESB")
        form.locator("select[name=branch]").select_option(str(world.branch_a.pk))
        form.locator(f"input[name=roles][value={Role.ACCOUNT_MANAGER}]").check()
        form.locator("input[name=scopes][value=write]").check()
        form.locator("button.primary").click()
        page.wait_for_selector(".secret-once")
        client = ApiClient.objects.get()
        assert client.branch == world.branch_a and client.application.client_id in page.inner_text(".secret-once")

        page.goto(f"{live_server.url}/integrations/")
        form = page.locator("#endpoint-form")
        form.locator("input[name=url]").fill(receiver.url)
        form.locator("select[name=branch]").select_option(str(world.tier1.pk))
        form.locator(f"input[name=events][value='{WebhookEvent.STAGE_ENTERED}']").check()
        form.locator(f"input[name=events][value='{WebhookEvent.DOCUMENT_REQUESTED}']").check()
        form.locator("input[name=description]").fill("行内消息总线")
        form.locator("button.primary").click()
        page.wait_for_selector(".secret-once")
        endpoint = WebhookEndpoint.objects.get(url=receiver.url)
        receiver.secret = endpoint.secret
        assert endpoint.secret in page.inner_text(".secret-once")

        page.goto(f"{live_server.url}/integrations/")
        row = page.locator("#endpoints tr", has_text=receiver.url)
        row.locator("button[value=test]").click()
        page.wait_for_load_state()
        webhook_services.deliveries_flush()  # if no worker took it on commit
        page.goto(f"{live_server.url}/integrations/")
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert delivery.delivered_at is not None and [r["verified"] for r in receiver.requests] == [True]
        log = page.locator("#deliveries tr", has_text=delivery.msg_id)
        assert "200" in log.inner_text() and "已送达" in log.inner_text()
        old = page.locator("#endpoints tr.inactive", has_text="old-esb")
        assert "已停用" in old.inner_text() and old.locator("button[value=enable]").is_visible()
        shot("bank-integrations")
    finally:
        receiver.stop()
    assert errors == []
