"""A case list too long to stream is written by a worker (transfers.export_jobs), from the
reader's side: the list's export link, the page that says why and offers the button, the job's
page, the notice in the bell, the download (only theirs, an access event each time); retries,
refusals and attempts a worker never finished."""

from __future__ import annotations

import datetime as dt
import html
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time
from openpyxl import load_workbook

from audit.models import AccessEvent
from delivery.channels import flush
from notices.models import Notification
from onboarding.states import State
from tests.transfers_helpers import parse_csv, response_bytes
from transfers import export_jobs
from transfers.export_jobs import ExportChannel
from transfers.models import ExportJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def listed(world, settings):
    """Five cases in the supervisor's subtree, one outside it; lists of more than 2 rows go to the worker."""
    settings.EXPORT_INLINE_ROWS = 2
    cases = [world.case(State.BRANCH_INTAKE) for _ in range(4)] + [world.case(State.DRAFT)]
    world.case(State.BRANCH_INTAKE, company=world.company_y)  # branch B: not the supervisor's
    return cases


def _form_action(page: str) -> str:
    """The export form's action as a browser reads it from the page."""
    found = re.search(r'<form method="post" action="([^"]+)">', page)
    assert found, "no export form on the page"
    return html.unescape(found.group(1))


def _ask_and_queue(
    client, url: str, django_capture_on_commit_callbacks, button: str = "在后台生成导出文件"
) -> ExportJob:
    asked = client.get(url)
    page = asked.content.decode()
    assert asked.status_code == 200 and not asked.streaming
    assert f'<button class="primary">{button}</button>' in page
    with django_capture_on_commit_callbacks(execute=False):  # no worker here: the flush runs it below
        queued = client.post(_form_action(page))
    job = ExportJob.objects.order_by("-pk").first()
    assert queued.status_code == 302 and queued["Location"] == reverse("transfers:export", args=[job.public_id])
    return job


def test_a_long_list_is_written_by_the_worker_and_downloaded_by_its_reader(
    world, client, listed, settings, django_capture_on_commit_callbacks
):
    client.force_login(world.supervisor)
    list_page = client.get(reverse("case_list"), {"state": "branch_intake"}).content.decode()
    link = html.unescape(re.search(r'href="([^"]*export\.csv[^"]*)"', list_page).group(1))
    assert link == reverse("transfers:export_csv") + "?state=branch_intake"

    job = _ask_and_queue(client, link, django_capture_on_commit_callbacks)
    assert (job.status, job.expected_rows, job.filters, job.file_format) == ("queued", 4, "state=branch_intake", "csv")
    assert not AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_EXPORT).exists()  # nothing has left yet
    waiting = client.get(reverse("transfers:export", args=[job.public_id])).content.decode()
    assert "生成中" in waiting and 'http-equiv="refresh"' in waiting and "export_download" not in waiting

    assert flush(ExportChannel) == 1  # the beat's flush hands it to a worker (eager here)
    job.refresh_from_db()
    assert (job.status, job.rows, job.attempts) == ("ready", 4, 1)
    assert job.size and len(job.sha256) == 64 and job.stored_name.startswith("exports/")

    # The supervisor is told, with a link to the export's page.
    notices = client.get(reverse("notification_list")).content.decode()
    page_url = reverse("transfers:export", args=[job.public_id])
    assert "导出文件已生成:案件列表 4 行(CSV),请下载" in notices and f'href="{page_url}"' in notices
    ready = client.get(page_url).content.decode()
    download_url = reverse("transfers:export_download", args=[job.public_id])
    assert "已生成" in ready and f'href="{download_url}"' in ready and 'http-equiv="refresh"' not in ready

    downloaded = client.get(download_url)
    assert downloaded.status_code == 200 and downloaded["Content-Type"].startswith("text/csv")
    assert "attachment" in downloaded["Content-Disposition"]
    body = response_bytes(downloaded)
    rows = parse_csv(body)
    # The same file a streamed export of the same list gives.
    settings.EXPORT_INLINE_ROWS = 100
    streamed = parse_csv(response_bytes(client.get(link)))
    assert rows == streamed and len(rows) == 5
    assert {r[0] for r in rows[1:]} == {c.reference for c in listed[:4]}
    event = AccessEvent.objects.filter(kind=AccessEvent.Kind.CASE_EXPORT, data__export=str(job.public_id)).get()
    assert event.actor == world.supervisor and event.data["rows"] == 4 and event.data["format"] == "csv"

    # Nobody else sees or downloads it, not even the supervisor's superiors.
    for other in (world.approver, world.am_a):
        client.force_login(other)
        assert client.get(page_url).status_code == 404
        assert client.get(download_url).status_code == 404


