"""A large import runs through a real Celery worker on the real Redis, chunk after chunk."""

from __future__ import annotations

import time

import pytest

from onboarding.models import OnboardingCase
from tests import hostile_files as hostile
from tests.test_reminders_worker import real_celery  # noqa: F401 (the fixture)
from tests.transfers_helpers import encode, good_row
from transfers import services
from transfers.models import ImportJob


def wait_for(job: ImportJob, status: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == status:
            return
        time.sleep(0.2)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_large_import_is_run_by_the_worker(world, real_celery, settings) -> None:  # noqa: F811
    settings.IMPORT_INLINE_ROWS = 3
    settings.IMPORT_CHUNK_ROWS = 3
    settings.IMPORT_CHECK_CHUNK_ROWS = 3
    rows = [good_row(n) for n in range(1, 9)]
    job = services.import_job_create(user=world.supervisor, data=encode(rows, "gb18030")[0], name="big.csv")
    assert job.status == ImportJob.Status.CHECKING
    wait_for(job, ImportJob.Status.CHECKED)
    assert (job.valid_rows, job.invalid_rows) == (8, 0)
    job = services.import_job_start(job=job, user=world.supervisor, mode="all")
    assert job.status == ImportJob.Status.QUEUED
    wait_for(job, ImportJob.Status.DONE)
    assert (job.status, job.processed_rows, job.imported_rows) == ("done", 8, 8), "the worker did not finish in 60 s"
    assert OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").count() == 8


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_bulky_workbook_is_read_by_the_worker_in_a_child_process(world, real_celery, settings) -> None:  # noqa: F811
    """The request reads only the zip's directory; the worker's chunk parses the file in a child
    process under its limits, then imports; a hostile bulky workbook is refused by the worker."""
    settings.IMPORT_XLSX_INLINE_BYTES = 1000
    settings.IMPORT_INLINE_ROWS = settings.IMPORT_CHUNK_ROWS = settings.IMPORT_CHECK_CHUNK_ROWS = 3
    rows = [good_row(n) for n in range(1, 6)]
    job = services.import_job_create(user=world.supervisor, data=encode(rows, "xlsx")[0], name="big.xlsx")
    assert (job.status, job.total_rows) == (ImportJob.Status.CHECKING, 0)
    wait_for(job, ImportJob.Status.CHECKED)
    assert (job.total_rows, job.valid_rows) == (5, 5), "the worker did not check the workbook in 60 s"
    job = services.import_job_start(job=job, user=world.supervisor, mode="all")
    assert job.status == ImportJob.Status.QUEUED
    wait_for(job, ImportJob.Status.DONE)
    assert (job.status, job.imported_rows) == ("done", 5), "the worker did not finish in 60 s"

    hostile_xlsx = hostile.workbook(
        hostile.sheet_xml(hostile.row(1, "&lol9;") + hostile.row(2, "x"), doctype=hostile.BILLION_LAUGHS)
    )
    bad = services.import_job_create(user=world.supervisor, data=hostile_xlsx, name="laughs.xlsx")
    assert bad.status == ImportJob.Status.CHECKING
    wait_for(bad, ImportJob.Status.REFUSED)
    assert bad.status == ImportJob.Status.REFUSED and "DOCTYPE" in bad.report["file"][0]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_long_export_is_written_by_the_worker_and_downloaded(world, real_celery, settings, client) -> None:  # noqa: F811
    import csv
    import io
    import re

    from django.urls import reverse

    from onboarding.states import State
    from transfers.models import ExportJob

    settings.EXPORT_INLINE_ROWS = 2
    cases = [world.case(State.BRANCH_INTAKE) for _ in range(3)]
    client.force_login(world.supervisor)
    asked = client.get(reverse("transfers:export_csv")).content.decode()
    action = re.search(r'<form method="post" action="([^"]+)">', asked).group(1)
    assert client.post(action).status_code == 302  # queued after commit, to the real broker
    job = ExportJob.objects.get()
    deadline = time.monotonic() + 60
    while job.status == ExportJob.Status.QUEUED and time.monotonic() < deadline:
        time.sleep(0.2)
        job.refresh_from_db()
    assert (job.status, job.rows) == ("ready", 3), "the worker did not write the file in 60 s"
    body = b"".join(client.get(reverse("transfers:export_download", args=[job.public_id])).streaming_content)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert {r[0] for r in rows[1:]} == {c.reference for c in cases}
