"""Scope: which branches, cases and companies a person may see. The one vocabulary for it.

A branch's `path` is its materialised path ("/1/4/9/"), so a subtree is a path prefix. Nothing
outside this module compares paths: a reader asks `branch_in_subtree`, `case_in_scope` or
filters with `subtree_q`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from .models import Branch


def branch_within(branch: Branch, root: Branch) -> bool:
    """`branch` is `root` or lies below it."""
    return branch.path.startswith(root.path)


def branch_in_subtree(branch: Branch, user: Any) -> bool:
    """`branch` lies in the subtree of the user's home branch (never for users without one)."""
    return user.branch_id is not None and branch_within(branch, user.branch)


def ids_within(branches: Iterable[tuple[int, str]], root: Branch) -> list[int]:
    """The ids of those (id, path) pairs whose branch is `root` or lies below it."""
    return [pk for pk, path in branches if path.startswith(root.path)]


def case_in_scope(case: Any, user: Any) -> bool:
    """Staff: the case's branch lies in the user's subtree. Enterprise users: their own company."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.enterprise_id is not None:
        return case.enterprise_id == user.enterprise_id
    return branch_in_subtree(case.branch, user)


def subtree_q(prefix: str, root: Branch) -> Q:
    """Rows whose branch (reached through `prefix`, "" for branches themselves) is `root` or below it.

    `subtree_q("branch", user.branch)` for cases, `subtree_q("case__branch", branch)` for events.
    """
    if not prefix:
        return Q(path__startswith=root.path)
    # By the ids of the subtree's branches (a small subquery), not `branch.path LIKE` through a
    # join: the cases' own indexes ((branch, state), the list's created_at order) then apply.
    return Q(**{f"{prefix}__in": Branch.objects.filter(path__startswith=root.path).values("pk")})


def subtree_joined_q(prefix: str, root: Branch) -> Q:
    """`subtree_q` through a join to the branch row (its path), for a few rows found by other
    means (pending change requests): each is checked against its own branch, with no subquery
    of the subtree's branches for PostgreSQL to plan a semi-join around."""
    return Q(**{f"{prefix}__path__startswith": root.path})


def ancestor_ids(branch: Branch) -> list[int]:
    """The branch and every branch above it, head office first."""
    return [int(pk) for pk in branch.path.strip("/").split("/")]
