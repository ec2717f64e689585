"""The live link (直联服务) after go-live, its history, and its service requests (issue 22).

The interface other request types build on (kept stable):

- `LiveLink`: one per onboarding case that went live, created by `services.link_create_from_case`
  when the onboarding case enters a live end (`listeners.case_event_heard`, an
  `onboarding.events.listeners` entry: onboarding never imports links). It is the record as
  it is now: the approved company data version, modules, production endpoint, front-end
  certificate (serial, expiry), `status` (正常/已暂停/注销中/已注销), closing date, retention
  date, legal hold. Its UKeys and operators stay in the counter's register on the onboarding
  case (`link.onboarding_case`), so `counter.services` keeps working on them.
- `LinkAccount` and `LinkOperator`: the link's accounts (rights: query, payment) and operators
  (role, UKey) as *versions*: a row is inserted, and later ended once (`ended_at`,
  `ended_event`); a change ends the old row and inserts a new one
  (`services.link_accounts_replace`, `services.link_operator_rotate`). The current set is
  `ended_at IS NULL`; the set on a day is read back from the rows. The database refuses any
  other change (triggers below, config/evidence.py).
- `LinkEvent`: the append-only history of the link (`services.link_event`), one row per thing
  that happened, naming the request it belongs to if any.
- `LinkRequest`: the link ↔ request-case relation. A request is an `onboarding.OnboardingCase`
  row of a declared case type (a proxy model with its own stages, `links/requests/<type>.py`,
  registered in `LinksConfig.ready()` from `links.requests.REQUEST_TYPES`). Open it only with
  `services.request_open(link=…, kind=<case type code>, user=…, channel=…)`, which applies the
  launch controls (`services.launch_refusal`) and raises `services.LaunchRefused` (a
  `CaseError` with a Chinese reason) on refusal. The database enforces them too: a partial
  unique constraint (one open request per link and kind) and an insert trigger (nothing new
  while a termination is open, nothing on a closed link). The request closes by itself when its
  case reaches an end state (`is_open` false, `closed_at`), once.

Codes: `LinkRequest.TERMINATION` is the kind of the termination request type (its module may
not exist yet; the launch controls already honour it).
"""

from __future__ import annotations

import uuid
from typing import Any

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from config.evidence import NoTruncate


class LinkStatus(models.TextChoices):
    ACTIVE = "active", _("正常")
    SUSPENDED = "suspended", _("已暂停")
    CLOSING = "closing", _("注销中")
    CLOSED = "closed", _("已注销")


class Channel(models.TextChoices):
    PORTAL = "portal", _("企业客户端")
    COUNTER = "counter", _("柜面")
    BANK = "bank", _("行内")
    SYSTEM = "system", _("系统")


