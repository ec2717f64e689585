"""The 2FA management pages read in the site's own Chinese (两步验证, 验证器, 恢复码), not in
allauth's generic translation ("双因素身份认证", "使用身份验证器应用进行身份验证处于活动状态")."""

from __future__ import annotations

import re

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.urls import reverse

from audit.mfa import totp_enrol
from tests.factories import PASSWORD, TOTP_SECRET

AWKWARD = ("双因素", "处于活动状态", "身份验证器应用", "恢复代码", "下载代码", "Two-Factor", "Recovery Codes")


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_the_2fa_page_of_a_customer_without_authenticator(client, world):
    client.force_login(world.customer_x)
    page = _page(client, reverse("mfa_index"))
    assert "两步验证" in page and "尚未启用验证器应用" in page and "启用两步验证" in page
    assert not [w for w in AWKWARD if w in page]


def test_the_2fa_and_recovery_code_pages_once_enrolled(client, world):
    totp_enrol(world.customer_x, TOTP_SECRET)
    if not Authenticator.objects.filter(user=world.customer_x, type=Authenticator.Type.RECOVERY_CODES).exists():
        RecoveryCodes.activate(world.customer_x)
    client.force_login(world.customer_x)
    page = _page(client, reverse("mfa_index"))
    assert "已启用" in page and "停用验证器" in page and "可用恢复码" in page
    assert not [w for w in AWKWARD if w in page]
    for name in ("mfa_view_recovery_codes", "mfa_generate_recovery_codes", "mfa_deactivate_totp"):
        response = client.get(reverse(name))
        if response.status_code == 302:  # allauth asks for the password again first
            continue
        page = response.content.decode()
        assert response.status_code == 200, name
        assert "恢复码" in page or "停用验证器" in page
        assert not [w for w in AWKWARD if w in page], name


def test_the_security_key_pages_are_chinese_and_load_allauths_scripts_locally(client, world):
    """Issue 23: the security-key pages (2FA overview, list, add, confirm access) in the site's
    Chinese, with allauth's WebAuthn scripts from our own static files."""
    client.force_login(world.am_a)
    page = _page(client, reverse("mfa_index"))
    assert "安全密钥" in page and "添加安全密钥" in page
    page = _page(client, reverse("mfa_list_webauthn"))
    assert "尚未添加安全密钥" in page
    assert not [w for w in AWKWARD + ("Security Key", "Passkey", "Add") if w in page]
    # Adding a key first confirms who it is (allauth's reauthentication), in Chinese too.
    response = client.get(reverse("mfa_add_webauthn"))
    assert response.status_code == 302
    page = _page(client, response.url)
    assert "确认是您本人" in page and "输入验证码" in page
    assert "Confirm Access" not in page and "Enter your password" not in page
    # Once confirmed, the add page: its scripts are ours, no other origin.
    client.post(response.url, {"password": PASSWORD})
    page = _page(client, reverse("mfa_add_webauthn"))
    assert "添加安全密钥" in page and "免密码登录" in page
    scripts = re.findall(r'<script[^>]* src="([^"]+)"', page)
    assert "/static/mfa/js/webauthn.js" in scripts and all(src.startswith("/static/") for src in scripts)
    assert not [w for w in AWKWARD + ("Security Key", "Passwordless") if w in page]
    # The login page offers the key.
    client.logout()
    page = _page(client, reverse("account_login"))
    assert "使用安全密钥登录" in page and 'id="passkey_login"' in page
