"""One door for every change: lock, the version the user saw, one event, a bumped version; one outbox."""

from __future__ import annotations

import io
import re

import pytest
from django.core import mail
from django.core.management import call_command
from kombu.exceptions import OperationalError

from counter import services as counter
from documents import services as documents
from documents.samples import sample_pdf
from notices import outbox
from notices.models import Notification, OutboxEmail
from onboarding import events, rules, services
from onboarding.events import EventName
from onboarding.journey import OnboardingJourney
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.states import State
from portal import services as portal
from tests.factories import fill_assessment, operator_people


def fresh(case: OnboardingCase) -> OnboardingCase:
    return OnboardingCase.objects.get(pk=case.pk)


def edit_post(case: OnboardingCase, client, **changes: str) -> dict[str, str]:
    """The edit page as a browser would post it back: every rendered field with its value."""
    html = client.get(f"/cases/{case.public_id}/edit/").content.decode()
    data: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or ('type="checkbox"' in tag and "checked" not in tag):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        data[name.group(1)] = value.group(1) if value else ""
    for select in re.findall(r'<select name="([^"]+)".*?</select>', html, re.S):
        block = re.search(rf'<select name="{select}".*?</select>', html, re.S).group(0)  # type: ignore[union-attr]
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', block)
        data[select] = chosen.group(1) if chosen else ""
    for name, body in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        data[name] = body.strip()
    data["modules"] = list(case.modules)  # type: ignore[assignment]
    data.update(changes)
    return data


# --- the stale page -----------------------------------------------------------------------------


def test_an_edit_bumps_the_version_and_a_second_save_from_the_same_page_is_refused(world, client, login) -> None:
    case = world.case(State.BRANCH_INTAKE)
    client = login(client, world.am_a)
    first = edit_post(case, client, erp_system="用友U8")
    second = dict(first, erp_system="金蝶K3")
    before = fresh(case).version

    assert client.post(f"/cases/{case.public_id}/edit/", first).status_code == 302
    assert fresh(case).version == before + 1
    page = client.post(f"/cases/{case.public_id}/edit/", second, follow=True).content.decode()
    assert "案件已被他人更新" in page
    assert "现在保存的是“用友U8”,您填写的是“金蝶K3”" in page  # the current value, beside what was typed
    assert fresh(case).erp_system == "用友U8"  # the first save stands; nothing silently overwritten
    assert CaseEvent.objects.filter(case=case, name=EventName.CASE_EDITED).count() == 1


def test_a_transition_posted_with_the_pre_edit_version_is_refused(world, client, login) -> None:
    case = world.case(State.BRANCH_INTAKE)
    seen = fresh(case).version
    services.case_update(
        case=case,
        user=world.am_a,
        enterprise_data={},
        accounts=[
            {"account_number": a.account_number, "account_name": a.account_name} for a in case.enterprise.accounts.all()
        ],
        modules=list(case.modules),
        fields={"erp_system": "SAP"},
        expected_version=seen,
    )
    client = login(client, world.am_a)
    page = client.post(
        f"/cases/{case.public_id}/transition/submit_for_approval/", {"version": seen, "reason": ""}, follow=True
    ).content.decode()
    assert "案件已被他人更新" in page
    assert fresh(case).state == State.BRANCH_INTAKE


# --- every write: one event, one version ----------------------------------------------------------


def _writes(world):
    """(state, write) pairs: each write is a service call that changes the case."""

    def upload(case):
        documents.document_upload(
            case=case, user=world.customer_x, kind="business_licence", upload=io.BytesIO(sample_pdf("x")), name="l.pdf"
        )

    def package(case):
        services.test_package_record(
            case=case,
            user=world.tech,
            test_endpoint="https://t.example",
            test_accounts="1",
            expected_version=case.version,
        )

    def result(case):
        services.test_results_record(
            case=case,
            user=world.customer_x,
            outcomes=[
                services.TestOutcome("account_query", "balance", True, "流水1"),
                services.TestOutcome("account_query", "statement", False, notes="字段缺失"),
            ],
            expected_version=case.version,
        )

    def operator(case):
        name, idn, role = operator_people(case.pk)[0]
        counter.operator_add(
            case=case, user=world.maker, name=name, id_number=idn, role=role, expected_version=case.version
        )

    def message(case):
        portal.message_post(case=case, user=world.customer_x, body="请问测试环境何时开放?")

    return [
        (State.BRANCH_INTAKE, upload),
        (State.TEST_PACKAGE_ISSUANCE, package),
        (State.JOINT_TESTING, result),
        (State.UKEY_ISSUANCE, operator),
        (State.BRANCH_INTAKE, message),
    ]


@pytest.mark.parametrize("index", range(5))
def test_every_write_records_one_event_and_bumps_the_version(world, index) -> None:
    state, write = _writes(world)[index]
    case = world.case(state, documents=False)
    version, count = case.version, CaseEvent.objects.filter(case=case).count()
    write(case)
    assert fresh(case).version == version + 1
    assert CaseEvent.objects.filter(case=case).count() == count + 1


