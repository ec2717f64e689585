"""A person's permissions in one query instead of Django's two (issue 26).

Django's `ModelBackend` reads a user's own permissions and their groups' permissions in two
queries the first time a request asks (`user.has_perm`, the templates' `perms`): every staff
dashboard asks (whether its reader may enter the holidays). `PermissionsBackend`, listed before
it, reads both in one and leaves them where `ModelBackend` looks for them (`_perm_cache` on the
user), so the backends after it read nothing more. It authenticates nobody: sessions keep
naming the backend that signed the person in. With the user cache (config/usercache.py) the
permissions come with the user's copy: no query at all.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Q


class PermissionsBackend(ModelBackend):
    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        return None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            perms = Permission.objects.all()
            if not user_obj.is_superuser:
                perms = perms.filter(Q(user=user_obj) | Q(group__user=user_obj))
            rows = perms.values_list("content_type__app_label", "codename").order_by()
            user_obj._perm_cache = {f"{app}.{codename}" for app, codename in rows}
        return user_obj._perm_cache  # type: ignore[no-any-return]
