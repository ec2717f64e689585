from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import get_script_prefix, reverse
from django.utils import formats, timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from branches.roles import Role, has_role, user_roles
from casetypes import declaration
from casetypes.declaration import Feature
from config.once import once
from workcalendar import workcal

from . import change_requests, queue, selectors, services, team
from .forms import (
    ChangeDecisionForm,
    ProductionConfigForm,
    RetestForm,
    TestPackageForm,
    TestResultForm,
    TransitionForm,
    case_forms,
)
from .models import OnboardingCase
from .next_step import next_step
from .page_reads import page_reads
from .states import WORKING_STAGES
from .web import (
    AuthenticatedHttpRequest,
    case_for,
    case_list_selection,
    case_page_refused,
    change_request_page,
    run_action,
    seen_version,
    show_case_error,
    show_current_values,
    show_form_errors,
    staff_required,
    stage_tracker,
    tracker_html,
)


@staff_required
def home(request: HttpRequest) -> HttpResponse:
    return _home(request)


def _home(request: HttpRequest) -> HttpResponse:
    user = request.user
    items = queue.queue_for(user, page=request)
    team_rows = None
    if has_role(user, Role.BRANCH_SUPERVISOR):
        # The team table reads the subtree's open cases: the overdue figure comes with it, and
        # the per-state figures in the same statement (PostgreSQL).
        team_rows, overdue, counts = team.team_figures(user=user)
        overdue = min(overdue, selectors.OVERDUE_COUNT_LIMIT + 1)
    else:  # the per-state figures and the overdue count in one statement
        counts, overdue = selectors.stage_counts_and_overdue(user=user)
    # A request type's first stage is also a working one (timed, the bank's): one tile a state.
    codes = dict.fromkeys(
        (*declaration.initial_states(), *WORKING_STAGES, *declaration.paused_states(), *declaration.live_states())
    )
    labels = declaration.state_labels_shown()  # translated once per language, not 30 look-ups a page
    stages = [(code, labels.get(code, code), counts.get(code, 0)) for code in codes]
    return render(
        request,
        "onboarding/home.html",
        {
            "items": items,
            "team": team_rows,
            "team_body": team.team_body(team_rows, request=request) if team_rows else "",
            "stage_tiles": stage_tiles(stages),
            "overdue_total": overdue,
            "overdue_limit": selectors.OVERDUE_COUNT_LIMIT,
        },
    )


def stage_tiles(stages: list[tuple[str, Any, int]]) -> SafeString:
    """The dashboard's per-state tiles, the markup home.html's loop wrote (30 tiles of a link, a
    figure and a label were ~0.4 ms of the template engine's CPU), as `team.team_body`. The
    markup around each figure is written once per address, state and label (`_tile_parts`):
    only the figures change from one dashboard to the next."""
    url = _case_list_url(get_script_prefix())
    plain_ints = not settings.USE_THOUSAND_SEPARATOR
    parts = _tile_parts
    out = []
    for code, label, n in stages:
        if (found := parts.get((url, code, label))) is None:
            found = parts[url, code, label] = (
                f'\n    <a class="count" href="{conditional_escape(url)}?state={conditional_escape(code)}">'
                '<span class="n">',
                f"</span><span>{conditional_escape(label)}</span></a>\n  ",
            )
        out.append(f"{found[0]}{n if plain_ints else conditional_escape(formats.localize(n))}{found[1]}")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped here


# The tiles' markup around their figures, by (case list address, state, label): a few dozen
# states in each language the process has answered in.
_tile_parts: dict[tuple[str, str, Any], tuple[str, str]] = {}


@functools.lru_cache(maxsize=8)
def _case_list_url(prefix: str) -> str:
    """The case list's address, reversed once per script prefix."""
    return reverse("case_list")


@staff_required
def case_list_view(request: HttpRequest) -> HttpResponse:
    return _case_list(request)


