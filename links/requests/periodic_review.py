"""Periodic review (定期复核) of a live link, by the risk level of its onboarding assessment.

Opened by the beat sweep (`links.changes.periodic_reviews_open`, task `links.tasks.periodic_reviews`)
once a link's review falls due: its last review's close (or its go-live) plus the interval of its
risk level (`LINK_REVIEW_MONTHS`: high, medium, low; configurable). Idempotent: a link with an
open review is skipped, and the launch controls refuse a second one even to two sweeps at once.
The account manager reviews the link (KYC, the operators, the accounts) and records the outcome:
done, or done asking for changes (a reason; the customer then files the changes as requests).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _
from django_fsm import transition

from branches.roles import Role
from casetypes.declaration import Action, CaseType, DocumentNeed, End, Stage
from onboarding import rules
from onboarding.models import OnboardingCase
from onboarding.workflow import CaseEngine, step

if TYPE_CHECKING:
    from accounts.models import User

CODE = "periodic_review"
REVIEW = "periodic_review_open"
DONE = "periodic_review_done"
FINDINGS = "periodic_review_findings"

PERIODIC_REVIEW = CaseType(
    code=CODE,
    label=_("定期复核"),
    model="links.PeriodicReviewCase",
    stages=(
        Stage(
            REVIEW,
            _("定期复核待客户经理办理"),
            holder=Role.ACCOUNT_MANAGER,
            sla_days=5,
            actions=(Action(Role.ACCOUNT_MANAGER, _("复核直联服务(企业资料、账户、操作员)"), "next-step"),),
            documents=(DocumentNeed("business_licence", required=False, reviewers=(Role.ACCOUNT_MANAGER,)),),
        ),
    ),
    ends=(End(DONE, _("定期复核无异常")), End(FINDINGS, _("定期复核需整改"))),
)


class PeriodicReviewJourney(CaseEngine):
    @transition(
        field="state",
        source=REVIEW,
        target=DONE,
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(_("复核无异常"), done=_("定期复核已办结")),
    )
    def periodic_review_passed(self, *, by: User, now: dt.datetime) -> None:
        self._enter(DONE, now)

    @transition(
        field="state",
        source=REVIEW,
        target=FINDINGS,
        permission=rules.Allowed(Role.ACCOUNT_MANAGER),
        custom=step(
            _("复核发现问题,需客户整改"), done=_("定期复核已办结,已记录整改要求"), style="warning", reason_required=True
        ),
    )
    def periodic_review_findings(self, *, by: User, now: dt.datetime) -> None:
        self._enter(FINDINGS, now)


class PeriodicReviewCase(PeriodicReviewJourney, OnboardingCase):
    class Meta:
        proxy = True
        app_label = "links"
        verbose_name = _("定期复核")
        verbose_name_plural = _("定期复核")
