"""The portal's case links: each route reversed once per process and script prefix, the case's
id put into it (a `reverse` per link cost the case page about 20 µs each, for half a dozen)."""

from __future__ import annotations

from typing import Any

from django.urls import get_script_prefix, reverse

_SLOT = "00000000-0000-0000-0000-000000000000"
_routes: dict[tuple[str, str], str] = {}


def case_route(name: str, public_id: Any) -> str:
    """`reverse(name, args=[public_id])` for a route whose one argument is a case's public id."""
    key = (name, get_script_prefix())
    route = _routes.get(key)
    if route is None:
        route = _routes[key] = reverse(name, args=[_SLOT])
    return route.replace(_SLOT, str(public_id))
