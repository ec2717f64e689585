"""Every webhook event of the issue fires at its real moment: a subscribed endpoint gets an
outbox delivery of that type, an endpoint subscribed to everything else does not."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from freezegun import freeze_time

from documents import services as documents
from documents.models import DocumentKind
from documents.samples import sample_pdf
from onboarding import services as case_services
from onboarding.states import State
from reminders.services import reminders_sweep
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

TYPES = [t for t in WebhookEvent.values if t != WebhookEvent.TEST]


def _endpoint(world: Any, events: list[str]) -> WebhookEndpoint:
    return services.endpoint_add(url="http://127.0.0.1:9/hook", events=events, enterprise=world.company_x)


def _created(world: Any) -> None:
    world.case(State.DRAFT)


def _stage_entered(world: Any) -> None:
    world.case(State.BRANCH_INTAKE)


def _document_requested(world: Any) -> None:
    world.case(State.BRANCH_INTAKE, documents=False)


def _document_rejected(world: Any) -> None:
    case = world.case(State.BRANCH_INTAKE, documents=False)
    version = documents.document_upload(
        case=case,
        user=world.customer_x,
        kind=DocumentKind.BUSINESS_LICENCE,
        upload=io.BytesIO(sample_pdf(DocumentKind.BUSINESS_LICENCE)),
        name="licence.pdf",
    )
    documents.document_review(version=version, user=world.am_a, accept=False, reason="未加盖公章")


def _reminder(world: Any) -> None:
    world.case(State.BRANCH_INTAKE)
    with freeze_time(timezone.now() + dt.timedelta(days=30)):
        assert reminders_sweep().claimed


def _live(world: Any) -> None:
    world.case(State.LIVE)


MOMENTS: dict[str, Callable[[Any], None]] = {
    WebhookEvent.CASE_CREATED: _created,
    WebhookEvent.STAGE_ENTERED: _stage_entered,
    WebhookEvent.DOCUMENT_REQUESTED: _document_requested,
    WebhookEvent.DOCUMENT_REJECTED: _document_rejected,
    WebhookEvent.REMINDER: _reminder,
    WebhookEvent.CASE_LIVE: _live,
}


def test_every_event_of_the_issue_has_a_moment():
    assert set(MOMENTS) == set(TYPES)


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
@pytest.mark.parametrize("kind", TYPES)
def test_a_subscribed_endpoint_gets_the_event_and_an_unsubscribed_one_does_not(world, kind):
    subscribed = _endpoint(world, [kind])
    others = _endpoint(world, [t for t in TYPES if t != kind])
    MOMENTS[kind](world)
    got = WebhookDelivery.objects.filter(endpoint=subscribed)
    assert got.exists() and set(got.values_list("event_type", flat=True)) == {kind}
    assert not WebhookDelivery.objects.filter(endpoint=others, event_type=kind).exists()
    assert all(d.payload["type"] == kind and d.payload["data"]["case_id"] for d in got)


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
def test_document_requested_names_what_is_owed_when_a_stage_with_documents_is_entered(world):
    endpoint = _endpoint(world, [WebhookEvent.DOCUMENT_REQUESTED])
    case = world.case(State.JOINT_TESTING, documents=False)
    by_stage = {
        d.payload["data"]["to_state"]: d.payload["data"]["documents"]
        for d in WebhookDelivery.objects.filter(endpoint=endpoint)
    }
    assert set(by_stage) == {State.BRANCH_INTAKE, State.JOINT_TESTING}
    assert {d["kind"] for d in by_stage[State.BRANCH_INTAKE]} >= {
        DocumentKind.APPLICATION_FORM,
        DocumentKind.BUSINESS_LICENCE,
    }
    assert by_stage[State.JOINT_TESTING] == [
        {"kind": DocumentKind.TEST_REPORT, "label": str(DocumentKind.TEST_REPORT.label), "status": "missing"}
    ]
    before = WebhookDelivery.objects.filter(endpoint=endpoint).count()
    case = case_services.case_transition(case=case, user=world.am_a, name="suspend", reason="客户系统升级")
    case_services.case_transition(case=case, user=world.am_a, name="resume")
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == before  # asked once, not again on resume


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
def test_no_document_requested_when_nothing_is_owed(world):
    endpoint = _endpoint(world, [WebhookEvent.DOCUMENT_REQUESTED])
    case = world.case(State.HEAD_OFFICE_APPROVAL)  # intake documents all accepted
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1  # at submit, nothing uploaded yet
    case_services.case_transition(case=case, user=world.supervisor, name="return_to_intake", reason="补充说明")
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
def test_one_event_of_two_types_sends_one_message_of_each(world):
    endpoint = _endpoint(world, [WebhookEvent.STAGE_ENTERED, WebhookEvent.CASE_LIVE])
    world.case(State.LIVE)
    go_live = WebhookDelivery.objects.filter(endpoint=endpoint, event__name="go_live")
    assert sorted(go_live.values_list("event_type", flat=True)) == sorted(
        [WebhookEvent.STAGE_ENTERED, WebhookEvent.CASE_LIVE]
    )
    assert len({d.msg_id for d in go_live}) == 2


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
def test_a_reminder_is_announced_once_however_often_the_sweep_runs(world):
    endpoint = _endpoint(world, [WebhookEvent.REMINDER])
    world.case(State.BRANCH_INTAKE)
    later = timezone.now() + dt.timedelta(days=30)
    for _ in range(3):
        with freeze_time(later):
            reminders_sweep()
    reminders = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert sorted(d.payload["data"]["reminder"]["level"] for d in reminders) == [1, 2, 3]
    assert {d.payload["data"]["reminder"]["stage"] for d in reminders} == {State.BRANCH_INTAKE}


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
def test_the_sweeps_webhook_deliveries_cost_the_same_queries_for_more_cases(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from onboarding.models import StageVisit

    endpoint = _endpoint(world, [WebhookEvent.REMINDER])
    later = timezone.now() + dt.timedelta(days=30)

    def measure(n: int) -> int:
        for _ in range(n):
            world.case(State.BRANCH_INTAKE)
        with freeze_time(later), CaptureQueriesContext(connection) as ctx:
            assert len(reminders_sweep().claimed) == 3 * n
        return len(ctx.captured_queries)

    from workcalendar import workcal

    with freeze_time(later):  # read once and then shared from the cache: warm it, measure the sweep
        workcal.calendar()
    few = measure(2)
    StageVisit.objects.filter(left_at__isnull=True).update(left_at=later)  # close them: the next batch is alone
    assert measure(6) == few
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 3 * 8
