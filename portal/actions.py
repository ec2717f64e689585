"""The portal's action list: what the customer must do next on a case.

Each *provider* is a function `(case, user) -> Iterable[ActionItem]` registered with
`register_action_provider`. The portal home and case page call `actions_for(case=…,
user=…)`, which asks every provider and sorts the items (overdue first, optional last).
Providers only read; the page an item links to does the work through a service.

Adding a provider from another app (e.g. the documents checklist, issue 3)
----------------------------------------------------------------------------
In that app, write a provider and register it from its `AppConfig.ready()`::

    # documents/portal_actions.py
    from portal.actions import ActionItem, Urgency, register_action_provider, stage_urgency

    def document_actions(case, user):
        if not declaration.case_type_of(case).stage(case.state):   # an end state: nothing owed
            return []
        items = []
        for item in checklist_for(case):                       # the documents app's selector
            if item.needs_signed_form:                          # "download, sign, upload"
                items.append(ActionItem(
                    key=f"document:{item.code}",
                    text=_("下载《%(name)s》,签字盖章后上传") % {"name": item.label},
                    url=reverse("documents:portal_item", args=[case.public_id, item.public_id]),
                    urgency=stage_urgency(case),
                ))
            elif item.rejected:                                 # replace a rejected upload
                items.append(ActionItem(key=..., text=..., detail=item.reject_reason, url=..., urgency=...))
        return items

    # documents/apps.py
    def ready(self):
        from portal.actions import register_action_provider
        from .portal_actions import document_actions
        register_action_provider(document_actions)

Rules for providers: keys are stable strings unique per case (tests and the page use them);
text is a gettext string in Chinese; `detail` carries e.g. a rejection reason shown under
the item; return nothing for a user or state the item does not apply to; do not write.
The test report ("提交测试报告") belongs to the documents provider too: it appears in
the joint-testing stage until an accepted test report exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from casetypes import declaration
from casetypes.declaration import CUSTOMER, Feature
from casetypes.extensions import ExtensionPoint
from onboarding.models import OnboardingCase
from onboarding.states import OPEN_STATES, Module

from .routes import case_route


class Urgency:
    """Sort order of items: smaller is more urgent."""

    OVERDUE = "overdue"  # the stage the customer holds is past its due date
    SOON = "soon"  # due within SOON_DAYS
    NORMAL = "normal"
    OPTIONAL = "optional"  # something the customer may do, not owes (withdraw)

    ORDER = {OVERDUE: 0, SOON: 1, NORMAL: 2, OPTIONAL: 3}


SOON_DAYS = 2


@dataclass(frozen=True)
class ActionItem:
    key: str
    text: str
    url: str
    urgency: str = Urgency.NORMAL
    detail: str = ""
    due_at: dt.datetime | None = None
    # When set, the item is a button posting here (generate-then-download a filled form);
    # `url` then leads to where the signed copy is uploaded.
    post_url: str = ""

    @property
    def required(self) -> bool:
        return self.urgency != Urgency.OPTIONAL


Provider = Callable[[OnboardingCase, Any], Iterable[ActionItem]]
Batch = Callable[[list[OnboardingCase]], None]
# The one extension mechanism (casetypes.extensions): providers, and each provider's batch
# reader under the provider's own key.
providers: ExtensionPoint[Provider] = ExtensionPoint("portal.action_providers", "the customer's action list")
provider_batches: ExtensionPoint[Batch] = ExtensionPoint(
    "portal.action_batches", "reads for several cases at once, keyed by provider", unique_keys=True
)


def _key(f: Provider) -> str:
    return f"{f.__module__}.{f.__qualname__}"


def register_action_provider(func: Provider | None = None, *, batch: Batch | None = None) -> Any:
    """Add a provider to `providers` (idempotent, so a module imported twice does not double its items).

    Usable as a decorator, bare or as `@register_action_provider(batch=…)`. `batch(cases)`,
    when given, reads what the provider needs for several cases at once before it is asked
    about each (`prepare_actions`), so a page listing a company's cases reads each table once
    however many cases it has (`onboarding.page_reads.prime`).
    """

    def add(f: Provider) -> Provider:
        providers.add(f)
        if batch is not None and provider_batches.one(_key(f)) is None:
            provider_batches.add(batch, key=_key(f))
        return f

    return add if func is None else add(func)


def prepare_actions(cases: list[OnboardingCase]) -> None:
    """Let every provider read for all these cases at once (the portal home)."""
    if not cases:
        return
    for provider in providers:
        batch = provider_batches.one(_key(provider))
        if batch is not None:
            batch(cases)


def unregister_action_provider(func: Provider) -> None:
    providers.remove(func)
    batch = provider_batches.one(_key(func))
    if batch is not None:
        provider_batches.remove(batch)


def actions_for(*, case: OnboardingCase, user: Any) -> list[ActionItem]:
    items = [item for provider in providers for item in provider(case, user)]
    return sorted(
        items, key=lambda i: (Urgency.ORDER.get(i.urgency, 2), i.due_at or dt.datetime.max.replace(tzinfo=dt.UTC))
    )


def stage_urgency(case: OnboardingCase, now: dt.datetime | None = None) -> str:
    """How urgent the customer's part of the current stage is, from its due date."""
    visit = case.current_visit
    if visit is None or visit.due_at is None or visit.paused_at is not None:
        return Urgency.NORMAL
    now = now or timezone.now()
    if visit.due_at < now:
        return Urgency.OVERDUE
    if visit.due_at - now <= dt.timedelta(days=SOON_DAYS):
        return Urgency.SOON
    return Urgency.NORMAL


