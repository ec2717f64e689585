"""Certificate renewal (证书更新): a request on a live link, declared once.

A sweep on Celery beat (`links.request_services.renewal_sweep`, beat entry
`links-renewal-sweep`) opens one renewal per certificate `LINK_RENEWAL_LEAD_DAYS` (default 90)
days before the link's front-end certificate expires, and reminds the company's users on the
portal and by mail (the outbox) at `LINK_RENEWAL_REMINDER_DAYS` days before expiry. Banks let
the customer renew from three months before expiry (南粤银行, 恒丰银行; docs "anchors after
go-live"): the customer enters the new certificate on the portal, head-office tech confirms it.
Once the certificate has expired, self-service renewal is over: the request moves to the
counter, where a maker enters the new certificate and a checker who is not the maker confirms
it. Either confirmation moves the link's certificate serial and expiry (a `certificate_renewed`
link event).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm import transition

from branches.roles import Role
from casetypes.declaration import CUSTOMER, Action, CaseType, DocumentNeed, End, Stage
from documents.models import DocumentKind
from onboarding import rules
from onboarding.models import OnboardingCase
from onboarding.workflow import CaseEngine, step

from .common import NotMaker, latest_since_stage, link_of, run_effect

if TYPE_CHECKING:
    from accounts.models import User

CODE = "link_cert_renewal"
CUSTOMER_RENEWS = "link_renew_customer"
BANK_CONFIRMS = "link_renew_confirm"
COUNTER_ENTERS = "link_renew_counter"
COUNTER_CHECKS = "link_renew_ctr_check"
DONE = "link_renew_done"
SUBMITTED = "certificate_submitted"  # LinkEvent.Name.CERTIFICATE_SUBMITTED

CERT_RENEWAL = CaseType(
    code=CODE,
    label=_("证书更新"),
    model="links.CertRenewalCase",
    stages=(
        Stage(
            CUSTOMER_RENEWS,
            _("待客户更新证书"),
            holder=CUSTOMER,
            # The customer has until the expiry (about 60 working days from T−90); the dated
            # reminders of the renewal sweep come on top of the service level's.
            sla_days=60,
            actions=(Action(CUSTOMER, _("到期前提交更新后的证书"), "link-renewal"),),
            portal_panels=("links/requests/_renewal_portal.html",),
        ),
        Stage(
            BANK_CONFIRMS,
            _("待总行科技部确认新证书"),
            holder=Role.TECH_REVIEWER,
            sla_days=5,
            actions=(Action(Role.TECH_REVIEWER, _("确认客户更新的证书"), "link-renewal"),),
            portal_panels=("links/requests/_renewal_portal.html",),
        ),
        Stage(
            COUNTER_ENTERS,
            _("证书已过期,柜面更新"),
            holder=Role.COUNTER_MAKER,
            sla_days=5,
            actions=(Action(Role.COUNTER_MAKER, _("录入更新后的证书"), "link-renewal"),),
            documents=(DocumentNeed(DocumentKind.HANDLER_ID, required=False, reviewers=(Role.COUNTER_CHECKER,)),),
            portal_panels=("links/requests/_renewal_portal.html",),
        ),
        Stage(
            COUNTER_CHECKS,
            _("柜面更新待复核"),
            holder=Role.COUNTER_CHECKER,
            sla_days=1,
            # The check is the 复核通过 button itself: no extra link to the panel, which a maker
            # who also holds the checker's role would follow to find nothing to do.
            actions=(Action(Role.COUNTER_CHECKER, _("复核更新后的证书"), "actions"),),
            portal_panels=("links/requests/_renewal_portal.html",),
        ),
    ),
    ends=(End(DONE, _("证书已更新")),),
    starters=(Role.COUNTER_MAKER, Role.TECH_REVIEWER),
)


def _expires_on(case: Any) -> dt.date | None:
    link = link_of(case)
    return link.certificate_expires_on if link is not None else None


@rules.Guard
def certificate_submitted(case: Any) -> list[str]:
    if latest_since_stage(case, SUBMITTED) is None:
        return [gettext("尚未录入更新后的证书")]
    return []


@rules.Guard
def certificate_not_expired(case: Any) -> list[str]:
    expires = _expires_on(case)
    if expires is not None and expires < timezone.localdate():
        return [gettext("证书已于%(d)s过期,须到柜面办理更新") % {"d": expires.isoformat()}]
    return [*certificate_submitted.problems(case)]


@rules.Guard
def certificate_expired(case: Any) -> list[str]:
    expires = _expires_on(case)
    if expires is None or expires >= timezone.localdate():
        return [gettext("证书尚未过期,客户可自助更新")]
    return []


class CertRenewalJourney(CaseEngine):
    @transition(
        field="state",
        source=CUSTOMER_RENEWS,
        target=BANK_CONFIRMS,
        conditions=[certificate_not_expired],
        permission=rules.Allowed(Role.ENTERPRISE_USER),
        custom=step(_("提交新证书"), done=_("新证书已提交,等待总行科技部确认")),
    )
    def cert_renewal_submitted(self, *, by: User, now: dt.datetime) -> None:
        """The customer renewed the certificate themselves; head-office tech confirms it."""
        self._enter(BANK_CONFIRMS, now)

    @transition(
        field="state",
        source=CUSTOMER_RENEWS,
        target=COUNTER_ENTERS,
        conditions=[certificate_expired],
        permission=rules.Allowed(Role.COUNTER_MAKER, Role.ACCOUNT_MANAGER),
        custom=step(_("转柜面更新"), done=_("证书已过期,已转柜面办理"), style="warning"),
    )
    def cert_renewal_to_counter(self, *, by: User, now: dt.datetime) -> None:
        """Past the expiry the customer can no longer renew alone: the counter does."""
        self._enter(COUNTER_ENTERS, now)

    @transition(
        field="state",
        source=BANK_CONFIRMS,
        target=DONE,
        permission=rules.Allowed(Role.TECH_REVIEWER),
        custom=step(_("确认新证书"), done=_("新证书已生效,证书更新办结")),
    )
    def cert_renewal_confirmed(self, *, by: User, now: dt.datetime) -> None:
        """Head-office tech confirms: the link's certificate moves; the request is done."""
        run_effect("certificate_renew", self, by=by, now=now)
        self._enter(DONE, now)

    @transition(
        field="state",
        source=BANK_CONFIRMS,
        target=CUSTOMER_RENEWS,
        permission=rules.Allowed(Role.TECH_REVIEWER),
        custom=step(_("退回客户"), done=_("已退回客户重新提交"), style="warning", reason_required=True),
    )
    def cert_renewal_returned(self, *, by: User, now: dt.datetime) -> None:
        """The certificate entered is wrong; the customer enters it again."""
        self._enter(CUSTOMER_RENEWS, now)

    @transition(
        field="state",
        source=COUNTER_ENTERS,
        target=COUNTER_CHECKS,
        conditions=[certificate_submitted],
        permission=rules.Allowed(Role.COUNTER_MAKER),
        custom=step(_("提交复核"), done=_("更新后的证书已录入,等待柜面复核")),
    )
    def cert_renewal_counter_entered(self, *, by: User, now: dt.datetime) -> None:
        """The maker entered the new certificate; the checker holds the request."""
        self._enter(COUNTER_CHECKS, now)

    @transition(
        field="state",
        source=COUNTER_CHECKS,
        target=DONE,
        permission=NotMaker(Role.COUNTER_CHECKER, made=SUBMITTED),
        custom=step(_("复核通过"), done=_("新证书已生效,证书更新办结")),
    )
    def cert_renewal_counter_confirmed(self, *, by: User, now: dt.datetime) -> None:
        """A checker who is not the maker confirms: the link's certificate moves."""
        run_effect("certificate_renew", self, by=by, now=now)
        self._enter(DONE, now)

    @transition(
        field="state",
        source=COUNTER_CHECKS,
        target=COUNTER_ENTERS,
        permission=rules.Allowed(Role.COUNTER_CHECKER, Role.COUNTER_MAKER),
        custom=step(_("退回柜面经办"), done=_("已退回柜面经办重新录入"), style="warning", reason_required=True),
    )
    def cert_renewal_counter_returned(self, *, by: User, now: dt.datetime) -> None:
        """The entry is wrong; the maker enters it again."""
        self._enter(COUNTER_ENTERS, now)


class CertRenewalCase(CertRenewalJourney, OnboardingCase):
    class Meta:
        proxy = True
        app_label = "links"
        verbose_name = _("证书更新")
        verbose_name_plural = _("证书更新")
