"""Exports too long to stream in a request: written by a Celery worker, downloaded when ready.

A case list of more than EXPORT_INLINE_ROWS rows would hold a web worker for as long as the
file takes (100,000 cases: 16-19 s, one of a host's two workers; issue 26). Instead:

1. `export_job_create` keeps what was asked as an `ExportJob` (the reader, the list's query
   string, the format, the page's language, how many rows the list held) and hands it to the
   delivery kernel (`ExportChannel`): queued after commit, or by the channel's flush when the
   broker was away.
2. A worker (`export_run`) takes the job under a lease (its attempt counted first, so a worker
   killed at the time limit still uses up an attempt), selects the cases as the list page would
   for that reader *now* (scope and filters read again: a branch taken out of their subtree since
   is refused, not exported), writes the file outside any transaction into the documents
   storage under a generated name (its SHA-256 and size kept) and marks the job ready, telling
   the reader in the bell with a link to the download. A failure is retried after 1 and 5
   minutes, then the job is failed and the reader told.
3. Only the reader downloads the file, for EXPORT_KEEP_DAYS days (then `exports_expire`, hourly,
   deletes it and marks the job expired); each download is an access event (导出案件列表, or
   the auditor's 导出 of the log), as a streamed export is.

The auditor's export of the audit log goes the same way: a log longer than EXPORT_INLINE_ROWS
rows (its filters can select millions) is written by a worker, as CSV.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import connection, transaction
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.exports import audit_filters, audit_rows, csv_lines
from audit.selectors import is_auditor
from branches.roles import STAFF_ROLES, user_roles
from delivery.channels import Channel, deliver, register
from notices import kinds
from notices.services import notices_create
from onboarding.web import case_list_filtered_for

from . import exports
from .models import ExportJob

if TYPE_CHECKING:
    from accounts.models import User

log = logging.getLogger(__name__)
Status = ExportJob.Status
NOTICE_KIND = "export"
FILTERS_MAX = 2000  # ExportJob.filters' max_length


class ExportRefused(Exception):
    """The list cannot be exported for this reader (now): said to them, not retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def filter_problems(form: Any) -> str:
    """The filter form's errors as one line: which field, and why."""
    return ";".join(f"{form[name].label}:{' '.join(errors)}" for name, errors in form.errors.items())


