"""Evidence is protected in the database itself (PostgreSQL), declared next to the models with
django-pgtrigger (`Meta.triggers`, config/evidence.py): raw SQL, a shell session or the admin
cannot rewrite or empty it. Each table from the refused side (UPDATE, DELETE, TRUNCATE) and,
where the application changes a row, from the allowed side (the services still work).

The suite lifts the guards only inside Django's flush, which there deletes every row
(tests/conftest.py): these tests meet the triggers exactly as the application does."""

from __future__ import annotations

import ast
import datetime as dt
import io
from pathlib import Path

import pgtrigger
import pytest
from django.apps import apps
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from accounts.models import User
from analytics.models import CaseForecast, CockpitSnapshot, ForecastModel, VisitFact
from api.models import ApiClient, IdempotencyRecord
from audit import services as audit_services
from audit.models import AccessEvent, BreakGlassGrant, CacheFallbackEntry
from branches.models import Branch
from companies.models import CompanyVersion, Enterprise, SettlementAccount
from config.evidence import NO_TRUNCATE
from counter import services as counter_services
from counter.models import CounterEntry, Operator, UKey
from documents.models import Document, DocumentVersion, WaitingDocument
from links.models import LinkAccount, LinkEvent, LinkOperator, LinkRequest, LiveLink
from notices import outbox
from notices.models import EmailPreference, Notification, OutboxEmail
from onboarding import change_requests, test_gateway
from onboarding import models as onboarding_models
from onboarding.models import (
    Approval,
    CaseEvent,
    ChangeRequest,
    GatewayObservation,
    ModuleTestResult,
    OnboardingCase,
    OpenStage,
    PendingChange,
    ProductionConfig,
    StageCount,
    StageVisit,
    TeamCount,
)
from onboarding.states import State
from portal import services as portal_services
from portal.models import CaseMessage, EnterpriseMember, Invitation
from reminders import services as reminder_services
from reminders.models import Reminder
from transfers import services as transfer_services
from transfers.models import ExportJob, ImportJob
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services import WebhookChannel, delivery_send_again
from wecom.models import DigestPreference, DigestRun, WeComMessage, WeComPost, WeComRobot
from workcalendar.models import CalendarDay, StageSLA

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent

