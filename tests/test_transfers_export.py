"""Exports of the staff case list: as filtered, in scope, tricky values neutralised, streamed,
opened back with openpyxl and the csv module, recorded in the audit log."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from audit.models import AccessEvent
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.factories import enterprise
from tests.transfers_helpers import parse_csv, response_bytes
from transfers.exports import neutralise

pytestmark = pytest.mark.django_db

TRICKY = ['=HYPERLINK("http://x","点我")', "+86 cmd", "-2+3", "@SUM(A1:A2)", "\tTab", "\rCR"]


@pytest.fixture
def tricky_cases(world):
    cases = []
    for name in TRICKY:
        company = enterprise(world.branch_a, name=name)
        case = world.case(State.DRAFT, company=company)
        OnboardingCase.objects.filter(pk=case.pk).update(erp_system=name)
        cases.append(case)
    return cases


def test_neutralise():
    assert [neutralise(v) for v in TRICKY] == ["'" + v for v in TRICKY]
    assert neutralise("普通文本") == "普通文本" and neutralise(-5) == -5 and neutralise(None) is None


def test_csv_export_neutralises_formulas_and_is_streamed(world, client, tricky_cases):
    client.force_login(world.supervisor)
    response = client.get(reverse("transfers:export_csv"))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = parse_csv(response_bytes(response))
    assert rows[0][:4] == ["编号", "企业名称", "统一社会信用代码", "状态"]
    names = {r[1] for r in rows[1:]}
    assert names >= {"'" + v for v in TRICKY}
    assert not any(cell[:1] in "=+-@\t\r" for r in rows[1:] for cell in r if cell)


def test_xlsx_export_opened_with_openpyxl(world, client, tricky_cases):
    client.force_login(world.supervisor)
    response = client.get(reverse("transfers:export_xlsx"))
    assert response.status_code == 200 and response.streaming
    book = load_workbook(io.BytesIO(response_bytes(response)))
    sheet = book.worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:4] == ["编号", "企业名称", "统一社会信用代码", "状态"]
    by_ref = {r[0]: r for r in values[1:]}
    for case, original in zip(tricky_cases, TRICKY, strict=True):
        row = by_ref[case.reference]
        # XML reads a stored carriage return back as a line feed; the apostrophe is what matters.
        expected = "'" + original.replace("\r", "\n")
        assert row[1] == expected and row[7] == expected
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    created = by_ref[tricky_cases[0].reference][12]
    local = timezone.localtime(tricky_cases[0].created_at)
    assert created == local.replace(tzinfo=None, microsecond=0)  # a real date cell, local time, not text
    assert sheet["A1"].font.b and sheet.title == "案件列表"


def test_export_keeps_the_lists_filters_and_scope(world, client, tricky_cases):
    intake = world.case(State.BRANCH_INTAKE)
    other_branch = world.case(State.BRANCH_INTAKE, company=world.company_y)
    client.force_login(world.supervisor)
    page = client.get(reverse("case_list"), {"state": "branch_intake"}).content.decode()
    link = reverse("transfers:export_csv") + "?state=branch_intake"
    assert f'href="{link}"' in page and f'href="{reverse("transfers:export_xlsx")}?state=branch_intake"' in page
    rows = parse_csv(response_bytes(client.get(link)))
    assert [r[0] for r in rows[1:]] == [intake.reference]
    everything = {r[0] for r in parse_csv(response_bytes(client.get(reverse("transfers:export_csv"))))[1:]}
    assert intake.reference in everything and other_branch.reference not in everything
    # The other branch's supervisor exports its own cases, never ours.
    client.force_login(world.supervisor_other)
    theirs = {r[0] for r in parse_csv(response_bytes(client.get(reverse("transfers:export_csv"))))[1:]}
    assert theirs == {other_branch.reference}
    book = load_workbook(io.BytesIO(response_bytes(client.get(reverse("transfers:export_xlsx")))))
    assert {row[0].value for row in book.worksheets[0].iter_rows(min_row=2)} == {other_branch.reference}


def test_exports_are_access_events_in_the_audit_log(world, client, tricky_cases):
    client.force_login(world.am_a)
    client.get(reverse("transfers:export_xlsx"), {"state": "draft"})
    event = AccessEvent.objects.get(kind=AccessEvent.Kind.CASE_EXPORT)
    assert event.actor == world.am_a and event.data == {"format": "xlsx", "filters": "state=draft", "rows": len(TRICKY)}
    client.force_login(world.auditor)
    log = client.get(reverse("audit_log")).content.decode()
    assert "导出案件列表" in log


def test_customers_and_anonymous_cannot_export(world, client):
    assert client.get(reverse("transfers:export_csv")).status_code == 302
    client.force_login(world.customer_x)
    response = client.get(reverse("transfers:export_csv"))  # sent to the portal, never given the file
    assert response.status_code == 302 and response["Location"] == "/portal/start/"
    assert not AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_EXPORT).exists()


def test_the_import_link_is_shown_to_importers_only(world, client):
    client.force_login(world.am_a)
    assert reverse("transfers:import") not in client.get(reverse("case_list")).content.decode()
    client.force_login(world.supervisor)
    assert reverse("transfers:import") in client.get(reverse("case_list")).content.decode()


def test_an_export_with_a_filter_it_cannot_read_is_refused_and_says_why(world, client, tricky_cases):
    client.force_login(world.supervisor)
    refused = client.get(reverse("transfers:export_csv"), {"state": "nonsense"})
    assert refused.status_code == 400
    assert "筛选条件有误,未导出" in refused.content.decode() and "状态" in refused.content.decode()
    # A branch outside the reader's subtree is not theirs to name either.
    refused = client.get(reverse("transfers:export_xlsx"), {"branch": str(world.branch_b.pk)})
    assert refused.status_code == 400 and "机构" in refused.content.decode()
    assert not AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_EXPORT).exists()  # nothing was exported
    assert client.get(reverse("transfers:export_csv"), {"state": "draft"}).status_code == 200
