"""Admin changes to companies, users' roles, role groups and authenticators leave an audit
trace (who, what, old → new) that an auditor sees on the audit log page."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessEvent
from branches.roles import Role
from tests.factories import TOTP_SECRET


@pytest.fixture
def root(world, login):
    admin = get_user_model().objects.create_superuser("root", "root@bank.example", "x-Strong-pass-1")
    return login(Client(), admin), admin


def _change_form_data(client: Client, url: str) -> dict:
    """The change form's current values, as a browser would post them back."""
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        if isinstance(field, forms.SplitDateTimeField):
            local = timezone.localtime(value)
            data[f"{name}_0"], data[f"{name}_1"] = local.date().isoformat(), local.time().strftime("%H:%M:%S")
        elif isinstance(value, list | tuple | QuerySet):
            data[name] = [getattr(v, "pk", v) for v in value]
        else:
            data[name] = getattr(value, "pk", value)
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management.initial.get(name, 0) or 0
        data[f"{management.prefix}-INITIAL_FORMS"] = formset.formset.initial_form_count()
        data[f"{management.prefix}-TOTAL_FORMS"] = formset.formset.initial_form_count()
        for f in formset.formset.initial_forms:
            for name in f.fields:
                value = f.initial.get(name)
                if value is not None:
                    data[f"{f.prefix}-{name}"] = getattr(value, "pk", value)
            data[f"{f.prefix}-{f._meta.model._meta.pk.name}"] = f.instance.pk
    return data


def _last_admin_event() -> AccessEvent:
    return AccessEvent.objects.filter(kind=AccessEvent.Kind.ADMIN_CHANGE).latest("pk")


def test_company_data_cannot_be_changed_in_the_admin(world, root):
    """Company data changes on the case pages, where each save is a version; the admin only reads it."""
    client, _admin = root
    company = world.company_x
    url = reverse("admin:companies_enterprise_change", args=[company.pk])
    assert client.get(url).status_code == 200  # the page shows the data, read-only
    response = client.post(url, {"legal_rep_name": "新法人"})
    assert response.status_code == 403
    company.refresh_from_db()
    assert company.legal_rep_name != "新法人"


def test_user_roles_change_is_recorded(world, root):
    client, _admin = root
    user = world.am_a
    url = reverse("admin:accounts_user_change", args=[user.pk])
    data = _change_form_data(client, url)
    auditor_group = Group.objects.get(name=Role.AUDITOR)
    data["groups"] = [*data.get("groups", []), auditor_group.pk]
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = _last_admin_event()
    old, new = event.data["changes"]["groups"]
    assert str(auditor_group) not in old and str(auditor_group) in new
    assert "password" not in event.data["changes"]


def test_role_group_change_and_authenticator_deletion_are_recorded(world, root):
    client, _admin = root
    group = Group.objects.get(name=Role.AUDITOR)
    url = reverse("admin:auth_group_change", args=[group.pk])
    data = _change_form_data(client, url)
    data["name"] = group.name  # unchanged name, new permission set
    from django.contrib.auth.models import Permission

    perm = Permission.objects.get(codename="view_enterprise")
    data["permissions"] = [perm.pk]
    assert client.post(url, data).status_code == 302
    assert "permissions" in _last_admin_event().data["changes"]

    totp = Authenticator.objects.get(user=world.am_b, type=Authenticator.Type.TOTP)
    response = client.post(reverse("admin:mfa_authenticator_delete", args=[totp.pk]), {"post": "yes"})
    assert response.status_code == 302
    event = _last_admin_event()
    assert event.data["action"] == "delete" and event.data["model"] == "mfa.Authenticator"
    assert event.data["object_id"] == str(totp.pk)
    assert TOTP_SECRET not in str(event.data) + event.reason
    assert not Authenticator.objects.filter(pk=totp.pk).exists()


def test_admin_changes_show_on_the_audit_log_page(world, root, login):
    client, _admin = root
    url = reverse("admin:accounts_user_change", args=[world.am_a.pk])
    data = _change_form_data(client, url)
    data["display_name"] = "审计可见"
    assert client.post(url, data).status_code == 302
    auditor = login(Client(), world.auditor)
    page = auditor.get(reverse("audit_log")).content.decode()
    assert "后台修改" in page and "审计可见" in page
