"""Who is told about a change of a case, written in the change's own transaction.

A transition writes an in-app notice for each person who now holds the case and one mail to
them through the outbox (`notices.outbox`): if the change rolls back nobody is told, and if
the broker is down the mail waits in the outbox instead of being lost. A return (退回补件, back
to the test package) also tells the customer's people, with the reason; an end (live, not
approved, withdrawn) tells the customer's people and the account manager. Change requests tell
the account manager and the branch supervisors when filed, and the filer and the account
manager when decided. A case opened straight into a held stage (a service request on a live
link, `case_opened_notice`) tells its first holders the same way, and the company's people
when the bank opened it.

Notices are stored as a kind with parameters (`notices.kinds`) and read in each reader's
language. Each transition first clears the case's notices whose work has moved on (the stage
visit or holder they were about is no longer the case's; every open one when it ends).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from accounts.people import people_q
from branches.roles import Role
from casetypes import declaration
from casetypes.declaration import Feature
from notices import channels, kinds, outbox
from notices.models import MailKind, OutboxEmail
from notices.preferences import mail_addresses
from notices.services import notices_clear, notices_create

from . import rules
from .event_names import label as event_label
from .models import CaseEvent, ChangeRequest, OnboardingCase
from .states import CUSTOMER

if TYPE_CHECKING:
    from accounts.models import User

HEAD_OFFICE_ROLES = frozenset({Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER})

# Seed data replays weeks of history; nobody should be mailed about it.
suppressed = outbox.suppressed
is_suppressed = outbox.is_suppressed


def holders_of(case: OnboardingCase) -> list[User]:
    """The people who hold the ball on the case now."""
    UserModel = get_user_model()
    visit = case.current_visit
    if visit is None:
        return []
    if visit.holder_role == CUSTOMER:
        return list(UserModel.objects.filter(people_q(), enterprise_id=case.enterprise_id, is_active=True))
    if visit.holder_role == Role.ACCOUNT_MANAGER and case.account_manager_id:
        return [case.account_manager] if case.account_manager and case.account_manager.is_active else []
    # Anyone with the holding role whose branch subtree contains the case.
    ancestors = [int(pk) for pk in case.branch.path.strip("/").split("/")]
    return list(
        UserModel.objects.filter(
            people_q(), groups__name=visit.holder_role, branch_id__in=ancestors, is_active=True
        ).distinct()
    )


def role_in_case_branches(case: OnboardingCase, role: str) -> list[User]:
    """The active people with `role` whose branch is the case's branch or one above it."""
    ancestors = [int(pk) for pk in case.branch.path.strip("/").split("/")]
    return list(
        get_user_model()
        .objects.filter(people_q(), groups__name=role, branch_id__in=ancestors, is_active=True)
        .distinct()
    )


def told_of(case: OnboardingCase) -> list[User]:
    """The holders, and where the stage issues the production configuration also head-office tech."""
    people = holders_of(case)
    if case.state in declaration.states_with(Feature.PRODUCTION_CONFIG):
        people += role_in_case_branches(case, Role.TECH_REVIEWER)
    return people


class NoticeKind:
    HANDOFF = "handoff"  # the case is now yours (a transition or a change of holder)
    REWORK = "rework"  # the bank returned the case (to the customer's people, with the reason)
    CASE_ENDED = "case_ended"  # live, not approved or withdrawn (the customer's people and the AM)
    CHANGE_FILED = "change_request_filed"
    CHANGE_DECIDED = "change_request_decided"
    # A case opened straight into a stage someone holds (a service request on a live link):
    # to its first holders; and to the company's people when the bank opened it.
    CASE_OPENED = "case_opened"
    CASE_OPENED_BY_BANK = "case_opened_by_bank"


# The notices about a stage visit's work: cleared once the case is in another visit or holder.
STAGE_KINDS = (NoticeKind.HANDOFF, NoticeKind.REWORK, NoticeKind.CASE_OPENED, "reminder")


def case_params(case: OnboardingCase) -> dict[str, Any]:
    """What every case notice names: the case's reference and company, its id (for links)."""
    return {"ref": case.reference, "company": case.enterprise.name, "case": str(case.public_id)}


def _where(case: OnboardingCase) -> dict[str, Any]:
    visit = case.current_visit
    return {"visit": visit.pk, "holder": visit.holder_role} if visit is not None else {}


