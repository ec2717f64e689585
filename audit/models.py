"""Append-only audit tables: who logged in (or failed to), who read a case outside the
ordinary scope and why. Case history itself is `onboarding.CaseEvent`; the audit view reads both.

Rows are never updated or deleted: the model refuses it, and on PostgreSQL the triggers in
`Meta.triggers` (django-pgtrigger, config/evidence.py) refuse it, and TRUNCATE, in the database too.
"""

from __future__ import annotations

from typing import Any

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.evidence import NoTruncate


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("audit rows are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit rows are append-only")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("audit rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit rows are append-only")


class AccessEvent(AppendOnlyModel):
    class Kind(models.TextChoices):
        LOGIN = "login", _("登录成功")
        LOGIN_FAILED = "login_failed", _("登录失败")
        LOGIN_BLOCKED = "login_blocked", _("登录受限(失败次数过多)")
        LOGOUT = "logout", _("退出")
        CASE_READ = "case_read", _("查阅案件")
        BREAK_GLASS = "break_glass", _("越权查阅申请")
        BREAK_GLASS_READ = "break_glass_read", _("越权查阅")
        EXPORT = "export", _("导出审计记录")
        DOCUMENT_READ = "document_read", _("查阅文件")
        COMPANY_READ = "company_read", _("查阅企业")
        ADMIN_CHANGE = "admin_change", _("后台修改")
        API_CALL = "api_call", _("API 调用")
        CASE_EXPORT = "case_export", _("导出案件列表")

    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What was typed at the login form: failed attempts may name no existing account.
    username = models.CharField(_("用户名"), max_length=150, blank=True)
    # No index of its own: access_case_log_idx leads with it (and serves the foreign key).
    case = models.ForeignKey(
        "onboarding.OnboardingCase", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reason = models.TextField(_("事由"), blank=True)
    ip = models.CharField(_("地址"), max_length=45, blank=True)
    path = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("访问记录")
        verbose_name_plural = _("访问记录")
        ordering = ["created_at", "pk"]
        # The audit log's order (newest first, id as tie-break) without sorting every access.
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="access_log_order_idx"),
            models.Index(fields=["actor", "-created_at", "-id"], name="access_actor_log_idx"),
            # The audit log of one case: its reads newest first, a page of them however often
            # the case was read (the bench's busiest case: 1,868 reads sorted for 51 before).
            models.Index(fields=["case", "-created_at", "-id"], name="access_case_log_idx"),
            # The audit log by person: the names typed at the login form, on the rows that name
            # no person (`selectors.audit_events`; UPPER, as `username__iexact` compares). Partial:
            # a read always has its person, so the reads (nearly every row, one written per page
            # read) never touch it.
            models.Index(
                Upper("username"),
                F("created_at").desc(),
                F("id").desc(),
                name="access_typed_name_idx",
                condition=Q(actor__isnull=True),
            ),
            # The audit log of a small branch: the logins (rows without a case) of its people,
            # each person's newest first. Partial likewise: a read always has its case.
            models.Index(
                fields=["actor", "-created_at", "-id"], name="access_login_idx", condition=Q(case__isnull=True)
            ),
        ]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.kind} {self.username}"


class BreakGlassGrant(AppendOnlyModel):
    """A stated reason that opens one case, read-only, to one person for a short time."""

    class Ground(models.TextChoices):
        JUDICIAL = "judicial", _("司法协助")
        AUDIT = "audit", _("内部审计")
        CUSTOMER_SERVICE = "customer_service", _("客户服务/跨机构协办")
        RISK = "risk", _("风险排查")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey("onboarding.OnboardingCase", on_delete=models.PROTECT, related_name="+")
    ground = models.CharField(_("依据"), max_length=20, choices=Ground.choices)
    reason = models.TextField(_("事由"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("越权查阅授权")
        verbose_name_plural = _("越权查阅授权")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "case", "expires_at"])]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.case_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class CacheFallbackEntry(models.Model):
    """The table of Django's database cache, used by `config.cache.ResilientRedisCache` while
    Redis does not answer: failed-login counters and used TOTP codes survive a Redis outage."""

    cache_key = models.CharField(max_length=255, primary_key=True)
    value = models.TextField()
    expires = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("缓存备用记录")
        verbose_name_plural = _("缓存备用记录")