# The tables whose rows are evidence (issue 11, README "Evidence in the database"). A model
# added here without triggers, or a model that refuses deletion in Python without them, fails
# `test_every_evidence_model_has_its_triggers_installed`.
APPEND_ONLY: dict[type[models.Model], str] = {
    CaseEvent: "reason",
    AccessEvent: "reason",
    BreakGlassGrant: "reason",
    CaseMessage: "body",
    Approval: "level",
    ModuleTestResult: "notes",
    GatewayObservation: "result_code",
    CompanyVersion: "name",
    Reminder: "stage",
    Document: "kind",
    LinkEvent: "reason",
}
# Logs whose rows the application only inserts (issue 24): refused from UPDATE and DELETE below.
APPEND_ONLY_LOGS: dict[type[models.Model], str] = {WebhookAttempt: "error", WeComPost: "error"}
CHANGED_BY_RULE = [
    CounterEntry, DocumentVersion, OutboxEmail,
    # issue 24: a change of company data decided once; the SLA record; what was sent to a
    # customer's system; an import's file, who and when.
    ChangeRequest, StageVisit, WebhookDelivery, ImportJob,
    # issue 26: who asked for which export, and the file the worker wrote for it.
    ExportJob,
    # issue 22: a live link's accounts and operators (versions, each ended once); its requests
    # (opened, closed once).
    LinkAccount, LinkOperator, LinkRequest,
]  # fmt: skip
EVIDENCE = [*APPEND_ONLY, *APPEND_ONLY_LOGS, *CHANGED_BY_RULE]
# Every other model of ours, and why its rows are not history the database must keep as written.
NOT_HISTORY: dict[type[models.Model], str] = {
    User: "people and their settings, changed by administrators (who did what is in the access log and events)",
    Branch: "the branch tree, maintained by administrators",
    Notification: "the bell: read marks change, old notices may be cleared; mails sent are OutboxEmail",
    EmailPreference: "a person's current choice",
    Enterprise: "the company as it is now; every saved state is an append-only CompanyVersion",
    SettlementAccount: "the company's current accounts; each saved set is in CompanyVersion",
    StageSLA: "configuration: an administrator's override of a stage's days",
    CalendarDay: "configuration: the working-day calendar",
    OnboardingCase: "the case as it is now (state, holder, version bumps); its history is CaseEvent and StageVisit",
    onboarding_models.TestPackage: "the current test package, recorded again (update_or_create); each recording is a CaseEvent",
    ProductionConfig: "the current production configuration; each change is a CaseEvent",
    Operator: "the company's current operators; their registration is a counter entry",
    UKey: "the UKey register's current state (issued, lost, replaced); each step is a counter entry",
    CacheFallbackEntry: "Django's database cache while Redis is away: expiring counters, deleted by design",
    EnterpriseMember: "who belongs to a company now; invitations and their use are events",
    Invitation: "a one-time token, consumed and expired",
    VisitFact: "a read model computed again from StageVisit and CaseEvent",
    CaseForecast: "a read model, recomputed",
    StageCount: "a count of cases per branch and state, kept by triggers on the cases' table",
    OpenStage: "each open case's current stage (where, who holds it, due when), kept by triggers on the cases' and visits' tables",
    TeamCount: "a count of open stages per branch, state, account manager and holder, kept by triggers on OpenStage",
    PendingChange: "the pending change requests with their cases' branches, kept by triggers on the requests' and the cases' tables",
    WaitingDocument: "the uploaded documents whose latest version is undecided, kept by triggers on the versions' table",
    ForecastModel: "a fitted model, replaced by the next fit",
    CockpitSnapshot: "precomputed cockpit tables, replaced when stale",
    ApiClient: "an API client's current settings and secret (rotated)",
    IdempotencyRecord: "a replay cache of API answers, expiring",
    WebhookEndpoint: "an endpoint's current settings (secret rotated, disabled); changes are audited",
    WeComRobot: "a robot's current settings; posts are WeComPost",
    WeComMessage: "a merge queue: messages folded into one post, which WeComPost records",
    DigestPreference: "a person's current choice",
    DigestRun: "a claim row per user and day (exactly once), not a record of content",
    LiveLink: "the live link as it is now (status, certificate, last activity); its history is LinkEvent and the versioned LinkAccount/LinkOperator rows",
}
PROJECT_APPS = {
    "accounts", "branches", "notices", "companies", "workcalendar", "onboarding", "documents",
    "counter", "reminders", "audit", "portal", "analytics", "api", "webhooks", "demo", "transfers",
    "wecom", "delivery", "casetypes", "links",
}  # fmt: skip


