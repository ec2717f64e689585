"""Counter work at the outlet (柜面): customer operators, maker–checker entries, the UKey register.

The source rules (seed 003, 第三十六、三十七条): an entry a counter maker (经办柜员) makes takes
effect only when a different counter checker (复核柜员) confirms it; until then the maker may
cancel it. Entries are never deleted, only confirmed or cancelled. Every change here goes
through `counter.services`, which also writes the case event.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from config.evidence import NoTruncate
from onboarding import validators


class OperatorRole(models.TextChoices):
    """Roles of the customer's own e-banking operators (企业网银操作人员)."""

    ADMIN = "admin", _("管理员")
    ENTRY = "entry", _("录入(制单)")
    REVIEW = "review", _("复核")
    AUTHORISE = "authorise", _("授权")


class Operator(models.Model):
    """One person of the customer who will hold a UKey for the direct link."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    case = models.ForeignKey("onboarding.OnboardingCase", on_delete=models.PROTECT, related_name="operators")
    name = models.CharField(_("姓名"), max_length=60)
    id_number = models.CharField(_("身份证号"), max_length=18, validators=[validators.validate_resident_id])
    role = models.CharField(_("操作员角色"), max_length=20, choices=OperatorRole.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # An operator who leaves is marked, not deleted: the register keeps the keys they held.
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("企业操作员")
        verbose_name_plural = _("企业操作员")
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "id_number"],
                condition=models.Q(removed_at__isnull=True),
                name="one_active_operator_per_person_per_case",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}({self.get_role_display()})"  # type: ignore[attr-defined]

    @property
    def masked_id(self) -> str:
        return mask_id(self.id_number)


def mask_id(value: str) -> str:
    return value[:6] + "*" * 8 + value[-4:] if len(value) == 18 else value


class UKey(models.Model):
    """A UKey (K宝) holding one operator's certificate: created when its issuance is confirmed
    at the counter, or recorded as the bank already has it when a live link is imported from the
    bank's spreadsheet (origin 导入: no counter entry, the import job and row instead)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Status(models.TextChoices):
        ISSUED = "issued", _("已发放")
        DOWNLOADED = "downloaded", _("证书已下载")
        ACTIVATED = "activated", _("已激活")
        LOST = "lost", _("已挂失")
        REPLACED = "replaced", _("已补办换新")
        REVOKED = "revoked", _("已注销")

    class Origin(models.TextChoices):
        COUNTER = "counter", _("柜面发放")
        IMPORTED = "imported", pgettext_lazy("ukey origin", "导入")

    case = models.ForeignKey("onboarding.OnboardingCase", on_delete=models.PROTECT, related_name="ukeys")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="ukeys")
    serial = models.CharField(_("K宝编号"), max_length=40, unique=True)
    holder = models.CharField(_("持有人"), max_length=60)
    status = models.CharField(_("状态"), max_length=20, choices=Status.choices, default=Status.ISSUED)
    # While lost, the status to go back to on release (解挂).
    status_before_loss = models.CharField(max_length=20, blank=True, editable=False)
    expires_on = models.DateField(_("证书到期日"))
    # The confirmed counter entry that issued it; none for an imported key (see `origin`).
    issued_entry = models.OneToOneField(
        "CounterEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="issued_ukey", editable=False
    )
    origin = models.CharField(_("来源"), max_length=20, choices=Origin.choices, default=Origin.COUNTER, editable=False)
    # An imported key: the import job, file and row that recorded it.
    import_source = models.JSONField(default=dict, blank=True, editable=False)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by", editable=False
    )
    issued_at = models.DateTimeField(default=timezone.now)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("UKey证书")
        verbose_name_plural = _("UKey证书")
        ordering = ["issued_at", "pk"]
        indexes = [models.Index(fields=["status", "expires_on"])]
        constraints = [
            # Issued through a counter entry (maker and checker), or imported: never neither.
            models.CheckConstraint(
                condition=models.Q(origin="imported") | models.Q(issued_entry__isnull=False),
                name="ukey_issued_by_counter_entry_or_imported",
            )
        ]

    def __str__(self) -> str:
        return self.serial

    @property
    def in_use(self) -> bool:
        """Not yet replaced or revoked (a lost key is still the operator's key until then)."""
        return self.status not in (self.Status.REPLACED, self.Status.REVOKED)


