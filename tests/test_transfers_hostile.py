"""Hostile .xlsx imports, posted through the import page as a browser would: an XXE DOCTYPE,
"billion laughs", a 307 KB file with one 300 MB cell, a zip that lies about its sizes, a bomb
by compression ratio. Each is refused with a Chinese reason before any XML parser builds anything;
a refused file leaves a refused job with its reason and nothing else."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from companies.models import Enterprise
from tests import hostile_files as hostile
from tests.html_forms import browser_post_data, form_with
from tests.transfers_helpers import HEADERS, changed, encode, good_row, table_counts
from transfers import reading, services, sheet
from transfers.models import ImportJob

pytestmark = pytest.mark.django_db


def post_file(client, data: bytes, name: str = "导入.xlsx"):
    """The import page's form, filled as a browser fills it, with the file attached."""
    page = client.get(reverse("transfers:import"))
    form = form_with(page.content.decode(), "file")
    fields: dict = browser_post_data(form)
    fields["file"] = SimpleUploadedFile(name, data)
    return client.post(form.action or reverse("transfers:import"), fields, follow=True)


def refused_page(client, world, data: bytes) -> tuple[str, ImportJob]:
    client.force_login(world.supervisor)
    before = table_counts()
    html = post_file(client, data).content.decode()
    # Nothing but the refused job: no company, no case, no event, no half-checked rows.
    assert changed(before, table_counts()) == {"transfers_importjob": (0, 1)}
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.REFUSED and job.report["rows"] == [] and job.valid_rows == 0
    assert not Enterprise.objects.filter(name__startswith="导入测试").exists()
    assert "未导入" in html
    return html, job


@pytest.fixture
def no_parser(monkeypatch):
    """Fail the test if openpyxl is asked to read the file."""

    def refuse(*args, **kwargs):
        raise AssertionError("the file reached openpyxl")

    monkeypatch.setattr("openpyxl.load_workbook", refuse)


def test_an_xxe_doctype_is_refused_before_parsing(world, client, no_parser):
    data = hostile.workbook(hostile.sheet_xml(hostile.row(1, "&xxe;") + hostile.row(2, "x"), doctype=hostile.XXE))
    html, _job = refused_page(client, world, data)
    assert "含有 DOCTYPE/实体声明" in html and "xl/worksheets/sheet1.xml" in html
    assert "root:" not in html


def test_billion_laughs_is_refused_before_parsing(world, client, no_parser):
    data = hostile.workbook(
        hostile.sheet_xml(hostile.row(1, "&lol9;") + hostile.row(2, "x"), doctype=hostile.BILLION_LAUGHS)
    )
    html, _job = refused_page(client, world, data)
    assert "含有 DOCTYPE/实体声明" in html


def test_a_300_mb_cell_is_refused_from_the_zip_directory(world, client, monkeypatch, no_parser):
    data = hostile.workbook_with_huge_cell()
    assert len(data) < 400_000  # the 307 KB file

    def no_scan(*args, **kwargs):
        raise AssertionError("the sheet was decompressed")

    monkeypatch.setattr(sheet, "_scan_xml", no_scan)
    html, job = refused_page(client, world, data)
    # The reason names the size read from the zip directory: nothing was decompressed.
    assert "xl/worksheets/sheet1.xml 解压后有 300 MB,超过 64 MB 上限" in html
    assert job.report["file"] == ["Excel 文件中的 xl/worksheets/sheet1.xml 解压后有 300 MB,超过 64 MB 上限,不予解析"]


def test_a_zip_that_understates_a_members_size_is_refused_as_damaged(world, client, no_parser):
    data = hostile.workbook_with_huge_cell(3 * 1024 * 1024, declared=2000)
    html, _job = refused_page(client, world, data)
    assert "Excel 文件已损坏或不是 .xlsx 格式" in html


def test_a_compression_bomb_under_the_size_limits_is_refused_by_its_ratio(world, client, no_parser):
    data = hostile.workbook_with_huge_cell(8 * 1024 * 1024)
    html, _job = refused_page(client, world, data)
    assert "压缩比达" in html and "超过 100 倍上限" in html


def test_a_cell_longer_than_excel_allows_is_refused(world, client, settings, no_parser):
    settings.IMPORT_XLSX_MAX_RATIO = 10_000  # this one is about the cell, not the ratio
    data = hostile.workbook(hostile.sheet_xml(hostile.row(1, "企业名称") + hostile.row(2, "长" * 40_000)))
    html, _job = refused_page(client, world, data)
    assert "有单元格超过 32767 个字符上限" in html


def test_the_default_limits_fit_a_real_import(settings):
    assert settings.IMPORT_XLSX_MAX_MEMBER_BYTES == 64 * 1024 * 1024
    assert settings.IMPORT_XLSX_MAX_TOTAL_BYTES == 100 * 1024 * 1024
    assert settings.IMPORT_XLSX_MAX_CELL_CHARS == 32767
    # 200 rows as openpyxl writes them (inline strings, the bulkiest form): far under every limit.
    data, _name = encode([good_row(n) for n in range(1, 201)], "xlsx")
    inspection = reading.xlsx_inspect(data)
    assert inspection.total_bytes < settings.IMPORT_XLSX_MAX_TOTAL_BYTES / 100


