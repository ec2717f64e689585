""" "轮到我办理" beyond the dashboard: the dashboard shows the first 50 items of every kind
merged, the true total over all kinds, and a line of kinds, each with its number and a link to
its pages on `/queue/?kind=…`, which list every item of the kind once."""

from __future__ import annotations

import io
import re

import pytest
from django.urls import reverse

from documents import services as documents
from documents.samples import sample_pdf
from onboarding.change_requests import change_request_file
from onboarding.states import State
from tests.factories import enterprise
from tests.test_queue import HEADING, MORE, PAGER, ROW, _get, _references

KINDS = re.compile(r'<p class="queue-kinds">(.*?)</p>', re.S)
KIND_LINK = re.compile(r'<a href="([^"]+)">([^<]+)</a>')


def kinds_line(page: str) -> dict[str, str]:
    """The line of kinds as the reader sees it: each kind's text and where it links."""
    found = KINDS.search(page)
    return {} if found is None else {text: url.replace("&amp;", "&") for url, text in KIND_LINK.findall(found.group(1))}


def every_page(client, who, url: str) -> tuple[list[str], list[str]]:
    """The references on each page from `url` on, following "下一页", and each page's pager text."""
    seen, pagers = [], []
    while url:
        listing = _get(client, who, url)
        seen += _references(listing)
        pager = PAGER.search(listing).group(1)
        pagers.append(re.sub(r"<[^>]+>|\s+", " ", pager).strip())
        nxt = re.search(r'<a href="(\?[^"]*page=\d+)">下一页', pager)
        url = reverse("queue_all") + nxt.group(1).replace("&amp;", "&") if nxt else ""
    return seen, pagers


def file_change(case, who) -> None:
    d = case.company
    change_request_file(
        case=case,
        user=who,
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


def test_tech_with_more_than_50_of_two_kinds_sees_50_rows_the_totals_and_every_item_on_its_pages(client, world) -> None:
    configs = [world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a)) for _ in range(52)]
    reports = []
    for _ in range(51):
        case = world.case(State.JOINT_TESTING, company=enterprise(world.branch_a), documents=False)
        documents.document_upload(
            case=case, user=world.am_a, kind="test_report", upload=io.BytesIO(sample_pdf("t")), name="r.pdf"
        )
        reports.append(case)
    page = _get(client, world.tech, reverse("home"))
    assert len(ROW.findall(page)) == 50
    line = kinds_line(page)
    assert line["登记生产配置:52 项"] == reverse("queue_all") + "?kind=production"
    assert line["审核文件:51 项"] == reverse("queue_all") + "?kind=documents"
    counts = [int(re.search(r":(\d+) 项$", text).group(1)) for text in line]
    assert HEADING.search(page).group(1) == f"显示 50 项,共 {sum(counts)} 项"
    # Each kind's pages: every case once, 50 and then the rest.
    for url, cases in ((line["登记生产配置:52 项"], configs), (line["审核文件:51 项"], reports)):
        seen, pagers = every_page(client, world.tech, url)
        assert sorted(seen) == sorted(c.reference for c in cases), url
        assert len(pagers) == 2 and f"第 1–50 件,共 {len(cases)} 件" in pagers[0]
        assert f"第 51–{len(cases)} 件,共 {len(cases)} 件" in pagers[1] and "上一页" in pagers[1]
    listing = _get(client, world.tech, line["审核文件:51 项"])
    assert "<h1>审核文件</h1>" in listing and "审核文件:测试报告" in listing
    # A head-office approver has none of them; a page of a kind they have none of is empty.
    other = _get(client, world.approver, reverse("queue_all") + "?kind=production")
    assert _references(other) == [] and "共 0 件" in other


def test_past_the_counted_limit_a_kind_and_the_total_say_more_than(client, world, monkeypatch) -> None:
    from onboarding import queue

    monkeypatch.setattr(queue, "HELD_SHOWN", 3)
    monkeypatch.setattr(queue, "HELD_COUNT_LIMIT", 4)
    configs = [world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a)) for _ in range(6)]
    page = _get(client, world.tech, reverse("home"))
    assert len(ROW.findall(page)) == 3
    assert "登记生产配置:超过 4 项" in kinds_line(page)
    assert re.fullmatch(r"显示 3 项,共超过 \d+ 项", HEADING.search(page).group(1))
    seen, pagers = every_page(client, world.tech, reverse("queue_all") + "?kind=production")
    assert sorted(seen) == sorted(c.reference for c in configs)
    assert "第 1–3 件,共超过 4 件" in pagers[0] and "第 4–6 件,共 6 件" in pagers[-1]