def export_job_create(
    *, user: User, fmt: str, params: QueryDict, expected_rows: int, kind: str = ExportJob.Kind.CASES
) -> ExportJob:
    """Keep the request for a large export and queue it; refused (ExportRefused) if it cannot be kept whole."""
    query = params.urlencode()
    if len(query) > FILTERS_MAX:
        # Cutting the filters would export another list than the one on the page.
        raise ExportRefused(_("筛选条件过长,未导出"))
    if user.branch_id is None:  # staff only (the views are staff_required)
        raise ExportRefused(_("申请人的岗位或机构已变更,未导出"))
    job = ExportJob.objects.create(
        kind=kind,
        file_format=fmt,
        created_by=user,
        branch_id=user.branch_id,
        filters=query,
        expected_rows=expected_rows,
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    deliver(ExportChannel, [job.pk])
    return job


def jobs_for(user: User) -> Any:
    return ExportJob.objects.filter(created_by=user)


def may_have(user: User, job: ExportJob) -> bool:
    """Whether the job's reader may still have its file (written, or downloaded): the log's to an
    auditor, a case list's to staff still in the branch it was asked from."""
    if not user.is_active or user.pk != job.created_by_id:
        return False
    if job.kind == ExportJob.Kind.AUDIT:
        return is_auditor(user)
    return user.branch_id == job.branch_id and bool(user_roles(user) & STAFF_ROLES)


# --- the worker's side -----------------------------------------------------------------------------


class _Counted:
    """The table's rows, counted as the file is written from them."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self.rows, self.n = rows, 0

    def __iter__(self) -> Iterator[Any]:
        for row in self.rows:
            self.n += 1
            yield row


def _stream(job: ExportJob) -> tuple[Iterator[bytes], _Counted]:
    """The file's bytes as the page would select its rows for the job's reader now."""
    user = job.created_by
    params = QueryDict(job.filters)
    if job.kind == ExportJob.Kind.AUDIT:
        if not may_have(user, job):
            raise ExportRefused(_("申请人的岗位或机构已变更,未导出"))
        form, filters = audit_filters(params)
        if filters is None:
            raise ExportRefused(_("筛选条件已不适用,未导出:%(reasons)s") % {"reasons": filter_problems(form)})
        events = _Counted(audit_rows(filters))
        return (line.encode("utf-8") for line in csv_lines(events)), events
    if not may_have(user, job):
        raise ExportRefused(_("申请人的岗位或机构已变更,未导出"))
    form, qs = case_list_filtered_for(user, params)
    if form.errors:  # the reader's scope or the bank changed since: this list no longer exists for them
        raise ExportRefused(_("筛选条件已不适用,未导出:%(reasons)s") % {"reasons": filter_problems(form)})
    table = _Counted(exports.rows(qs))
    stream = exports.xlsx_stream(table) if job.file_format == ExportJob.Format.XLSX else exports.csv_stream(table)
    return stream, table


def export_write(job: ExportJob) -> tuple[str, str, int, int]:
    """Write the job's file into the documents storage: (stored name, SHA-256, size, rows)."""
    digest, size = hashlib.sha256(), 0
    with translation.override(job.language), tempfile.TemporaryFile() as tmp:
        stream, table = _stream(job)
        for chunk in stream:
            digest.update(chunk)
            size += len(chunk)
            tmp.write(chunk)
        tmp.seek(0)
        stored = storages["documents"].save(f"exports/{uuid.uuid4().hex}.{job.file_format}", File(tmp))
    return stored, digest.hexdigest(), size, table.n


def export_file(job: ExportJob) -> Any:
    """The ready file, opened for reading."""
    return storages["documents"].open(job.stored_name, "rb")


def _lease(channel: ExportChannel, pk: int, now: dt.datetime) -> ExportJob | None:
    """Take a due job: its attempt counted and its next attempt put past the time limit, committed
    before the work starts (a worker killed at the limit leaves the attempt counted)."""
    with transaction.atomic():
        job = channel.due(now).select_for_update(skip_locked=True, of=("self",)).filter(pk=pk).first()
        if job is None:
            return None  # written, given up, not yet due, or another worker has it
        if job.attempts >= channel.max_attempts():  # the last attempt was killed before it could say so
            _fail(job, job.last_error or _("多次未能在时限内完成"), now)
            return None
        job.attempts += 1
        job.next_attempt_at = now + dt.timedelta(seconds=int(settings.EXPORT_TIME_LIMIT) + 60)
        job.save(update_fields=["attempts", "next_attempt_at"])
    return job


def _fail(job: ExportJob, error: str, now: dt.datetime) -> None:
    job.status, job.finished_at, job.given_up_at, job.last_error = Status.FAILED, now, now, error[:300]
    job.save(update_fields=["status", "finished_at", "given_up_at", "last_error"])
    _tell(job)


def _tell(job: ExportJob) -> None:
    """The reader's notice: ready (with the link to download) or failed (with why)."""
    notices_create(
        recipients=[job.created_by],
        case_id=None,
        kind=NOTICE_KIND,
        params={
            "status": job.status,
            "kind": job.kind,  # named by the kind's label, in the reader's language
            "format": job.get_file_format_display(),
            "rows": job.rows if job.rows is not None else job.expected_rows,
            "error": job.last_error,
            "path": reverse("transfers:export", kwargs={"public_id": job.public_id}),
        },
    )


def export_run(channel: ExportChannel, pk: int, now: dt.datetime | None = None) -> bool:
    """One attempt at one export; True when its file was written."""
    job = _lease(channel, pk, now or timezone.now())
    if job is None:
        return False
    try:
        stored, sha256, size, rows = export_write(job)
    except ExportRefused as exc:
        with transaction.atomic():
            job = ExportJob.objects.select_for_update().get(pk=pk)
            if job.finished_at is None:
                _fail(job, exc.message, timezone.now())
        return False
    except Exception as exc:
        log.warning("export %s failed (attempt %d): %s", job.public_id, job.attempts, exc)
        # A limit reached in the middle of a read leaves the connection unusable: start afresh
        # (a worker's task runs outside any transaction; run eagerly inside one, it keeps it).
        if not connection.in_atomic_block:
            connection.close()
        with transaction.atomic():
            job = ExportJob.objects.select_for_update().get(pk=pk)
            if job.finished_at is not None:
                return False
            if isinstance(exc, SoftTimeLimitExceeded):
                error = _("未能在 %(n)s 秒内完成") % {"n": settings.EXPORT_TIME_LIMIT}
            else:
                error = f"{type(exc).__name__}: {exc}"[:300]
            if job.attempts >= channel.max_attempts():
                _fail(job, error, timezone.now())
            else:
                delay = channel.retry_schedule[job.attempts - 1]
                job.last_error, job.next_attempt_at = error, timezone.now() + dt.timedelta(seconds=delay)
                job.save(update_fields=["last_error", "next_attempt_at"])
        return False
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=pk)
        if job.finished_at is not None:  # another attempt finished it meanwhile: that file stands
            return False
        job.status, job.finished_at, job.last_error = Status.READY, timezone.now(), ""
        job.stored_name, job.sha256, job.size, job.rows = stored, sha256, size, rows
        job.save(update_fields=["status", "finished_at", "last_error", "stored_name", "sha256", "size", "rows"])
        _tell(job)
    return True


