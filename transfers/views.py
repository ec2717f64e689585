"""Import page (upload, check, confirm, progress), the template files, and case-list exports (streamed, or written by a worker)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit import selectors as audit_selectors
from audit.exports import audit_filters, audit_rows, csv_lines
from audit.models import AccessEvent
from audit.selectors import is_auditor
from audit.services import access_record
from onboarding.web import AuthenticatedHttpRequest, case_list_filtered, staff_required

from . import columns, export_jobs, exports, services
from . import links as link_rows
from .forms import ImportStartForm, ImportUploadForm
from .models import ExportJob, ImportJob, RowFate

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
log = logging.getLogger(__name__)


def _importer(request: AuthenticatedHttpRequest) -> None:
    if not services.may_import(request.user):
        raise PermissionDenied


@staff_required
def import_page(request: AuthenticatedHttpRequest, kind: str = ImportJob.Kind.CASES) -> HttpResponse:
    """Upload and check a file of cases (`/transfers/import/`) or of live links (`…/import/links/`)."""
    _importer(request)
    form = ImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_job_create(
                user=request.user,
                data=upload.read(),
                name=upload.name,
                branch=form.cleaned_data["branch"],
                kind=kind,
            )
        except services.ImportRefused as exc:
            messages.error(request, exc.message)
        else:
            return redirect("transfers:job", public_id=job.public_id)
    jobs = services.jobs_for(request.user).filter(kind=kind)[:20]
    links = kind == ImportJob.Kind.LINKS
    return render(
        request,
        "transfers/import.html",
        {
            "form": form,
            "jobs": jobs,
            "links": links,
            "columns": link_rows.COLUMNS if links else columns.COLUMNS,
            "template_note": link_rows.TEMPLATE_NOTE if links else None,
        },
    )


def _job(request: AuthenticatedHttpRequest, public_id: Any) -> ImportJob:
    try:
        return services.jobs_for(request.user).get(public_id=public_id)
    except ImportJob.DoesNotExist:
        raise Http404("no such import") from None


@staff_required
def job_page(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    _importer(request)
    job = _job(request, public_id)
    only_errors = request.GET.get("show") == "errors"
    rows = [
        {**r, "fate_label": dict(RowFate.choices).get(r.get("fate", ""), r.get("fate", ""))}
        for r in job.report.get("rows", [])
        if not only_errors or r.get("errors")
    ]
    return render(
        request,
        "transfers/job.html",
        {
            "job": job,
            "rows": rows,
            "file_problems": job.report.get("file", []),
            "only_errors": only_errors,
            "can_import_all": job.status == ImportJob.Status.CHECKED and job.valid_rows and not job.invalid_rows,
            "can_import_valid": job.status == ImportJob.Status.CHECKED and job.valid_rows and job.invalid_rows,
        },
    )


@staff_required
@require_POST
def job_start(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    _importer(request)
    job = _job(request, public_id)
    form = ImportStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请选择导入方式"))
        return redirect("transfers:job", public_id=job.public_id)
    try:
        job = services.import_job_start(job=job, user=request.user, mode=form.cleaned_data["mode"])
    except services.ImportRefused as exc:
        messages.error(request, exc.message)
    else:
        if job.status == ImportJob.Status.DONE and job.kind == ImportJob.Kind.LINKS:
            messages.success(request, _("已导入 %(n)d 个直联服务") % {"n": job.imported_rows})
        elif job.status == ImportJob.Status.DONE:
            messages.success(request, _("已导入 %(n)d 个案件") % {"n": job.imported_rows})
        elif job.status == ImportJob.Status.REFUSED:
            messages.error(request, _("导入失败,未写入任何数据"))
        else:
            messages.info(request, _("文件较大,正在后台导入;本页会自动刷新进度"))
    return redirect("transfers:job", public_id=job.public_id)


@staff_required
def template_download(request: AuthenticatedHttpRequest, fmt: str, kind: str = ImportJob.Kind.CASES) -> HttpResponse:
    _importer(request)
    if kind == ImportJob.Kind.LINKS:
        body = link_rows.template_xlsx() if fmt == "xlsx" else link_rows.template_csv()
        response = HttpResponse(body, content_type=XLSX if fmt == "xlsx" else "text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="link-import-template.{fmt}"'
        return response
    if fmt == "xlsx":
        response = HttpResponse(columns.template_xlsx(), content_type=XLSX)
    else:
        response = HttpResponse(columns.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="case-import-template.{fmt}"'
    return response


@staff_required
def export(request: AuthenticatedHttpRequest, fmt: str) -> HttpResponse:
    """The case list as its filters select it, in the user's scope; recorded as an access event.

    Up to EXPORT_INLINE_ROWS rows the file streams at once. A longer list is written by a worker
    (`export_jobs`): the GET says so and offers the button, whose POST queues it.
    """
    form, qs = case_list_filtered(request)
    if form.errors:  # refused, rather than an export of everything or of nothing
        return HttpResponseBadRequest(
            _("筛选条件有误,未导出:%(reasons)s") % {"reasons": export_jobs.filter_problems(form)},
            content_type="text/plain; charset=utf-8",
        )
    if request.method == "POST":
        return _queue(request, fmt, rows=qs.count(), kind=ExportJob.Kind.CASES)
    # Counted up to one row past the limit, which is all that decides between the stream and the
    # worker (7 ms for the whole bank's 100,053 cases, where counting them all took ~350 ms).
    limit = settings.EXPORT_INLINE_ROWS
    rows = qs[: limit + 1].count()
    if rows > limit:
        return _ask(request, fmt, back=reverse("case_list"))
    access_record(
        kind=AccessEvent.Kind.CASE_EXPORT,
        actor=request.user,
        request=request,
        data={"format": fmt, "filters": request.GET.urlencode()[:500], "rows": rows},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    table = exports.rows(qs)
    if fmt == "xlsx":
        response = StreamingHttpResponse(exports.xlsx_stream(table), content_type=XLSX)
    else:
        response = StreamingHttpResponse(exports.csv_stream(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cases-{stamp}.{fmt}"'
    return response  # type: ignore[return-value]


def _queue(request: AuthenticatedHttpRequest, fmt: str, *, rows: int, kind: str) -> HttpResponse:
    """The POST of the page `_ask` draws: the export kept and queued, the reader sent to its page."""
    try:
        job = export_jobs.export_job_create(
            user=request.user, fmt=fmt, params=request.GET, expected_rows=rows, kind=kind
        )
    except export_jobs.ExportRefused as exc:
        return HttpResponseBadRequest(exc.message, content_type="text/plain; charset=utf-8")
    messages.info(request, _("正在后台生成导出文件,完成后会通知您"))
    return redirect("transfers:export", public_id=job.public_id)


def _ask(request: AuthenticatedHttpRequest, fmt: str, *, back: str) -> HttpResponse:
    """The page that says a list is long and offers to have it written in the background: the
    button's POST goes to the same address, the filters in it."""
    return render(
        request,
        "transfers/export_ask.html",
        {
            "limit": settings.EXPORT_INLINE_ROWS,
            "format": dict(ExportJob.Format.choices)[fmt],
            "action": f"{request.path}?{request.GET.urlencode()}",
            "back": f"{back}?{request.GET.urlencode()}" if request.GET else back,
            "jobs": export_jobs.jobs_for(request.user)[:10],
        },
    )


