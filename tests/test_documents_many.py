"""Several documents accepted in one action, and a signed form's scan matched by its code (issue 25)."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from documents import services
from documents.form_codes import form_code
from documents.models import Decision, DocumentVersion
from onboarding.event_names import EventName
from onboarding.models import CaseEvent
from onboarding.states import State
from tests.html_forms import page_forms

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\nxref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n160\n%%EOF\n"


def upload_all(case, who):
    from documents import checklist

    for req in checklist.requirements(case):
        if req.stage == State.BRANCH_INTAKE and req.required:
            services.document_upload(
                case=case, user=who, kind=req.kind, upload=SimpleUploadedFile("a.pdf", PDF), name="a.pdf"
            )


def test_the_account_manager_accepts_every_ticked_document_at_once(client, world):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    upload_all(case, world.customer_x)
    client.force_login(world.am_a)
    html = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    url = reverse("document_review_many", args=[case.public_id])
    assert any(f.action == url for f in page_forms(html))
    ticks = [v for v in html.split('type="checkbox" name="versions" value="')[1:]]  # the tick boxes
    versions = [t.split('"')[0] for t in ticks]
    assert len(versions) >= 5
    before = CaseEvent.objects.filter(case=case, name=EventName.DOCUMENT_ACCEPT).count()
    client.post(url, {"version": case.version, "versions": versions, "decision": "accept"})
    assert DocumentVersion.objects.filter(document__case=case, decision=Decision.ACCEPTED).count() == len(versions)
    assert CaseEvent.objects.filter(case=case, name=EventName.DOCUMENT_ACCEPT).count() == before + len(versions)


def test_one_refusal_accepts_none(client, world):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    upload_all(case, world.am_a)  # the account manager uploaded them himself: he may not review
    client.force_login(world.am_a)
    ids = [str(v.public_id) for v in DocumentVersion.objects.filter(document__case=case)]
    client.post(reverse("document_review_many", args=[case.public_id]), {"versions": ids, "version": case.version})
    assert not DocumentVersion.objects.filter(document__case=case).exclude(decision="").exists()
    page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert "不能审核自己上传的文件" in page and "未审核任何文件" in page


def test_another_branch_cannot_accept(client, world):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    upload_all(case, world.customer_x)
    client.force_login(world.am_b)
    ids = [str(v.public_id) for v in DocumentVersion.objects.filter(document__case=case)]
    assert client.post(reverse("document_review_many", args=[case.public_id]), {"versions": ids}).status_code == 404


def test_a_signed_scan_finds_its_form_by_the_code_typed_or_in_its_name(client, world):
    case = world.case(State.BRANCH_INTAKE, documents=False)
    client.force_login(world.customer_x)
    url = reverse("document_upload_signed", args=[case.public_id])
    code = form_code(case, "application_form")
    assert code.startswith("SQB-") and len(code) == 8
    client.post(url, {"code": code.lower(), "kind": "", "file": SimpleUploadedFile("scan.pdf", PDF)})
    client.post(
        url,
        {"code": "", "kind": "", "file": SimpleUploadedFile(f"签章-{form_code(case, 'service_agreement')}.pdf", PDF)},
    )
    kinds = set(
        DocumentVersion.objects.filter(document__case=case, document__generated=False).values_list(
            "document__kind", flat=True
        )
    )
    assert kinds == {"application_form", "service_agreement"}
    # Another case's code is refused, nothing stored.
    other = world.case(State.BRANCH_INTAKE, documents=False)
    client.post(url, {"code": form_code(other, "application_form"), "file": SimpleUploadedFile("x.pdf", PDF)})
    assert DocumentVersion.objects.filter(document__case=case, document__generated=False).count() == 2
