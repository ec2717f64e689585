"""Reads of live links, always scoped: staff see their branch subtree, customers their company."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from branches.models import Branch
from branches.roles import user_roles
from branches.scope import subtree_joined_q, subtree_q
from casetypes import declaration
from config import frozen as fz
from config.statements import prepared
from onboarding.selectors import KeysetPage, keyset_page

from .models import LinkAccount, LinkEvent, LinkOperator, LinkRequest, LiveLink


def dormant_days() -> int:
    """A link with nothing happening for this many days is dormant (default a year)."""
    return int(getattr(settings, "LINK_DORMANT_DAYS", 365))


def _scope(user: Any) -> tuple[str, Any] | None:
    """Which links the user sees: ("company", its id), ("subtree", its branch), or None."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.enterprise_id is not None:
        return ("company", user.enterprise_id)
    if user.branch_id is not None and user_roles(user):
        return ("subtree", user.branch)
    return None


def _scope_q(kind: str, value: Any) -> Q:
    return Q(enterprise_id=value) if kind == "company" else subtree_q("branch", value)


def link_visible_q(user: Any) -> Q:
    scope = _scope(user)
    return Q(pk__in=[]) if scope is None else _scope_q(*scope)


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


_PAGE_SHOWN = (
    "enterprise__name", "branch__name", "company_version__number", "onboarding_case__public_id",
    "onboarding_case__reference",
)  # fmt: skip


def _page_link(q: Q, public_id: Any) -> QuerySet[LiveLink]:
    own = [f.name for f in LiveLink._meta.concrete_fields]
    qs = LiveLink.objects.filter(q).select_related("enterprise", "branch", "company_version", "onboarding_case")
    return qs.only(*own, *_PAGE_SHOWN).filter(public_id=public_id).order_by()


def link_get_for_page(*, user: Any, public_id: Any) -> LiveLink:
    """The link as its pages show it (`link_get_for_user`): the link's own columns and, of the
    company, its data version, branch and onboarding case, only what the pages name (issue 26:
    those four whole rows were most of the statement and of the ORM's work on it). The
    statement is compiled once per reader's kind (`links.frozen`): the company's own links for
    a customer, the branch subtree's for staff; both prepared on their connection (one row by
    its key: the same plan for any reader)."""
    scope = _scope(user)
    try:
        public_id = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except ValueError:
        raise Http404("no such link") from None
    if scope is None:
        raise Http404("no such link")
    kind, value = scope
    if kind == "company":
        read = fz.frozen(
            "links.page_link:company",
            lambda owner, pid: _page_link(Q(enterprise_id=owner), pid),
            [fz.OWNER, fz.PUBLIC_ID],
        )
        found = read.objects(value, public_id)
    else:
        # Found by its key, then checked against the subtree on the branch already joined (no
        # subquery of the subtree's branches): prepared, as the case page's case row is.
        read = fz.frozen(
            "links.page_link:subtree",
            lambda path, pid: _page_link(subtree_joined_q("branch", Branch(path=path)), pid),
            [fz.PATH, fz.PUBLIC_ID],
            keyed=True,
        )
        found = read.objects(value.path, public_id)
    if not found:
        raise Http404("no such link")
    return found[0]


def _of_link(objects: list[Any], model: Any, link: LiveLink) -> list[Any]:
    """The rows read of one link, their link cached on each (as the link's related manager does)."""
    field = model.link.field
    for obj in objects:
        field.set_cached_value(obj, link)
    return objects


def link_operators(link: LiveLink) -> list[LinkOperator]:
    """The link page's operators, ended last, with their UKeys (compiled once)."""

    def build(owner: int) -> QuerySet[LinkOperator]:
        qs = LinkOperator.objects.filter(link_id=owner).select_related("ukey")
        return qs.order_by("ended_at", "started_at", "pk")

    return _of_link(fz.frozen("links.page_operators", build, [fz.OWNER]).objects(link.pk), LinkOperator, link)


def link_accounts(link: LiveLink) -> list[LinkAccount]:
    """The link page's accounts in the order they started (compiled once)."""

    def build(owner: int) -> QuerySet[LinkAccount]:
        return LinkAccount.objects.filter(link_id=owner).order_by("started_at", "pk")

    return _of_link(fz.frozen("links.page_accounts", build, [fz.OWNER]).objects(link.pk), LinkAccount, link)