def _with_reason(text: str, p: dict[str, Any]) -> str:
    """The notice, then its reason: as written, or (`reason_args`) a system's sentence in the reader's language."""
    if not p.get("reason"):
        return text
    reason = kinds.message(p["reason"], p["reason_args"]) if p.get("reason_args") else p["reason"]
    return text + _("(原因:%(reason)s)") % {"reason": reason}


@kinds.renderers.add(key=NoticeKind.HANDOFF)
def render_handoff(p: dict[str, Any]) -> str:
    text = _("%(ref)s %(company)s:%(what)s,现由您办理") % {
        "ref": p["ref"],
        "company": p["company"],
        "what": event_label(p["event"]),
    }
    return _with_reason(text, p)


@kinds.renderers.add(key=NoticeKind.REWORK)
def render_rework(p: dict[str, Any]) -> str:
    text = _("%(ref)s %(company)s:银行已%(what)s,请按退回原因补正") % {
        "ref": p["ref"],
        "company": p["company"],
        "what": event_label(p["event"]),
    }
    return _with_reason(text, p)


@kinds.renderers.add(key=NoticeKind.CASE_ENDED)
def render_case_ended(p: dict[str, Any]) -> str:
    if p.get("live"):
        text = _("%(ref)s %(company)s:银企直联已正式上线") % {"ref": p["ref"], "company": p["company"]}
    else:
        text = _("%(ref)s %(company)s:案件已结束(%(state)s)") % {
            "ref": p["ref"],
            "company": p["company"],
            "state": declaration.state_label(p["state"]),
        }
    return _with_reason(text, p)


def _type_label(code: str) -> str:
    found = declaration.CASE_TYPES.get(code)
    return str(found.label) if found is not None else code


@kinds.renderers.add(key=NoticeKind.CASE_OPENED)
def render_case_opened(p: dict[str, Any]) -> str:
    text = _("%(ref)s %(company)s:新的%(type)s,现由您办理") % {
        "ref": p["ref"],
        "company": p["company"],
        "type": _type_label(p["type"]),
    }
    return _with_reason(text, p)


@kinds.renderers.add(key=NoticeKind.CASE_OPENED_BY_BANK)
def render_case_opened_by_bank(p: dict[str, Any]) -> str:
    text = _("%(ref)s %(company)s:银行已为贵司发起%(type)s") % {
        "ref": p["ref"],
        "company": p["company"],
        "type": _type_label(p["type"]),
    }
    return _with_reason(text, p)


@kinds.renderers.add(key=NoticeKind.CHANGE_FILED)
def render_change_filed(p: dict[str, Any]) -> str:
    text = _("%(ref)s %(company)s:%(who)s提交了变更申请,待分行审核人员审批") % {
        "ref": p["ref"],
        "company": p["company"],
        "who": p["by"],
    }
    return _with_reason(text, p)


@kinds.renderers.add(key=NoticeKind.CHANGE_DECIDED)
def render_change_decided(p: dict[str, Any]) -> str:
    what = _("%(ref)s %(company)s:变更申请已获批准") if p.get("approved") else _("%(ref)s %(company)s:变更申请未获批准")
    return _with_reason(what % {"ref": p["ref"], "company": p["company"]}, p)


def customers_of(case: OnboardingCase) -> list[User]:
    """The company's active people (its portal users; not its service accounts)."""
    return list(get_user_model().objects.filter(people_q(), enterprise_id=case.enterprise_id, is_active=True))


def _customer_path(case: OnboardingCase) -> str:
    from django.urls import reverse

    return reverse("portal:case_detail", args=[case.public_id])


def _staff_path(case: OnboardingCase) -> str:
    from django.urls import reverse

    return reverse("case_detail", args=[case.public_id])


def tell(
    *,
    case: OnboardingCase,
    people: list[User],
    kind: str,
    params: dict[str, Any],
    key: str,
    mail_kind: str = MailKind.HANDOFF,
    contact: bool = False,
) -> None:
    """A notice of `kind` to `people` on the bell and by mail (through the outbox): staff and
    customers each get their own mail with the link to their own page of the case."""
    notices_create(recipients=people, case_id=case.pk, kind=kind, params=params)
    staff = [p for p in people if p.enterprise_id is None]
    customers = [p for p in people if p.enterprise_id is not None]
    outbox.notice_mail(
        key=f"{key}:staff", to=mail_addresses(staff, mail_kind), kind=kind, params=params, path=_staff_path(case)
    )
    to = mail_addresses(customers, mail_kind) + ([case.enterprise.contact_email] if contact else [])
    outbox.notice_mail(key=f"{key}:customer", to=to, kind=kind, params=params, path=_customer_path(case))


