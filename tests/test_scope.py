"""One vocabulary for scope (branches/scope.py): subtrees, cases in scope, and no path compared elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

from branches.models import Branch
from branches.roles import Role
from branches.scope import ancestor_ids, branch_in_subtree, branch_within, case_in_scope, subtree_q
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.factories import user

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "audit", "branches", "counter", "demo", "documents", "onboarding", "portal", "reminders")
NOT_YET = {"branches/scope.py"}
PATH_PREFIX = re.compile(r"\.path\.startswith\(|path__startswith")  # a branch path, not a URL path


def test_no_code_compares_branch_paths_outside_the_scope_module():
    found = {
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and PATH_PREFIX.search(path.read_text(encoding="utf-8"))
    }
    assert found <= NOT_YET, found - NOT_YET


def test_subtrees(world):
    assert branch_within(world.branch_a, world.tier1) and branch_within(world.tier1, world.tier1)
    assert not branch_within(world.branch_b, world.tier1) and not branch_within(world.tier1, world.branch_a)
    assert branch_in_subtree(world.branch_a, world.supervisor)
    assert not branch_in_subtree(world.branch_a, world.supervisor_other)
    assert not branch_in_subtree(world.branch_a, world.customer_x)  # no home branch, no subtree
    assert set(Branch.objects.filter(subtree_q("", world.tier1))) == {world.tier1, world.branch_a}
    assert ancestor_ids(world.branch_a) == [world.head_office.pk, world.tier1.pk, world.branch_a.pk]


def test_cases_in_scope(world):
    case_x = world.case(State.BRANCH_INTAKE)
    case_y = world.case(State.BRANCH_INTAKE, company=world.company_y)
    assert case_in_scope(case_x, world.am_a) and not case_in_scope(case_y, world.am_a)
    assert case_in_scope(case_y, world.approver)  # head office sees every branch
    assert case_in_scope(case_x, world.customer_x) and not case_in_scope(case_y, world.customer_x)
    nobody = user("no_branch", Role.ACCOUNT_MANAGER)
    assert not case_in_scope(case_x, nobody)
    world.am_a.is_active = False
    assert not case_in_scope(case_x, world.am_a)
    assert list(OnboardingCase.objects.filter(subtree_q("branch", world.tier1))) == [case_x]
