"""Writes for documents: upload, review, generated forms, and the download record."""

from __future__ import annotations

import logging
import uuid
from typing import IO, TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import Role, has_role
from branches.scope import case_in_scope
from casetypes import declaration
from casetypes.declaration import StateSet
from onboarding import events
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.services import CaseError, case_write

from . import checklist
from .form_codes import WrongCase, form_code, kind_from_code
from .models import Decision, Document, DocumentKind, DocumentVersion, retention_for
from .validation import CheckedFile, UploadRefused, check_file, read_upload

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

# Bank staff who handle a case's paperwork; auditors only read.
UPLOAD_ROLES = (
    Role.ACCOUNT_MANAGER,
    Role.BRANCH_SUPERVISOR,
    Role.TECH_REVIEWER,
    Role.COUNTER_MAKER,
    Role.COUNTER_CHECKER,
)
INTAKE_REVIEWERS = (Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR)


def review_roles(kind: str) -> tuple[str, ...]:
    """Who reviews a document of `kind`, as the stage that collects it declares (`DocumentNeed.reviewers`)."""
    need = declaration.document_need(kind)
    return need.reviewers if need is not None else ()


CLOSED_STATES = StateSet(declaration.closed_states)


def document_storage() -> Any:
    return storages["documents"]


def _is_case_customer(case: OnboardingCase, user: User) -> bool:
    return user.enterprise_id is not None and user.enterprise_id == case.enterprise_id


def _stage_index(case: OnboardingCase, state: str) -> int:
    order = declaration.case_type_of(case).order
    return order.index(state) if state in order else -1


def _stage_still_open(case: OnboardingCase, req: checklist.Requirement) -> bool:
    """Documents of a stage are collected and reviewed until the case has left that stage."""
    return _stage_index(case, declaration.active_stage(case)) <= _stage_index(case, req.stage)


def upload_refusal(case: OnboardingCase, user: User, kind: str) -> str | None:
    if not case_in_scope(case, user):
        return _("该案件不在您的管辖范围内")
    if not (_is_case_customer(case, user) or has_role(user, *UPLOAD_ROLES)):
        return _("您没有上传文件的权限")
    if case.state in CLOSED_STATES:
        return _("案件已结束,不能再上传文件")
    req = next((r for r in checklist.requirements(case) if r.kind == kind), None)
    if req is None:
        return _("该案件不需要此文件")
    if not _stage_still_open(case, req):
        return _("该文件所属阶段已完成,不能再上传")
    return None


def uploadable_kinds(case: OnboardingCase, user: User) -> set[str]:
    """The kinds `upload_refusal` lets `user` upload to `case`, asked once for the whole
    checklist (the panel asked for each row: the same checks, the case's requirements listed
    once per row)."""
    if not case_in_scope(case, user):
        return set()
    if not (_is_case_customer(case, user) or has_role(user, *UPLOAD_ROLES)):
        return set()
    if case.state in CLOSED_STATES:
        return set()
    first: dict[str, checklist.Requirement] = {}
    for r in checklist.requirements(case):
        first.setdefault(r.kind, r)  # `upload_refusal` looks at each kind's first requirement
    if not first:
        return set()
    order = declaration.case_type_of(case).order
    active = declaration.active_stage(case)
    now = order.index(active) if active in order else -1
    return {kind for kind, r in first.items() if now <= (order.index(r.stage) if r.stage in order else -1)}


def _version_data(version: DocumentVersion, **extra: Any) -> dict[str, Any]:
    """What a document event records: which item, which version, its hash."""
    return {
        "document": version.document.kind,
        "label": str(DocumentKind(version.document.kind).label),
        "version": version.number,
        "version_id": str(version.public_id),
        "sha256": version.sha256,
        **extra,
    }


def _store_version(
    *,
    case: OnboardingCase,
    user: User,
    kind: str,
    generated: bool,
    checked: CheckedFile,
    fingerprint: str = "",
    number: int | None = None,
) -> DocumentVersion:
    """Write the file under a generated name, then the version row; undo the file if the row fails.

    Must run inside a transaction that holds the Document row lock."""
    document = Document.objects.select_for_update().get(case=case, kind=kind, generated=generated)
    latest = document.versions.order_by("-number").first()
    if number is None:
        number = (latest.number if latest else 0) + 1
    name = f"cases/{case.public_id}/{document.public_id}/{uuid.uuid4().hex}{checked.extension}"
    storage = document_storage()
    stored = storage.save(name, ContentFile(checked.data))
    try:
        with transaction.atomic():
            return DocumentVersion.objects.create(
                document=document,
                number=number,
                original_name=checked.original_name,
                storage_name=stored,
                size=checked.size,
                content_type=checked.content_type,
                sha256=checked.sha256,
                source_fingerprint=fingerprint,
                uploaded_by=user,
                uploaded_at=timezone.now(),
            )
    except IntegrityError:
        # The row was refused: the file must not outlive it.
        storage.delete(stored)
        raise


