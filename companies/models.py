"""Companies (企业) and their settlement accounts, and the versions of their data.

`Enterprise` is the company as it is now; each save of its data also writes an immutable
`CompanyVersion`. A case points to the version it uses: a draft or intake case follows the
company's newest version, a case past intake keeps the version head office approved.
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

from . import validators


class CompanyData(models.Model):
    """The company data the forms, PDFs and guards use (except the credit code, see below)."""

    name = models.CharField(_("企业名称"), max_length=200)
    registered_address = models.CharField(_("注册地址"), max_length=300, blank=True)
    legal_rep_name = models.CharField(_("法定代表人"), max_length=60)
    legal_rep_id_number = models.CharField(
        _("法定代表人身份证号"), max_length=18, validators=[validators.validate_resident_id]
    )
    handler_name = models.CharField(_("经办人"), max_length=60)
    handler_id_number = models.CharField(
        _("经办人身份证号"), max_length=18, validators=[validators.validate_resident_id]
    )
    handler_phone = models.CharField(_("经办人电话"), max_length=30, blank=True)
    authorisation_valid_from = models.DateField(_("授权委托书生效日"), null=True, blank=True)
    authorisation_valid_until = models.DateField(_("授权委托书到期日"), null=True, blank=True)
    authorisation_covers_ebanking = models.BooleanField(_("授权范围包含电子银行业务"), default=False)
    contact_name = models.CharField(_("联系人"), max_length=60, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    contact_email = models.EmailField(_("联系邮箱"), blank=True)

    class Meta:
        abstract = True

    @property
    def handler_is_legal_rep(self) -> bool:
        # ID number and name: the legal representative's ID under another name is no proof.
        return validators.same_person(
            self.handler_name, self.handler_id_number, self.legal_rep_name, self.legal_rep_id_number
        )


# Every versioned field, in the order the difference lists them.
DATA_FIELDS = (
    "name",
    "uscc",
    "registered_address",
    "legal_rep_name",
    "legal_rep_id_number",
    "handler_name",
    "handler_id_number",
    "handler_phone",
    "authorisation_valid_from",
    "authorisation_valid_until",
    "authorisation_covers_ebanking",
    "contact_name",
    "contact_phone",
    "contact_email",
)
ACCOUNT_FIELDS = ("account_number", "account_name", "opening_branch")


class Enterprise(CompanyData):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    uscc = models.CharField(_("统一社会信用代码"), max_length=18, unique=True, validators=[validators.validate_uscc])
    branch = models.ForeignKey(
        "branches.Branch", verbose_name=_("开户机构"), on_delete=models.PROTECT, related_name="enterprises"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "onboarding_enterprise"  # moved from `onboarding`; the table kept its name
        verbose_name = _("企业")
        verbose_name_plural = _("企业")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SettlementAccount(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="accounts")
    account_number = models.CharField(_("账号"), max_length=40)
    account_name = models.CharField(_("户名"), max_length=200)
    opening_branch = models.CharField(_("开户行"), max_length=100, blank=True)

    class Meta:
        db_table = "onboarding_settlementaccount"
        verbose_name = _("结算账户")
        verbose_name_plural = _("结算账户")
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "account_number"], name="unique_account_per_enterprise")
        ]

    def __str__(self) -> str:
        return self.account_number


class AppendOnlyQuerySet(models.QuerySet["CompanyVersion"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("company versions are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("company versions are append-only")


class CompanyVersion(CompanyData):
    """One saved state of a company's data, accounts included. Never changed, never deleted
    (on PostgreSQL its `Meta.triggers` refuse UPDATE, DELETE and TRUNCATE)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("版本号"))
    uscc = models.CharField(_("统一社会信用代码"), max_length=18)
    # [{"account_number", "account_name", "opening_branch"}, ...] in the order entered.
    accounts = models.JSONField(_("结算账户"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("企业资料版本")
        verbose_name_plural = _("企业资料版本")
        ordering = ["enterprise", "number"]
        constraints = [models.UniqueConstraint(fields=["enterprise", "number"], name="one_number_per_company_version")]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("company versions are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("company versions are append-only")

    @property
    def account_numbers(self) -> list[str]:
        return [a["account_number"] for a in self.accounts]

    def values(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in DATA_FIELDS}
