"""Portal writes: requesting a case, invitations, removing users, the case thread."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import Branch
from branches.roles import STAFF_ROLES, Role, has_role, user_roles
from branches.scope import branch_in_subtree, case_in_scope
from companies.models import Enterprise
from notices import kinds
from notices.models import MailKind
from notices.outbox import email_queue
from notices.preferences import mail_addresses
from notices.services import notices_create
from onboarding import events
from onboarding.models import OnboardingCase
from onboarding.services import CaseError, case_create, case_write, enterprise_save
from onboarding.states import OPEN_STATES

from .models import CaseMessage, EnterpriseMember, Invitation

if TYPE_CHECKING:
    from accounts.models import User

log = logging.getLogger(__name__)

INVITATION_LIFETIME = dt.timedelta(hours=settings.PORTAL_INVITATION_HOURS)
MESSAGE_MAX_LENGTH = 4000


def is_customer(user: Any) -> bool:
    """An active enterprise user with the enterprise_user role: the only portal audience."""
    return (
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.enterprise_id is not None
        and has_role(user, Role.ENTERPRISE_USER)
    )


def is_enterprise_admin(user: Any) -> bool:
    return is_customer(user) and EnterpriseMember.objects.filter(user=user, is_admin=True).exists()


def is_staff_member(user: Any) -> bool:
    return (
        getattr(user, "is_authenticated", False) and user.branch_id is not None and bool(user_roles(user) & STAFF_ROLES)
    )


# --- requesting a direct link ------------------------------------------------------------------


def account_manager_pick(*, enterprise: Enterprise) -> Any:
    """Who takes a case the customer opened in the portal.

    The account manager of the company's latest case if still active at a branch that
    covers the company (continuity); otherwise the active account manager of the company's
    branch with the fewest open cases; otherwise the same one level up the branch tree. The
    case lands in that person's "my work" on submission. None only if the whole chain up to
    head office has no account manager; the submission notice then goes to every account
    manager above the branch (onboarding.tasks.holders_of).
    """
    User = get_user_model()
    previous = (
        OnboardingCase.objects.filter(enterprise=enterprise, account_manager__isnull=False)
        .select_related("account_manager__branch")
        .order_by("-created_at", "-pk")
        .first()
    )
    if previous is not None:
        am = previous.account_manager
        if (
            am is not None
            and am.is_active
            and branch_in_subtree(enterprise.branch, am)
            and has_role(am, Role.ACCOUNT_MANAGER)
        ):
            return am
    branch: Branch | None = enterprise.branch
    while branch is not None:
        candidate = (
            # A bank system's API client (a service account) never becomes a case's account manager.
            User.objects.filter(
                groups__name=Role.ACCOUNT_MANAGER, branch=branch, is_active=True, api_client__isnull=True
            )
            .annotate(open_cases=Count("managed_cases", filter=Q(managed_cases__state__in=OPEN_STATES)))
            .order_by("open_cases", "username")
            .first()
        )
        if candidate is not None:
            return candidate
        branch = branch.parent
    return None


def portal_case_request(
    *,
    user: Any,
    enterprise_data: dict[str, Any],
    accounts: list[dict[str, str]],
    modules: list[str],
    fields: dict[str, Any],
) -> OnboardingCase:
    """A customer requests a direct link for its own company: a draft case.

    The company already exists (the user belongs to it); its data is updated from the form
    except the credit code, which identifies it, and becomes the company's newest version:
    the new draft uses it, the company's cases past intake keep the version they were approved
    on (a change to those is a change request). The bank's assessment fields are not the
    customer's to fill.
    """
    if not is_customer(user):
        raise CaseError(_("仅企业用户可在门户申请开通"))
    allowed = {"erp_system", "connection_notes", "target_date"}
    with transaction.atomic():
        enterprise = Enterprise.objects.select_for_update().select_related("branch").get(pk=user.enterprise_id)
        data = {k: v for k, v in enterprise_data.items() if k not in ("uscc", "branch")}
        enterprise = enterprise_save(user=user, data=data, accounts=accounts, enterprise=enterprise)
        return case_create(
            user=user,
            enterprise=enterprise,
            modules=modules,
            account_manager=account_manager_pick(enterprise=enterprise),
            fields={k: v for k, v in fields.items() if k in allowed},
        )


# --- invitations ---------------------------------------------------------------------------


class InvitationRefused(Exception):
    """The link cannot be used; `reason` is one of invalid, expired, used."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _may_manage(actor: Any, enterprise: Enterprise) -> bool:
    """Account managers of the company's branch subtree, and the company's own admins."""
    if has_role(actor, Role.ACCOUNT_MANAGER) and actor.branch_id is not None:
        return branch_in_subtree(enterprise.branch, actor)
    return is_enterprise_admin(actor) and actor.enterprise_id == enterprise.pk


