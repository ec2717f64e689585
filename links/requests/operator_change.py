"""Operator change (操作员变更): add an operator, remove one, or change one's role (经办/复核/授权).

The customer (portal) or the account manager (staff link page) asks for it
(`links.changes.operator_change_open`): the request names what changes (`LinkRequest.details`:
``action`` add/remove/role, and the operator or the new person). The account manager reviews
it (approve, or reject with a reason, on the request's case page). The counter carries it out
with dual control: the maker records it (`changes.operator_change_make`; for an added operator
this names the person in the counter's register and enters the new K宝, a pending counter
entry), and a counter checker who is not the maker confirms it (`changes.operator_change_confirm`):
the new key takes effect, a removed operator's keys are revoked, the link's operator rows
rotate (`services.link_operator_rotate`) with an ``operators_changed`` link event, and the
request is done. The checker may send it back to the maker (the maker's pending entry is
cancelled first). Five working days in all: review 2, counter 2, check 1.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _
from django_fsm import transition

from branches.roles import Role
from casetypes.declaration import Action, CaseType, DocumentNeed, End, Stage
from counter.models import CounterEntry
from onboarding import rules
from onboarding.models import OnboardingCase
from onboarding.workflow import CaseEngine, step

from .common import CHANGE_FORM, change_form_accepted

if TYPE_CHECKING:
    from accounts.models import User

CODE = "operator_change"
REVIEW = "operator_change_review"
COUNTER = "operator_change_counter"
CHECKING = "operator_change_checking"
DONE = "operator_change_done"
REJECTED = "operator_change_rejected"

ADD, REMOVE, ROLE = "add", "remove", "role"
ACTIONS = {ADD: _("新增操作员"), REMOVE: _("删除操作员"), ROLE: _("变更操作员角色")}

_PANEL = "links/requests/_portal_change_panel.html"

OPERATOR_CHANGE = CaseType(
    code=CODE,
    label=_("操作员变更"),
    model="links.OperatorChangeCase",
    stages=(
        Stage(
            REVIEW,
            _("操作员变更待客户经理审核"),
            holder=Role.ACCOUNT_MANAGER,
            sla_days=2,
            actions=(Action(Role.ACCOUNT_MANAGER, _("审核操作员变更申请"), "next-step"),),
            # The 变更申请书 signed and sealed by the company: the review cannot pass without it.
            documents=(CHANGE_FORM,),
            portal_panels=(_PANEL,),
        ),
        Stage(
            COUNTER,
            _("操作员变更待柜面办理"),
            holder=Role.COUNTER_MAKER,
            sla_days=2,
            actions=(Action(Role.COUNTER_MAKER, _("柜面办理操作员变更"), "change-request"),),
            documents=(DocumentNeed("handler_id", required=False, reviewers=(Role.COUNTER_CHECKER,)),),
            portal_panels=(_PANEL,),
        ),
        Stage(
            CHECKING,
            _("操作员变更待柜面复核"),
            holder=Role.COUNTER_CHECKER,
            sla_days=1,
            actions=(Action(Role.COUNTER_CHECKER, _("复核操作员变更"), "change-request"),),
            portal_panels=(_PANEL,),
        ),
    ),
    ends=(End(DONE, _("操作员变更已办结")), End(REJECTED, _("操作员变更未通过"))),
)


def _request(case: Any) -> Any:
    return getattr(case, "link_request", None)


def pending_issuance(case: Any) -> CounterEntry | None:
    """The maker's pending K宝 entry for the added operator (an add only)."""
    request = _request(case)
    if request is None or request.details.get("action") != ADD:
        return None
    return (
        CounterEntry.objects.filter(
            case_id=request.link.onboarding_case_id,
            kind=CounterEntry.Kind.ISSUE_UKEY,
            status=CounterEntry.Status.PENDING,
            replaces__isnull=True,
            operator__id_number=request.details.get("id_number", ""),
            operator__removed_at__isnull=True,
        )
        .select_related("maker", "operator")
        .first()
    )


@rules.Guard
def change_recorded(case: Any) -> list[str]:
    request = _request(case)
    if request is None:
        return [_g("申请不存在")]
    if request.details.get("action") == ADD and pending_issuance(case) is None:
        return [_g("尚未录入新增操作员的UKey")]
    return []


@rules.Guard
def entry_withdrawn(case: Any) -> list[str]:
    if pending_issuance(case) is not None:
        return [_g("新增操作员的UKey录入仍待复核,须由录入人先取消")]
    return []


@rules.Guard
def change_applied(case: Any) -> list[str]:
    request = _request(case)
    if request is None or not request.events.filter(name="operators_changed").exists():
        return [_g("操作员变更尚未复核生效")]
    return []


class OperatorChangeJourney(CaseEngine):
    @transition(
        field="state",
        source=REVIEW,
        target=COUNTER,
        conditions=[change_form_accepted],
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(_("审核通过,转柜面办理"), done=_("已审核通过,等待柜面办理")),
    )
    def operator_change_approved(self, *, by: User, now: dt.datetime) -> None:
        self._enter(COUNTER, now)

    @transition(
        field="state",
        source=REVIEW,
        target=REJECTED,
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(_("退回申请(不予办理)"), done=_("申请未通过审核"), style="danger", reason_required=True),
    )
    def operator_change_rejected(self, *, by: User, now: dt.datetime) -> None:
        self._enter(REJECTED, now)

    @transition(
        field="state",
        source=COUNTER,
        target=CHECKING,
        conditions=[change_recorded],
        permission=rules.Allowed(Role.COUNTER_MAKER),
        custom=step(_("提交柜面复核"), done=_("变更已录入,等待柜面复核")),
    )
    def operator_change_entered(self, *, by: User, now: dt.datetime) -> None:
        """The maker recorded the change; a checker who is not the maker holds it next."""
        self._enter(CHECKING, now)

    @transition(
        field="state",
        source=CHECKING,
        target=COUNTER,
        conditions=[entry_withdrawn],
        permission=rules.Allowed(Role.COUNTER_MAKER, Role.COUNTER_CHECKER),
        custom=step(
            _("退回柜面经办"),
            done=_("已退回柜面经办重新录入"),
            style="warning",
            reason_required=True,
            panel="change-request",  # the panel's form cancels the maker's pending entry first
        ),
    )
    def operator_change_returned(self, *, by: User, now: dt.datetime) -> None:
        self._enter(COUNTER, now)

    @transition(
        field="state",
        source=CHECKING,
        target=DONE,
        conditions=[change_applied],
        permission=rules.Allowed(Role.COUNTER_CHECKER),
        custom=step(_("复核通过,变更生效"), done=_("操作员变更已生效,申请办结"), panel="change-request"),
    )
    def operator_change_confirmed(self, *, by: User, now: dt.datetime) -> None:
        self._enter(DONE, now)


class OperatorChangeCase(OperatorChangeJourney, OnboardingCase):
    class Meta:
        proxy = True
        app_label = "links"
        verbose_name = _("操作员变更")
        verbose_name_plural = _("操作员变更")
