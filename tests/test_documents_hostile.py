"""Uploads a downstream tool may choke on, posted through the page as a browser would and through
the API: a 1 MB PDF whose stream inflates to 1 GB, a PDF with a ZIP after %%EOF (or before its
last %%EOF), a PNG with HTML in its text chunks. PDFs are refused with a Chinese reason and leave
no document version; the PNG is stored re-encoded, its pixels kept and its text chunks gone."""

from __future__ import annotations

import hashlib
import io
import zlib

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from documents.models import DocumentVersion
from documents.samples import sample_jpeg, sample_pdf, sample_png
from onboarding.models import CaseEvent
from onboarding.states import State
from tests import hostile_files as hostile
from tests.api_helpers import enterprise_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def intake_case(world):
    return world.case(State.BRANCH_INTAKE, documents=False)


def _extension(data: bytes) -> str:
    return ".pdf" if data.startswith(b"%PDF") else ".jpg"


def post_page(client, user, case, data: bytes, name: str):
    client.force_login(user)
    url = reverse("document_upload", args=[case.public_id, "business_licence"])
    return client.post(url, {"file": SimpleUploadedFile(name, data)}, follow=True).content.decode()


def post_api(world, case, data: bytes, name: str):
    api = enterprise_api(world.company_x)
    upload = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    return api.post(
        f"/api/v1/cases/{case.public_id}/documents/", {"kind": "business_licence", "file": upload}, multipart=True
    )


def pdf_bomb() -> bytes:
    return hostile.pdf_with_stream(hostile.flate_bomb())


def pdf_with_zip_after_eof() -> bytes:
    return sample_pdf() + hostile.a_zip()


def pdf_with_zip_before_last_eof() -> bytes:
    """The ZIP hidden before `startxref`: the PDF still reads, and unzip still finds the archive."""
    pdf = sample_pdf()
    at = pdf.rindex(b"startxref")
    return pdf[:at] + b"%" + hostile.a_zip() + b"\n" + pdf[at:]


def jpeg_with_zip() -> bytes:
    return sample_jpeg() + hostile.a_zip()


REFUSED = [
    ("1 GB flate stream", pdf_bomb, "PDF 中的压缩数据解压后超过 256 MB 上限"),
    ("zip after %%EOF", pdf_with_zip_after_eof, "PDF 文件结束标记(%%EOF)之后还附带了其他数据"),
    ("zip before the last %%EOF", pdf_with_zip_before_last_eof, "PDF 中夹带了 ZIP 压缩包"),
    ("zip after a jpeg", jpeg_with_zip, "图片中夹带了 ZIP 压缩包"),
]


@pytest.mark.parametrize(("label", "build", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_file_refused_through_the_page(client, world, intake_case, label, build, message):
    data = build()
    assert len(data) < 1_100_000
    html = post_page(client, world.customer_x, intake_case, data, "营业执照" + _extension(data))
    assert message in html
    assert not DocumentVersion.objects.exists()
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.DOCUMENT).exists()


@pytest.mark.parametrize(("label", "build", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_hostile_file_refused_through_the_api(world, intake_case, label, build, message):
    data = build()
    response = post_api(world, intake_case, data, "licence" + _extension(data))
    assert response.status_code == 400, response.content
    assert message in response.content.decode()
    assert not DocumentVersion.objects.exists()


def test_the_bomb_is_refused_after_inflating_the_limit_not_the_gigabyte(world, intake_case, settings, monkeypatch):
    settings.DOCUMENT_MAX_PDF_INFLATED_BYTES = 8 * 1024 * 1024
    seen = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self) -> None:
            self.inner = real()

        def decompress(self, data, max_length=0):
            out = self.inner.decompress(data, max_length)
            seen.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr("documents.validation.zlib.decompressobj", Counting)
    from documents.validation import UploadRefused, check_file

    with pytest.raises(UploadRefused, match="超过 8 MB 上限"):
        check_file(pdf_bomb(), "a.pdf")
    assert max(seen) <= 1024 * 1024 and sum(seen) <= 9 * 1024 * 1024


def test_a_pdf_with_ordinary_compressed_streams_is_accepted(client, world, intake_case):
    data = hostile.pdf_with_stream(zlib.compress(b"BT /F1 12 Tf 72 712 Td (ok) Tj ET\n" * 2000))
    html = post_page(client, world.customer_x, intake_case, data, "营业执照.pdf")
    assert "不予接受" not in html and "已损坏" not in html
    assert DocumentVersion.objects.get().sha256 == hashlib.sha256(data).hexdigest()


def test_a_png_with_html_in_its_text_chunks_is_stored_re_encoded(client, world, intake_case):
    data, pixels = hostile.png_with_text("<html><script>alert(document.cookie)</script></html>")
    assert b"<script" in data
    post_page(client, world.customer_x, intake_case, data, "营业执照.png")
    version = DocumentVersion.objects.get()
    stored = storages["documents"].open(version.storage_name).read()
    assert b"<script" not in stored and b"tEXt" not in stored and b"iTXt" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.tobytes() == pixels  # the same picture, pixel for pixel
    assert version.sha256 == hashlib.sha256(stored).hexdigest() and version.size == len(stored)
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.DOCUMENT, name="document_upload")
    assert event.data["uploaded_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_png_with_html_through_the_api_is_stored_re_encoded(world, intake_case):
    data, _pixels = hostile.png_with_text("<iframe src=https://evil.example>")
    response = post_api(world, intake_case, data, "licence.png")
    assert response.status_code == 201, response.content
    stored = storages["documents"].open(DocumentVersion.objects.get().storage_name).read()
    assert b"<iframe" not in stored


def test_a_png_of_pixels_only_is_kept_byte_for_byte(client, world, intake_case):
    post_page(client, world.customer_x, intake_case, sample_png(), "a.png")
    version = DocumentVersion.objects.get()
    assert storages["documents"].open(version.storage_name).read() == sample_png()
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.DOCUMENT, name="document_upload")
    assert "uploaded_sha256" not in event.data