def _case_url(case: OnboardingCase, anchor: str = "") -> str:
    return case_route("portal:case_detail", case.public_id) + (f"#{anchor}" if anchor else "")


def _is_customer(case: OnboardingCase, user: Any) -> bool:
    return getattr(user, "enterprise_id", None) is not None and user.enterprise_id == case.enterprise_id


# --- the core's providers -------------------------------------------------------------------


@register_action_provider
def draft_actions(case: OnboardingCase, user: Any) -> list[ActionItem]:
    """A draft waits for the customer to complete and submit it to the branch."""
    if case.state not in declaration.draft_states() or not _is_customer(case, user):
        return []
    return [
        ActionItem(
            key="submit_draft",
            text=_("完善申请资料并提交至开户行受理"),
            url=_case_url(case, "submit"),
            urgency=Urgency.NORMAL,
        )
    ]


def latest_results(case: OnboardingCase) -> dict[str, bool | None]:
    """Per requested module: True when every test case's latest result passed, False when one
    failed, None while some are not yet recorded."""
    from onboarding.rules import joint_test_status
    from onboarding.states import TEST_CASES

    latest = joint_test_status(case)
    status: dict[str, bool | None] = {}
    for module in case.modules:
        results = [latest.get((module, code)) for code, _label in TEST_CASES.get(module, ())]
        if any(r is not None and not r.passed for r in results):
            status[module] = False
        elif results and all(r is not None and r.passed for r in results):
            status[module] = True
        else:
            status[module] = None
    return status


def _prime_test_results(cases: list[OnboardingCase]) -> None:
    """Only the cards in joint testing list test results (the others read nothing)."""
    from onboarding.selectors import prime_test_results

    testing = [c for c in cases if c.state in declaration.states_with(Feature.JOINT_TESTS)]
    if testing:
        prime_test_results(testing)


def _owes_documents_now(case: OnboardingCase) -> bool:
    """Whether the case's current stage asks for a required document (the only ones listed)."""
    from documents.checklist import requirements

    return any(r.required and r.stage == case.state for r in requirements(case))


def _prime_checklists(cases: list[OnboardingCase]) -> None:
    """Only the cards whose current stage asks for documents read their checklists."""
    from documents.checklist import prime_checklists

    collecting = [c for c in cases if _owes_documents_now(c)]
    if collecting:
        prime_checklists(collecting)


@register_action_provider
def stage_customer_action(case: OnboardingCase, user: Any) -> list[ActionItem]:
    """What the customer does in a stage they hold, when its case type declares it
    (`Action(CUSTOMER, …)`, e.g. a certificate renewal's 提交更新后的证书), linking to that panel."""
    stage = declaration.stage(case.state)
    action = stage.action_for(CUSTOMER) if stage is not None else None
    if action is None or not _is_customer(case, user):
        return []
    return [
        ActionItem(
            key=f"stage:{case.state}",
            text=str(action.text),
            url=_case_url(case, action.anchor),
            urgency=stage_urgency(case),
            due_at=case.current_visit.due_at if case.current_visit else None,
        )
    ]