def _ensure_document(case: OnboardingCase, kind: str, generated: bool) -> None:
    Document.objects.get_or_create(
        case=case, kind=kind, generated=generated, defaults={"retention": retention_for(kind)}
    )


def document_upload(
    *, case: OnboardingCase, user: User, kind: str, upload: IO[bytes], name: str, size: int | None = None
) -> DocumentVersion:
    """A new version of a checklist item, checked by content; nothing is kept when refused."""
    refusal = upload_refusal(case, user, kind)
    if refusal:
        raise CaseError(refusal)
    try:
        checked = check_file(read_upload(upload, size=size), name)
    except UploadRefused as exc:
        raise CaseError(exc.message) from None
    stored: list[str] = []
    try:
        # A new version is an append: it cannot overwrite anything, so it is not refused for a
        # page older than the case; it still goes through the door and bumps the version.
        with case_write(case=case, user=user, seen_version=None) as w:
            case = w.case
            _ensure_document(case, kind, False)
            version = _store_version(case=case, user=user, kind=kind, generated=False, checked=checked)
            stored.append(version.storage_name)
            extra = {"uploaded_sha256": checked.uploaded_sha256} if checked.uploaded_sha256 else {}
            events.document_uploaded(
                case=case, actor=user, data=_version_data(version, original_name=version.original_name, **extra)
            )
    except BaseException:
        # The transaction rolled back after the file was written: remove the file too.
        for name_ in stored:
            document_storage().delete(name_)
        raise
    return version


def review_refusal(version: DocumentVersion, user: User) -> str | None:
    document = version.document
    case = document.case
    if document.generated:
        return _("系统生成的表单无需审核")
    roles = review_roles(document.kind)
    if user.enterprise_id is not None or not has_role(user, *roles):
        names = "、".join(str(Role(r).label) for r in roles)
        return _("此文件仅限%(roles)s审核") % {"roles": names}
    if not case_in_scope(case, user):
        return _("该案件不在您的管辖范围内")
    if version.uploaded_by_id == user.pk:
        return _("不能审核自己上传的文件")
    if version.decision:
        return _("该版本已审核")
    if case.state in CLOSED_STATES:
        return _("案件已结束")
    req = next((r for r in checklist.requirements(case) if r.kind == document.kind), None)
    if req is None or not _stage_still_open(case, req):
        return _("该文件所属阶段已完成")
    return None


def document_review(
    *, version: DocumentVersion, user: User, accept: bool, reason: str = "", expected_version: int | None = None
) -> DocumentVersion:
    """Accept or reject the latest version of an uploaded item (reason required to reject)."""
    reason = reason.strip()
    if not accept and not reason:
        raise CaseError(_("退回须填写原因"))
    with case_write(case=version.document.case, user=user, seen_version=expected_version):
        locked = DocumentVersion.objects.select_related("document__case__enterprise", "document__case__branch").get(
            pk=version.pk
        )
        latest = DocumentVersion.objects.filter(document_id=locked.document_id).order_by("-number").first()
        if latest is None or latest.pk != locked.pk:
            raise CaseError(_("已有更新的版本,请审核最新版本"))
        refusal = review_refusal(locked, user)
        if refusal:
            raise CaseError(refusal)
        locked.decision = Decision.ACCEPTED if accept else Decision.REJECTED
        locked.decision_reason = "" if accept else reason
        locked.reviewed_by = user
        locked.reviewed_at = timezone.now()
        locked.save(update_fields=["decision", "decision_reason", "reviewed_by", "reviewed_at"])
        case = locked.document.case
        if accept:
            events.document_accepted(case=case, actor=user, data=_version_data(locked))
        else:
            events.document_rejected(case=case, actor=user, data=_version_data(locked), reason=reason)
    return locked


