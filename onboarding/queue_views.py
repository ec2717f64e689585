"""The whole of the held part of "轮到我办理", page by page (`/queue/`): the dashboard shows the
first `queue.HELD_SHOWN` and links here when a person holds more."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import queue
from .web import staff_required

MAX_PAGE = 10_000


@staff_required
def queue_all(request: HttpRequest) -> HttpResponse:
    try:
        # A page number as typed in the address: not a number, below 1 or past any queue (an
        # OFFSET the database cannot hold) is the first or the last page there can be.
        number = min(max(1, int(request.GET.get("page", "1"))), MAX_PAGE)
    except ValueError:
        number = 1
    size = queue.HELD_SHOWN
    held = queue.held_page(request.user, offset=(number - 1) * size, limit=size)
    shown_to = (number - 1) * size + len(held.items)
    return render(
        request,
        "onboarding/queue_all.html",
        {
            "items": held.items,
            "number": number,
            "first": (number - 1) * size + 1 if held.items else 0,
            "last": shown_to,
            "total": min(held.total, held.counted),
            "over_limit": held.over_limit,
            "previous": number - 1 if number > 1 else None,
            "next": number + 1 if held.total > shown_to and held.items else None,
        },
    )