@register_action_provider(batch=_prime_test_results)
def joint_test_actions(case: OnboardingCase, user: Any) -> list[ActionItem]:
    """In joint testing, one item per requested module whose latest result is not a pass."""
    if case.state not in declaration.states_with(Feature.JOINT_TESTS) or not _is_customer(case, user):
        return []
    from onboarding.selectors import observations_pending

    latest = latest_results(case)
    observed = {module for module, _code in observations_pending(case)}
    urgency = stage_urgency(case)
    due = case.current_visit.due_at if case.current_visit else None
    items = []
    for module in case.modules:
        if latest.get(module):
            continue
        label = Module(module).label if module in Module.values else module
        failed = latest.get(module) is False
        if module in observed:  # the bank's test gateway saw it: a confirmation, not typing
            text = _("确认测试网关记录的联调结果:%(m)s")
        else:
            text = _("重新测试并登记联调结果:%(m)s") if failed else _("登记联调测试结果:%(m)s")
        items.append(
            ActionItem(
                key=f"test_result:{module}",
                text=text % {"m": label},
                url=_case_url(case, "testing"),
                urgency=urgency,
                due_at=due,
            )
        )
    return items


@register_action_provider
def production_actions(case: OnboardingCase, user: Any) -> list[ActionItem]:
    """In production verification, until the customer has confirmed."""
    if case.state not in declaration.states_with(Feature.CUSTOMER_CONFIRMATION) or not _is_customer(case, user):
        return []
    if case.customer_confirmed_at is not None:
        return []
    return [
        ActionItem(
            key="confirm_production",
            text=_("完成小额实单交易及对账,确认生产验证"),
            url=_case_url(case, "production"),
            urgency=stage_urgency(case),
            due_at=case.current_visit.due_at if case.current_visit else None,
        )
    ]


def withdrawal_of(case: OnboardingCase, user: Any) -> Any:
    """`onboarding.services.withdrawal_for`, asked once per case page (its action and its form)."""
    from onboarding.page_reads import read_once
    from onboarding.services import withdrawal_for

    return read_once(case, f"portal.withdrawal:{user.pk}", lambda: withdrawal_for(case=case, user=user))


@register_action_provider
def withdraw_action(case: OnboardingCase, user: Any) -> list[ActionItem]:
    """An open case the customer may withdraw from its state (its type declares the withdrawal,
    `onboarding.services.withdrawal_for`): offered, never owed. Request types without one offer nothing."""
    if case.state not in OPEN_STATES or not _is_customer(case, user):
        return []
    withdrawal = withdrawal_of(case, user)
    if withdrawal is None:
        return []
    return [
        ActionItem(
            key="withdraw",
            text=_("如不再需要开通,可撤回申请")
            if withdrawal.name == "withdraw"
            else _("如不再需要,可%(action)s") % {"action": withdrawal.label},
            url=_case_url(case, "withdraw"),
            urgency=Urgency.OPTIONAL,
        )
    ]


# --- documents (issue 3) ---------------------------------------------------------------------


@register_action_provider(batch=_prime_checklists)
def document_actions(case: OnboardingCase, user: Any) -> list[ActionItem]:
    """The current stage's required documents the company still owes: download, sign and
    upload a generated form, upload a copy, replace a rejected one (with the bank's reason), or
    one the bank marked to redo when it returned the case (需补正, with the return's reason)."""
    from documents.checklist import Status, case_checklist

    # The stages that collect required documents (as the case type declares them).
    if not _is_customer(case, user) or not _owes_documents_now(case):
        return []
    urgency = stage_urgency(case)
    due = case.current_visit.due_at if case.current_visit else None
    items = []
    for item in case_checklist(case):
        if not item.requirement.required or item.requirement.stage != case.state:
            continue
        post_url = ""
        if item.status == Status.REDO:
            text = _("补正《%(doc)s》(需补正)") % {"doc": item.label}
            detail = _("退回原因:%(reason)s") % {"reason": item.redo_reason}
        elif item.status == Status.REJECTED:
            assert item.latest is not None
            text = _("重新上传《%(doc)s》(已被退回)") % {"doc": item.label}
            detail = _("退回原因:%(reason)s") % {"reason": item.latest.decision_reason}
        elif item.status == Status.MISSING and item.can_generate:
            text = _("下载《%(doc)s》,签字盖章后上传") % {"doc": item.label}
            detail = ""
            post_url = reverse("form_generate", args=[case.public_id, item.kind])
        elif item.status == Status.MISSING:
            text = _("上传《%(doc)s》") % {"doc": item.label}
            detail = ""
        else:
            continue  # uploaded and waiting for the bank's review, or accepted
        items.append(
            ActionItem(
                key=f"document:{item.kind}",
                text=text,
                url=_case_url(case, "documents"),
                urgency=urgency,
                detail=detail,
                due_at=due,
                post_url=post_url,
            )
        )
    return items
