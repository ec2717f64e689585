"""The cockpit page, its drill-down and exports: who may see them, and that they show the figures."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.facts import facts_refresh
from tests import analytics_history as h

MARCH = "from=2025-03-01&to=2025-03-31"


@pytest.fixture
def history(world):
    cases = h.build(world)
    facts_refresh(case_ids=[c.pk for c in cases.values()], now=h.NOW)
    return cases


@pytest.mark.parametrize("who", ["supervisor", "approver", "tech", "auditor"])
def test_supervisors_head_office_and_auditors_open_the_cockpit(client, world, history, who) -> None:
    client.force_login(getattr(world, who))
    page = client.get(f"{reverse('analytics:cockpit')}?{MARCH}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="chart-flow"' in html and 'id="table-flow"' in html
    assert 'href="/analytics/"' in html  # the navigation link
    assert "<style" not in html and " style=" not in html


@pytest.mark.parametrize("who", ["am_a", "maker", "checker", "customer_x"])
def test_everyone_else_is_refused(client, world, history, who) -> None:
    client.force_login(getattr(world, who))
    for url in (
        reverse("analytics:cockpit"),
        reverse("analytics:cases") + "?fig=cycle&stage=branch_intake",
        reverse("analytics:export_csv") + "?table=cycle_stage",
    ):
        response = client.get(url)
        if who == "customer_x":  # a customer is sent to the portal, never shown a 403 for a staff page
            assert response.status_code == 302 and response["Location"] == "/portal/start/"
        else:
            assert response.status_code == 403
    assert 'href="/analytics/"' not in client.get(reverse("home")).content.decode()


def test_anonymous_is_sent_to_login(client) -> None:
    assert client.get(reverse("analytics:cockpit")).status_code == 302


def test_the_page_query_count_does_not_grow_with_cases(client, world, history, django_assert_max_num_queries) -> None:
    client.force_login(world.approver)
    with django_assert_max_num_queries(30):
        assert client.get(f"{reverse('analytics:cockpit')}?{MARCH}").status_code == 200
    more = []
    for i in range(5):
        more.append(
            h.build_case(
                world,
                ref=f"Q-{i}",
                company=world.company_x,
                state="head_office_approval",
                visits=[("branch_intake", h.at(4), h.at(7), "bank"), ("head_office_approval", h.at(7), None, "bank")],
                events=[
                    ("transition", "submit_for_approval", "branch_intake", "head_office_approval", h.at(7), world.am_a)
                ],
            ).pk
        )
    facts_refresh(case_ids=more, now=h.NOW)
    cache.clear()
    with django_assert_max_num_queries(30):
        assert client.get(f"{reverse('analytics:cockpit')}?{MARCH}").status_code == 200


def test_the_figures_are_reused_for_the_same_subtree_and_period(client, world, history) -> None:
    client.force_login(world.approver)
    url = f"{reverse('analytics:cockpit')}?{MARCH}"
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        again = client.get(url)
    assert again.status_code == 200
    figure_queries = [q for q in ctx.captured_queries if "analytics_visitfact" in q["sql"]]
    assert figure_queries == []
    # Another subtree computes its own.
    client.force_login(world.supervisor_other)
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    assert any("analytics_visitfact" in q["sql"] for q in ctx.captured_queries)


def test_a_drill_down_lists_the_cases_behind_a_figure_and_exports_them(client, world, history) -> None:
    client.force_login(world.approver)
    url = f"{reverse('analytics:cases')}?{MARCH}&fig=sla&stage=branch_intake&breach=1"
    html = client.get(url).content.decode()
    assert "H-3" in html and "H-1" not in html and "H-2" not in html
    export = client.get(f"{reverse('analytics:export_csv')}?table=cases&{MARCH}&fig=sla&stage=branch_intake&breach=1")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["编号", "企业"] and [r[0] for r in rows[1:]] == ["H-3"]
    assert rows[1][4] == "8.0"


def test_exports_write_exactly_the_rows_of_the_table(client, world, history) -> None:
    client.force_login(world.approver)
    export = client.get(f"{reverse('analytics:export_csv')}?table=cycle_stage&{MARCH}")
    assert export["Content-Type"].startswith("text/csv")
    assert export.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0] == ["阶段", "阶段记录数", "中位数 P50", "85分位 P85"]
    assert rows[1] == ["分支行受理", "4", "2.0", "8.0"]
    xlsx = client.get(f"{reverse('analytics:export_xlsx')}?table=funnel&{MARCH}")
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "分支行受理" in sheet and '<c r="B2"><v>3</v></c>' in sheet
    assert client.get(f"{reverse('analytics:export_csv')}?table=nope&{MARCH}").status_code == 404


def test_a_supervisor_exports_only_their_subtree(client, world, history) -> None:
    client.force_login(world.supervisor_other)
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(f"{reverse('analytics:export_csv')}?table=cycle_branch&{MARCH}").content.decode("utf-8-sig")
            )
        )
    )
    assert {r[1] for r in rows[1:]} == {"B机构"}


def test_a_bad_period_falls_back_to_the_last_year_and_says_so(client, world, history) -> None:
    client.force_login(world.approver)
    html = client.get(f"{reverse('analytics:cockpit')}?from=2025-13-01").content.decode()
    assert "日期格式有误" in html


def test_cockpit_and_drill_down_in_english(client, world, history) -> None:
    from tests.test_i18n import _english, _get, chinese_labels

    client.force_login(world.approver)
    _english(client)
    page = _get(client, f"{reverse('analytics:cockpit')}?{MARCH}")
    assert '<html lang="en">' in page and "Management cockpit" in page and "Time per stage (working days)" in page
    assert chinese_labels(page) == []
    page = _get(client, f"{reverse('analytics:cases')}?{MARCH}&fig=cycle&stage=branch_intake")
    assert chinese_labels(page) == []


def test_a_long_drill_down_shows_the_first_rows_and_exports_all(client, world, history, monkeypatch) -> None:
    from analytics import views

    monkeypatch.setattr(views, "DRILL_ROWS", 2)
    client.force_login(world.approver)
    html = client.get(f"{reverse('analytics:cases')}?{MARCH}&fig=cycle&stage=branch_intake").content.decode()
    assert "共 4 条" in html and "此处显示前 2 条" in html
    assert html.count("查看案件</a>") == 2
    export = client.get(f"{reverse('analytics:export_csv')}?table=cases&{MARCH}&fig=cycle&stage=branch_intake")
    assert len(export.content.decode("utf-8-sig").strip().splitlines()) == 1 + 4


@pytest.mark.parametrize(
    "params",
    [
        "fig=cycle&stage=branch_intake",
        "fig=flow&event=submit_for_approval&source=branch_intake",
        "fig=funnel&stage=live",
    ],
)
def test_drill_down_query_count_does_not_grow_with_cases(
    client, world, history, params, django_assert_max_num_queries
) -> None:
    client.force_login(world.approver)
    url = f"{reverse('analytics:cases')}?{MARCH}&{params}"
    with django_assert_max_num_queries(20):
        client.get(url)
    more = [
        h.build_case(
            world,
            ref=f"D-{i}",
            company=world.company_y,
            state="head_office_approval",
            visits=[("branch_intake", h.at(4), h.at(6), "bank"), ("head_office_approval", h.at(6), None, "bank")],
            events=[
                ("transition", "submit_for_approval", "branch_intake", "head_office_approval", h.at(6), world.am_b)
            ],
        ).pk
        for i in range(6)
    ]
    facts_refresh(case_ids=more, now=h.NOW)
    with django_assert_max_num_queries(20):
        assert "D-5" in client.get(url).content.decode() or "fig=funnel" in url


def _rows(html: str, key: str) -> list[str]:
    import re

    table = re.search(rf'<table class="figures" id="table-{key}">(.*?)</table>', html, re.S)
    assert table, key
    return re.findall(r"<tr><td>(.*?)</td>", table.group(1))


def test_a_long_cockpit_table_shows_its_first_rows_and_links_to_all_of_them(
    client, world, history, monkeypatch
) -> None:
    import html as html_lib
    import re

    from analytics import snapshots

    monkeypatch.setattr(snapshots, "COCKPIT_ROWS", 2)
    client.force_login(world.approver)
    page = client.get(f"{reverse('analytics:cockpit')}?{MARCH}").content.decode()
    export = client.get(f"{reverse('analytics:export_csv')}?table=cycle_stage&{MARCH}").content.decode("utf-8-sig")
    whole = [row.split(",")[0] for row in export.strip().splitlines()[1:]]
    assert len(whole) > 2  # the fixture's March has more stages than the cut
    assert _rows(page, "cycle_stage") == whole[:2]
    assert f"显示前 2 行,共 {len(whole)} 行。" in page
    # The browser follows the link under the table: the whole table, from the same computation.
    link = re.search(r'href="(/analytics/table/\?table=cycle_stage&amp;[^"]+)">查看全部</a>', page)
    assert link is not None
    url = html_lib.unescape(link.group(1))
    at = re.search(r"at=([^&]+)", url)
    assert at is not None and at.group(1) in page  # the cockpit's export links carry the same `at`
    full = client.get(url)
    assert full.status_code == 200
    full_html = full.content.decode()
    assert _rows(full_html, "cycle_stage") == whole
    assert "显示前" not in full_html and f"共 {len(whole)} 行" in full_html
    # A table no longer than the cut is shown whole, without the link.
    monkeypatch.setattr(snapshots, "COCKPIT_ROWS", len(whole))
    page = client.get(f"{reverse('analytics:cockpit')}?{MARCH}").content.decode()
    assert _rows(page, "cycle_stage") == whole
    assert "/analytics/table/?table=cycle_stage" not in page


def test_the_whole_table_page_is_refused_to_others_and_knows_only_cockpit_tables(client, world, history) -> None:
    url = f"{reverse('analytics:table')}?table=cycle_branch&{MARCH}"
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(world.am_a)
    assert client.get(url).status_code == 403
    client.force_login(world.supervisor_other)
    page = client.get(url).content.decode()
    assert {row for row in _rows(page, "cycle_branch")} <= {"分支行受理", "总行审批", "测试包下发", "联调测试"}
    assert "B机构" in page and "A机构" not in page  # only their subtree
    assert client.get(f"{reverse('analytics:table')}?table=nope&{MARCH}").status_code == 404
