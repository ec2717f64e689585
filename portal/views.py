"""Client portal pages (enterprise users) and the few staff pages the portal needs."""

from __future__ import annotations

import functools
import uuid
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from branches.roles import STAFF_ROLES, Role, has_role, user_roles
from casetypes import declaration
from companies.models import Enterprise
from config.once import once
from onboarding import change_requests, selectors, services, test_gateway
from onboarding.forms import case_forms, int_or_none
from onboarding.models import OnboardingCase
from onboarding.page_reads import page_reads
from onboarding.selectors import case_test_matrix, case_test_results
from onboarding.services import CaseError
from onboarding.states import STAGE_HOLDER
from onboarding.web import (
    AuthenticatedHttpRequest,
    View,
    case_for,
    change_request_page,
    seen_version,
    share_enterprise,
    show_case_error,
    show_current_values,
    show_form_errors,
    staff_required,
    stage_tracker,
)

from . import selectors as portal_selectors
from . import services as portal_services
from .actions import actions_for, prepare_actions, withdrawal_of
from .forms import (
    AcceptInvitationForm,
    InvitationForm,
    MessageForm,
    PortalCaseForm,
    ProductionConfirmForm,
    StaffInvitationForm,
    SubmitForm,
    TestMatrixForm,
    WithdrawForm,
)
from .routes import case_route


def customer_required(view: View) -> View:
    """Enterprise users only: bank staff get 403 here, as customers do on staff pages."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not portal_services.is_customer(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _enterprise(request: HttpRequest) -> Enterprise:
    enterprise = getattr(request.user, "enterprise", None)
    assert enterprise is not None  # customer_required
    return enterprise


@login_required
def start(request: HttpRequest) -> HttpResponse:
    """Where a login lands: customers in the portal, staff in their workspace."""
    if portal_services.is_customer(request.user):
        return redirect("portal:home")
    user = request.user
    if user.is_superuser and (user.branch_id is None or not (user_roles(user) & STAFF_ROLES)):  # type: ignore[union-attr]
        # `admin` has no staff role: the workspace would be a 403, the admin is its page.
        return redirect("admin:index")
    return redirect("home")


def _holder_text(case: OnboardingCase, *, customer_owes: bool) -> str:
    """Who holds the case now: the company whenever it has a to-do, else the bank's role."""
    visit = case.current_visit
    if visit is None or declaration.is_paused(case.state):
        return ""
    if customer_owes or visit.holder_party == "customer":
        return _("贵司")
    role = visit.holder_role
    label = Role(role).label if role in Role.values else role
    return _("银行(%(role)s)") % {"role": label}


def _case_card(case: OnboardingCase, user: Any) -> dict[str, Any]:
    actions = actions_for(case=case, user=user)
    owes = any(a.required for a in actions)
    holder = _holder_text(case, customer_owes=owes)
    return {
        "case": case,
        "tracker": stage_tracker(case),
        "actions": actions,
        "owes": owes,
        "holder": holder,
        "customer_holds": holder == _("贵司"),
        "is_live": case.state in declaration.live_states(),
    }


def _day(when: Any) -> str:
    return timezone.localtime(when).strftime("%Y-%m-%d") if when else ""


def _home_card(card: dict[str, Any], case_url: str, now: Any) -> dict[str, Any]:
    """A card as the home draws it, worked out before the template (issue 26: the tracker and
    the action list were included, with their filters, once per card)."""
    case = card["case"]
    steps = []
    for number, s in enumerate(card["tracker"], start=1):
        visit = s["visit"]
        steps.append(
            {
                "number": number,
                "label": s["label"],
                "css": s["status"] + (" overdue" if visit is not None and visit.is_overdue(now) else ""),
                "current": s["status"] == "current",
                "visit": visit is not None,
                "entered": _day(visit.entered_at) if visit else "",
                "left": _day(visit.left_at) if visit else "",
                "due": _day(visit.due_at) if visit else "",
            }
        )
    actions = [
        {
            "a": a,
            "due": timezone.localtime(a.due_at).strftime("%Y-%m-%d %H:%M") if a.due_at else "",
        }
        for a in card["actions"]
        if a.required
    ]
    return {
        **card,
        "url": case_url.format(case.public_id),
        "state_label": case.get_state_display(),
        "modules": pgettext("list separator", "、").join(case.module_labels),
        "is_draft": case.is_draft,
        "steps": steps,
        "required_actions": actions,
    }


@customer_required
def home(request: HttpRequest) -> HttpResponse:
    return _home(request)