def test_a_short_list_still_streams_at_once(world, client, listed):
    client.force_login(world.supervisor)
    response = client.get(reverse("transfers:export_csv"), {"state": "draft"})
    assert response.status_code == 200 and response.streaming
    assert not ExportJob.objects.exists()


def test_a_background_workbook_is_written_in_the_readers_language(
    world, client, listed, django_capture_on_commit_callbacks
):
    client.force_login(world.supervisor)
    client.cookies["django_language"] = "en"
    job = _ask_and_queue(
        client, reverse("transfers:export_xlsx"), django_capture_on_commit_callbacks, "Write the file in the background"
    )
    assert job.language == "en"
    flush(ExportChannel)
    job.refresh_from_db()
    book = load_workbook(
        io.BytesIO(response_bytes(client.get(reverse("transfers:export_download", args=[job.public_id]))))
    )
    values = [[c.value for c in row] for row in book.worksheets[0].iter_rows()]
    assert values[0][:2] == ["Reference", "Company name"] and len(values) == 6


def test_a_failed_attempt_is_retried_then_given_up_and_the_reader_told(
    world, client, listed, monkeypatch, django_capture_on_commit_callbacks
):
    client.force_login(world.supervisor)
    job = _ask_and_queue(client, reverse("transfers:export_csv"), django_capture_on_commit_callbacks)

    def broken(job):
        raise OSError("documents storage unavailable")

    monkeypatch.setattr(export_jobs, "export_write", broken)
    t0 = timezone.now()
    with freeze_time(t0):
        flush(ExportChannel)
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 1) and "documents storage unavailable" in job.last_error
    assert job.next_attempt_at == t0 + dt.timedelta(seconds=60)
    page = client.get(reverse("transfers:export", args=[job.public_id])).content.decode()
    assert "上次尝试未成功,稍后自动重试" in page
    with freeze_time(t0 + dt.timedelta(seconds=30)):
        assert flush(ExportChannel) == 0  # not yet due
    with freeze_time(t0 + dt.timedelta(seconds=61)):
        flush(ExportChannel)
    with freeze_time(t0 + dt.timedelta(seconds=400)):
        flush(ExportChannel)
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 3) and job.given_up_at is not None
    notice = Notification.objects.get(recipient=world.supervisor, kind="export")
    assert "导出文件未能生成" in notice.message and "documents storage unavailable" in notice.message
    assert "未能生成" in client.get(reverse("transfers:export", args=[job.public_id])).content.decode()
    assert client.get(reverse("transfers:export_download", args=[job.public_id])).status_code == 404
    with freeze_time(t0 + dt.timedelta(hours=2)):
        assert flush(ExportChannel) == 0  # a failed job is never tried again


def test_attempts_a_killed_worker_never_finished_use_up_the_job(
    world, client, listed, django_capture_on_commit_callbacks, settings
):
    client.force_login(world.supervisor)
    job = _ask_and_queue(client, reverse("transfers:export_csv"), django_capture_on_commit_callbacks)
    channel = ExportChannel()
    t = timezone.now()
    for _ in range(channel.max_attempts()):  # each taken, then the worker killed at the time limit
        assert export_jobs._lease(channel, job.pk, t) is not None
        assert export_jobs._lease(channel, job.pk, t) is None  # leased: nobody else takes it meanwhile
        t += dt.timedelta(seconds=settings.EXPORT_TIME_LIMIT + 61)
    assert export_jobs.export_run(channel, job.pk, t) is False
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 3) and "时限" in job.last_error