def refused(sql: str, params: list[object] | None = None) -> bool:
    """True when the database refuses the statement with a trigger's exception (inside a
    savepoint, so the test goes on); False when the statement went through."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, params)
    except DatabaseError as exc:
        # A trigger's refusal; or, for TRUNCATE by the app's role (CI runs the suite as one:
        # config/dbroles.py), the privilege it was never granted.
        assert "pgtrigger: Cannot" in str(exc) or (sql.startswith("TRUNCATE") and "permission denied" in str(exc)), exc
        return True
    return False


def allowed(sql: str, params: list[object] | None = None) -> int:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.rowcount


# --- every evidence table is protected, by pgtrigger alone ---------------------------------------


def _evidence_models_declared() -> set[type[models.Model]]:
    return {model for model, trigger in pgtrigger.registered() if trigger.name == NO_TRUNCATE}


def _refuses_delete_in_python(model: type[models.Model]) -> bool:
    queryset = type(model._default_manager.all())
    return model.delete is not models.Model.delete or queryset.delete is not models.QuerySet.delete


def test_every_model_of_ours_is_classified_history_or_not():
    """A new model is either protected (listed above, with its triggers) or listed with the
    reason its rows are not history: nobody adds a table of history and forgets its triggers."""
    ours = {
        model
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS and not model._meta.proxy and model._meta.managed
    }
    assert not set(EVIDENCE) & set(NOT_HISTORY)
    assert ours - set(EVIDENCE) - set(NOT_HISTORY) == set(), "classify these models"
    assert set(NOT_HISTORY) - ours == set()
    assert not _evidence_models_declared() & set(NOT_HISTORY)


def test_every_evidence_model_has_its_triggers_installed(db):
    declared = _evidence_models_declared()
    assert set(EVIDENCE) <= declared
    # A model the application treats as evidence (it refuses deletion) is protected in the database too.
    for model in apps.get_models():
        if model._meta.app_label in PROJECT_APPS and _refuses_delete_in_python(model):
            assert model in declared, f"{model._meta.label} refuses deletion but has no evidence triggers"
    for model in declared:
        operations = set()
        for trigger in model._meta.triggers:  # type: ignore[attr-defined]
            assert trigger.get_installation_status(model) == ("INSTALLED", True), (model, trigger.name)
            operations |= set(str(trigger.operation).split(" OR "))
        # UPDATE (always or by rule), DELETE and TRUNCATE are each covered; an INSERT trigger
        # may add a rule on what goes in (a live link's launch controls, issue 22).
        assert operations - {"INSERT"} == {"UPDATE", "DELETE", "TRUNCATE"}, (model, operations)


def test_only_pgtrigger_triggers_remain_on_the_evidence_tables(db):
    tables = [model._meta.db_table for model in EVIDENCE]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
            "WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY(%s) AND tgname NOT LIKE 'pgtrigger_%%'",
            [tables],
        )
        assert cur.fetchall() == []
        cur.execute(
            "SELECT proname FROM pg_proc WHERE proname IN "
            "('audit_refuse_change', 'evidence_refuse_truncate', 'evidence_status_change_only')"
        )
        assert cur.fetchall() == []


LIFTING = {"ignore", "uninstall", "disable", "prune"}


def test_no_application_code_lifts_the_triggers():
    """`pgtrigger.ignore` would let a code path rewrite evidence: only the test suite's flush uses it."""
    callers = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "tests", "node_modules", "var"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in LIFTING
                and isinstance(node.value, ast.Name)
                and node.value.id == "pgtrigger"
            ) or (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("pgtrigger")
                and LIFTING & {a.name for a in node.names}
            ):
                callers.append(f"{rel}:{node.lineno}")
    assert callers == []


# --- TRUNCATE --------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", EVIDENCE, ids=lambda m: m._meta.db_table)
def test_truncate_is_refused(db, model):
    assert refused(f"TRUNCATE {model._meta.db_table} CASCADE")


@pytest.mark.django_db(transaction=True)
def test_truncating_a_parent_table_cascades_into_a_refusal(world):
    """Committed rows, as in production (and the suite's own flush empties them afterwards)."""
    world.case(State.BRANCH_INTAKE)
    assert refused("TRUNCATE onboarding_onboardingcase CASCADE")
    assert CaseEvent.objects.exists()


# --- append-only tables: a real row of each, refused from UPDATE and DELETE ----------------------


@pytest.fixture
def evidence_rows(world):
    """One row of each append-only table, made by the services that make them in the application."""
    case = world.case(State.UKEY_ISSUANCE)
    audit_services.access_record(kind=AccessEvent.Kind.CASE_READ, actor=world.auditor, case=case)
    other = world.case(State.BRANCH_INTAKE, company=world.company_y)
    audit_services.break_glass_open(
        user=world.am_a, case=other, ground=BreakGlassGrant.Ground.AUDIT, reason="内部审计抽查该案件的资料"
    )
    portal_services.message_post(case=case, user=world.customer_x, body="已提交测试报告")
    visit = other.current_visit
    reminder_services.reminders_sweep(now=visit.due_at + dt.timedelta(days=30))
    world.case(State.LIVE)  # going live creates the live link and its first LinkEvent
    world.case(State.JOINT_TESTING)  # the bank's test gateway saw one of its test transactions
    test_gateway.test_observations_record(
        user=world.tech,
        test_account="111",
        observations=[test_gateway.Observation("EV-1", "account_query", "balance", "0000", timezone.now())],
    )
    rows = {model: model._default_manager.order_by("pk").first() for model in APPEND_ONLY}
    missing = [model._meta.label for model, row in rows.items() if row is None]
    assert missing == []
    return rows


