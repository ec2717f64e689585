"""Imports point one way and never in a loop.

- An app imports only the layers below it (`LAYERS`, lowest first), and so do its migrations
  (besides Django and third-party packages).
- No module imports another app's views: the root URLconf routes to an app with
  `include("app.urls")`, shared view helpers live in `onboarding.web`.
- No two modules import each other, directly or round a loop, imports inside functions included.

Every package of ours has its place in `LAYERS` (a new app is checked from its first commit).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS: list[set[str]] = [
    {"casetypes"},
    # config's own modules (settings, cache, evidence, celery, middleware, the page cache, …):
    # the ground every app stands on; they import no app.
    {"config"},
    {"delivery"},
    {"accounts"},
    {"branches"},
    {"workcalendar", "notices"},
    {"companies"},
    {"onboarding"},
    {"documents", "counter", "reminders"},
    {"links"},
    {"people"},
    {"audit", "portal", "analytics"},
    {"webhooks", "transfers", "wecom"},
    {"api"},
    {"demo"},
    # The root URLconf, above every app it routes to (with `include("app.urls")`, not a view).
    {"config.urls"},
]
LEVEL = {unit: i for i, units in enumerate(LAYERS) for unit in units}
# Packages of ours that are no part of the product: they may import anything, nothing imports them.
NOT_LAYERED = {"tests"}
PACKAGES = {p.parent.name for p in ROOT.glob("*/__init__.py")}

# Loops that others are taking apart right now (issue 21, item 7), allowed until then. A loop
# may shrink, never grow; an entry that no longer matches any loop must be deleted
# (`test_every_known_loop_still_exists`). Add nothing here.
KNOWN_LOOPS: list[frozenset[str]] = []


def _unit(module: str) -> str | None:
    """The entry of LAYERS a module belongs to (the longest that holds it), None if not ours."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LEVEL:
            return ".".join(parts[:n])
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    """Every module of the product's packages (migrations included), by dotted name."""
    return {
        _module_name(path): path
        for package in sorted(PACKAGES - NOT_LAYERED)
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _is_migration(module: str) -> bool:
    return "migrations" in module.split(".")


TYPE_CHECKING = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def _nodes(tree: ast.AST, *, type_checking: bool) -> Iterator[ast.AST]:
    """Every node, in functions too; with type_checking=False, not under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if not type_checking and isinstance(node, ast.If) and ast.unparse(node.test) in TYPE_CHECKING:
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _imported(
    source: str, *, module: str, is_package: bool = False, type_checking: bool = True
) -> list[tuple[int, str]]:
    """(line, name) of everything the source imports, relative imports resolved: `from a
    import b` gives `a.b` (b may be a module or a name in a)."""
    found = []
    for node in _nodes(ast.parse(source), type_checking=type_checking):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


@cache
def _imports_of(module: str, *, type_checking: bool = True) -> list[tuple[int, str]]:
    path = _modules()[module]
    return _imported(
        path.read_text(encoding="utf-8"),
        module=module,
        is_package=path.name == "__init__.py",
        type_checking=type_checking,
    )


def _upward(module: str, imported: str) -> bool:
    """Does `module` import a layer above its own, or another app of its own layer? (`tests`
    counts as above every layer.)"""
    top = imported.split(".")[0]
    if top in NOT_LAYERED:
        return True
    here, there = _unit(module), _unit(imported)
    if there is None or here is None or there == here:
        return False
    return LEVEL[there] >= LEVEL[here]


def _views_of_another_app(module: str, imported: str) -> bool:
    return (
        _unit(imported) is not None
        and imported.split(".")[0] != module.split(".")[0]
        and any(part == "views" or part.startswith("views_") for part in imported.split(".")[1:])
    )


def _where(module: str, line: int) -> str:
    return f"{_modules()[module].relative_to(ROOT)}:{line}"


def _code_of(unit: str) -> list[str]:
    return [m for m in _modules() if _unit(m) == unit and not _is_migration(m)]


def test_every_package_has_a_layer():
    assert sorted(PACKAGES - NOT_LAYERED - set(LEVEL)) == []


@pytest.mark.parametrize("unit", sorted(LEVEL))
def test_an_app_imports_only_the_apps_below_it(unit):
    upward = sorted(
        {(_where(m, line), name) for m in _code_of(unit) for line, name in _imports_of(m) if _upward(m, name)}
    )
    assert upward == []


@pytest.mark.parametrize("unit", sorted(LEVEL))
def test_views_are_not_imported_from_another_app(unit):
    """Shared view helpers live in `onboarding.web`, not in another app's views."""
    bad = sorted(
        {
            (_where(m, line), name)
            for m in _code_of(unit)
            for line, name in _imports_of(m)
            if _views_of_another_app(m, name)
        }
    )
    assert bad == []


@pytest.mark.parametrize("app", sorted(p.parent.parent.name for p in ROOT.glob("*/migrations/__init__.py")))
def test_a_migration_imports_only_its_app_and_the_apps_below_it(app):
    upward = sorted(
        {
            (_where(m, line), name)
            for m in _modules()
            if m.startswith(f"{app}.migrations")
            for line, name in _imports_of(m)
            if _upward(m, name)
        }
    )
    assert upward == []


def _graph() -> dict[str, set[str]]:
    """Module → the modules of ours it imports, migrations aside. Imports inside functions count
    (they run, just later); those under `if TYPE_CHECKING:` never run, so they close no loop
    (the layer tests above still count them)."""
    modules = {m for m in _modules() if not _is_migration(m)}
    graph: dict[str, set[str]] = {}
    for m in sorted(modules):
        graph[m] = set()
        for _line, name in _imports_of(m, type_checking=False):
            target = _module_of(name, modules)
            if target and target != m:
                graph[m].add(target)
    return graph


def _module_of(name: str, modules: set[str]) -> str:
    """The module an imported name is (`a.b`) or is defined in (`a.b.function`: `a.b`); "" if not ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def _loops(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        loops.append(component)
    return loops


def test_no_module_is_part_of_an_import_loop():
    graph = _graph()
    new = [
        {m: sorted(graph[m] & loop) for m in sorted(loop)}  # each member with the members it imports
        for loop in _loops(graph)
        if not any(loop <= known for known in KNOWN_LOOPS)
    ]
    assert new == []


def test_every_known_loop_still_exists():
    loops = _loops(_graph())
    gone = [sorted(known) for known in KNOWN_LOOPS if not any(loop <= known for loop in loops)]
    assert gone == [], "taken apart: delete it from KNOWN_LOOPS"


def test_the_checks_catch_the_imports_issue_21_found():
    """What was measured on main before issue 21 fails here again if it comes back."""
    # The root URLconf importing a view; config's settings, cache, … importing an app at all.
    assert _views_of_another_app("config.urls", "audit.views")
    assert _upward("config.settings", "audit.views")
    assert _upward("config.cache", "onboarding")
    assert not _upward("config.urls", "config.health") and _upward("config.health", "config.urls")
    # A migration importing a helper of an app above it; the helper below every app is fine.
    assert _upward("counter.migrations.0002_evidence_protection", "audit.migrations._handwritten_evidence")
    assert not _upward("counter.migrations.0002_evidence_protection", "config.evidence_handwritten")
    assert _upward("demo.seed", "tests.factories")
    # A loop closed by an import inside a function.
    snapshots = "from . import selectors\n\ndef case_changed():\n    from .tasks import refresh_dirty\n"
    tasks = "def refresh_dirty():\n    from .snapshots import refresh_dirty\n"
    assert (4, "analytics.tasks.refresh_dirty") in _imported(snapshots, module="analytics.snapshots")
    assert (2, "analytics.snapshots.refresh_dirty") in _imported(tasks, module="analytics.tasks")
    assert _module_of("analytics.tasks.refresh_dirty", set(_modules())) == "analytics.tasks"
    assert _module_of("django.db.models", set(_modules())) == ""
    guarded = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .models import Case\n"
    assert (4, "onboarding.models.Case") in _imported(guarded, module="onboarding.rules")
    assert (4, "onboarding.models.Case") not in _imported(guarded, module="onboarding.rules", type_checking=False)
    graph = {"analytics.snapshots": {"analytics.tasks"}, "analytics.tasks": {"analytics.snapshots"}, "x": set()}
    assert _loops(graph) == [{"analytics.snapshots", "analytics.tasks"}]
    # The longer loop of the counter, and none where imports point one way.
    graph = {"c.rules": {"c.selectors"}, "c.selectors": {"c.services"}, "c.services": {"c.rules"}}
    assert _loops(graph) == [{"c.rules", "c.selectors", "c.services"}]
    assert _loops({"c.rules": {"c.selectors"}, "c.services": {"c.rules"}, "c.selectors": set()}) == []
