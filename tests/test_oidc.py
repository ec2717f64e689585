"""OpenID Connect sign-in (issue 23) against a real provider of the test's own.

The provider is django-oauth-toolkit with OIDC on, in its own process and SQLite database
(tests/oidc_provider/). The flow is the browser's: our login page's platform button → the
provider's login page (read and posted like a browser, requests.Session) → back to our callback
with the code; our server redeems it at the provider and checks the ID token's signature."""

from __future__ import annotations

import html
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AccessEvent
from branches.roles import Role, user_roles
from config.oidc import PROVIDER_ID, oidc_settings
from tests.html_forms import browser_post_data, form_with, page_forms
from tests.oidc_provider import Provider

PASSWORD = "Idp-pass-2026"
CLIENT_ID = "direct-link"
CLIENT_SECRET = "direct-link-secret-2026"
CALLBACK = f"http://testserver/accounts/oidc/{PROVIDER_ID}/login/callback/"
GROUPS = "account_manager=dl-account-managers;branch_supervisor=dl-branch-supervisors"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    server = Provider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=CALLBACK)
    people = {
        "zhaomin": dict(name="赵敏", email="zhaomin@bank.example", groups=["dl-account-managers"], branch="A"),
        "qianli": dict(name="钱立", groups=["dl-account-managers"], branch="A", amr=["pwd", "hwk"]),
        "sunmo": dict(name="孙墨", groups=["dl-everyone"], branch="A"),
        "zhouyu": dict(name="周瑜", groups=["dl-account-managers"], branch="ZZ9"),
        "admin": dict(name="冒名", groups=["dl-branch-supervisors"], branch="A"),
        "am_a": dict(name="同名本地", groups=["dl-account-managers"], branch="A"),
        "liuyang": dict(name="刘洋", groups=["dl-account-managers"], branch="A"),
        "wuji": dict(name="吴忌", groups=["dl-account-managers"], branch="A"),
    }
    for username, claims in people.items():
        server.person(username, PASSWORD, **claims)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def oidc(settings, provider) -> Provider:
    env = {
        "OIDC_SERVER_URL": provider.server_url,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_ROLE_GROUPS": GROUPS,
        "OIDC_MFA_AMR": "hwk,mfa,otp",
    }
    for name, value in oidc_settings(env).items():
        setattr(settings, name, value)
    return provider


def platform_login(client: Client, provider: Provider, username: str, password: str = PASSWORD):
    """Our login page → its platform button → the provider's login page, filled in → back to us."""
    page = client.get(reverse("account_login")).content.decode()
    button = next(f for f in page_forms(page) if f"/oidc/{PROVIDER_ID}/" in f.action)
    response = client.post(button.action, browser_post_data(button))
    assert response.status_code == 302 and response.url.startswith(provider.url), response
    browser = requests.Session()
    url = response.url
    while urlsplit(url).netloc == urlsplit(provider.url).netloc:
        answer = browser.get(url, allow_redirects=False, timeout=10)
        if answer.status_code == 200:  # the provider's login page
            form = form_with(answer.text, "username")
            data = browser_post_data(form)
            data.update(username=[username], password=[password])
            answer = browser.post(urljoin(answer.url, form.action or answer.url), data=data, allow_redirects=False)
            assert answer.status_code == 302, "the provider refused the password"
        url = urljoin(url, answer.headers["Location"])
    assert url.startswith(CALLBACK)
    return client.get(url)


def logged_in_as(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_off_by_default(settings, db):
    assert oidc_settings({})["OIDC_ENABLED"] is False
    assert settings.SOCIALACCOUNT_PROVIDERS == {}
    page = Client().get(reverse("account_login")).content.decode()
    assert "/oidc/" not in page and "统一身份平台" not in page


def test_the_settings_are_checked_and_the_button_speaks_the_pages_language(oidc, settings, db):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="OIDC_CLIENT_SECRET"):
        oidc_settings({"OIDC_SERVER_URL": oidc.server_url, "OIDC_CLIENT_ID": "x", "OIDC_ROLE_GROUPS": GROUPS})
    with pytest.raises(ImproperlyConfigured, match="OIDC_ROLE_GROUPS"):
        oidc_settings({"OIDC_SERVER_URL": oidc.server_url, "OIDC_CLIENT_ID": "x", "OIDC_CLIENT_SECRET": "y"})
    client = Client()
    assert "使用统一身份平台登录" in client.get(reverse("account_login")).content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = html.unescape(client.get(reverse("account_login")).content.decode())
    assert "Sign in with the bank's identity platform" in page and "统一身份平台" not in page


