"""Termination (注销) of a live link: a request declared once.

letter → approval → every UKey revoked → link disabled → closed.

- The customer (portal) or the account manager opens it (`links.request_services.
  termination_open`): the link turns 注销中 and no other request may start on it
  (`LinkRequest.TERMINATION`, the launch controls). The company's letter bearing its seal
  (注销申请函, a required upload) is reviewed by the account manager or supervisor (not the
  uploader); the bank's 注销申请书 with the seal box is rendered as a PDF from the case page.
- The branch supervisor or head office approves, not the person who submitted it.
- The counter revokes every UKey of the link with dual control: a maker enters the revocation
  (the keys in use are listed on a `revocation_made` link event), a checker who is not the maker
  confirms it, and only then are the keys revoked in the counter's register
  (`counter.services.ukey_revoke`) and the link's operator rows ended.
- Head-office tech disables the production connection (a `link_disabled` link event).
- The account manager confirms the closing: the link turns 已注销, its closing date is today
  and its retention date `LINK_RETENTION_YEARS` years later (links/request_services.py).
A rejection or a withdrawal puts the link back in the status it had.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm import transition

from branches.roles import Role
from casetypes.declaration import Action, CaseType, DocumentNeed, End, Stage
from documents.models import DocumentKind
from onboarding import rules
from onboarding.models import OnboardingCase
from onboarding.workflow import CaseEngine, step

from .common import NotMaker, link_of, run_effect

if TYPE_CHECKING:
    from accounts.models import User

CODE = "link_termination"  # = LinkRequest.TERMINATION (the launch controls in the database name it)
LETTER = "link_term_letter"
APPROVAL = "link_term_approval"
REVOCATION = "link_term_revoke"
REVOCATION_CHECK = "link_term_revoke_chk"
DISABLE = "link_term_disable"
CLOSING = "link_term_close"
CLOSED = "link_term_closed"
REJECTED = "link_term_rejected"
WITHDRAWN = "link_term_withdrawn"
REVOCATION_MADE = "revocation_made"  # LinkEvent.Name.REVOCATION_MADE

PANEL = "links/requests/_termination_portal.html"

LINK_TERMINATION = CaseType(
    code=CODE,
    label=_("注销直联服务"),
    model="links.LinkTerminationCase",
    stages=(
        Stage(
            LETTER,
            _("注销申请函待审核"),
            holder=Role.ACCOUNT_MANAGER,
            sla_days=5,
            actions=(Action(Role.ACCOUNT_MANAGER, _("审核加盖公章的注销申请函并提交审批"), "documents"),),
            documents=(
                DocumentNeed(DocumentKind.TERMINATION_LETTER, reviewers=(Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR)),
                DocumentNeed(
                    DocumentKind.TERMINATION_FORM, required=False, reviewers=(Role.ACCOUNT_MANAGER,), generated=True
                ),
            ),
            portal_panels=(PANEL,),
        ),
        Stage(
            APPROVAL,
            _("注销审批"),
            holder=Role.BRANCH_SUPERVISOR,
            sla_days=5,
            actions=(
                Action(Role.BRANCH_SUPERVISOR, _("审批注销申请"), "next-step"),
                Action(Role.HEAD_OFFICE_APPROVER, _("审批注销申请"), "next-step"),
            ),
            portal_panels=(PANEL,),
        ),
        Stage(
            REVOCATION,
            _("UKey注销录入"),
            holder=Role.COUNTER_MAKER,
            sla_days=5,
            actions=(Action(Role.COUNTER_MAKER, _("录入注销该直联服务的全部UKey"), "link-termination"),),
            portal_panels=(PANEL,),
        ),
        Stage(
            REVOCATION_CHECK,
            _("UKey注销复核"),
            holder=Role.COUNTER_CHECKER,
            sla_days=1,
            actions=(Action(Role.COUNTER_CHECKER, _("复核UKey注销"), "link-termination"),),
            portal_panels=(PANEL,),
        ),
        Stage(
            DISABLE,
            _("停用直联"),
            holder=Role.TECH_REVIEWER,
            sla_days=1,
            actions=(Action(Role.TECH_REVIEWER, _("停用生产直联"), "next-step"),),
            portal_panels=(PANEL,),
        ),
        Stage(
            CLOSING,
            _("注销待办结"),
            holder=Role.ACCOUNT_MANAGER,
            sla_days=1,
            actions=(Action(Role.ACCOUNT_MANAGER, _("确认注销办结"), "next-step"),),
            portal_panels=(PANEL,),
        ),
    ),
    ends=(End(CLOSED, _("已注销")), End(REJECTED, _("注销未获批准")), End(WITHDRAWN, _("注销申请已撤回"))),
    starters=(Role.BRANCH_SUPERVISOR,),
)


def ukeys_in_use(case: Any) -> list[Any]:
    """The link's UKeys not yet revoked or replaced (in the counter's register)."""
    from counter.models import UKey

    link = link_of(case)
    if link is None:
        return []
    return list(
        UKey.objects.filter(case_id=link.onboarding_case_id)
        .exclude(status__in=(UKey.Status.REPLACED, UKey.Status.REVOKED))
        .select_related("operator")
        .order_by("pk")
    )


@rules.Guard
def letter_accepted(case: Any) -> list[str]:
    from documents.checklist import stage_problems

    return stage_problems(case, LETTER)


@rules.Guard
def all_ukeys_revoked(case: Any) -> list[str]:
    left = ukeys_in_use(case)
    if left:
        return [gettext("以下UKey尚未注销:%(s)s") % {"s": "、".join(k.serial for k in left)}]
    return []


class LinkTerminationJourney(CaseEngine):
    @transition(
        field="state",
        source=LETTER,
        target=APPROVAL,
        conditions=[letter_accepted],
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(_("提交注销审批"), done=_("已提交注销审批")),
    )
    def termination_submitted(self, *, by: User, now: dt.datetime) -> None:
        """The sealed letter is accepted; the supervisor or head office approves next."""
        self.submitted_by = by
        self._enter(APPROVAL, now)

    @transition(
        field="state",
        source=LETTER,
        target=WITHDRAWN,
        permission=rules.Allowed(Role.ACCOUNT_MANAGER, Role.ENTERPRISE_USER),
        custom=step(
            _("撤回注销申请"), done=_("注销申请已撤回"), style="secondary", reason_required=True, withdraws=True
        ),
    )
    def termination_withdrawn(self, *, by: User, now: dt.datetime) -> None:
        """Withdrawn before approval: the link goes back to its status."""
        run_effect("status_back", self, by=by, now=now)
        self._enter(WITHDRAWN, now)

    @transition(
        field="state",
        source=APPROVAL,
        target=REVOCATION,
        permission=rules.Allowed(Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER, not_submitter=True),
        custom=step(_("批准注销"), done=_("注销已批准,等待柜面注销UKey")),
    )
    def termination_approved(self, *, by: User, now: dt.datetime) -> None:
        """Approved (not by the submitter); the counter revokes the UKeys next."""
        self._enter(REVOCATION, now)

    @transition(
        field="state",
        source=APPROVAL,
        target=REJECTED,
        permission=rules.Allowed(Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER, not_submitter=True),
        custom=step(_("不予注销"), done=_("注销未获批准"), style="warning", reason_required=True),
    )
    def termination_rejected(self, *, by: User, now: dt.datetime) -> None:
        """Not approved: the link goes back to its status."""
        run_effect("status_back", self, by=by, now=now)
        self._enter(REJECTED, now)

    @transition(
        field="state",
        source=REVOCATION,
        target=REVOCATION_CHECK,
        permission=rules.Allowed(Role.COUNTER_MAKER),
        custom=step(_("提交UKey注销复核"), done=_("UKey注销已录入,等待柜面复核")),
    )
    def termination_revocation_entered(self, *, by: User, now: dt.datetime) -> None:
        """The maker lists the keys to revoke (a link event); the checker holds the request."""
        run_effect("revocation_made", self, by=by, now=now)
        self._enter(REVOCATION_CHECK, now)

    @transition(
        field="state",
        source=REVOCATION_CHECK,
        target=DISABLE,
        permission=NotMaker(Role.COUNTER_CHECKER, made=REVOCATION_MADE),
        custom=step(_("复核通过,注销全部UKey"), done=_("全部UKey已注销,等待停用直联")),
    )
    def termination_revocation_confirmed(self, *, by: User, now: dt.datetime) -> None:
        """A checker who is not the maker confirms: every key in use is revoked in the register."""
        run_effect("revocation_confirmed", self, by=by, now=now)
        self._enter(DISABLE, now)

    @transition(
        field="state",
        source=REVOCATION_CHECK,
        target=REVOCATION,
        permission=rules.Allowed(Role.COUNTER_CHECKER, Role.COUNTER_MAKER),
        custom=step(_("退回柜面经办"), done=_("已退回柜面经办重新录入"), style="warning", reason_required=True),
    )
    def termination_revocation_returned(self, *, by: User, now: dt.datetime) -> None:
        """The list is wrong (a key was added meanwhile): the maker enters it again."""
        self._enter(REVOCATION, now)

    @transition(
        field="state",
        source=DISABLE,
        target=CLOSING,
        conditions=[all_ukeys_revoked],
        permission=rules.Allowed(Role.TECH_REVIEWER),
        custom=step(_("已停用直联"), done=_("生产直联已停用,等待确认办结")),
    )
    def termination_disabled(self, *, by: User, now: dt.datetime) -> None:
        """Head-office tech disabled the production connection."""
        run_effect("link_disabled", self, by=by, now=now)
        self._enter(CLOSING, now)

    @transition(
        field="state",
        source=CLOSING,
        target=CLOSED,
        conditions=[all_ukeys_revoked],
        permission=rules.Allowed(Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR),
        custom=step(_("确认注销办结"), done=_("直联服务已注销")),
    )
    def termination_closed(self, *, by: User, now: dt.datetime) -> None:
        """Closed: 已注销, the closing date, and the retention date counted from it."""
        run_effect("link_closed", self, by=by, now=now)
        self._enter(CLOSED, now)


class LinkTerminationCase(LinkTerminationJourney, OnboardingCase):
    class Meta:
        proxy = True
        app_label = "links"
        verbose_name = _("注销直联服务")
        verbose_name_plural = _("注销直联服务")
