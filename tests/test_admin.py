from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from onboarding.states import State


@pytest.mark.parametrize(
    "model",
    ["branches_branch", "accounts_user", "companies_enterprise", "onboarding_onboardingcase", "onboarding_caseevent"],
)
def test_back_office_admin_pages_load(client, world, model):
    world.case(State.BRANCH_INTAKE)
    admin = get_user_model().objects.create_superuser("root", "root@bank.example", "x-Strong-pass-1")
    client.force_login(admin)
    assert client.get(reverse(f"admin:{model}_changelist")).status_code == 200


def test_admin_cannot_edit_or_delete_cases_or_events(client, world):
    case = world.case(State.BRANCH_INTAKE)
    admin = get_user_model().objects.create_superuser("root", "root@bank.example", "x-Strong-pass-1")
    client.force_login(admin)
    event = case.events.first()
    assert (
        client.post(reverse("admin:onboarding_caseevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    )
    assert (
        client.post(reverse("admin:onboarding_onboardingcase_delete", args=[case.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert case.events.filter(pk=event.pk).exists()
    # The change form is read-only: posting a new state does nothing.
    client.post(reverse("admin:onboarding_onboardingcase_change", args=[case.pk]), {"state": "live"})
    case.refresh_from_db()
    assert case.state == State.BRANCH_INTAKE


def test_event_rows_refuse_update_and_delete_in_the_application(world):
    case = world.case()
    event = case.events.first()
    with pytest.raises(PermissionError):
        event.reason = "changed"
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        case.events.update(reason="x")
    with pytest.raises(PermissionError):
        case.events.all().delete()


def test_admin_shows_outbox_mails_but_neither_saves_nor_deletes_them(client, world):
    from django.db import transaction

    from notices import outbox

    with transaction.atomic():
        row = outbox.email_queue(kind="rendered", key="admin-test", to=["a@example.com"], payload={"subject": "s"})
    admin = get_user_model().objects.create_superuser("root", "root@bank.example", "x-Strong-pass-1")
    client.force_login(admin)
    page = client.get(reverse("admin:notices_outboxemail_change", args=[row.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(reverse("admin:notices_outboxemail_change", args=[row.pk]), {}).status_code == 403
    delete = reverse("admin:notices_outboxemail_delete", args=[row.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.sent_at is None and row.to == ["a@example.com"]
