"""An import job: the file as uploaded (kept as evidence), who brought it in, when, and every row's fate."""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.evidence import NoTruncate


class RowFate(models.TextChoices):
    """What became of one row of the file (the job's report)."""

    VALID = "valid", _("有效,可导入")
    INVALID = "invalid", _("有错误")
    IMPORTED = "imported", _("已导入")
    FAILED = "failed", _("导入失败")
    SKIPPED = "skipped", _("已跳过(有错误)")


class ImportJob(models.Model):
    class Status(models.TextChoices):
        CHECKING = "checking", _("检查中")
        CHECKED = "checked", _("已检查,待确认")
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("导入中")
        DONE = "done", _("已完成")
        REFUSED = "refused", _("未导入")

    class Mode(models.TextChoices):
        ALL = "all", _("全部导入")
        VALID_ONLY = "valid_only", _("仅导入有效行")

    class Kind(models.TextChoices):
        CASES = "cases", _("案件")
        LINKS = "links", _("直联服务")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # What the file's rows are: onboarding cases (with their history) or live links.
    kind = models.CharField(_("导入内容"), max_length=10, choices=Kind.choices, default=Kind.CASES)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The branch whose subtree the import is checked against, and the default branch of its rows.
    branch = models.ForeignKey("branches.Branch", verbose_name=_("导入机构"), on_delete=models.PROTECT)
    # The file, as uploaded: stored under a generated name (storage "documents"), its hash kept.
    original_name = models.CharField(_("文件名"), max_length=255)
    stored_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    file_format = models.CharField(max_length=10)
    encoding = models.CharField(_("编码"), max_length=20, blank=True)
    status = models.CharField(_("状态"), max_length=20, choices=Status.choices, default=Status.CHECKED)
    mode = models.CharField(_("导入方式"), max_length=20, choices=Mode.choices, blank=True)
    total_rows = models.PositiveIntegerField(_("数据行"), default=0)
    valid_rows = models.PositiveIntegerField(_("有效行"), default=0)
    invalid_rows = models.PositiveIntegerField(_("有错误的行"), default=0)
    # Progress of the check (while checking) or of the run: rows handled so far (the next chunk
    # starts there), rows imported.
    processed_rows = models.PositiveIntegerField(_("已处理"), default=0)
    imported_rows = models.PositiveIntegerField(_("已导入"), default=0)
    failed_rows = models.PositiveIntegerField(_("导入失败"), default=0)
    # {"file": [messages], "rows": [{"row", "fate", "errors": [{"column", "message"}], "summary"}]}
    report = models.JSONField(default=dict)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The delivery kernel's columns (transfers.services.ImportChannel): while checked or imported
    # in the background, when the flush queues the job again if no chunk has moved it (a chunk
    # that failed: after its back-off), the failed attempts, the last error, when it was given up.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    given_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")
        ordering = ["-created_at", "-pk"]
        # Evidence (config/evidence.py): the file as uploaded (its name, stored name, hash, size,
        # format), who brought it in, for which branch and when never change, nor who started
        # the import and when once recorded; only the check's and the import's progress
        # columns move, and a finished job (done or refused) never changes again. Never deleted
        # or emptied.
        triggers = [
            pgtrigger.Protect(
                name="finished_jobs_are_final",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__in=["done", "refused"]),
            ),
            pgtrigger.Protect(
                name="only_progress_columns_change",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(
                    exclude=[
                        "encoding",
                        "status",
                        "mode",
                        "total_rows",
                        "valid_rows",
                        "invalid_rows",
                        "processed_rows",
                        "imported_rows",
                        "failed_rows",
                        "report",
                        "started_by",
                        "started_at",
                        "finished_at",
                        "next_attempt_at",
                        "attempts",
                        "last_error",
                        "given_up_at",
                    ]
                ),
            ),
            pgtrigger.Protect(
                name="started_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__started_at__isnull=False)
                & (
                    pgtrigger.Q(old__started_at__df=pgtrigger.F("new__started_at"))
                    | pgtrigger.Q(old__started_by__df=pgtrigger.F("new__started_by"))
                ),
            ),
            pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def progress_percent(self) -> int:
        return 100 if not self.total_rows else min(100, round(100 * self.processed_rows / self.total_rows))

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.CHECKING, self.Status.QUEUED, self.Status.RUNNING)