@login_required
def audit_export(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """The audit log as filtered, in CSV, for an auditor: streamed when short, else written by a worker."""
    if not is_auditor(request.user):
        raise PermissionDenied
    _form, filters = audit_filters(request.GET)
    if filters is None:
        messages.error(request, _("筛选条件有误,未导出。"))
        return redirect("audit_log")
    limit = settings.EXPORT_INLINE_ROWS
    # How long the log is, up to one row past the limit (it has no cheap count: a union of
    # every case event and access event).
    rows = len(list(audit_selectors.audit_events(**filters, limit=limit + 1)[: limit + 1]))
    if request.method == "POST":  # how many rows beyond the limit is not known until the worker has them
        return _queue(request, "csv", rows=rows if rows <= limit else 0, kind=ExportJob.Kind.AUDIT)
    if rows > limit:
        return _ask(request, "csv", back=reverse("audit_log"))
    access_record(
        kind=AccessEvent.Kind.EXPORT, actor=request.user, request=request, data={"filters": request.GET.dict()}
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        (line.encode("utf-8") for line in csv_lines(audit_rows(filters))), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


def _export(request: AuthenticatedHttpRequest, public_id: Any) -> ExportJob:
    """One of the reader's own exports; anyone else's is not found."""
    try:
        return export_jobs.jobs_for(request.user).get(public_id=public_id)
    except ExportJob.DoesNotExist:
        raise Http404("no such export") from None


@staff_required
def export_page(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    job = _export(request, public_id)
    return render(
        request,
        "transfers/export.html",
        {
            "job": job,
            "jobs": export_jobs.jobs_for(request.user).exclude(pk=job.pk)[:10],
            "keep_days": settings.EXPORT_KEEP_DAYS,
            "may_have": export_jobs.may_have(request.user, job),
        },
    )


@staff_required
def export_download(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The ready file, to the reader who asked for it; each download an access event."""
    job = _export(request, public_id)
    if job.status != ExportJob.Status.READY or not export_jobs.may_have(request.user, job):
        raise Http404("not ready, or no longer theirs")
    try:
        handle = export_jobs.export_file(job)
    except OSError:  # removed from the storage by other hands: said, and nothing recorded as downloaded
        log.exception("export %s: its file %s cannot be opened", job.public_id, job.stored_name)
        messages.error(request, _("导出文件已不在存储中,无法下载;请从列表重新导出。"))
        return redirect("transfers:export", public_id=job.public_id)
    audit = job.kind == ExportJob.Kind.AUDIT
    access_record(
        kind=AccessEvent.Kind.EXPORT if audit else AccessEvent.Kind.CASE_EXPORT,
        actor=request.user,
        request=request,
        data={"format": job.file_format, "filters": job.filters[:500], "rows": job.rows, "export": str(job.public_id)},
    )
    stamp = timezone.localtime(job.finished_at).strftime("%Y%m%d-%H%M")
    # A streamed file (staff_required's views are typed as returning an HttpResponse).
    return FileResponse(  # type: ignore[return-value]
        handle,
        as_attachment=True,
        filename=f"{'audit' if audit else 'cases'}-{stamp}.{job.file_format}",
        content_type=XLSX if job.file_format == "xlsx" else "text/csv; charset=utf-8",
    )
