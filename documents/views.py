"""Document pages. Bank staff and enterprise users share these views: every object is fetched
through a scoped selector (404 outside the user's branch subtree or company) and every rule
is the services' to decide."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from config.once import once
from onboarding.models import OnboardingCase
from onboarding.services import CaseError
from onboarding.web import AuthenticatedHttpRequest, case_for, seen_version, show_case_error

from . import selectors, services
from .downloads import content_disposition
from .forms import ReviewForm, UploadForm
from .models import DocumentKind, DocumentVersion


def _back(request: HttpRequest, case: OnboardingCase) -> HttpResponseRedirect:
    """Back to the page the form was on (the portal passes `next`), else the staff case page."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    if request.user.enterprise_id is not None:  # type: ignore[union-attr]
        return redirect("/portal/")
    return redirect(reverse("case_detail", kwargs={"public_id": case.public_id}) + "#documents")


def _kind(kind: str) -> str:
    return kind if kind in DocumentKind.values else ""


@login_required
@require_POST
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def upload_view(request: AuthenticatedHttpRequest, case_id: Any, kind: str) -> HttpResponse:
    case = case_for(request, case_id)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("请选择要上传的文件"))
        return _back(request, case)
    upload = form.cleaned_data["file"]
    try:
        version = services.document_upload(
            case=case, user=request.user, kind=_kind(kind), upload=upload, name=upload.name, size=upload.size
        )
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(
            request,
            _("已上传:%(label)s 第 %(n)d 版")
            % {"label": DocumentKind(version.document.kind).label, "n": version.number},
        )
    return _back(request, case)


@login_required
@require_POST
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def upload_many_view(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    """Several documents in one post (issue 25): one file per kind, each uploaded, checked and
    recorded by itself exactly as through its own row; a refused one is named with its reason
    and leaves nothing behind, the others stand."""
    case = case_for(request, case_id)
    picked = [
        (_kind(name.removeprefix("file-")), f)
        for name in request.FILES
        if name.startswith("file-")
        for f in request.FILES.getlist(name)[:1]
    ]
    picked = [(kind, f) for kind, f in picked if kind][:20]
    if not picked:
        messages.error(request, _("请选择要上传的文件"))
        return _back(request, case)
    done = []
    for kind, upload in picked:
        try:
            version = services.document_upload(
                case=case, user=request.user, kind=kind, upload=upload, name=upload.name or "", size=upload.size
            )
        except CaseError as exc:
            show_case_error(request, exc)
            case.refresh_from_db()
        else:
            label = DocumentKind(version.document.kind).label
            done.append(_("已上传:%(label)s 第 %(n)d 版") % {"label": label, "n": version.number})
    if done:
        messages.success(request, " ".join(done))
    return _back(request, case)


@login_required
@require_POST
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def upload_signed_view(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    """A signed form's scan in one step: the form is found by the code typed, or by the code
    in the file's name, or as chosen in the list (the page's script pre-selects it)."""
    case = case_for(request, case_id)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("请选择要上传的文件"))
        return _back(request, case)
    upload = form.cleaned_data["file"]
    try:
        kind = services.signed_form_kind(
            case,
            code=request.POST.get("code", "")[:40],
            file_name=upload.name or "",
            chosen=_kind(request.POST.get("kind", "")),
        )
        version = services.document_upload(
            case=case, user=request.user, kind=kind, upload=upload, name=upload.name, size=upload.size
        )
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(
            request,
            _("已上传:%(label)s 第 %(n)d 版")
            % {"label": DocumentKind(version.document.kind).label, "n": version.number},
        )
    return _back(request, case)


@login_required
@require_POST
def review_many_view(request: AuthenticatedHttpRequest, case_id: Any) -> HttpResponse:
    """Accept the ticked documents of a case in one action (each decision recorded by itself)."""
    case = case_for(request, case_id)
    wanted = request.POST.getlist("versions")[:50]
    versions = [selectors.version_get_for_user(user=request.user, public_id=v) for v in wanted if _is_uuid(v)]
    try:
        done = services.documents_accept(
            case=case, user=request.user, versions=versions, expected_version=seen_version(request)
        )
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(request, _("已审核通过 %(n)d 份文件") % {"n": len(done)})
    return _back(request, case)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@login_required
@require_POST
def review_view(request: AuthenticatedHttpRequest, version_id: Any) -> HttpResponse:
    version = selectors.version_get_for_user(user=request.user, public_id=version_id)
    case = version.document.case
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请求无效,请刷新页面"))
        return _back(request, case)
    try:
        services.document_review(
            version=version,
            user=request.user,
            accept=form.cleaned_data["decision"] == "accept",
            reason=form.cleaned_data["reason"],
            expected_version=seen_version(request),
        )
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(request, _("已审核"))
    return _back(request, case)


@login_required
@require_POST
def generate_view(request: AuthenticatedHttpRequest, case_id: Any, kind: str) -> HttpResponse:
    case = case_for(request, case_id)
    try:
        version, created = services.form_generate(case=case, user=request.user, kind=_kind(kind))
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        label = DocumentKind(version.document.kind).label
        if request.POST.get("download"):
            # "Download, sign and upload": the to-do generates (or reuses) the form and hands it over.
            return redirect(reverse("document_download", args=[version.public_id]))
        if created:
            messages.success(request, _("已生成 %(label)s 第 %(n)d 版") % {"label": label, "n": version.number})
        else:
            messages.info(
                request,
                _("资料未变化,沿用 %(label)s 第 %(n)d 版") % {"label": label, "n": version.number},
            )
    return _back(request, case)


@login_required
@require_GET
def document_detail(request: HttpRequest, document_id: Any) -> HttpResponse:
    document = selectors.document_get_for_user(user=request.user, public_id=document_id)
    return render(
        request,
        "documents/document_detail.html",
        {
            "document": document,
            "case": document.case,
            "versions": selectors.document_versions(document=document),
        },
    )


def _send(request: AuthenticatedHttpRequest, public_id: Any, *, inline: bool) -> FileResponse:
    version: DocumentVersion = selectors.version_get_for_user(user=request.user, public_id=public_id)
    handle = services.document_storage().open(version.storage_name, "rb")
    services.document_download_record(version=version, user=request.user, inline=inline)
    response = FileResponse(handle, content_type=version.content_type)
    response["Content-Disposition"] = content_disposition(version.original_name, inline=inline)
    response["Content-Length"] = str(version.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    # An uploaded file shown in the browser runs with no scripts and no same-origin rights.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    return response


@login_required
@require_GET
def download_view(request: AuthenticatedHttpRequest, version_id: Any) -> FileResponse:
    return _send(request, version_id, inline=False)


@login_required
@require_GET
def inline_view(request: AuthenticatedHttpRequest, version_id: Any) -> FileResponse:
    return _send(request, version_id, inline=True)