def exports_expire(now: dt.datetime | None = None) -> int:
    """Delete the files of exports ready for more than EXPORT_KEEP_DAYS days (beat, hourly); returns how many.

    The job stays, marked expired, with its file's name, hash and size: which list left the bank,
    when and to whom is still on record (and every download in the audit log).
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=int(settings.EXPORT_KEEP_DAYS))
    done = 0
    for pk in ExportJob.objects.filter(status=Status.READY, finished_at__lt=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            job = (
                ExportJob.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=Status.READY, finished_at__lt=cutoff)
                .first()
            )
            if job is None:
                continue
            job.status, job.expired_at = Status.EXPIRED, now
            job.save(update_fields=["status", "expired_at"])
            # After the row's change: a file whose deletion failed is still on record as ready.
            storages["documents"].delete(job.stored_name)
        done += 1
    return done


@register
class ExportChannel(Channel):
    """Large exports, one file a task (`export_run`)."""

    key = "export"
    label = gettext_lazy("导出文件")
    model = ExportJob
    # After a failed attempt: 1 min, 5 min, then the job is failed and its reader told.
    retry_schedule = (60, 300)
    flush_seconds_setting = "EXPORT_FLUSH_SECONDS"
    flush_limit = 100
    batch_size = 1  # one file a task: a long export does not hold another behind it
    sent_field = "finished_at"
    time_limit_setting = "EXPORT_TIME_LIMIT"

    def send_ids(self, ids: Sequence[Any], now: dt.datetime | None = None) -> int:
        return sum(1 for pk in ids if export_run(self, pk, now))

    def describe(self, row: ExportJob) -> str:
        return f"{row.created_by_id}: {row} {row.get_status_display()}"


@kinds.renderers.add(key=NOTICE_KIND)
def export_notice(params: dict[str, Any]) -> str:
    words = {**params, "what": ExportJob.Kind(params.get("kind", ExportJob.Kind.CASES)).label}
    if params["status"] == Status.READY:
        return _("导出文件已生成:%(what)s %(rows)s 行(%(format)s),请下载") % words
    return _("导出文件未能生成(%(what)s %(format)s):%(error)s") % words
