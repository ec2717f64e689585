"""Change requests (变更申请): changing the company data of a case past branch intake.

Once a case has left branch intake its company data is what head office approved; the
company's later saves do not reach it. A change reaches it only through a request filed by
the customer or the case's account manager, with a reason, and approved by a branch
supervisor of the case's branch who did not file it. Every step is a case event carrying
the difference, the people and the reasons.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.roles import Role, has_role
from casetypes import declaration
from casetypes.declaration import Feature, StateSet
from companies.models import DATA_FIELDS, CompanyVersion
from companies.services import company_diff, company_version_latest, diff_is_empty

from . import events, notifications, rules
from .models import ChangeRequest, OnboardingCase
from .services import CaseError, case_follows_company, case_write, enterprise_save

if TYPE_CHECKING:
    from accounts.models import User

# Past intake and not ended: the company data is frozen and a change request can move it.
FROZEN_OPEN_STATES = StateSet(lambda: declaration.states_with(Feature.CHANGE_REQUESTS, paused=True))

PROPOSED_FIELDS = tuple(f for f in DATA_FIELDS if f != "uscc")  # the credit code names the company


def case_company_frozen(case: OnboardingCase) -> bool:
    return not case_follows_company(case)


def company_newer_version(case: OnboardingCase) -> CompanyVersion | None:
    """The company's newest version when it is newer than the frozen case's, else None."""
    if not case_company_frozen(case) or case.company_version_id is None:
        return None
    known = getattr(case, "latest_company_version_id", False)  # read with the case by its page
    if known is not False and known in (None, case.company_version_id):
        return None
    latest = company_version_latest(case.enterprise)
    if latest is None or latest.pk == case.company_version_id:
        return None
    return latest


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def proposed_version(request: ChangeRequest) -> CompanyVersion:
    """The proposal as an unsaved version, to show and compare."""
    values = dict(request.proposed)
    for f in ("authorisation_valid_from", "authorisation_valid_until"):
        if values.get(f):
            values[f] = dt.date.fromisoformat(values[f])
    base = request.base_version
    return CompanyVersion(
        enterprise_id=base.enterprise_id,
        number=0,
        uscc=base.uscc,
        accounts=values.pop("accounts", []),
        **{f: values.get(f, getattr(base, f)) for f in PROPOSED_FIELDS},
    )


def change_request_diff(request: ChangeRequest) -> dict[str, Any]:
    return company_diff(request.base_version, proposed_version(request))


# --- who may -----------------------------------------------------------------------------


def filing_refusal(case: OnboardingCase, user: User) -> str | None:
    customer = has_role(user, Role.ENTERPRISE_USER) and user.enterprise_id == case.enterprise_id
    manager = has_role(user, Role.ACCOUNT_MANAGER) and case.account_manager_id == user.pk
    if not ((customer or manager) and rules.in_scope(case, user)):
        return _("仅申请企业或本案件的客户经理可提交变更申请")
    if case.state not in FROZEN_OPEN_STATES or not case_company_frozen(case):
        return _("仅已离开分支行受理阶段的案件需要变更申请,受理阶段请直接修改资料")
    return None


def decision_refusal(request: ChangeRequest, user: User) -> str | None:
    if not has_role(user, Role.BRANCH_SUPERVISOR):
        return _("变更申请须由分行审核人员审批")
    if not rules.in_scope(request.case, user):
        return _("该案件不在您的管辖范围内")
    if request.filed_by_id == user.pk:
        return _("提交人不能审批自己的变更申请")
    if request.status != ChangeRequest.Status.PENDING:
        return _("该变更申请已处理")
    return None


# --- writes ------------------------------------------------------------------------------


def change_request_file(
    *,
    case: OnboardingCase,
    user: User,
    data: dict[str, Any],
    accounts: list[dict[str, str]],
    reason: str,
    expected_version: int | None = None,
) -> ChangeRequest:
    """File a change of the case's company data; it waits for a branch supervisor."""
    from django.core.exceptions import ValidationError

    from companies.validators import validate_account_count

    refusal = filing_refusal(case, user)
    if refusal:
        raise CaseError(refusal)
    reason = reason.strip()
    if not reason:
        raise CaseError(_("变更申请须填写变更原因"))
    try:
        validate_account_count(len(accounts))
    except ValidationError as exc:
        raise CaseError(exc.messages[0]) from None
    proposed: dict[str, Any] = {f: _json(data[f]) for f in PROPOSED_FIELDS if f in data}
    for f in ("legal_rep_id_number", "handler_id_number"):
        if f in proposed:
            proposed[f] = proposed[f].strip().upper()
    proposed["accounts"] = [
        {
            "account_number": a["account_number"].strip(),
            "account_name": a["account_name"].strip(),
            "opening_branch": (a.get("opening_branch") or "").strip(),
        }
        for a in accounts
    ]
    with case_write(case=case, user=user, seen_version=expected_version) as w:
        locked = w.case
        if locked.company_version is None:
            raise CaseError(_("该案件没有企业资料版本"))
        request = ChangeRequest(case=locked, base_version=locked.company_version, proposed=proposed, reason=reason)
        request.filed_by = user
        diff = change_request_diff(request)
        if diff_is_empty(diff):
            raise CaseError(_("变更内容与案件现有资料相同"))
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError:
            raise CaseError(_("该案件已有待审批的变更申请")) from None
        events.change_request_filed(
            case=locked,
            actor=user,
            reason=reason,
            data={"request": str(request.public_id), "from_version": locked.company_version.number, "diff": diff},
        )
        notifications.change_request_filed_notice(request)
    return request


