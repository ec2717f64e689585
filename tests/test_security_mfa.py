"""Logins: password + TOTP for bank staff, enrolment on first login, single-use codes,
failed-login limits per account and address, session limits, login events."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from audit.mfa import demo_totp_secret, totp_code, totp_enrol
from audit.models import AccessEvent
from audit.receivers import LOGIN_AT_SESSION_KEY
from tests.factories import PASSWORD, TOTP_SECRET

NOW = "2026-03-02 09:00:05+08:00"


def password_step(client: Client, username: str, password: str = PASSWORD, ip: str = "10.1.1.1"):
    return client.post(reverse("login"), {"login": username, "password": password}, REMOTE_ADDR=ip)


def password_and_totp_login(client: Client, username: str, secret: str = TOTP_SECRET, ip: str = "10.1.1.1"):
    """The real allauth flow: password, then the current code of the authenticator app."""
    response = password_step(client, username, ip=ip)
    assert response.status_code == 302 and response.url == reverse("mfa_authenticate")
    return client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)}, REMOTE_ADDR=ip)


def case_pages(case) -> list[str]:
    return [
        reverse("home"),
        reverse("case_list"),
        reverse("case_new"),
        reverse("case_detail", args=[case.public_id]),
        reverse("case_edit", args=[case.public_id]),
        reverse("audit_break_glass"),
    ]


@freeze_time(NOW)
def test_staff_login_needs_password_then_totp_code(world):
    case = world.case()
    client = Client()
    response = password_step(client, "am_a")
    assert response.status_code == 302 and response.url == reverse("mfa_authenticate")
    # Password alone: not logged in yet.
    assert client.get(reverse("case_detail", args=[case.public_id])).status_code == 302
    assert "_auth_user_id" not in client.session

    response = client.post(
        reverse("mfa_authenticate"), {"code": "000000" if totp_code(TOTP_SECRET) != "000000" else "111111"}
    )
    assert response.status_code == 200 and "_auth_user_id" not in client.session

    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)})
    assert response.status_code == 302
    assert client.get(reverse("case_detail", args=[case.public_id])).status_code == 200


def test_totp_codes_are_single_use(world):
    with freeze_time(NOW) as clock:
        first = Client()
        assert password_and_totp_login(first, "am_a").status_code == 302
        # Someone who saw the code and the password tries it again within the same 30 s.
        second = Client()
        assert password_step(second, "am_a").status_code == 302
        response = second.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)})
        assert response.status_code == 200 and "_auth_user_id" not in second.session
        # The next code (the next 30-second period) is accepted.
        clock.tick(30)
        response = second.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)})
        assert response.status_code == 302 and second.session["_auth_user_id"] == str(world.am_a.pk)


@freeze_time(NOW)
def test_staff_without_second_factor_reach_no_case_page_until_enrolled(world):
    case = world.case()
    Authenticator.objects.filter(user=world.am_a).delete()
    client = Client()
    response = password_step(client, "am_a")
    assert response.status_code == 302  # no factor to ask for yet: logged in, but fenced
    activate = reverse("mfa_activate_totp")
    for url in case_pages(case):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(activate), url
    assert client.post(reverse("case_list")).status_code == 302

    page = client.get(activate)
    assert page.status_code == 200
    assert b"<svg" in page.content  # the QR code, inline: no outside resource
    secret = client.session["mfa.totp.secret"]
    assert secret.encode() in page.content
    # A wrong code enrols nothing.
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    assert client.post(activate, {"code": wrong}).status_code == 200
    assert client.get(reverse("case_list")).status_code == 302

    response = client.post(activate, {"code": totp_code(secret)})
    assert response.status_code == 302 and response.url == reverse("mfa_view_recovery_codes")
    codes = client.get(response.url)
    assert codes.status_code == 200
    assert Authenticator.objects.filter(user=world.am_a, type=Authenticator.Type.RECOVERY_CODES).exists()
    for url in case_pages(case):
        if url != reverse("case_new"):
            assert client.get(url).status_code == 200, url


def test_a_session_of_staff_with_totp_but_no_code_is_ended(world, login):
    client = login(Client(), world.am_a, mfa=False)
    response = client.get(reverse("case_list"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_force_login_with_mfa_mark_reaches_case_pages(world, login):
    case = world.case()
    assert login(Client(), world.am_a).get(reverse("case_detail", args=[case.public_id])).status_code == 200
    client = Client()
    client.force_login(world.supervisor)  # tests/conftest.py: a complete login
    assert client.get(reverse("case_detail", args=[case.public_id])).status_code == 200


@freeze_time(NOW)
def test_staff_cannot_switch_their_authenticator_off(world, login):
    client = login(Client(), world.am_a)
    auth = Authenticator.objects.get(user=world.am_a, type=Authenticator.Type.TOTP)
    client.post(reverse("mfa_deactivate_totp"), {})
    assert Authenticator.objects.filter(pk=auth.pk).exists()


@freeze_time(NOW)
def test_enterprise_users_log_in_with_password_and_may_enable_totp(world):
    client = Client()
    response = password_step(client, "customer_x")
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(world.customer_x.pk)
    assert client.get(reverse("mfa_index")).status_code == 200
    # Optional enrolment: allauth asks for the password again first.
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302 and response.url.startswith(reverse("account_reauthenticate"))
    assert client.get(response.url).status_code == 200

    totp_enrol(world.customer_x, TOTP_SECRET)
    other = Client()
    response = password_step(other, "customer_x")
    assert response.url == reverse("mfa_authenticate")  # once enabled, it is asked for
    assert "_auth_user_id" not in other.session


@freeze_time(NOW)
def test_failed_logins_are_limited_per_account_and_address(world):
    client = Client()
    for _ in range(5):
        response = password_step(client, "am_a", password="wrong-password", ip="10.9.9.9")
        assert response.status_code == 200 and "_auth_user_id" not in client.session
    # Sixth attempt from that address: refused even with the right password.
    response = password_step(client, "am_a", ip="10.9.9.9")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session and "mfa_authenticate" not in response.get("Location", "")
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.LOGIN_BLOCKED, username="am_a").exists()
    # A colleague behind the same branch NAT address is not locked out ...
    assert password_step(Client(), "am_a2", ip="10.9.9.9").url == reverse("mfa_authenticate")
    # ... nor is the same person at another address.
    assert password_step(Client(), "am_a", ip="10.7.7.7").url == reverse("mfa_authenticate")


@freeze_time(NOW)
def test_one_address_spraying_many_accounts_is_stopped(world, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "5/5m/key,4/m/ip"}
    for username in ["am_a", "am_a2", "am_b", "supervisor"]:
        assert password_step(Client(), username, password="wrong-password", ip="10.6.6.6").status_code == 200
    response = password_step(Client(), "tech", ip="10.6.6.6")
    assert response.status_code == 200  # blocked: the address has used up its failures
    assert password_step(Client(), "tech", ip="10.6.6.7").url == reverse("mfa_authenticate")


def test_a_disabled_users_session_ends(world, login):
    client = login(Client(), world.am_a)
    assert client.get(reverse("case_list")).status_code == 200
    world.am_a.is_active = False
    world.am_a.save(update_fields=["is_active"])
    response = client.get(reverse("case_list"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert "_auth_user_id" not in client.session  # the session itself was ended
    world.am_a.is_active = True
    world.am_a.save(update_fields=["is_active"])
    assert client.get(reverse("case_list")).status_code == 302  # re-enabling does not revive it


def test_disabled_user_cannot_log_in(world):
    world.am_a.is_active = False
    world.am_a.save(update_fields=["is_active"])
    client = Client()
    response = password_step(client, "am_a")
    assert "_auth_user_id" not in client.session
    assert response.status_code in (200, 302) and "mfa_authenticate" not in response.get("Location", "")


def test_sessions_end_twelve_hours_after_login_however_active(world, login):
    client = login(Client(), world.am_a)
    session = client.session
    session[LOGIN_AT_SESSION_KEY] = time.time() - 12 * 3600 + 60
    session.save()
    assert client.get(reverse("case_list")).status_code == 200  # 11 h 59 min: still fine
    session = client.session
    session[LOGIN_AT_SESSION_KEY] = time.time() - 12 * 3600 - 1
    session.save()
    response = client.get(reverse("case_list"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_idle_limit_is_thirty_minutes_renewed_by_activity_at_most_once_a_minute(world, login, settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.ACCOUNT_SESSION_REMEMBER is False
    client = login(Client(), world.am_a)
    client.get(reverse("case_list"))
    first = Session.objects.get(session_key=client.session.session_key).expire_date
    # A request within the minute writes nothing: the expiry stays where it was.
    with freeze_time(timezone.now() + dt.timedelta(seconds=30)):
        client.get(reverse("case_list"))
    assert Session.objects.get(session_key=client.session.session_key).expire_date == first
    # After more than a minute the next request pushes the idle limit forward.
    with freeze_time(timezone.now() + dt.timedelta(minutes=5)):
        client.get(reverse("case_list"))
    later = Session.objects.get(session_key=client.session.session_key).expire_date
    assert later >= first + dt.timedelta(minutes=4)


@freeze_time(NOW)
def test_logins_and_failures_are_recorded(world):
    password_step(Client(), "am_a", password="wrong-password", ip="10.3.3.3")
    failed = AccessEvent.objects.get(kind=AccessEvent.Kind.LOGIN_FAILED)
    assert (failed.username, failed.ip) == ("am_a", "10.3.3.3")
    password_step(Client(), "nobody", password="wrong-password")
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.LOGIN_FAILED, username="nobody").exists()
    password_and_totp_login(Client(), "am_a", ip="10.3.3.4")
    ok = AccessEvent.objects.get(kind=AccessEvent.Kind.LOGIN)
    assert (ok.actor, ok.ip) == (world.am_a, "10.3.3.4")


def test_admin_login_goes_through_allauth(world, login):
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response.url == reverse("login") + "?next=/admin/"
    # Logged in without admin rights: refused, not sent round in a loop.
    staff = login(Client(), world.am_a)
    assert staff.get("/admin/", follow=True).status_code == 403


@freeze_time(NOW)
def test_totp_code_command_prints_codes_of_demo_accounts_only(world, capsys):
    totp_enrol(world.customer_x, demo_totp_secret("customer_x"))
    call_command("totp_code", "customer_x")
    assert capsys.readouterr().out.strip() == totp_code(demo_totp_secret("customer_x"))
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not a demo account"):
        call_command("totp_code", "am_a")  # enrolled with another secret
    with pytest.raises(CommandError, match="no authenticator"):
        call_command("totp_code", "customer_y")


@freeze_time(NOW)
def test_wrong_totp_codes_are_limited_per_account_and_address(world):
    """A stranger holding the password cannot lock the owner out by typing wrong codes."""
    wrong = "000000" if totp_code(TOTP_SECRET) != "000000" else "111111"
    stranger = Client()
    assert password_step(stranger, "am_a", ip="10.6.6.6").status_code == 302
    for _ in range(5):
        response = stranger.post(reverse("mfa_authenticate"), {"code": wrong}, REMOTE_ADDR="10.6.6.6")
        assert response.status_code == 200 and "_auth_user_id" not in stranger.session
    # The stranger's address is now refused even with the right code ...
    response = stranger.post(reverse("mfa_authenticate"), {"code": totp_code(TOTP_SECRET)}, REMOTE_ADDR="10.6.6.6")
    assert response.status_code == 200 and "_auth_user_id" not in stranger.session
    # ... while the owner at their own address still logs in.
    owner = Client()
    with freeze_time(NOW) as clock:
        clock.tick(30)  # the next code: the one above was not used, but keep it clean
        assert password_and_totp_login(owner, "am_a", ip="10.1.1.1").status_code == 302
    assert owner.session["_auth_user_id"] == str(world.am_a.pk)


def test_a_customer_resets_the_password_by_mail_through_the_outbox(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    import re

    from notices.models import OutboxEmail

    world.customer_x.email = "x@company.example"
    world.customer_x.save(update_fields=["email"])
    client = Client()
    page = client.get("/accounts/password/reset/").content.decode()
    assert "银行员工的账号由本行系统管理员重置" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/password/reset/", {"email": "x@company.example"})
    assert response.status_code == 302
    row = OutboxEmail.objects.get(kind="rendered")
    assert row.sent_at is not None and "secret" not in row.payload  # the link is not kept
    assert [m.to for m in mailoutbox] == [["x@company.example"]]
    link = re.search(r"https?://[^\s]+/accounts/password/reset/key/[^\s]+", mailoutbox[0].body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    form = client.get("/" + path, follow=True)
    assert form.status_code == 200 and "设置新密码" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0] if form.redirect_chain else "/" + path,
                       {"password1": "Neu-Passwort-2027!", "password2": "Neu-Passwort-2027!"})  # fmt: skip
    assert done.status_code == 302
    world.customer_x.refresh_from_db()
    assert world.customer_x.check_password("Neu-Passwort-2027!")


def test_bank_staff_get_no_reset_mail(world, mailoutbox, django_capture_on_commit_callbacks):
    from notices.models import OutboxEmail

    world.am_a.email = "am.a@bank.example"
    world.am_a.save(update_fields=["email"])
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/accounts/password/reset/", {"email": "am.a@bank.example"})
    assert response.status_code == 302  # the same answer as for anyone: nothing to learn from it
    assert mailoutbox == [] and not OutboxEmail.objects.filter(kind="rendered").exists()


def test_password_reset_requests_are_rate_limited(world, mailoutbox):
    world.customer_x.email = "x@company.example"
    world.customer_x.save(update_fields=["email"])
    client = Client()
    codes = [client.post("/accounts/password/reset/", {"email": "x@company.example"}).status_code for _ in range(7)]
    assert codes[:5] == [302] * 5 and 429 in codes[5:]
