"""What every app's views share: who may open staff pages, the case as the person asking may see
it, and how a refusal or an invalid form is told. Views import this module, never each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from branches.roles import STAFF_ROLES, user_roles
from casetypes import declaration
from config.templatetags.moments import day, local_minute

from . import selectors
from .models import OnboardingCase
from .services import CaseConflict, CaseError
from .states import STAGE_HOLDER

if TYPE_CHECKING:
    from accounts.models import User

View = Callable[..., HttpResponse]


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a view behind a login: its user is a real account (django-stubs' pattern)."""

    user: User


def seen_version(request: HttpRequest) -> int | None:
    """The case version the page showed when it was loaded (every case form posts it)."""
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


def staff_required(view: View) -> View:
    """Bank staff only: enterprise users and accounts without a role never reach these pages."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.branch_id is None or not (user_roles(user) & STAFF_ROLES):  # type: ignore[union-attr]
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def case_for(request: HttpRequest, public_id: Any) -> OnboardingCase:
    """The case if the person asking may see it (their branch subtree or company), else 404."""
    return selectors.case_get_for_user(user=request.user, public_id=public_id)


def show_case_error(request: HttpRequest, exc: CaseError) -> None:
    """The refusal, then each missing item or broken rule it named.

    A conflict says who changed the case last and when, and what it now is, so the person
    can check the current values before trying again.
    """
    messages.error(request, exc.message)
    for problem in exc.problems:
        messages.warning(request, problem)
    if isinstance(exc, CaseConflict) and exc.current is not None:
        current = exc.current
        last = current.events.select_related("actor").order_by("-created_at", "-pk").first()
        messages.info(
            request,
            _("当前状态:%(state)s;最近一次更新:%(who)s,%(when)s(%(what)s)。")
            % {
                "state": current.get_state_display(),  # type: ignore[attr-defined]
                "who": (last.actor if last and last.actor else "—"),
                "when": timezone.localtime(current.updated_at).strftime("%Y-%m-%d %H:%M"),
                "what": last.label if last else "—",
            },
        )


def show_form_errors(request: HttpRequest, form: Any) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label} {error}".strip())


def run_action(request: HttpRequest, form: Any, action: Callable[[], Any], done: str) -> bool:
    """Check the form (if any), run the service, and tell the person what happened."""
    if form is not None and not form.is_valid():
        show_form_errors(request, form)
        return False
    try:
        action()
    except CaseError as exc:
        show_case_error(request, exc)
        return False
    messages.success(request, done)
    return True


def stage_tracker(case: OnboardingCase) -> list[dict[str, Any]]:
    """The six working stages of a case: done, current or to do, with the latest visit of each."""
    visits: dict[str, Any] = {}
    # .all() (not order_by) so that visits prefetched by the case page are read once.
    for v in sorted(case.visits.all(), key=lambda v: (v.entered_at, v.pk)):
        visits[v.stage] = v  # the latest visit of each stage
    ct = declaration.case_type_of(case)
    current = ct.active_stage(case)
    order = [s.code for s in ct.working]
    reached = order.index(current) if current in order else (len(order) if case.state in ct.live_states else -1)
    rows = []
    labels = declaration.state_labels_shown()
    for i, code in enumerate(order):
        visit = visits.get(code)
        rows.append(
            {
                "code": code,
                "label": labels.get(code, code),
                "visit": visit,
                "status": "done" if i < reached else ("current" if i == reached else "todo"),
                "holder": STAGE_HOLDER[code][0],
            }
        )
    return rows


def _local_day(value: Any) -> str:
    """`{{ value|day }}` in Python: an aware moment in local time first, as the template does."""
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return day(value)


def tracker_html(tracker: list[dict[str, Any]]) -> SafeString:
    """The stage tracker's `<ol>` (`stage_tracker`'s rows), written in Python: the template's loop
    (six stages of lookups, filters and translations) cost the case page about a millisecond of
    CPU. The markup is what `onboarding/case_detail.html`'s loop wrote, byte for byte."""
    entered, done, due = _("进入"), _("完成"), _("时限")
    out = ['<ol class="tracker">\n  ']
    now = timezone.now()
    for number, s in enumerate(tracker, 1):
        visit = s["visit"]
        status = s["status"]
        overdue = " overdue" if visit is not None and visit.is_overdue(now) else ""
        out.append(
            f'\n  <li class="{escape(status)}{overdue}">\n    <span class="step">{number}</span>\n'
            f"    <strong>{conditional_escape(s['label'])}</strong>\n    "
        )
        if visit is not None:
            out.append(f"<small>{entered} {_local_day(visit.entered_at)}</small>\n      ")
            if visit.left_at:
                out.append(f"<small>{done} {_local_day(visit.left_at)}</small>\n      ")
            elif visit.due_at:
                out.append(f"<small>{due} {local_minute(visit.due_at)}</small>")
            out.append("\n      ")
            if status == "current":
                holder = _("待客户办理") if visit.holder_party == "customer" else _("待银行办理")
                out.append(f'<small class="holder">{holder}</small>')
            out.append("\n    ")
        out.append("\n  </li>\n  ")
    out.append("\n</ol>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


def show_current_values(request: HttpRequest, case: Any, *forms: Any) -> None:
    """After a conflict on an edit page: each field whose saved value now differs from what was typed.

    The form keeps what the person typed (nothing is lost); these lines show what the case
    holds now, so they can decide what to save.
    """
    from .models import OnboardingCase

    current = OnboardingCase.objects.select_related("enterprise").get(pk=case.pk)
    for form in forms:
        for name, typed in getattr(form, "cleaned_data", {}).items():
            for holder in (current, current.enterprise):
                if hasattr(holder, name):
                    saved = getattr(holder, name)
                    if str(saved or "") != str(typed or "") and not isinstance(typed, list | dict):
                        label = form.fields[name].label if name in form.fields else name
                        messages.warning(
                            request,
                            _("%(field)s:现在保存的是“%(saved)s”,您填写的是“%(typed)s”")
                            % {"field": label, "saved": saved or "—", "typed": typed or "—"},
                        )
                    break


def change_request_page(
    request: AuthenticatedHttpRequest, case: OnboardingCase, *, back_url: str, base_template: str, done: str
) -> HttpResponse:
    """File a change request (变更申请) on a case past intake: the staff page and the portal page."""
    from django.shortcuts import redirect, render

    from . import change_requests
    from .forms import change_request_forms

    refusal = change_requests.filing_refusal(case, request.user)
    if refusal:
        messages.error(request, refusal)
        return redirect(back_url)
    data = request.POST if request.method == "POST" else None
    ent_form, acc_formset, reason_form = change_request_forms(data, enterprise=case.enterprise)
    if request.method == "POST" and ent_form.is_valid() and acc_formset.is_valid() and reason_form.is_valid():
        try:
            change_requests.change_request_file(
                case=case,
                user=request.user,
                data=ent_form.cleaned_data,
                accounts=acc_formset.accounts(),
                reason=reason_form.cleaned_data["reason"],
                expected_version=seen_version(request),
            )
        except CaseError as exc:
            show_case_error(request, exc)
        else:
            messages.success(request, done)
            return redirect(f"{back_url}#company-changes")
    context = {
        "case": case,
        "ent_form": ent_form,
        "acc_formset": acc_formset,
        "reason_form": reason_form,
        "base_template": base_template,
        "back_url": back_url,
    }
    return render(request, "onboarding/change_request_form.html", context)


def case_list_filtered(request: HttpRequest) -> tuple[Any, Any]:
    """The case list's filter form and the cases it selects, in the user's scope.

    The list page and its exports (`transfers`) read the same query string through this, so an
    export holds exactly the cases the page lists.
    """
    return case_list_filtered_for(request.user, request.GET)


def case_list_filtered_for(user: Any, params: Any) -> tuple[Any, Any]:
    """`case_list_filtered` for a user and a query string (a `QueryDict`) without a request: an
    export made later by a worker selects the cases as the page would for its reader then."""
    selection = case_list_select(user, params, count=False)
    return selection.form, selection.cases


class CaseListOptions(NamedTuple):
    """What a staff member's case list is filtered by, kept between requests."""

    branches: list[tuple[int, str, str]]  # the subtree's branches (id, name, path) in path order
    managers: list[tuple[str, str]]  # the subtree's account managers (id, shown name) by username
    # The subtree holds every branch of the bank (head office): the list needs no scope filter.
    whole_bank: bool


@dataclass
class CaseListSelection:
    form: Any  # CaseFilterForm
    count: int | None  # how many `cases` holds, when known without counting them (StageCount)
    options: CaseListOptions  # what the filter offers (the rows' branches and managers are named from it)
    # The same cases' ids in the same order, cheaper to count and to page through than `cases`
    # (the overdue list: `OpenStage`), or None.
    keys: Any
    select: Callable[[], Any]  # `cases`, built when asked for (the page asks only without `keys`)

    @cached_property
    def cases(self) -> Any:
        """QuerySet[OnboardingCase]: scoped, filtered, in the list's order."""
        return self.select()


# What the filter options are read from: they are kept while none of these changes.
_OPTION_TABLES = ("branches_branch", "accounts_user", "accounts_user_groups", "auth_group")


def case_list_options(user: Any) -> CaseListOptions:
    """The filter's options for a staff member: the branches of their subtree (id, name, path) in
    path order, the subtree's account managers (id, shown name) by username, and whether the
    subtree is the whole bank.

    Kept in Redis while the branches and people are unchanged (`config.usercache.kept`): two
    queries and a thousand ORM calls on every list page otherwise, for lists that change when a
    branch or a person does."""
    from django.contrib.auth import get_user_model

    from branches.models import Branch
    from branches.roles import Role
    from branches.scope import subtree_q
    from config.usercache import kept

    def read() -> CaseListOptions:
        subtree = list(Branch.objects.filter(subtree_q("", user.branch)).values_list("pk", "name", "path"))
        managers = (
            get_user_model()
            # The branches' ids as values, not a subquery: PostgreSQL then knows that only staff
            # have a branch and reads them by their branch index (0.3 ms at 100,000 cases), where
            # the subquery walked every user, customers included (350 ms).
            .objects.filter(groups__name=Role.ACCOUNT_MANAGER, branch_id__in=[pk for pk, _n, _p in subtree])
            .order_by("username")
            .values_list("pk", "username", "display_name")
        )
        return CaseListOptions(
            subtree,
            # As `str(user)` shows a person (the display name, else the username), without the rows.
            [(str(pk), shown or username) for pk, username, shown in managers],
            whole_bank=not Branch.objects.exclude(subtree_q("", user.branch)).exists(),
        )

    return kept(f"case-list-options:v2:{user.branch_id}", _OPTION_TABLES, read)


def case_list_selection(request: HttpRequest, *, count: bool = True) -> CaseListSelection:
    """`case_list_filtered`, with the list's count when the filters let it be known cheaply
    (and `count` asks for it)."""
    return case_list_select(request.user, request.GET, count=count)


def case_list_select(user: Any, params: Any, *, count: bool = True) -> CaseListSelection:
    from branches.models import Branch
    from branches.scope import ids_within

    from .forms import CaseFilterForm

    options = case_list_options(user)
    subtree, whole_bank = options.branches, options.whole_bank
    form = CaseFilterForm(params or None)
    all_ = _("全部")
    labels = declaration.state_labels_shown()
    form.fields["state"].choices = [("", all_), *labels.items()]  # type: ignore[attr-defined]
    form.fields["branch"].choices = [("", all_), *((str(pk), name) for pk, name, _path in subtree)]  # type: ignore[attr-defined]
    form.fields["account_manager"].choices = [("", all_), *options.managers]  # type: ignore[attr-defined]
    if form.is_bound and not form.is_valid():
        # A filter that cannot be read (a state or branch not offered here, typed into the
        # address) selects nothing, and the page says which, rather than the whole list.
        return CaseListSelection(form, None, options, None, lambda: selectors.case_list(user=user).none())
    data = form.cleaned_data if form.is_bound else {}
    branch = None
    if data.get("branch"):
        # The chosen branch as read with the options: its path is what the filter needs.
        pk, name, path = next(b for b in subtree if str(b[0]) == data["branch"])
        branch = Branch(pk=pk, name=name, path=path)
    manager_id = int(data["account_manager"]) if data.get("account_manager") else None

    def select() -> Any:
        qs = selectors.case_list(user=user, whole_bank=whole_bank)
        if not data:
            return qs
        return selectors.case_filter(
            qs,
            state=data["state"],
            branch=branch,
            account_manager_id=manager_id,
            overdue=data["overdue"],
            search=data["q"],
        )

    known = None
    if count and not (data.get("q") or manager_id or data.get("overdue")):
        branch_ids = None if whole_bank else [pk for pk, _n, _p in subtree]
        if branch is not None:
            branch_ids = ids_within(((pk, path) for pk, _n, path in subtree), branch)
        known = selectors.case_list_count(user=user, branch_ids=branch_ids, state=data.get("state", ""))
    keys = None
    # The list's ids written out (the overdue list's from `OpenStage`, but for a search), in the
    # list's order (`case_filter`); None where the ORM's list answers.
    state = data.get("state", "")
    if count and data.get("overdue") and not data.get("q"):
        keys = selectors.overdue_cases_kept(
            user=user, state=state, branch=branch, account_manager_id=manager_id, whole_bank=whole_bank
        )
    elif count and not data.get("overdue"):
        keys = selectors.case_list_keys_written(
            user=user,
            state=state,
            branch=branch,
            account_manager_id=manager_id,
            search=data.get("q", ""),
            whole_bank=whole_bank,
        )
    return CaseListSelection(form, known, options, keys, select)


def share_enterprise(user: Any, read: list[Any]) -> None:
    """The frame names the reader's company (`user.enterprise`): when the page has read that
    company's row already (its cases', its links'), the frame takes it from there, not again."""
    state = getattr(user, "_state", None)
    if state is None or "enterprise" in state.fields_cache:
        return
    for enterprise in read:
        if enterprise is not None and enterprise.pk == user.enterprise_id:
            user.enterprise = enterprise
            return


def case_page_refused(request: HttpRequest, case: OnboardingCase, **forms: Any) -> HttpResponse:
    """After a refused post from the staff case page: the page again, with what was typed in the
    refused form (and the reason among the page's messages), not a redirect to empty forms. The
    page is the `case_detail` view's, found by its address (any app's panel may call this); the
    forms ride on the request by the names the page gives them."""
    from django.urls import resolve, reverse

    request.refused_forms = forms  # type: ignore[attr-defined]
    request.page_drawn = "case_detail"  # type: ignore[attr-defined]  # a read of the case (audit.middleware)
    public_id = case.public_id
    return resolve(reverse("case_detail", kwargs={"public_id": public_id})).func(request, public_id=public_id)
