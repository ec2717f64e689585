"""Chart specifications built from the same tables the page shows and the exports write.

Each data point carries the drill-down URL of the table row it comes from, so a click on a
bar, a funnel step or a Sankey link opens exactly the cases behind that number.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from .selectors import AGE_BUCKETS, Table, bucket_label


def _point(value: Any, url: str) -> dict[str, Any]:
    return {"value": value, "url": url}


def chart_specs(t: dict[str, Table]) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = []
    cs = t["cycle_stage"]
    specs.append(
        {
            "id": "cycle_stage",
            "kind": "bar",
            "unit": _("工作日"),
            "categories": [r[0] for r in cs.rows],
            "series": [
                {"name": "P50", "data": [_point(r[2], u) for r, u in zip(cs.rows, cs.links, strict=True)]},
                {"name": "P85", "data": [_point(r[3], u) for r, u in zip(cs.rows, cs.links, strict=True)]},
            ],
        }
    )
    everyone = _("全部")  # once, not per row: the tables hold thousands of rows
    ball = [(r, u) for r, u in zip(t["ball"].rows, t["ball"].links, strict=True) if r[1] == everyone]
    specs.append(
        {
            "id": "ball",
            "kind": "bar",
            "stack": True,
            "unit": _("工作日"),
            "categories": [r[0] for r, _u in ball],
            "series": [
                {"name": _("等待银行"), "data": [_point(r[2], u) for r, u in ball]},
                {"name": _("等待客户"), "data": [_point(r[3], u) for r, u in ball]},
            ],
        }
    )
    sla = [(r, u) for r, u in zip(t["sla"].rows, t["sla"].links, strict=True) if r[1] == everyone]
    specs.append(
        {
            "id": "sla",
            "kind": "bar",
            "unit": "%",
            "max": 100,
            "categories": [r[0] for r, _u in sla],
            "series": [{"name": _("达成率 %"), "data": [_point(r[5], u) for r, u in sla]}],
        }
    )
    flow = t["flow"]
    nodes: list[str] = []
    for r in flow.rows:
        for n in (r[0], r[1]):
            if n not in nodes:
                nodes.append(n)
    specs.append(
        {
            "id": "flow",
            "kind": "sankey",
            "nodes": [{"name": n} for n in nodes],
            "links": [
                {"source": r[0], "target": r[1], "value": r[2], "url": u, "rework": bool(r[3])}
                for r, u in zip(flow.rows, flow.links, strict=True)
            ],
        }
    )
    fu = t["funnel"]
    specs.append(
        {
            "id": "funnel",
            "kind": "funnel",
            "data": [{"name": r[0], "value": r[1], "url": u} for r, u in zip(fu.rows, fu.links, strict=True)],
        }
    )
    ag = t["ageing"]
    specs.append(
        {
            "id": "ageing",
            "kind": "bar",
            "stack": True,
            "unit": _("件"),
            "categories": [r[0] for r in ag.rows],
            "series": [
                {
                    "name": bucket_label(b),
                    "data": [_point(r[i + 1], f"{u}&bucket={b}") for r, u in zip(ag.rows, ag.links, strict=True)],
                }
                for i, b in enumerate(AGE_BUCKETS)
            ],
        }
    )
    return specs
