"""Evidence is protected in the database itself (PostgreSQL): raw SQL, a shell session or the
admin cannot rewrite or empty it. Each table from the refused side (UPDATE, DELETE, TRUNCATE)
and, where the application changes a row, from the allowed side (the services still work)."""

from __future__ import annotations

import io

import pytest
from django.db import DatabaseError, connection, transaction

from counter import services as counter_services
from counter.models import CounterEntry
from documents.models import DocumentVersion
from onboarding.models import Approval, CaseEvent
from onboarding.states import State

pytestmark = pytest.mark.postgres

APPEND_ONLY = [
    "onboarding_caseevent",
    "audit_accessevent",
    "audit_breakglassgrant",
    "portal_casemessage",
    "onboarding_approval",
    "onboarding_moduletestresult",
]
ALL_EVIDENCE = [*APPEND_ONLY, "counter_counterentry", "documents_documentversion"]


def refused(sql: str, params: list[object] | None = None) -> bool:
    """True when the database refuses the statement (inside a savepoint, so the test goes on)."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, params)
    except DatabaseError as exc:
        assert "evidence" in str(exc) or "append-only" in str(exc), exc
        return True
    return False


@pytest.fixture
def no_truncate_bypass(db):
    with connection.cursor() as cur:
        cur.execute("SET evidence.allow_truncate = off")
    yield
    with connection.cursor() as cur:
        cur.execute("SET evidence.allow_truncate = on")


@pytest.mark.parametrize("table", ALL_EVIDENCE)
def test_truncate_is_refused(no_truncate_bypass, table):
    assert refused(f"TRUNCATE {table} CASCADE")


def test_truncating_a_parent_table_cascades_into_a_refusal(no_truncate_bypass):
    assert refused("TRUNCATE onboarding_onboardingcase CASCADE")


def test_approvals_and_case_events_refuse_update_and_delete(world):
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    approval = Approval.objects.filter(case=case).first()
    assert approval is not None
    assert refused("UPDATE onboarding_approval SET decided_by_id = %s WHERE id = %s", [world.am_a.pk, approval.pk])
    assert refused("DELETE FROM onboarding_approval WHERE id = %s", [approval.pk])
    event = CaseEvent.objects.filter(case=case).first()
    assert refused("UPDATE onboarding_caseevent SET reason = 'rewritten' WHERE id = %s", [event.pk])


def test_counter_entry_changes_only_status_while_pending(world):
    case = world.case(State.UKEY_ISSUANCE)
    ent = case.enterprise
    entry = counter_services.identity_check_make(
        case=case,
        user=world.maker,
        person="legal_rep",
        person_name=ent.legal_rep_name,
        id_number=ent.legal_rep_id_number,
    )
    # A pending entry cannot be rewritten, only confirmed or cancelled.
    assert refused("UPDATE counter_counterentry SET person_name = 'someone else' WHERE id = %s", [entry.pk])
    assert refused("DELETE FROM counter_counterentry WHERE id = %s", [entry.pk])
    counter_services.entry_confirm(entry=entry, user=world.checker)  # the allowed change
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.CONFIRMED
    # Once confirmed, nothing changes any more, not even the status.
    assert refused("UPDATE counter_counterentry SET status = 'cancelled' WHERE id = %s", [entry.pk])


def test_document_version_is_reviewed_once_and_never_rewritten(world):
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
    document_services.document_review(version=version, user=world.am_a, accept=True)
    version.refresh_from_db()
    assert version.decision == "accepted"
