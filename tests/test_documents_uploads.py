"""Uploads are judged by content; every refusal says why and leaves no file and no row."""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zlib
from pathlib import Path

import pytest
import weasyprint  # noqa: F401  (sets Pillow's LOAD_TRUNCATED_IMAGES globally, as in a full run)
from django.core.files.storage import storages
from pypdf import PdfWriter

from documents import services
from documents.models import Document, DocumentVersion
from documents.samples import sample_jpeg, sample_pdf, sample_png
from onboarding.models import CaseEvent
from onboarding.services import CaseError
from onboarding.states import State


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims the given size; tiny on disk, enormous when decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _stored_files() -> list[Path]:
    root = Path(storages["documents"].location)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def intake_case(world):
    return world.case(State.BRANCH_INTAKE, documents=False)


def upload(case, user, data: bytes, name: str, kind: str = "business_licence", size: int | None = None):
    return services.document_upload(case=case, user=user, kind=kind, upload=io.BytesIO(data), name=name, size=size)


REFUSED = [
    ("empty", b"", "scan.pdf", "文件为空"),
    ("text", b"hello, this is not a document", "licence.pdf", "仅接受 PDF、JPEG、PNG"),
    ("html", b"<html><script>alert(1)</script></html>", "licence.png", "仅接受 PDF、JPEG、PNG"),
    ("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "licence.gif", "仅接受 PDF、JPEG、PNG"),
    ("zip", b"PK\x03\x04" + b"\0" * 40, "licence.pdf", "仅接受 PDF、JPEG、PNG"),
    ("png named pdf", sample_png(), "licence.pdf", "与文件内容(PNG)不符"),
    ("pdf named png", sample_pdf(), "licence.png", "与文件内容(PDF)不符"),
    ("pdf named exe", sample_pdf(), "licence.pdf.exe", "与文件内容(PDF)不符"),
    ("jpeg without extension", sample_jpeg(), "licence", "与文件内容(JPEG)不符"),
    ("encrypted pdf", _encrypted_pdf(), "licence.pdf", "PDF 已加密"),
    ("pdf header and garbage", b"%PDF-1.7\n" + b"\x00garbage" * 50, "licence.pdf", "PDF 文件已损坏"),
    ("truncated pdf", sample_pdf()[:-60], "licence.pdf", "PDF 文件已损坏"),
    ("truncated png", sample_png()[:-30], "licence.png", "图片文件已损坏"),
    ("truncated jpeg", sample_jpeg()[: len(sample_jpeg()) // 2], "licence.jpg", "图片文件已损坏"),
    ("image too wide", _png_header_only(20_000, 10), "licence.png", "图片尺寸异常"),
    ("decompression bomb", _png_header_only(60_000, 60_000), "licence.png", "图片尺寸异常"),
]


@pytest.mark.parametrize(("label", "data", "name", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_upload_says_why_and_stores_nothing(world, intake_case, label, data, name, message):
    with pytest.raises(CaseError) as exc:
        upload(intake_case, world.customer_x, data, name)
    assert message in exc.value.message
    assert not Document.objects.exists()
    assert not DocumentVersion.objects.exists()
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.DOCUMENT).exists()
    assert _stored_files() == []


def test_too_large_refused_without_reading_it_all(world, intake_case, settings):
    settings.DOCUMENT_MAX_BYTES = 1000
    data = sample_pdf() + b"\n%" + b"x" * 2000
    with pytest.raises(CaseError) as exc:
        upload(intake_case, world.customer_x, data, "big.pdf")
    assert "文件超过" in exc.value.message
    with pytest.raises(CaseError):  # the declared size alone is enough
        upload(intake_case, world.customer_x, b"%PDF-", "big.pdf", size=10**9)
    assert not DocumentVersion.objects.exists()
    assert _stored_files() == []


def test_twenty_megabytes_is_the_default_limit(settings):
    assert settings.DOCUMENT_MAX_BYTES == 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (sample_pdf(), "执照.PDF", "application/pdf"),
        (sample_png(), "a.png", "image/png"),
        (sample_jpeg(), "b.jpeg", "image/jpeg"),
    ],
)
def test_accepted_types_are_stored_under_a_generated_name(world, intake_case, data, name, content_type):
    version = upload(intake_case, world.customer_x, data, name)
    assert version.content_type == content_type
    assert version.original_name == name
    assert re.fullmatch(
        rf"cases/{intake_case.public_id}/{version.document.public_id}/[0-9a-f]{{32}}\.(pdf|png|jpg)",
        version.storage_name,
    )
    assert version.size == len(data)
    assert version.sha256 == hashlib.sha256(data).hexdigest()
    assert storages["documents"].open(version.storage_name).read() == data
    assert version.document.retention == "15y"
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.DOCUMENT, name="document_upload")
    assert event.actor == world.customer_x and event.data["version"] == 1


def test_path_in_the_file_name_is_dropped(world, intake_case):
    version = upload(intake_case, world.customer_x, sample_pdf(), "../../etc/\x00passwd.pdf")
    assert version.original_name == "passwd.pdf"
    assert ".." not in version.storage_name


def test_new_upload_is_a_new_version_and_the_old_one_stays(world, intake_case):
    v1 = upload(intake_case, world.customer_x, sample_pdf("one"), "a.pdf", kind="service_agreement")
    v2 = upload(intake_case, world.customer_x, sample_pdf("two"), "b.pdf", kind="service_agreement")
    assert (v1.number, v2.number) == (1, 2)
    assert v1.document_id == v2.document_id
    assert v2.document.retention == "permanent"  # agreements are kept permanently
    assert storages["documents"].exists(v1.storage_name)
    with pytest.raises(PermissionError):
        v1.delete()
    with pytest.raises(PermissionError):
        DocumentVersion.objects.all().delete()


def test_who_may_upload(world, intake_case):
    assert upload(intake_case, world.customer_x, sample_pdf(), "a.pdf").number == 1  # the customer (portal)
    assert upload(intake_case, world.am_a, sample_pdf(), "a.pdf").number == 2  # its account manager
    for outsider, message in [
        (world.customer_y, "不在您的管辖范围内"),  # another company
        (world.am_b, "不在您的管辖范围内"),  # another branch
        (world.auditor, "没有上传文件的权限"),  # reads only
    ]:
        with pytest.raises(CaseError) as exc:
            upload(intake_case, outsider, sample_pdf(), "a.pdf")
        assert message in exc.value.message
    assert DocumentVersion.objects.count() == 2


def test_unknown_or_not_needed_kind_is_refused(world, intake_case):
    # company_x's handler is its legal representative: no authorisation letter is needed.
    for kind in ("authorisation_letter", "no_such_kind"):
        with pytest.raises(CaseError) as exc:
            upload(intake_case, world.customer_x, sample_pdf(), "a.pdf", kind=kind)
        assert "不需要此文件" in exc.value.message


def test_documents_of_a_stage_close_when_the_case_leaves_it(world):
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    with pytest.raises(CaseError) as exc:
        upload(case, world.customer_x, sample_pdf(), "a.pdf", kind="business_licence")
    assert "阶段已完成" in exc.value.message
    # The test report's stage is still ahead: it may be sent early.
    assert upload(case, world.customer_x, sample_pdf(), "r.pdf", kind="test_report").number == 1
