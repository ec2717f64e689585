"""The workflow of a case, in one place: the graph, who may make each transition, its guard, its effects.

`OnboardingCase` inherits these transition methods (django-fsm-2). Each one names

- its source and target states,
- `permission`: the roles that may make it and the separation-of-duties rules
  (`rules.Allowed`; checked by `services.case_transition`, since django-fsm does not check
  permissions on call),
- `conditions`: the stage guard (`rules.Guard`; django-fsm checks it once, when the
  transition runs; a refusal then names every missing item). Other apps add checks to a
  guard from their `AppConfig.ready()`: documents adds "intake documents accepted" to
  `intake_complete` and "test report accepted" to `tests_passed`; counter adds "identity
  checked, a confirmed and activated UKey per operator, no entry pending" to
  `production_ready`. `python manage.py describe_workflow` prints every transition with its
  guards as composed at run time.
- its effects, in the method body: which stage visit closes and which opens (the holder and
  the working-day due time come with it), approvals recorded, the suspension clock.

Transitions run only inside `services.case_transition`, which holds the row lock, checks the
version the user saw, saves, writes the event and tells the next holder.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, transition

from branches.roles import Role
from workcalendar import workdays

from . import rules
from .states import OPEN_STATES, STAGE_HOLDER, WORKING_STAGES, ApprovalLevel, State

if TYPE_CHECKING:
    from accounts.models import User


def step(label: Any, *, done: Any, style: str = "primary", reason_required: bool = False) -> dict[str, Any]:
    """What the page shows of a transition: its button, and what to say once it is done."""
    return {"label": label, "done": done, "style": style, "reason_required": reason_required}


class CaseWorkflow:
    # Provided by OnboardingCase.
    enterprise: Any
    company_version: Any
    state: str
    state_before_suspend: str
    current_visit: Any  # a StageVisit, or None
    submitted_by: Any
    visits: Any
    approvals: Any

    # --- effects shared by the transitions ---------------------------------------------------
    def _enter(self, stage: str, now: dt.datetime) -> None:
        """Close the current stage visit and open one for `stage` (none for a terminal state)."""
        visit = self.current_visit
        if visit is not None:
            visit.left_at = now
            visit.save(update_fields=["left_at"])
        self.current_visit = None
        if stage in STAGE_HOLDER:
            party, role = STAGE_HOLDER[stage]
            self.current_visit = self.visits.create(
                stage=stage, entered_at=now, due_at=workdays.due_at(stage, now), holder_party=party, holder_role=role
            )

    def _follow_company(self) -> None:
        """Back in intake: point at the company's newest data version, noting the move for the event."""
        from companies.services import company_diff, company_version_latest

        latest = company_version_latest(self.enterprise)
        old = self.company_version
        if latest is not None and (old is None or latest.pk != old.pk):
            self.effect_data = {
                "from_version": old.number if old is not None else None,
                "to_version": latest.number,
                "diff": company_diff(old, latest) if old is not None else {},
            }
            self.company_version = latest

    def _approve(self, level: str, by: User, now: dt.datetime) -> None:
        assert self.current_visit is not None
        self.approvals.create(visit=self.current_visit, level=level, decided_by=by, decided_at=now)

    # --- the graph ---------------------------------------------------------------------------
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
        custom=step(_("不予立项"), done=_("已不予立项,案件结束"), style="danger", reason_required=True),
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
        source=list(WORKING_STAGES),
        target=State.SUSPENDED,
        permission=rules.Allowed(Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR),
        custom=step(_("暂停"), done=_("案件已暂停,时限停止计算"), style="secondary", reason_required=True),
    )
    def suspend(self, *, by: User, now: dt.datetime) -> None:
        """Remembers the stage; the current visit's clock stops."""
        self.state_before_suspend = self.state
        visit = self.current_visit
        assert visit is not None
        visit.paused_at = now
        visit.save(update_fields=["paused_at"])

    @transition(
        field="state",
        source=State.SUSPENDED,
        target=RETURN_VALUE(*WORKING_STAGES),
        permission=rules.Allowed(Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR),
        custom=step(_("恢复"), done=_("案件已恢复办理"), style="secondary"),
    )
    def resume(self, *, by: User, now: dt.datetime) -> str:
        """Back to the remembered stage; the due time moves by the working time spent suspended."""
        visit = self.current_visit
        assert visit is not None and visit.paused_at is not None
        # Suspended time does not count against the stage's service level: the due time
        # moves by the *working* time that passed (a wall-clock shift would land a pause
        # over a weekend or holiday on the wrong day).
        visit.paused_seconds += int((now - visit.paused_at).total_seconds())
        if visit.due_at is not None:
            visit.due_at = workdays.extend_for_pause(visit.due_at, visit.paused_at, now)
        visit.paused_at = None
        visit.save(update_fields=["paused_at", "paused_seconds", "due_at"])
        previous = self.state_before_suspend
        self.state_before_suspend = ""
        return previous

    @transition(
        field="state",
        source=list(OPEN_STATES),
        target=State.WITHDRAWN,
        permission=rules.Allowed(Role.ACCOUNT_MANAGER, Role.ENTERPRISE_USER),
        custom=step(_("撤回申请"), done=_("申请已撤回,案件结束"), style="danger", reason_required=True),
    )
    def withdraw(self, *, by: User, now: dt.datetime) -> None:
        """The current visit closes; the case ends."""
        self._enter(State.WITHDRAWN, now)


# The fields a transition's effects may change on the case row itself.
CASE_FIELDS_CHANGED = ("state", "state_before_suspend", "current_visit", "submitted_by", "company_version")