def test_a_supervisor_sees_their_change_requests_on_their_page_and_not_another_subtrees(
    client, world, monkeypatch
) -> None:
    from onboarding import queue

    monkeypatch.setattr(queue, "HELD_SHOWN", 2)
    cases = [world.case(State.TEST_PACKAGE_ISSUANCE, company=enterprise(world.branch_a)) for _ in range(3)]
    for case in cases:
        file_change(case, world.am_a)
    page = _get(client, world.supervisor, reverse("home"))
    assert len(ROW.findall(page)) == 2
    url = kinds_line(page)["审批企业资料变更申请:3 项"]
    seen, pagers = every_page(client, world.supervisor, url)
    assert sorted(seen) == sorted(c.reference for c in cases) and len(pagers) == 2
    # The other tier-1 branch's supervisor: none of them, on the dashboard or the kind's page.
    assert _references(_get(client, world.supervisor_other, url)) == []
    assert KINDS.search(_get(client, world.supervisor_other, reverse("home"))) is None


def test_an_account_manager_holding_only_cases_has_one_kind_and_the_held_link(client, world) -> None:
    cases = [world.case(State.DRAFT) for _ in range(52)]
    page = _get(client, world.am_a, reverse("home"))
    assert kinds_line(page) == {"轮到我办理的案件:52 项": reverse("queue_all")}
    assert MORE.search(page).group(2) == "另有 2 件轮到我办理的案件未显示:查看全部 ›"
    seen, _pagers = every_page(client, world.am_a, reverse("queue_all") + "?kind=stage")
    assert sorted(seen) == sorted(c.reference for c in cases)
    # Another account manager's documents page lists none of this one's cases.
    assert not set(_references(_get(client, world.am_a2, reverse("queue_all") + "?kind=documents"))) & set(seen)


def test_the_kinds_and_their_pages_in_english(client, world, monkeypatch) -> None:
    from onboarding import queue

    monkeypatch.setattr(queue, "HELD_SHOWN", 2)
    for _ in range(3):
        world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a))
    client.force_login(world.tech)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("home")).content.decode()
    line = KINDS.search(page).group(1)
    assert "Record the production configuration: 3" in line
    assert not re.search(r"[\u4e00-\u9fff]", line), line
    listing = client.get(reverse("queue_all") + "?kind=production").content.decode()
    assert "<h1>Record the production configuration</h1>" in listing and "Cases 1–2 of 3" in listing


def test_an_unknown_kind_is_not_found_and_a_company_user_has_no_queue(client, world) -> None:
    client.force_login(world.tech)
    assert client.get(reverse("queue_all") + "?kind=nonsense").status_code == 404
    client.force_login(world.customer_x)
    for kind in ("stage", "documents", "production"):
        assert client.get(reverse("queue_all") + f"?kind={kind}").status_code in (302, 403)


@pytest.mark.parametrize("page", ["abc", "0", "-3", "1" + "0" * 25])
def test_a_page_number_of_a_kind_typed_in_the_address_never_fails(client, world, page) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    listing = _get(client, world.tech, reverse("queue_all") + f"?kind=production&page={page}")
    assert (case.reference in _references(listing)) == (page in ("abc", "0", "-3"))


def test_a_listed_sources_kind_is_counted_and_paged_from_its_list(client, world, monkeypatch) -> None:
    """The counter's entries to check come from a source that gives a list (at most 50): counted
    as listed, and paged on `/queue/?kind=counter_check`."""
    from onboarding import queue
    from tests.test_queue import enter_identity

    monkeypatch.setattr(queue, "HELD_SHOWN", 1)
    cases = [world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a)) for _ in range(2)]
    for case in cases:
        enter_identity(client, world, case)
    page = _get(client, world.checker, reverse("home"))
    url = kinds_line(page)["柜面待复核:2 项"]
    assert url == reverse("queue_all") + "?kind=counter_check"
    seen, pagers = every_page(client, world.checker, url)
    assert sorted(seen) == sorted(c.reference for c in cases) and len(pagers) == 2
    # The outlet's maker checks nothing: none of them.
    assert _references(_get(client, world.maker, url)) == []
