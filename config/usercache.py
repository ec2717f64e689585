"""The logged-in user, read from Redis instead of the database while their row is unchanged.

Every request needs its user: Django's AuthenticationMiddleware reads the row each time. Here a
copy is kept in the page cache's Redis with the generation of the user table
(`config/pagecache.py`): every committed write to `accounts_user` (deactivation, a new
password, `queryset.update()`, a worker on another host; not a login's `last_login` alone) replaces that
generation, and a copy from before it is never used. The generation is read *before* the row,
so a copy stored by a request that raced a deactivation is stale the moment it is stored.

The copy also carries what `USER_CACHE_PREPARE` reads onto the user object before it is stored
(the roles), and is valid only while those tables are unchanged too.

A copy is only used when everything Django checks still holds: the session names this user and
an allowed backend, the user is active, and the session's hash matches the password hash.
Anything else (no copy, another generation, a mismatch, Redis not answering, the current
connection holding uncommitted writes) goes through `django.contrib.auth.get_user`, which reads
the row, verifies and, where the hash does not match, ends the session. A copy lives at most
USER_CACHE_SECONDS, the bound for a change made behind Django's back (SQL typed into psql).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string

from . import pagecache

# A copy is valid while none of these changed: the row, and what `USER_CACHE_PREPARE` reads onto
# it before it is stored (branches.roles.user_prepare: the user's groups and home branch).
TABLES = ("accounts_user", "accounts_user_groups", "auth_group", "branches_branch")


def _key(user_id: Any) -> str:
    return f"user:{settings.DATABASES['default']['NAME']}:{user_id}"


def session_user(request: HttpRequest) -> Any:
    """`django.contrib.auth.get_user(request)`, answered from Redis while the row is unchanged."""
    if not pagecache.enabled() or pagecache.uncommitted_writes():
        return auth.get_user(request)
    try:
        user_id = auth._get_user_session_key(request)  # type: ignore[attr-defined]
        backend = request.session[auth.BACKEND_SESSION_KEY]
    except KeyError:
        return auth.get_user(request)
    session_hash = request.session.get(auth.HASH_SESSION_KEY)
    if backend not in settings.AUTHENTICATION_BACKENDS or not session_hash:
        return auth.get_user(request)
    if not pagecache.enabled():  # reading the session just now found Redis not answering
        return auth.get_user(request)
    key, gen_keys = _key(user_id), [pagecache.gen_key(t) for t in TABLES]
    cache = pagecache.cache()
    try:
        found = cache.get_many([key, *gen_keys])
        entry = found.get(key)
        gens = [found.get(k) for k in gen_keys]
        if entry is not None and None not in gens and entry[0] == gens:
            user = entry[1]
            if user.is_active and constant_time_compare(session_hash, user.get_session_auth_hash()):
                return user
        before = gens if None not in gens else [pagecache.generations(TABLES)[k] for k in gen_keys]
    except Exception as exc:  # an outage means reading the row, not failing
        pagecache.failed(exc)
        return auth.get_user(request)
    user = auth.get_user(request)
    if getattr(user, "is_authenticated", False) and not pagecache.uncommitted_writes():
        if settings.USER_CACHE_PREPARE:
            import_string(settings.USER_CACHE_PREPARE)(user)
        try:
            cache.set(key, (before, user), settings.USER_CACHE_SECONDS)
        except Exception as exc:
            pagecache.failed(exc)
    return user


def _user(request: HttpRequest) -> Any:
    if not hasattr(request, "_cached_user"):
        request._cached_user = session_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]


class CachedUserAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware with `request.user` from `session_user`."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _user(request))  # type: ignore[assignment]
