"""Documents of a case: one `Document` per checklist item (or generated form), many versions.

Nothing here is ever deleted: a new upload or a re-rendered form adds a version and the old
ones stay, with their hash, so what was printed, signed and accepted can be shown later.
"""

from __future__ import annotations

import uuid
from typing import Any

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.evidence import NoTruncate


class DocumentKind(models.TextChoices):
    APPLICATION_FORM = "application_form", _("银企直联申请表")
    SERVICE_AGREEMENT = "service_agreement", _("业务合作协议")
    BUSINESS_LICENCE = "business_licence", _("营业执照复印件(加盖公章)")
    LEGAL_REP_ID = "legal_rep_id", _("法定代表人身份证复印件")
    HANDLER_ID = "handler_id", _("经办人身份证复印件")
    AUTHORISATION_LETTER = "authorisation_letter", _("法人授权委托书")
    TEST_REPORT = "test_report", _("测试报告")
    EBANKING_REGISTRATION = "ebanking_registration", _("电子银行业务注册表")
    PRODUCTION_VERIFICATION_FORM = "production_verification", _("生产验证确认单")
    # Closing a live link (links/requests/termination.py).
    TERMINATION_LETTER = "termination_letter", _("注销申请函(加盖公章)")
    TERMINATION_FORM = "termination_form", _("注销申请书")
    # Changing a live link's operators or accounts/modules: the bank renders it, the company
    # signs and seals it, the scan is kept (links/requests/operator_change.py, account_change.py).
    LINK_CHANGE_FORM = "link_change_form", _("变更申请书")


class RetentionClass(models.TextChoices):
    PERMANENT = "permanent", _("永久保存")
    YEARS_15 = "15y", _("保存15年")


def retention_for(kind: str) -> str:
    """Agreements are kept permanently, other vouchers 15 years."""
    return RetentionClass.PERMANENT if kind == DocumentKind.SERVICE_AGREEMENT else RetentionClass.YEARS_15


class NoDeleteQuerySet(models.QuerySet[Any]):
    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("documents are never deleted")


