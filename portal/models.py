"""Client portal: who belongs to which company's portal, invitations, and the case thread."""

from __future__ import annotations

import uuid
from typing import Any

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.evidence import NoTruncate


class EnterpriseMember(models.Model):
    """An enterprise user's portal membership: a non-guessable id for URLs and the admin flag.

    Kept here rather than on `accounts.User` so the portal owns its own migration. A row is
    created when an invitation is accepted; `services.members_ensure` adds rows for users
    created elsewhere (admin site, demo seed).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="portal_member")
    is_admin = models.BooleanField(_("企业管理员"), default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    removed_at = models.DateTimeField(null=True, blank=True, editable=False)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )

    class Meta:
        verbose_name = _("门户用户")
        verbose_name_plural = _("门户用户")

    def __str__(self) -> str:
        return str(self.user)


class Invitation(models.Model):
    """A single-use, expiring invitation to the portal. Only a hash of the token is stored."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    enterprise = models.ForeignKey("companies.Enterprise", on_delete=models.PROTECT, related_name="invitations")
    email = models.EmailField(_("邮箱"))
    display_name = models.CharField(_("姓名"), max_length=60, blank=True)
    as_admin = models.BooleanField(_("作为企业管理员"), default=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("门户邀请")
        verbose_name_plural = _("门户邀请")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} → {self.enterprise_id}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class CaseMessageQuerySet(models.QuerySet["CaseMessage"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("case messages are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("case messages are append-only")


class CaseMessage(models.Model):
    """One message of the thread between the customer and the bank on a case. Append-only."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey("onboarding.OnboardingCase", on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    from_customer = models.BooleanField(editable=False)
    body = models.TextField(_("内容"), max_length=4000)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    objects = CaseMessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("案件留言")
        verbose_name_plural = _("案件留言")
        ordering = ["created_at", "pk"]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("case messages are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("case messages are append-only")
