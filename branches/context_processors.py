from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .roles import user_roles


def roles(request: HttpRequest) -> dict[str, Any]:
    return {"user_role_codes": user_roles(request.user) if hasattr(request, "user") else frozenset()}