def _decidable(request: ChangeRequest, user: User) -> ChangeRequest:
    """Re-read the request (the door holds the case) and refuse it if this user may not decide it now."""
    request = ChangeRequest.objects.select_related("case", "base_version").get(pk=request.pk)
    refusal = decision_refusal(request, user)
    if refusal:
        raise CaseError(refusal)
    return request


def _decide(
    request: ChangeRequest, user: User, status: str, reason: str, result_version: CompanyVersion | None = None
) -> None:
    """Record the decision on the pending request in one update (once, whoever is first): the
    database refuses any later change of a decided request (its `Meta.triggers`)."""
    claimed = ChangeRequest.objects.filter(pk=request.pk, status=ChangeRequest.Status.PENDING).update(
        status=status,
        decided_by=user,
        decided_at=timezone.now(),
        decision_reason=reason,
        result_version=result_version,
    )
    if not claimed:
        raise CaseError(_("该变更申请已处理"))


def change_request_approve(
    *, request: ChangeRequest, user: User, reason: str = "", expected_version: int | None = None
) -> ChangeRequest:
    """The proposal becomes the company's newest version and the case points to it."""
    reason = reason.strip()
    with case_write(case=request.case, user=user, seen_version=expected_version) as w:
        case = w.case
        old = case.company_version
        request = _decidable(request, user)
        proposal = proposed_version(request)
        enterprise_save(
            user=user,
            data={f: getattr(proposal, f) for f in PROPOSED_FIELDS},
            accounts=proposal.accounts,
            enterprise=case.enterprise,
        )
        version = company_version_latest(case.enterprise)
        assert version is not None
        _decide(request, user, ChangeRequest.Status.APPROVED, reason, version)
        case.company_version = version
        w.changed("company_version")
        events.change_request_approved(
            case=case,
            actor=user,
            reason=reason,
            data={
                "request": str(request.public_id),
                "filed_by": str(request.filed_by),
                "filed_reason": request.reason,
                "from_version": old.number if old is not None else None,
                "to_version": version.number,
                "diff": company_diff(old, version) if old is not None else {},
            },
        )
        request.refresh_from_db()
        notifications.change_request_decided_notice(request)
    request.refresh_from_db()
    return request


def change_request_refuse(
    *, request: ChangeRequest, user: User, reason: str, expected_version: int | None = None
) -> ChangeRequest:
    reason = reason.strip()
    if not reason:
        raise CaseError(_("拒绝变更申请须填写原因"))
    with case_write(case=request.case, user=user, seen_version=expected_version) as w:
        request = _decidable(request, user)
        _decide(request, user, ChangeRequest.Status.REFUSED, reason)
        events.change_request_refused(
            case=w.case,
            actor=user,
            reason=reason,
            data={"request": str(request.public_id), "filed_by": str(request.filed_by), "filed_reason": request.reason},
        )
        request.refresh_from_db()
        notifications.change_request_decided_notice(request)
    request.refresh_from_db()
    return request


# --- reads -------------------------------------------------------------------------------


def change_request_list(*, case: OnboardingCase) -> list[ChangeRequest]:
    if getattr(case, "has_change_requests", True) is False:  # the case page read that there are none
        return []
    return list(case.change_requests.select_related("filed_by", "decided_by", "base_version").order_by("-filed_at"))


def change_request_get_for_user(*, user: User, public_id: Any) -> ChangeRequest:
    """A change request of a case the user may see (404 otherwise)."""
    from django.http import Http404

    from .selectors import case_visible_q

    try:
        return ChangeRequest.objects.select_related("case", "base_version", "filed_by").get(
            public_id=public_id, case__in=OnboardingCase.objects.filter(case_visible_q(user))
        )
    except (ChangeRequest.DoesNotExist, ValueError):
        raise Http404("no such change request") from None


def case_change_panel(*, case: OnboardingCase, user: User) -> dict[str, Any]:
    """What the case pages show about company data: a newer company version and the requests."""
    newer = company_newer_version(case)
    listed = change_request_list(case=case)
    requests = [
        {
            "request": r,
            "diff": change_request_diff(r),
            "may_decide": r.status == ChangeRequest.Status.PENDING and decision_refusal(r, user) is None,
        }
        for r in listed
    ]
    return {
        "company_newer": newer,
        "company_newer_diff": company_diff(case.company, newer) if newer is not None else None,
        "change_requests": requests,
        "may_file_change": filing_refusal(case, user) is None
        and not any(r.status == ChangeRequest.Status.PENDING for r in listed),
    }