@pytest.mark.parametrize("model", list(APPEND_ONLY), ids=lambda m: m._meta.db_table)
def test_append_only_rows_refuse_update_and_delete(evidence_rows, model):
    row = evidence_rows[model]
    table, column = model._meta.db_table, model._meta.get_field(APPEND_ONLY[model]).column
    assert refused(f"UPDATE {table} SET {column} = {column} || 'x' WHERE id = %s", [row.pk])
    assert refused(f"DELETE FROM {table} WHERE id = %s", [row.pk])
    # The rows are as they were, and new rows still go in (the models' own INSERTs above).
    fresh = model._default_manager.get(pk=row.pk)
    assert getattr(fresh, APPEND_ONLY[model]) == getattr(row, APPEND_ONLY[model])


# --- counter entries: confirmed or cancelled once, while pending ---------------------------------


def _identity_entry(world, case):
    ent = case.enterprise
    return counter_services.identity_check_make(
        case=case,
        user=world.maker,
        person="legal_rep",
        person_name=ent.legal_rep_name,
        id_number=ent.legal_rep_id_number,
    )


def test_a_pending_counter_entry_is_confirmed_once_and_never_rewritten(world):
    case = world.case(State.UKEY_ISSUANCE)
    entry = _identity_entry(world, case)
    # A pending entry cannot be rewritten, nor deleted; only its check columns change.
    assert refused("UPDATE counter_counterentry SET person_name = 'someone else' WHERE id = %s", [entry.pk])
    assert refused("UPDATE counter_counterentry SET status = 'confirmed', notes = 'x' WHERE id = %s", [entry.pk])
    assert refused("DELETE FROM counter_counterentry WHERE id = %s", [entry.pk])
    counter_services.entry_confirm(entry=entry, user=world.checker)  # the allowed change, as the checker
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.CONFIRMED and entry.checker == world.checker
    # Once confirmed, nothing changes any more, not even the status or the check columns.
    assert refused("UPDATE counter_counterentry SET status = 'cancelled' WHERE id = %s", [entry.pk])
    assert refused("UPDATE counter_counterentry SET checked_at = now() WHERE id = %s", [entry.pk])
    assert refused("DELETE FROM counter_counterentry WHERE id = %s", [entry.pk])


def test_a_pending_counter_entry_may_be_cancelled_and_then_stays_cancelled(world):
    case = world.case(State.UKEY_ISSUANCE)
    entry = _identity_entry(world, case)
    counter_services.entry_cancel(entry=entry, user=world.maker, reason="录入有误")
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.CANCELLED
    assert refused("UPDATE counter_counterentry SET status = 'pending' WHERE id = %s", [entry.pk])


# --- document versions: reviewed once -------------------------------------------------------------


def test_a_reviewed_document_version_is_never_rewritten(world):
    case = world.case(State.BRANCH_INTAKE)
    version = DocumentVersion.objects.filter(document__case=case).exclude(decision="").first()
    assert version is not None
    assert refused(
        "UPDATE documents_documentversion SET decision = 'rejected', decision_reason = 'x' WHERE id = %s", [version.pk]
    )
    assert refused("UPDATE documents_documentversion SET sha256 = 'forged' WHERE id = %s", [version.pk])
    assert refused("DELETE FROM documents_documentversion WHERE id = %s", [version.pk])


def test_an_unreviewed_version_may_only_receive_its_review(world):
    from documents import services as document_services
    from documents.samples import sample_pdf

    case = world.case(State.BRANCH_INTAKE, documents=False)
    version = document_services.document_upload(
        case=case, user=world.customer_x, kind="business_licence", upload=io.BytesIO(sample_pdf("rev")), name="l.pdf"
    )
    assert refused("UPDATE documents_documentversion SET original_name = 'other.pdf' WHERE id = %s", [version.pk])
    assert refused("DELETE FROM documents_documentversion WHERE id = %s", [version.pk])
    document_services.document_review(version=version, user=world.am_a, accept=True)  # the allowed change
    version.refresh_from_db()
    assert version.decision == "accepted" and version.reviewed_by == world.am_a
    assert refused("UPDATE documents_documentversion SET decision = '' WHERE id = %s", [version.pk])


