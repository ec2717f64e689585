"""OpenID Connect sign-in (issue 23): allauth's openid_connect provider against the bank's
identity platform, for banks that have one instead of (or beside) a directory.

The platform authenticates the person; this adapter reads the token's claims (the ID token's,
over the userinfo answer): the roles from the groups claim through `OIDC_ROLE_GROUPS`, the
branch from `OIDC_BRANCH_CLAIM` (a branch code). Nobody without a mapped group or with an
unknown branch gets in, nor anyone deactivated here (a leaver). A first login creates the
account (no password), or links the directory-made account of the same user name (never a local
account with a password, such as the administrator's); each login brings roles and branch up to
date. The second factor: when the token's `amr` holds one of `OIDC_MFA_AMR`, the platform's
check counts as ours; otherwise our own (TOTP or security key) still follows.
Settings: config/oidc.py.
"""

from __future__ import annotations

from typing import Any, NoReturn

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import User
from branches.models import Branch
from branches.roles import STAFF_ROLES


def refusal_messages() -> dict[str, str]:
    return {
        "inactive": _("您的账号在本系统中已停用。如有疑问,请联系本机构的系统管理员。"),
        "no_role": _("统一身份平台中您不属于本系统的任何角色组,暂不能登录。请联系系统管理员开通角色。"),
        "no_branch": _("统一身份平台中您的机构号在本系统中不存在,暂不能登录。请联系系统管理员。"),
        "local_account": _("本系统中同名账号是本地账号,不能通过统一身份平台登录,请用本地密码登录。"),
    }


def claims_of(sociallogin: SocialLogin) -> dict[str, Any]:
    data = sociallogin.account.extra_data or {}
    return {**(data.get("userinfo") or {}), **(data.get("id_token") or {})}


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def claimed_roles(claims: dict[str, Any]) -> set[str]:
    groups = {g.lower() for g in _list(claims.get(settings.OIDC_GROUPS_CLAIM))}
    return {role for role, group in settings.OIDC_ROLE_GROUPS.items() if group.lower() in groups}


def platform_checked_second_factor(claims: dict[str, Any]) -> bool:
    return bool(set(_list(claims.get("amr"))) & set(settings.OIDC_MFA_AMR))


def set_claimed_roles(user: User, roles: set[str]) -> None:
    """Of the roles OIDC_ROLE_GROUPS maps, the user holds exactly `roles`; others stay as given."""
    mapped = set(settings.OIDC_ROLE_GROUPS) & set(STAFF_ROLES)
    current = set(user.groups.filter(name__in=mapped).values_list("name", flat=True))
    user.groups.remove(*Group.objects.filter(name__in=current - roles))
    user.groups.add(*Group.objects.filter(name__in=roles - current))
    user._role_cache = None  # type: ignore[attr-defined]


def _refuse(request: HttpRequest, reason: str) -> NoReturn:
    messages.error(request, refusal_messages()[reason])
    raise ImmediateHttpResponse(HttpResponseRedirect(reverse("account_login")))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return bool(settings.OIDC_ENABLED)  # staff accounts come from the platform, checked below

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        claims = claims_of(sociallogin)
        roles = claimed_roles(claims) & set(STAFF_ROLES)
        codes = _list(claims.get(settings.OIDC_BRANCH_CLAIM))
        branch = Branch.objects.filter(code=codes[0]).first() if codes else None
        user: User | None = sociallogin.user if sociallogin.is_existing else None
        if user is None:
            username = str(claims.get("preferred_username") or claims.get("sub") or "")
            user = User.objects.filter(username=username).first()
            if user is not None and user.is_active and user.has_usable_password():
                _refuse(request, "local_account")
        if user is not None and not user.is_active:
            _refuse(request, "inactive")
        if not roles:
            _refuse(request, "no_role")
        if branch is None:
            _refuse(request, "no_branch")
        sociallogin.state["bank_roles"] = sorted(roles)
        if user is not None:
            if not sociallogin.is_existing:
                sociallogin.connect(request, user)
            self._bring_up_to_date(user, claims, branch, roles)

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict[str, Any]) -> Any:
        user = super().populate_user(request, sociallogin, data)
        claims = claims_of(sociallogin)
        user.username = str(claims.get("preferred_username") or claims.get("sub"))
        user.display_name = str(claims.get("name") or user.username)
        codes = _list(claims.get(settings.OIDC_BRANCH_CLAIM))
        user.branch = Branch.objects.filter(code=codes[0]).first() if codes else None
        return user

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> Any:
        user = super().save_user(request, sociallogin, form)
        set_claimed_roles(user, set(sociallogin.state.get("bank_roles", [])))
        return user

    @staticmethod
    def _bring_up_to_date(user: User, claims: dict[str, Any], branch: Branch, roles: set[str]) -> None:
        user.branch = branch
        if claims.get("name"):
            user.display_name = str(claims["name"])
        if claims.get("email"):
            user.email = str(claims["email"])
        user.save(update_fields=["branch", "display_name", "email"])
        set_claimed_roles(user, roles)


def on_social_login(request: HttpRequest, user: Any, sociallogin: SocialLogin | None) -> None:
    """After a platform login: the platform's second factor counts when its `amr` says so."""
    from .mfa import mfa_mark

    if sociallogin is not None and platform_checked_second_factor(claims_of(sociallogin)):
        mfa_mark(request.session, user)