def _case_list(request: HttpRequest) -> HttpResponse:
    selection = case_list_selection(request)
    options = selection.options
    page = selectors.case_page(
        selection.keys if selection.keys is not None else selection.cases.values_list("pk", flat=True),
        request.GET.get("page"),
        25,
        count=selection.count,
        # The rows' branches and account managers are named as the filter offers them.
        branch_names={pk: name for pk, name, _path in options.branches},
        manager_names={int(pk): shown for pk, shown in options.managers},
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "onboarding/case_list.html",
        {
            "form": selection.form,
            "page": page,
            "rows": case_list_rows(page, request=request),
            "query": query.urlencode(),
        },
    )


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A row of the case list, written before the template (issue 26: a row of tags and filters
    cost a millisecond): its case and markup."""

    pk: int
    is_open: bool  # the case is open (its go-live forecast is shown: `case_forecasts`)
    # The row's opening tag and its first six cells, as the list's template wrote them; the
    # forecast cell and the closing tag follow (`{% case_list_body %}`).
    cells: SafeString


_UUID_SLOT = uuid.UUID(int=0)


def case_list_rows(rows: Any, *, request: HttpRequest) -> list[CaseRow]:
    """The rows of a page of `selectors.case_page` (dicts of `CASE_LIST_ROW_FIELDS` with their
    branch's and account manager's names). Every value from the database goes through escape();
    the rest is this page's markup, its texts translated once for the page."""
    # One reverse for the page: every row's address is the same path around its id.
    url = escape(reverse("case_detail", args=[_UUID_SLOT])).replace(str(_UUID_SLOT), "{}")
    now = timezone.now()
    open_states = declaration.open_states()
    labels = declaration.state_labels_shown()
    states: dict[str, str] = {}  # each state's cell content, escaped once
    late_badge = f' <span class="badge danger">{_("超时")}</span>'
    late_text = _("已超时 %(late_days)s 个工作日")
    tz = timezone.get_current_timezone()  # `localtime`'s zone, looked up once for the page
    cal = None
    at = 0  # now's position in working time (`WorkCalendar.position`), taken once with the calendar
    out = []
    for row in rows:
        # The company as the case has it: its data version, else (an old case) the company.
        versioned = row["company_version_id"] is not None
        state = row["state"]
        is_open = state in open_states
        due_at = row["current_visit__due_at"]
        # `StageVisit.is_overdue` on the values (no visit: not overdue).
        overdue = (
            due_at is not None
            and row["current_visit__left_at"] is None
            and row["current_visit__paused_at"] is None
            and due_at < now
        )
        due = "—"
        if due_at is not None and is_open:
            local_due = due_at.astimezone(tz)
            due = local_due.strftime("%Y-%m-%d")
            if overdue:
                if cal is None:  # the page's calendar (one read for the page, kept on the request)
                    local_now = now.astimezone(tz)
                    cal = workcal.page_calendar(request, local_due.date(), local_now.date())
                    at = cal.position(local_now)
                # `cal.working_seconds(due_at, now)`: the difference of the two positions.
                late = max(1, math.ceil((at - cal.position(local_due)) / workcal.DAY))
                due += f'{late_badge}<div class="sub late-days">{late_text % {"late_days": late}}</div>'
        if (state_cell := states.get(state)) is None:
            state_cell = states[state] = (
                f'<span class="state state-{escape(state)}">{escape(labels.get(state, state))}</span>'
            )
        manager = row["manager_name"]
        company, uscc = (
            (row["company_version__name"], row["company_version__uscc"])
            if versioned
            else (row["enterprise__name"], row["enterprise__uscc"])
        )
        opening = '<tr class="overdue">' if overdue else "<tr>"
        cells = (
            f"{opening}\n"
            f'  <td><a href="{url.format(row["public_id"])}">{escape(row["reference"])}</a></td>\n'
            f'  <td>{escape(company)}<div class="sub mono">{escape(uscc)}</div></td>\n'
            f"  <td>{state_cell}</td>\n"
            f"  <td>{escape(row['branch_name'])}</td>\n"
            f"  <td>{'—' if manager is None else escape(manager)}</td>\n"
            f"  <td>{due}</td>\n  "
        )
        out.append(CaseRow(pk=row["pk"], is_open=is_open, cells=mark_safe(cells)))  # noqa: S308
    return out


@staff_required
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def case_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.ACCOUNT_MANAGER):
        raise PermissionDenied
    data = request.POST if request.method == "POST" else None
    ent_form, acc_formset, case_form = case_forms(data, enterprise=None)
    if request.method == "POST" and ent_form.is_valid() and acc_formset.is_valid() and case_form.is_valid():
        try:
            case = services.case_intake(
                user=request.user,
                enterprise_data=ent_form.cleaned_data,
                accounts=acc_formset.accounts(),
                modules=case_form.cleaned_data["modules"],
                fields=case_form.case_fields(),
            )
        except services.CaseError as exc:
            show_case_error(request, exc)
        else:
            messages.success(request, _("案件 %(ref)s 已创建") % {"ref": case.reference})
            return redirect("case_detail", public_id=case.public_id)
    return render(
        request,
        "onboarding/case_form.html",
        {"ent_form": ent_form, "acc_formset": acc_formset, "case_form": case_form, "case": None},
    )


