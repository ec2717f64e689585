"""The onboarding of a direct link (domain.md, "The case and its stages"), declared once.

Everything the product knows about this journey's stages is here: the state codes and labels,
who holds each stage, its service level, what each holder does next, the documents it
collects, what it hosts (`Feature`), what the customer sees on the portal, the webhook event
names, and the transitions between the stages with their guards, permissions and effects
(django-fsm-2; `OnboardingCase` inherits `OnboardingJourney`). No other module of the product
names a stage: consumers read `casetypes.declaration` (see docs/architecture.md, "Where a new
stage goes"). Only the demo data (`demo/seed.py`) and the synthetic histories of the forecast's
back-test (`analytics/history.py`) walk the stages by name, as a person would.

Transitions run only inside `services.case_transition`, which holds the row lock, checks the
version the user saw, saves, writes the event and tells the next holder.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, transition

from branches.roles import Role
from casetypes.declaration import CUSTOMER, Action, CaseType, DocumentNeed, End, Feature, Stage

from . import rules
from .terms import ApprovalLevel
from .workflow import CaseEngine, step

if TYPE_CHECKING:
    from accounts.models import User


class State(models.TextChoices):
    DRAFT = "draft", _("草稿")
    BRANCH_INTAKE = "branch_intake", _("分支行受理")
    HEAD_OFFICE_APPROVAL = "head_office_approval", _("总行立项审批")
    TEST_PACKAGE_ISSUANCE = "test_package_issuance", _("测试包下发")
    JOINT_TESTING = "joint_testing", _("联调测试")
    UKEY_ISSUANCE = "ukey_issuance", _("柜台UKey发放")
    PRODUCTION_VERIFICATION = "production_verification", _("生产验证")
    LIVE = "live", _("已上线")
    SUSPENDED = "suspended", _("已暂停")
    REJECTED = "rejected", _("不予立项")
    WITHDRAWN = "withdrawn", _("已撤回")


INTAKE_REVIEWERS = (Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR)


def _handler_is_not_legal_rep(case: object) -> bool:
    return not case.company.handler_is_legal_rep  # type: ignore[attr-defined]


def _intake_paper(kind: str, *, generated: bool = False, **kw: object) -> DocumentNeed:
    return DocumentNeed(kind, reviewers=INTAKE_REVIEWERS, own_cases_only=True, generated=generated, **kw)  # type: ignore[arg-type]


ONBOARDING = CaseType(
    code="onboarding",
    label=_("银企直联开通"),
    model="onboarding.OnboardingCase",
    stages=(
        Stage(
            State.DRAFT,
            State.DRAFT.label,
            holder=CUSTOMER,
            sla_days=None,
            actions=(Action(Role.ACCOUNT_MANAGER, _("补全资料,提交受理"), "actions"),),
            features=frozenset({Feature.COMPANY_FOLLOWS, Feature.OPERATORS}),
            portal_panels=("portal/panels/submit.html",),
        ),
        Stage(
            State.BRANCH_INTAKE,
            State.BRANCH_INTAKE.label,
            holder=Role.ACCOUNT_MANAGER,
            sla_days=5,
            actions=(Action(Role.ACCOUNT_MANAGER, _("受理:收齐材料、评估后上报立项审批")),),
            documents=(
                _intake_paper("application_form", generated=True),
                _intake_paper("service_agreement", generated=True),
                _intake_paper("business_licence"),
                _intake_paper("legal_rep_id"),
                _intake_paper("handler_id"),
                _intake_paper("authorisation_letter", generated=True, only_if=_handler_is_not_legal_rep),
            ),
            features=frozenset({Feature.COMPANY_FOLLOWS, Feature.OPERATORS, Feature.STARTS_CLOCK}),
        ),
        Stage(
            State.HEAD_OFFICE_APPROVAL,
            State.HEAD_OFFICE_APPROVAL.label,
            holder=Role.BRANCH_SUPERVISOR,
            sla_days=5,
            actions=(
                Action(Role.BRANCH_SUPERVISOR, _("分行审核:立项上报"), "actions"),
                Action(Role.HEAD_OFFICE_APPROVER, _("总行审批:立项批复、费用通过"), "actions"),
            ),
            features=frozenset({Feature.CHANGE_REQUESTS, Feature.OPERATORS}),
        ),
        Stage(
            State.TEST_PACKAGE_ISSUANCE,
            State.TEST_PACKAGE_ISSUANCE.label,
            holder=Role.TECH_REVIEWER,
            sla_days=3,
            actions=(Action(Role.TECH_REVIEWER, _("登记并下发测试包"), "test-package"),),
            features=frozenset({Feature.CHANGE_REQUESTS, Feature.OPERATORS, Feature.TEST_PACKAGE}),
        ),
        Stage(
            State.JOINT_TESTING,
            State.JOINT_TESTING.label,
            holder=CUSTOMER,
            sla_days=15,
            actions=(Action(Role.TECH_REVIEWER, _("确认联调测试结果:测试通过或要求重测"), "testing"),),
            documents=(DocumentNeed("test_report", reviewers=(Role.TECH_REVIEWER,)),),
            features=frozenset(
                {Feature.CHANGE_REQUESTS, Feature.OPERATORS, Feature.JOINT_TESTS, Feature.TEST_RESULTS_SHOWN}
            ),
            portal_panels=("portal/panels/joint_tests.html",),
        ),
        Stage(
            State.UKEY_ISSUANCE,
            State.UKEY_ISSUANCE.label,
            holder=Role.COUNTER_MAKER,
            sla_days=5,
            actions=(Action(Role.COUNTER_MAKER, _("柜面录入:身份核验、UKey发放与激活"), "counter"),),
            # Printed and signed at the counter; kept, not a stage guard.
            documents=(
                DocumentNeed(
                    "ebanking_registration",
                    required=False,
                    reviewers=(Role.COUNTER_CHECKER, Role.ACCOUNT_MANAGER),
                    generated=True,
                ),
            ),
            features=frozenset(
                {
                    Feature.CHANGE_REQUESTS,
                    Feature.OPERATORS,
                    Feature.COUNTER,
                    Feature.COUNTER_HOLDS,
                    Feature.PRODUCTION_CONFIG,
                    Feature.TEST_RESULTS_SHOWN,
                }
            ),
        ),
        Stage(
            State.PRODUCTION_VERIFICATION,
            State.PRODUCTION_VERIFICATION.label,
            holder=CUSTOMER,
            sla_days=5,
            actions=(Action(Role.ACCOUNT_MANAGER, _("行方确认,正式上线"), "actions"),),
            # Signed at go-live; kept, not a stage guard.
            documents=(
                DocumentNeed(
                    "production_verification",
                    required=False,
                    reviewers=(Role.ACCOUNT_MANAGER,),
                    own_cases_only=True,
                    generated=True,
                ),
            ),
            features=frozenset(
                {
                    Feature.CHANGE_REQUESTS,
                    Feature.OPERATORS,
                    Feature.COUNTER,
                    Feature.CUSTOMER_CONFIRMATION,
                    Feature.TEST_RESULTS_SHOWN,
                }
            ),
            portal_panels=("portal/panels/production_verification.html",),
        ),
    ),
    ends=(
        # Counter entries go on for a live link (UKey replacements); the data changes by request.
        End(
            State.LIVE,
            State.LIVE.label,
            live=True,
            features=frozenset(
                {Feature.CHANGE_REQUESTS, Feature.OPERATORS, Feature.COUNTER, Feature.TEST_RESULTS_SHOWN}
            ),
        ),
        End(State.REJECTED, State.REJECTED.label),
        End(State.WITHDRAWN, State.WITHDRAWN.label),
    ),
    paused=(State.SUSPENDED, State.SUSPENDED.label),
)


class OnboardingJourney(CaseEngine):
    """The onboarding journey's transitions (inherited by `OnboardingCase`).

    Each names its source and target states, `permission` (the roles that may make it and the
    separation-of-duties rules, `rules.Allowed`, checked by `services.case_transition`),
    `conditions` (the stage guard, `rules.Guard`: a refusal names every missing item; other
    apps add checks to a guard through `rules.guard_checks`) and, in the body, its effects.
    `python manage.py describe_workflow` prints them as composed at run time.
    """

    @transition(
        field="state",
        source=State.DRAFT,
        target=State.BRANCH_INTAKE,
        conditions=[rules.draft_complete],
        permission=rules.Allowed(Role.ACCOUNT_MANAGER, Role.ENTERPRISE_USER),
        custom=step(_("提交受理"), done=_("已提交受理,案件转客户经理办理")),
    )
    def submit(self, *, by: User, now: dt.datetime) -> None:
        """Draft visit closes; branch intake opens, held by the account manager."""
        self._enter(State.BRANCH_INTAKE, now)

    @transition(
        field="state",
        source=State.BRANCH_INTAKE,
        target=State.HEAD_OFFICE_APPROVAL,
        conditions=[rules.intake_complete],
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(_("上报立项审批"), done=_("已上报,等待分行审核")),
    )
    def submit_for_approval(self, *, by: User, now: dt.datetime) -> None:
        """Records the submitter (who may not approve); intake closes; approval opens, held by the branch supervisor."""
        self.submitted_by = by
        self._enter(State.HEAD_OFFICE_APPROVAL, now)

    @transition(
        field="state",
        source=State.HEAD_OFFICE_APPROVAL,
        target=State.HEAD_OFFICE_APPROVAL,
        conditions=[rules.not_yet_endorsed],
        permission=rules.Allowed(Role.BRANCH_SUPERVISOR, not_submitter=True),
        custom=step(_("分行审核通过(立项上报)"), done=_("分行审核已通过,等待总行审批")),
    )
    def endorse(self, *, by: User, now: dt.datetime) -> None:
        """Records the branch approval on this approval visit; head-office approver now holds the stage."""
        self._approve(ApprovalLevel.BRANCH, by, now)
        # Same stage, next holder: head office now holds the ball.
        assert self.current_visit is not None
        self.current_visit.holder_role = Role.HEAD_OFFICE_APPROVER
        self.current_visit.save(update_fields=["holder_role"])

    @transition(
        field="state",
        source=State.HEAD_OFFICE_APPROVAL,
        target=State.TEST_PACKAGE_ISSUANCE,
        conditions=[rules.endorsed],
        permission=rules.Allowed(Role.HEAD_OFFICE_APPROVER, not_submitter=True, not_endorser=True),
        custom=step(_("总行立项批复、费用通过"), done=_("已批复,案件转总行科技部下发测试包")),
    )
    def approve(self, *, by: User, now: dt.datetime) -> None:
        """Records the head-office approval; approval closes; test-package issuance opens, held by head-office tech."""
        self._approve(ApprovalLevel.HEAD_OFFICE, by, now)
        self._enter(State.TEST_PACKAGE_ISSUANCE, now)

    @transition(
        field="state",
        source=State.HEAD_OFFICE_APPROVAL,
        target=State.BRANCH_INTAKE,
        permission=rules.Allowed(Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER),
        custom=step(_("退回补件"), done=_("已退回分支行补件"), style="warning", reason_required=True),
    )
    def return_to_intake(self, *, by: User, now: dt.datetime) -> None:
        """Approval closes (its approvals no longer count); a new intake visit opens, held by the account
        manager; the case picks up the company's newest data again (intake follows the company)."""
        self._enter(State.BRANCH_INTAKE, now)
        self._follow_company()

    @transition(
        field="state",
        source=State.HEAD_OFFICE_APPROVAL,
        target=State.REJECTED,
        permission=rules.Allowed(Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER),
        custom=step(_("不予立项"), done=_("已不予立项,案件结束"), style="danger", reason_required=True, rare=True),
    )
    def reject(self, *, by: User, now: dt.datetime) -> None:
        """Approval closes; the case ends."""
        self._enter(State.REJECTED, now)

    @transition(
        field="state",
        source=State.TEST_PACKAGE_ISSUANCE,
        target=State.JOINT_TESTING,
        conditions=[rules.test_package_recorded],
        permission=rules.Allowed(Role.TECH_REVIEWER),
        custom=step(_("下发测试包"), done=_("测试包已下发,等待客户联调测试")),
    )
    def issue_test_package(self, *, by: User, now: dt.datetime) -> None:
        """Test-package stage closes; joint testing opens, held by the customer."""
        self._enter(State.JOINT_TESTING, now)

    @transition(
        field="state",
        source=State.JOINT_TESTING,
        target=State.UKEY_ISSUANCE,
        conditions=[rules.tests_passed],
        permission=rules.Allowed(Role.TECH_REVIEWER),
        custom=step(_("测试通过,进入UKey发放"), done=_("测试已通过,案件转柜面发放UKey")),
    )
    def accept_test_report(self, *, by: User, now: dt.datetime) -> None:
        """Joint testing closes; UKey issuance opens, held by the counter (and tech for the production configuration)."""
        self._enter(State.UKEY_ISSUANCE, now)

    @transition(
        field="state",
        source=State.JOINT_TESTING,
        target=State.TEST_PACKAGE_ISSUANCE,
        permission=rules.Allowed(Role.TECH_REVIEWER),
        custom=step(_("退回测试包阶段"), done=_("已退回测试包阶段"), style="warning", reason_required=True),
    )
    def return_to_test_package(self, *, by: User, now: dt.datetime) -> None:
        """Joint testing closes; a new test-package visit opens, held by head-office tech."""
        self._enter(State.TEST_PACKAGE_ISSUANCE, now)

    @transition(
        field="state",
        source=State.UKEY_ISSUANCE,
        target=State.PRODUCTION_VERIFICATION,
        conditions=[rules.production_ready],
        permission=rules.Allowed(Role.COUNTER_CHECKER),
        custom=step(_("UKey发放完成,进入生产验证"), done=_("UKey已发放,等待客户生产验证")),
    )
    def complete_ukey_issuance(self, *, by: User, now: dt.datetime) -> None:
        """UKey issuance closes; production verification opens, held by the customer."""
        self._enter(State.PRODUCTION_VERIFICATION, now)

    @transition(
        field="state",
        source=State.PRODUCTION_VERIFICATION,
        target=State.LIVE,
        conditions=[rules.customer_confirmed],
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(_("行方确认,正式上线"), done=_("已正式上线")),
    )
    def go_live(self, *, by: User, now: dt.datetime) -> None:
        """Production verification closes; the case is live."""
        self._enter(State.LIVE, now)

    @transition(
        field="state",
        source=[s.code for s in ONBOARDING.working],
        target=State.SUSPENDED,
        permission=rules.Allowed(Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR),
        custom=step(_("暂停"), done=_("案件已暂停,时限停止计算"), style="secondary", reason_required=True, rare=True),
    )
    def suspend(self, *, by: User, now: dt.datetime) -> None:
        """Remembers the stage; the current visit's clock stops."""
        self._pause(now)

    @transition(
        field="state",
        source=State.SUSPENDED,
        target=RETURN_VALUE(*[s.code for s in ONBOARDING.working]),
        permission=rules.Allowed(Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR),
        custom=step(_("恢复"), done=_("案件已恢复办理"), style="secondary"),
    )
    def resume(self, *, by: User, now: dt.datetime) -> str:
        """Back to the remembered stage; the due time moves by the working time spent suspended."""
        return self._unpause(now)

    @transition(
        field="state",
        source=list(ONBOARDING.open_states),
        target=State.WITHDRAWN,
        permission=rules.Allowed(Role.ACCOUNT_MANAGER, Role.ENTERPRISE_USER),
        custom=step(
            _("撤回申请"),
            done=_("申请已撤回,案件结束"),
            style="danger",
            reason_required=True,
            rare=True,
            withdraws=True,
        ),
    )
    def withdraw(self, *, by: User, now: dt.datetime) -> None:
        """The current visit closes; the case ends."""
        self._enter(State.WITHDRAWN, now)
