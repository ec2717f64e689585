"""UKey loss (挂失) and replacement (补办): a request on a live link, declared once.

The customer (on the portal) or a counter maker reports the loss: `links.services.ukey_loss_report`
blocks the UKey in the counter's register at once, at any hour, before anyone reviews anything,
records who and when (the onboarding case's `ukey_lost` event and the link's `ukey_lost`
event), and opens this request. Then the counter replaces the key with dual control: a maker
enters the new K宝 (`services.ukey_replacement_make`, a counter entry replacing the lost key),
a checker who is not the maker confirms it (`services.ukey_replacement_confirm`): the new key
takes effect, the lost one is ended, the link's operator row moves to the new key, and the
request is done. If the key is found before a replacement is entered, the counter releases the
loss (解挂, `services.ukey_loss_release`) and the request ends there.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _
from django_fsm import transition

from branches.roles import Role
from casetypes.declaration import Action, CaseType, DocumentNeed, End, Stage
from counter.models import CounterEntry, UKey
from onboarding import rules
from onboarding.models import OnboardingCase
from onboarding.workflow import CaseEngine, step

if TYPE_CHECKING:
    from accounts.models import User

CODE = "ukey_loss"
REPORTED = "ukey_loss_reported"
CHECKING = "ukey_loss_checking"
DONE = "ukey_loss_done"
RELEASED = "ukey_loss_released"

UKEY_LOSS = CaseType(
    code=CODE,
    label=_("UKey挂失补办"),
    model="links.UKeyLossCase",
    stages=(
        Stage(
            REPORTED,
            _("已挂失,待补办录入"),
            holder=Role.COUNTER_MAKER,
            sla_days=5,
            actions=(Action(Role.COUNTER_MAKER, _("录入补办的新UKey(或解除挂失)"), "link-request"),),
            # The ID of whoever comes to the counter for the new key; kept, not a stage guard.
            documents=(DocumentNeed("handler_id", required=False, reviewers=(Role.COUNTER_CHECKER,)),),
            portal_panels=("links/portal/_ukey_loss_panel.html",),
        ),
        Stage(
            CHECKING,
            _("补办待复核"),
            holder=Role.COUNTER_CHECKER,
            sla_days=1,
            actions=(Action(Role.COUNTER_CHECKER, _("复核补办的新UKey"), "link-request"),),
            portal_panels=("links/portal/_ukey_loss_panel.html",),
        ),
    ),
    ends=(
        End(DONE, _("已补办")),
        End(RELEASED, _("已解除挂失")),
    ),
    starters=(Role.COUNTER_MAKER,),
)


def _replacements(case: Any) -> Any:
    request = getattr(case, "link_request", None)
    if request is None or request.ukey_id is None:
        return CounterEntry.objects.none()
    return CounterEntry.objects.filter(kind=CounterEntry.Kind.ISSUE_UKEY, replaces_id=request.ukey_id)


@rules.Guard
def replacement_entered(case: Any) -> list[str]:
    if not _replacements(case).filter(status=CounterEntry.Status.PENDING).exists():
        return [_g("尚未录入补办的新UKey")]
    return []


@rules.Guard
def replacement_withdrawn(case: Any) -> list[str]:
    if _replacements(case).filter(status=CounterEntry.Status.PENDING).exists():
        return [_g("补办录入仍待复核,须由录入人先取消")]
    return []


@rules.Guard
def replacement_confirmed(case: Any) -> list[str]:
    if not _replacements(case).filter(status=CounterEntry.Status.CONFIRMED).exists():
        return [_g("补办的新UKey尚未复核生效")]
    return []


@rules.Guard
def loss_released(case: Any) -> list[str]:
    request = getattr(case, "link_request", None)
    if request is None or request.ukey is None or request.ukey.status == UKey.Status.LOST:
        return [_g("UKey仍处于挂失状态")]
    return []


class UKeyLossJourney(CaseEngine):
    @transition(
        field="state",
        source=REPORTED,
        target=CHECKING,
        conditions=[replacement_entered],
        permission=rules.Allowed(Role.COUNTER_MAKER),
        custom=step(_("提交补办复核"), done=_("补办已录入,等待柜面复核")),
    )
    def ukey_replacement_entered(self, *, by: User, now: dt.datetime) -> None:
        """The maker entered the new key; the checker holds the request."""
        self._enter(CHECKING, now)

    @transition(
        field="state",
        source=CHECKING,
        target=REPORTED,
        conditions=[replacement_withdrawn],
        permission=rules.Allowed(Role.COUNTER_MAKER, Role.COUNTER_CHECKER),
        custom=step(_("退回补办录入"), done=_("已退回柜面经办重新录入"), style="warning", reason_required=True),
    )
    def ukey_replacement_returned(self, *, by: User, now: dt.datetime) -> None:
        """The entry was cancelled; the maker holds the request again."""
        self._enter(REPORTED, now)

    @transition(
        field="state",
        source=CHECKING,
        target=DONE,
        conditions=[replacement_confirmed],
        permission=rules.Allowed(Role.COUNTER_CHECKER),
        custom=step(_("补办完成"), done=_("新UKey已生效,挂失补办办结")),
    )
    def ukey_replacement_confirmed(self, *, by: User, now: dt.datetime) -> None:
        """The checker confirmed the new key; the request is done."""
        self._enter(DONE, now)

    @transition(
        field="state",
        source=REPORTED,
        target=RELEASED,
        conditions=[loss_released],
        permission=rules.Allowed(Role.COUNTER_MAKER, Role.COUNTER_CHECKER),
        custom=step(_("解除挂失"), done=_("UKey已解除挂失,申请办结"), style="secondary", reason_required=True),
    )
    def ukey_loss_released(self, *, by: User, now: dt.datetime) -> None:
        """The key was found and released; the request ends."""
        self._enter(RELEASED, now)


class UKeyLossCase(UKeyLossJourney, OnboardingCase):
    class Meta:
        proxy = True
        app_label = "links"
        verbose_name = _("UKey挂失补办")
        verbose_name_plural = _("UKey挂失补办")