def clear_moved_on(case: OnboardingCase) -> None:
    """The case's open notices whose work has moved on: all of them once it has ended; else the
    stage's notices (hand-offs, returns, reminders) of another visit or holder than its current."""
    where = _where(case)
    if not where:
        notices_clear(case_id=case.pk)
    else:
        notices_clear(case_id=case.pk, kinds=STAGE_KINDS, unless=where)


def _is_return(event: CaseEvent) -> bool:
    """A transition back to an earlier stage of the case's type (退回补件, back to the test package)."""
    order = [s.code for s in declaration.case_type_of(event.case).stages]
    return (
        event.kind == CaseEvent.Kind.TRANSITION
        and event.from_state in order
        and event.to_state in order
        and order.index(event.to_state) < order.index(event.from_state)
    )


def queue_event_notice(event: CaseEvent, people: list[User] | None = None) -> None:
    """Tell whoever now holds the case (or `people`): an in-app notice and a mail through the outbox.

    A return also tells the customer's people (with the reason), an end the customer's people and
    the account manager; first the notices whose work has moved on are cleared."""
    case = event.case
    clear_moved_on(case)
    people = [p for p in (told_of(case) if people is None else people) if p.pk != event.actor_id]
    params = {**case_params(case), **_where(case), "event": event.name, "reason": event.reason}
    text = kinds.render_in(settings.LANGUAGE_CODE, NoticeKind.HANDOFF, params)  # the channels' copy: Chinese
    notices_create(recipients=people, case_id=case.pk, kind=NoticeKind.HANDOFF, params=params)
    addresses = mail_addresses(people, MailKind.HANDOFF)
    if case.current_visit is not None and case.current_visit.holder_role == CUSTOMER:
        addresses.append(case.enterprise.contact_email)
    outbox.email_queue(kind="case_event", key=f"event:{event.pk}", to=addresses, payload={"event": event.pk})
    visit = case.current_visit
    channels.announce(
        [
            channels.Announcement(
                key=f"event:{event.pk}",
                kind=channels.AnnouncementKind.HANDOFF,
                case_id=case.pk,
                text=text,
                head_office=visit is not None and visit.holder_role in HEAD_OFFICE_ROLES,
            )
        ]
    )
    told = {p.pk for p in people}
    if _is_return(event):
        customers = [p for p in customers_of(case) if p.pk not in told and p.pk != event.actor_id]
        rework = {**params, "reason": event.reason}
        tell(case=case, people=customers, kind=NoticeKind.REWORK, params=rework, key=f"rework:{event.pk}", contact=True)
    elif visit is None and event.kind == CaseEvent.Kind.TRANSITION:
        am = [case.account_manager] if case.account_manager and case.account_manager.is_active else []
        ended = [p for p in [*customers_of(case), *am] if p.pk not in told and p.pk != event.actor_id]
        live = case.state in declaration.live_states()
        end = {**case_params(case), "state": case.state, "live": live, "reason": "" if live else event.reason}
        tell(case=case, people=ended, kind=NoticeKind.CASE_ENDED, params=end, key=f"ended:{event.pk}", contact=True)


