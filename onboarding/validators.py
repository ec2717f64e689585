"""Checks of the onboarding's own data; the company-data checks live in `companies.validators`
(re-exported here because earlier migrations name them by this path)."""

from __future__ import annotations

import contextlib
import urllib.parse

from companies.validators import (  # noqa: F401
    ACCOUNTS_MAX_MESSAGE,
    ID_CHECK,
    ID_WEIGHTS,
    MAX_ACCOUNTS,
    MIN_ACCOUNTS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
    company_identity_conflicts,
    identity_conflicts,
    normalise_id_number,
    normalise_person_name,
    resident_id_birth_date,
    resident_id_check_char,
    same_person,
    uscc_check_char,
    validate_account_count,
    validate_identities,
    validate_resident_id,
    validate_uscc,
)

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_endpoint(url: str) -> str:
    """One spelling per endpoint, so the production endpoint can be compared with the test one.

    `https://TEST.bank.example.:443/api/` and `https://test.bank.example/api` are the same
    server and path: scheme and host lower-cased, the host's trailing dot dropped and
    internationalised names in their IDNA (xn--) form, the scheme's default port removed, an
    empty path read as "/", a trailing slash removed. The path keeps its case (RFC 3986: paths
    are case-sensitive) and the query is kept; the fragment never reaches the server and is
    dropped. An address without a scheme is read as host and path. Text that is no URL at all
    (a bad port) is only stripped.
    """
    text = (url or "").strip()
    if not text:
        return ""
    parts = urllib.parse.urlsplit(text if "://" in text or text.startswith("//") else f"//{text}")
    try:
        port = parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    # A name IDNA cannot encode (e.g. a label too long) is compared as written.
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    host = host.rstrip(".")
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    netloc = f"{userinfo}@{host}" if userinfo else host
    path = parts.path.rstrip("/") or "/"
    return urllib.parse.urlunsplit((scheme, netloc, path, parts.query, ""))
