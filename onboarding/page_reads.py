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


def prime(case: Any, key: str, value: Any) -> None:
    """Hand `case` a read made for several cases at once (a list page's batch)."""
    memo: dict[str, Any] | None = getattr(case, _ATTR, None)
    if memo is None:
        memo = {}
        setattr(case, _ATTR, memo)
    memo[key] = value