class LiveLink(models.Model):
    """One direct link in service (直联服务), from go-live until it is closed and its records purged."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(_("服务编号"), max_length=24, unique=True, editable=False)
    onboarding_case = models.OneToOneField(
        "onboarding.OnboardingCase",
        verbose_name=_("开通案件"),
        on_delete=models.PROTECT,
        related_name="live_link",
        editable=False,
    )
    enterprise = models.ForeignKey(
        "companies.Enterprise", verbose_name=_("企业"), on_delete=models.PROTECT, related_name="live_links"
    )
    branch = models.ForeignKey(
        "branches.Branch", verbose_name=_("受理机构"), on_delete=models.PROTECT, related_name="live_links"
    )
    company_version = models.ForeignKey(
        "companies.CompanyVersion", verbose_name=_("企业资料版本"), on_delete=models.PROTECT, related_name="+"
    )
    modules = models.JSONField(_("功能模块"), default=list)
    production_endpoint = models.CharField(_("生产地址"), max_length=200, blank=True)
    certificate_serial = models.CharField(_("前置机证书序列号"), max_length=100, blank=True)
    certificate_expires_on = models.DateField(_("证书到期日"), null=True, blank=True)
    status = models.CharField(_("服务状态"), max_length=20, choices=LinkStatus.choices, default=LinkStatus.ACTIVE)
    went_live_at = models.DateTimeField(_("上线时间"), default=timezone.now)
    closed_on = models.DateField(_("注销日期"), null=True, blank=True)
    retention_until = models.DateField(_("档案保存至"), null=True, blank=True)
    legal_hold = models.BooleanField(_("司法/监管保全"), default=False)
    legal_hold_reason = models.CharField(_("保全原因"), max_length=300, blank=True)
    # When `purge_closed_links` removed the personal data past retention (links/purge.py).
    purged_at = models.DateTimeField(_("个人信息清除时间"), null=True, blank=True)
    # The last thing that happened on the link (an event): a year without one is dormant.
    last_activity_at = models.DateTimeField(_("最近业务时间"), default=timezone.now)
    version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("直联服务")
        verbose_name_plural = _("直联服务")
        ordering = ["-went_live_at", "-pk"]
        indexes = [
            models.Index(fields=["branch", "status"]),
            models.Index(fields=["certificate_expires_on"]),
            models.Index(fields=["last_activity_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.enterprise.name}"

    @property
    def is_closed(self) -> bool:
        return self.status == LinkStatus.CLOSED

    def current_accounts(self) -> models.QuerySet[LinkAccount]:
        return self.accounts.filter(ended_at__isnull=True)

    def current_operators(self) -> models.QuerySet[LinkOperator]:
        return self.operators.filter(ended_at__isnull=True)

    @property
    def module_labels(self) -> list[str]:
        from onboarding.terms import Module

        return [str(Module(m).label) for m in self.modules if m in Module.values]


def _versioned_row_triggers() -> list[Any]:
    """A version row: inserted, then ended once (ended_at, ended_event); nothing else ever."""
    return [
        pgtrigger.Protect(
            name="ended_rows_are_final",
            operation=pgtrigger.Update,
            condition=pgtrigger.Q(old__ended_at__isnull=False),
        ),
        pgtrigger.Protect(
            name="only_the_end_is_written",
            operation=pgtrigger.Update,
            condition=pgtrigger.AnyChange(exclude=["ended_at", "ended_event"]),
        ),
        pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete),
        NoTruncate(),
    ]


class LinkAccount(models.Model):
    """One account on the link with its rights, from `started_event` until `ended_event`."""

    link = models.ForeignKey(LiveLink, on_delete=models.PROTECT, related_name="accounts")
    account_number = models.CharField(_("账号"), max_length=40)
    account_name = models.CharField(_("户名"), max_length=200, blank=True)
    opening_branch = models.CharField(_("开户行"), max_length=100, blank=True)
    can_query = models.BooleanField(_("查询"), default=True)
    can_pay = models.BooleanField(_("支付"), default=False)
    started_event = models.ForeignKey("LinkEvent", on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    ended_event = models.ForeignKey("LinkEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("直联账户")
        verbose_name_plural = _("直联账户")
        ordering = ["started_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["link", "account_number"],
                condition=models.Q(ended_at__isnull=True),
                name="one_current_row_per_link_account",
            )
        ]
        triggers = _versioned_row_triggers()

    def __str__(self) -> str:
        return self.account_number


class LinkOperator(models.Model):
    """One operator of the customer on the link, with role and UKey, from start until ended."""

    link = models.ForeignKey(LiveLink, on_delete=models.PROTECT, related_name="operators")
    operator = models.ForeignKey("counter.Operator", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("姓名"), max_length=60)
    role = models.CharField(_("操作员角色"), max_length=20)
    ukey = models.ForeignKey("counter.UKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ukey_serial = models.CharField(_("K宝编号"), max_length=40, blank=True)
    ukey_expires_on = models.DateField(_("证书到期日"), null=True, blank=True)
    started_event = models.ForeignKey("LinkEvent", on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    ended_event = models.ForeignKey("LinkEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("直联操作员")
        verbose_name_plural = _("直联操作员")
        ordering = ["started_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["link", "operator"],
                condition=models.Q(ended_at__isnull=True),
                name="one_current_row_per_link_operator",
            )
        ]
        triggers = _versioned_row_triggers()

    def __str__(self) -> str:
        return f"{self.name} {self.ukey_serial}"

    @property
    def role_label(self) -> str:
        from counter.models import OperatorRole

        return str(OperatorRole(self.role).label) if self.role in OperatorRole.values else self.role


def system_opener(sweep: str) -> str:
    """Who opened what a system check (sweep) opened, in words: "系统(证书到期检查)"."""
    return pgettext("opened by", "系统(%(sweep)s)") % {"sweep": gettext(sweep)}


class LinkEvent(models.Model):
    """The history of a live link: append-only (never changed, deleted or emptied)."""

    class Name(models.TextChoices):
        CREATED = "link_created", _("直联服务建立")
        IMPORTED = "link_imported", _("直联服务导入")
        REQUEST_OPENED = "request_opened", _("提交服务申请")
        REQUEST_CLOSED = "request_closed", _("服务申请办结")
        UKEY_LOST = "ukey_lost", _("UKey挂失")
        UKEY_RELEASED = "ukey_released", _("UKey解除挂失")
        UKEY_REPLACEMENT_MADE = "ukey_replacement_made", _("UKey补办录入")
        UKEY_REPLACED = "ukey_replaced", _("UKey补办生效")
        UKEY_REVOKED = "ukey_revoked", _("UKey注销")
        ACCOUNTS_CHANGED = "accounts_changed", _("账户变更")
        MODULES_CHANGED = "modules_changed", _("功能模块变更")
        OPERATORS_CHANGED = "operators_changed", _("操作员变更")
        CERTIFICATE_RENEWED = "certificate_renewed", _("证书更新")
        COMPANY_VERSION_CHANGED = "company_version_changed", _("企业资料变更")
        STATUS_CHANGED = "status_changed", _("服务状态变更")
        LEGAL_HOLD_SET = "legal_hold_set", _("设置保全")
        LEGAL_HOLD_LIFTED = "legal_hold_lifted", _("解除保全")
        # Certificate renewal, suspension, termination and purge (links/requests/, issue 22).
        CERTIFICATE_SUBMITTED = "certificate_submitted", _("提交更新后的证书")
        RENEWAL_REMINDED = "renewal_reminded", _("证书到期提醒")
        REVOCATION_MADE = "revocation_made", _("UKey注销录入")
        LINK_DISABLED = "link_disabled", _("直联停用")
        PURGED = "purged", _("保存期满清除个人信息")

    link = models.ForeignKey(LiveLink, on_delete=models.PROTECT, related_name="events")
    request = models.ForeignKey("LinkRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    name = models.CharField(_("事件"), max_length=40, choices=Name.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(_("渠道"), max_length=20, choices=Channel.choices, default=Channel.SYSTEM)
    data = models.JSONField(default=dict, blank=True)
    reason = models.TextField(_("原因/说明"), blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("直联服务事件")
        verbose_name_plural = _("直联服务事件")
        ordering = ["created_at", "pk"]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.link_id}:{self.name}"

    @property
    def label(self) -> str:
        return str(self.Name(self.name).label) if self.name in self.Name.values else self.name

    @property
    def actor_label(self) -> str:
        """Who did it: the person, the system check that did (a sweep), or 系统."""
        if self.data.get("sweep"):
            return system_opener(self.data["sweep"])
        return str(self.actor) if self.actor_id is not None else gettext("系统")

    @property
    def reason_text(self) -> str:
        """The reason in the reader's language when the system wrote it (a sweep's), else as written."""
        if self.data.get("reason_msg") and self.data.get("reason_args"):
            from notices.kinds import message

            return message(self.data["reason_msg"], self.data["reason_args"])
        return self.reason

    @property
    def request_summary(self) -> str:
        """A request's opening or closing event, in words: its type, and the end it reached; a
        status change: from → to."""
        from casetypes import declaration

        if self.name == self.Name.STATUS_CHANGED:
            labels = dict(LinkStatus.choices)
            return " → ".join(str(labels.get(self.data.get(k, ""), "")) for k in ("from", "to"))
        if self.name not in (self.Name.REQUEST_OPENED, self.Name.REQUEST_CLOSED):
            return ""
        declared = declaration.CASE_TYPES.get(self.data.get("kind", ""))
        words = [str(declared.label) if declared is not None else self.data.get("kind", "")]
        if self.name == self.Name.REQUEST_CLOSED and self.data.get("state"):
            words.append(declaration.state_label(self.data["state"]))
        if self.data.get("case"):
            words.append(self.data["case"])
        return " · ".join(w for w in words if w)


# The launch controls in the database (PostgreSQL): a new request is refused while the link
# has an open termination (except nothing: a second termination is the unique constraint's),
# and on a closed link. The services refuse first, with the reason in words.
_LAUNCH_CONTROL_SQL = """
IF EXISTS (SELECT 1 FROM links_livelink l WHERE l.id = NEW.link_id AND l.status = 'closed') THEN
    RAISE EXCEPTION 'pgtrigger: Cannot insert a request on a closed link %', NEW.link_id;
