"""Imports point one way: an app imports only the apps below it, and views never import views.

The layers, lowest first. An app not listed here is not checked (add it where it belongs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS: list[set[str]] = [
    {"casetypes"},
    {"delivery"},
    {"accounts"},
    {"branches"},
    {"workcalendar", "notices"},
    {"companies"},
    {"onboarding"},
    {"documents", "counter", "reminders"},
    {"audit", "portal", "analytics"},
    {"webhooks", "transfers", "wecom"},
    {"api"},
    {"demo"},
]
LEVEL = {app: i for i, apps in enumerate(LAYERS) for app in apps}


def _imports(app: str) -> list[tuple[str, str]]:
    """(file, imported module) for every project import of the app's code (migrations aside)."""
    found = []
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
                found += [(str(path.relative_to(ROOT)), f"{node.module}.{a.name}") for a in node.names]
            elif isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), a.name) for a in node.names]
    return found


@pytest.mark.parametrize("app", sorted(LEVEL))
def test_an_app_imports_only_the_apps_below_it(app):
    upward = sorted(
        {
            (where, module)
            for where, module in _imports(app)
            if module.split(".")[0] in LEVEL
            and module.split(".")[0] != app
            and LEVEL[module.split(".")[0]] >= LEVEL[app]
        }
    )
    assert upward == []


@pytest.mark.parametrize("app", sorted(LEVEL))
def test_views_are_not_imported_from_another_app(app):
    """Shared view helpers live in `onboarding.web`, not in another app's views."""
    bad = sorted(
        {
            (where, module)
            for where, module in _imports(app)
            if module.split(".")[0] in LEVEL
            and module.split(".")[0] != app
            and any(part == "views" or part.startswith("views_") for part in module.split(".")[1:])
        }
    )
    assert bad == []
