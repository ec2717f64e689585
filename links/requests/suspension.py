"""Suspension (暂停) and resumption (恢复) of a live link: two requests, declared once each.

A suspension is asked for by the customer (on the portal), decided on risk grounds by the bank
(account manager, supervisor or head office), or proposed by the dormancy sweep
(`links.request_services.dormant_sweep`, beat entry `links-dormant-sweep`) for a link on which
nothing has happened for `LINK_DORMANT_DAYS` (default 365: a settlement account with no
activity for a year is followed up, 《人民币银行结算账户管理办法》). Activity is the link's
history: every `LinkEvent` (a request opened or closed, a UKey lost or replaced, a certificate
renewed, a status change) touches `LiveLink.last_activity_at`. The sweep never suspends by
itself: it opens a request that the branch supervisor reviews. Approval sets the link 已暂停
(a `status_changed` link event); a resumption request, approved, sets it back to 正常.

The customer may withdraw their own request (opened on the portal) while it waits for the
supervisor: 撤回暂停申请 / 撤回恢复申请 (`step(withdraws=True)`, the portal's 撤回 box). A
suspension the bank decided on risk grounds or the dormancy sweep proposed is not theirs to
withdraw (`CustomersOwnRequest`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm import transition

from branches.roles import Role
from casetypes.declaration import Action, CaseType, End, Stage
from onboarding import rules
from onboarding.models import OnboardingCase
from onboarding.workflow import CaseEngine, step

from .common import NotOpener, link_of, request_of, run_effect

if TYPE_CHECKING:
    from accounts.models import User

SUSPENSION = "link_suspension"
SUSPENSION_REVIEW = "link_susp_review"
SUSPENDED = "link_susp_done"
SUSPENSION_DECLINED = "link_susp_declined"
SUSPENSION_WITHDRAWN = "link_susp_withdrawn"

RESUMPTION = "link_resumption"
RESUMPTION_REVIEW = "link_resume_review"
RESUMED = "link_resume_done"
RESUMPTION_DECLINED = "link_resume_declined"
RESUMPTION_WITHDRAWN = "link_resume_withdrawn"


class SuspensionReason(models.TextChoices):
    CUSTOMER = "customer", _("客户申请")
    RISK = "risk", _("风险处置")
    DORMANT = "dormant", _("一年无业务(久悬)")


DECIDERS = (Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER)

LINK_SUSPENSION = CaseType(
    code=SUSPENSION,
    label=_("暂停直联服务"),
    model="links.LinkSuspensionCase",
    stages=(
        Stage(
            SUSPENSION_REVIEW,
            _("暂停申请待审核"),
            holder=Role.BRANCH_SUPERVISOR,
            sla_days=5,
            actions=(Action(Role.BRANCH_SUPERVISOR, _("审核暂停申请"), "link-suspension"),),
            portal_panels=("links/requests/_suspension_portal.html",),
        ),
    ),
    ends=(
        End(SUSPENDED, _("已暂停服务")),
        End(SUSPENSION_DECLINED, _("不予暂停")),
        End(SUSPENSION_WITHDRAWN, _("暂停申请已撤回")),
    ),
    starters=DECIDERS,
)

LINK_RESUMPTION = CaseType(
    code=RESUMPTION,
    label=_("恢复直联服务"),
    model="links.LinkResumptionCase",
    stages=(
        Stage(
            RESUMPTION_REVIEW,
            _("恢复申请待审核"),
            holder=Role.BRANCH_SUPERVISOR,
            sla_days=5,
            actions=(Action(Role.BRANCH_SUPERVISOR, _("审核恢复申请"), "link-suspension"),),
            portal_panels=("links/requests/_suspension_portal.html",),
        ),
    ),
    ends=(
        End(RESUMED, _("已恢复服务")),
        End(RESUMPTION_DECLINED, _("不予恢复")),
        End(RESUMPTION_WITHDRAWN, _("恢复申请已撤回")),
    ),
    starters=DECIDERS,
)


def _status_is(case: Any, status: str, message: str) -> list[str]:
    link = link_of(case)
    if link is None or link.status != status:
        return [message]
    return []


@rules.Guard
def link_in_service(case: Any) -> list[str]:
    return _status_is(case, "active", gettext("只有状态为“正常”的直联服务可以暂停"))


@rules.Guard
def link_suspended(case: Any) -> list[str]:
    return _status_is(case, "suspended", gettext("只有状态为“已暂停”的直联服务可以恢复"))


class CustomersOwnRequest(rules.Allowed):
    """A withdrawal: the company's users, and only of a request the company asked for on the
    portal (not the bank's risk decision, not the dormancy sweep's proposal)."""

    def __init__(self) -> None:
        super().__init__(Role.ENTERPRISE_USER)

    def refusal(self, case: Any, user: Any) -> str | None:
        refused = super().refusal(case, user)
        if refused:
            return refused
        request = request_of(case)
        if request is None or request.channel != "portal":  # links.models.Channel.PORTAL
            return gettext("该申请不是贵司在企业客户端提交的,不能由贵司撤回")
        return None

    def describe(self) -> str:
        return super().describe() + "; only a request the company opened on the portal"


class LinkSuspensionJourney(CaseEngine):
    @transition(
        field="state",
        source=SUSPENSION_REVIEW,
        target=SUSPENDED,
        conditions=[link_in_service],
        permission=NotOpener(*DECIDERS),
        custom=step(_("同意暂停"), done=_("直联服务已暂停")),
    )
    def suspension_approved(self, *, by: User, now: dt.datetime) -> None:
        """The supervisor agrees: the link is suspended (已暂停)."""
        run_effect("link_status", self, by=by, now=now, status="suspended")
        self._enter(SUSPENDED, now)

    @transition(
        field="state",
        source=SUSPENSION_REVIEW,
        target=SUSPENSION_DECLINED,
        permission=NotOpener(*DECIDERS),
        custom=step(_("不予暂停"), done=_("已决定不予暂停"), style="secondary", reason_required=True),
    )
    def suspension_declined(self, *, by: User, now: dt.datetime) -> None:
        """The link stays in service; the reason is on the event."""
        self._enter(SUSPENSION_DECLINED, now)

    @transition(
        field="state",
        source=SUSPENSION_REVIEW,
        target=SUSPENSION_WITHDRAWN,
        permission=CustomersOwnRequest(),
        custom=step(
            _("撤回暂停申请"), done=_("暂停申请已撤回"), style="secondary", reason_required=True, withdraws=True
        ),
    )
    def suspension_withdrawn(self, *, by: User, now: dt.datetime) -> None:
        """The customer no longer wants it, before the decision: the link stays as it is."""
        self._enter(SUSPENSION_WITHDRAWN, now)


class LinkResumptionJourney(CaseEngine):
    @transition(
        field="state",
        source=RESUMPTION_REVIEW,
        target=RESUMED,
        conditions=[link_suspended],
        permission=NotOpener(*DECIDERS),
        custom=step(_("同意恢复"), done=_("直联服务已恢复")),
    )
    def resumption_approved(self, *, by: User, now: dt.datetime) -> None:
        """The supervisor agrees: the link is back in service (正常)."""
        run_effect("link_status", self, by=by, now=now, status="active")
        self._enter(RESUMED, now)

    @transition(
        field="state",
        source=RESUMPTION_REVIEW,
        target=RESUMPTION_DECLINED,
        permission=NotOpener(*DECIDERS),
        custom=step(_("不予恢复"), done=_("已决定不予恢复"), style="secondary", reason_required=True),
    )
    def resumption_declined(self, *, by: User, now: dt.datetime) -> None:
        """The link stays suspended; the reason is on the event."""
        self._enter(RESUMPTION_DECLINED, now)

    @transition(
        field="state",
        source=RESUMPTION_REVIEW,
        target=RESUMPTION_WITHDRAWN,
        permission=CustomersOwnRequest(),
        custom=step(
            _("撤回恢复申请"), done=_("恢复申请已撤回"), style="secondary", reason_required=True, withdraws=True
        ),
    )
    def resumption_withdrawn(self, *, by: User, now: dt.datetime) -> None:
        """The customer withdraws the resumption before the decision: the link stays suspended."""
        self._enter(RESUMPTION_WITHDRAWN, now)


class LinkSuspensionCase(LinkSuspensionJourney, OnboardingCase):
    class Meta:
        proxy = True
        app_label = "links"
        verbose_name = _("暂停直联服务")
        verbose_name_plural = _("暂停直联服务")


class LinkResumptionCase(LinkResumptionJourney, OnboardingCase):
    class Meta:
        proxy = True
        app_label = "links"
        verbose_name = _("恢复直联服务")
        verbose_name_plural = _("恢复直联服务")
