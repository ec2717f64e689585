""" "轮到我办理" holds every item waiting on me whatever my role, with its action, link and due time."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from branches.roles import Role
from counter.models import CounterEntry
from demo.counter_work import add_operators, issue_ukey, record_all_tests_passed
from documents import services as documents
from documents.samples import sample_pdf
from onboarding import services
from onboarding.change_requests import change_request_approve, change_request_file
from onboarding.models import StageVisit
from onboarding.states import State
from tests.factories import enterprise, operator_people, user


def home(client, who) -> str:
    client.force_login(who)
    page = client.get(reverse("home"))
    assert page.status_code == 200
    client.logout()
    return page.content.decode()


def bell(client, who) -> str:
    client.force_login(who)
    page = client.get(reverse("notification_list")).content.decode()
    client.logout()
    return page


def enter_identity(client, world, case) -> None:
    ent = case.enterprise
    client.force_login(world.maker)
    client.post(
        reverse("counter:identity_check", args=[case.public_id]),
        {"person": "legal_rep", "person_name": ent.legal_rep_name, "id_number": ent.legal_rep_id_number},
    )
    client.logout()


def test_the_checker_finds_the_entry_others_made_with_its_action_and_link(client, world) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    assert "复核:" not in home(client, world.checker)
    enter_identity(client, world, case)
    page = home(client, world.checker)
    assert "复核:临柜身份核验" in page
    assert f"{reverse('case_detail', args=[case.public_id])}#counter" in page
    assert "目前没有等您办理的事项" not in page
    # Not the maker, not a checker of another outlet, not the account manager.
    checker_b = user("checker_b", Role.COUNTER_CHECKER, branch=world.branch_b)
    for other in (world.maker, checker_b, world.am_a):
        assert "复核:" not in home(client, other), other
    # Confirmed: gone from the queue.
    client.force_login(world.checker)
    entry = CounterEntry.objects.get(case=case)
    client.post(reverse("counter:entry_confirm", args=[case.public_id, entry.public_id]))
    client.logout()
    assert "复核:" not in home(client, world.checker)


def test_tech_sees_production_configurations_to_issue_until_issued(client, world) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    anchor = f"{reverse('case_detail', args=[case.public_id])}#production"
    assert "登记生产配置" in home(client, world.tech) and anchor in home(client, world.tech)
    assert "登记生产配置" not in home(client, world.approver)
    services.production_config_record(
        case=case,
        user=world.tech,
        production_endpoint="https://h2h.bank.example",
        certificate_serial="PROD-1",
        production_accounts=case.enterprise.accounts.order_by("pk").first().account_number,
    )
    assert anchor not in home(client, world.tech)


def test_the_queue_costs_the_same_queries_however_long(client, world) -> None:
    def queries() -> int:
        client.force_login(world.checker)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("home")).status_code == 200
        return len(ctx.captured_queries)

    first = world.case(State.UKEY_ISSUANCE)
    enter_identity(client, world, first)
    one = queries()
    for name in ("丙公司", "丁公司", "戊公司"):
        enter_identity(client, world, world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a, name=name)))
    assert queries() == one
    assert home(client, world.checker).count('class="queue-item"') == 4


# --- every role's queue (issue 10: "whatever my role") ----------------------------------------

ROW = re.compile(r'<tr class="queue-item[^"]*" data-kind="([^"]*)">(.*?)</tr>', re.S)


def queue(client, who) -> list[dict[str, str]]:
    """The rows of 轮到我办理 as the person reads them: the action, where it links, the case."""
    rows = []
    for kind, cells in ROW.findall(home(client, who)):
        action = re.search(r'<a class="queue-action" href="([^"]+)">([^<]+)</a>', cells)
        assert action, cells
        rows.append(
            {
                "kind": kind,
                "url": action.group(1),
                "action": action.group(2),
                "text": re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cells)),
            }
        )
    return rows


def actions_on(client, who, case) -> list[str]:
    return [r["action"] for r in queue(client, who) if case.reference in r["text"]]


def link(case, anchor: str) -> str:
    return f"{reverse('case_detail', args=[case.public_id])}#{anchor}"


@pytest.mark.parametrize(
    ("state", "endorsed", "holder", "action", "anchor", "others"),
    [
        (State.BRANCH_INTAKE, False, "am_a", "受理:收齐材料、评估后上报立项审批", "next-step", ["am_a2", "supervisor", "approver"]),
        (State.HEAD_OFFICE_APPROVAL, False, "supervisor", "分行审核:立项上报", "actions", ["supervisor_other", "approver", "am_a"]),
        (State.HEAD_OFFICE_APPROVAL, True, "approver", "总行审批:立项批复、费用通过", "actions", ["supervisor", "am_a", "tech"]),
        (State.TEST_PACKAGE_ISSUANCE, False, "tech", "登记并下发测试包", "test-package", ["approver", "supervisor", "am_a"]),
        (State.JOINT_TESTING, False, "am_a", "跟进客户:联调测试", "next-step", ["tech", "approver", "am_a2"]),
        (State.UKEY_ISSUANCE, False, "maker", "柜面录入:临柜身份核验", "counter", ["checker", "am_a", "approver"]),
    ],
)  # fmt: skip
def test_each_stage_waits_on_its_holder_with_the_action_it_needs(
    client, world, state, endorsed, holder, action, anchor, others
) -> None:
    case = world.case(state, endorsed=endorsed)
    mine = [r for r in queue(client, getattr(world, holder)) if case.reference in r["text"]]
    assert [r["action"] for r in mine][:1] == [action] or action in [r["action"] for r in mine], mine
    assert link(case, anchor) in [r["url"] for r in mine]
    for other in others:
        assert action not in actions_on(client, getattr(world, other), case), other


def test_the_customers_confirmation_hands_go_live_to_the_account_manager(client, world) -> None:
    case = world.case(State.PRODUCTION_VERIFICATION)
    assert actions_on(client, world.am_a, case) == ["跟进客户:生产验证"]
    services.customer_confirm_production(case=case, user=world.customer_x)
    assert actions_on(client, world.am_a, case) == ["行方确认,正式上线"]
    assert link(case, "actions") in [r["url"] for r in queue(client, world.am_a)]
    assert actions_on(client, world.am_a2, case) == []
    assert case.reference in bell(client, world.am_a)
    assert case.reference not in bell(client, world.am_a2)


def test_passed_joint_tests_hand_the_decision_to_tech_and_a_retest_hands_it_back(client, world) -> None:
    case = world.case(State.JOINT_TESTING)
    assert actions_on(client, world.tech, case) == []
    record_all_tests_passed(case, world.customer_x)
    assert actions_on(client, world.tech, case) == ["确认联调测试结果:测试通过或要求重测"]
    assert link(case, "testing") in [r["url"] for r in queue(client, world.tech)]
    assert case.reference in bell(client, world.tech)
    assert actions_on(client, world.am_a, case) == []  # no longer waiting on the customer
    services.test_retest_request(
        case=case, user=world.tech, reason="对账文件格式不符", items=[("reconciliation", "fetch")]
    )
    assert actions_on(client, world.tech, case) == []
    assert actions_on(client, world.am_a, case) == ["跟进客户:联调测试"]
    client.force_login(world.customer_x)
    assert case.reference in client.get(reverse("notification_list")).content.decode()


def test_uploads_wait_for_their_reviewer_until_decided(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE, documents=False)
    licence = documents.document_upload(
        case=case, user=world.customer_x, kind="business_licence", upload=io.BytesIO(sample_pdf("x")), name="l.pdf"
    )
    documents.document_upload(
        case=case, user=world.customer_x, kind="legal_rep_id", upload=io.BytesIO(sample_pdf("y")), name="id.pdf"
    )
    review = [r for r in queue(client, world.am_a) if r["kind"] == "documents"]
    assert [r["action"] for r in review] == ["审核文件:营业执照复印件(加盖公章)、法定代表人身份证复印件"]
    assert review[0]["url"] == link(case, "documents")
    for other in (world.am_a2, world.supervisor, world.tech, world.checker):
        assert not [r for r in queue(client, other) if r["kind"] == "documents"], other
    # The reviewer accepts one from the page; the other still waits.
    client.force_login(world.am_a)
    client.post(reverse("document_review", args=[licence.public_id]), {"decision": "accept", "version": ""})
    assert [r["action"] for r in queue(client, world.am_a) if r["kind"] == "documents"] == [
        "审核文件:法定代表人身份证复印件"
    ]


def test_the_test_report_waits_for_tech_not_for_the_account_manager(client, world) -> None:
    case = world.case(State.JOINT_TESTING, documents=False)
    documents.document_upload(
        case=case, user=world.customer_x, kind="test_report", upload=io.BytesIO(sample_pdf("t")), name="r.pdf"
    )
    assert "审核文件:测试报告" in actions_on(client, world.tech, case)
    assert not [a for a in actions_on(client, world.am_a, case) if a.startswith("审核文件")]


def test_a_change_request_waits_for_a_supervisor_who_did_not_file_it(client, world) -> None:
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    company = case.company
    data = {
        "name": "甲公司(更名)",
        "legal_rep_name": company.legal_rep_name,
        "legal_rep_id_number": company.legal_rep_id_number,
        "handler_name": company.handler_name,
        "handler_id_number": company.handler_id_number,
        "contact_email": company.contact_email,
    }
    request = change_request_file(
        case=case, user=world.am_a, data=data, accounts=list(company.accounts), reason="企业更名"
    )
    rows = [r for r in queue(client, world.supervisor) if r["kind"] == "change_request"]
    assert [r["action"] for r in rows] == ["审批企业资料变更申请"]
    assert rows[0]["url"] == link(case, "company-changes")
    assert "个工作日" in rows[0]["text"]  # due in working days
    for other in (world.supervisor_other, world.am_a, world.approver):
        assert "审批企业资料变更申请" not in actions_on(client, other, case), other
    change_request_approve(request=request, user=world.supervisor)
    assert "审批企业资料变更申请" not in actions_on(client, world.supervisor, case)


def test_counter_work_passes_between_maker_and_checker_then_the_checker_completes(client, world) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    assert actions_on(client, world.maker, case) == ["柜面录入:临柜身份核验"]
    enter_identity(client, world, case)
    assert actions_on(client, world.maker, case) == []  # waiting for the checker
    assert actions_on(client, world.checker, case) == ["复核:临柜身份核验(maker录入)"]
    client.force_login(world.checker)
    entry = CounterEntry.objects.get(case=case)
    client.post(reverse("counter:entry_confirm", args=[case.public_id, entry.public_id]))
    client.logout()
    assert actions_on(client, world.checker, case) == []
    assert actions_on(client, world.maker, case) == ["柜面录入:操作员、UKey发放与证书激活"]
    operators = add_operators(case, world.maker, operator_people(case.pk))
    for i, op in enumerate(operators):
        issue_ukey(case, op, world.maker, world.checker, serial=f"QK{case.pk}{i}")
    assert actions_on(client, world.maker, case) == []
    # Counter work done, but the production configuration is missing: tech's, not the checker's.
    assert actions_on(client, world.checker, case) == []
    assert actions_on(client, world.tech, case) == ["登记生产配置"]
    services.production_config_record(
        case=case,
        user=world.tech,
        production_endpoint="https://h2h.bank.example",
        certificate_serial="PROD-1",
        production_accounts=case.enterprise.accounts.order_by("pk").first().account_number,
    )
    assert actions_on(client, world.tech, case) == []
    assert actions_on(client, world.checker, case) == ["UKey发放完成,转客户生产验证"]
    assert link(case, "actions") in [r["url"] for r in queue(client, world.checker)]
    assert "生产配置" in bell(client, world.checker)


def test_overdue_items_come_first_with_their_working_days(client, world) -> None:
    later = world.case(State.BRANCH_INTAKE)
    late = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="迟到公司"))
    StageVisit.objects.filter(pk=late.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=10))
    rows = queue(client, world.am_a)
    assert late.reference in rows[0]["text"] and "已超时" in rows[0]["text"] and "个工作日" in rows[0]["text"]
    assert later.reference in rows[1]["text"] and "尚余" in rows[1]["text"]


def test_every_source_costs_the_same_queries_however_many_items(client, world) -> None:
    """Cases of every kind waiting on every role; then as many again: the dashboards read the same."""

    def build() -> None:
        company = enterprise(world.branch_a)
        world.case(State.BRANCH_INTAKE, company=company, documents=False)
        c = world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a))
        enter_identity(client, world, c)
        world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a))
        j = world.case(State.JOINT_TESTING, company=enterprise(world.branch_a), documents=False)
        documents.document_upload(
            case=j, user=world.am_a, kind="test_report", upload=io.BytesIO(sample_pdf("t")), name="r.pdf"
        )
        world.case(State.HEAD_OFFICE_APPROVAL, company=enterprise(world.branch_a))
        t = world.case(State.TEST_PACKAGE_ISSUANCE, company=enterprise(world.branch_a))
        d = t.company
        change_request_file(
            case=t,
            user=world.am_a,
            data={
                "name": d.name + "(新)",
                "legal_rep_name": d.legal_rep_name,
                "legal_rep_id_number": d.legal_rep_id_number,
                "handler_name": d.handler_name,
                "handler_id_number": d.handler_id_number,
                "contact_email": d.contact_email,
            },
            accounts=list(d.accounts),
            reason="更名",
        )

    people = [world.am_a, world.supervisor, world.approver, world.tech, world.maker, world.checker]

    def counts() -> list[int]:
        out = []
        for who in people:
            client.force_login(who)
            client.get(reverse("home"))
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(reverse("home")).status_code == 200
            out.append(len(ctx.captured_queries))
        return out

    build()
    few = counts()
    build()
    build()
    many = counts()
    assert many == few
    assert max(many) <= 15, many


def test_a_form_of_any_case_of_the_outlet_waits_for_that_outlets_checker_only(client, world) -> None:
    """The e-banking registration form waits on the outlet's counter checker (any case of the
    outlet, not only someone's own); not on a checker of another branch, nor on the account
    managers or the maker."""
    checker_b = user("checker_b", Role.COUNTER_CHECKER, branch=world.branch_b)
    waiting = world.case(State.UKEY_ISSUANCE, documents=False)
    documents.document_upload(
        case=waiting, user=world.am_a, kind="ebanking_registration", upload=io.BytesIO(sample_pdf("e")), name="e.pdf"
    )
    assert actions_on(client, world.checker, waiting) == ["审核文件:电子银行业务注册表"]
    for other in (checker_b, world.am_a, world.am_a2, world.maker):
        assert not [a for a in actions_on(client, other, waiting) if a.startswith("审核文件")], other


# --- more than the dashboard shows (issue 26) -------------------------------------------------

HEADING = re.compile(r"<h2>轮到我办理 <small>\((.*?)\)</small></h2>")
MORE = re.compile(r'<p class="queue-more"><a href="([^"]+)">(.*?)</a></p>')
PAGER = re.compile(r'<nav class="pager">(.*?)</nav>', re.S)


def _references(page: str) -> list[str]:
    return re.findall(r'<td><a href="/cases/[^"#]+/">([^<]+)</a></td>', page)


def _get(client, who, url: str) -> str:
    client.force_login(who)
    page = client.get(url)
    assert page.status_code == 200, url
    client.logout()
    return page.content.decode()


def test_an_account_manager_holding_more_than_the_dashboard_shows_sees_the_total_and_reaches_the_rest(
    client, world
) -> None:
    """53 drafts of the account manager's own: the dashboard shows 50 with the true total in its
    heading and a link saying how many are hidden; the link's pages list all 53, each once, the
    first page as the dashboard shows it. Another account manager holds none of them."""
    cases = [world.case(State.DRAFT) for _ in range(53)]
    refs = {c.reference for c in cases}
    page = _get(client, world.am_a, reverse("home"))
    assert HEADING.search(page).group(1) == "显示 50 项,共 53 项"
    shown = _references(page)
    assert len(shown) == 50 and set(shown) <= refs
    more = MORE.search(page)
    assert more is not None and more.group(2) == "另有 3 件轮到我办理的案件未显示:查看全部 ›"
    first = _get(client, world.am_a, more.group(1))
    assert _references(first) == shown  # the same cases in the same order
    pager = PAGER.search(first).group(1)
    assert "第 1–50 件,共 53 件" in pager and "上一页" not in pager
    nxt = re.search(r'<a href="(\?page=2)">下一页', pager)
    assert nxt is not None
    second = _get(client, world.am_a, more.group(1) + nxt.group(1))
    rest = _references(second)
    assert len(rest) == 3 and set(shown) | set(rest) == refs
    pager = PAGER.search(second).group(1)
    assert "第 51–53 件,共 53 件" in pager and "下一页" not in pager and "?page=1" in pager
    # Another account manager of the branch: none of them, no link.
    other = _get(client, world.am_a2, reverse("home"))
    assert not refs & set(_references(other)) and MORE.search(other) is None
    assert not refs & set(_references(_get(client, world.am_a2, more.group(1))))
    # Nobody from a company reaches the page.
    client.force_login(world.customer_x)
    assert client.get(more.group(1)).status_code in (302, 403)


def test_a_queue_that_fits_shows_its_length_and_no_link(client, world) -> None:
    cases = [world.case(State.DRAFT) for _ in range(3)]
    page = _get(client, world.am_a, reverse("home"))
    assert HEADING.search(page).group(1) == "3"
    assert MORE.search(page) is None
    assert {c.reference for c in cases} == set(_references(page))


def test_beyond_the_counted_limit_the_heading_says_more_than(client, world, monkeypatch) -> None:
    """The held cases are counted up to `HELD_COUNT_LIMIT` (a head-office role holds thousands):
    past it the heading and the link say "more than", and the pages still reach every case."""
    from onboarding import queue as queue_module

    monkeypatch.setattr(queue_module, "HELD_SHOWN", 4)
    monkeypatch.setattr(queue_module, "HELD_COUNT_LIMIT", 8)
    cases = [world.case(State.DRAFT) for _ in range(11)]
    page = _get(client, world.am_a, reverse("home"))
    assert HEADING.search(page).group(1) == "显示 4 项,共超过 8 项"
    assert MORE.search(page).group(2) == "另有超过 4 件轮到我办理的案件未显示:查看全部 ›"
    seen = []
    url, pagers = reverse("queue_all"), []
    while url:
        listing = _get(client, world.am_a, url)
        seen += _references(listing)
        pager = PAGER.search(listing).group(1)
        pagers.append(re.sub(r"<[^>]+>|\s+", " ", pager).split("›")[0].strip())
        nxt = re.search(r'<a href="(\?page=\d+)">下一页', pager)
        url = reverse("queue_all") + nxt.group(1) if nxt else ""
    assert sorted(seen) == sorted(c.reference for c in cases)
    assert "第 1–4 件,共超过 8 件" in pagers[0] and "第 9–11 件,共 11 件" in pagers[-1]
    assert len(pagers) == 3


def test_the_total_and_the_link_in_english(client, world) -> None:
    for _ in range(52):
        world.case(State.DRAFT)
    client.force_login(world.am_a)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("home")).content.decode()
    assert "<small>(showing 50 of 52)</small>" in page
    assert "2 more cases waiting for me not shown: see them all" in page
    listing = client.get(reverse("queue_all")).content.decode()
    assert "Cases waiting for me" in listing and "Cases 1–50 of 52" in listing


def test_a_page_number_typed_in_the_address_never_fails(client, world) -> None:
    """Not a number, below 1, or past any queue (an OFFSET the database could not hold): a page."""
    case = world.case(State.DRAFT)
    for page in ("abc", "0", "-3", "1" + "0" * 25):
        listing = _get(client, world.am_a, reverse("queue_all") + f"?page={page}")
        if page in ("abc", "0", "-3"):
            assert case.reference in _references(listing)
        else:
            assert _references(listing) == []