def link_open_kinds(link: LiveLink) -> set[str]:
    """The kinds of the link's open requests (compiled once)."""

    def build(owner: int) -> Any:
        return LinkRequest.objects.filter(link_id=owner, is_open=True).values_list("kind")

    return {row[0] for row in fz.frozen("links.open_kinds", build, [fz.OWNER]).values(link.pk)}


def link_history(link: LiveLink) -> QuerySet[LinkEvent]:
    return link.events.select_related("actor", "request").order_by("created_at", "pk")


def link_requests(link: LiveLink) -> QuerySet[LinkRequest]:
    return link.requests.select_related("case", "opened_by", "ukey").order_by("-opened_at", "-pk")


_HISTORY_SHOWN = (
    "link_id", "name", "actor_id", "channel", "data", "reason", "created_at",
    "actor__username", "actor__display_name",
)  # fmt: skip
_REQUEST_SHOWN = (
    "link_id", "case_id", "kind", "channel", "ukey_id", "details", "opened_by_id", "opened_at", "closed_at", "is_open",
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
    if newest and before is None and after is None:
        return _newest("links.page_history", _newest_events, LinkEvent, link, size)
    # What `links/_history.html` shows of an event, its person's name only.
    shown = link.events.select_related("actor").only(*_HISTORY_SHOWN)
    return keyset_page(shown.order_by("created_at", "pk"), before=before, after=after, newest=newest, size=size)


def link_requests_page(
    link: LiveLink, *, before: int | None = None, after: int | None = None, newest: bool = False
) -> KeysetPage:
    """A page of the link's requests (keyset on (opened_at, pk)), oldest first as read: the
    pages show them newest first (`rows[::-1]`)."""
    size = LINK_PAGE_ROWS if newest else LINK_HISTORY_PAGE
    if newest and before is None and after is None:
        return _newest("links.page_requests", _newest_requests, LinkRequest, link, size)
    # What `links/_requests_table.html` shows of a request: its case's number and state, not the whole case.
    shown = link_requests(link).only(*_REQUEST_SHOWN)
    return keyset_page(shown, before=before, after=after, newest=newest, size=size, field="opened_at")


def _newest_events(owner: int, size: int) -> QuerySet[LinkEvent]:
    qs = LinkEvent.objects.filter(link_id=owner).select_related("actor").only(*_HISTORY_SHOWN)
    return qs.order_by("-created_at", "-pk")[: size + 1]


def _newest_requests(owner: int, size: int) -> QuerySet[LinkRequest]:
    qs = LinkRequest.objects.filter(link_id=owner).select_related("case", "opened_by", "ukey")
    return qs.only(*_REQUEST_SHOWN).order_by("-opened_at", "-pk")[: size + 1]


def _newest(name: str, build: Any, model: Any, link: LiveLink, size: int) -> KeysetPage:
    """The link page's newest `size` rows of a log, oldest first, as `keyset_page(newest=True)`
    gives them, by a statement compiled once per size."""
    read = fz.frozen(f"{name}:{size}", lambda owner: build(owner, size), [fz.OWNER])
    rows = _of_link(read.objects(link.pk), model, link)
    more = len(rows) > size
    rows = rows[:size][::-1]
    return KeysetPage(rows=rows, older=rows[0].pk if more and rows else None, newer=None)


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
    the import create it there): it comes with the case's one-to-ones (`page_relations`, one
    table) and is shown only at a live end, as before. A request case's request is one small
    query: joined to the case row, its four tables cost PostgreSQL more to plan than the rest.
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
        if live_link.is_cached(case):  # read with the case's one-to-ones (`page_relations`)
            link = live_link.get_cached_value(case)
        else:
            found = prepared("links.case_page_link", _link_of, LiveLink).rows(case.pk)
            link = found[0][0] if found else None
        if link is not None:
            LiveLink.onboarding_case.field.set_cached_value(link, case)
    live_link.set_cached_value(case, link)
    link_request.set_cached_value(case, request)
