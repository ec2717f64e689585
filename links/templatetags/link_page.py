"""A live link's history and requests as its pages show them (the link page, the history page,
the requests page, staff and portal), written in Python (issue 26).

`links/_history.html` and `links/_requests_table.html` were a dozen conditions, look-ups and
translations per row: about a millisecond of the link page's CPU. These write the same markup,
byte for byte, with the same msgids (locale/ applies); values are shown as the template engine
shows them (`_shown`: escaped, `None` as "None", numbers localized).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template import Context
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext

from config.routes import route
from config.templatetags.moments import day, local_minute

register = template.Library()

_MISSING = object()
ENDED = ' class="ended"'


def _shown(value: Any) -> str:
    """`{{ value }}` in an autoescaped template."""
    if value is _MISSING:
        return ""  # an invalid variable (`string_if_invalid` is unset)
    if isinstance(value, str):
        return conditional_escape(value)
    return conditional_escape(str(localize(template_localtime(value))))


def _key(data: Any, *keys: str) -> Any:
    """`data.a.b` of a JSON value as the template engine looks it up (dictionaries only here:
    a key of a list, string or number is missing)."""
    for k in keys:
        if not isinstance(data, dict) or k not in data:
            return _MISSING
        data = data[k]
    return data


def _true(value: Any) -> bool:
    return value is not _MISSING and bool(value)


@register.simple_tag(takes_context=True)
def link_history(context: Context) -> SafeString:
    """`links/_history.html`: the `history` rows (oldest first) as the timeline."""
    out = ['  <ol class="timeline">']
    expires = None
    for e in context.get("history") or ():
        summary = e.request_summary
        data = e.data
        out.append(
            f"<li>\n    <time>{local_minute(e.created_at)}</time> <strong>{_shown(e.label)}</strong>"
            f"{' ' + _shown(summary) if summary else ''}\n"
            f"    · {_shown(e.actor_label)} · {_shown(e.get_channel_display())}\n    "
        )
        ukey = _key(data, "ukey")
        if _true(ukey):
            out.append(f' · <span class="mono">{_shown(ukey)}</span>')
        new_serial = _key(data, "new_serial")
        if _true(new_serial):
            out.append(f' → <span class="mono">{_shown(new_serial)}</span>')
        out.append("\n    ")
        to_serial = _key(data, "to", "serial")
        if _true(to_serial):
            expires = expires or conditional_escape(gettext("到期日"))
            before = _key(data, "from", "serial")
            out.append(
                f' · <span class="mono">{_shown(before) if _true(before) else "—"} → {_shown(to_serial)}</span>'
                f" · {expires} {_shown(_key(data, 'to', 'expires_on'))}"
            )
        else:
            serial, on = _key(data, "serial"), _key(data, "expires_on")
            if _true(serial) and _true(on):
                expires = expires or conditional_escape(gettext("到期日"))
                out.append(f' · <span class="mono">{_shown(serial)}</span> · {expires} {_shown(on)}')
        out.append("\n    ")
        if e.reason:
            out.append(f'<div class="sub">{_shown(e.reason_text)}</div>')
        out.append("\n  </li>")
    out.append("</ol>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


@register.simple_tag(takes_context=True)
def link_requests_table(context: Context) -> SafeString:
    """`links/_requests_table.html`: the `requests` rows (newest first), each with its case's
    page on the reader's side (`portal`)."""
    t = gettext
    e = conditional_escape
    out = [
        '  <table class="cases">\n'
        f"    <thead><tr><th>{e(t('申请'))}</th><th>{e(t('类型'))}</th><th>{e(t('状态'))}</th>"
        f"<th>{e(t('提交'))}</th><th>{e(t('办结时间'))}</th></tr></thead>\n    <tbody>"
    ]
    page = "portal:case_detail" if context.get("portal") else "case_detail"
    requests = context.get("requests") or ()
    for r in requests:
        case = r.case
        ukey = f' <span class="mono">{_shown(r.ukey.serial)}</span>' if r.ukey else ""
        out.append(
            f'<tr>\n      <td><a href="{e(route(page, case.public_id))}">{_shown(case.reference)}</a></td>\n'
            f"      <td>{_shown(r.kind_label)}{ukey}</td>\n"
            f"      <td>{_shown(case.get_state_display())}</td>\n"
            f"      <td>{_shown(r.opener_label)} · {_shown(r.get_channel_display())} · {local_minute(r.opened_at)}</td>\n"
            f"      <td>{local_minute(r.closed_at) or '—'}</td>\n    </tr>"
        )
    if not requests:
        out.append(f'<tr><td colspan="5" class="empty">{e(t("暂无服务申请。"))}</td></tr>')
    out.append("</tbody>\n  </table>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


@register.simple_tag(takes_context=True)
def link_facts(context: Context) -> SafeString:
    """The link page's facts, accounts and operators (`link`, `accounts`, `operator_rows` as
    `links.views._link_rows` works them out); the onboarding case's page for staff only."""
    e = conditional_escape
    t = gettext
    link = context["link"]
    dash = "—"
    modules = e("、").join(e(m) for m in link.module_labels) or dash
    out = [
        '<div class="two-col">\n<section class="card" id="link-facts">\n'
        f"  <h2>{e(t('服务信息'))}</h2>\n"
        '  <dl class="facts">\n'
        f'    <dt>{e(t("服务编号"))}</dt><dd class="mono">{_shown(link.reference)}</dd>\n'
        f"    <dt>{e(t('企业'))}</dt><dd>{_shown(link.enterprise.name)}</dd>\n"
        f'    <dt>{e(t("服务状态"))}</dt><dd><span class="state link-{_shown(link.status)}">'
        f"{_shown(link.get_status_display())}</span></dd>\n"
        f"    <dt>{e(t('受理机构'))}</dt><dd>{_shown(link.branch)}</dd>\n"
        f"    <dt>{e(t('企业资料版本'))}</dt><dd>{t('第 %(n)s 版') % {'n': _shown(link.company_version.number)}}</dd>\n"
        f"    <dt>{e(t('功能模块'))}</dt><dd>{modules}</dd>\n"
        f'    <dt>{e(t("生产地址"))}</dt><dd class="mono">{_shown(link.production_endpoint) or dash}</dd>\n'
        f'    <dt>{e(t("前置机证书序列号"))}</dt><dd class="mono">{_shown(link.certificate_serial) or dash}</dd>\n'
        f"    <dt>{e(t('证书到期日'))}</dt><dd>{day(link.certificate_expires_on) or dash}</dd>\n"
        f"    <dt>{e(t('上线时间'))}</dt><dd>{local_minute(link.went_live_at)}</dd>\n    "
    ]
    if link.closed_on:
        out.append(f"<dt>{e(t('注销日期'))}</dt><dd>{day(link.closed_on)}</dd>")
    out.append("\n    ")
    if link.retention_until:
        out.append(f"<dt>{e(t('档案保存至'))}</dt><dd>{day(link.retention_until)}</dd>")
    out.append("\n    ")
    if link.legal_hold:
        out.append(f"<dt>{e(t('司法/监管保全'))}</dt><dd>{_shown(link.legal_hold_reason) or dash}</dd>")
    out.append("\n    ")
    if not context.get("portal"):
        case = link.onboarding_case
        out.append(
            f'<dt>{e(t("开通案件"))}</dt><dd><a href="{e(route("case_detail", case.public_id))}">'
            f"{_shown(case.reference)}</a></dd>"
        )
    until_now = e(t("至今"))
    out.append(
        '\n  </dl>\n</section>\n<section class="card" id="link-accounts">\n'
        f"  <h2>{e(t('直联账户'))}</h2>\n"
        '  <table class="cases">\n'
        f"    <thead><tr><th>{e(t('账号'))}</th><th>{e(t('户名'))}</th><th>{e(t('查询'))}</th>"
        f"<th>{e(t('支付'))}</th><th>{e(t('起止'))}</th></tr></thead>\n    <tbody>"
    )
    accounts = context.get("accounts") or ()
    for row in accounts:
        a = row["row"]
        ended = row["ended"]
        out.append(
            f"<tr{ENDED if ended else ''}>\n"
            f'      <td class="mono">{_shown(a.account_number)}</td><td>{_shown(a.account_name)}</td>\n'
            f"      <td>{'✓' if a.can_query else dash}</td><td>{'✓' if a.can_pay else dash}</td>\n"
            f"      <td>{_shown(row['started'])} – {_shown(ended) if ended else until_now}</td>\n    </tr>"
        )
    if not accounts:
        out.append(f'<tr><td colspan="5" class="empty">{e(t("没有直联账户。"))}</td></tr>')
    out.append(
        '</tbody>\n  </table>\n</section>\n</div>\n\n<section class="card" id="link-operators">\n'
        f"  <h2>{e(t('操作员与UKey'))}</h2>\n"
        '  <table class="cases">\n'
        f"    <thead><tr><th>{e(t('操作员'))}</th><th>{e(t('角色'))}</th><th>{e(t('K宝编号'))}</th>"
        f"<th>{e(t('UKey状态'))}</th><th>{e(t('证书到期日'))}</th><th>{e(t('起止'))}</th></tr></thead>\n    <tbody>"
    )
    operators = context.get("operator_rows") or ()
    for row in operators:
        ended = row["ended"]
        status = row["ukey_status"]
        if not status:
            shown_status = dash
        elif row["ukey_lost"]:
            shown_status = f'<span class="badge danger">{_shown(status)}</span>'
        else:
            shown_status = _shown(status)
        out.append(
            f"<tr{ENDED if ended else ''}>\n"
            f"      <td>{_shown(row['row'].name)}</td><td>{_shown(row['role'])}</td>"
            f'<td class="mono">{_shown(row["serial"])}</td>\n'
            f"      <td>{shown_status}</td>\n"
            f"      <td>{_shown(row['expires'])}</td>\n"
            f"      <td>{_shown(row['started'])} – {_shown(ended) if ended else until_now}</td>\n    </tr>"
        )
    if not operators:
        out.append(f'<tr><td colspan="6" class="empty">{e(t("没有操作员。"))}</td></tr>')
    out.append("</tbody>\n  </table>\n</section>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above
