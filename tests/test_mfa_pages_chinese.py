"""The 2FA management pages read in the site's own Chinese (两步验证, 验证器, 恢复码), not in
allauth's generic translation ("双因素身份认证", "使用身份验证器应用进行身份验证处于活动状态")."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.urls import reverse

from audit.mfa import totp_enrol
from tests.factories import TOTP_SECRET

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
