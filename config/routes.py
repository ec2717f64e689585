"""Addresses of routes whose arguments are ids, reversed once per process (issue 26).

`reverse()` walks the resolver and quotes every argument: about 30 µs a call, and a case page
draws a dozen such links (its forms' actions, the thread's, the counter's). `route(name,
*args)` reverses each route once per process and script prefix with stand-in UUIDs in the
places of the UUID arguments, then puts the real ids in: the same address `reverse` gives, as
`{% url %}` writes it. Arguments that are not UUIDs (a slug such as a key's action) are part
of what is kept.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import get_script_prefix, reverse

# Stand-ins no real id equals (version 4 UUIDs have a 4 in their 13th digit).
_STAND_INS = [f"00000000-0000-0000-0000-{k:012d}" for k in range(4)]
_MOST = 1000
_kept: dict[tuple[Any, ...], tuple[str, list[int]]] = {}


def route(name: str, *args: Any) -> str:
    """`reverse(name, args=args)` for a route whose UUID arguments change from call to call."""
    ids = [i for i, a in enumerate(args) if isinstance(a, uuid.UUID)]
    if len(ids) > len(_STAND_INS):
        return reverse(name, args=args)
    key = (name, get_script_prefix(), *(None if i in ids else a for i, a in enumerate(args)))
    found = _kept.get(key)
    if found is None:
        stand_ins = [_STAND_INS[ids.index(i)] if i in ids else a for i, a in enumerate(args)]
        url = reverse(name, args=stand_ins)
        if any(url.count(_STAND_INS[k]) != 1 for k in range(len(ids))):
            return reverse(name, args=args)  # a route that writes its ids otherwise: as before
        found = (url, ids)
        if len(_kept) < _MOST:  # keys hold the other arguments: a bound on what callers pass
            _kept[key] = found
    url, places = found
    for k, i in enumerate(places):
        url = url.replace(_STAND_INS[k], str(args[i]))
    return url
