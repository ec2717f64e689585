"""One-time tokens for forms that create things: a post sent twice creates one row.

A browser that got no answer (a slow request, a proxy's timeout, a double click) posts the same
form again. Every create form carries a fresh token (`{% form_token %}`, a hidden field); the view,
wrapped in `once`, claims it in the transaction of what it creates. The same post again (same
user, token and fields) finds the claim and is answered as the first was (its redirect, with a
note that nothing was saved twice); while the first is still running, PostgreSQL makes the
repeat wait for it. A post that did not succeed (a form error re-rendered) frees the token, and a
post without a token is served as before. Claims are kept FORM_TOKEN_KEEP_HOURS.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

FIELD = "form_token"
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_NOT_HASHED = frozenset({FIELD, "csrfmiddlewaretoken"})


def new_token() -> str:
    return uuid.uuid4().hex


def _key(request: HttpRequest, token: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{getattr(request.user, 'pk', None)}|{token}|{request.path}".encode())
    for name in sorted(request.POST):
        if name not in _NOT_HASHED:
            for value in request.POST.getlist(name):
                digest.update(f"\0{name}\0{value}".encode())
    for name in sorted(request.FILES):
        for upload in request.FILES.getlist(name):
            digest.update(f"\0{name}\0{upload.name}\0{upload.size}\0".encode())
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
    return digest.hexdigest()


def once(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a view that creates something: a repeated post of one token is answered, not done again."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from .models import FormSubmission

        token = request.POST.get(FIELD, "") if request.method == "POST" else ""
        if not _TOKEN.match(token):
            return view(request, *args, **kwargs)
        key = _key(request, token)
        user_id = getattr(request.user, "pk", None)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    claim = FormSubmission.objects.create(key=key, user_id=user_id, path=request.path[:300])
            except IntegrityError:
                return _repeat(request, FormSubmission.objects.filter(key=key).first())
            before = len(_queued(request))
            response = view(request, *args, **kwargs)
            refused = any(m.level >= messages.WARNING for m in _queued(request)[before:])
            if response.status_code in (301, 302, 303) and response.get("Location") and not refused:
                claim.status_code = response.status_code
                claim.location = response["Location"][:500]
                claim.save(update_fields=["status_code", "location"])
            else:
                # Not done (a form error re-rendered, or shown after a redirect): the token is free.
                claim.delete()
            return response

    return wrapped


def _queued(request: HttpRequest) -> list[Any]:
    """The messages this request has added so far (shown on the next page)."""
    return list(getattr(getattr(request, "_messages", None), "_queued_messages", []))


def _repeat(request: HttpRequest, claim: Any) -> HttpResponse:
    if claim is None or not claim.location:
        # Freed meanwhile (the first post failed): nothing was saved; the page says to try again.
        messages.warning(request, _("请求正在处理或未完成,请刷新页面后再试"))
        back = request.META.get("HTTP_REFERER", "")
        safe = url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return HttpResponseRedirect(back if safe else "/")
    messages.info(request, _("此表单已提交过,未重复保存"))
    response = HttpResponseRedirect(claim.location)
    response.status_code = claim.status_code
    return response
