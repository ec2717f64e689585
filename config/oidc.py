"""OpenID Connect sign-in (issue 23): the settings read from the environment.

`oidc_settings(environ)` turns the `OIDC_*` variables into allauth's openid_connect provider
(one app, id `bank-idp`) and our own `OIDC_*` mapping; config/settings.py calls it with
os.environ, tests with a provider of their own. Off (no provider app) without OIDC_SERVER_URL.
The adapter that reads them is audit.oidc.SocialAccountAdapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config.directory import _pairs

PROVIDER_ID = "bank-idp"


def oidc_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    url = environ.get("OIDC_SERVER_URL", "").strip()
    if not url:
        return {"OIDC_ENABLED": False, "SOCIALACCOUNT_PROVIDERS": {}}

    def required(name: str) -> str:
        value = environ.get(name, "").strip()
        if not value:
            raise ImproperlyConfigured(f"{name} is required with OIDC_SERVER_URL")
        return value

    roles = _pairs(environ, "OIDC_ROLE_GROUPS")
    if not roles:
        raise ImproperlyConfigured("OIDC_ROLE_GROUPS is required with OIDC_SERVER_URL")
    return {
        "OIDC_ENABLED": True,
        "SOCIALACCOUNT_PROVIDERS": {
            "openid_connect": {
                "OAUTH_PKCE_ENABLED": True,
                "APPS": [
                    {
                        "provider_id": PROVIDER_ID,
                        "name": environ.get("OIDC_NAME", "").strip() or "统一身份平台",
                        "client_id": required("OIDC_CLIENT_ID"),
                        "secret": required("OIDC_CLIENT_SECRET"),
                        "settings": {
                            "server_url": url,
                            "token_auth_method": "client_secret_post",
                            "scope": ["openid", "profile", "email"],
                        },
                    }
                ],
            }
        },
        # role code → the value in the token's groups claim
        "OIDC_ROLE_GROUPS": roles,
        "OIDC_GROUPS_CLAIM": environ.get("OIDC_GROUPS_CLAIM", "").strip() or "groups",
        "OIDC_BRANCH_CLAIM": environ.get("OIDC_BRANCH_CLAIM", "").strip() or "branch",
        # `amr` values that mean the platform already checked a second factor (RFC 8176);
        # empty: our own second factor always applies.
        "OIDC_MFA_AMR": [v.strip() for v in environ.get("OIDC_MFA_AMR", "").split(",") if v.strip()],
    }
