"""Cockpit snapshots: the default figures of every scope kept ready, served without computing,
never to another scope, recomputed when stale, refreshed after a change to a case."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from freezegun import freeze_time

from analytics import selectors, snapshots, tasks
from analytics.facts import facts_refresh
from analytics.forecast import forecasts_refresh
from analytics.models import CockpitSnapshot, ForecastModel
from analytics.selectors import Period
from config.celery import app
from delivery import channels
from onboarding.models import CaseEvent
from tests import analytics_history as h

COCKPIT = "/analytics/"


@pytest.fixture
def history(world):
    """The fixed history with its facts and forecasts (so the at-risk table has rows, dates)."""
    from tests.test_analytics_forecast import _pmf_at

    cases = h.build(world)
    facts_refresh(case_ids=[c.pk for c in cases.values()], now=h.NOW)
    stages = ("branch_intake", "head_office_approval", "test_package_issuance", "joint_testing", "ukey_issuance")
    groups = {s: {"n": 30, "events": 30, "pmf": _pmf_at(1.0), "p50": 1.0, "p85": 1.0} for s in stages}
    ForecastModel.objects.create(data={"groups": {"all": groups}})
    forecasts_refresh(case_ids=[c.pk for c in cases.values()], now=h.NOW)
    return cases


@pytest.fixture
def frozen():
    # The fixed history is March 2025: "today" is its NOW, so the default period (the last
    # year) holds it.
    with freeze_time(h.NOW):
        yield


def _figure_queries(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "analytics_visitfact" in q["sql"]]


def _snap(world, branch, lang: str = "zh-hans") -> CockpitSnapshot:
    period = Period.default()
    return CockpitSnapshot.objects.get(
        scope=branch, period_start=period.start, period_end=period.end, filters_key=f"lang={lang}"
    )


def test_the_refresh_computes_every_scope_a_user_can_have_in_every_language(world, history, frozen) -> None:
    assert snapshots.refresh() == 3 * len(settings.LANGUAGES)
    period = Period.default()
    keys = set(CockpitSnapshot.objects.values_list("scope_id", "period_start", "period_end", "filters_key"))
    # Head office (approver, tech reviewer, auditor), T1 and T2 (their supervisors); branch A
    # has account managers and counter staff only: no cockpit user, no snapshot.
    scopes = {world.head_office.pk, world.tier1.pk, world.tier1_other.pk}
    assert keys == {(s, period.start, period.end, f"lang={lang}") for s in scopes for lang, _n in settings.LANGUAGES}
    # Safe to run twice (two beat hosts, or beat and a dirty refresh at once): one row per key.
    snapshots.refresh()
    assert CockpitSnapshot.objects.count() == 3 * len(settings.LANGUAGES)


def test_snapshot_figures_are_identical_to_the_figures_computed_on_request(world, history, frozen) -> None:
    snapshots.refresh()
    period = Period.default()
    for user in (world.approver, world.supervisor, world.supervisor_other):
        with translation.override("zh-hans"):
            live = selectors.cockpit(user=user, period=period, now=h.NOW)
        stored = snapshots.decode(_snap(world, user.branch).figures)
        assert stored == live
    # And they are the hand-checked figures (tests/test_analytics_figures.py), not empty tables.
    stored = snapshots.decode(_snap(world, world.head_office).figures)
    assert stored["cycle_stage"].rows[0] == ["分支行受理", 4, 2.0, 8.0]
    assert {r[1] for r in snapshots.decode(_snap(world, world.tier1_other).figures)["cycle_branch"].rows} == {"B机构"}
    risk = stored["risk"].rows
    assert risk and all(isinstance(r[7], dt.date) or r[7] is None for r in risk)  # dates come back as dates


def test_the_page_serves_the_snapshot_without_computing_and_says_when(client, world, history, frozen) -> None:
    snapshots.refresh()
    client.force_login(world.approver)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(COCKPIT)
    assert page.status_code == 200
    assert _figure_queries(ctx) == []  # no grouped statement, no funnel, ageing or risk query
    html = page.content.decode()
    assert "数据更新于 09:00" in html  # Shanghai time of h.NOW
    assert 'id="table-cycle_stage"' in html and "分支行受理" in html


@pytest.fixture
def asked(monkeypatch):
    """The refreshes page views enqueue (through the bounded publish), not run: a real worker
    runs them later (`_worker_runs`)."""
    from analytics import refreshes

    enqueued: list[tuple] = []

    def publish(task, *args, **kw):
        assert task is tasks.cockpit_refresh_scope
        enqueued.append(args)
        return True

    monkeypatch.setattr(refreshes, "publish", publish)
    return enqueued


def _asks(enqueued: list[tuple]) -> list[tuple]:
    return [(scope, lang, dt.datetime.fromisoformat(at)) for scope, lang, at in enqueued]


def _worker_runs(enqueued: list[tuple]) -> None:
    while enqueued:
        tasks.cockpit_refresh_scope(*enqueued.pop(0))


def test_a_stale_snapshot_is_shown_and_its_refresh_asked_of_the_worker_once(
    client, world, history, frozen, asked, monkeypatch
) -> None:
    snapshots.refresh()
    old = h.NOW - dt.timedelta(seconds=settings.ANALYTICS_SNAPSHOT_MAX_SECONDS + 1)
    CockpitSnapshot.objects.update(computed_at=old)
    snap = _snap(world, world.head_office)
    snap.figures["cycle_stage"]["rows"][0][1] = 4444  # the old figures, told apart
    snap.page = None  # shaped from them by the next view
    snap.save()
    computed = []
    compute = selectors.scope_cockpit
    monkeypatch.setattr(selectors, "scope_cockpit", lambda **kw: computed.append(kw))
    client.force_login(world.approver)
    for _ in range(20):  # many views, one refresh
        with CaptureQueriesContext(connection) as ctx:
            html = client.get(COCKPIT).content.decode()
        assert _figure_queries(ctx) == [] and computed == []  # nothing computed in the request
    assert "<td>4444</td>" in html
    assert "数据计算于 2025-03-26 08:49,正在更新,请稍后刷新" in html
    assert "数据更新于" not in html
    assert _asks(asked) == [(world.head_office.pk, "zh-hans", h.NOW)]
    # Another scope's stale snapshot is asked for on its own.
    client.force_login(world.supervisor)
    client.get(COCKPIT)
    assert [a[0] for a in asked] == [world.head_office.pk, world.tier1.pk]
    # The worker runs them: the next view shows the new figures, nothing pending.
    monkeypatch.setattr(selectors, "scope_cockpit", compute)
    _worker_runs(asked)
    client.force_login(world.approver)
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(COCKPIT).content.decode()
    assert _figure_queries(ctx) == []
    assert "<td>4444</td>" not in html and "数据更新于 09:00" in html and "正在更新" not in html
    assert _snap(world, world.head_office).computed_at == h.NOW
    # Just inside the bound a snapshot is served as it is, nothing asked.
    CockpitSnapshot.objects.update(computed_at=old + dt.timedelta(seconds=2))
    html = client.get(COCKPIT).content.decode()
    assert "数据更新于 08:50" in html and "正在更新" not in html


def test_a_refresh_done_since_the_ask_is_not_done_again(world, history, frozen) -> None:
    snapshots.refresh()
    asked_at = (h.NOW - dt.timedelta(seconds=1)).isoformat()
    assert tasks.cockpit_refresh_scope(world.head_office.pk, "zh-hans", asked_at) == 0
    assert tasks.cockpit_refresh_scope(world.head_office.pk, "zh-hans", h.NOW.isoformat()) == 0
    later = (h.NOW + dt.timedelta(seconds=30)).isoformat()  # asked after the snapshot's computation
    with freeze_time(h.NOW + dt.timedelta(minutes=1)):
        assert tasks.cockpit_refresh_scope(world.head_office.pk, "zh-hans", later) == 1
    assert _snap(world, world.head_office).computed_at == h.NOW + dt.timedelta(minutes=1)
    assert _snap(world, world.head_office, "en").computed_at == h.NOW  # only the language asked


def test_after_midnight_the_previous_period_is_shown_with_its_period(client, world, history, frozen, asked) -> None:
    snapshots.refresh()  # 2025-03-26 09:00 Shanghai
    yesterday = Period.default()
    with freeze_time("2025-03-26T16:00:30Z"):  # 00:00:30 on the 27th in Shanghai
        client.force_login(world.supervisor)
        today = Period.default()
        assert today.end == dt.date(2025, 3, 27)
        with CaptureQueriesContext(connection) as ctx:
            html = client.get(COCKPIT).content.decode()
        assert _figure_queries(ctx) == []
        assert (
            f"今日数据正在计算,请稍后刷新;以下为期间 {yesterday.start} 至 {yesterday.end} 的数据,计算于 2025-03-26 09:00"
            in html
        )
        hint = re.search(r'<p class="hint">期间 ([^;]*);', html).group(1)
        assert hint == f"{yesterday.start:%Y年%-m月%-d日} 至 {yesterday.end:%Y年%-m月%-d日}", hint  # not today's
        assert "B机构" not in html  # still the supervisor's own subtree
        # Its exports write that very computation, of that period.
        link = re.search(r'href="(/analytics/export\.csv\?table=cycle_stage[^"]*)"', html).group(1)
        assert f"from={yesterday.start}" in link and f"to={yesterday.end}" in link
        from html import unescape

        export = client.get(unescape(link))
        assert "20250326-0900" in export["Content-Disposition"]
        client.get(COCKPIT)
        assert _asks(asked) == [(world.tier1.pk, "zh-hans", dt.datetime(2025, 3, 26, 16, 0, 30, tzinfo=dt.UTC))]
        _worker_runs(asked)
        html = client.get(COCKPIT).content.decode()
        hint = re.search(r'<p class="hint">期间 ([^;]*);', html).group(1)
        assert hint == f"{today.start:%Y年%-m月%-d日} 至 {today.end:%Y年%-m月%-d日}", hint
        assert "数据更新于 00:00" in html
        assert "正在计算" not in html


def test_the_beat_refresh_after_midnight_computes_the_new_day(world, history, frozen) -> None:
    snapshots.refresh()
    with freeze_time("2025-03-26T16:05:00Z"):  # the first beat run after Shanghai midnight
        tasks.cockpit_refresh()
        today = Period.default()
        assert CockpitSnapshot.objects.filter(period_start=today.start, period_end=today.end).count() == 3 * len(
            settings.LANGUAGES
        )


def test_a_fresh_install_shows_a_waiting_page_and_asks_once(client, world, history, frozen, asked, monkeypatch) -> None:
    computed = []
    compute = selectors.scope_cockpit
    monkeypatch.setattr(selectors, "scope_cockpit", lambda **kw: computed.append(kw))
    client.force_login(world.approver)
    for _ in range(5):
        page = client.get(COCKPIT)
        assert page.status_code == 200
        html = page.content.decode()
        assert "驾驶舱数据正在计算,请稍后刷新。" in html
        assert 'id="table-cycle_stage"' not in html and "分支行受理" not in html  # no figures invented
    assert computed == []
    assert _asks(asked) == [(world.head_office.pk, "zh-hans", h.NOW)]
    # A table or an export link without a snapshot: the same waiting page, nothing computed.
    assert "驾驶舱数据正在计算" in client.get(reverse("analytics:table") + "?table=cycle_stage").content.decode()
    assert computed == [] and len(asked) == 1
    monkeypatch.setattr(selectors, "scope_cockpit", compute)
    _worker_runs(asked)
    html = client.get(COCKPIT).content.decode()
    assert "分支行受理" in html and "数据更新于 09:00" in html


def test_without_a_worker_the_refresh_runs_where_tasks_run(client, world, history, frozen) -> None:
    # Tasks eager (development, this suite): the asked refresh ran inside publish; its figures.
    client.force_login(world.approver)
    html = client.get(COCKPIT).content.decode()
    assert "分支行受理" in html and "数据更新于 09:00" in html


def test_a_snapshot_is_served_to_its_own_scope_only(client, world, history, frozen) -> None:
    snapshots.refresh()
    # Mark each scope's stored page form, so that whose snapshot a page shows is visible.
    for branch in (world.head_office, world.tier1, world.tier1_other):
        snap = _snap(world, branch)
        snap.page["tables"]["cycle_stage"]["title"] = f"快照-{branch.name}"
        snap.save()
    seen = {}
    for user in (world.approver, world.supervisor, world.supervisor_other):
        client.force_login(user)
        with CaptureQueriesContext(connection) as ctx:
            html = client.get(COCKPIT).content.decode()
        assert _figure_queries(ctx) == []
        seen[user.username] = {
            b.name for b in (world.head_office, world.tier1, world.tier1_other) if f"快照-{b.name}" in html
        }
    assert seen == {"approver": {"HO机构"}, "supervisor": {"T1机构"}, "supervisor_other": {"T2机构"}}
    # Without a snapshot of its own, a scope gets its own figures (the refresh asked, here run
    # eagerly): T2's supervisor never gets T1's, nor head office's, even when those are the
    # only snapshots there are.
    CockpitSnapshot.objects.filter(scope=world.tier1_other).delete()
    client.force_login(world.supervisor_other)
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(COCKPIT).content.decode()
    assert _figure_queries(ctx)
    assert "快照-" not in html and "B机构" in html and "A机构" not in html


def test_exports_write_the_snapshot_the_page_charted(client, world, history, frozen) -> None:
    snapshots.refresh()
    snap = _snap(world, world.head_office)
    snap.figures["cycle_stage"]["rows"][0][1] = 4444  # what the page charts now
    snap.page = None  # shaped again from those figures by the next view
    snap.save()
    client.force_login(world.approver)
    assert "4444" in client.get(COCKPIT).content.decode()
    with CaptureQueriesContext(connection) as ctx:
        export = client.get(reverse("analytics:export_csv") + "?table=cycle_stage")
    assert _figure_queries(ctx) == []
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[1] == ["分支行受理", "4444", "2.0", "8.0"]
    assert "analytics-cycle_stage-20250326-0900.csv" in export["Content-Disposition"]  # its computation time


def test_another_period_is_computed_on_request_and_stored(client, world, history, frozen) -> None:
    client.force_login(world.supervisor)
    url = f"{COCKPIT}?from=2025-03-01&to=2025-03-31"
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    assert _figure_queries(ctx)
    assert CockpitSnapshot.objects.filter(
        scope=world.tier1, period_start=dt.date(2025, 3, 1), period_end=dt.date(2025, 3, 31)
    ).exists()
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    assert _figure_queries(ctx) == []


def test_english_pages_get_the_english_snapshot(client, world, history, frozen) -> None:
    from tests.test_i18n import _english, _get, chinese_labels

    snapshots.refresh()
    client.force_login(world.approver)
    _english(client)
    with CaptureQueriesContext(connection) as ctx:
        page = _get(client, COCKPIT)
    assert _figure_queries(ctx) == []
    assert "Figures as of 09:00" in page and "Time per stage (working days)" in page
    assert chinese_labels(page) == []


def test_a_change_to_a_case_marks_its_scopes_and_enqueues_one_refresh(
    world, history, frozen, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    snapshots.refresh()
    enqueued: list[dict] = []
    # Queued through the delivery kernel's bounded publish, never a bare apply_async (issue 24).
    monkeypatch.setattr(
        channels, "publish", lambda task, **kw: task is tasks.cockpit_refresh_dirty and enqueued.append(kw) is None
    )
    c3 = history["c3"]  # branch B, under T2
    with django_capture_on_commit_callbacks(execute=True):
        CaseEvent.objects.create(case=c3, kind=CaseEvent.Kind.RECORD, name="note", created_at=h.NOW, actor=world.am_b)
    dirty = set(CockpitSnapshot.objects.filter(dirty_since__isnull=False).values_list("scope_id", flat=True))
    assert dirty == {world.head_office.pk, world.tier1_other.pk}  # not T1: C3 is not in its subtree
    assert enqueued == [{"countdown": settings.ANALYTICS_DIRTY_DELAY_SECONDS}]
    # More events within that minute: already dirty, nothing more enqueued.
    with django_capture_on_commit_callbacks(execute=True):
        CaseEvent.objects.create(case=c3, kind=CaseEvent.Kind.RECORD, name="note", created_at=h.NOW, actor=world.am_b)
    assert len(enqueued) == 1
    # The refresh recomputes those scopes only, and clears the marks.
    t1_before = _snap(world, world.tier1).computed_at
    with freeze_time(h.NOW + dt.timedelta(minutes=1)):
        assert tasks.cockpit_refresh_dirty() == 2 * len(settings.LANGUAGES)
    assert not CockpitSnapshot.objects.filter(dirty_since__isnull=False).exists()
    assert _snap(world, world.tier1).computed_at == t1_before
    assert _snap(world, world.tier1_other).computed_at == h.NOW + dt.timedelta(minutes=1)
    # After the refresh, the next change enqueues again.
    with django_capture_on_commit_callbacks(execute=True):
        CaseEvent.objects.create(case=c3, kind=CaseEvent.Kind.RECORD, name="note", created_at=h.NOW, actor=world.am_b)
    assert len(enqueued) == 2


def test_the_refresh_is_on_the_beat_schedule(world, history, frozen) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["analytics-cockpit-refresh"]
    assert entry["schedule"] == float(settings.ANALYTICS_REFRESH_SECONDS)
    assert entry["task"] in app.tasks
    assert tasks.cockpit_refresh() == 3 * len(settings.LANGUAGES)


def test_an_export_clicked_after_a_refresh_still_writes_what_the_page_charted(client, world, history, frozen) -> None:
    import re
    from html import unescape

    snapshots.refresh()
    snap = _snap(world, world.head_office)
    snap.figures["cycle_stage"]["rows"][0][1] = 4444  # what the page charts at 09:00
    snap.page = None
    snap.save()
    client.force_login(world.approver)
    html = client.get(COCKPIT).content.decode()
    assert "<td>4444</td>" in html
    link = unescape(re.search(r'href="(/analytics/export\.csv\?table=cycle_stage[^"]*)"', html).group(1))
    with freeze_time(h.NOW + dt.timedelta(minutes=5)):
        snapshots.refresh()  # the next beat: the real figures again
        now_rows = list(csv.reader(io.StringIO(client.get(link.split("&at=")[0]).content.decode("utf-8-sig"))))
        export = client.get(link)
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[1] == ["分支行受理", "4444", "2.0", "8.0"]  # the page's computation, kept as the previous one
    assert "20250326-0900" in export["Content-Disposition"]
    assert now_rows[1] == ["分支行受理", "4", "2.0", "8.0"]  # without the page's time: the current snapshot


def test_an_older_computation_never_replaces_a_newer_one(world, history, frozen) -> None:
    period = Period.default()
    with translation.override("zh-hans"):
        snapshots.store(scope=world.head_office, period=period, now=h.NOW)
        snapshots.store(scope=world.head_office, period=period, now=h.NOW - dt.timedelta(minutes=1))
    snap = _snap(world, world.head_office)
    assert snap.computed_at == h.NOW and snap.previous_computed_at is None


def _page_queries(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "analytics_cockpitsnapshot" in q["sql"]]


def test_the_page_reads_its_page_form_not_the_whole_figures(client, world, history, frozen, monkeypatch) -> None:
    monkeypatch.setattr(snapshots, "COCKPIT_ROWS", 2)
    snapshots.refresh()
    snap = _snap(world, world.head_office)
    whole = snapshots.decode(snap.figures)
    form = snap.page["tables"]["cycle_stage"]
    assert len(whole["cycle_stage"].rows) > 2  # the fixture has more stages than the cut
    assert form["rows"] == snapshots.encode(whole)["cycle_stage"]["rows"][:2]
    assert form["total"] == len(whole["cycle_stage"].rows)
    client.force_login(world.approver)
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(COCKPIT).content.decode()
    [read] = _page_queries(ctx)
    assert '"page"' in read and '"figures"' not in read
    assert f"显示前 2 行,共 {len(whole['cycle_stage'].rows)} 行。" in html
    # The charts are drawn from the whole tables, not from the rows the page lists.
    charts = json.loads(re.search(r'id="analytics-charts" type="application/json">(.*?)</script>', html).group(1))
    [stages] = [c for c in charts if c["id"] == "cycle_stage"]
    assert stages["categories"] == [r[0] for r in whole["cycle_stage"].rows]


def test_each_scope_s_page_form_holds_its_subtree_only(world, history, frozen) -> None:
    snapshots.refresh()
    for lang, _name in settings.LANGUAGES:
        shown = {
            branch: json.dumps(_snap(world, branch, lang).page, ensure_ascii=False)
            for branch in (world.head_office, world.tier1, world.tier1_other)
        }
        # Branch A is under T1, branch B under T2: each supervisor's page form names its own
        # subtree's branch and never the other's; head office's both.
        assert "A机构" in shown[world.head_office] and "B机构" in shown[world.head_office]
        assert "A机构" in shown[world.tier1] and "B机构" not in shown[world.tier1]
        assert "B机构" in shown[world.tier1_other] and "A机构" not in shown[world.tier1_other]


def test_a_snapshot_without_a_page_form_is_shaped_from_its_figures_once(client, world, history, frozen) -> None:
    snapshots.refresh()
    client.force_login(world.supervisor)
    fresh = client.get(COCKPIT).content.decode()
    # A row written before the page form existed, or with another shape of it.
    CockpitSnapshot.objects.filter(scope=world.tier1).update(page=None)
    with CaptureQueriesContext(connection) as ctx:
        again = client.get(COCKPIT).content.decode()
    assert _figure_queries(ctx) == []  # shaped from the stored figures, not computed again
    assert again == fresh.replace(_csrf(fresh), _csrf(again))
    snap = _snap(world, world.tier1)
    assert snap.page["form"] == snapshots.PAGE_FORM and snap.computed_at == h.NOW  # kept for the next view
    with CaptureQueriesContext(connection) as ctx:
        client.get(COCKPIT)
    assert len(_page_queries(ctx)) == 1


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]*)"', html)
    return match.group(1) if match else ""


def test_figures_replaced_without_their_page_form_are_shown_not_the_older_page_form(
    client, world, history, frozen
) -> None:
    snapshots.refresh()
    # Older code (during a rolling deploy) writes a newer computation's figures and leaves the
    # page form of the one before.
    snap = _snap(world, world.head_office)
    snap.figures["cycle_stage"]["rows"][0][1] = 4444
    CockpitSnapshot.objects.filter(pk=snap.pk).update(figures=snap.figures, computed_at=h.NOW + dt.timedelta(minutes=1))
    client.force_login(world.approver)
    html = client.get(COCKPIT).content.decode()
    assert "<td>4444</td>" in html and "数据更新于 09:01" in html
    assert _snap(world, world.head_office).page["tables"]["cycle_stage"]["rows"][0][1] == 4444
