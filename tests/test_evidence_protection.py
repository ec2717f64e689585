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

from audit import services as audit_services
from audit.models import AccessEvent, BreakGlassGrant
from companies.models import CompanyVersion
from config.evidence import NO_TRUNCATE
from counter import services as counter_services
from counter.models import CounterEntry
from documents.models import Document, DocumentVersion
from notices import outbox
from notices.models import OutboxEmail
from onboarding.models import Approval, CaseEvent, ModuleTestResult
from onboarding.states import State
from portal import services as portal_services
from portal.models import CaseMessage
from reminders import services as reminder_services
from reminders.models import Reminder

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
    CompanyVersion: "name",
    Reminder: "stage",
    Document: "kind",
}
CHANGED_BY_RULE = [CounterEntry, DocumentVersion, OutboxEmail]
EVIDENCE = [*APPEND_ONLY, *CHANGED_BY_RULE]
PROJECT_APPS = {
    "accounts", "branches", "notices", "companies", "workcalendar", "onboarding", "documents",
    "counter", "reminders", "audit", "portal", "analytics", "api", "webhooks", "demo",
}  # fmt: skip


def refused(sql: str, params: list[object] | None = None) -> bool:
    """True when the database refuses the statement with a trigger's exception (inside a
    savepoint, so the test goes on); False when the statement went through."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, params)
    except DatabaseError as exc:
        assert "pgtrigger: Cannot" in str(exc), exc
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
        # UPDATE (always or by rule), DELETE and TRUNCATE are each covered.
        assert operations == {"UPDATE", "DELETE", "TRUNCATE"}, (model, operations)


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
