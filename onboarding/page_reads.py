"""Reads shared by the panels of one case page.

The staff case page shows a dozen panels from several apps, and some read the same rows (the
documents for the next-step panel's guards and for the documents panel; the operators for the
guards, the counter panel and its forms). The page marks its case with `page_reads(case)`;
while it renders, `read_once(case, key, compute)` runs `compute` once per key and hands every
later caller the same result. Nothing is remembered beyond that case object, which lives for
one GET request that writes nothing, and without the mark every call reads afresh. A page
listing several cases reads a table once for all of them and `prime`s each case with its rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from casetypes.extensions import ExtensionPoint

T = TypeVar("T")
# Relations of the case its page reads with the case row itself; apps above onboarding add
# theirs from their `ready()` (analytics: ``page_relations.add("forecast")``), so onboarding
# names none of them.
page_relations: ExtensionPoint[str] = ExtensionPoint(
    "onboarding.case_page_relations", "relations the staff case page reads with the case row"
)
# Reads of the case page that are cheaper after the case row than joined to it: each is called
# with the case just read and sets (or skips, when the case's type or state says there is
# nothing) the relations its panels use. Joining every optional one-to-one to the case row
# made PostgreSQL spend longer planning the join order than running the query.
page_loaders: ExtensionPoint[Callable[[Any], None]] = ExtensionPoint(
    "onboarding.case_page_loaders", "reads the staff case page makes right after the case row"
)
_ATTR = "_page_reads"


def page_reads(case: Any) -> Any:
    """Mark `case` as the one a page is rendering: its panels share their reads."""
    setattr(case, _ATTR, {})
    return case


def read_once(case: Any, key: str, compute: Callable[[], T]) -> T:
    memo: dict[str, Any] | None = getattr(case, _ATTR, None)
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]  # type: ignore[no-any-return]


def marked(case: Any) -> bool:
    """Whether `case` is the one a page is rendering (its reads are shared)."""
    return getattr(case, _ATTR, None) is not None


def prime(case: Any, key: str, value: Any) -> None:
    """Hand `case` a read made for several cases at once (a list page's batch)."""
    memo: dict[str, Any] | None = getattr(case, _ATTR, None)
    if memo is None:
        memo = {}
        setattr(case, _ATTR, memo)
    memo[key] = value