def invitation_create(
    *, by: Any, enterprise: Enterprise, email: str, display_name: str = "", as_admin: bool = False
) -> tuple[Invitation, str]:
    """Invite a contact of `enterprise` to the portal; returns the invitation and the raw token.

    The raw token exists only in the e-mail: the database keeps its SHA-256. An earlier
    pending invitation to the same address for the same company is revoked, so only the
    newest link works.
    """
    if not _may_manage(by, enterprise):
        raise CaseError(_("您没有邀请该企业用户的权限"))
    if as_admin and not has_role(by, Role.ACCOUNT_MANAGER):
        raise CaseError(_("仅客户经理可指定企业管理员"))
    email = email.strip().lower()
    User = get_user_model()
    if User.objects.filter(Q(email__iexact=email) | Q(username__iexact=email)).exists():
        raise CaseError(_("该邮箱已有账户"))
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(
            enterprise=enterprise, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            enterprise=enterprise,
            email=email,
            display_name=display_name.strip(),
            as_admin=as_admin,
            token_hash=token_hash(token),
            invited_by=by,
            created_at=now,
            expires_at=now + INVITATION_LIFETIME,
        )
        _queue_invitation_mail(invitation, token)
    return invitation, token


def _queue_invitation_mail(invitation: Invitation, token: str) -> None:
    # The raw token is stored only in the outbox row's `secret`, which is blanked once the
    # mail is sent; the invitation itself keeps only its SHA-256.
    email_queue(
        kind="invitation",
        key=f"invitation:{invitation.pk}",
        to=[invitation.email],
        payload={"invitation": invitation.pk, "secret": token},
    )


def invitation_check(*, token: str) -> Invitation:
    """The invitation behind a link, or InvitationRefused saying why it cannot be used."""
    invitation = Invitation.objects.select_related("enterprise").filter(token_hash=token_hash(token)).first()
    if invitation is None or invitation.revoked_at is not None:
        raise InvitationRefused("invalid")
    if invitation.accepted_at is not None:
        raise InvitationRefused("used")
    if invitation.expires_at <= timezone.now():
        raise InvitationRefused("expired")
    return invitation


def invitation_accept(*, token: str, password: str, display_name: str = "") -> Any:
    """Create the enterprise user behind a valid link. Of two uses of one link, one wins."""
    User = get_user_model()
    with transaction.atomic():
        invitation = invitation_check(token=token)
        candidate = User(username=invitation.email, email=invitation.email, enterprise=invitation.enterprise)
        try:
            password_validation.validate_password(password, user=candidate)
        except ValidationError as exc:
            raise CaseError(_("密码不符合要求"), list(exc.messages)) from None
        now = timezone.now()
        # The conditional update is the single-use check that holds under concurrency on
        # every database (SQLite has no row locks).
        claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
            accepted_at=now
        )
        if not claimed:
            raise InvitationRefused("used")
        try:
            user = User.objects.create_user(
                username=invitation.email,
                email=invitation.email,
                password=password,
                enterprise=invitation.enterprise,
                display_name=(display_name or invitation.display_name).strip(),
            )
        except IntegrityError:
            raise CaseError(_("该邮箱已有账户")) from None
        user.groups.add(Group.objects.get_or_create(name=Role.ENTERPRISE_USER)[0])
        EnterpriseMember.objects.create(user=user, is_admin=invitation.as_admin)
        Invitation.objects.filter(pk=invitation.pk).update(accepted_user=user)
    return user


