"""Directory sign-in (LDAP / Active Directory, issue 23): the settings read from the environment.

`directory_settings(environ)` turns the `DIRECTORY_*` variables into django-auth-ldap's
`AUTH_LDAP_*` settings and our own `DIRECTORY_*` ones; config/settings.py calls it with
os.environ, tests with a directory of their own. Off (an empty dict) without DIRECTORY_URL.
The backend that reads them is audit.directory.DirectoryBackend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

BACKEND = "audit.directory.DirectoryBackend"

GROUP_TYPES = {
    "groupOfNames": "GroupOfNamesType",
    "groupOfUniqueNames": "GroupOfUniqueNamesType",
    "posixGroup": "PosixGroupType",
    "activeDirectory": "ActiveDirectoryGroupType",
    "nestedActiveDirectory": "NestedActiveDirectoryGroupType",
}


def _bool(environ: Mapping[str, str], name: str, default: str) -> bool:
    value = environ.get(name, default).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def _pairs(environ: Mapping[str, str], name: str) -> dict[str, str]:
    """`a=x;b=y` → {"a": "x", "b": "y"}; a value may hold `=` and `,` (a DN), so `;` separates."""
    pairs: dict[str, str] = {}
    for item in environ.get(name, "").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ImproperlyConfigured(f"{name}: {item!r} is not KEY=VALUE")
        pairs[key.strip()] = value.strip()
    return pairs


def directory_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    url = environ.get("DIRECTORY_URL", "").strip()
    if not url:
        return {"DIRECTORY_ENABLED": False}
    import ldap
    from django_auth_ldap import config as ldap_config

    def required(name: str) -> str:
        value = environ.get(name, "").strip()
        if not value:
            raise ImproperlyConfigured(f"{name} is required with DIRECTORY_URL")
        return value

    group_type_name = environ.get("DIRECTORY_GROUP_TYPE", "groupOfNames").strip()
    if group_type_name not in GROUP_TYPES:
        raise ImproperlyConfigured(f"DIRECTORY_GROUP_TYPE must be one of {', '.join(GROUP_TYPES)}")
    group_type = getattr(ldap_config, GROUP_TYPES[group_type_name])()
    roles = _pairs(environ, "DIRECTORY_ROLE_GROUPS")
    if not roles:
        raise ImproperlyConfigured("DIRECTORY_ROLE_GROUPS is required with DIRECTORY_URL (role=group DN;…)")
    disabled_attribute = _pairs(environ, "DIRECTORY_DISABLED_ATTRIBUTE")
    timeout = float(environ.get("DIRECTORY_TIMEOUT_SECONDS", "5"))
    attr_map = {"first_name": "givenName", "last_name": "sn", "email": "mail"}
    attr_map.update(_pairs(environ, "DIRECTORY_ATTR_MAP"))
    if environ.get("DIRECTORY_NAME_ATTRIBUTE", "displayName").strip():
        attr_map["display_name"] = environ.get("DIRECTORY_NAME_ATTRIBUTE", "displayName").strip()
    return {
        "DIRECTORY_ENABLED": True,
        "AUTH_LDAP_SERVER_URI": url,
        "AUTH_LDAP_BIND_DN": environ.get("DIRECTORY_BIND_DN", ""),
        "AUTH_LDAP_BIND_PASSWORD": environ.get("DIRECTORY_BIND_PASSWORD", ""),
        "AUTH_LDAP_START_TLS": _bool(environ, "DIRECTORY_START_TLS", "false"),
        "AUTH_LDAP_USER_SEARCH": ldap_config.LDAPSearch(
            required("DIRECTORY_USER_BASE"),
            ldap.SCOPE_SUBTREE,
            environ.get("DIRECTORY_USER_FILTER", "(uid=%(user)s)"),
        ),
        "AUTH_LDAP_GROUP_SEARCH": ldap_config.LDAPSearch(
            required("DIRECTORY_GROUP_BASE"),
            ldap.SCOPE_SUBTREE,
            environ.get("DIRECTORY_GROUP_FILTER", "(objectClass=*)"),
        ),
        "AUTH_LDAP_GROUP_TYPE": group_type,
        "AUTH_LDAP_USER_ATTR_MAP": attr_map,
        # Roles, branch and the disabled state are read at every login, never cached.
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_CACHE_TIMEOUT": 0,
        "AUTH_LDAP_CONNECTION_OPTIONS": {
            ldap.OPT_NETWORK_TIMEOUT: timeout,
            ldap.OPT_TIMEOUT: timeout,
            ldap.OPT_REFERRALS: 0,  # Active Directory's referrals would be chased anonymously
        },
        "DIRECTORY_ROLE_GROUPS": roles,
        "DIRECTORY_BRANCH_ATTRIBUTE": required("DIRECTORY_BRANCH_ATTRIBUTE"),
        "DIRECTORY_AD_ACCOUNT_CONTROL": _bool(environ, "DIRECTORY_AD_ACCOUNT_CONTROL", "false"),
        "DIRECTORY_DISABLED_ATTRIBUTE": disabled_attribute,
        "DIRECTORY_DISABLED_GROUP": environ.get("DIRECTORY_DISABLED_GROUP", "").strip(),
        "DIRECTORY_SYNC_SECONDS": int(environ.get("DIRECTORY_SYNC_SECONDS", "3600")),
    }