def test_a_reader_moved_before_the_worker_came_gets_nothing_written(
    world, client, listed, django_capture_on_commit_callbacks
):
    client.force_login(world.supervisor)
    job = _ask_and_queue(client, reverse("transfers:export_csv"), django_capture_on_commit_callbacks)
    assert job.branch == world.tier1
    world.supervisor.branch = world.tier1_other  # moved before the worker came to it
    world.supervisor.save()
    flush(ExportChannel)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.stored_name) == ("failed", 1, "")
    assert job.last_error == "申请人的岗位或机构已变更,未导出"
    assert "导出文件未能生成" in Notification.objects.get(recipient=world.supervisor, kind="export").message


def test_a_filter_that_no_longer_reads_is_refused_with_why(world, client, listed, django_capture_on_commit_callbacks):
    client.force_login(world.supervisor)
    url = reverse("transfers:export_csv") + f"?account_manager={world.am_a.pk}"
    job = _ask_and_queue(client, url, django_capture_on_commit_callbacks)
    world.am_a.branch = world.branch_b  # moved out of the supervisor's subtree: not a manager the list offers
    world.am_a.save()
    flush(ExportChannel)
    job.refresh_from_db()
    assert (job.status, job.stored_name) == ("failed", "")
    assert "筛选条件已不适用" in job.last_error and "客户经理" in job.last_error


def test_a_file_is_not_downloaded_once_its_reader_moved_or_lost_the_role(
    world, client, login, listed, settings, django_capture_on_commit_callbacks
):
    client.force_login(world.supervisor)
    job = _ask_and_queue(client, reverse("transfers:export_csv"), django_capture_on_commit_callbacks)
    flush(ExportChannel)
    download = reverse("transfers:export_download", args=[job.public_id])
    assert client.get(download).status_code == 200
    world.supervisor.branch = world.tier1_other
    world.supervisor.save()
    client.force_login(world.supervisor)
    page = client.get(reverse("transfers:export", args=[job.public_id])).content.decode()
    assert "不能再下载此文件" in page and download not in page
    assert client.get(download).status_code == 404

    # The auditor's export of the log, once the auditor is no longer one.
    from django.contrib.auth.models import Group

    settings.EXPORT_INLINE_ROWS = 0
    auditor = login(client, world.auditor)
    log_job = _ask_and_queue(auditor, reverse("audit_export"), django_capture_on_commit_callbacks)
    flush(ExportChannel)
    log_download = reverse("transfers:export_download", args=[log_job.public_id])
    assert auditor.get(log_download).status_code == 200
    world.auditor.groups.remove(*Group.objects.filter(name="auditor"))
    assert auditor.get(log_download).status_code == 403  # no role left: no staff page at all


def test_filters_too_long_to_keep_are_refused_with_the_reason(world, client, listed):
    client.force_login(world.supervisor)
    refused = client.post(reverse("transfers:export_csv") + "?q=" + "测" * 400)
    assert refused.status_code == 400 and "筛选条件过长" in refused.content.decode()
    assert not ExportJob.objects.exists()


def test_a_long_audit_log_is_written_by_the_worker_for_the_auditor(
    world, client, login, settings, django_capture_on_commit_callbacks
):
    import csv

    from onboarding.models import CaseEvent

    case = world.case(State.BRANCH_INTAKE)
    events = CaseEvent.objects.filter(case=case).count()
    settings.EXPORT_INLINE_ROWS = events - 1
    client = login(client, world.auditor)
    log = client.get(reverse("audit_log"), {"case": case.reference}).content.decode()
    link = html.unescape(re.search(r'href="([^"]*/audit/export\.csv[^"]*)"', log).group(1))
    job = _ask_and_queue(client, link, django_capture_on_commit_callbacks)
    assert (job.kind, job.file_format, job.expected_rows) == ("audit", "csv", 0)  # its length not counted
    flush(ExportChannel)
    job.refresh_from_db()
    assert (job.status, job.rows) == ("ready", events)
    notices = client.get(reverse("notification_list")).content.decode()
    assert f"导出文件已生成:审计日志 {events} 行(CSV),请下载" in notices
    body = response_bytes(client.get(reverse("transfers:export_download", args=[job.public_id])))
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert table[0][0] == "时间 Time" and len(table) == events + 1 and {r[4] for r in table[1:]} == {case.reference}
    assert AccessEvent.objects.filter(kind=AccessEvent.Kind.EXPORT, data__export=str(job.public_id)).count() == 1
    # A case list export page is not the audit log's: the account manager asks, nobody else reads.
    client.force_login(world.am_a)
    assert client.get(link).status_code == 403
    assert client.get(reverse("transfers:export", args=[job.public_id])).status_code == 404