# --- members -------------------------------------------------------------------------------


def members_ensure(*, enterprise: Enterprise) -> None:
    """Give every user of the company a membership row (users made in the admin or the seed)."""
    User = get_user_model()
    missing = User.objects.filter(enterprise=enterprise, portal_member__isnull=True, api_client__isnull=True)
    EnterpriseMember.objects.bulk_create([EnterpriseMember(user=u) for u in missing], ignore_conflicts=True)


def member_remove(*, by: Any, member: EnterpriseMember) -> None:
    """Deactivate (never delete) an enterprise user and end every session they have."""
    user = member.user
    enterprise = user.enterprise
    if enterprise is None or not _may_manage(by, enterprise):
        raise CaseError(_("您没有移除该用户的权限"))
    if by.pk == user.pk:
        raise CaseError(_("不能移除自己"))
    if member.is_admin and not has_role(by, Role.ACCOUNT_MANAGER):
        raise CaseError(_("企业管理员只能由客户经理移除"))
    with transaction.atomic():
        now = timezone.now()
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        EnterpriseMember.objects.filter(pk=member.pk).update(removed_at=now, removed_by=by)
        ended = sessions_end(user_id=user.pk)
    log.info("portal user %s removed by %s; %d sessions ended", user.pk, by.pk, ended)


def sessions_end(*, user_id: int) -> int:
    """End the user's sessions: their rows and, with the `cached_db` engine, their cached copies.

    Sessions do not index their user, so the live ones are decoded; the deactivated flag
    already locks the user out (ModelBackend refuses inactive users), this removes the
    sessions themselves. Each is deleted through the configured engine's store, so a copy
    in the session cache goes with its row instead of keeping the session alive.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore
    ended: list[str] = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user_id):
            store(session_key=session.session_key).delete()
            ended.append(session.session_key)

    def copies_delete() -> None:
        # A request that read a row before this transaction committed may have cached it again.
        for key in ended:
            store(session_key=key).delete()

    transaction.on_commit(copies_delete)
    return len(ended)


# --- the case thread -----------------------------------------------------------------------


def message_may_post(user: Any) -> bool:
    """Customers and bank staff; the auditor reads the thread but does not take part."""
    return is_customer(user) or (is_staff_member(user) and not user_roles(user) <= {Role.AUDITOR})


@kinds.renderers.add(key="message")
def render_message_notice(p: dict[str, Any]) -> str:
    return _("%(ref)s 有新留言:%(excerpt)s") % {"ref": p["ref"], "excerpt": p["excerpt"]}


def message_post(*, case: OnboardingCase, user: User, body: str) -> CaseMessage:
    """Add a message to the case's thread and tell the other side (in-app, and by mail through the outbox).

    A message is an append: it cannot overwrite anything, so it is not refused for a page
    that is older than the case; it still goes through the door and bumps the version.
    """
    body = body.strip()
    customer = is_customer(user)
    if not message_may_post(user) or not case_in_scope(case, user):
        raise CaseError(_("您不能在此案件留言。"))
    if not body:
        raise CaseError(_("留言内容不能为空。"))
    if len(body) > MESSAGE_MAX_LENGTH:
        raise CaseError(_("留言过长。"))
    with case_write(case=case, user=user, seen_version=None) as w:
        message = CaseMessage.objects.create(case=w.case, author=user, from_customer=customer, body=body)
        events.message_posted(case=w.case, actor=user, message_id=message.pk, from_customer=customer)
        from .tasks import message_recipients

        people = message_recipients(message)
        params = {"ref": w.case.reference, "excerpt": body[:60], "case": str(w.case.public_id)}
        notices_create(recipients=people, case_id=w.case.pk, kind="message", params=params)
        addresses = mail_addresses(people, MailKind.MESSAGE)
        if not customer and w.case.enterprise.contact_email:
            addresses.append(w.case.enterprise.contact_email)
        email_queue(kind="message", key=f"message:{message.pk}", to=addresses, payload={"message": message.pk})
    return message
