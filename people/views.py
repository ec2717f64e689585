"""People-change pages: a person's work and the leaver queue (reassign after a preview), and
absences. Every person and case is read through the scoped selectors (404 outside the subtree);
the services decide."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from onboarding.services import CaseError
from onboarding.web import AuthenticatedHttpRequest, show_case_error, show_form_errors, staff_required

from . import selectors, services
from .forms import AbsenceForm, ReassignForm
from .selectors import CASE_ROLE, ENTRY_ROLE, role_label

ROLES = (CASE_ROLE, ENTRY_ROLE)


def _role(request: AuthenticatedHttpRequest) -> str:
    role = request.POST.get("role") or request.GET.get("role") or CASE_ROLE
    if role not in ROLES:
        raise Http404("no such role")
    return role


def _manager(request: AuthenticatedHttpRequest) -> None:
    if not selectors.is_manager(request.user):
        raise Http404("not a manager")


def _work(request: AuthenticatedHttpRequest, username: str) -> tuple[Any, list[services.Move], str]:
    person = selectors.person_for_manager(actor=request.user, username=username)
    role = _role(request)
    moves = [m for m in services.moves_of(person=person) if m.role == role]
    return person, moves, role


def _leavers(request: AuthenticatedHttpRequest) -> tuple[None, list[services.Move], str]:
    _manager(request)
    role = _role(request)
    moves = [m for m in services.moves_from_leaver_queue(actor=request.user) if m.role == role]
    return None, moves, role


def _page(
    request: AuthenticatedHttpRequest, person: Any, moves: list[services.Move], role: str, form: Any
) -> HttpResponse:
    chosen = set(request.POST.getlist("item") or request.GET.getlist("item"))
    return render(
        request,
        "people/work.html",
        {
            "person": person,
            "moves": moves,
            "role": role,
            "role_label": role_label(role),
            "roles": [(r, role_label(r)) for r in ROLES],
            "form": form,
            "chosen": chosen,
            "leavers": person is None,
        },
    )


def _chosen(request: AuthenticatedHttpRequest, moves: list[services.Move]) -> list[services.Move]:
    keys = set(request.POST.getlist("item"))
    return [m for m in moves if m.key in keys]


def _preview(request: AuthenticatedHttpRequest, person: Any, moves: list[services.Move], role: str) -> HttpResponse:
    form = ReassignForm(request.POST, actor=request.user, role=role, exclude=person)
    chosen = _chosen(request, moves)
    if not form.is_valid() or not chosen:
        if not chosen:
            messages.error(request, _("请选择要转交的工作"))
        return _page(request, person, moves, role, form)
    target = form.cleaned_data["target"]
    previewed = services.work_preview(actor=request.user, moves=chosen, target=target)
    return render(
        request,
        "people/preview.html",
        {
            "person": person,
            "moves": previewed,
            "movable": [m for m in previewed if not m.problem],
            "refused": [m for m in previewed if m.problem],
            "target": target,
            "reason": form.cleaned_data["reason"],
            "role": role,
            "leavers": person is None,
        },
    )


def _reassign(
    request: AuthenticatedHttpRequest, person: Any, moves: list[services.Move], role: str, back: str
) -> HttpResponse:
    form = ReassignForm(request.POST, actor=request.user, role=role, exclude=person)
    if not form.is_valid():
        show_form_errors(request, form)
        return redirect(back)
    try:
        outcome = services.work_reassign(
            actor=request.user,
            moves=_chosen(request, moves),
            target=form.cleaned_data["target"],
            reason=form.cleaned_data["reason"],
        )
    except CaseError as exc:
        show_case_error(request, exc)
        return redirect(back)
    messages.success(
        request, _("已转交 %(n)d 项工作给 %(who)s") % {"n": len(outcome.moved), "who": form.cleaned_data["target"]}
    )
    for move in outcome.refused:
        messages.warning(request, f"{move.case.reference}:{move.problem}")
    return redirect(back)


@staff_required
def work(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    person, moves, role = _work(request, username)
    form = ReassignForm(actor=request.user, role=role, exclude=person)
    return _page(request, person, moves, role, form)


@staff_required
@require_POST
def work_preview(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    return _preview(request, *_work(request, username))


@staff_required
@require_POST
def work_reassign(request: AuthenticatedHttpRequest, username: str) -> HttpResponse:
    person, moves, role = _work(request, username)
    return _reassign(request, person, moves, role, f"{reverse('people:work', args=[username])}?role={role}")


@staff_required
def leavers(request: AuthenticatedHttpRequest) -> HttpResponse:
    person, moves, role = _leavers(request)
    return _page(request, person, moves, role, ReassignForm(actor=request.user, role=role))


@staff_required
@require_POST
def leavers_preview(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _preview(request, *_leavers(request))


@staff_required
@require_POST
def leavers_reassign(request: AuthenticatedHttpRequest) -> HttpResponse:
    person, moves, role = _leavers(request)
    return _reassign(request, person, moves, role, f"{reverse('people:leavers')}?role={role}")


@staff_required
def absences(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if request.method == "POST":
        form = AbsenceForm(request.POST, actor=user)
        if form.is_valid():
            try:
                services.absence_set(actor=user, **form.cleaned_data)
            except CaseError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("休假委托已保存"))
                return redirect("people:absences")
    else:
        form = AbsenceForm(actor=user)
    return render(
        request,
        "people/absences.html",
        {"form": form, "absences": selectors.absences_visible(actor=user), "today": selectors.today()},
    )


@staff_required
@require_POST
def absence_cancel(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    absence = get_object_or_404(selectors.absences_visible(actor=request.user), public_id=public_id)
    try:
        services.absence_cancel(actor=request.user, absence=absence)
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(request, _("休假委托已取消"))
    return redirect("people:absences")
