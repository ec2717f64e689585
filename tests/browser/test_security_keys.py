"""Security keys and passkeys (WebAuthn, issue 23) in Chromium, with the DevTools virtual
authenticator standing in for a key with a fingerprint reader: enrol, log out, log in with the
key (counting the person's actions), remove; a role that must hold a key is taken to enrolment.
"""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator

from tests.browser.helpers import staff_login
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def virtual_authenticator(page) -> tuple[object, str]:
    """A platform authenticator (internal transport) with resident keys and a fingerprint
    that always matches: what a staff PC with Windows Hello or a FIDO2 key with a PIN gives."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    found = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, found["authenticatorId"]


def keys_of(user) -> list[Authenticator]:
    return list(Authenticator.objects.filter(user=user, type=Authenticator.Type.WEBAUTHN))


def log_out(page) -> None:
    page.click("form[action='/logout/'] button")  # 退出 in the header
    page.wait_for_selector("input[name=login]")


def no_english(text: str) -> None:
    for word in ("Security Key", "Passkey", "Remove", "Add", "Sign in", "Passwordless", "Usage"):
        assert word not in text, word


def test_enrol_a_key_log_in_with_it_in_two_actions_and_remove_it(page, live_server, shot):
    from tests.factories import World

    world = World()
    user = world.am_a
    base = live_server.url
    cdp, authenticator_id = virtual_authenticator(page)
    scripts_from_elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: scripts_from_elsewhere.append(r.url) if not r.url.startswith(base) else None,
    )

    # Enrol: 两步验证 → 添加安全密钥 → the browser asks the key → saved.
    staff_login(page, base, user.username)
    page.wait_for_selector("text=我的待办")
    page.goto(f"{base}/accounts/2fa/")
    page.wait_for_selector("#security-keys")
    assert "尚未添加安全密钥" in page.inner_text("#security-keys")
    page.click("#security-keys a.button.primary")  # 添加安全密钥
    # allauth asks who it is first (the password here; the code or a key are offered too).
    page.wait_for_selector("text=确认是您本人")
    no_english(page.inner_text("main"))
    page.fill("input[name=password]", PASSWORD)
    page.click("main button.primary")
    page.wait_for_selector("#mfa_webauthn_add")
    no_english(page.inner_text("main"))
    shot("security-key-add")
    page.fill("input[name=name]", "张三的指纹")
    page.click("#mfa_webauthn_add")
    page.wait_for_url(lambda url: "/webauthn/add/" not in url)
    keys = keys_of(user)
    assert [k.wrap().name for k in keys] == ["张三的指纹"]
    assert keys[0].wrap().is_passwordless is True
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]

    # The list of keys, in Chinese.
    page.goto(f"{base}/accounts/2fa/webauthn/")
    assert "张三的指纹" in page.inner_text("table.keys") and "通行密钥" in page.inner_text("table.keys")
    no_english(page.inner_text("main"))

    # Log out, then log in with the key: the login page, one click, the fingerprint.
    log_out(page)
    page.goto(f"{base}/login/")
    actions = 0
    page.click("#passkey_login")
    actions += 1  # the click
    actions += 1  # the fingerprint / PIN on the key (the virtual authenticator answers it)
    page.wait_for_selector("text=我的待办")
    assert actions <= 3
    print(f"\nstaff login with a passkey: {actions} actions")
    shot("security-key-login")
    keys[0].refresh_from_db()
    assert keys[0].last_used_at is not None

    # The authenticator app is still there: a password login asks for its code (or a recovery
    # code: one of the printed ones here, since the app's current code was used at the first
    # login), and offers the key.
    log_out(page)
    page.goto(f"{base}/login/")
    page.fill("input[name=login]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_selector("input[name=code]")
    assert page.locator("#mfa_webauthn_authenticate").is_visible()
    recovery = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    page.fill("input[name=code]", recovery.wrap().get_unused_codes()[0])
    page.click("form:has(input[name=code]) button.primary")
    page.wait_for_selector("text=我的待办")

    # Remove the key: allauth first confirms who it is; here with the key itself.
    page.goto(f"{base}/accounts/2fa/webauthn/")
    page.click("table.keys >> text=移除")
    page.wait_for_selector("text=确认是您本人")
    page.click("main a.button >> text=使用安全密钥")
    page.wait_for_selector("#mfa_webauthn_reauthenticate")
    no_english(page.inner_text("main"))
    page.click("#mfa_webauthn_reauthenticate")
    page.wait_for_selector("text=确认移除")
    no_english(page.inner_text("main"))
    page.click("text=确认移除")
    page.wait_for_selector("text=尚未添加安全密钥")
    assert keys_of(user) == []

    # A removed key no longer signs anyone in.
    log_out(page)
    page.goto(f"{base}/login/")
    page.click("#passkey_login")
    page.wait_for_selector(".msg.error, .messages, input[name=login]")
    page.wait_for_timeout(500)
    assert "我的待办" not in page.inner_text("body")
    assert scripts_from_elsewhere == []  # allauth's scripts come from our own static files


def test_a_role_that_needs_a_key_is_taken_to_enrolment_and_keeps_its_key(page, live_server, settings):
    from tests.factories import World

    settings.MFA_REQUIRE_SECURITY_KEY_ROLES = ["head_office_approver"]
    world = World()
    approver = world.approver
    base = live_server.url
    virtual_authenticator(page)
    staff_login(page, base, approver.username)
    # No page but the key's enrolment until a key is there.
    page.wait_for_selector("#mfa_webauthn_add")
    assert "须使用安全密钥" in page.inner_text("body")
    page.goto(f"{base}/cases/")
    page.wait_for_selector("#mfa_webauthn_add")
    page.click("#mfa_webauthn_add")
    page.wait_for_url(lambda url: "/webauthn/add/" not in url)
    assert len(keys_of(approver)) == 1
    page.goto(f"{base}/")
    page.wait_for_selector("text=我的待办")
    # The only key of such a role cannot be removed.
    page.goto(f"{base}/accounts/2fa/webauthn/")
    page.click("table.keys >> text=移除")
    page.wait_for_selector("text=不能移除唯一的安全密钥")
    assert len(keys_of(approver)) == 1
    # Someone without that role is not forced.
    log_out(page)
    staff_login(page, base, world.am_a.username)
    page.wait_for_selector("text=我的待办")
