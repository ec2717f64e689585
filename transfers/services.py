"""Writes of the import: keep the file and its check as a job, then import the rows.

1. `file_check` reads the file and checks every row (`validation.Checker`); it writes nothing
   (`manage.py import_cases --dry-run` shows its result).
2. `import_job_create` keeps the file (storage "documents", generated name, SHA-256) and the
   check as an `ImportJob`: still no company, case or event.
3. `import_job_start` checks the file again (the bank moved on since the check) and, if every
   row is valid or the user chose to import only the valid rows, imports: in the request for
   up to IMPORT_INLINE_ROWS rows, in one transaction (a row that fails then leaves nothing);
   beyond that in the background, IMPORT_CHUNK_ROWS rows a task, the job's counters showing
   progress. The chunks go through the delivery kernel (`ImportChannel` below): the first is
   queued on commit, each queues the next; a job no chunk has moved for IMPORT_STALL_SECONDS
   (broker down, a worker lost) is queued again by the channel's flush, and a chunk that fails
   is retried with back-off, then the job is given up. A chunk holds the job row's lock and
   moves its cursor in its own transaction, so a redelivered task never imports a row twice.
   A row that became invalid between the check and its chunk (the company registered
   meanwhile) is recorded as failed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analytics.forecast import case_refresh
from branches.models import Branch
from branches.roles import Role, has_role
from branches.scope import branch_in_subtree
from delivery.channels import Channel, deliver, register
from onboarding.imported import case_create_imported
from onboarding.services import CaseError, enterprise_save

from . import links as link_rows
from .models import ImportJob
from .reading import FileProblem, Table, is_xlsx, read_table, xlsx_inspect
from .validation import Checker, RowCheck, header_problems

if TYPE_CHECKING:
    from accounts.models import User

Status = ImportJob.Status


class ImportRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _kit(kind: str) -> Any:
    """What a job's rows are checked and imported with: cases (default) or live links."""
    if kind == ImportJob.Kind.LINKS:
        return link_rows.header_problems, link_rows.LinkChecker, link_rows.import_row
    return header_problems, Checker, _import_row


def may_import(user: Any) -> bool:
    """Branch supervisors and head office (公金部) import; everyone else is refused (403)."""
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.branch_id is not None
        and has_role(user, Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER)
    )


@dataclass
class FileCheck:
    """The result of checking a file: problems of the file as a whole, or one check per row."""

    table: Table | None
    problems: list[str] = field(default_factory=list)
    rows: list[RowCheck] = field(default_factory=list)
    # A large .xlsx that passed the zip checks but is read by the worker, never by a web request.
    deferred: bool = False

    @property
    def valid(self) -> list[RowCheck]:
        return [r for r in self.rows if r.ok]

    @property
    def invalid(self) -> list[RowCheck]:
        return [r for r in self.rows if not r.ok]

    @property
    def all_valid(self) -> bool:
        return not self.problems and bool(self.rows) and not self.invalid


def _branch_for(user: User, branch: Branch | None) -> Branch:
    branch = branch or user.branch
    if branch is None or not branch_in_subtree(branch, user):
        raise ImportRefused(_("导入机构不在您的管辖范围内"))
    return branch


