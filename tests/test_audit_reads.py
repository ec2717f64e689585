"""Every read of a case or a document is in the audit log and in the auditor's export for that
case and period (issue 25): the staff case page, the document page, the portal case page, a
download, and the API's case detail, case list, document list and download."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.test import Client
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from audit.models import AccessEvent
from documents import services as document_services
from documents.samples import sample_pdf
from onboarding.states import State
from tests.api_helpers import enterprise_api


def _export(world, login, **filters: str) -> list[list[str]]:
    response = login(Client(), world.auditor).get(reverse("audit_export"), filters)
    assert response.status_code == 200
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert table[0][-1] == "页面 Page"
    return table[1:]


def test_each_kind_of_read_is_in_the_auditors_export_for_the_case_and_period(world, login):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    other = world.case(State.BRANCH_INTAKE, documents=False)
    version = document_services.document_upload(
        case=case, user=world.customer_x, kind="business_licence", upload=io.BytesIO(sample_pdf()), name="l.pdf"
    )
    # A read on another day: outside the period asked for.
    with freeze_time(timezone.now() - dt.timedelta(days=3)):
        assert login(Client(), world.am_a).get(reverse("case_detail", args=[case.public_id])).status_code == 200

    staff = login(Client(), world.am_a)
    assert staff.get(reverse("case_detail", args=[case.public_id])).status_code == 200
    assert staff.get(reverse("case_detail", args=[other.public_id])).status_code == 200
    assert staff.get(reverse("document_detail", args=[version.document.public_id])).status_code == 200
    customer = login(Client(), world.customer_x)
    assert customer.get(reverse("portal:case_detail", args=[case.public_id])).status_code == 200
    download = customer.get(reverse("document_download", args=[version.public_id]))
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"%PDF")
    api = enterprise_api(world.company_x, scopes="read")
    assert api.get(f"/api/v1/cases/{case.public_id}/").status_code == 200
    assert api.get("/api/v1/cases/").status_code == 200
    assert api.get(f"/api/v1/cases/{case.public_id}/documents/").status_code == 200
    api_download = api.get(f"/api/v1/document-versions/{version.public_id}/download/")
    assert api_download.status_code == 200
    b"".join(api_download.streaming_content)

    today = timezone.localdate().isoformat()
    rows = _export(world, login, case=case.reference, date_from=today, date_to=today)
    assert {row[4] for row in rows} == {case.reference}  # only this case
    reads = {(row[2], row[3]) for row in rows if row[1] == "access"}
    assert reads >= {
        ("查阅案件", "case_detail"),
        ("查阅文件", "document_detail"),
        ("查阅案件", "portal:case_detail"),
        ("查阅文件", "document_download"),
        ("API 调用", "api:case_detail"),
        ("查阅案件", "api:case_list"),
        ("API 调用", "api:case_documents"),
        ("API 调用", "api:version_download"),
    }, reads
    # Who read it and where: the staff member, the customer, the company's API account.
    readers = {row[7] for row in rows if row[1] == "access"}
    assert {"am_a", "customer_x"} <= readers and any(r.startswith("api-") for r in readers)
    assert any(row[-1] == reverse("portal:case_detail", args=[case.public_id]) for row in rows)
    # The staff page read of three days ago is outside the period; inside a period that holds it, it is there.
    assert sum(1 for row in rows if row[3] == "case_detail") == 1
    earlier = (timezone.localdate() - dt.timedelta(days=3)).isoformat()
    assert [row[3] for row in _export(world, login, case=case.reference, date_from=earlier, date_to=earlier)] == [
        "case_detail"
    ]


def test_the_audit_log_page_names_the_read(world, login):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    login(Client(), world.customer_x).get(reverse("portal:case_detail", args=[case.public_id]))
    page = login(Client(), world.auditor).get(reverse("audit_log"), {"case": case.reference}).content.decode()
    assert "门户案件页" in page


def test_a_read_is_one_row_and_a_refused_read_none(world, login):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    client = login(Client(), world.customer_x)
    url = reverse("portal:case_detail", args=[case.public_id])
    reads = AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_READ)
    client.get(url)
    client.get(url)
    assert reads.filter(actor=world.customer_x, case=case).count() == 2
    other = login(Client(), world.customer_y)
    assert other.get(url).status_code == 404  # another company's case
    assert not reads.filter(actor=world.customer_y).exists()


def test_the_export_names_the_company_as_approved_on_the_case(world, login):
    from tests.factories import company_update

    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    approved = case.company.name
    company_update(world.company_x, by=world.am_a, name="甲公司(更名后)")
    login(Client(), world.am_a).get(reverse("case_detail", args=[case.public_id]))
    rows = _export(world, login, case=case.reference)
    assert rows and {row[5] for row in rows} == {approved}


def test_each_read_of_a_live_links_pages_is_in_the_audit_log_under_its_case(world, login):
    # A live link shows the company's operators, keys and accounts: its pages are reads too,
    # recorded under the onboarding case the link came from, each page named.
    from links.models import LiveLink

    link = LiveLink.objects.get(onboarding_case=world.case(State.LIVE))
    staff = login(Client(), world.am_a)
    customer = login(Client(), world.customer_x)
    pages = [
        (staff, "links:link_detail", "员工直联服务页"),
        (staff, "links:link_history", "员工直联服务历史页"),
        (staff, "links:link_requests", "员工直联服务申请页"),
        (customer, "links:portal_link", "门户直联服务页"),
        (customer, "links:portal_link_history", "门户直联服务历史页"),
        (customer, "links:portal_link_requests", "门户直联服务申请页"),
    ]
    before = AccessEvent.objects.count()
    for client, name, _label in pages:
        assert client.get(reverse(name, args=[link.public_id])).status_code == 200, name
    reads = AccessEvent.objects.filter(pk__gt=0).order_by("-pk")[: len(pages)]
    assert AccessEvent.objects.count() == before + len(pages)
    assert {(e.kind, e.case_id, e.data["view"], e.data["link"], e.actor_id) for e in reads} == {
        (AccessEvent.Kind.CASE_READ, link.onboarding_case_id, name, link.reference, client_user.pk)
        for (client, name, _label), client_user in zip(pages, [world.am_a] * 3 + [world.customer_x] * 3, strict=True)
    }

    # The refused side: a link out of the reader's scope is a 404 and records no read.
    outsider = login(Client(), world.am_b)
    logged_in = AccessEvent.objects.count()
    assert outsider.get(reverse("links:link_detail", args=[link.public_id])).status_code == 404
    assert AccessEvent.objects.count() == logged_in

    # The auditor finds them under the case, each page named in the reader's words.
    today = timezone.localdate().isoformat()
    rows = _export(world, login, case=link.onboarding_case.reference, date_from=today, date_to=today)
    named = {(row[2], row[3]) for row in rows if row[1] == "access"}
    assert {("查阅案件", name) for _c, name, _l in pages} <= named
    page = login(Client(), world.auditor).get(
        reverse("audit_log"), {"case": link.onboarding_case.reference, "date_from": today, "date_to": today}
    )
    text = page.content.decode()
    assert all(label in text for _c, _n, label in pages)