def documents_accept(
    *, case: OnboardingCase, user: User, versions: list[DocumentVersion], expected_version: int | None = None
) -> list[DocumentVersion]:
    """Accept several uploaded documents in one action: each decision recorded one by one, as
    `document_review` records it (its own event and version bump), all or none: one refusal
    (naming the document) leaves every other undecided."""
    if not versions:
        raise CaseError(_("请勾选要审核通过的文件"))
    accepted = []
    with transaction.atomic():
        seen = expected_version
        for version in versions:
            if version.document.case_id != case.pk:
                raise CaseError(_("文件不属于本案件"))
            try:
                accepted.append(document_review(version=version, user=user, accept=True, expected_version=seen))
            except CaseError as exc:
                label = DocumentKind(version.document.kind).label
                raise CaseError(
                    _("%(label)s:%(why)s(未审核任何文件)") % {"label": label, "why": exc.message}, exc.problems
                ) from None
            seen = version.document.case.version if seen is not None else None
    return accepted


def signed_form_kind(case: OnboardingCase, *, code: str, file_name: str, chosen: str) -> str:
    """Which form a signed scan is: the code typed, else the code in the file's name, else the
    form chosen in the list. A code of another case is refused (never filed under this one)."""
    for text in (code, file_name):
        try:
            kind = kind_from_code(case, text or "")
        except WrongCase as exc:
            raise CaseError(_("表单码 %(code)s 不是本案件的表单") % {"code": exc.code}) from None
        if kind is not None:
            return kind
    if code.strip():
        raise CaseError(_("表单码 %(code)s 无法识别,请核对表单页眉上的表单码") % {"code": code.strip()})
    if chosen:
        return chosen
    raise CaseError(_("请填写表单码或选择表单"))


def signed_form_choices(case: OnboardingCase) -> list[tuple[str, str, str]]:
    """The case's generated forms a signed scan may be uploaded for: (kind, label, code)."""
    return [
        (r.kind, r.label, form_code(case, r.kind))
        for r in checklist.requirements(case)
        if r.kind in checklist.GENERATED_FORMS
    ]


def document_download_record(*, version: DocumentVersion, user: User, inline: bool = False) -> CaseEvent:
    record = events.document_viewed if inline else events.document_downloaded
    return record(case=version.document.case, actor=user, data=_version_data(version))


# --- generated forms -------------------------------------------------------------------------

GENERATE_ROLES = (*UPLOAD_ROLES,)


def generate_refusal(case: OnboardingCase, user: User, kind: str) -> str | None:
    if not case_in_scope(case, user):
        return _("该案件不在您的管辖范围内")
    if not (_is_case_customer(case, user) or has_role(user, *GENERATE_ROLES)):
        return _("您没有生成表单的权限")
    if kind not in checklist.GENERATED_FORMS or kind not in {r.kind for r in checklist.requirements(case)}:
        return _("该案件不需要此表单")
    if case.state in CLOSED_STATES:
        return _("案件已结束")
    return None


def form_generate(*, case: OnboardingCase, user: User, kind: str) -> tuple[DocumentVersion, bool]:
    """Render a filled form and keep it as a version of the case's generated document.

    Returns (version, created). Rendering again from unchanged case data returns the version
    already kept; changed data makes a new version, so what was printed can be shown later.
    """
    from . import forms_pdf

    refusal = generate_refusal(case, user, kind)
    if refusal:
        raise CaseError(refusal)
    context = forms_pdf.form_context(case, kind)
    fingerprint = forms_pdf.fingerprint(kind, context)
    stored: list[str] = []
    try:
        with case_write(case=case, user=user, seen_version=None) as w:
            case = w.case
            _ensure_document(case, kind, True)
            document = Document.objects.get(case=case, kind=kind, generated=True)
            latest = document.versions.order_by("-number").first()
            if latest is not None and latest.source_fingerprint == fingerprint:
                w.unchanged()
                return latest, False
            number = (latest.number if latest else 0) + 1
            now = timezone.now()
            pdf = forms_pdf.render_form(kind, context, number=number, generated_at=now)
            label = str(DocumentKind(kind).label)
            checked = CheckedFile(
                data=pdf,
                content_type="application/pdf",
                extension=".pdf",
                # The form code in the name: a signed scan saved under it finds its form.
                original_name=f"{label}-{case.reference}-{form_code(case, kind)}-v{number}.pdf",
                sha256=forms_pdf.sha256(pdf),
            )
            version = _store_version(
                case=case,
                user=user,
                kind=kind,
                generated=True,
                checked=checked,
                fingerprint=fingerprint,
                number=number,
            )
            stored.append(version.storage_name)
            events.form_generated(case=case, actor=user, data=_version_data(version))
    except BaseException:
        for name_ in stored:
            document_storage().delete(name_)
        raise
    return version, True