def test_a_write_from_a_stale_page_is_refused_and_leaves_nothing(world) -> None:
    case = world.case(State.JOINT_TESTING)
    stale = case.version
    portal.message_post(case=case, user=world.customer_x, body="已开始联调")  # moves the version on
    rows = case.test_results.count()
    with pytest.raises(services.CaseConflict) as refused:
        services.test_result_record(
            case=case, user=world.customer_x, module="account_query", test_case="balance", passed=True,
            evidence="流水1", expected_version=stale,
        )  # fmt: skip
    assert refused.value.current is not None and refused.value.current.version == stale + 1
    assert case.test_results.count() == rows


def test_the_door_refuses_a_write_that_records_no_event(world) -> None:
    case = world.case()
    with (
        pytest.raises(RuntimeError, match="exactly one event"),
        services.case_write(case=case, user=world.am_a, seen_version=None),
    ):
        pass
    assert fresh(case).version == case.version


# --- the workflow in one place ----------------------------------------------------------------------


def test_every_transition_has_an_event_name_and_every_event_written_is_in_the_vocabulary(world) -> None:
    transitions = {name for name, member in vars(OnboardingJourney).items() if hasattr(member, "_django_fsm")}
    assert transitions == set(events.TRANSITION_EVENTS)
    world.case(State.LIVE)
    world.case(State.SUSPENDED)
    written = set(CaseEvent.objects.values_list("name", flat=True))
    assert written <= set(EventName.values)
    for name in written:
        assert CaseEvent(name=name).label == str(EventName(name).label)


def test_guards_run_once_when_a_transition_goes_through(world, monkeypatch) -> None:
    case = world.case(State.BRANCH_INTAKE)
    fill_assessment(case, world.am_a)
    case = fresh(case)
    calls = []
    original = rules.GUARDS["intake_complete"].func
    monkeypatch.setattr(rules.GUARDS["intake_complete"], "func", lambda c: calls.append(1) or original(c))
    services.case_transition(case=case, user=world.am_a, name="submit_for_approval", expected_version=case.version)
    assert len(calls) == 1


def test_describe_workflow_lists_every_transition_with_its_composed_guards(capsys) -> None:
    call_command("describe_workflow")
    out = capsys.readouterr().out
    for name in events.TRANSITION_EVENTS:
        assert f"\n{name}: " in f"\n{out}"
    assert "documents.checklist.intake_documents_accepted" in out  # added by documents
    assert "counter.rules.counter_problems" in out  # added by the counter
    assert "not the person who submitted it" in out


# --- the one outbox -------------------------------------------------------------------------------------


def test_a_transition_tells_the_next_holder_in_app_and_through_the_outbox(world, django_capture_on_commit_callbacks):
    case = world.case(State.BRANCH_INTAKE)
    fill_assessment(case, world.am_a)
    case = fresh(case)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_transition(case=case, user=world.am_a, name="submit_for_approval", expected_version=case.version)
    event = CaseEvent.objects.get(case=case, name="submit_for_approval")
    assert Notification.objects.filter(case=case, kind="handoff", recipient=world.supervisor).exists()
    assert not Notification.objects.filter(case=case, kind="handoff", recipient=world.supervisor_other).exists()
    row = OutboxEmail.objects.get(key=f"event:{event.pk}")
    assert row.to == [world.supervisor.email] and row.sent_at is not None
    assert any(case.reference in m.subject for m in mail.outbox)


def test_broker_down_a_message_is_saved_its_notice_waits_in_the_outbox_and_goes_out_later(
    world, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from delivery.channels import send_rows

    case = world.case(State.JOINT_TESTING)
    mail.outbox.clear()

    def down(*args, **kwargs):
        raise OperationalError("broker unreachable")

    monkeypatch.setattr(send_rows, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        message = portal.message_post(case=case, user=world.customer_x, body="测试报告已上传")
    row = OutboxEmail.objects.get(key=f"message:{message.pk}")
    assert row.sent_at is None and not mail.outbox
    assert Notification.objects.filter(case=case, kind="message", recipient=world.am_a).exists()
    monkeypatch.undo()
    assert outbox.outbox_send(ids=[row.pk]) == 1
    assert [m.to for m in mail.outbox] == [[world.am_a.email]]
    assert outbox.outbox_send(ids=[row.pk]) == 0  # a redelivered task sends nothing twice


def test_an_invitation_token_lives_in_the_outbox_only_until_its_mail_is_sent(world, django_capture_on_commit_callbacks):
    from tests.portal_helpers import invite

    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = invite(world)
    row = OutboxEmail.objects.get(key=f"invitation:{invitation.pk}")
    assert row.sent_at is not None and "secret" not in row.payload
    assert token in mail.outbox[-1].body
