"""Document pages: scoping (404 outside branch subtree or company), downloads, the case panel."""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from documents import services
from documents.models import DocumentVersion
from documents.samples import sample_pdf, sample_png
from documents.views import content_disposition
from onboarding.models import CaseEvent
from onboarding.states import State


def login(client, user):
    client.force_login(user)  # a complete login, second factor included (tests/conftest.py)
    return client


@pytest.fixture
def intake_case(world):
    return world.case(State.BRANCH_INTAKE, documents=False)


@pytest.fixture
def version(world, intake_case):
    return services.document_upload(
        case=intake_case,
        user=world.customer_x,
        kind="business_licence",
        upload=io.BytesIO(sample_pdf()),
        name="营业执照 “盖章”.pdf",
    )


def _urls(version):
    return {
        "document": reverse("document_detail", args=[version.document.public_id]),
        "download": reverse("document_download", args=[version.public_id]),
        "view": reverse("document_view", args=[version.public_id]),
    }


@pytest.mark.parametrize("outsider", ["am_b", "supervisor_other", "customer_y"])
def test_outsiders_get_404_for_document_and_download(client, world, version, outsider):
    login(client, getattr(world, outsider))
    for url in _urls(version).values():
        assert client.get(url).status_code == 404
    review = reverse("document_review", args=[version.public_id])
    assert client.post(review, {"decision": "accept"}).status_code == 404
    upload_url = reverse("document_upload", args=[version.document.case.public_id, "legal_rep_id"])
    assert client.post(upload_url, {"file": SimpleUploadedFile("a.pdf", sample_pdf())}).status_code == 404
    generate = reverse("form_generate", args=[version.document.case.public_id, "application_form"])
    assert client.post(generate).status_code == 404
    assert not CaseEvent.objects.filter(name__in=["document_download", "document_view"]).exists()
    assert DocumentVersion.objects.count() == 1


@pytest.mark.parametrize("insider", ["am_a", "supervisor", "auditor", "customer_x"])
def test_insiders_download_and_each_download_is_recorded(client, world, version, insider):
    who = getattr(world, insider)
    login(client, who)
    response = client.get(_urls(version)["download"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == sample_pdf()
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''" + quote("营业执照 “盖章”.pdf", safe="") in disposition
    event = CaseEvent.objects.get(name="document_download")
    assert event.actor == who and event.data["version_id"] == str(version.public_id)
    assert client.get(_urls(version)["document"]).status_code == 200
    inline = client.get(_urls(version)["view"])
    assert inline["Content-Disposition"].startswith("inline;")
    assert "sandbox" in inline["Content-Security-Policy"]


def test_content_disposition_cannot_be_broken_out_of():
    header = content_disposition('evil"; filename="x.html\r\nSet-Cookie: a=b.pdf')
    assert "\r" not in header and "\n" not in header
    ascii_part = header.split("filename*=")[0]
    assert ascii_part.count('"') == 2
    assert header.endswith(quote('evil"; filename="x.htmlSet-Cookie: a=b.pdf', safe=""))


def test_upload_and_review_through_the_pages(client, world, intake_case):
    login(client, world.customer_x)
    url = reverse("document_upload", args=[intake_case.public_id, "legal_rep_id"])
    response = client.post(url, {"file": SimpleUploadedFile("身份证.png", sample_png()), "next": "/portal/"})
    assert response.status_code == 302 and response["Location"] == "/portal/"
    version = DocumentVersion.objects.get()
    # An off-site `next` is ignored.
    bad = client.post(url, {"file": SimpleUploadedFile("x.txt", b"plain text"), "next": "https://evil.example/"})
    assert bad["Location"] == "/portal/"
    assert DocumentVersion.objects.count() == 1
    client.logout()

    login(client, world.am_a)
    page = client.get(reverse("case_detail", args=[intake_case.public_id]))
    html = page.content.decode()
    assert "文件清单" in html and "已上传,待审核" in html and "未上传" in html
    assert reverse("document_review", args=[version.public_id]) in html
    response = client.post(
        reverse("document_review", args=[version.public_id]), {"decision": "reject", "reason": "<b>看不清</b>"}
    )
    assert response.status_code == 302
    html = client.get(reverse("case_detail", args=[intake_case.public_id])).content.decode()
    assert "已退回" in html and "&lt;b&gt;看不清&lt;/b&gt;" in html


def test_the_uploader_is_not_offered_the_review_buttons(client, world, intake_case):
    version = services.document_upload(
        case=intake_case, user=world.am_a, kind="handler_id", upload=io.BytesIO(sample_pdf()), name="a.pdf"
    )
    review_url = reverse("document_review", args=[version.public_id])
    login(client, world.am_a)
    assert review_url not in client.get(reverse("case_detail", args=[intake_case.public_id])).content.decode()
    client.post(review_url, {"decision": "accept"})
    version.refresh_from_db()
    assert version.decision == ""
    client.logout()
    login(client, world.am_a2)
    assert review_url in client.get(reverse("case_detail", args=[intake_case.public_id])).content.decode()


def test_case_page_query_count_does_not_grow_with_documents(client, world, django_assert_max_num_queries):
    case = world.case(State.JOINT_TESTING)
    login(client, world.am_a)
    url = reverse("case_detail", args=[case.public_id])
    client.get(url)
    with django_assert_max_num_queries(60):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("name", "ascii_name"),
    [
        ("营业执照.pdf", "document.pdf"),
        ("营业执照 “盖章”.PDF", "document.PDF"),
        ("Report 报告.png", "Report.png"),
        ("身份证", "document"),
        ("scan.2026.jpeg", "scan.2026.jpeg"),
    ],
)
def test_the_ascii_download_name_keeps_the_extension(name, ascii_name):
    header = content_disposition(name)
    assert f'filename="{ascii_name}"' in header
    assert header.endswith("filename*=UTF-8''" + quote(name, safe=""))
