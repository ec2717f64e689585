"""Forms that create things carry a one-time token: the same post sent twice creates one row.

A browser that got no answer (a slow request, a proxy's timeout) posts the form again; the test
takes the token from the page as the browser has it and posts the very same form twice.
"""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from config.models import FormSubmission
from config.once import new_token
from documents.models import DocumentVersion
from documents.samples import sample_png
from notices.models import OutboxEmail
from onboarding.models import OnboardingCase
from onboarding.states import State
from portal.models import CaseMessage
from tests.test_portal_request import form_data

TOKEN = re.compile(r'name="form_token" value="([0-9a-f]{32})"')


def token_on(page: bytes) -> str:
    found = TOKEN.findall(page.decode())
    assert found, "the form carries no one-time token"
    return found[0]


def test_a_portal_message_posted_twice_is_saved_once_and_both_answers_match(world, client):
    case = world.case(State.JOINT_TESTING)
    client.force_login(world.customer_x)
    page = client.get(reverse("portal:case_detail", args=[case.public_id]))
    form = {"body": "测试报告已上传,请查收", "form_token": token_on(page.content)}
    url = reverse("portal:case_message", args=[case.public_id])
    first = client.post(url, form)
    second = client.post(url, form)  # the browser's retry after a timeout
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    message = CaseMessage.objects.get(case=case)
    assert OutboxEmail.objects.filter(key=f"message:{message.pk}").count() == 1
    shown = [str(m) for m in client.get(second["Location"]).context["messages"]]
    assert "此表单已提交过,未重复保存" in shown
    # The next page carries a new token: the next message is a new one.
    page = client.get(reverse("portal:case_detail", args=[case.public_id]))
    assert token_on(page.content) != form["form_token"]
    client.post(url, {"body": "还有一个问题", "form_token": token_on(page.content)})
    assert CaseMessage.objects.filter(case=case).count() == 2


def test_a_staff_message_posted_twice_is_saved_once(world, client):
    case = world.case(State.JOINT_TESTING)
    client.force_login(world.am_a)
    url = reverse("portal:staff_case_message", args=[case.public_id])
    form = {"body": "请补充授权书", "form_token": new_token()}
    assert client.post(url, form).status_code == client.post(url, form).status_code == 302
    assert CaseMessage.objects.filter(case=case).count() == 1


def test_the_same_token_with_another_body_is_another_post(world, client):
    """Two tabs of one page served from the page cache carry one token: two different messages."""
    case = world.case(State.JOINT_TESTING)
    client.force_login(world.customer_x)
    url = reverse("portal:case_message", args=[case.public_id])
    token = new_token()
    client.post(url, {"body": "第一条", "form_token": token})
    client.post(url, {"body": "第二条", "form_token": token})
    assert sorted(CaseMessage.objects.filter(case=case).values_list("body", flat=True)) == ["第一条", "第二条"]


def test_a_refused_post_frees_its_token(world, client):
    case = world.case(State.JOINT_TESTING)
    client.force_login(world.customer_x)
    url = reverse("portal:case_message", args=[case.public_id])
    token = new_token()
    client.post(url, {"body": "", "form_token": token})  # refused: an empty message
    assert not CaseMessage.objects.exists() and not FormSubmission.objects.exists()
    client.post(url, {"body": "", "form_token": token})
    assert not FormSubmission.objects.exists()


def test_an_upload_posted_twice_is_one_version(world, client):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    client.force_login(world.customer_x)
    url = reverse("document_upload", args=[case.public_id, "legal_rep_id"])
    token = new_token()
    answers = [
        client.post(
            url, {"file": SimpleUploadedFile("身份证.png", sample_png()), "next": "/portal/", "form_token": token}
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [302, 302] and answers[0]["Location"] == answers[1]["Location"]
    assert DocumentVersion.objects.filter(document__case=case).count() == 1


def test_the_portal_request_posted_twice_is_one_case(world, client):
    client.force_login(world.customer_x)
    page = client.get(reverse("portal:case_new"))
    data = {**form_data(world), "form_token": token_on(page.content)}
    first = client.post(reverse("portal:case_new"), data)
    second = client.post(reverse("portal:case_new"), data)
    case = OnboardingCase.objects.get(enterprise=world.company_x)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/portal/cases/{case.public_id}/"


def test_every_create_form_carries_a_token(world, client, login):
    case = world.case(State.JOINT_TESTING)
    login(client, world.am_a)
    assert TOKEN.search(client.get(reverse("case_new")).content.decode())
    customer = login(type(client)(), world.customer_x, mfa=False)
    for url in (reverse("portal:case_new"), reverse("portal:case_detail", args=[case.public_id])):
        assert TOKEN.search(customer.get(url).content.decode()), url


def test_old_claims_are_dropped(world, client, settings):
    import datetime as dt

    from django.utils import timezone

    from config.tasks import form_tokens_expire

    case = world.case(State.JOINT_TESTING)
    client.force_login(world.customer_x)
    client.post(reverse("portal:case_message", args=[case.public_id]), {"body": "早", "form_token": new_token()})
    assert form_tokens_expire() == 0
    FormSubmission.objects.update(created_at=timezone.now() - dt.timedelta(hours=settings.FORM_TOKEN_KEEP_HOURS + 1))
    assert form_tokens_expire() == 1 and not FormSubmission.objects.exists()