class CounterEntry(models.Model):
    """One maker–checker entry (经办录入 / 复核). Only `counter.services` changes its status."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Kind(models.TextChoices):
        IDENTITY_CHECK = "identity_check", _("临柜身份核验")
        ISSUE_UKEY = "ukey_issuance", _("UKey发放")
        CERT_ACTIVATION = "cert_activation", _("证书激活")

    class Status(models.TextChoices):
        PENDING = "pending", _("待复核")
        CONFIRMED = "confirmed", _("已复核生效")
        CANCELLED = "cancelled", _("已取消")

    class Person(models.TextChoices):
        LEGAL_REP = "legal_rep", _("法定代表人")
        HANDLER = "handler", _("经办人")

    case = models.ForeignKey("onboarding.OnboardingCase", on_delete=models.PROTECT, related_name="counter_entries")
    kind = models.CharField(_("事项"), max_length=20, choices=Kind.choices)
    status = models.CharField(_("状态"), max_length=20, choices=Status.choices, default=Status.PENDING)
    # identity check: who came to the counter and the ID number the maker read from the card
    person = models.CharField(_("到柜人员"), max_length=20, choices=Person.choices, blank=True)
    person_name = models.CharField(_("姓名"), max_length=60, blank=True)
    id_number = models.CharField(_("身份证号"), max_length=18, blank=True)
    # UKey issuance: for whom, which key, until when; replacement names the key it replaces
    operator = models.ForeignKey(Operator, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    serial = models.CharField(_("K宝编号"), max_length=40, blank=True)
    holder = models.CharField(_("持有人"), max_length=60, blank=True)
    expires_on = models.DateField(_("证书到期日"), null=True, blank=True)
    replaces = models.ForeignKey(
        UKey, null=True, blank=True, on_delete=models.PROTECT, related_name="replacement_entries"
    )
    # certificate activation: the key being activated
    ukey = models.ForeignKey(UKey, null=True, blank=True, on_delete=models.PROTECT, related_name="activation_entries")
    notes = models.CharField(_("备注"), max_length=300, blank=True)

    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    made_at = models.DateTimeField(default=timezone.now)
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("柜面录入事项")
        verbose_name_plural = _("柜面录入事项")
        ordering = ["made_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(checker=models.F("maker")), name="counter_entry_checker_is_not_maker"
            ),
        ]
        # Evidence (config/evidence.py): changed once, while pending, by its confirmation or
        # cancellation (status, checker, times); never deleted or emptied.
        triggers = [
            pgtrigger.Protect(
                name="changed_only_while_pending",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__df="pending"),
            ),
            pgtrigger.Protect(
                name="only_check_columns_change",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(exclude=["status", "checker", "checked_at", "cancelled_at"]),
            ),
            pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subject}"  # type: ignore[attr-defined]

    @property
    def subject(self) -> str:
        if self.kind == self.Kind.IDENTITY_CHECK:
            return f"{self.get_person_display()} {self.person_name} {mask_id(self.id_number)}"  # type: ignore[attr-defined]
        ukey = _("K宝")  # outside the f-strings, where makemessages would not find it
        if self.kind == self.Kind.ISSUE_UKEY:
            text = f"{self.operator.name if self.operator else ''} · {ukey} {self.serial}"
            if self.replaces_id:
                text += _("(补办,替换 %(serial)s)") % {"serial": self.replaces.serial}  # type: ignore[union-attr]
            return text
        return f"{self.ukey.operator.name} · {ukey} {self.ukey.serial}" if self.ukey else ""

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING
