"""Accounts or modules change (账户/功能变更): add or remove accounts (rights: query, payment) and
add or remove modules on a live link.

The customer (portal) or the account manager asks for it (`links.changes.account_change_open`)
with the link's accounts and modules as they should be (`LinkRequest.details`). When it adds an
account the approved company data does not hold, a change request of the company data is filed
on the request case at once (`onboarding.change_requests`, the `CHANGE_REQUESTS` feature of the
review stage): a branch supervisor who did not file it approves it, and the request case points
to the new company-data version. The account manager reviews the request (it cannot pass while
that change request waits or was refused, nor before the 变更申请书 signed and sealed by the
company is uploaded and accepted: `common.CHANGE_FORM`). Adding a payment module needs a joint test of that
module only: the request case's modules are the added payment modules, and its testing stage
declares `JOINT_TESTS`, so the onboarding's joint-test matrix (ModuleTestResult, TEST_CASES)
works on it unchanged (the customer records, head-office tech accepts). Head-office tech then
puts the change into production (`changes.account_change_complete`): the link's accounts are
replaced (`services.link_accounts_replace`), its modules and company-data version move, each
with a link event, and the request is done. Five working days in all: review 1, test 2, setup 2.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _
from django_fsm import transition

from branches.roles import Role
from casetypes.declaration import CUSTOMER, Action, CaseType, End, Feature, Stage
from onboarding import rules
from onboarding.models import ChangeRequest, OnboardingCase
from onboarding.workflow import CaseEngine, step

from .common import CHANGE_FORM, change_form_accepted

if TYPE_CHECKING:
    from accounts.models import User

CODE = "account_change"
REVIEW = "account_change_review"
TESTING = "account_change_testing"
SETUP = "account_change_setup"
DONE = "account_change_done"
REJECTED = "account_change_rejected"

ACCOUNT_CHANGE = CaseType(
    code=CODE,
    label=_("账户/功能变更"),
    model="links.AccountChangeCase",
    stages=(
        Stage(
            REVIEW,
            _("账户/功能变更待客户经理审核"),
            holder=Role.ACCOUNT_MANAGER,
            sla_days=1,
            actions=(Action(Role.ACCOUNT_MANAGER, _("审核账户/功能变更申请"), "next-step"),),
            # The 变更申请书 the bank renders, signed and sealed by the company: kept, and the
            # review cannot pass until the account manager accepted the scan.
            documents=(CHANGE_FORM,),
            features=frozenset({Feature.CHANGE_REQUESTS}),
            portal_panels=("links/requests/_portal_change_panel.html",),
        ),
        Stage(
            TESTING,
            _("新增支付模块联调测试"),
            holder=CUSTOMER,
            sla_days=2,
            # The customer records on the portal (its action list); tech accepts or asks for a retest.
            actions=(Action(Role.TECH_REVIEWER, _("验收新增模块的联调测试"), "testing"),),
            features=frozenset({Feature.JOINT_TESTS, Feature.TEST_RESULTS_SHOWN}),
            # The onboarding's joint-test matrix, for the request case's modules (the added payment ones).
            portal_panels=("links/requests/_portal_change_panel.html", "portal/panels/joint_tests.html"),
        ),
        Stage(
            SETUP,
            _("账户/功能变更待总行配置生效"),
            holder=Role.TECH_REVIEWER,
            sla_days=2,
            actions=(Action(Role.TECH_REVIEWER, _("配置生产并使变更生效"), "change-request"),),
            features=frozenset({Feature.TEST_RESULTS_SHOWN}),
            portal_panels=("links/requests/_portal_change_panel.html",),
        ),
    ),
    ends=(End(DONE, _("账户/功能变更已办结")), End(REJECTED, _("账户/功能变更未通过"))),
)


def _request(case: Any) -> Any:
    return getattr(case, "link_request", None)


def adds_payment(case: Any) -> bool:
    request = _request(case)
    return bool(request is not None and request.details.get("test_modules"))


@rules.Guard
def company_data_settled(case: Any) -> list[str]:
    statuses = set(ChangeRequest.objects.filter(case_id=case.pk).values_list("status", flat=True))
    if ChangeRequest.Status.PENDING in statuses:
        return [_g("企业资料变更申请待分行审核人员审批")]
    if statuses and ChangeRequest.Status.APPROVED not in statuses:
        return [_g("企业资料变更申请未获批准,请退回本申请")]
    return []


@rules.Route
def needs_joint_test(case: Any) -> list[str]:
    return [] if adds_payment(case) else [_g("本次变更未新增支付模块,无需联调测试")]


@rules.Route
def no_joint_test(case: Any) -> list[str]:
    return [_g("新增支付模块须先完成联调测试")] if adds_payment(case) else []


@rules.Guard
def tests_passed(case: Any) -> list[str]:
    return rules.joint_tests_missing(case)


@rules.Guard
def change_applied(case: Any) -> list[str]:
    request = _request(case)
    if request is None or not request.events.filter(name__in=("accounts_changed", "modules_changed")).exists():
        return [_g("账户/功能变更尚未配置生效")]
    return []


class AccountChangeJourney(CaseEngine):
    @transition(
        field="state",
        source=REVIEW,
        target=TESTING,
        conditions=[change_form_accepted, company_data_settled, needs_joint_test],
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(_("审核通过,进入联调测试"), done=_("已审核通过,等待客户进行新增模块联调测试")),
    )
    def account_change_to_testing(self, *, by: User, now: dt.datetime) -> None:
        self._enter(TESTING, now)

    @transition(
        field="state",
        source=REVIEW,
        target=SETUP,
        conditions=[change_form_accepted, company_data_settled, no_joint_test],
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(_("审核通过,转总行配置"), done=_("已审核通过,等待总行配置生效")),
    )
    def account_change_approved(self, *, by: User, now: dt.datetime) -> None:
        self._enter(SETUP, now)

    @transition(
        field="state",
        source=REVIEW,
        target=REJECTED,
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(_("退回申请(不予办理)"), done=_("申请未通过审核"), style="danger", reason_required=True),
    )
    def account_change_rejected(self, *, by: User, now: dt.datetime) -> None:
        self._enter(REJECTED, now)

    @transition(
        field="state",
        source=TESTING,
        target=SETUP,
        conditions=[tests_passed],
        permission=rules.Allowed(Role.TECH_REVIEWER),
        custom=step(_("联调测试验收通过"), done=_("联调测试已验收,等待总行配置生效")),
    )
    def account_change_tested(self, *, by: User, now: dt.datetime) -> None:
        self._enter(SETUP, now)

    @transition(
        field="state",
        source=SETUP,
        target=DONE,
        conditions=[change_applied],
        permission=rules.Allowed(Role.TECH_REVIEWER),
        custom=step(_("变更生效"), done=_("账户/功能变更已生效,申请办结")),
    )
    def account_change_completed(self, *, by: User, now: dt.datetime) -> None:
        self._enter(DONE, now)


class AccountChangeCase(AccountChangeJourney, OnboardingCase):
    class Meta:
        proxy = True
        app_label = "links"
        verbose_name = _("账户/功能变更")
        verbose_name_plural = _("账户/功能变更")
