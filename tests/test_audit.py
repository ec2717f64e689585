"""Audit view for auditors, CSV export, break-glass reads, append-only event rows."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from audit import services
from audit.models import AccessEvent, BreakGlassGrant
from onboarding.models import CaseEvent
from onboarding.services import CaseError
from onboarding.states import State

REASON = "法院协助查询函(2026)京0108协字第12号"


def test_audit_view_is_for_auditors_only(world, login):
    assert login(Client(), world.auditor).get(reverse("audit_log")).status_code == 200
    for user in [world.am_a, world.supervisor, world.approver, world.customer_x]:
        client = login(Client(), user)
        # Staff are refused; a customer is sent to the portal (never a 403 for a staff page).
        expected = (302, "/portal/start/") if user.enterprise_id else (403, None)
        for url in (reverse("audit_log"), reverse("audit_export")):
            response = client.get(url)
            assert (response.status_code, response.get("Location")) == expected, user
    response = Client().get(reverse("audit_log"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_audit_view_shows_and_filters_every_kind_of_event(world, login):
    case_a = world.case(State.BRANCH_INTAKE)
    case_b = world.case(company=world.company_y)
    services.access_record(kind=AccessEvent.Kind.LOGIN_FAILED, username="am_b")
    client = login(Client(), world.auditor)

    # Every event is on some page, pages follow one another without overlap or gap.
    seen, params = [], {}
    while True:
        page = client.get(reverse("audit_log"), params).context["page"]
        seen += [(r["src"], r["ev_id"]) for r in page.rows]
        if not page.has_next():
            break
        params = {"after": str(page.older)}
    assert len(seen) == len(set(seen)) == CaseEvent.objects.count() + AccessEvent.objects.count()

    def rows(**params):
        response = client.get(reverse("audit_log"), params)
        assert response.status_code == 200
        return response.context["rows"]

    by_case = rows(case=case_a.reference)
    assert by_case and {r["case_ref"] for r in by_case} == {case_a.reference}
    assert {"created", "transition"} <= {r["ev_kind"] for r in by_case}
    by_person = rows(person="am_b")
    assert {r["who"] or r["typed_username"] for r in by_person} == {"am_b"}
    assert "login_failed" in {r["ev_kind"] for r in by_person}
    by_branch = rows(branch=world.tier1_other.pk)
    assert by_branch and {r["case_ref"] for r in by_branch if r["case_ref"]} == {case_b.reference}
    today = timezone.localdate()
    assert len(rows(date_from=today.isoformat(), date_to=today.isoformat())) > 0
    assert rows(date_from=(today + dt.timedelta(days=1)).isoformat()) == []


def test_audit_list_is_paginated(world, login, settings):
    settings.AUDIT_PAGE_SIZE = 3
    world.case(State.HEAD_OFFICE_APPROVAL)
    client = login(Client(), world.auditor)
    first = client.get(reverse("audit_log"))
    assert len(first.context["rows"]) == 3 and first.context["page"].has_next()
    second = client.get(reverse("audit_log"), {"after": str(first.context["page"].older)})
    ids = {(r["src"], r["ev_id"]) for r in first.context["rows"]}
    assert ids.isdisjoint({(r["src"], r["ev_id"]) for r in second.context["rows"]})


def test_csv_export_is_utf8_with_bom_and_holds_the_events(world, login):
    case = world.case(State.BRANCH_INTAKE)
    client = login(Client(), world.auditor)
    response = client.get(reverse("audit_export"), {"case": case.reference})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese as UTF-8
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][0] == "时间 Time"
    body = table[1:]
    assert len(body) == CaseEvent.objects.filter(case=case).count()
    assert {row[4] for row in body} == {case.reference}
    assert {row[5] for row in body} == {"甲公司"}
    transition = next(row for row in body if row[2] == "流转")
    assert (transition[9], transition[10]) == ("草稿", "分支行受理")
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.EXPORT, actor=world.auditor).exists()


def test_every_case_read_is_logged_whoever_reads(world, login):
    case = world.case()
    assert login(Client(), world.auditor).get(reverse("case_detail", args=[case.public_id])).status_code == 200
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_READ, actor=world.auditor, case=case).count() == 1
    # Issue 25: every read, not only the auditors' (tests/test_audit_reads.py has each kind).
    assert login(Client(), world.am_a).get(reverse("case_detail", args=[case.public_id])).status_code == 200
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_READ, actor=world.am_a, case=case).count() == 1
    # A page refused (another branch: 404) read nothing and records nothing.
    assert login(Client(), world.am_b).get(reverse("case_detail", args=[case.public_id])).status_code == 404
    assert not AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_READ, actor=world.am_b).exists()


def test_break_glass_read_needs_a_reason_and_is_recorded(world, login, settings):
    settings.BREAK_GLASS_MINUTES = 15
    case = world.case()  # branch A, under tier-1 T1
    outsider = login(Client(), world.supervisor_other)  # supervisor of T2
    # The ordinary door stays shut.
    assert outsider.get(reverse("case_detail", args=[case.public_id])).status_code == 404
    assert outsider.get(reverse("audit_break_glass_case", args=[case.public_id])).status_code == 404

    lookup = outsider.get(reverse("audit_break_glass"), {"reference": case.reference})
    assert lookup.url == reverse("audit_break_glass_open", args=[case.public_id])
    open_url = lookup.url
    assert outsider.get(open_url).status_code == 200
    refused = outsider.post(open_url, {"ground": "judicial", "reason": "看看"})
    assert refused.status_code == 200 and not BreakGlassGrant.objects.exists()
    assert outsider.get(reverse("audit_break_glass_case", args=[case.public_id])).status_code == 404

    response = outsider.post(open_url, {"ground": "judicial", "reason": REASON})
    assert response.url == reverse("audit_break_glass_case", args=[case.public_id])
    page = outsider.get(response.url)
    assert page.status_code == 200 and case.reference in page.content.decode()
    grant = BreakGlassGrant.objects.get()
    assert (grant.user, grant.case, grant.reason) == (world.supervisor_other, case, REASON)
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.BREAK_GLASS, case=case, reason=REASON).count() == 1
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.BREAK_GLASS_READ, actor=world.supervisor_other).count() == 1
    # Read-only: the working pages stay closed, and the grant does not widen ordinary access.
    assert outsider.get(reverse("case_detail", args=[case.public_id])).status_code == 404
    assert outsider.post(reverse("case_transition", args=[case.public_id, "submit"])).status_code == 404
    # It lapses.
    with freeze_time(timezone.now() + dt.timedelta(minutes=16)):
        assert outsider.get(reverse("audit_break_glass_case", args=[case.public_id])).status_code == 404


def test_break_glass_is_not_for_cases_in_scope_nor_for_customers(world, login):
    case = world.case()
    insider = login(Client(), world.am_a)
    response = insider.get(reverse("audit_break_glass_open", args=[case.public_id]))
    assert response.url == reverse("case_detail", args=[case.public_id])
    with pytest.raises(CaseError):
        services.break_glass_open(user=world.am_a, case=case, ground="audit", reason=REASON)
    customer = login(Client(), world.customer_y)
    assert customer.get(reverse("audit_break_glass_open", args=[case.public_id])).status_code == 404
    assert (
        customer.post(
            reverse("audit_break_glass_open", args=[case.public_id]), {"ground": "audit", "reason": REASON}
        ).status_code
        == 404
    )
    with pytest.raises(CaseError):
        services.break_glass_open(user=world.customer_y, case=case, ground="audit", reason=REASON)
    assert not BreakGlassGrant.objects.exists()


def test_audit_rows_cannot_be_changed_through_the_application(world):
    case = world.case()
    event = services.access_record(kind=AccessEvent.Kind.LOGIN, actor=world.am_a)
    grant = BreakGlassGrant.objects.create(
        user=world.am_b, case=case, ground="audit", reason=REASON, expires_at=timezone.now()
    )
    for row in [event, grant, case.events.first()]:
        with pytest.raises(PermissionError):
            row.save()
        with pytest.raises(PermissionError):
            row.delete()
        with pytest.raises(PermissionError):
            type(row).objects.filter(pk=row.pk).update(created_at=timezone.now())
        with pytest.raises(PermissionError):
            type(row).objects.filter(pk=row.pk).delete()


@pytest.mark.postgres
def test_postgresql_refuses_update_and_delete_of_event_rows(world):
    case = world.case()
    services.access_record(kind=AccessEvent.Kind.LOGIN, actor=world.am_a)
    BreakGlassGrant.objects.create(user=world.am_b, case=case, ground="audit", reason=REASON, expires_at=timezone.now())
    from portal.services import message_post

    message_post(case=case, user=world.customer_x, body="请问测试包何时下发?")
    for table in ["onboarding_caseevent", "audit_accessevent", "audit_breakglassgrant", "portal_casemessage"]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")
            (before,) = cursor.fetchone()
        assert before > 0
        for sql in [f"UPDATE {table} SET created_at = now()", f"DELETE FROM {table}"]:
            with (
                pytest.raises(DatabaseError, match="pgtrigger: Cannot update or delete rows"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(sql)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")
            assert cursor.fetchone() == (before,)
    # Appending still works.
    services.access_record(kind=AccessEvent.Kind.LOGOUT, actor=world.am_a)


def test_reads_of_documents_are_logged(world, login):
    import io

    from documents import services as document_services
    from documents.samples import sample_pdf
    from onboarding.states import State

    case = world.case(State.BRANCH_INTAKE, documents=False)
    version = document_services.document_upload(
        case=case, user=world.customer_x, kind="business_licence", upload=io.BytesIO(sample_pdf()), name="l.pdf"
    )
    auditor = login(Client(), world.auditor)
    urls = [
        reverse("document_detail", args=[version.document.public_id]),
        reverse("document_download", args=[version.public_id]),
        reverse("document_view", args=[version.public_id]),
    ]
    for url in urls:
        response = auditor.get(url)
        assert response.status_code == 200
        b"".join(getattr(response, "streaming_content", [b""]))
    reads = AccessEvent.objects.filter(kind=AccessEvent.Kind.DOCUMENT_READ, actor=world.auditor, case=case)
    assert sorted(e.path for e in reads) == sorted(urls)
    assert {e.data["document"] for e in reads} == {str(version.document.public_id)}
    # Issue 25: ordinary staff reading their own branch's documents are access events too.
    login(Client(), world.am_a).get(urls[0])
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.DOCUMENT_READ, actor=world.am_a, case=case).count() == 1


def test_an_auditors_read_of_a_company_page_with_its_members_is_logged(world, login):
    world.case()
    url = reverse("portal:staff_enterprise", args=[world.company_x.public_id])
    assert login(Client(), world.auditor).get(url).status_code == 200
    event = AccessEvent.objects.get(kind=AccessEvent.Kind.COMPANY_READ, actor=world.auditor)
    assert event.data["enterprise"] == str(world.company_x.public_id) and event.reason == "甲公司"
    assert login(Client(), world.am_a).get(url).status_code == 200
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.COMPANY_READ).count() == 1
    # It shows on the audit log page.
    page = login(Client(), world.auditor).get(reverse("audit_log")).content.decode()
    assert "查阅企业" in page