def file_read(
    *,
    user: User,
    data: bytes,
    name: str,
    branch: Branch | None = None,
    defer_large: bool = False,
    kind: str = ImportJob.Kind.CASES,
) -> FileCheck:
    """Read the file and check its header row (not yet the rows); writes nothing.

    With `defer_large` (a web request), an .xlsx decompressing to more than
    IMPORT_XLSX_INLINE_BYTES gets the checks of its zip directory only (nothing decompressed)
    and comes back `deferred`: the worker scans its XML and parses it."""
    if not may_import(user):
        raise ImportRefused(_("只有分行审核岗和总行可以导入案件"))
    _branch_for(user, branch)
    if len(data) > settings.IMPORT_MAX_BYTES:
        return FileCheck(
            table=None,
            problems=[_("文件超过 %(n)d MB") % {"n": settings.IMPORT_MAX_BYTES // (1024 * 1024)}],
        )
    try:
        if (
            defer_large
            and is_xlsx(data, name)
            and xlsx_inspect(data, scan_xml=False).total_bytes > settings.IMPORT_XLSX_INLINE_BYTES
        ):
            return FileCheck(table=None, deferred=True)  # its XML is scanned and parsed by the worker
        table = read_table(data, name=name, max_rows=settings.IMPORT_MAX_ROWS)
    except FileProblem as exc:
        return FileCheck(table=None, problems=[str(exc)])
    return FileCheck(table=table, problems=_kit(kind)[0](table.headers))


def file_check(
    *, user: User, data: bytes, name: str, branch: Branch | None = None, kind: str = ImportJob.Kind.CASES
) -> FileCheck:
    """Read and check every row of the file; writes nothing."""
    check = file_read(user=user, data=data, name=name, branch=branch, kind=kind)
    if check.table is None or check.problems:
        return check
    checker = _kit(kind)[1](user=user, scope=_branch_for(user, branch), table=check.table)
    check.rows = [checker.check(n, cells) for n, cells in check.table.rows]
    return check


def _row_report(r: RowCheck) -> dict[str, Any]:
    return {
        "row": r.row,
        "fate": "valid" if r.ok else "invalid",
        "errors": [{"column": c, "message": m} for c, m in r.errors],
        "summary": r.summary(),
    }


def _apply_check(job: ImportJob, check: FileCheck) -> None:
    job.report = {"file": check.problems, "rows": [_row_report(r) for r in check.rows]}
    job.total_rows = len(check.rows)
    job.valid_rows = len(check.valid)
    job.invalid_rows = len(check.invalid)
    if check.table is not None:
        job.encoding = check.table.encoding
        job.file_format = check.table.fmt


def import_job_create(
    *, user: User, data: bytes, name: str, branch: Branch | None = None, kind: str = ImportJob.Kind.CASES
) -> ImportJob:
    """Check the file and keep it, with the check, as a job waiting for the user's decision.

    A file of more than IMPORT_INLINE_ROWS rows is kept at once and checked in the background
    (status "checking", progress on its page): checking runs the forms on every row.
    """
    check = file_read(user=user, data=data, name=name, branch=branch, defer_large=True, kind=kind)
    large = check.deferred or (
        check.table is not None and not check.problems and len(check.table.rows) > settings.IMPORT_INLINE_ROWS
    )
    if check.table is not None and not check.problems and not large:
        check = file_check(user=user, data=data, name=name, branch=branch, kind=kind)
    branch = _branch_for(user, branch)
    digest = hashlib.sha256(data).hexdigest()
    ext = "xlsx" if check.table is not None and check.table.fmt == "xlsx" else "csv"
    stored = storages["documents"].save(f"imports/{uuid.uuid4().hex}.{ext}", ContentFile(data))
    job = ImportJob(
        kind=kind,
        created_by=user,
        branch=branch,
        original_name=name[:255],
        stored_name=stored,
        sha256=digest,
        size=len(data),
        file_format=ext,
    )
    _apply_check(job, check)
    if check.problems:
        job.status = Status.REFUSED
        job.finished_at = timezone.now()
    elif large:
        job.status, job.total_rows = Status.CHECKING, len(check.table.rows) if check.table is not None else 0
        job.next_attempt_at = _stall_deadline()
    job.save()
    if large:
        deliver(ImportChannel, [job.pk])
    return job


def _stall_deadline() -> dt.datetime:
    """When the flush queues a background job again if no chunk has moved it by then."""
    return timezone.now() + dt.timedelta(seconds=settings.IMPORT_STALL_SECONDS)


def check_chunk_run(*, job_id: int, size: int | None = None) -> bool:
    """Check the next rows of a large file being checked; True while rows remain. Safe to run twice."""
    size = size or settings.IMPORT_CHECK_CHUNK_ROWS
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(of=("self",)).select_related("created_by", "branch").get(pk=job_id)
        if job.status != Status.CHECKING:
            return False
        try:
            table = read_table(job_file(job), name=job.original_name, max_rows=settings.IMPORT_MAX_ROWS)
        except FileProblem as exc:
            _refuse_file(job, [str(exc)])  # a file refused by its read is refused for good: no retry
            return False
        start = job.processed_rows
        if start == 0:  # a large .xlsx is first read here, not in the request that kept it
            problems = _kit(job.kind)[0](table.headers)
            if problems:
                _refuse_file(job, problems)
                return False
            job.total_rows = len(table.rows)
        checker = _kit(job.kind)[1](user=job.created_by, scope=job.branch, table=table)
        checked = [checker.check(n, cells) for n, cells in table.rows[start : start + size]]
        job.report = {**job.report, "rows": [*job.report.get("rows", []), *(_row_report(r) for r in checked)]}
        job.valid_rows += sum(1 for r in checked if r.ok)
        job.invalid_rows += sum(1 for r in checked if not r.ok)
        job.processed_rows = start + len(checked)
        more = job.processed_rows < len(table.rows)
        if not more:
            job.status, job.processed_rows = Status.CHECKED, 0
        job.next_attempt_at = _stall_deadline()
        job.save()
    return more


def _refuse_file(job: ImportJob, problems: list[str]) -> None:
    """The job of a file that cannot be read or has a wrong header row: refused, nothing checked or imported."""
    job.report = {"file": problems, "rows": []}
    job.valid_rows = job.invalid_rows = job.processed_rows = 0
    job.status, job.finished_at = Status.REFUSED, timezone.now()
    job.save()


def _bulky_xlsx(data: bytes, name: str) -> bool:
    if not is_xlsx(data, name):
        return False
    try:
        return xlsx_inspect(data, scan_xml=False).total_bytes > settings.IMPORT_XLSX_INLINE_BYTES
    except FileProblem:
        return True  # refused by the chunk that reads it, with its reason


def job_file(job: ImportJob) -> bytes:
    with storages["documents"].open(job.stored_name, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != job.sha256:
        raise ImportRefused(_("导入文件与登记的校验值不符,已停止导入"))
    return data


def import_job_start(*, job: ImportJob, user: User, mode: str) -> ImportJob:
    """Import the job's rows (all, or only the valid ones) after checking the file again."""
    if not may_import(user) or job.created_by_id != user.pk:
        raise ImportRefused(_("只有上传该文件的人可以确认导入"))
    if mode not in ImportJob.Mode.values:
        raise ImportRefused(_("请选择导入方式"))
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != Status.CHECKED:
            raise ImportRefused(_("该文件已处理,不能再次导入"))
        limit = settings.IMPORT_INLINE_ROWS
        if job.kind == ImportJob.Kind.LINKS:  # a link row writes more (≈ 45 ms on PostgreSQL here)
            limit = min(limit, link_rows.INLINE_ROWS)
        inline = job.total_rows <= limit
        data = job_file(job) if inline else b""
        if inline and _bulky_xlsx(data, job.original_name):
            inline = False  # a few rows of a bulky .xlsx are still not parsed in this request
        if inline:
            # The bank moved on since the check: check again (a large file's chunks check each row).
            _apply_check(
                job, file_check(user=user, data=data, name=job.original_name, branch=job.branch, kind=job.kind)
            )
        if job.report.get("file") or not job.valid_rows:
            job.save()
            raise ImportRefused(_("没有可导入的有效行"))
        if mode == ImportJob.Mode.ALL and job.invalid_rows:
            job.save()
            raise ImportRefused(_("文件中有错误的行:请改正后重新上传,或选择“仅导入有效行”"))
        job.mode = mode
        job.started_by, job.started_at = user, timezone.now()
        job.processed_rows = job.imported_rows = job.failed_rows = 0
        job.status = Status.RUNNING if inline else Status.QUEUED
        job.next_attempt_at = _stall_deadline()
        job.save()
        if not inline:
            deliver(ImportChannel, [job.pk])
            return job
    if inline:
        _run_inline(job)
        job.refresh_from_db()
    return job


class _RowFailed(Exception):
    def __init__(self, row: int, message: str) -> None:
        super().__init__(message)
        self.row, self.message = row, message


def _run_inline(job: ImportJob) -> None:
    """All rows in one transaction: in mode ALL one failed row leaves nothing imported."""
    try:
        with transaction.atomic():
            while import_chunk_run(job_id=job.pk, size=None, strict=job.mode == ImportJob.Mode.ALL):
                pass
    except _RowFailed as exc:
        job = ImportJob.objects.get(pk=job.pk)
        rows = job.report.get("rows", [])
        for r in rows:
            if r["row"] == exc.row:
                r["fate"], r["errors"] = "failed", [{"column": "", "message": exc.message}]
        job.report = {**job.report, "rows": rows, "file": [_("第 %(n)d 行导入失败,整个文件未导入") % {"n": exc.row}]}
        job.status, job.finished_at = Status.REFUSED, timezone.now()
        job.save()


def _import_row(job: ImportJob, r: RowCheck) -> str:
    """Create the row's company and case; returns the case reference."""
    assert r.branch is not None
    enterprise = enterprise_save(user=job.started_by, data={**r.enterprise, "branch": r.branch}, accounts=r.accounts)  # type: ignore[arg-type]
    case = case_create_imported(
        user=job.started_by,  # type: ignore[arg-type]
        enterprise=enterprise,
        branch=r.branch,
        account_manager=r.account_manager,
        modules=r.modules,
        fields=r.case_fields,
        state=r.state,
        entered=r.entered,
        source={"import_job": str(job.public_id), "file": job.original_name, "row": r.row},
    )
    # The imported events are not the kinds analytics follows: refresh the case's facts once.
    transaction.on_commit(partial(case_refresh, case.pk), robust=True)
    return case.reference


def import_chunk_run(*, job_id: int, size: int | None = None, strict: bool = False) -> bool:
    """Import the next chunk of the job's rows; True while rows remain. Safe to run twice."""
    size = size or settings.IMPORT_CHUNK_ROWS
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(of=("self",)).select_related("started_by", "branch").get(pk=job_id)
        if job.status not in (Status.QUEUED, Status.RUNNING):
            return False
        table = read_table(job_file(job), name=job.original_name, max_rows=settings.IMPORT_MAX_ROWS)
        start = job.processed_rows
        chunk = table.rows[start : start + size]
        report = {r["row"]: r for r in job.report.get("rows", [])}
        _headers, checker_class, import_row = _kit(job.kind)
        checker = checker_class(user=job.started_by, scope=job.branch, table=table)
        for number, cells in chunk:
            entry = report.setdefault(number, {"row": number, "errors": [], "summary": ""})
            if job.mode == ImportJob.Mode.VALID_ONLY and entry.get("fate") == "invalid":
                entry["fate"] = "skipped"
                continue
            r = checker.check(number, cells)
            if not r.ok:
                if strict:
                    raise _RowFailed(number, "; ".join(f"{c}:{m}" for c, m in r.errors))
                entry["fate"], entry["errors"] = "failed", [{"column": c, "message": m} for c, m in r.errors]
                job.failed_rows += 1
                continue
            try:
                with transaction.atomic():
                    reference = import_row(job, r)
            except CaseError as exc:
                message = "; ".join([exc.message, *exc.problems])
                if strict:
                    raise _RowFailed(number, message) from None
                entry["fate"], entry["errors"] = "failed", [{"column": "", "message": message}]
                job.failed_rows += 1
                continue
            entry["fate"], entry["link" if job.kind == ImportJob.Kind.LINKS else "case"] = "imported", reference
            job.imported_rows += 1
        job.processed_rows = start + len(chunk)
        job.status = Status.RUNNING
        more = job.processed_rows < len(table.rows)
        if not more:
            job.status, job.finished_at = Status.DONE, timezone.now()
        job.report = {**job.report, "rows": [report[k] for k in sorted(report)]}
        job.next_attempt_at = _stall_deadline()
        job.save()
    return more


def import_job_step(*, job_id: int) -> bool:
    """The background path: the next chunk of a job being checked or imported; True while rows remain."""
    status = ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    if status == Status.CHECKING:
        return check_chunk_run(job_id=job_id)
    if status in (Status.QUEUED, Status.RUNNING):
        return import_chunk_run(job_id=job_id)
    return False


@register
class ImportChannel(Channel):
    """Large imports, a chunk of rows a task: checked, then imported (`import_job_step`)."""

    key = "import"
    label = gettext_lazy("批量导入")
    model = ImportJob
    # A chunk that fails (the kept file unreadable or altered): 1 min, 5 min, 30 min, then given up.
    retry_schedule = (60, 300, 1800)
    flush_seconds_setting = "IMPORT_FLUSH_SECONDS"
    flush_limit = 100
    sent_field = "finished_at"

    def pending(self) -> Any:
        return self.rows().filter(status__in=(Status.CHECKING, Status.QUEUED, Status.RUNNING), given_up_at__isnull=True)

    def send_ids(self, ids: Sequence[Any], now: dt.datetime | None = None) -> int:
        done = 0
        for job_id in ids:
            try:
                more = import_job_step(job_id=job_id)
            except (ImportRefused, FileProblem, OSError) as exc:
                with transaction.atomic():
                    job = self.pending().select_for_update().filter(pk=job_id).first()
                    if job is not None:
                        self.record_failure([job], getattr(exc, "message", None) or str(exc), now or timezone.now())
                continue
            if more:
                deliver(ImportChannel, [job_id])
            done += 1
        return done

    def on_give_up(self, row: ImportJob, error: str, now: dt.datetime) -> None:
        row.status, row.finished_at = Status.REFUSED, now
        row.report = {
            **row.report,
            "file": [*row.report.get("file", []), _("导入多次失败,已停止:%(e)s") % {"e": error}],
        }
        row.save(update_fields=["status", "finished_at", "report"])

    def describe(self, row: ImportJob) -> str:
        return f"{row.original_name} ({row.get_status_display()}, {row.processed_rows}/{row.total_rows})"


def jobs_for(user: User) -> Any:
    return ImportJob.objects.filter(created_by=user).select_related("branch")
