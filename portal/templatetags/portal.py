from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import linebreaksbr
from django.template.defaulttags import CsrfTokenNode
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext, pgettext

from branches.templatetags.frame import frame_url
from config.routes import route
from config.templatetags.form_fields import alike, form_fields, page_engine
from config.templatetags.moments import day, local_minute
from config.templatetags.once import form_token
from documents.templatetags.documents_tags import needs_document
from onboarding.models import OnboardingCase

from ..forms import MessageForm
from ..routes import case_route
from ..selectors import case_messages_page
from ..services import message_may_post

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_case_panel(context: Any, case: OnboardingCase) -> SafeString:
    """The case thread on the staff case page (the page has already scoped the case), with the
    link to the company's portal users: the markup `portal/_staff_case_panel_body.html` wrote,
    byte for byte, written in Python (its links reversed once per process, `config.routes`)."""
    user = context["request"].user
    page = case_messages_page(case=case, newest=True)
    thread_url = route("portal:staff_case_thread", case.public_id)
    with context.push(
        staff_side=True,
        thread=page.rows,
        thread_older_url=f"{thread_url}?before={page.older}" if page.older else "",
        thread_newer_url=None,
        message_form=alike(MessageForm),
        post_url=route("portal:staff_case_message", case.public_id) if message_may_post(user) else "",
    ):
        thread = portal_thread(context)
    e = conditional_escape
    return mark_safe(  # noqa: S308 - every value is escaped
        f'<link rel="stylesheet" href="{e(static("css/portal.css"))}">\n<div class="portal-staff-panel">\n'
        f'<p class="sub"><a href="{e(route("portal:staff_enterprise", case.enterprise.public_id))}">'
        f"{gettext('客户门户用户与邀请')}</a></p>\n{thread}\n\n</div>\n"
    )


# --- the case page's fragments, written in Python (issue 26) -------------------------------
# The tracker and the thread were templates of a dozen conditions and translations per row,
# about half a millisecond each on every case page (the customer's, and the staff page's
# thread). These write the same markup, byte for byte, with the same msgids (locale/ applies).


def local_day(value: Any) -> str:
    """`|day` for rows written in Python: an aware moment in local time first, as the
    template engine turns it before the filter."""
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return day(value)


@register.simple_tag(takes_context=True)
def portal_tracker(context: Any) -> SafeString:
    """The case's six working stages (`onboarding.web.stage_tracker`'s rows) as `<ol>`."""
    case = context["case"]
    started, done, expected = gettext("开始"), gettext("完成"), gettext("预计完成")
    holder = gettext("待贵司办理") if context.get("customer_holds") else gettext("银行办理中")
    out = []
    if case.is_draft:
        out.append('<p class="draft-note">{}</p>'.format(gettext("草稿:尚未提交至开户行。")))
    out.append('\n<ol class="tracker portal-tracker">\n  ')
    for number, s in enumerate(context["tracker"], 1):
        visit = s["visit"]
        status = conditional_escape(s["status"])
        overdue = " overdue" if visit and visit.is_overdue() else ""
        out.append(
            f'\n  <li class="{status}{overdue}">\n    <span class="step">{number}</span>\n'
            f"    <strong>{conditional_escape(s['label'])}</strong>\n    "
        )
        if visit:
            out.append(f"<small>{started} {local_day(visit.entered_at)}</small>\n      ")
            if visit.left_at:
                out.append(f"<small>{done} {local_day(visit.left_at)}</small>\n      ")
            elif visit.due_at:
                out.append(f"<small>{expected} {local_day(visit.due_at)}</small>")
            out.append("\n      ")
            if s["status"] == "current":
                out.append(f'<small class="holder">{holder}</small>')
            out.append("\n    ")
        out.append("\n  </li>\n  ")
    out.append("\n</ol>\n")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


