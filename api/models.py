"""API clients (OAuth2 client credentials, scoped to one company or one branch subtree) and idempotency records."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    READ = "read", _("读取")
    WRITE = "write", _("写入")
    # The bank's own test gateway posting observed joint-test transactions; a bank client's
    # scope only, never a company's (api.services.api_client_create refuses it).
    TEST_GATEWAY = "test_gateway", _("测试网关报送")


COMPANY_SCOPES = (Scope.READ, Scope.WRITE)


class ApiClient(models.Model):
    """One OAuth2 application and the service account it acts as.

    The service account is an ordinary user of the company (role enterprise_user) or of the
    branch (staff roles), with no usable password: every API call goes through the same
    selectors and services as a person of that company or branch, so scoping is not
    re-implemented here.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("名称"), max_length=100)
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.PROTECT, related_name="api_client"
    )
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_client")
    enterprise = models.ForeignKey(
        "companies.Enterprise", null=True, blank=True, on_delete=models.PROTECT, related_name="api_clients"
    )
    branch = models.ForeignKey("branches.Branch", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    scopes = models.CharField(_("权限范围"), max_length=50, default="read")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API 客户端")
        verbose_name_plural = _("API 客户端")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(enterprise__isnull=True, branch__isnull=False)
                | models.Q(enterprise__isnull=False, branch__isnull=True),
                name="api_client_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The response to a POST sent with an Idempotency-Key, kept to answer a retry with the same body."""

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key")]
