"""The staff case page's repetitive fragments written in Python, the markup the template wrote,
byte for byte: `{% test_matrix_rows test_matrix %}` (the joint-test matrix's rows in
`onboarding/_testing_panel.html`: a chain of conditions, lookups and translations per test case,
about half a millisecond of the page) and `{% case_facts case %}` (the case's own facts)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.template.base import render_value_in_context
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext

register = template.Library()


@register.simple_tag(takes_context=True)
def test_matrix_rows(context: template.Context, rows: list[dict[str, Any]]) -> SafeString:
    def shown(value: Any) -> str:  # `{{ value }}`: localised, escaped
        return str(render_value_in_context(value, context))

    out = []
    previous: Any = object()  # `{% ifchanged r.module %}`
    for r in rows:
        module = ""
        if r["module"] != previous:
            previous = r["module"]
            module = shown(r["module_label"])
        result = r["result"]
        if not result:
            state = '<span class="pill pill-pending">{}</span>'.format(gettext("未测试"))
        elif result.retest:
            state = '<span class="pill pill-lost">{}</span>'.format(gettext("待重测"))
        elif result.passed:
            state = '<span class="pill pill-confirmed">✔ {}</span>'.format(gettext("通过"))
        else:
            state = '<span class="pill pill-cancelled">✘ {}</span>'.format(gettext("未通过"))
        if result and result.observation_id:
            state += " <small>{}</small>".format(gettext("测试网关记录"))
        observed = r["observed"]
        if observed:
            state += '<br><small class="gateway-observed" data-observed="{}:{}">{}:{} {} · {} · {}</small>'.format(
                shown(r["module"]),
                shown(r["code"]),
                gettext("测试网关观测"),
                "✔" if observed.succeeded else "✘",
                shown(observed.result_code),
                shown(observed.trace_id),
                gettext("待客户确认"),
            )
        recorded = ""
        if result:
            at = result.recorded_at
            if isinstance(at, dt.datetime) and timezone.is_aware(at):
                at = timezone.localtime(at)
            n = r["attempts"]
            recorded = "{} {} · {}".format(
                shown(result.recorded_by),
                f"{at.month:02d}-{at.day:02d} {at.hour:02d}:{at.minute:02d}" if at else "",
                ngettext("%(n)s 次", "%(n)s 次", n) % {"n": shown(n)},
            )
        evidence = shown(result.evidence or "") if result else ""
        notes = shown(result.notes or "") if result else ""
        out.append(
            f"\n      <tr>\n        <td>{module}</td>\n        <td>{shown(r['label'])}</td>\n"
            f"        <td>{state}</td>\n"
            f'        <td class="mono">{evidence}</td>\n        <td>{notes}</td>\n'
            f'        <td class="sub">{recorded}</td>\n      </tr>\n    '
        )
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


@register.simple_tag(takes_context=True)
def case_facts(context: template.Context, case: Any) -> SafeString:
    """The case's own facts on its staff page (`onboarding/case_detail.html`'s first `<dl>`),
    written in Python: the markup the template wrote, byte for byte."""
    from django.utils.html import conditional_escape
    from django.utils.translation import pgettext

    from config.templatetags.moments import day

    def shown(value: Any) -> str:  # `{{ value }}`: localised, escaped
        return str(render_value_in_context(value, context))

    separator = conditional_escape(pgettext("list separator", "、"))  # `|join:sep` escapes both
    modules = separator.join(conditional_escape(label) for label in case.module_labels)
    fee = f"¥{shown(case.fee_amount)} {shown(case.fee_note)}" if case.fee_amount is not None else "—"
    target = case.target_date
    if isinstance(target, dt.datetime) and timezone.is_aware(target):
        target = timezone.localtime(target)
    return mark_safe(  # noqa: S308 - every value is escaped above
        '<dl class="facts">\n'
        f"    <dt>{gettext('受理机构')}</dt><dd>{shown(case.branch)}</dd>\n"
        f"    <dt>{gettext('客户经理')}</dt><dd>{shown(case.account_manager or '—')}</dd>\n"
        f"    <dt>{gettext('功能模块')}</dt><dd>{modules}</dd>\n"
        f"    <dt>{gettext('费用评估')}</dt><dd>{fee}</dd>\n"
        f"    <dt>{gettext('风险评估')}</dt><dd>{shown(case.get_risk_level_display() or '—')} {shown(case.risk_note)}</dd>\n"
        f"    <dt>{gettext('目标上线日期')}</dt><dd>{shown(day(target) or '—')}</dd>\n"
        "  </dl>"
    )