# --- the mail outbox: attempts counted, marked sent once ------------------------------------------


def _queued(payload: dict[str, str]) -> OutboxEmail:
    with transaction.atomic():
        row = outbox.email_queue(kind="rendered", key="evidence-test", to=["a@example.com"], payload=payload)
    assert row is not None
    row.refresh_from_db()
    return row


def test_an_outbox_mail_counts_attempts_is_marked_sent_once_and_then_is_final(db, mailoutbox):
    row = _queued({"subject": "重置密码", "secret": "https://example.com/reset/abc"})
    assert row.sent_at is None
    # Who it goes to and what it says are not rewritten while it waits.
    assert refused('UPDATE notices_outboxemail SET "to" = \'["x@evil.example"]\' WHERE id = %s', [row.pk])
    assert refused("UPDATE notices_outboxemail SET payload = '{}' WHERE id = %s", [row.pk])
    assert refused("DELETE FROM notices_outboxemail WHERE id = %s", [row.pk])
    # A failed attempt is counted (outbox.outbox_send on an SMTP error).
    assert allowed("UPDATE notices_outboxemail SET attempts = attempts + 1 WHERE id = %s", [row.pk]) == 1
    # The worker sends it: marked sent, its secret dropped, in one update.
    assert outbox.outbox_send(ids=[row.pk]) == 1
    row.refresh_from_db()
    assert row.sent_at is not None and "secret" not in row.payload and row.attempts == 2
    assert [m.to for m in mailoutbox] == [["a@example.com"]]
    # Sent is final: not unsent (it would go out again), not recounted, not deleted.
    assert refused("UPDATE notices_outboxemail SET sent_at = NULL WHERE id = %s", [row.pk])
    assert refused("UPDATE notices_outboxemail SET attempts = 0 WHERE id = %s", [row.pk])
    assert refused("DELETE FROM notices_outboxemail WHERE id = %s", [row.pk])


def test_saving_an_unsent_mail_unchanged_is_allowed_but_no_other_column_changes(db):
    row = _queued({"subject": "s", "secret": "b"})
    row.save()  # the ORM writes every column with the values it read: nothing changes, nothing refused
    assert refused("UPDATE notices_outboxemail SET kind = 'other' WHERE id = %s", [row.pk])
    assert refused("UPDATE notices_outboxemail SET created_at = created_at - interval '1 year' WHERE id = %s", [row.pk])


# --- issue 24: the other history tables ------------------------------------------------------------


def _rows_refused(table: str, pk: int, *assignments: str) -> list[str]:
    """The assignments the database let through (each tried alone): [] when all were refused."""
    return [a for a in assignments if not refused(f"UPDATE {table} SET {a} WHERE id = %s", [pk])]


@pytest.mark.parametrize("model", list(APPEND_ONLY_LOGS), ids=lambda m: m._meta.db_table)
def test_append_only_logs_refuse_update_and_delete(world, model):
    if model is WebhookAttempt:
        endpoint = WebhookEndpoint.objects.create(
            enterprise=world.company_x, url="https://hooks.example.com/in", events=[WebhookEvent.TEST], secret="s"
        )
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event_type=WebhookEvent.TEST, msg_id="msg_log", payload={}
        )
        row = WebhookAttempt.objects.create(delivery=delivery, status=500, error="HTTP 500")
    else:
        robot = WeComRobot.objects.create(branch=world.branch_a, key_encrypted="x", key_hint="…abcd")
        row = WeComPost.objects.create(robot=robot, http_status=200, errcode=0, error="ok")
    table, column = model._meta.db_table, model._meta.get_field(APPEND_ONLY_LOGS[model]).column
    assert refused(f"UPDATE {table} SET {column} = {column} || 'x' WHERE id = %s", [row.pk])
    assert refused(f"DELETE FROM {table} WHERE id = %s", [row.pk])


