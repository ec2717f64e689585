"""The whole of "轮到我办理", kind by kind, page by page (`/queue/?kind=…`; without a kind, the
held cases): the dashboard shows the first `queue.HELD_SHOWN` of all kinds and links here."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from . import queue
from .web import staff_required

MAX_PAGE = 10_000


@staff_required
def queue_all(request: HttpRequest) -> HttpResponse:
    key = request.GET.get("kind") or "stage"
    page = queue.kind_page(key)
    if page is None:
        raise Http404("no such kind of item")  # an address typed or kept from another version
    try:
        # A page number as typed in the address: not a number, below 1 or past any queue (an
        # OFFSET the database cannot hold) is the first or the last page there can be.
        number = min(max(1, int(request.GET.get("page", "1"))), MAX_PAGE)
    except ValueError:
        number = 1
    size = queue.HELD_SHOWN
    held = page(request.user, offset=(number - 1) * size, limit=size, request=request)
    shown_to = (number - 1) * size + len(held.items)
    return render(
        request,
        "onboarding/queue_all.html",
        {
            "items": held.items,
            "label": None if key == "stage" else queue.kind_label(key),
            "kind_param": "" if key == "stage" else f"kind={key}&",
            "number": number,
            "first": (number - 1) * size + 1 if held.items else 0,
            "last": shown_to,
            "total": min(held.total, held.counted),
            "over_limit": held.over_limit,
            "previous": number - 1 if number > 1 else None,
            "next": number + 1 if held.total > shown_to and held.items else None,
        },
    )
