"""Import page (upload, check, confirm, progress), the template files, and case-list exports."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.models import AccessEvent
from audit.services import access_record
from onboarding.web import AuthenticatedHttpRequest, case_list_filtered, staff_required

from . import columns, exports, services
from . import links as link_rows
from .forms import ImportStartForm, ImportUploadForm
from .models import ImportJob, RowFate

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
    """The case list as its filters select it, in the user's scope; recorded as an access event."""
    form, qs = case_list_filtered(request)
    if form.errors:  # refused, rather than an export of everything or of nothing
        reasons = ";".join(f"{form[name].label}:{' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(
            _("筛选条件有误,未导出:%(reasons)s") % {"reasons": reasons}, content_type="text/plain; charset=utf-8"
        )
    access_record(
        kind=AccessEvent.Kind.CASE_EXPORT,
        actor=request.user,
        request=request,
        data={"format": fmt, "filters": request.GET.urlencode()[:500], "rows": qs.count()},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    table = exports.rows(qs)
    if fmt == "xlsx":
        response = StreamingHttpResponse(exports.xlsx_stream(table), content_type=XLSX)
    else:
        response = StreamingHttpResponse(exports.csv_stream(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cases-{stamp}.{fmt}"'
    return response  # type: ignore[return-value]