class ExportJob(models.Model):
    """A list too long to stream in a request (more than EXPORT_INLINE_ROWS rows), written by a worker.

    What was asked (whose, which list, which filters, how many rows it had) never changes; the
    worker fills in the file it wrote (stored under a generated name, its hash and size) once.
    Only the person who asked downloads it, and every download is an access event.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("生成中")
        READY = "ready", _("已生成")
        FAILED = "failed", _("生成失败")
        # The file deleted after EXPORT_KEEP_DAYS (a copy of many companies' data does not lie
        # on the server for ever); the job, the file's name, hash and size stay.
        EXPIRED = "expired", _("已过期")

    class Kind(models.TextChoices):
        CASES = "cases", _("案件列表")
        AUDIT = "audit", _("审计日志")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("导出内容"), max_length=10, choices=Kind.choices, default=Kind.CASES)
    file_format = models.CharField(_("格式"), max_length=10, choices=Format.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The reader's branch when asked: the file holds what that branch's subtree saw, so a reader
    # moved since neither gets it written nor downloads it.
    branch = models.ForeignKey("branches.Branch", verbose_name=_("申请人机构"), on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now)
    # The list's query string as the page had it (the filters), read again by the worker in the
    # reader's scope as it is then; and how many rows the list held when asked (0: not counted,
    # the audit log's, whose length has no cheap count).
    filters = models.CharField(_("筛选条件"), max_length=2000, blank=True)  # export_jobs.FILTERS_MAX
    expected_rows = models.PositiveIntegerField(_("行数(申请时)"), default=0)
    # The page's language when asked: the file's headers and labels are written in it.
    language = models.CharField(max_length=10, default="zh-hans")
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows = models.PositiveIntegerField(_("行数"), null=True, blank=True)
    stored_name = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    expired_at = models.DateTimeField(_("文件删除时间"), null=True, blank=True)
    # The delivery kernel's columns (transfers.export_jobs.ExportChannel).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    given_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("导出文件")
        verbose_name_plural = _("导出文件")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="export_by_user")]
        # Evidence (config/evidence.py): who asked for which list and when never changes; the
        # file's columns are written once; a ready job changes only into an expired one (its
        # status and when), and a failed or expired job never changes.
        triggers = [
            pgtrigger.Protect(
                name="finished_exports_are_final",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__in=["failed", "expired"]),
            ),
            pgtrigger.Protect(
                name="ready_exports_only_expire",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status="ready")
                & (
                    ~pgtrigger.Q(new__status="expired")
                    | pgtrigger.Q(old__rows__df=pgtrigger.F("new__rows"))
                    | pgtrigger.Q(old__stored_name__df=pgtrigger.F("new__stored_name"))
                    | pgtrigger.Q(old__sha256__df=pgtrigger.F("new__sha256"))
                    | pgtrigger.Q(old__size__df=pgtrigger.F("new__size"))
                    | pgtrigger.Q(old__finished_at__df=pgtrigger.F("new__finished_at"))
                ),
            ),
            pgtrigger.Protect(
                name="export_request_is_fixed",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(
                    exclude=[
                        "status",
                        "rows",
                        "stored_name",
                        "sha256",
                        "size",
                        "finished_at",
                        "expired_at",
                        "next_attempt_at",
                        "attempts",
                        "last_error",
                        "given_up_at",
                    ]
                ),
            ),
            pgtrigger.Protect(name="no_export_delete", operation=pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.get_file_format_display()} ({self.created_at:%Y-%m-%d %H:%M})"
