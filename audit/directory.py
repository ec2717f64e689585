"""Directory sign-in (LDAP / Active Directory, issue 23) behind the allauth login.

django-auth-ldap binds as the person with the password typed on the usual login page (so
allauth's failed-login limits and the staff second factor still apply), then this backend
reads the directory entry: disabled → refused with a clear message and the local account
deactivated; the branch from `DIRECTORY_BRANCH_ATTRIBUTE` (a branch code); the roles from the
groups of `DIRECTORY_ROLE_GROUPS`. The account is created at the first login and brought up to
date at every login. Settings: config/directory.py. `manage.py sync_directory` (on beat)
deactivates whoever the directory has disabled or removed, without waiting for their login.

Deactivating is saving `is_active=False` on the user: whoever moves a leaver's open work
listens for that save; nothing here moves work.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import ldap
import ldap.filter
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django_auth_ldap.backend import LDAPBackend, _LDAPUser, ldap_error

from accounts.models import User
from branches.models import Branch
from branches.roles import STAFF_ROLES

logger = logging.getLogger(__name__)

# The refusal a login gets from the directory, kept on the request for the account adapter.
REFUSAL_ATTR = "_directory_refusal"
AD_ACCOUNTDISABLE = 0x2  # userAccountControl's "account disabled" bit


def refusal_messages() -> dict[str, str]:
    return {
        "disabled": _("您的账号已在行内目录(统一身份)中停用,不能再登录本系统。如有疑问,请联系本机构的系统管理员。"),
        "inactive": _("您的账号在本系统中已停用。如有疑问,请联系本机构的系统管理员。"),
        "no_role": _("行内目录中您不属于本系统的任何角色组,暂不能登录。请联系系统管理员开通角色。"),
        "no_branch": _("行内目录中您的机构号在本系统中不存在,暂不能登录。请联系系统管理员。"),
        "unavailable": _("暂时无法连接行内目录(统一身份),目录账号现在不能登录,请稍后再试。本地账号不受影响。"),
    }


def _refuse(request: HttpRequest | None, reason: str) -> None:
    if request is not None:
        setattr(request, REFUSAL_ATTR, reason)


def refusal_of(request: HttpRequest | None) -> str | None:
    return getattr(request, REFUSAL_ATTR, None)


def _values(attrs: Any, name: str) -> list[str]:
    if not attrs:
        return []
    for key, values in attrs.items():  # LDAP attribute names are case-insensitive
        if key.lower() == name.lower():
            return [str(v) for v in values]
    return []


def entry_disabled(attrs: Any, group_dns: set[str] | frozenset[str]) -> bool:
    """Is the directory entry disabled: AD's ACCOUNTDISABLE bit, a configured attribute value,
    or membership of the configured group?"""
    if settings.DIRECTORY_AD_ACCOUNT_CONTROL:
        for value in _values(attrs, "userAccountControl"):
            try:
                if int(value) & AD_ACCOUNTDISABLE:
                    return True
            except ValueError:
                continue
    for name, wanted in settings.DIRECTORY_DISABLED_ATTRIBUTE.items():
        if any(v.lower() == wanted.lower() for v in _values(attrs, name)):
            return True
    disabled_group = settings.DIRECTORY_DISABLED_GROUP
    return bool(disabled_group) and disabled_group.lower() in {dn.lower() for dn in group_dns}


def entry_roles(group_dns: set[str] | frozenset[str]) -> set[str]:
    groups = {dn.lower() for dn in group_dns}
    return {role for role, dn in settings.DIRECTORY_ROLE_GROUPS.items() if dn.lower() in groups}


def deactivate(user: User, reason: str) -> bool:
    """Save is_active=False (the leavers' hand-over listens for this save); True if it changed."""
    if user.pk is None or not user.is_active:
        return False
    user.is_active = False
    user.save(update_fields=["is_active"])
    logger.info("directory: deactivated %s (%s)", user.username, reason)
    return True


# Active Directory refuses the bind of a disabled (533), expired (701) or locked-out (775)
# account with "invalid credentials" and a sub-code in the diagnostic, e.g. "80090308:
# LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563". AD gives
# these sub-codes only for the right password (a wrong one reads "data 52e").
AD_REFUSED_BIND = re.compile(r"\bdata (533|701|775)\b")


def ad_refused_bind(exc: BaseException | None) -> bool:
    if not isinstance(exc, ldap.INVALID_CREDENTIALS):
        return False
    info = exc.args[0].get("info", "") if exc.args and isinstance(exc.args[0], dict) else ""
    return bool(AD_REFUSED_BIND.search(str(info)))


class _DirectoryUser(_LDAPUser):
    def _authenticate_user_dn(self, password: str) -> None:
        try:
            super()._authenticate_user_dn(password)
        except self.AuthenticationFailed as exc:
            # django-auth-ldap turns ldap.INVALID_CREDENTIALS into AuthenticationFailed; the
            # directory's own reason is the exception it was raised from.
            if ad_refused_bind(exc.__context__):
                existing = User.objects.filter(username__iexact=self._username).first()
                if existing is not None:
                    deactivate(existing, "the directory refused the bind: account disabled")
                _refuse(self._request, "disabled")
            raise


class DirectoryBackend(LDAPBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        username = kwargs.get(User.USERNAME_FIELD, username)
        if username is None or not password:
            return None
        return self.authenticate_ldap_user(_DirectoryUser(self, username=username.strip(), request=request), password)

    def get_or_build_user(self, username: str, ldap_user: _LDAPUser) -> tuple[User, bool]:
        # Called after the person's bind succeeded, before the account is created or updated.
        user, built = super().get_or_build_user(username, ldap_user)
        request = ldap_user._request
        if entry_disabled(ldap_user.attrs, ldap_user.group_dns):
            deactivate(user, "disabled in the directory at login")
            _refuse(request, "disabled")
            raise ldap_user.AuthenticationFailed("disabled in the directory")
        if not built and not user.is_active:
            _refuse(request, "inactive")
            raise ldap_user.AuthenticationFailed("inactive here")
        if not entry_roles(ldap_user.group_dns):
            _refuse(request, "no_role")
            raise ldap_user.AuthenticationFailed("no role group")
        codes = _values(ldap_user.attrs, settings.DIRECTORY_BRANCH_ATTRIBUTE)
        branch = Branch.objects.filter(code__in=codes[:1]).first() if codes else None
        if branch is None:
            _refuse(request, "no_branch")
            raise ldap_user.AuthenticationFailed("unknown branch code")
        user.branch = branch
        user.enterprise = None
        return user, built

    def authenticate_ldap_user(self, ldap_user: _LDAPUser, password: str) -> User | None:
        with transaction.atomic():
            user: User | None = ldap_user.authenticate(password)
            if user is not None:
                set_roles(user, entry_roles(ldap_user.group_dns))
        return user


def set_roles(user: User, roles: set[str]) -> None:
    """Of the roles DIRECTORY_ROLE_GROUPS maps, the user holds exactly `roles`; a role no
    directory group maps to (given by hand in the admin) is left alone."""
    mapped = set(settings.DIRECTORY_ROLE_GROUPS) & set(STAFF_ROLES)
    current = set(user.groups.filter(name__in=mapped).values_list("name", flat=True))
    if current == roles:
        return
    user.groups.remove(*Group.objects.filter(name__in=current - roles))
    user.groups.add(*Group.objects.filter(name__in=roles - current))
    user._role_cache = None  # type: ignore[attr-defined]


@receiver(ldap_error, dispatch_uid="directory_unavailable")
def on_ldap_error(sender: Any, context: str, user: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    exception = kwargs.get("exception")
    logger.warning("directory: %s failed: %r", context, exception)
    if context in {"authenticate", "search_for_user_dn"} and isinstance(
        exception, ldap.SERVER_DOWN | ldap.TIMEOUT | ldap.CONNECT_ERROR
    ):
        _refuse(request, "unavailable")


def _directory_managed(user: User) -> bool:
    """Accounts the directory created carry no local password."""
    return user.branch_id is not None and not user.has_usable_password()


def _lookup(backend: DirectoryBackend, user: User) -> tuple[bool, bool]:
    """(found, disabled) for the user's directory entry; raises ldap.LDAPError.

    A direct search, which raises where django-auth-ldap's LDAPSearch would log and answer
    "nobody": a directory that does not answer deactivates nobody.
    """
    ldap_user = _LDAPUser(backend, username=user.username)
    search = backend.settings.USER_SEARCH
    found = ldap_user.connection.search_s(  # bound with DIRECTORY_BIND_DN
        search.base_dn,
        search.scope,
        search.filterstr % {"user": ldap.filter.escape_filter_chars(user.username)},
    )
    found = [(dn, attrs) for dn, attrs in found if dn]  # AD's referrals come without a DN
    if len(found) != 1:
        return False, False
    ldap_user._user_dn, ldap_user._user_attrs = found[0][0], _decoded(found[0][1])
    return True, entry_disabled(ldap_user.attrs, ldap_user.group_dns)


def refusal_at_passkey_login(user: User) -> str | None:
    """A passkey login never reaches the directory's bind: check the entry here, so someone
    disabled in the directory is refused at their next login whichever way they sign in.
    A directory that does not answer does not stop a passkey login (the key is both factors)."""
    if not settings.DIRECTORY_ENABLED or user.is_superuser:
        return None
    try:
        found, disabled = _lookup(DirectoryBackend(), user)
    except ldap.LDAPError as exc:
        logger.warning("directory: could not check %s at a passkey login: %r", user.username, exc)
        return None
    if disabled or (not found and _directory_managed(user)):
        deactivate(user, "disabled in the directory, at a passkey login")
        return "disabled"
    return None


def sync_directory(*, dry_run: bool = False) -> dict[str, list[str]]:
    """Deactivate every active account the directory has disabled or no longer holds.

    Looks at bank staff (a home branch) and at accounts created by the directory (no local
    password); superusers and local accounts with a password that the directory does not know
    are left alone. Raises ldap.LDAPError, deactivating nobody more, when the directory cannot be read.
    """
    result: dict[str, list[str]] = {"disabled": [], "missing": [], "checked": []}
    if not settings.DIRECTORY_ENABLED:
        return result
    backend = DirectoryBackend()
    candidates = User.objects.filter(is_active=True, is_superuser=False, enterprise__isnull=True).order_by("pk")
    for user in candidates:
        found, disabled = _lookup(backend, user)
        if not found:
            if _directory_managed(user):
                result["missing"].append(user.username)
                if not dry_run:
                    deactivate(user, "no longer in the directory")
            continue
        result["checked"].append(user.username)
        if disabled:
            result["disabled"].append(user.username)
            if not dry_run:
                deactivate(user, "disabled in the directory")
    return result


def _decoded(attrs: dict[str, list[bytes]]) -> dict[str, list[str]]:
    return {name: [v.decode("utf-8", "replace") for v in values] for name, values in attrs.items()}