def test_first_login_creates_the_staff_account_with_role_and_branch(oidc, world):
    assert not User.objects.filter(username="zhaomin").exists()
    client = Client()
    page = client.get(reverse("account_login")).content.decode()
    assert "使用统一身份平台登录" in page
    response = platform_login(client, oidc, "zhaomin")
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="zhaomin")
    assert logged_in_as(client) == user
    assert user.branch == world.branch_a and user.enterprise is None and user.is_active
    assert user_roles(user) == {Role.ACCOUNT_MANAGER}
    assert user.display_name == "赵敏" and user.email == "zhaomin@bank.example"
    assert not user.has_usable_password()
    # The token says only "password": our second factor still applies (enrolment first).
    home = client.get(reverse("home"))
    assert home.status_code == 302 and home.url.startswith(reverse("mfa_activate_totp"))
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.LOGIN, actor=user).exists()


def test_the_platforms_security_key_counts_as_the_second_factor(oidc, world):
    client = Client()
    assert platform_login(client, oidc, "qianli").status_code == 302
    user = User.objects.get(username="qianli")
    assert logged_in_as(client) == user
    home = client.get(reverse("home"))
    assert home.status_code == 200  # amr "hwk": no TOTP asked


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("sunmo", "不属于本系统的任何角色组"),
        ("zhouyu", "机构号在本系统中不存在"),
        ("admin", "同名账号是本地账号"),
        ("am_a", "同名账号是本地账号"),
    ],
)
def test_unmapped_unknown_or_local_accounts_are_refused_with_a_reason(oidc, world, username, message):
    if username == "admin":
        User.objects.create_superuser("admin", "admin@bank.example", "Local-admin-2026")
    before = set(User.objects.values_list("pk", flat=True))
    client = Client()
    response = platform_login(client, oidc, username)
    assert response.status_code == 302 and response.url == reverse("account_login")
    assert message in client.get(response.url).content.decode()
    assert logged_in_as(client) is None
    assert set(User.objects.values_list("pk", flat=True)) == before


def test_a_leaver_deactivated_here_is_refused_and_roles_follow_the_platform(oidc, world):
    client = Client()
    assert platform_login(client, oidc, "wuji").status_code == 302
    user = User.objects.get(username="wuji")
    assert user_roles(user) == {Role.ACCOUNT_MANAGER}
    # Promoted on the platform: the next login brings the role and branch up to date.
    oidc.person("wuji", PASSWORD, name="吴忌", groups=["dl-branch-supervisors"], branch="B")
    assert platform_login(Client(), oidc, "wuji").status_code == 302
    user = User.objects.get(username="wuji")
    assert user_roles(user) == {Role.BRANCH_SUPERVISOR} and user.branch == world.branch_b
    user.is_active = False
    user.save()  # a leaver
    client = Client()
    response = platform_login(client, oidc, "wuji")
    assert response.status_code == 302 and response.url == reverse("account_login")
    assert "您的账号在本系统中已停用" in client.get(response.url).content.decode()
    assert logged_in_as(client) is None


def test_the_account_the_directory_made_is_linked_not_duplicated(oidc, world):
    made = User.objects.create(username="liuyang", display_name="刘洋", branch=world.branch_b)
    made.set_unusable_password()
    made.save()  # as the directory sign-in leaves it: no password here
    client = Client()
    assert platform_login(client, oidc, "liuyang").status_code == 302
    assert logged_in_as(client) == made
    made.refresh_from_db()
    assert made.branch == world.branch_a and user_roles(made) == {Role.ACCOUNT_MANAGER}
    assert User.objects.filter(username__startswith="liuyang").count() == 1
    assert platform_login(Client(), oidc, "liuyang").status_code == 302  # the link is used next time