def test_a_change_request_is_decided_once_in_one_update_and_never_rewritten(world):
    case = world.case(State.LIVE)
    company = case.company
    request = change_requests.change_request_file(
        case=case,
        user=world.am_a,
        data={"name": "甲公司(更名)", "legal_rep_name": company.legal_rep_name},
        accounts=company.accounts,
        reason="企业更名",
    )
    table = "onboarding_changerequest"
    # Pending: what was asked, by whom and when is never rewritten; no half-recorded decision.
    assert (
        _rows_refused(
            table,
            request.pk,
            "proposed = '{}'",
            "reason = 'x'",
            "filed_at = filed_at - interval '1 day'",
            f"filed_by_id = {world.supervisor.pk}",
            "decision_reason = 'x'",  # while it stays pending
            "status = 'withdrawn'",  # no other outcome
        )
        == []
    )
    assert refused(f"DELETE FROM {table} WHERE id = %s", [request.pk])
    # The application's decision, in one update, passes.
    change_requests.change_request_refuse(request=request, user=world.supervisor, reason="材料不全")
    request.refresh_from_db()
    assert request.status == ChangeRequest.Status.REFUSED and request.decision_reason == "材料不全"
    assert request.decided_by == world.supervisor
    # Decided: not decided again, not reworded, not reattributed, not reopened, not deleted.
    assert (
        _rows_refused(
            table,
            request.pk,
            "status = 'approved'",
            "status = 'pending'",
            "decision_reason = 'x'",
            f"decided_by_id = {world.am_a.pk}",
            "decided_at = decided_at + interval '1 day'",
        )
        == []
    )
    assert refused(f"DELETE FROM {table} WHERE id = %s", [request.pk])


def test_a_stage_visit_changes_only_while_open_and_only_in_its_sla_columns(world):
    from onboarding.services import case_transition

    case = world.case(State.BRANCH_INTAKE)
    visit = case.current_visit
    table = "onboarding_stagevisit"
    # Open: where and when it began, and for which case, are never rewritten.
    other = world.case(State.BRANCH_INTAKE, company=world.company_y)
    assert (
        _rows_refused(
            table,
            visit.pk,
            "entered_at = entered_at - interval '20 days'",
            "stage = 'draft'",
            f"case_id = {other.pk}",
        )
        == []
    )
    assert refused(f"DELETE FROM {table} WHERE id = %s", [visit.pk])
    # The workflow's own writes pass: paused and resumed (paused_at, paused_seconds, due_at),
    # then closed by the next stage.
    case = case_transition(case=case, name="suspend", user=world.am_a, reason="企业暂缓")
    case = case_transition(case=case, name="resume", user=world.am_a)
    visit.refresh_from_db()
    assert visit.paused_at is None and visit.left_at is None
    assert allowed(f"UPDATE {table} SET due_at = due_at + interval '1 day' WHERE id = %s", [visit.pk]) == 1
    assert allowed(f"UPDATE {table} SET holder_role = holder_role WHERE id = %s", [visit.pk]) == 1
    case_transition(case=case, name="withdraw", user=world.am_a, reason="企业撤回申请")
    visit.refresh_from_db()
    assert visit.left_at is not None
    # Closed: final.
    assert (
        _rows_refused(
            table,
            visit.pk,
            "left_at = NULL",
            "left_at = left_at + interval '1 day'",
            "due_at = due_at + interval '1 day'",
            "paused_seconds = paused_seconds + 1",
            "holder_role = 'x'",
        )
        == []
    )
    assert refused(f"DELETE FROM {table} WHERE id = %s", [visit.pk])


