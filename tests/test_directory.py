"""Directory sign-in (LDAP / Active Directory, issue 23) against a real slapd of the test's own.

Each test starts Debian's slapd on a free port with a throwaway database (tests/slapd.py) and
points the settings at it through config/directory.py, as DIRECTORY_* environment variables
would. The login is the real allauth page: read from the page, posted as a browser would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AccessEvent
from branches.roles import Role, user_roles
from config.directory import BACKEND, directory_settings
from tests.factories import PASSWORD
from tests.html_forms import browser_post_data, form_with
from tests.slapd import GROUPS, PEOPLE, ROOT_DN, ROOT_PASSWORD, Slapd, group_dn, person_dn, require_slapd

ROLE_GROUPS = {
    Role.ACCOUNT_MANAGER: "bank-account-managers",
    Role.BRANCH_SUPERVISOR: "bank-branch-supervisors",
    Role.HEAD_OFFICE_APPROVER: "bank-ho-approvers",
}
LEAVERS = "bank-leavers"
DIRECTORY_PASSWORD = "Dir-pass-2026"

DISABLED_MESSAGE = "您的账号已在行内目录(统一身份)中停用"
UNAVAILABLE_MESSAGE = "暂时无法连接行内目录"
WRONG_PASSWORD = "您提供的用户名或密码不正确"


@pytest.fixture
def slapd(settings, world) -> Iterator[Slapd]:
    require_slapd()
    server = Slapd()
    try:
        server.start()
        server.base_tree([*ROLE_GROUPS.values(), LEAVERS])
        env = {
            "DIRECTORY_URL": server.url,
            "DIRECTORY_BIND_DN": ROOT_DN,
            "DIRECTORY_BIND_PASSWORD": ROOT_PASSWORD,
            "DIRECTORY_USER_BASE": PEOPLE,
            "DIRECTORY_USER_FILTER": "(uid=%(user)s)",
            "DIRECTORY_GROUP_BASE": GROUPS,
            "DIRECTORY_GROUP_TYPE": "groupOfNames",
            "DIRECTORY_ROLE_GROUPS": ";".join(f"{role}={group_dn(cn)}" for role, cn in ROLE_GROUPS.items()),
            "DIRECTORY_BRANCH_ATTRIBUTE": "departmentNumber",
            "DIRECTORY_AD_ACCOUNT_CONTROL": "true",
            "DIRECTORY_DISABLED_ATTRIBUTE": "employeeType=disabled",
            "DIRECTORY_DISABLED_GROUP": group_dn(LEAVERS),
            "DIRECTORY_TIMEOUT_SECONDS": "2",
        }
        for name, value in directory_settings(env).items():
            setattr(settings, name, value)
        settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BACKEND]
        yield server
    finally:
        server.cleanup()


def login_page(client: Client, username: str, password: str, ip: str = "10.23.0.1"):
    """Open the login page, fill in the form it shows, submit it."""
    page = client.get(reverse("account_login"))
    assert page.status_code == 200
    data = browser_post_data(form_with(page.content.decode(), "login"))
    data.update(login=[username], password=[password])
    return client.post(reverse("account_login"), data, REMOTE_ADDR=ip)


def logged_in_as(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_off_by_default(settings):
    assert directory_settings({}) == {"DIRECTORY_ENABLED": False}
    assert BACKEND not in settings.AUTHENTICATION_BACKENDS


def test_first_login_creates_the_staff_account_with_role_and_branch(slapd, world):
    slapd.person("zhangwei", DIRECTORY_PASSWORD, name="张伟", branch_code="A", groups=["bank-account-managers"])
    assert not User.objects.filter(username="zhangwei").exists()
    client = Client()
    response = login_page(client, "zhangwei", DIRECTORY_PASSWORD)
    assert response.status_code == 302
    user = User.objects.get(username="zhangwei")
    assert logged_in_as(client) == user
    assert user.branch == world.branch_a and user.enterprise is None and user.is_active
    assert user_roles(user) == {Role.ACCOUNT_MANAGER}
    assert user.display_name == "张伟" and user.email == "zhangwei@bank.example"
    assert not user.has_usable_password()  # the password stays in the directory
    # The second factor still applies: a new staff account is taken to enrolment first.
    home = client.get(reverse("home"))
    assert home.status_code == 302 and home.url.startswith(reverse("mfa_activate_totp"))
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.LOGIN, actor=user).exists()


def test_a_directory_user_with_an_authenticator_still_gives_the_code(slapd, world):
    from audit.mfa import totp_enrol
    from tests.factories import TOTP_SECRET

    slapd.person("lina", DIRECTORY_PASSWORD, name="李娜", branch_code="A", groups=["bank-account-managers"])
    assert login_page(Client(), "lina", DIRECTORY_PASSWORD).status_code == 302
    totp_enrol(User.objects.get(username="lina"), TOTP_SECRET)
    client = Client()
    response = login_page(client, "lina", DIRECTORY_PASSWORD)
    assert response.status_code == 302 and response.url == reverse("mfa_authenticate")
    assert logged_in_as(client) is None


def test_group_and_branch_changes_apply_at_the_next_login(slapd, world):
    slapd.person("wangfang", DIRECTORY_PASSWORD, name="王芳", branch_code="A", groups=["bank-account-managers"])
    assert login_page(Client(), "wangfang", DIRECTORY_PASSWORD).status_code == 302
    user = User.objects.get(username="wangfang")
    assert user_roles(user) == {Role.ACCOUNT_MANAGER}
    user.groups.add(Group.objects.get(name=Role.AUDITOR))  # given here by hand, not mapped
    # Promoted in the directory: supervisor of another branch, no longer an account manager.
    slapd.leave("wangfang", "bank-account-managers")
    slapd.join("wangfang", "bank-branch-supervisors")
    slapd.replace(person_dn("wangfang"), "departmentNumber", ["B"])
    assert login_page(Client(), "wangfang", DIRECTORY_PASSWORD).status_code == 302
    user = User.objects.get(username="wangfang")
    # The mapped roles follow the directory; a role no directory group maps to stays as given.
    assert user_roles(user) == {Role.BRANCH_SUPERVISOR, Role.AUDITOR}
    assert user.branch == world.branch_b


def test_no_role_group_or_unknown_branch_is_refused_with_a_reason(slapd, world):
    slapd.person("guest", DIRECTORY_PASSWORD, name="访客", branch_code="A", groups=[])
    slapd.person("faraway", DIRECTORY_PASSWORD, name="远方", branch_code="ZZ9", groups=["bank-account-managers"])
    client = Client()
    page = login_page(client, "guest", DIRECTORY_PASSWORD).content.decode()
    assert "不属于本系统的任何角色组" in page
    page = login_page(client, "faraway", DIRECTORY_PASSWORD).content.decode()
    assert "机构号在本系统中不存在" in page
    assert not User.objects.filter(username__in=["guest", "faraway"]).exists()
    assert logged_in_as(client) is None


@pytest.mark.parametrize(
    "disable",
    [
        pytest.param(lambda s: s.replace(person_dn("liqiang"), "userAccountControl", ["514"]), id="ad-disabled-bit"),
        pytest.param(lambda s: s.replace(person_dn("liqiang"), "employeeType", ["disabled"]), id="attribute"),
        pytest.param(lambda s: s.join("liqiang", LEAVERS), id="group"),
    ],
)
def test_disabled_in_the_directory_is_refused_at_the_next_login(slapd, world, disable):
    slapd.person("liqiang", DIRECTORY_PASSWORD, name="李强", branch_code="A", groups=["bank-account-managers"])
    assert login_page(Client(), "liqiang", DIRECTORY_PASSWORD).status_code == 302
    disable(slapd)
    # A wrong password learns nothing about the account.
    client = Client()
    page = login_page(client, "liqiang", "not-the-password").content.decode()
    assert WRONG_PASSWORD in page and DISABLED_MESSAGE not in page
    # The right one is told why, and the account is deactivated here.
    response = login_page(client, "liqiang", DIRECTORY_PASSWORD)
    assert response.status_code == 200 and DISABLED_MESSAGE in response.content.decode()
    assert logged_in_as(client) is None
    assert User.objects.get(username="liqiang").is_active is False
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.LOGIN_FAILED, username="liqiang").count() == 2


def test_the_failed_login_limit_still_applies(slapd, world, settings):
    slapd.person("zhaolei", DIRECTORY_PASSWORD, name="赵磊", branch_code="A", groups=["bank-account-managers"])
    client = Client()
    for _ in range(settings.LOGIN_FAILURES_PER_ACCOUNT):
        assert WRONG_PASSWORD in login_page(client, "zhaolei", "guess").content.decode()
    response = login_page(client, "zhaolei", DIRECTORY_PASSWORD)
    assert response.status_code == 200 and WRONG_PASSWORD in response.content.decode()
    assert logged_in_as(client) is None
    # From another address the owner still gets in.
    assert login_page(Client(), "zhaolei", DIRECTORY_PASSWORD, ip="10.23.9.9").status_code == 302


def test_sync_directory_deactivates_the_disabled_and_the_removed(slapd, world):
    for uid in ("chen", "liu", "sun"):
        slapd.person(uid, DIRECTORY_PASSWORD, name=uid, branch_code="A", groups=["bank-account-managers"])
        assert login_page(Client(), uid, DIRECTORY_PASSWORD).status_code == 302
    slapd.replace(person_dn("chen"), "userAccountControl", ["514"])  # disabled in AD
    slapd.delete(person_dn("liu"))  # removed from the directory
    call_command("sync_directory", "--dry-run")
    assert User.objects.filter(username__in=["chen", "liu", "sun"], is_active=True).count() == 3
    call_command("sync_directory")
    active = dict(User.objects.filter(username__in=["chen", "liu", "sun"]).values_list("username", "is_active"))
    assert active == {"chen": False, "liu": False, "sun": True}
    # Local accounts with a password that the directory does not know are left alone.
    assert User.objects.get(pk=world.am_a.pk).is_active


def test_sync_directory_deactivates_nobody_when_the_directory_is_down(slapd, world):
    slapd.person("zhou", DIRECTORY_PASSWORD, name="周", branch_code="A", groups=["bank-account-managers"])
    assert login_page(Client(), "zhou", DIRECTORY_PASSWORD).status_code == 302
    slapd.stop()
    with pytest.raises(CommandError, match="nobody was deactivated"):
        call_command("sync_directory")
    assert User.objects.get(username="zhou").is_active


def test_sync_directory_is_on_beat_when_the_directory_is_on(monkeypatch):
    import importlib

    from config import settings as config_settings

    for name, value in {
        "DIRECTORY_URL": "ldap://127.0.0.1:1",
        "DIRECTORY_USER_BASE": PEOPLE,
        "DIRECTORY_GROUP_BASE": GROUPS,
        "DIRECTORY_ROLE_GROUPS": f"account_manager={group_dn('x')}",
        "DIRECTORY_BRANCH_ATTRIBUTE": "departmentNumber",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        reloaded = importlib.reload(config_settings)
        assert reloaded.CELERY_BEAT_SCHEDULE["directory-sync"]["task"] == "audit.tasks.sync_directory"
        assert BACKEND in reloaded.AUTHENTICATION_BACKENDS
        assert {"account_manager": group_dn("x")} == reloaded.DIRECTORY_ROLE_GROUPS
    finally:
        monkeypatch.undo()
        reloaded = importlib.reload(config_settings)
        assert "directory-sync" not in reloaded.CELERY_BEAT_SCHEDULE


def test_directory_down_gives_a_clear_error_and_local_accounts_still_work(slapd, world):
    slapd.person("wu", DIRECTORY_PASSWORD, name="吴", branch_code="A", groups=["bank-account-managers"])
    slapd.stop()
    client = Client()
    response = login_page(client, "wu", DIRECTORY_PASSWORD)
    assert response.status_code == 200 and UNAVAILABLE_MESSAGE in response.content.decode()
    assert logged_in_as(client) is None
    # The local administrator and local staff sign in with their own password as before.
    admin = User.objects.create_superuser("admin", "admin@bank.example", PASSWORD)
    response = login_page(client, "admin", PASSWORD)
    assert response.status_code == 302
    assert logged_in_as(client) == admin
    response = login_page(Client(), world.am_a.username, PASSWORD)
    assert response.status_code == 302


def test_a_passkey_login_checks_the_directory_too(slapd, world):
    """A passkey never reaches the directory's bind: the login checks the entry instead, so
    whoever the directory disabled is refused at their next login, however they sign in."""
    from audit.directory import refusal_at_passkey_login

    slapd.person("he", DIRECTORY_PASSWORD, name="何", branch_code="A", groups=["bank-account-managers"])
    assert login_page(Client(), "he", DIRECTORY_PASSWORD).status_code == 302
    user = User.objects.get(username="he")
    assert refusal_at_passkey_login(user) is None and User.objects.get(username="he").is_active
    slapd.join("he", LEAVERS)
    assert refusal_at_passkey_login(user) == "disabled"
    assert User.objects.get(username="he").is_active is False
    # A local account the directory does not hold is left alone; a directory that is down
    # does not stop a passkey (the key is both factors).
    assert refusal_at_passkey_login(world.am_a) is None
    slapd.stop()
    other = User.objects.get(pk=world.am_a2.pk)
    assert refusal_at_passkey_login(other) is None and other.is_active


def test_active_directory_refusing_a_disabled_accounts_bind_is_recognised():
    """AD refuses a disabled account's bind itself (invalid credentials, "data 533"), which
    slapd cannot imitate: the recognition of its diagnostic, from python-ldap's own exception."""
    import ldap

    from audit.directory import ad_refused_bind

    def refusal(data: str) -> ldap.INVALID_CREDENTIALS:
        return ldap.INVALID_CREDENTIALS(
            {
                "result": 49,
                "desc": "Invalid credentials",
                "info": f"80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data {data}, v4563",
            }
        )

    assert ad_refused_bind(refusal("533"))  # account disabled
    assert ad_refused_bind(refusal("701"))  # account expired
    assert not ad_refused_bind(refusal("52e"))  # wrong password: says nothing more
    assert not ad_refused_bind(ldap.INVALID_CREDENTIALS({"result": 49, "desc": "Invalid credentials"}))  # slapd
    assert not ad_refused_bind(ldap.SERVER_DOWN({"desc": "Can't contact LDAP server"}))


