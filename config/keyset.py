"""Keyset pagination: a page is "the rows after this key", read along an index.

OFFSET n reads and throws away n rows, so page 2000 costs 2000 pages; a key (the sort value
and the id of the last row shown) lets the database seek to it, so every page costs what the
first does. Used by the audit log (`audit.selectors.audit_events`) and the API lists
(`api.pagination.KeysetPagination`).

The key's test is written `at <= t AND (at < t OR id < i)` rather than the row comparison
`(at, id) < (t, i)`: the first half is a range on the index's leading column on every
database, the second only sorts out the rows of the same instant.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def micros(at: dt.datetime) -> int:
    """An aware datetime as whole microseconds since 1970 (exact, and short in a URL)."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=value)


def after_q(field: str, at: Any, pk: Any, *, descending: bool, pk_field: str = "pk") -> Q:
    """The rows that come after (at, pk) in the order (field, pk), both descending or both ascending."""
    if descending:
        return Q(**{f"{field}__lte": at}) & (Q(**{f"{field}__lt": at}) | Q(**{f"{pk_field}__lt": pk}))
    return Q(**{f"{field}__gte": at}) & (Q(**{f"{field}__gt": at}) | Q(**{f"{pk_field}__gt": pk}))