def test_an_attempt_stopped_at_the_time_limit_says_so_and_is_retried(
    world, client, listed, monkeypatch, settings, django_capture_on_commit_callbacks
):
    from celery.exceptions import SoftTimeLimitExceeded

    client.force_login(world.supervisor)
    job = _ask_and_queue(client, reverse("transfers:export_csv"), django_capture_on_commit_callbacks)

    def slow(job):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(export_jobs, "export_write", slow)
    flush(ExportChannel)
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.last_error == f"未能在 {settings.EXPORT_TIME_LIMIT} 秒内完成"
    monkeypatch.undo()
    with freeze_time(timezone.now() + dt.timedelta(seconds=61)):
        flush(ExportChannel)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.rows, job.last_error) == ("ready", 2, 5, "")


def test_a_written_file_is_deleted_after_the_keeping_days_and_the_job_says_so(
    world, client, listed, settings, django_capture_on_commit_callbacks
):
    from django.core.files.storage import storages

    from transfers.tasks import exports_expire

    client.force_login(world.supervisor)
    job = _ask_and_queue(client, reverse("transfers:export_csv"), django_capture_on_commit_callbacks)
    flush(ExportChannel)
    job.refresh_from_db()
    stored = job.stored_name
    assert storages["documents"].exists(stored)
    page_url = reverse("transfers:export", args=[job.public_id])
    assert f"保留 {settings.EXPORT_KEEP_DAYS} 天后删除" in client.get(page_url).content.decode()
    kept = job.finished_at + dt.timedelta(days=settings.EXPORT_KEEP_DAYS)
    with freeze_time(kept - dt.timedelta(minutes=1)):
        assert exports_expire() == 0  # the beat's hourly task: still within the days
    assert client.get(reverse("transfers:export_download", args=[job.public_id])).status_code == 200
    with freeze_time(kept + dt.timedelta(minutes=1)):
        assert exports_expire() == 1
        assert exports_expire() == 0
    job.refresh_from_db()
    assert (job.status, job.stored_name, job.rows) == ("expired", stored, 5) and job.expired_at is not None
    assert not storages["documents"].exists(stored)
    page = client.get(page_url).content.decode()
    assert "已过期" in page and "按保留期限删除" in page and "export_download" not in page
    assert client.get(reverse("transfers:export_download", args=[job.public_id])).status_code == 404


def test_a_file_gone_from_the_storage_is_said_not_a_server_error(
    world, client, listed, django_capture_on_commit_callbacks
):
    from django.core.files.storage import storages

    client.force_login(world.supervisor)
    job = _ask_and_queue(client, reverse("transfers:export_csv"), django_capture_on_commit_callbacks)
    flush(ExportChannel)
    job.refresh_from_db()
    storages["documents"].delete(job.stored_name)  # by other hands than the expiry's
    response = client.get(reverse("transfers:export_download", args=[job.public_id]), follow=True)
    assert response.status_code == 200 and "导出文件已不在存储中,无法下载" in response.content.decode()
    assert not AccessEvent.objects.filter(data__export=str(job.public_id)).exists()  # nothing left the bank


def test_an_export_is_handed_to_the_worker_with_its_own_time_limit(world, settings, monkeypatch):
    from delivery import channels

    sent: list[tuple] = []
    monkeypatch.setattr(channels, "publish", lambda task, *args, **options: sent.append((args, options)) or True)
    settings.EXPORT_TIME_LIMIT = 321
    channels.dispatch("export", [7])
    channels.dispatch("import", [8])
    assert sent[0] == (("export", [7]), {"time_limit": 321, "soft_time_limit": 316})
    assert sent[1] == (("import", [8]), {})  # every other channel keeps CELERY_TASK_TIME_LIMIT
