"""Print the workflow: every transition with from, to, who may make it, its guards in words, its effects."""

from __future__ import annotations

import inspect
from typing import Any

from django.core.management.base import BaseCommand

from casetypes import declaration
from casetypes.extensions import EXTENSION_POINTS


def _state(code: Any) -> str:
    labels = declaration.state_labels()
    return f"{code} ({labels[code]})" if code in labels else str(code)


def _doc(func: Any) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.splitlines()[0] if doc else func.__name__


def describe() -> list[str]:
    """Every declared case type: its stages, then its transitions; then the extension points."""
    lines: list[str] = []
    for ct in declaration.CASE_TYPES.values():
        lines += describe_type(ct)
    lines.append("== extension points ==")
    for name, point in EXTENSION_POINTS.items():
        lines.append(f"{name}: {point.doc} ({len(point)} added)")
    return lines


def _order(model: Any) -> list[str]:
    order: list[str] = []
    for klass in reversed(model.__mro__):
        order += [n for n in vars(klass) if n not in order]
    return order


def describe_type(ct: declaration.CaseType) -> list[str]:
    model = ct.model_class()
    lines = [f"== {ct.code}: {ct.label} ==", "stages:"]
    for s in ct.stages:
        sla = f"{s.sla_days} working days" if s.sla_days is not None else "not timed"
        docs = ", ".join(d.kind + ("" if d.required else " (kept)") for d in s.documents) or "—"
        lines.append(f"  {_state(s.code)}: held by {s.holder}; {sla}; documents: {docs}")
        if s.features:
            lines.append(f"    hosts: {', '.join(sorted(s.features))}")
    lines.append("ends: " + ", ".join(_state(e.code) + (" (live)" if e.live else "") for e in ct.ends))
    lines.append("")
    by_name: dict[str, list[Any]] = {}
    for t in declaration.transitions(ct):
        if t.source in ct.states:
            by_name.setdefault(t.name, []).append(t)
    order = _order(model)
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
        lines.append(f"  effects: {inspect.getdoc(getattr(model, name)) or '—'}")
        lines.append("")
    return lines


def _quote(text: Any) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(codes: list[str] | None = None) -> str:
    """The declared case types (all, or those named) as a Graphviz graph, one cluster per type,
    read from the declaration: stage labels, the ends doubled, each transition by its label."""
    lines = ["digraph workflow {", "  rankdir=LR;", '  node [shape=box, style=rounded, fontname="Noto Sans CJK SC"];']
    lines.append('  edge [fontname="Noto Sans CJK SC", fontsize=10];')
    labels = declaration.state_labels()
    for ct in declaration.CASE_TYPES.values():
        if codes and ct.code not in codes:
            continue
        lines.append(f"  subgraph cluster_{ct.code} {{")
        lines.append(f"    label={_quote(ct.label)};")
        for code in ct.states:
            shape = ", peripheries=2" if code in {e.code for e in ct.ends} else ""
            lines.append(f"    {_quote(ct.code + ':' + code)} [label={_quote(labels.get(code, code))}{shape}];")
        seen: set[tuple[str, str, str]] = set()
        for t in declaration.transitions(ct):
            if t.source not in ct.states:
                continue
            targets = getattr(t.target, "allowed_states", None) or [t.target]
            for target in targets:
                edge = (t.source, str(target), str(t.custom.get("label", t.name)))
                if target in ct.states and edge not in seen:
                    seen.add(edge)
                    lines.append(
                        f"    {_quote(ct.code + ':' + edge[0])} -> {_quote(ct.code + ':' + edge[1])} [label={_quote(edge[2])}];"
                    )
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Print every transition of a case: from, to, who may, guards in words (as composed at run time), effects."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dot", nargs="*", metavar="TYPE", help="print the case types (all, or those named) as a Graphviz graph"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dot"] is not None:
            self.stdout.write(dot(options["dot"]))
            return
        self.stdout.write("\n".join(describe()))
