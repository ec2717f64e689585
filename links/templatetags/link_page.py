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
from django.utils.translation import get_language, gettext

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


def _words_now() -> dict[str, str]:
    """The pages' words in the current language, as `{% translate %}` shows them (escaped)."""
    words = {
        "expires_word": gettext("到期日"),
        "request": gettext("申请"),
        "kind": gettext("类型"),
        "state": gettext("状态"),
        "opened": gettext("提交"),
        "closed": gettext("办结时间"),
        "no_requests": gettext("暂无服务申请。"),
        "facts": gettext("服务信息"),
        "reference": gettext("服务编号"),
        "company": gettext("企业"),
        "status": gettext("服务状态"),
        "branch": gettext("受理机构"),
        "version": gettext("企业资料版本"),
        "modules": gettext("功能模块"),
        "endpoint": gettext("生产地址"),
        "cert_serial": gettext("前置机证书序列号"),
        "cert_expires": gettext("证书到期日"),
        "went_live": gettext("上线时间"),
        "closed_on": gettext("注销日期"),
        "retention": gettext("档案保存至"),
        "hold": gettext("司法/监管保全"),
        "case": gettext("开通案件"),
        "until_now": gettext("至今"),
        "accounts": gettext("直联账户"),
        "account_number": gettext("账号"),
        "account_name": gettext("户名"),
        "query": gettext("查询"),
        "pay": gettext("支付"),
        "period": gettext("起止"),
        "no_accounts": gettext("没有直联账户。"),
        "operators": gettext("操作员与UKey"),
        "operator": gettext("操作员"),
        "role": gettext("角色"),
        "serial": gettext("K宝编号"),
        "ukey_status": gettext("UKey状态"),
        "no_operators": gettext("没有操作员。"),
    }
    shown = {k: conditional_escape(v) for k, v in words.items()}
    # `{% blocktranslate %}`'s message: filled in, not escaped (its value is).
    shown["version_n"] = gettext("第 %(n)s 版")
    return shown


_kept_words: dict[str, dict[str, str]] = {}


def _words() -> dict[str, str]:
    """`_words_now`, made once per language and process."""
    language = get_language()
    found = _kept_words.get(language)
    if found is None:
        found = _kept_words[language] = _words_now()
    return found


@register.simple_tag(takes_context=True)
def link_history(context: Context) -> SafeString:
    """`links/_history.html`: the `history` rows (oldest first) as the timeline."""
    w = _words()
    out = ['  <ol class="timeline">']
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
            expires = w["expires_word"]
            before = _key(data, "from", "serial")
            out.append(
                f' · <span class="mono">{_shown(before) if _true(before) else "—"} → {_shown(to_serial)}</span>'
                f" · {expires} {_shown(_key(data, 'to', 'expires_on'))}"
            )
        else:
            serial, on = _key(data, "serial"), _key(data, "expires_on")
            if _true(serial) and _true(on):
                expires = w["expires_word"]
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
    w = _words()
    e = conditional_escape
    out = [
        '  <table class="cases">\n'
        f"    <thead><tr><th>{w['request']}</th><th>{w['kind']}</th><th>{w['state']}</th>"
        f"<th>{w['opened']}</th><th>{w['closed']}</th></tr></thead>\n    <tbody>"
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
        out.append(f'<tr><td colspan="5" class="empty">{w["no_requests"]}</td></tr>')
    out.append("</tbody>\n  </table>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


@register.simple_tag(takes_context=True)
def link_facts(context: Context) -> SafeString:
    """The link page's facts, accounts and operators (`link`, `accounts`, `operator_rows` as
    `links.views._link_rows` works them out); the onboarding case's page for staff only."""
    e = conditional_escape
    w = _words()
    link = context["link"]
    dash = "—"
    modules = e("、").join(e(m) for m in link.module_labels) or dash
    out = [
        '<div class="two-col">\n<section class="card" id="link-facts">\n'
        f"  <h2>{w['facts']}</h2>\n"
        '  <dl class="facts">\n'
        f'    <dt>{w["reference"]}</dt><dd class="mono">{_shown(link.reference)}</dd>\n'
        f"    <dt>{w['company']}</dt><dd>{_shown(link.enterprise.name)}</dd>\n"
        f'    <dt>{w["status"]}</dt><dd><span class="state link-{_shown(link.status)}">'
        f"{_shown(link.get_status_display())}</span></dd>\n"
        f"    <dt>{w['branch']}</dt><dd>{_shown(link.branch)}</dd>\n"
        f"    <dt>{w['version']}</dt><dd>{w['version_n'] % {'n': _shown(link.company_version.number)}}</dd>\n"
        f"    <dt>{w['modules']}</dt><dd>{modules}</dd>\n"
        f'    <dt>{w["endpoint"]}</dt><dd class="mono">{_shown(link.production_endpoint) or dash}</dd>\n'
        f'    <dt>{w["cert_serial"]}</dt><dd class="mono">{_shown(link.certificate_serial) or dash}</dd>\n'
        f"    <dt>{w['cert_expires']}</dt><dd>{day(link.certificate_expires_on) or dash}</dd>\n"
        f"    <dt>{w['went_live']}</dt><dd>{local_minute(link.went_live_at)}</dd>\n    "
    ]
    if link.closed_on:
        out.append(f"<dt>{w['closed_on']}</dt><dd>{day(link.closed_on)}</dd>")
    out.append("\n    ")
    if link.retention_until:
        out.append(f"<dt>{w['retention']}</dt><dd>{day(link.retention_until)}</dd>")
    out.append("\n    ")
    if link.legal_hold:
        out.append(f"<dt>{w['hold']}</dt><dd>{_shown(link.legal_hold_reason) or dash}</dd>")
    out.append("\n    ")
    if not context.get("portal"):
        case = link.onboarding_case
        out.append(
            f'<dt>{w["case"]}</dt><dd><a href="{e(route("case_detail", case.public_id))}">'
            f"{_shown(case.reference)}</a></dd>"
        )
    until_now = w["until_now"]
    out.append(
        '\n  </dl>\n</section>\n<section class="card" id="link-accounts">\n'
        f"  <h2>{w['accounts']}</h2>\n"
        '  <table class="cases">\n'
        f"    <thead><tr><th>{w['account_number']}</th><th>{w['account_name']}</th><th>{w['query']}</th>"
        f"<th>{w['pay']}</th><th>{w['period']}</th></tr></thead>\n    <tbody>"
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
        out.append(f'<tr><td colspan="5" class="empty">{w["no_accounts"]}</td></tr>')
    out.append(
        '</tbody>\n  </table>\n</section>\n</div>\n\n<section class="card" id="link-operators">\n'
        f"  <h2>{w['operators']}</h2>\n"
        '  <table class="cases">\n'
        f"    <thead><tr><th>{w['operator']}</th><th>{w['role']}</th><th>{w['serial']}</th>"
        f"<th>{w['ukey_status']}</th><th>{w['cert_expires']}</th><th>{w['period']}</th></tr></thead>\n    <tbody>"
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
        out.append(f'<tr><td colspan="6" class="empty">{w["no_operators"]}</td></tr>')
    out.append("</tbody>\n  </table>\n</section>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above
