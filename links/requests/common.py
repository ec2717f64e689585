"""What the request types of links/requests/ share: the request of a case, the link's records
since the case entered its stage, and the dual-control rule "not the maker"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext

from branches.roles import Role
from casetypes.declaration import DocumentNeed
from casetypes.extensions import ExtensionPoint
from documents.models import DocumentKind
from onboarding import rules

# The link's rows are typed `Any` here: links.models imports the request types (their proxies
# are models of the links app), so even a type-only import back would close a loop.

# What a request's transition does to its link, by name: written in links/request_services.py
# (which may import the link's models and services; a request type's module may not, since
# links.models imports the request types: no import loop).
effects: ExtensionPoint[Callable[..., None]] = ExtensionPoint(
    "links.request_effects", "what a request transition does to its live link, by effect name", unique_keys=True
)


# The 变更申请书 of an operator change or an accounts/modules change: the bank renders it from the
# request (documents/forms/link_change_form.html, form code BGS), the company signs and seals it,
# the customer or the account manager uploads the scan, the account manager accepts it (a
# supervisor when the account manager uploaded it: nobody accepts their own upload); the
# review stage cannot pass before (`change_form_accepted`). Kept like every document.
CHANGE_FORM = DocumentNeed(
    DocumentKind.LINK_CHANGE_FORM, reviewers=(Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR), generated=True
)


@rules.Guard
def change_form_accepted(case: Any) -> list[str]:
    from documents.checklist import Status, case_checklist

    item = next((i for i in case_checklist(case) if i.kind == DocumentKind.LINK_CHANGE_FORM), None)
    status = item.status if item is not None else Status.MISSING
    if status == Status.ACCEPTED:
        return []
    if status == Status.MISSING:
        return [gettext("签字盖章的变更申请书尚未上传")]
    if status in (Status.REJECTED, Status.REDO):
        return [gettext("变更申请书已退回,待重新上传签字盖章件")]
    return [gettext("变更申请书已上传,待银行审核通过")]


def run_effect(key: str, case: Any, *, by: Any, now: dt.datetime, **extra: Any) -> None:
    effect = effects.one(key)
    assert effect is not None, f"no link effect {key!r} (links.request_services registers them)"
    effect(case=case, request=request_of(case), by=by, now=now, **extra)


def request_of(case: Any) -> Any:
    return getattr(case, "link_request", None)


def link_of(case: Any) -> Any:
    request = request_of(case)
    return request.link if request is not None else None


def latest_since_stage(case: Any, name: str) -> Any:
    """The newest link event `name` of the case's request recorded since the case entered its stage."""
    request = request_of(case)
    visit = getattr(case, "current_visit", None)
    if request is None or visit is None:
        return None
    return request.events.filter(name=name, created_at__gte=visit.entered_at).order_by("-created_at", "-pk").first()


class NotMaker(rules.Allowed):
    """Dual control: the roles given, and not the person who made the entry being checked (the
    actor of the newest `made` link event of the request)."""

    def __init__(self, *roles: str, made: str) -> None:
        super().__init__(*roles)
        self.made = made

    def refusal(self, case: Any, user: Any) -> str | None:
        refused = super().refusal(case, user)
        if refused:
            return refused
        request = request_of(case)
        entry = (
            request.events.filter(name=self.made).order_by("-created_at", "-pk").first()
            if request is not None
            else None
        )
        if entry is not None and entry.actor_id == user.pk:
            return gettext("不能复核自己录入的事项")
        return None

    def describe(self) -> str:
        return super().describe() + f"; not the actor of the request's latest {self.made!r} event"


class NotOpener(rules.Allowed):
    """A decision on a request: the roles given, and not the person who opened it."""

    def refusal(self, case: Any, user: Any) -> str | None:
        refused = super().refusal(case, user)
        if refused:
            return refused
        request = request_of(case)
        if request is not None and request.opened_by_id == user.pk:
            if request.channel == "system":  # a sweep opened it in this person's name
                return gettext("该申请由系统以您的名义发起,须由其他有权人员审批")
            return gettext("申请人不能审批自己提交的申请")
        return None

    def describe(self) -> str:
        return super().describe() + "; not the person who opened the request"