def test_a_bind_that_active_directory_refuses_as_disabled_reads_as_disabled(slapd, world, monkeypatch):
    """The login flow with AD's refusal: slapd stands in for AD except for the one bind of
    the person, which answers as AD does for a disabled account."""
    import ldap
    from django_auth_ldap.backend import _LDAPUser

    slapd.person("ma", DIRECTORY_PASSWORD, name="马", branch_code="A", groups=["bank-account-managers"])
    assert login_page(Client(), "ma", DIRECTORY_PASSWORD).status_code == 302
    real_bind = _LDAPUser._bind_as

    def ad_bind(self, bind_dn, bind_password, sticky=False):
        if bind_dn == person_dn("ma"):
            info = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563"
            raise ldap.INVALID_CREDENTIALS({"result": 49, "desc": "Invalid credentials", "info": info})
        return real_bind(self, bind_dn, bind_password, sticky)

    monkeypatch.setattr(_LDAPUser, "_bind_as", ad_bind)
    client = Client()
    response = login_page(client, "ma", DIRECTORY_PASSWORD)
    assert response.status_code == 200 and DISABLED_MESSAGE in response.content.decode()
    assert logged_in_as(client) is None
    assert User.objects.get(username="ma").is_active is False


def test_disabled_in_the_directory_cannot_log_in_and_their_work_goes_to_the_leaver_queue(slapd, world, client):
    """End to end: an account manager with open cases is disabled in the directory; the sync
    deactivates them, their cases land in their supervisor's leaver queue, and the next login
    through the real page is refused with the reason."""
    from onboarding import services
    from onboarding.models import CaseEvent, OnboardingCase
    from people.checks import inactive_holders
    from tests.factories import MODULES, enterprise

    slapd.person("yang", DIRECTORY_PASSWORD, name="杨帆", branch_code="A", groups=["bank-account-managers"])
    assert login_page(Client(), "yang", DIRECTORY_PASSWORD).status_code == 302
    yang = User.objects.get(username="yang")
    cases = [
        services.case_create(user=yang, enterprise=enterprise(world.branch_a), modules=[str(m) for m in MODULES])
        for _ in range(2)
    ]
    assert set(OnboardingCase.objects.filter(account_manager=yang)) == set(cases)

    slapd.join("yang", LEAVERS)
    call_command("sync_directory", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert User.objects.get(username="yang").is_active is False

    response = login_page(Client(), "yang", DIRECTORY_PASSWORD)
    assert response.status_code == 200 and DISABLED_MESSAGE in response.content.decode()

    for case in cases:
        case.refresh_from_db()
        assert case.account_manager is None
        assert CaseEvent.objects.filter(case=case, name="holder_left", data__from=yang.pk).exists()
    client.force_login(world.supervisor)
    leavers = client.get(reverse("people:leavers")).content.decode()
    assert all(case.reference in leavers for case in cases) and "杨帆" in leavers
    client.force_login(world.supervisor_other)  # another branch's supervisor sees none of it
    leavers = client.get(reverse("people:leavers")).content.decode()
    assert not any(case.reference in leavers for case in cases)
    assert inactive_holders(databases=["default"]) == []
