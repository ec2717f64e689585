"""Invitations: single use, 72 hours, only a hash stored; removing a user ends their sessions."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from onboarding.services import CaseError
from portal.models import EnterpriseMember, Invitation
from portal.services import invitation_create, member_remove
from tests.factories import PASSWORD
from tests.portal_helpers import invite, member

NEW_PASSWORD = "Xq7-portal-2026-ok"


def _accept(client, token, password=NEW_PASSWORD):
    return client.post(f"/portal/invite/{token}/", {"password1": password, "password2": password})


def test_the_mail_carries_the_link_and_the_database_only_its_hash(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = invite(world)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.user@company-x.example"]
    assert f"/portal/invite/{token}/" in mail.outbox[0].body
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not Invitation.objects.filter(token_hash=token).exists()
    assert token not in str(list(Invitation.objects.values()))


def test_a_valid_link_creates_an_enterprise_user_of_that_company_and_logs_in(world, client):
    _invitation, token = invite(world, display_name="王会计")
    assert client.get(f"/portal/invite/{token}/").status_code == 200
    response = _accept(client, token)
    assert response.status_code == 302 and response["Location"] == "/portal/"
    user = get_user_model().objects.get(username="new.user@company-x.example")
    assert user.enterprise == world.company_x and user.branch is None
    assert user.groups.filter(name="enterprise_user").exists()
    assert user.display_name == "王会计"
    assert client.get("/portal/").status_code == 200
    assert Invitation.objects.get().accepted_user == user


def test_a_reused_link_is_refused_with_a_clear_page(world, client):
    _invitation, token = invite(world)
    _accept(client, token)
    other = Client()
    response = other.get(f"/portal/invite/{token}/")
    assert response.status_code == 410
    assert "已被使用" in response.content.decode()
    response = _accept(other, token, "Another-pass-2026")
    assert response.status_code == 410
    assert get_user_model().objects.filter(enterprise=world.company_x).count() == 2  # customer_x + the new one


def test_an_expired_link_is_refused_with_a_clear_page(world, client):
    with freeze_time(timezone.now() - dt.timedelta(hours=72, minutes=1)):
        _invitation, token = invite(world)
    response = client.get(f"/portal/invite/{token}/")
    assert response.status_code == 410
    assert "已过期" in response.content.decode()
    assert _accept(client, token).status_code == 410
    assert not get_user_model().objects.filter(username="new.user@company-x.example").exists()


def test_a_link_just_inside_72_hours_still_works(world, client):
    with freeze_time(timezone.now() - dt.timedelta(hours=71, minutes=59)):
        _invitation, token = invite(world)
    assert _accept(client, token).status_code == 302


@pytest.mark.parametrize(
    "tamper", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: t[:-4], lambda t: "x" + t]
)
def test_a_tampered_link_is_refused_with_a_clear_page(world, client, tamper):
    _invitation, token = invite(world)
    response = client.get(f"/portal/invite/{tamper(token)}/")
    assert response.status_code == 404
    assert "链接无效" in response.content.decode()
    assert _accept(client, tamper(token)).status_code == 404
    assert not get_user_model().objects.filter(username="new.user@company-x.example").exists()


def test_a_newer_invitation_revokes_the_older_link(world, client):
    _old, old_token = invite(world)
    _new, new_token = invite(world)
    assert client.get(f"/portal/invite/{old_token}/").status_code == 404
    assert client.get(f"/portal/invite/{new_token}/").status_code == 200


def test_a_weak_password_is_refused_and_the_link_stays_usable(world, client):
    _invitation, token = invite(world)
    response = _accept(client, token, "12345678")
    assert response.status_code == 200
    assert not get_user_model().objects.filter(username="new.user@company-x.example").exists()
    assert _accept(client, token).status_code == 302


def test_who_may_invite(world):
    # Account manager of the company's branch: yes. Of another branch: no.
    invitation_create(by=world.am_a, enterprise=world.company_x, email="a@x.example")
    with pytest.raises(CaseError):
        invitation_create(by=world.am_b, enterprise=world.company_x, email="b@x.example")
    # An enterprise admin invites colleagues of the same company only, and not as admins.
    member(world.customer_x, admin=True)
    invitation_create(by=world.customer_x, enterprise=world.company_x, email="c@x.example")
    with pytest.raises(CaseError):
        invitation_create(by=world.customer_x, enterprise=world.company_y, email="d@x.example")
    with pytest.raises(CaseError):
        invitation_create(by=world.customer_x, enterprise=world.company_x, email="e@x.example", as_admin=True)
    # A plain enterprise user may not invite.
    with pytest.raises(CaseError):
        invitation_create(by=world.customer_y, enterprise=world.company_y, email="f@x.example")
    # An address that already has an account is refused.
    with pytest.raises(CaseError):
        invitation_create(by=world.am_a, enterprise=world.company_x, email="CUSTOMER_X@test.example")


def test_enterprise_admin_invites_from_the_team_page(world, client, django_capture_on_commit_callbacks):
    member(world.customer_x, admin=True)
    client.force_login(world.customer_x)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/portal/team/invite/", {"email": "colleague@x.example"})
    assert Invitation.objects.get().enterprise == world.company_x
    assert len(mail.outbox) == 1
    # A non-admin sees the team but cannot invite.
    client.force_login(world.customer_y)
    assert client.get("/portal/team/").status_code == 200
    client.post("/portal/team/invite/", {"email": "colleague2@y.example"})
    assert Invitation.objects.count() == 1


def test_an_admin_invitation_makes_an_enterprise_admin(world, client):
    _invitation, token = invite(world, as_admin=True)
    _accept(client, token)
    assert EnterpriseMember.objects.get(user__username="new.user@company-x.example").is_admin


def test_removing_a_user_deactivates_and_ends_their_sessions(world):
    colleague_client, other_client = Client(), Client()
    assert colleague_client.login(username="customer_x", password=PASSWORD)
    assert other_client.login(username="customer_y", password=PASSWORD)
    assert colleague_client.get("/portal/").status_code == 200
    sessions_before = Session.objects.count()
    member_remove(by=world.am_a, member=member(world.customer_x))
    world.customer_x.refresh_from_db()
    assert world.customer_x.is_active is False
    assert get_user_model().objects.filter(pk=world.customer_x.pk).exists()  # never deleted
    assert Session.objects.count() == sessions_before - 1
    response = colleague_client.get("/portal/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert other_client.get("/portal/").status_code == 200  # someone else's session is untouched
    assert EnterpriseMember.objects.get(user=world.customer_x).removed_by == world.am_a


def test_who_may_remove(world):
    admin_x = member(world.customer_x, admin=True)
    colleague = get_user_model().objects.create_user(username="colleague", enterprise=world.company_x)
    with pytest.raises(CaseError):
        member_remove(by=world.am_b, member=member(colleague))  # another branch
    with pytest.raises(CaseError):
        member_remove(by=world.customer_y, member=member(colleague))  # another company, not admin
    with pytest.raises(CaseError):
        member_remove(by=world.customer_x, member=admin_x)  # not oneself
    member_remove(by=world.customer_x, member=member(colleague))
    colleague.refresh_from_db()
    assert not colleague.is_active


def test_the_team_page_removal_is_scoped(world, client):
    member(world.customer_y, admin=True)
    target = member(world.customer_x)
    client.force_login(world.customer_y)
    assert client.post(f"/portal/team/{target.public_id}/remove/").status_code == 404
    world.customer_x.refresh_from_db()
    assert world.customer_x.is_active


def test_staff_invite_and_remove_through_the_enterprise_page(world, client):
    client.force_login(world.am_a)
    page = client.get(f"/portal/staff/enterprises/{world.company_x.public_id}/")
    assert page.status_code == 200 and "customer_x" in page.content.decode()
    client.post(f"/portal/staff/enterprises/{world.company_x.public_id}/invite/", {"email": "cfo@x.example"})
    assert Invitation.objects.filter(email="cfo@x.example", enterprise=world.company_x).exists()
    target = member(world.customer_x)
    client.post(f"/portal/staff/members/{target.public_id}/remove/")
    world.customer_x.refresh_from_db()
    assert not world.customer_x.is_active