def test_a_plain_workbook_still_imports(world, client):
    client.force_login(world.supervisor)
    data, _name = encode([good_row(1)], "xlsx")
    html = post_file(client, data).content.decode()
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.CHECKED and job.valid_rows == 1, html


# --- a large file: read by the worker, in a child process with limits ---------------------------


def test_a_large_workbook_is_not_parsed_in_the_request_but_in_a_limited_child(
    world, client, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.IMPORT_XLSX_INLINE_BYTES = 1000  # every workbook is "large" here
    data, _name = encode([good_row(1), good_row(2)], "xlsx")
    in_process = sheet.parse

    def not_here(*args, **kwargs):
        raise AssertionError("parsed in the web process")

    monkeypatch.setattr(sheet, "parse", not_here)
    client.force_login(world.supervisor)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        html = post_file(client, data).content.decode()
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.CHECKING and job.total_rows == 0 and len(queued) == 1
    assert "检查中" in html
    monkeypatch.setattr(sheet, "parse", in_process)
    with django_capture_on_commit_callbacks(execute=True):
        queued[0]()  # the worker's chunk: the file is read in a child process
    job.refresh_from_db()
    assert (job.status, job.total_rows, job.valid_rows) == (ImportJob.Status.CHECKED, 2, 2)
    # Two rows, but a bulky file: confirming queues the import rather than parsing it here.
    monkeypatch.setattr(sheet, "parse", not_here)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = services.import_job_start(job=job, user=world.supervisor, mode="all")
    assert job.status == ImportJob.Status.QUEUED and len(queued) == 1
    with django_capture_on_commit_callbacks(execute=True):
        queued[0]()
    job.refresh_from_db()
    assert (job.status, job.imported_rows) == (ImportJob.Status.DONE, 2)


def test_a_child_that_runs_out_of_memory_refuses_the_file_and_imports_nothing(
    world, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_XLSX_INLINE_BYTES = 1000
    # Less than the interpreter has already mapped: the child's next allocation fails.
    settings.IMPORT_PARSE_MEMORY_MB = 16
    data, _name = encode([good_row(1), good_row(2)], "xlsx")
    before = table_counts()
    with django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_create(user=world.supervisor, data=data, name="big.xlsx")
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REFUSED and job.given_up_at is None
    assert job.report == {"file": ["Excel 文件解析超出 16 MB 内存上限,已停止"], "rows": []}
    assert changed(before, table_counts()) == {"transfers_importjob": (0, 1)}


def test_a_large_workbook_with_a_wrong_header_is_refused_by_the_worker(
    world, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_XLSX_INLINE_BYTES = 1000
    rows = hostile.row(1, "姓名", *HEADERS[1:3]) + hostile.row(2, "x", "y", "z")
    with django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_create(
            user=world.supervisor, data=hostile.workbook(hostile.sheet_xml(rows)), name="a.xlsx"
        )
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REFUSED
    assert any("无法识别的列:姓名" in p for p in job.report["file"]) and job.report["rows"] == []


def test_a_child_past_its_cpu_time_is_stopped_and_the_file_refused(world, settings, django_capture_on_commit_callbacks):
    settings.IMPORT_XLSX_INLINE_BYTES = 1000
    settings.IMPORT_PARSE_SECONDS = 0  # the child has used more than that by the time it sets its limit
    data, _name = encode([good_row(1)], "xlsx")
    with django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_create(user=world.supervisor, data=data, name="big.xlsx")
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REFUSED
    assert job.report["file"] == ["Excel 文件解析超过 0 秒时限,已停止"]


def test_a_bulky_hostile_workbook_is_scanned_by_the_worker_not_the_request(
    world, client, settings, monkeypatch, django_capture_on_commit_callbacks, no_parser
):
    settings.IMPORT_XLSX_INLINE_BYTES = 100
    data = hostile.workbook(hostile.sheet_xml(hostile.row(1, "&xxe;") + hostile.row(2, "x"), doctype=hostile.XXE))
    scanned = []
    real_scan = sheet._scan_xml
    monkeypatch.setattr(sheet, "_scan_xml", lambda *a: scanned.append(a[1].filename) or real_scan(*a))
    client.force_login(world.supervisor)
    before = table_counts()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        post_file(client, data)
    assert scanned == []  # the request read the zip's directory only
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.CHECKING and len(queued) == 1
    with django_capture_on_commit_callbacks(execute=True):
        queued[0]()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REFUSED and "xl/worksheets/sheet1.xml" in scanned
    assert "含有 DOCTYPE/实体声明" in job.report["file"][0] and job.report["rows"] == []
    assert changed(before, table_counts()) == {"transfers_importjob": (0, 1)}
    html = client.get(reverse("transfers:job", args=[job.public_id])).content.decode()
    assert "含有 DOCTYPE/实体声明" in html