def case_opened_notice(
    case: OnboardingCase,
    *,
    actor: User,
    reason: str = "",
    customers: bool = True,
    by_sweep: bool = False,
    reason_args: dict[str, Any] | None = None,
) -> None:
    """A case opened straight into a stage someone holds (a service request on a live link): its
    first holders are told as a hand-off tells them (the bell, mail through the outbox, the group
    robots), and when the bank opened it (staff, or a sweep in the account manager's name) the
    company's people are told too. `customers=False`: the company hears of it another way (a
    renewal's own reminder), so none of its people is told here. `by_sweep`: a sweep opened it in
    `actor`'s name (a periodic review in the account manager's), so `actor` did not do it and is
    told like any holder. `reason_args`: `reason` is a msgid with these arguments, read in each
    reader's language (`notices.kinds.message`)."""
    said = {"reason": reason, **({"reason_args": reason_args} if reason_args else {})}
    people = [p for p in told_of(case) if (by_sweep or p.pk != actor.pk) and (customers or p.enterprise_id is None)]
    params = {**case_params(case), **_where(case), "type": case.case_type, **said}
    visit = case.current_visit
    held_by_customer = visit is not None and visit.holder_role == CUSTOMER
    key = f"opened:{case.pk}"
    tell(
        case=case,
        people=people,
        kind=NoticeKind.CASE_OPENED,
        params=params,
        key=key,
        contact=customers and held_by_customer,
    )
    channels.announce(
        [
            channels.Announcement(
                key=key,
                kind=channels.AnnouncementKind.HANDOFF,
                case_id=case.pk,
                text=kinds.render_in(settings.LANGUAGE_CODE, NoticeKind.CASE_OPENED, params),
                head_office=visit is not None and visit.holder_role in HEAD_OFFICE_ROLES,
            )
        ]
    )
    if customers and actor.enterprise_id is None:
        told = {p.pk for p in people}
        company = [p for p in customers_of(case) if p.pk not in told]
        opened = {**case_params(case), "type": case.case_type, **said}
        tell(
            case=case,
            people=company,
            kind=NoticeKind.CASE_OPENED_BY_BANK,
            params=opened,
            key=f"opened-by-bank:{case.pk}",
            contact=True,
        )


def holder_changed_notice(event: CaseEvent) -> None:
    """The ball moved within a stage (all joint tests passed, a retest, the customer confirmed):
    tell the new holder, reading the holder as it is now."""
    visit = event.case.current_visit
    if visit is not None:
        visit.refresh_from_db(fields=["holder_party", "holder_role"])
    queue_event_notice(event)


def production_config_notice(event: CaseEvent) -> None:
    """The production configuration is issued: the outlet's counter checkers complete UKey issuance,
    but only once there is something for them to do (issue 25). While counter work is left the
    stage stays the maker's, and each entry the maker makes tells the checkers by itself
    (`counter.notifications`); telling them "现由您办理" now would send them to an empty page."""
    if not rules.production_ready.problems(event.case):
        queue_event_notice(event, role_in_case_branches(event.case, Role.COUNTER_CHECKER))


@outbox.renderers.add(key="case_event")
def render_event_mail(row: OutboxEmail) -> tuple[str, str]:
    event = CaseEvent.objects.select_related("case__enterprise", "case__current_visit", "actor").get(
        pk=row.payload["event"]
    )
    context: dict[str, Any] = {"event": event, "case": event.case, "site_url": settings.SITE_URL}
    subject = render_to_string("email/case_event_subject.txt", context).strip()
    return subject, render_to_string("email/case_event.txt", context)


# --- change requests ------------------------------------------------------------------------


def change_request_filed_notice(request: ChangeRequest) -> None:
    """Filed: the case's account manager and the branch supervisors over the case (who decide it)."""
    case = request.case
    people = role_in_case_branches(case, Role.BRANCH_SUPERVISOR)
    if case.account_manager is not None and case.account_manager.is_active:
        people.append(case.account_manager)
    people = [p for p in people if p.pk != request.filed_by_id]
    params = {
        **case_params(case),
        "request": str(request.public_id),
        "by": str(request.filed_by),
        "reason": request.reason,
    }
    tell(case=case, people=people, kind=NoticeKind.CHANGE_FILED, params=params, key=f"change-filed:{request.pk}")


def change_request_decided_notice(request: ChangeRequest) -> None:
    """Decided: the filing notices clear; the filer, the account manager and the other supervisors are told."""
    case = request.case
    notices_clear(case_id=case.pk, kinds=[NoticeKind.CHANGE_FILED], about={"request": str(request.public_id)})
    people = role_in_case_branches(case, Role.BRANCH_SUPERVISOR)
    if case.account_manager is not None and case.account_manager.is_active:
        people.append(case.account_manager)
    if request.filed_by is not None and request.filed_by.is_active:
        people.append(request.filed_by)
    people = [p for p in people if p.pk != request.decided_by_id]
    params = {
        **case_params(case),
        "request": str(request.public_id),
        "approved": request.status == ChangeRequest.Status.APPROVED,
        "reason": request.decision_reason,
    }
    tell(case=case, people=people, kind=NoticeKind.CHANGE_DECIDED, params=params, key=f"change-decided:{request.pk}")