class Document(models.Model):
    """One checklist item of one case (`generated=False`: the uploaded, signed copy), or the
    forms the bank generated for it (`generated=True`)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey("onboarding.OnboardingCase", on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(_("文件类型"), max_length=40, choices=DocumentKind.choices)
    generated = models.BooleanField(_("系统生成"), default=False)
    retention = models.CharField(_("保管期限"), max_length=20, choices=RetentionClass.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = NoDeleteQuerySet.as_manager()

    class Meta:
        verbose_name = _("文件")
        verbose_name_plural = _("文件")
        ordering = ["case", "kind", "generated"]
        constraints = [
            models.UniqueConstraint(fields=["case", "kind", "generated"], name="one_document_per_case_kind_origin")
        ]
        indexes = [
            # 轮到我办理's documents to review at head office (`documents/queue.py`): a kind's
            # uploaded documents in case order, instead of a scan of every document (the
            # head-office tech's test reports: 54 → 27 ms at 100,000 cases).
            models.Index(
                fields=["kind", "case"], condition=models.Q(generated=False), name="document_uploaded_kind_idx"
            )
        ]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.kind}{':generated' if self.generated else ''}"

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("documents are never deleted")


# The statement triggers on the versions' table that keep `WaitingDocument`: each document a
# statement wrote versions of is looked at again (its row removed, then put back if its latest
# version is undecided and it is an uploaded one), in document order.
WAITING_DOCUMENT_SQL = (
    "DELETE FROM documents_waitingdocument w USING (SELECT DISTINCT document_id FROM {rows}) t"
    " WHERE w.document_id = t.document_id;"
    " INSERT INTO documents_waitingdocument (document_id, case_id, kind, uploaded_by_id)"
    " SELECT d.id, d.case_id, d.kind, v.uploaded_by_id FROM (SELECT DISTINCT document_id FROM {rows}) t"
    " JOIN documents_document d ON d.id = t.document_id AND NOT d.generated"
    " JOIN LATERAL (SELECT dv.decision, dv.uploaded_by_id FROM documents_documentversion dv"
    " WHERE dv.document_id = d.id ORDER BY dv.number DESC LIMIT 1) v ON v.decision = ''"
    " ORDER BY d.id"
    " ON CONFLICT (document_id) DO UPDATE SET case_id = EXCLUDED.case_id, kind = EXCLUDED.kind,"
    " uploaded_by_id = EXCLUDED.uploaded_by_id;"
    " RETURN NULL;"
)


class Decision(models.TextChoices):
    ACCEPTED = "accepted", _("审核通过")
    REJECTED = "rejected", _("退回")


class DocumentVersion(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("版本"))
    original_name = models.CharField(_("原文件名"), max_length=200)
    storage_name = models.CharField(max_length=300, unique=True, editable=False)
    size = models.PositiveBigIntegerField(_("大小(字节)"))
    content_type = models.CharField(max_length=50)
    sha256 = models.CharField(max_length=64, db_index=True)
    # For generated forms: a hash of the case data the form was rendered from, so rendering
    # again from unchanged data returns this version instead of making a new one.
    source_fingerprint = models.CharField(max_length=64, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(_("审核结果"), max_length=10, choices=Decision.choices, blank=True)
    decision_reason = models.TextField(_("退回原因"), blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    objects = NoDeleteQuerySet.as_manager()

    class Meta:
        verbose_name = _("文件版本")
        verbose_name_plural = _("文件版本")
        ordering = ["document", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="unique_version_number_per_document"),
            models.CheckConstraint(
                condition=models.Q(decision="") | models.Q(reviewed_by__isnull=False, reviewed_at__isnull=False),
                name="decision_has_reviewer",
            ),
            models.CheckConstraint(
                condition=~models.Q(decision="rejected") | ~models.Q(decision_reason=""),
                name="rejection_has_reason",
            ),
        ]
        # Evidence (config/evidence.py): reviewed once (decision, reason, reviewer, time) and
        # otherwise never changed, deleted or emptied.
        triggers = [
            pgtrigger.Protect(
                name="reviewed_only_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__decision__df=""),
            ),
            pgtrigger.Protect(
                name="only_review_columns_change",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(exclude=["decision", "decision_reason", "reviewed_by", "reviewed_at"]),
            ),
            pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete),
            NoTruncate(),
            # And `WaitingDocument` (the uploaded documents whose latest version is undecided),
            # after every statement that writes versions, whoever sends it.
            pgtrigger.Trigger(
                name="waiting_document_insert",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func=WAITING_DOCUMENT_SQL.format(rows="new_rows"),
            ),
            pgtrigger.Trigger(
                name="waiting_document_update",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func=WAITING_DOCUMENT_SQL.format(rows="new_rows"),
            ),
            pgtrigger.Trigger(  # refused above; kept exact should a delete ever pass
                name="waiting_document_delete",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows"),
                func=WAITING_DOCUMENT_SQL.format(rows="old_rows"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.number}"

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("document versions are never deleted")

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class WaitingDocument(models.Model):
    """An uploaded document whose latest version nobody has decided yet: what 轮到我办理's
    documents to review are read from (`documents/queue.py`), a few rows per case in progress,
    instead of every document of a kind joined to every candidate case and to its versions.
    Written only by the triggers on the versions' table (PostgreSQL), like `OpenStage`; the
    migration fills it; elsewhere (SQLite) the queue reads the versions themselves. Whether the
    case is still in a stage collecting the document, and in the reader's scope, is read from
    the case: a case goes back and forth between stages without a version being written."""

    document = models.OneToOneField(
        Document, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # Indexed by waiting_document_case_idx (the case first), not by an index of its own.
    case = models.ForeignKey(
        "onboarding.OnboardingCase", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    kind = models.CharField(max_length=40)
    # The latest version's uploader: nobody reviews their own upload.
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )

    class Meta:
        indexes = [
            # The queue's order (case, then kind): head office walks it and stops at 200 pairs;
            # below head office each candidate case's rows are found by it.
            models.Index(fields=["case", "kind"], include=["uploaded_by"], name="waiting_document_case_idx"),
            # A kind's rows (below head office, on PostgreSQL): where few of a kind wait, they are
            # read first and their cases checked, instead of each candidate case looked up in the
            # index above (an account manager's 566 cases in the stages up to the production
            # verification form, for none waiting: 1,243 index pages).
            models.Index(fields=["kind", "case"], include=["uploaded_by"], name="waiting_document_kind_idx"),
        ]