def _home(request: HttpRequest) -> HttpResponse:
    # Each card draws the stage tracker from the case's visits: read for all cards at once.
    # The cards show neither the branch nor the account manager: not joined.
    cases = list(
        portal_selectors.portal_case_list(user=request.user)
        .select_related(None)
        .select_related("enterprise", "company_version", "current_visit")
        .prefetch_related("visits")
    )
    share_enterprise(request.user, [c.enterprise for c in cases])
    prepare_actions(cases)  # each provider reads its table once for all the cards
    cards = [_case_card(c, request.user) for c in cases]
    owed = sum(1 for card in cards for a in card["actions"] if a.required)
    # One reverse for the page: every case's address is the same path around its id.
    case_url = reverse("portal:case_detail", args=[_UUID_SLOT]).replace(str(_UUID_SLOT), "{}")
    now = timezone.now()
    shown = [_home_card(card, case_url, now) for card in cards]
    return render(request, "portal/home.html", {"cards": shown, "owed": owed})


_UUID_SLOT = uuid.UUID(int=0)


@customer_required
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def case_new(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    ent_form, acc_formset, case_form = case_forms(
        data, enterprise=_enterprise(request), case=None, case_form_cls=PortalCaseForm
    )
    if request.method == "POST" and ent_form.is_valid() and acc_formset.is_valid() and case_form.is_valid():
        try:
            case = portal_services.portal_case_request(
                user=request.user,
                enterprise_data=ent_form.cleaned_data,
                accounts=acc_formset.accounts(),
                modules=case_form.cleaned_data["modules"],
                fields=case_form.case_fields(),
            )
        except CaseError as exc:
            show_case_error(request, exc)
        else:
            messages.success(
                request,
                _("申请 %(ref)s 已保存为草稿,请核对后提交") % {"ref": case.reference},
            )
            return redirect("portal:case_detail", public_id=case.public_id)
    return render(
        request,
        "portal/case_form.html",
        {"ent_form": ent_form, "acc_formset": acc_formset, "case_form": case_form, "case": None},
    )


@customer_required
def case_edit(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    if case.state not in declaration.draft_states():
        messages.error(request, _("申请已提交,资料修改请联系客户经理"))
        return redirect("portal:case_detail", public_id=case.public_id)
    data = request.POST if request.method == "POST" else None
    ent_form, acc_formset, case_form = case_forms(
        data, enterprise=_enterprise(request), case=case, case_form_cls=PortalCaseForm
    )
    if request.method == "POST" and ent_form.is_valid() and acc_formset.is_valid() and case_form.is_valid():
        try:
            services.case_update(
                case=case,
                user=request.user,
                enterprise_data={k: v for k, v in ent_form.cleaned_data.items() if k != "uscc"},
                accounts=acc_formset.accounts(),
                modules=case_form.cleaned_data["modules"],
                fields=case_form.case_fields(),
                expected_version=int_or_none(request.POST.get("version")),
            )
        except CaseError as exc:
            show_case_error(request, exc)
            if isinstance(exc, services.CaseConflict):
                show_current_values(request, case, ent_form, case_form)
                case = selectors.case_get_for_user(user=request.user, public_id=public_id)
        else:
            messages.success(request, _("已保存"))
            return redirect("portal:case_detail", public_id=case.public_id)
    return render(
        request,
        "portal/case_form.html",
        {"ent_form": ent_form, "acc_formset": acc_formset, "case_form": case_form, "case": case},
    )


@customer_required
def case_detail(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    # Read as the staff case page reads it (two short reads, the company-data facts with the
    # row) and marked as the page's case: its panels share their reads (the documents
    # checklist, the test results).
    case = page_reads(selectors.case_page_get(user=request.user, public_id=public_id))
    request.case_read = case  # type: ignore[attr-defined]  # the read's access event names it (audit.middleware)
    return _case_page(request, case)


def _case_page(
    request: AuthenticatedHttpRequest, case: OnboardingCase, *, matrix_form: TestMatrixForm | None = None
) -> HttpResponse:
    """The case page; a refused matrix comes back with what was typed in it."""
    submit_problems: list[str] = []
    stage = declaration.stage(case.state)
    # The joint-test matrix: worked out once, and only if the stage's panel shows it (the
    # template calls these where it reads them).
    matrix = functools.cache(lambda: case_test_matrix(case=case))
    if case.state in declaration.initial_states():
        options = {o.name: o for o in services.case_transition_options(case=case, user=request.user)}
        if "submit" in options:
            submit_problems = options["submit"].problems
    return render(
        request,
        "portal/case_detail.html",
        {
            **_case_card(case, request.user),
            # The case's version of the company data (what was approved once past intake).
            "enterprise": case.company,
            "company": case.company,
            **change_requests.case_change_panel(case=case, user=request.user),
            "change_request_url": case_route("portal:case_change_request", case.public_id),
            "submit_problems": submit_problems,
            "test_matrix": matrix,
            # The forms only some stages show: made when the template first reads them (it calls them).
            "matrix_form": matrix_form or (lambda: TestMatrixForm(None, rows=matrix())),
            "observed_count": lambda: sum(1 for row in matrix() if row["observed"] is not None),
            "test_results": case_test_results(case=case)[::-1],  # newest first; the matrix's read
            # What the bank issued for the customer to configure (no secrets: none are stored).
            "test_package": getattr(case, "test_package", None),
            "production_config": getattr(case, "production_config", None),
            "confirm_form": ProductionConfirmForm,
            "withdraw_form": lambda: WithdrawForm(initial={"version": case.version}),
            # The withdrawal the case's own type offers the customer from its state, if any.
            "withdrawal": withdrawal_of(case, request.user),
            **_thread(case, case_route("portal:case_thread", case.public_id)),
            "post_url": case_route("portal:case_message", case.public_id),
            "message_form": MessageForm(),
            "bank_holder": STAGE_HOLDER.get(case.state, ("", ""))[0] == "bank",
            # What the case's stage shows the customer (its declaration's portal panels).
            "stage_panels": stage.portal_panels if stage is not None else (),
            # The reader's open notices of this case (a return's reason, go-live), in their language.
            "case_notices": portal_selectors.case_open_notices(case=case, user=request.user),
        },
    )


@customer_required
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def case_change_request(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The customer files a change of company data (变更申请) on a case past intake."""
    case = case_for(request, public_id)
    return change_request_page(
        request, case, back_url=case_url(case), base_template="portal/base.html", done=_("变更申请已提交,等待银行审批")
    )


def _transition(
    request: AuthenticatedHttpRequest,
    public_id: Any,
    name: str,
    form_cls: type[Any],
    done: str,
    owed_done: str = "",
) -> HttpResponse:
    """Run the customer's transition. `owed_done`, if given, is said instead of `done` when the
    company still owes something afterwards (the header then names it as the holder: both agree)."""
    case = case_for(request, public_id)
    form = form_cls(request.POST)
    if not form.is_valid():
        show_form_errors(request, form)
        return redirect("portal:case_detail", public_id=case.public_id)
    try:
        services.case_transition(
            case=case,
            user=request.user,
            name=name,
            reason=form.cleaned_data.get("reason", ""),
            expected_version=form.cleaned_data["version"],
        )
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        owed = [a for a in actions_for(case=case_for(request, public_id), user=request.user) if a.required]
        messages.success(request, owed_done % {"n": len(owed)} if owed_done and owed else done)
    return redirect("portal:case_detail", public_id=case.public_id)


@customer_required
@require_POST
def case_submit(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    return _transition(
        request,
        public_id,
        "submit",
        SubmitForm,
        services.transition_done_message("submit"),
        # After submitting, the company usually still owes the signed forms and copies: the
        # header says it holds the case, and so does this message (issue 25).
        _("已提交受理,客户经理将审核贵司资料。贵司尚有 %(n)d 项待办(见“贵司待办”),办完后由客户经理办理。"),
    )


@customer_required
@require_POST
def case_withdraw(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The withdrawal the case's type declares (onboarding's 撤回申请, a termination's 撤回注销申请)."""
    case = case_for(request, public_id)
    withdrawal = services.withdrawal_for(case=case, user=request.user)
    if withdrawal is None:
        messages.error(request, services.withdrawal_refusal(case=case, user=request.user))
        return redirect("portal:case_detail", public_id=case.public_id)
    return _transition(
        request, public_id, withdrawal.name, WithdrawForm, services.transition_done_message(withdrawal.name)
    )


@customer_required
@require_POST
def case_test_result(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The whole joint-test matrix posted at once: every row given a result is saved in one write."""
    case = case_for(request, public_id)
    form = TestMatrixForm(request.POST, rows=case_test_matrix(case=case))
    outcomes = form.outcomes()
    for problem in form.errors:
        messages.error(request, problem)
    if not form.errors:
        try:
            rows = services.test_results_record(
                case=case, user=request.user, outcomes=outcomes, expected_version=seen_version(request)
            )
        except CaseError as exc:
            show_case_error(request, exc)
        else:
            messages.success(request, _("已登记 %(n)d 个测试用例的结果") % {"n": len(rows)})
            return redirect(f"{case_url(case)}#testing")
    # Refused: the page again with what was typed (against the case as it is now).
    case = case_for(request, public_id)
    request.page_drawn = "portal:case_detail"  # type: ignore[attr-defined]  # a read of the case (audit.middleware)
    return _case_page(request, case, matrix_form=TestMatrixForm(request.POST, rows=case_test_matrix(case=case)))


@customer_required
@require_POST
def case_test_confirm(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The customer confirms what the bank's test gateway observed: one row (`confirm` =
    "module:code") or every row waiting (`confirm` = "all"), instead of typing the results."""
    case = case_for(request, public_id)
    choice = request.POST.get("confirm", "").strip()
    keys: list[tuple[str, str]] | None = None
    if choice != "all":
        module, _sep, code = choice.partition(":")
        keys = [(module, code)]
    try:
        rows = test_gateway.test_observations_confirm(
            case=case, user=request.user, keys=keys, expected_version=seen_version(request)
        )
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(request, _("已确认 %(n)d 个测试用例的测试网关记录") % {"n": len(rows)})
    return redirect(f"{case_url(case)}#testing")


@customer_required
@require_POST
def case_confirm_production(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    form = ProductionConfirmForm(request.POST)
    if form.is_valid():
        try:
            services.customer_confirm_production(case=case, user=request.user, expected_version=seen_version(request))
        except CaseError as exc:
            show_case_error(request, exc)
        else:
            messages.success(request, _("已确认生产验证,等待客户经理确认上线"))
    else:
        show_form_errors(request, form)
    return redirect(f"{case_url(case)}#production")


def case_url(case: OnboardingCase) -> str:
    return case_route("portal:case_detail", case.public_id)


@customer_required
@require_POST
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def case_message(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    _post_message(request, case)
    return redirect(f"{case_url(case)}#thread")


def _thread(case: OnboardingCase, thread_url: str) -> dict[str, Any]:
    """The case page's newest messages and where the older ones are (the thread's page)."""
    page = portal_selectors.case_messages_page(case=case, newest=True)
    return {"thread": page.rows, "thread_older_url": f"{thread_url}?before={page.older}" if page.older else ""}


def _thread_page(request: AuthenticatedHttpRequest, case: OnboardingCase, *, base: str, back_url: str) -> HttpResponse:
    """The whole thread of a case, a page at a time (keyset on (created_at, pk)): what the case
    page leaves out. `?before=<message id>` older, `?after=<message id>` newer."""
    request.case_read = case  # type: ignore[attr-defined]  # the read's access event names it (audit.middleware)
    page = portal_selectors.case_messages_page(
        case=case,
        before=selectors.page_key(request.GET.get("before", "")),
        after=selectors.page_key(request.GET.get("after", "")),
    )
    return render(
        request,
        "portal/thread_page.html",
        {
            "base_template": base,
            "case": case,
            "thread": page.rows,
            "thread_older_url": f"?before={page.older}" if page.older else "",
            "thread_newer_url": f"?after={page.newer}" if page.newer else "",
            "back_url": back_url,
            "staff_side": base == "base.html",
        },
    )


@customer_required
def case_thread(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The customer's page of the case's thread (older messages than the case page shows)."""
    case = case_for(request, public_id)
    return _thread_page(request, case, base="portal/base.html", back_url=f"{case_url(case)}#thread")


@staff_required
def staff_case_thread(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """Bank staff's page of the case's thread (the auditor reads it too)."""
    case = case_for(request, public_id)
    return _thread_page(
        request, case, base="base.html", back_url=reverse("case_detail", args=[case.public_id]) + "#thread"
    )


def _post_message(request: AuthenticatedHttpRequest, case: OnboardingCase) -> None:
    form = MessageForm(request.POST)
    if form.is_valid():
        try:
            portal_services.message_post(case=case, user=request.user, body=form.cleaned_data["body"])
        except CaseError as exc:
            show_case_error(request, exc)
        else:
            messages.success(request, _("留言已发送"))
    else:
        show_form_errors(request, form)


# --- team (enterprise admins) ---------------------------------------------------------------


@customer_required
def team(request: HttpRequest) -> HttpResponse:
    enterprise = _enterprise(request)
    # Users created in the admin or by the seed get their membership row (and URL id) here.
    portal_services.members_ensure(enterprise=enterprise)
    is_admin = portal_services.is_enterprise_admin(request.user)
    return render(
        request,
        "portal/team.html",
        {
            "members": portal_selectors.team_list(enterprise=enterprise),
            "invitations": portal_selectors.pending_invitations(enterprise=enterprise) if is_admin else [],
            "is_admin": is_admin,
            "form": InvitationForm(),
        },
    )


@customer_required
@require_POST
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def team_invite(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            portal_services.invitation_create(
                by=request.user,
                enterprise=_enterprise(request),
                **form.cleaned_data,
            )
        except CaseError as exc:
            show_case_error(request, exc)
        else:
            messages.success(request, _("邀请已发送"))
    else:
        show_form_errors(request, form)
    return redirect("portal:team")


@customer_required
@require_POST
def team_remove(request: HttpRequest, member_id: Any) -> HttpResponse:
    member = portal_selectors.member_get_for_user(user=request.user, public_id=member_id)
    try:
        portal_services.member_remove(by=request.user, member=member)
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(request, _("已移除该用户"))
    return redirect("portal:team")


# --- invitation links (no login) ------------------------------------------------------------


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = portal_services.invitation_check(token=token)
    except portal_services.InvitationRefused as exc:
        return _refused(request, exc.reason)
    form = AcceptInvitationForm(request.POST or None, initial={"display_name": invitation.display_name})
    if request.method == "POST" and form.is_valid():
        try:
            user = portal_services.invitation_accept(
                token=token, password=form.cleaned_data["password1"], display_name=form.cleaned_data["display_name"]
            )
        except portal_services.InvitationRefused as exc:
            return _refused(request, exc.reason)
        except CaseError as exc:
            for problem in exc.problems or [exc.message]:
                form.add_error("password1", problem)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("欢迎使用客户门户"))
            return redirect("portal:home")
    return render(request, "portal/invitation_accept.html", {"invitation": invitation, "form": form})


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    status = {"expired": 410, "used": 410}.get(reason, 404)
    return render(request, "portal/invitation_refused.html", {"reason": reason}, status=status)


# --- staff pages ----------------------------------------------------------------------------


@staff_required
def staff_enterprise(request: HttpRequest, enterprise_id: Any) -> HttpResponse:
    enterprise = portal_selectors.enterprise_get_for_user(user=request.user, public_id=enterprise_id)
    portal_services.members_ensure(enterprise=enterprise)
    return render(
        request,
        "portal/staff_enterprise.html",
        {
            "enterprise": enterprise,
            "members": portal_selectors.team_list(enterprise=enterprise),
            "invitations": portal_selectors.pending_invitations(enterprise=enterprise),
            "form": StaffInvitationForm(),
            "may_manage": has_role(request.user, Role.ACCOUNT_MANAGER),
            "cases": selectors.case_list(user=request.user).filter(enterprise=enterprise)[:20],
        },
    )


@staff_required
@require_POST
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def staff_invite(request: HttpRequest, enterprise_id: Any) -> HttpResponse:
    enterprise = portal_selectors.enterprise_get_for_user(user=request.user, public_id=enterprise_id)
    form = StaffInvitationForm(request.POST)
    if form.is_valid():
        try:
            portal_services.invitation_create(by=request.user, enterprise=enterprise, **form.cleaned_data)
        except CaseError as exc:
            show_case_error(request, exc)
        else:
            messages.success(request, _("邀请已发送"))
    else:
        show_form_errors(request, form)
    return redirect("portal:staff_enterprise", enterprise_id=enterprise.public_id)


@staff_required
@require_POST
def staff_member_remove(request: HttpRequest, member_id: Any) -> HttpResponse:
    member = portal_selectors.member_get_for_user(user=request.user, public_id=member_id)
    try:
        portal_services.member_remove(by=request.user, member=member)
    except CaseError as exc:
        show_case_error(request, exc)
    else:
        messages.success(request, _("已移除该用户"))
    enterprise = member.user.enterprise
    assert enterprise is not None
    return redirect("portal:staff_enterprise", enterprise_id=enterprise.public_id)


@staff_required
@require_POST
@once  # one-time form token: a repeated post creates nothing twice (config/once.py)
def staff_case_message(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = case_for(request, public_id)
    _post_message(request, case)
    return redirect(reverse("case_detail", args=[case.public_id]) + "#thread")