def test_a_webhook_delivery_changes_only_in_the_kernels_columns(world):
    endpoint = WebhookEndpoint.objects.create(
        enterprise=world.company_x, url="https://hooks.example.com/in", events=[WebhookEvent.TEST], secret="s"
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type=WebhookEvent.TEST, msg_id="msg_evidence", payload={"a": 1}
    )
    table = "webhooks_webhookdelivery"
    assert (
        _rows_refused(
            table,
            delivery.pk,
            "payload = '{}'",
            "msg_id = 'msg_other'",
            "event_type = 'case.live'",
            "created_at = created_at - interval '1 day'",
        )
        == []
    )
    assert refused(f"DELETE FROM {table} WHERE id = %s", [delivery.pk])
    # The kernel's writes pass: a failed attempt, a success, "send again".
    channel = WebhookChannel()
    now = dt.datetime.now(tz=dt.UTC)
    channel.record_failure([delivery], "HTTP 500", now)
    channel.record_sent(delivery, now)
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.delivered_at is not None
    # A delivery time is not rewritten to another.
    assert refused(f"UPDATE {table} SET delivered_at = delivered_at - interval '1 day' WHERE id = %s", [delivery.pk])
    delivery_send_again(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.delivered_at is None and delivery.attempts == 0


def test_an_import_job_keeps_its_file_who_and_when_and_is_final_once_finished(world):
    from tests.transfers_helpers import encode, good_row

    data, name = encode([good_row(1)], "utf-8")
    job = transfer_services.import_job_create(user=world.supervisor, data=data, name=name)
    table = "transfers_importjob"
    assert (
        _rows_refused(
            table,
            job.pk,
            "sha256 = 'forged'",
            "size = size + 1",
            "original_name = 'other.csv'",
            "stored_name = 'imports/other.csv'",
            f"created_by_id = {world.am_a.pk}",
            "created_at = created_at - interval '1 day'",
            f"branch_id = {world.branch_a.pk}",
        )
        == []
    )
    assert refused(f"DELETE FROM {table} WHERE id = %s", [job.pk])
    # The application's writes pass: the import started and run to its end.
    job = transfer_services.import_job_start(job=job, user=world.supervisor, mode=ImportJob.Mode.ALL)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.imported_rows == 1
    # Finished: final; who started it and when are not rewritten.
    assert (
        _rows_refused(
            table,
            job.pk,
            "status = 'checked'",
            "imported_rows = 0",
            "report = '{}'",
            f"started_by_id = {world.am_a.pk}",
        )
        == []
    )
    assert refused(f"DELETE FROM {table} WHERE id = %s", [job.pk])


def test_an_export_job_keeps_who_asked_for_what_and_is_final_once_written(world):
    from django.http import QueryDict

    from delivery.channels import flush
    from onboarding.states import State
    from transfers import export_jobs

    world.case(State.BRANCH_INTAKE)
    job = export_jobs.export_job_create(
        user=world.supervisor, fmt="csv", params=QueryDict("state=branch_intake"), expected_rows=1
    )
    table = "transfers_exportjob"
    assert (
        _rows_refused(
            table,
            job.pk,
            "filters = ''",
            "file_format = 'xlsx'",
            "kind = 'audit'",
            "language = 'en'",
            "expected_rows = 0",
            f"created_by_id = {world.am_a.pk}",
            "created_at = created_at - interval '1 day'",
        )
        == []
    )
    assert refused(f"DELETE FROM {table} WHERE id = %s", [job.pk])
    # The worker's writes pass: the lease, then the file.
    assert flush(export_jobs.ExportChannel) == 1
    job.refresh_from_db()
    assert (job.status, job.rows, job.attempts) == ("ready", 1, 1)
    # Written: it only expires (its status and when), the file's columns kept.
    assert (
        _rows_refused(
            table,
            job.pk,
            "status = 'queued'",
            "status = 'failed'",
            "sha256 = 'forged'",
            "stored_name = 'exports/x.csv'",
            "rows = 0",
            "status = 'expired', rows = 0",
        )
        == []
    )
    assert refused(f"DELETE FROM {table} WHERE id = %s", [job.pk])
    assert export_jobs.exports_expire(timezone.now() + dt.timedelta(days=30)) == 1
    job.refresh_from_db()
    assert job.status == "expired"
    assert _rows_refused(table, job.pk, "status = 'ready'", "expired_at = NULL") == []