@staff_required
def case_edit(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    if case.state not in services.EDITABLE_STATES:
        messages.error(request, _("当前阶段不能修改企业资料"))
        return redirect("case_detail", public_id=case.public_id)
    data = request.POST if request.method == "POST" else None
    ent_form, acc_formset, case_form = case_forms(data, enterprise=case.enterprise, case=case)
    if request.method == "POST" and ent_form.is_valid() and acc_formset.is_valid() and case_form.is_valid():
        try:
            services.case_update(
                case=case,
                user=request.user,
                enterprise_data={k: v for k, v in ent_form.cleaned_data.items() if k != "uscc"},
                accounts=acc_formset.accounts(),
                modules=case_form.cleaned_data["modules"],
                fields=case_form.case_fields(),
                expected_version=seen_version(request),
            )
        except services.CaseError as exc:
            show_case_error(request, exc)
            if isinstance(exc, services.CaseConflict):
                show_current_values(request, case, ent_form, case_form)
                case = selectors.case_get_for_user(user=request.user, public_id=public_id)
        else:
            messages.success(request, _("已保存。"))
            return redirect("case_detail", public_id=case.public_id)
    return render(
        request,
        "onboarding/case_form.html",
        {"ent_form": ent_form, "acc_formset": acc_formset, "case_form": case_form, "case": case},
    )


@staff_required
def case_detail(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    return _case_detail(request, public_id)


def _case_detail(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The staff case page. After a refused post (`web.case_page_refused`), the request holds the
    refused form (bound, with what was typed) by the name the page gives it, drawn in place of
    the empty one."""
    refused = getattr(request, "refused_forms", None)
    case = page_reads(selectors.case_page_get(user=request.user, public_id=public_id))
    request.case_read = case  # type: ignore[attr-defined]  # the auditor's access event names it
    # The stage tracker and the time split both read every visit (read with the case). The timeline
    # shows the newest events and links to the history page for the rest; the time split
    # (suspensions), the reminders panel and the documents checklist (returns marking papers to
    # redo) read only their events: one query of bounded size, so a case with 1,000 events
    # costs what one with 40 does.
    recent, case.sla_events, case.page_events = selectors.case_page_events(case=case)  # type: ignore[attr-defined]
    options = services.case_transition_options(case=case, user=request.user)
    roles = user_roles(request.user)
    return render(
        request,
        "onboarding/case_detail.html",
        {
            "case": case,
            # The case's version of the company data (what was approved once past intake).
            "enterprise": case.company,
            "company": case.company,
            "tracker_html": tracker_html(stage_tracker(case)),
            **change_requests.case_change_panel(case=case, user=request.user),
            "change_request_url": reverse("case_change_request", args=[case.public_id]),
            "timeline": recent.events,
            "history_older": recent.older,
            "options": options,
            "next": next_step(case, options, request.user),
            "roles": roles,
            # Built (and its defaults read) only where the page shows it: tech, at the stage.
            "test_package_form": TestPackageForm(
                instance=getattr(case, "test_package", None),
                initial=None if hasattr(case, "test_package") else selectors.test_package_defaults(case=case),
            )
            if Feature.TEST_PACKAGE in case.features and Role.TECH_REVIEWER in roles
            else None,
            **_testing_context(case, request.user),
            # A refused form of the counter panel comes back by its name (`counter_tags`).
            "refused_forms": refused or {},
            **{k: v for k, v in (refused or {}).items() if k == "test_package_form"},
        },
    )


@staff_required
def case_history(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The whole history of a case, a page at a time (keyset on (created_at, pk)): what the
    case page's timeline leaves out. `?before=<event id>` older, `?after=<event id>` newer."""
    case = selectors.case_get_for_user(user=request.user, public_id=public_id)
    request.case_read = case  # type: ignore[attr-defined]  # the auditor's access event names it

    def key(name: str) -> int | None:
        raw = request.GET.get(name, "")
        if not raw:
            return None
        if not raw.isdigit():
            raise Http404("bad key")
        return int(raw)

    page = selectors.case_history_page(case=case, before=key("before"), after=key("after"))
    return render(
        request,
        "onboarding/case_history.html",
        {"case": case, "enterprise": case.company, "timeline": page.events, "page": page},
    )


def _testing_context(case: OnboardingCase, user: Any) -> dict[str, Any]:
    """The joint-testing and production-configuration panel, with the forms its reader may use."""
    data = selectors.testing_panel(case=case, user=user)
    record = data["can_record_tests"]
    data.update(
        test_result_form=TestResultForm(case=case, auto_id="tr_%s") if record else None,
        retest_form=RetestForm(case=case, auto_id="rt_%s") if record else None,
        production_form=ProductionConfigForm(
            instance=data["production_config"],
            auto_id="pc_%s",
            initial=None if data["production_config"] else selectors.production_config_defaults(case=case),
        )
        if data["can_issue_production"]
        else None,
    )
    return data


@staff_required
@require_POST
def case_transition_view(request: AuthenticatedHttpRequest, public_id: Any, name: str) -> HttpResponse:
    case = case_for(request, public_id)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请求无效,请刷新页面"))
        return redirect("case_detail", public_id=case.public_id)
    if services.transition_is_rare(name) and not form.cleaned_data["confirm"]:
        messages.error(request, _("此操作须勾选确认后才能提交。"))
        return redirect(reverse("case_detail", args=[case.public_id]) + "#rare-actions")
    try:
        case = services.case_transition(
            case=case,
            user=request.user,
            name=name,
            reason=form.cleaned_data["reason"],
            expected_version=form.cleaned_data["version"],
            redo=request.POST.getlist("redo"),
        )
    except services.CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(request, services.transition_done_message(name))
    return redirect("case_detail", public_id=case.public_id)


def _record_view(
    request: HttpRequest, public_id: Any, form_cls: Callable[..., Any], save: Callable[..., Any]
) -> HttpResponse:
    case = case_for(request, public_id)
    form = form_cls(request.POST)
    if not run_action(
        request,
        form,
        lambda: save(case=case, user=request.user, expected_version=seen_version(request), **form.cleaned_data),
        _("已登记"),
    ):
        return case_page_refused(request, case, test_package_form=form)
    return redirect("case_detail", public_id=case.public_id)


@staff_required
@require_POST
def test_package_view(request: HttpRequest, public_id: Any) -> HttpResponse:
    return _record_view(request, public_id, TestPackageForm, services.test_package_record)


@staff_required
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def case_change_request(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """File a change request (变更申请) for a case past intake: the case's account manager."""
    case = case_for(request, public_id)
    return change_request_page(
        request,
        case,
        back_url=reverse("case_detail", args=[case.public_id]),
        base_template="base.html",
        done=_("变更申请已提交,等待分行审核人员审批"),
    )


def _back_to(case: OnboardingCase, anchor: str) -> HttpResponse:
    return redirect(reverse("case_detail", kwargs={"public_id": case.public_id}) + anchor)


@staff_required
@require_POST
def change_request_decide(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    change = change_requests.change_request_get_for_user(user=request.user, public_id=public_id)
    form = ChangeDecisionForm(request.POST)
    if not form.is_valid():
        show_form_errors(request, form)
    else:
        decide = (
            change_requests.change_request_approve
            if form.cleaned_data["decision"] == "approve"
            else change_requests.change_request_refuse
        )
        try:
            decide(
                request=change,
                user=request.user,
                reason=form.cleaned_data["reason"],
                expected_version=seen_version(request),
            )
        except services.CaseError as exc:
            show_case_error(request, exc)
        else:
            messages.success(request, _("变更申请已处理"))
    return redirect(reverse("case_detail", args=[change.case.public_id]) + "#company-changes")


@staff_required
@require_POST
def test_result_view(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    form = TestResultForm(request.POST, case=case)
    run_action(
        request,
        form,
        lambda: services.test_result_record(
            case=case, user=request.user, expected_version=seen_version(request), **form.values()
        ),
        _("测试结果已登记"),
    )
    return _back_to(case, "#testing")


@staff_required
@require_POST
def test_retest_view(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    form = RetestForm(request.POST, case=case)
    run_action(
        request,
        form,
        lambda: services.test_retest_request(
            case=case,
            user=request.user,
            expected_version=seen_version(request),
            reason=form.cleaned_data["reason"],
            items=form.items(),
        ),
        _("已要求重测,案件仍在联调测试"),
    )
    return _back_to(case, "#testing")


@staff_required
@require_POST
def production_config_view(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    form = ProductionConfigForm(request.POST)
    run_action(
        request,
        form,
        lambda: services.production_config_record(
            case=case, user=request.user, expected_version=seen_version(request), **form.cleaned_data
        ),
        _("生产配置已下发"),
    )
    return _back_to(case, "#production")
