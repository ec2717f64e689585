"""Reads of live links, always scoped: staff see their branch subtree, customers their company."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from branches.roles import user_roles
from branches.scope import subtree_q
from casetypes import declaration
from config.statements import prepared
from onboarding.selectors import KeysetPage, keyset_page

from .models import LinkEvent, LinkRequest, LiveLink


def dormant_days() -> int:
    """A link with nothing happening for this many days is dormant (default a year)."""
    return int(getattr(settings, "LINK_DORMANT_DAYS", 365))


def link_visible_q(user: Any) -> Q:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Q(pk__in=[])
    if user.enterprise_id is not None:
        return Q(enterprise_id=user.enterprise_id)
    if user.branch_id is not None and user_roles(user):
        return subtree_q("branch", user.branch)
    return Q(pk__in=[])


def link_list(*, user: Any) -> QuerySet[LiveLink]:
    return (
        LiveLink.objects.filter(link_visible_q(user))
        .select_related("enterprise", "branch", "company_version", "onboarding_case")
        .order_by("-went_live_at", "-pk")
    )


def link_filter(
    qs: QuerySet[LiveLink],
    *,
    branch: Any = None,
    status: str = "",
    expiring_days: int | None = None,
    dormant: bool = False,
    search: str = "",
    today: dt.date | None = None,
) -> QuerySet[LiveLink]:
    today = today or timezone.localdate()
    if branch is not None:
        qs = qs.filter(subtree_q("branch", branch))
    if status:
        qs = qs.filter(status=status)
    if expiring_days is not None:
        qs = qs.filter(
            certificate_expires_on__isnull=False, certificate_expires_on__lte=today + dt.timedelta(days=expiring_days)
        ).order_by("certificate_expires_on", "pk")
    if dormant:
        qs = qs.filter(last_activity_at__lt=timezone.now() - dt.timedelta(days=dormant_days()))
    if search:
        qs = qs.filter(Q(enterprise__name__icontains=search) | Q(reference__icontains=search))
    return qs


def link_get_for_user(*, user: Any, public_id: Any) -> LiveLink:
    try:
        return link_list(user=user).get(public_id=public_id)
    except (LiveLink.DoesNotExist, ValueError):
        raise Http404("no such link") from None


def link_get_for_page(*, user: Any, public_id: Any) -> LiveLink:
    """The link as its pages show it (`link_get_for_user`): the link's own columns and, of the
    company, its data version, branch and onboarding case, only what the pages name (issue 26:
    those four whole rows were most of the statement and of the ORM's work on it)."""
    own = [f.name for f in LiveLink._meta.concrete_fields]
    shown = ["enterprise__name", "branch__name", "company_version__number"]
    shown += ["onboarding_case__public_id", "onboarding_case__reference"]
    try:
        return link_list(user=user).only(*own, *shown).get(public_id=public_id)
    except (LiveLink.DoesNotExist, ValueError):
        raise Http404("no such link") from None


def link_history(link: LiveLink) -> QuerySet[LinkEvent]:
    return link.events.select_related("actor", "request").order_by("created_at", "pk")


def link_requests(link: LiveLink) -> QuerySet[LinkRequest]:
    return link.requests.select_related("case", "opened_by", "ukey").order_by("-opened_at", "-pk")


_HISTORY_SHOWN = (
    "link_id", "name", "actor_id", "channel", "data", "reason", "created_at",
    "actor__username", "actor__display_name",
)  # fmt: skip
_REQUEST_SHOWN = (
    "link_id", "case_id", "kind", "channel", "ukey_id", "details", "opened_by_id", "opened_at", "closed_at",
    "case__public_id", "case__reference", "case__state",
    "opened_by__username", "opened_by__display_name", "ukey__serial",
)  # fmt: skip

# The link page shows the newest events and requests; the rest are pages of their own.
LINK_PAGE_ROWS = 20
LINK_HISTORY_PAGE = 50


def link_history_page(
    link: LiveLink, *, before: int | None = None, after: int | None = None, newest: bool = False
) -> KeysetPage:
    """A page of the link's history, oldest first (keyset on (created_at, pk)): the link page's
    newest `LINK_PAGE_ROWS`, or a page of `LINK_HISTORY_PAGE` of the history page."""
    size = LINK_PAGE_ROWS if newest else LINK_HISTORY_PAGE
    # What `links/_history.html` shows of an event, its person's name only.
    shown = link.events.select_related("actor").only(*_HISTORY_SHOWN)
    return keyset_page(shown.order_by("created_at", "pk"), before=before, after=after, newest=newest, size=size)


def link_requests_page(
    link: LiveLink, *, before: int | None = None, after: int | None = None, newest: bool = False
) -> KeysetPage:
    """A page of the link's requests (keyset on (opened_at, pk)), oldest first as read: the
    pages show them newest first (`rows[::-1]`)."""
    size = LINK_PAGE_ROWS if newest else LINK_HISTORY_PAGE
    # What `links/_requests_table.html` shows of a request: its case's number and state, not the whole case.
    shown = link_requests(link).only(*_REQUEST_SHOWN)
    return keyset_page(shown, before=before, after=after, newest=newest, size=size, field="opened_at")


def request_for_case_for_user(*, user: Any, public_id: Any) -> LinkRequest:
    """The request whose case is `public_id`, if the user may see that case's link, else 404."""
    try:
        return (
            LinkRequest.objects.select_related("link", "case", "ukey", "ukey__operator")
            .filter(link__in=LiveLink.objects.filter(link_visible_q(user)))
            .get(case__public_id=public_id)
        )
    except (LinkRequest.DoesNotExist, ValueError):
        raise Http404("no such request") from None


def _request_of(owner: int) -> QuerySet[LinkRequest]:
    """`.first()` of a case's link request with its link, key and opener (compiled once: `case_page_links`)."""
    qs = LinkRequest.objects.select_related("link", "ukey", "opened_by").filter(case_id=owner)
    return (qs if qs.ordered else qs.order_by("pk"))[:1]


def _link_of(owner: int) -> QuerySet[LiveLink]:
    """`.first()` of a case's live link (compiled once: `case_page_links`)."""
    qs = LiveLink.objects.filter(onboarding_case_id=owner)
    return (qs if qs.ordered else qs.order_by("pk"))[:1]


def case_page_links(case: Any) -> None:
    """The case page's live link or link request, set on the case (`page_reads.page_loaders`).

    A request case has its `LinkRequest` (with its link, key and who opened it) and no live
    link; an onboarding case has a live link only once it reached a live end (go-live and
    the import create it there). So one small query at most, none for a case still in work:
    joined to the case row, these four tables cost PostgreSQL more to plan than the rest.
    """
    from onboarding.models import OnboardingCase

    from .requests import REQUEST_TYPES

    live_link, link_request = OnboardingCase.live_link.related, OnboardingCase.link_request.related  # type: ignore[attr-defined]
    request = None
    link = None
    if case.case_type in {t.code for t in REQUEST_TYPES}:
        found = prepared("links.case_page_request", _request_of, LinkRequest, ["link", "ukey", "opened_by"]).rows(
            case.pk
        )
        request = found[0][0] if found else None
        if request is not None:
            LinkRequest.case.field.set_cached_value(request, case)
    elif case.state in declaration.live_states():
        found = prepared("links.case_page_link", _link_of, LiveLink).rows(case.pk)
        link = found[0][0] if found else None
        if link is not None:
            LiveLink.onboarding_case.field.set_cached_value(link, case)
    live_link.set_cached_value(case, link)
    link_request.set_cached_value(case, request)
