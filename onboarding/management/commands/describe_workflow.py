"""Print the workflow: every transition with from, to, who may make it, its guards in words, its effects."""

from __future__ import annotations

import inspect
from typing import Any

from django.core.management.base import BaseCommand

from onboarding.models import OnboardingCase
from onboarding.states import State
from onboarding.workflow import CaseWorkflow


def _state(code: Any) -> str:
    return f"{code} ({State(code).label})" if code in State.values else str(code)


def _doc(func: Any) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.splitlines()[0] if doc else func.__name__


def describe() -> list[str]:
    lines: list[str] = []
    by_name: dict[str, list[Any]] = {}
    for t in OnboardingCase._meta.get_field("state").get_all_transitions(OnboardingCase):  # type: ignore[attr-defined]
        by_name.setdefault(t.name, []).append(t)
    order = list(CaseWorkflow.__dict__)
    for name, ts in sorted(by_name.items(), key=lambda item: order.index(item[0])):
        t = ts[0]
        sources = ", ".join(_state(x.source) for x in ts)
        target = t.target
        targets = (
            " | ".join(_state(s) for s in target.allowed_states)
            if hasattr(target, "allowed_states")
            else _state(target)
        )
        lines.append(f"{name}: {t.custom.get('label', name)}")
        lines.append(f"  from:    {sources}")
        lines.append(f"  to:      {targets}")
        lines.append(f"  who:     {t.permission.describe()}")
        if t.custom.get("reason_required"):
            lines.append("  reason:  required")
        for cond in t.conditions:
            lines.append(f"  guard:   {cond.__name__}: {_doc(cond.func)}")
            for check in cond.extensions:
                lines.append(f"           + {check.__module__}.{check.__name__}: {_doc(check)}")
        lines.append(f"  effects: {inspect.getdoc(getattr(OnboardingCase, name)) or '—'}")
        lines.append("")
    return lines


class Command(BaseCommand):
    help = "Print every transition of a case: from, to, who may, guards in words (as composed at run time), effects."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("\n".join(describe()))
