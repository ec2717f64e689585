"""One admin page for everything that waits to be sent or failed, on every channel (`/admin/delivery/`).

Staff only (the admin's own login and second factor); a channel's rows are listed to those who
may view its row model in the admin (superusers see all). Read-only: rows are evidence, and the
kernel retries by itself.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from .channels import Channel, channels

LIMIT = 50


def _row(channel: Channel, row: Any, url_name: str) -> dict[str, Any]:
    given_up = getattr(row, channel.given_up_field)
    attempts = getattr(row, channel.attempts_field)
    try:
        url = reverse(url_name, args=[row.pk])
    except NoReverseMatch:
        url = ""
    return {
        "what": channel.describe(row),
        "url": url,
        "status": _("已放弃") if given_up else (_("重试中") if attempts else _("等待发送")),
        "failed": bool(given_up),
        "created": getattr(row, channel.created_field),
        "attempts": attempts,
        "next_attempt": None if given_up else getattr(row, channel.next_attempt_field),
        "given_up": given_up,
        "error": getattr(row, channel.error_field),
    }


def _section(channel: Channel) -> dict[str, Any]:
    opts = channel.model._meta
    url_name = f"admin:{opts.app_label}_{opts.model_name}_change"
    pending, failed = channel.pending(), channel.failed()
    waiting = list(pending.order_by(channel.next_attempt_field, "pk")[:LIMIT])
    gave_up = list(failed.order_by(f"-{channel.given_up_field}", "-pk")[:LIMIT])
    return {
        "key": channel.key,
        "label": channel.label,
        "waiting": pending.count(),
        "retrying": pending.filter(**{f"{channel.attempts_field}__gt": 0}).count(),
        "failed": failed.count(),
        "rows": [_row(channel, r, url_name) for r in [*waiting, *gave_up]],
        "limit": LIMIT,
    }


def delivery_waiting(request: HttpRequest) -> HttpResponse:
    sections = []
    for _key, cls in channels.items():
        channel = cls()
        opts = channel.model._meta
        if request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            sections.append(_section(channel))
    context = {
        **admin.site.each_context(request),
        "title": _("待发送与发送失败"),
        "sections": sections,
    }
    return TemplateResponse(request, "admin/delivery/waiting.html", context)


# Wrapped by the admin site: staff only, the admin's login (config/urls.py mounts it).
waiting_view = admin.site.admin_view(delivery_waiting)