@register.simple_tag(takes_context=True)
def portal_thread(context: Any) -> SafeString:
    """The case's messages (`thread`: the newest page, oldest first) with the links to older
    and newer pages and, given `post_url`, the form to write one."""
    e = conditional_escape
    title = gettext("与客户的留言(客户门户)") if context.get("staff_side") else gettext("与银行的留言")
    out = [f'<section class="card thread" id="thread">\n  <h2>{title}</h2>\n  ']
    older = context.get("thread_older_url")
    if older:
        out.append(f'<p class="more"><a rel="prev" href="{e(older)}">{gettext("更早的留言")}</a></p>')
    out.append('\n  <ol class="messages-thread">\n  ')
    thread = context.get("thread")
    if thread:
        customer, bank = gettext("客户"), gettext("银行")
        for m in thread:
            side, who = ("from-customer", customer) if m.from_customer else ("from-bank", bank)
            out.append(
                f'\n    <li class="{side}">\n      <div class="meta"><strong>{e(m.author)}</strong> ({who}) '
                f"<time>{local_minute(m.created_at)}</time></div>\n"
                f'      <div class="body">{linebreaksbr(m.body, autoescape=True)}</div>\n    </li>\n  '
            )
    else:
        out.append('<li class="empty">{}</li>'.format(gettext("暂无留言。")))
    out.append("\n  </ol>\n  ")
    newer = context.get("thread_newer_url")
    if newer:
        out.append(f'<p class="more"><a rel="next" href="{e(newer)}">{gettext("较新的留言")}</a></p>')
    out.append("\n  ")
    post_url = context.get("post_url")
    if post_url:
        out.append(
            f'<form method="post" action="{e(post_url)}">{CsrfTokenNode().render(context)}{form_token()}\n    '
            f"{form_fields(context, context['message_form'])}\n"
            f'    <button class="primary">{gettext("发送留言")}</button>\n  </form>'
        )
    out.append("\n</section>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


@register.simple_tag(takes_context=True)
def portal_case_head(context: Any) -> SafeString:
    """The link home, the case's reference, company, state and holder, its stages and whether it is paused."""
    e = conditional_escape
    case = context["case"]
    holder = context.get("holder")
    ball = ""
    if not context.get("is_live") and holder:
        who = gettext("当前办理方:%(who)s") % {"who": e(holder)}
        ball = '<span class="ball {}">{}</span>'.format("ball-customer" if context.get("customer_holds") else "", who)
    paused = ""
    if case.is_paused:
        paused = '<p class="msg warning">{}</p>'.format(gettext("案件已暂停,暂停期间不计入办理时限。"))
    return mark_safe(  # noqa: S308 - every value is escaped here or by the tracker
        f'<p><a href="{e(frame_url("portal:home"))}">← {gettext("我的申请")}</a></p>\n<div class="case-head">\n'
        f"  <h1>{e(case.reference)} · {e(context['enterprise'].name)}</h1>\n"
        f'  <span class="state state-{e(case.state)}">{e(case.get_state_display())}</span>\n'
        f"  {ball}\n</div>\n{portal_tracker(context)}\n{paused}"
    )


@register.simple_tag(takes_context=True)
def portal_todo(context: Any) -> SafeString:
    """What the company has to do: the reader's open notices of the case and the actions required."""
    e = conditional_escape
    case = context["case"]
    out = [f'<section class="card">\n  <h2>{gettext("贵司待办")}</h2>\n  ']
    notices = context.get("case_notices")
    if notices:
        out.append('<ul class="notices plain case-notices">')
        out.extend(
            f'<li class="msg info"><time>{local_minute(n.created_at)}</time> {e(n.message)}</li>' for n in notices
        )
        out.append("</ul>")
    out.append('\n  <ul class="action-list">\n')
    for a in context.get("actions") or ():
        if not a.required:
            continue
        out.append(f'\n  <li class="action urgency-{e(a.urgency)}" data-key="{e(a.key)}">\n    ')
        if a.post_url:
            out.append(
                f'<form method="post" action="{e(a.post_url)}" class="inline">{CsrfTokenNode().render(context)}'
                f'<input type="hidden" name="download" value="1"><button class="link action-download">{e(a.text)}'
                f'</button></form> <a href="{e(a.url)}">{gettext("上传签章件")}</a>'
            )
        else:
            out.append(f'<a href="{e(a.url)}">{e(a.text)}</a>')
        out.append("\n    ")
        if a.urgency == "overdue":
            out.append('<span class="badge danger">{}</span>'.format(gettext("已超时")))
        elif a.urgency == "soon":
            out.append('<span class="badge warn">{}</span>'.format(gettext("即将到期")))
        out.append("\n    ")
        if a.due_at:
            out.append(f"<small>{gettext('请于此前完成')} {local_minute(a.due_at)}</small>")
        out.append("\n    ")
        if a.detail:
            out.append(f'<div class="reason">{e(a.detail)}</div>')
        out.append("\n  </li>\n")
    out.append("\n</ul>\n\n  ")
    if not context.get("owes"):
        if context.get("is_live"):
            out.append('<p class="msg success live-done">{}</p>'.format(gettext("银企直联已上线,无需贵司再办理。")))
        elif case.is_open:
            out.append('<p class="empty">{}</p>'.format(gettext("目前无需贵司办理,银行正在处理。")))
        else:
            out.append('<p class="empty">{}</p>'.format(gettext("案件已结束,无需办理。")))
    out.append("\n</section>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


@register.simple_tag(takes_context=True)
def portal_summary(context: Any) -> SafeString:
    """The application's summary (branch, account manager, modules, ERP, target date) and its test records."""
    e = conditional_escape
    case = context["case"]
    manager = case.account_manager
    phone = f" · {e(manager.phone)}" if manager is not None and manager.phone else ""
    sep = e(pgettext("list separator", "、"))
    modules = sep.join(e(label) for label in case.module_labels)
    out = [
        f'<section class="card">\n  <h2>{gettext("申请概要")}</h2>\n  <dl class="facts">\n'
        f"    <dt>{gettext('受理机构')}</dt><dd>{e(case.branch)}</dd>\n"
        f"    <dt>{gettext('客户经理')}</dt><dd>{e(manager) if manager else '—'}{phone}</dd>\n"
        f"    <dt>{gettext('功能模块')}</dt><dd>{modules}</dd>\n"
        f"    <dt>{gettext('企业ERP/财资系统')}</dt><dd>{e(case.erp_system) if case.erp_system else '—'}</dd>\n"
        f"    <dt>{gettext('目标上线日期')}</dt><dd>{local_day(case.target_date) or '—'}</dd>\n  </dl>\n  "
    ]
    results = context.get("test_results")
    if results:
        passed, failed = gettext("通过"), gettext("未通过")
        out.append(f'<h3>{gettext("联调测试记录")}</h3>\n  <ul class="plain">')
        out.extend(
            f"<li>{e(r.get_module_display())}: {'✔ ' + passed if r.passed else '✘ ' + failed} {e(r.notes)} "
            f"<small>{e(r.recorded_by)} {local_minute(r.recorded_at)}</small></li>"
            for r in results
        )
        out.append("</ul>")
    out.append("\n</section>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above


def _test_package_facts(package: Any) -> str:
    """The test package's parameters (endpoint, accounts, certificate, document version, when)."""
    e = conditional_escape
    lines = [line.strip() for line in package.test_accounts.splitlines()] if package.test_accounts else []
    accounts = (
        '<ul class="plain">{}</ul>'.format("".join(f"<li><code>{e(line)}</code></li>" for line in lines if line))
        if package.test_accounts
        else "—"
    )
    return (
        '<dl class="facts">\n'
        f"    <dt>{gettext('测试地址')}</dt><dd><code>{e(package.test_endpoint or '—')}</code></dd>\n"
        f"    <dt>{gettext('测试账号')}</dt><dd>{accounts}</dd>\n"
        f"    <dt>{gettext('测试证书编号')}</dt><dd>{e(package.test_certificate_ref or '—')}</dd>\n"
        f"    <dt>{gettext('接口文档版本')}</dt><dd>{e(package.doc_version or '—')}</dd>\n"
        f"    <dt>{gettext('下发时间')}</dt><dd>{local_minute(package.recorded_at)}</dd>\n  </dl>\n"
    )


@register.simple_tag(takes_context=True)
def portal_environment(context: Any) -> SafeString:
    """What the customer configures: the production parameters once the bank has issued them,
    the test package before. After production configuration the test package is history
    (collapsed), not a second set of parameters beside the production ones."""
    e = conditional_escape
    config, package = context.get("production_config"), context.get("test_package")
    if config:
        accounts = config.account_list
        listed = (
            '<ul class="plain">{}</ul>'.format("".join(f"<li><code>{e(a)}</code></li>" for a in accounts))
            if accounts
            else "—"
        )
        front = ""
        if config.front_end_processor:
            front = f"<dt>{gettext('前置机')}</dt><dd>{e(config.front_end_processor)}</dd>"
        out = (
            f'\n<section class="card" id="production-config">\n  <h2>{gettext("生产环境参数")}</h2>\n'
            f'  <p class="help">{gettext("请贵司按以下生产环境参数配置系统。")}</p>\n  <dl class="facts">\n'
            f"    <dt>{gettext('生产地址')}</dt><dd><code>{e(config.production_endpoint)}</code></dd>\n"
            f"    <dt>{gettext('生产证书序列号')}</dt><dd>{e(config.certificate_serial)}</dd>\n"
            f"    <dt>{gettext('生产账号')}</dt><dd>{listed}</dd>\n"
            f"    <dt>{gettext('接入方式')}</dt><dd>{e(config.get_connection_type_display())}</dd>\n"
            f"    {front}\n"
            f"    <dt>{gettext('下发时间')}</dt><dd>{local_minute(config.recorded_at)}</dd>\n  </dl>\n"
            f'  <p class="help">{gettext("UKey 及其密码由柜面当面发放,不在门户显示。")}</p>\n</section>\n'
        )
        if package:
            out += (
                f'\n<details class="card history" id="test-package">\n'
                f"  <summary>{gettext('测试环境参数(历史)')}</summary>\n"
                f'  <p class="help">{gettext("联调测试时使用的参数,仅供查阅,请勿用于生产。")}</p>\n'
                f"  {_test_package_facts(package)}\n</details>\n"
            )
        out += "\n"
    elif package:
        out = (
            f'\n<section class="card" id="test-package">\n  <h2>{gettext("测试环境参数")}</h2>\n'
            f"  {_test_package_facts(package)}\n</section>\n"
        )
    else:
        out = ""
    return mark_safe(out + "\n")  # noqa: S308 - every value is escaped above


@register.simple_tag(takes_context=True)
def portal_change_requests(context: Any) -> SafeString:
    """The company's change requests on the case (each with its differences, `companies/_diff.html`)
    and the link to file one, when there is either."""
    e = conditional_escape
    requests, may_file = context.get("change_requests"), context.get("may_file_change")
    if not (requests or may_file):
        return mark_safe("\n")
    out = [
        f'\n<section class="card" id="company-changes">\n  <h2>{gettext("企业资料变更")}</h2>\n'
        '  <p class="help">{}</p>\n  '.format(
            gettext(
                "本申请的企业资料以银行批准时为准。企业名称、法定代表人、经办人、授权或结算账户如有变化,请提交变更申请。"
            )
        )
    ]
    if may_file:
        out.append(f'<p><a href="{e(context.get("change_request_url"))}">{gettext("提交变更申请")}</a></p>')
    out.append("\n  ")
    if requests:
        diff = page_engine(context).get_template("companies/_diff.html")
        for row in requests:
            r = row["request"]
            decided = f" · {gettext('处理时间')}:{local_minute(r.decided_at)}" if r.decided_at else ""
            decision = ""
            if r.decision_reason:
                decision = f'<div class="reason">{gettext("审批意见")}:{e(r.decision_reason)}</div>'
            with context.push(diff=row["diff"]):
                table = diff.render(context)
            out.append(
                f'\n  <article class="change-request status-{e(r.status)}">\n'
                f"    <h3>{gettext('变更申请')} · {e(r.get_status_display())}</h3>\n"
                f'    <p class="sub">{gettext("提交人")}:{e(r.filed_by)} · {local_minute(r.filed_at)}{decided}</p>\n'
                f'    <div class="reason">{gettext("变更原因")}:{e(r.reason)}</div>\n'
                f"    {decision}\n    {table}\n  </article>\n  "
            )
    out.append("\n</section>\n\n")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above or by the diff's template


@register.simple_tag(takes_context=True)
def portal_withdraw(context: Any) -> SafeString:
    """The withdrawal the case's type offers the customer from its state (folded), if any."""
    case, withdrawal = context["case"], context.get("withdrawal")
    if not (case.is_open and withdrawal):
        return mark_safe("")
    e = conditional_escape
    form = context["withdraw_form"]
    action = case_route("portal:case_withdraw", case.public_id)
    return mark_safe(  # noqa: S308 - every value is escaped here or by the form's template
        f'\n<details class="card" id="withdraw">\n  <summary>{e(withdrawal.label)}</summary>\n'
        f'  <form method="post" action="{e(action)}">{CsrfTokenNode().render(context)}'
        f'<input type="hidden" name="version" value="{e(case.version)}">\n'
        f"    {form_fields(context, form() if callable(form) else form, visible=True)}\n"
        f'    <button class="danger">{gettext("确认撤回")}</button>\n  </form>\n</details>\n'
    )


@register.simple_tag(takes_context=True)
def portal_joint_tests(context: Any) -> SafeString:
    """The joint-test matrix the customer fills in (`matrix_form.rows`): each test case's latest
    result, what the bank's test gateway observed (to confirm), and this time's result."""
    e = conditional_escape
    case = context["case"]
    csrf = CsrfTokenNode().render(context)
    version = e(case.version)
    observed_count = context.get("observed_count")
    if callable(observed_count):
        observed_count = observed_count()
    form = context["matrix_form"]
    if callable(form):
        form = form()
    passed, failed = gettext("通过"), gettext("未通过")
    evidence_word, notes_word, this_time = gettext("测试凭据"), gettext("说明"), gettext("本次结果")
    confirm = gettext("确认")
    out = [
        f'<section class="card" id="testing">\n  <h2>{gettext("联调测试")}</h2>\n  <p class="help">{{}}</p>\n  '.format(
            gettext(
                "每个测试用例填写结果;通过的用例须填写测试凭据(交易流水号或日志编号)。"
                "只保存填写了结果的行,可分多次保存。"
            )
        )
    ]
    if observed_count:
        seen = ngettext(
            "银行测试网关已观测到 %(n)s 个测试用例的交易,请核对后确认,无需手工填写。",
            "银行测试网关已观测到 %(n)s 个测试用例的交易,请核对后确认,无需手工填写。",
            observed_count,
        ) % {"n": observed_count}
        out.append(
            f'<div class="msg info gateway-observed">\n    <p>{seen}</p>\n'
            f'    <button form="gateway-confirm" name="confirm" value="all" class="primary">{gettext("全部确认")}'
            "</button>\n  </div>"
        )
    out.append(
        f'\n  <form method="post" action="{e(case_route("portal:case_test_result", case.public_id))}" '
        f'class="test-matrix-form">{csrf}<input type="hidden" name="version" value="{version}">\n'
        '  <div class="table-scroll">\n'
        f'  <table class="modules test-matrix"><thead><tr><th>{gettext("功能模块")}</th><th>{gettext("测试用例")}</th>'
        f"<th>{gettext('最新结果')}</th><th>{this_time}</th><th>{evidence_word}</th><th>{notes_word}</th></tr>"
        "</thead><tbody>\n  "
    )
    for row in form.rows:
        key, label = e(row["key"]), e(row["label"])
        result, observed, posted = row.get("result"), row.get("observed"), row["posted"]
        if result and result.retest:
            latest = f"↻ {gettext('要求重测')}"
        elif result and result.passed:
            latest = f"✔ {passed}"
        elif result:
            latest = f"✘ {failed}"
        else:
            latest = gettext("未登记")
        if result and result.observation_id:
            latest += f' <small class="tag">{gettext("测试网关记录")}</small>'
        if result and result.evidence:
            latest += f"<br><small>{e(result.evidence)}</small>"
        if result and result.notes:
            latest += f"<br><small>{e(result.notes)}</small>"
        seen_row = ""
        if observed:
            outcome = f"✔ {gettext('交易成功')}" if observed.succeeded else f"✘ {gettext('交易失败')}"
            interface = f" · {e(observed.interface)}" if observed.interface else ""
            at = date_filter(timezone.localtime(observed.observed_at), "Y-m-d H:i:s")
            seen_row = (
                f'<div class="observed" data-observed="{key}"><strong>{gettext("测试网关观测")}:</strong>{outcome} · '
                f"{gettext('返回码')} <code>{e(observed.result_code)}</code><br><small>{e(observed.trace_id)} · "
                f"{e(at)}{interface}</small><br>\n"
                f'      <button form="gateway-confirm" name="confirm" value="{key}" class="secondary" '
                f'aria-label="{confirm}:{label}">{confirm}</button></div>'
            )
        chosen = posted.get("result")
        out.append(
            f'<tr data-test="{key}">\n    <td>{e(row["module_label"])}</td><td>{label}</td>\n'
            f"    <td>{latest}\n    {seen_row}</td>\n"
            f'    <td><select name="result-{key}" aria-label="{this_time}:{label}"><option value="">—</option>'
            f'<option value="pass"{" selected" if chosen == "pass" else ""}>{passed}</option>'
            f'<option value="fail"{" selected" if chosen == "fail" else ""}>{failed}</option></select></td>\n'
            f'    <td><input type="text" name="evidence-{key}" value="{e(posted.get("evidence", ""))}" maxlength="300" '
            f'placeholder="{evidence_word}" aria-label="{evidence_word}:{label}"></td>\n'
            f'    <td><input type="text" name="notes-{key}" value="{e(posted.get("notes", ""))}" maxlength="300" '
            f'placeholder="{notes_word}" aria-label="{notes_word}:{label}"></td>\n  </tr>'
        )
    out.append(
        f'\n  </tbody></table>\n  </div>\n    <button class="primary">{gettext("保存测试结果")}</button>\n  </form>\n  '
    )
    if observed_count:
        # The confirm buttons above belong to this form (form="gateway-confirm"): Enter in the
        # matrix still saves the matrix.
        action = e(case_route("portal:case_test_confirm", case.public_id))
        out.append(
            f'\n  <form method="post" id="gateway-confirm" action="{action}">{csrf}'
            f'<input type="hidden" name="version" value="{version}"></form>'
        )
    out.append("\n  ")
    if needs_document(case, "test_report"):
        out.append(f'<p class="help">{gettext("全部测试用例通过后,请在下方“文件清单”中上传测试报告。")}</p>')
    out.append("\n</section>")
    return mark_safe("".join(out))  # noqa: S308 - every value is escaped above