END IF;
IF EXISTS (
    SELECT 1 FROM links_linkrequest r
    WHERE r.link_id = NEW.link_id AND r.is_open AND r.kind = 'link_termination'
) THEN
    RAISE EXCEPTION 'pgtrigger: Cannot insert a request while a termination is open on link %', NEW.link_id;
END IF;
RETURN NEW;
"""


class LinkRequest(models.Model):
    """A service request on a live link: the link ↔ request case relation, open until its case ends."""

    TERMINATION = "link_termination"

    link = models.ForeignKey(LiveLink, on_delete=models.PROTECT, related_name="requests")
    case = models.OneToOneField(
        "onboarding.OnboardingCase", on_delete=models.PROTECT, related_name="link_request", editable=False
    )
    kind = models.CharField(_("申请类型"), max_length=40)
    channel = models.CharField(_("渠道"), max_length=20, choices=Channel.choices)
    # The UKey a UKey request is about (loss, replacement); other kinds leave it empty.
    ukey = models.ForeignKey(
        "counter.UKey", null=True, blank=True, on_delete=models.PROTECT, related_name="link_requests"
    )
    details = models.JSONField(default=dict, blank=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)
    is_open = models.BooleanField(default=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("直联服务申请")
        verbose_name_plural = _("直联服务申请")
        ordering = ["-opened_at", "-pk"]
        constraints = [
            # Launch control: at most one open request per link and type.
            models.UniqueConstraint(
                fields=["link", "kind"], condition=models.Q(is_open=True), name="one_open_request_per_link_and_kind"
            )
        ]
        # Evidence: opened once, closed once (is_open, closed_at); never deleted or emptied.
        triggers = [
            pgtrigger.Protect(
                name="closed_requests_are_final",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__is_open=False),
            ),
            pgtrigger.Protect(
                name="only_closing_columns_change",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(exclude=["is_open", "closed_at"]),
            ),
            pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete),
            pgtrigger.Trigger(
                name="launch_controls",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func=_LAUNCH_CONTROL_SQL,
            ),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.link_id}:{self.kind}"

    @property
    def kind_label(self) -> str:
        from casetypes import declaration

        declared = declaration.CASE_TYPES.get(self.kind)
        return str(declared.label) if declared is not None else self.kind

    @property
    def opener_label(self) -> str:
        """Who opened it: the person, or the system check (sweep) that opened it in the account
        manager's name (`opened_by` is then the account manager, whose request it is)."""
        sweep = self.details.get("sweep")
        return system_opener(sweep) if sweep else str(self.opened_by)

    @property
    def reason_text(self) -> str:
        """Why the system opened it, in the reader's language (a periodic review's risk level and
        interval); empty when a person opened it (their words are in `details["reason"]`)."""
        if self.details.get("reason_msg") and self.details.get("reason_args"):
            from notices.kinds import message

            return message(self.details["reason_msg"], self.details["reason_args"])
        return ""


# The request types' proxy models (links/requests/<type>.py) are models of this app.
from . import requests as _request_types  # noqa: E402,F401
