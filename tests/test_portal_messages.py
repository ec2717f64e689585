"""The case thread: both sides write, each side is mailed, nobody outside scope reads or writes."""

from __future__ import annotations

import pytest
from django.core import mail

from onboarding.services import CaseError
from onboarding.states import State
from portal.models import CaseMessage
from portal.services import message_post


@pytest.fixture
def case(world):
    return world.case(State.BRANCH_INTAKE)


def test_customer_writes_and_the_account_manager_is_mailed(world, case, client, django_capture_on_commit_callbacks):
    client.force_login(world.customer_x)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/portal/cases/{case.public_id}/messages/", {"body": "营业执照复印件明天送到"})
    assert response.status_code == 302
    message = CaseMessage.objects.get()
    assert (message.case, message.author, message.from_customer) == (case, world.customer_x, True)
    assert [m.to for m in mail.outbox] == [[world.am_a.email]]
    assert "营业执照复印件明天送到" in mail.outbox[0].body
    assert f"/cases/{case.public_id}/" in mail.outbox[0].body


def test_bank_writes_on_the_staff_page_and_the_customer_is_mailed(
    world, case, client, django_capture_on_commit_callbacks
):
    client.force_login(world.am_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/portal/staff/cases/{case.public_id}/messages/", {"body": "请补充授权委托书"})
    assert CaseMessage.objects.get().from_customer is False
    (sent,) = mail.outbox
    assert set(sent.to) == {world.customer_x.email, world.company_x.contact_email}
    assert f"/portal/cases/{case.public_id}/" in sent.body
    # Both sides see the thread.
    assert "请补充授权委托书" in client.get(f"/cases/{case.public_id}/").content.decode()
    client.force_login(world.customer_x)
    assert "请补充授权委托书" in client.get(f"/portal/cases/{case.public_id}/").content.decode()


def test_reviewer_who_wrote_hears_the_reply(world, case, django_capture_on_commit_callbacks):
    message_post(case=case, user=world.supervisor, body="请确认模块")
    with django_capture_on_commit_callbacks(execute=True):
        message_post(case=case, user=world.customer_x, body="已确认")
    assert set(mail.outbox[-1].to) == {world.am_a.email, world.supervisor.email}


def test_nobody_out_of_scope_reads_or_writes(world, case, client):
    message_post(case=case, user=world.customer_x, body="机密内容甲")
    for outsider in (world.customer_y, world.am_b, world.supervisor_other):
        with pytest.raises(CaseError):
            message_post(case=case, user=outsider, body="x")
    client.force_login(world.customer_y)
    assert client.get(f"/portal/cases/{case.public_id}/").status_code == 404
    assert client.post(f"/portal/cases/{case.public_id}/messages/", {"body": "x"}).status_code == 404
    client.force_login(world.am_b)
    assert client.get(f"/cases/{case.public_id}/").status_code == 404
    assert client.post(f"/portal/staff/cases/{case.public_id}/messages/", {"body": "x"}).status_code == 404
    client.force_login(world.customer_x)
    assert client.post(f"/portal/staff/cases/{case.public_id}/messages/", {"body": "x"}).status_code == 403
    assert CaseMessage.objects.count() == 1


def test_the_auditor_reads_but_does_not_write(world, case, client):
    message_post(case=case, user=world.customer_x, body="审计可见")
    with pytest.raises(CaseError):
        message_post(case=case, user=world.auditor, body="x")
    client.force_login(world.auditor)
    page = client.get(f"/cases/{case.public_id}/").content.decode()
    assert "审计可见" in page and "staff/cases" not in page


def test_empty_message_is_refused(world, case):
    with pytest.raises(CaseError):
        message_post(case=case, user=world.customer_x, body="   ")


def test_messages_are_append_only(world, case):
    message = message_post(case=case, user=world.customer_x, body="第一条")
    with pytest.raises(PermissionError):
        message.save()
    with pytest.raises(PermissionError):
        message.delete()
    with pytest.raises(PermissionError):
        CaseMessage.objects.filter(pk=message.pk).update(body="改")
    with pytest.raises(PermissionError):
        CaseMessage.objects.all().delete()


def test_a_rolled_back_message_mails_nobody(world, case, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                message_post(case=case, user=world.customer_x, body="回滚")
                raise RuntimeError
        except RuntimeError:
            pass
    assert callbacks == [] and mail.outbox == []
