"""A head-office approver opens the cockpit, clicks a chart and lands on the cases behind it;
no console error and no Content-Security-Policy violation on the way."""

from __future__ import annotations

import pytest

from analytics.facts import facts_refresh
from tests import analytics_history as h
from tests.browser.helpers import staff_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def test_cockpit_chart_click_opens_the_cases_behind_it(page, live_server, shot):
    from tests.factories import World

    world = World()
    cases = h.build(world)
    facts_refresh(case_ids=[c.pk for c in cases.values()], now=h.NOW)
    errors: list[str] = []
    # The browser's own /favicon.ico request (the app has none) is not the page's doing.
    page.on(
        "console",
        lambda m: (
            errors.append(f"{m.text} {m.location}")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    page.add_init_script(WATCH_CSP)
    page.set_viewport_size({"width": 1400, "height": 1000})
    staff_login(page, live_server.url, world.approver.username)
    page.click("text=管理驾驶舱")
    page.goto(f"{live_server.url}/analytics/?from=2025-03-01&to=2025-03-31")
    page.wait_for_selector("#chart-sla canvas")
    page.wait_for_timeout(1200)  # the charts' entry animation

    # Hover the intake bar of the SLA chart (its tooltip is drawn on the canvas), then click it.
    point = page.evaluate(
        """() => {
          const el = document.getElementById('chart-sla');
          const chart = echarts.getInstanceByDom(el);
          const [x, y] = chart.convertToPixel({seriesIndex: 0}, [0, 30]);
          const box = el.getBoundingClientRect();
          return {x: box.left + x + window.scrollX, y: box.top + y + window.scrollY, scrollY: window.scrollY};
        }"""
    )
    page.locator("#chart-sla").scroll_into_view_if_needed()
    box = page.locator("#chart-sla").bounding_box()
    assert box is not None
    x, y = page.evaluate(
        """() => {
          const chart = echarts.getInstanceByDom(document.getElementById('chart-sla'));
          return chart.convertToPixel({seriesIndex: 0}, [0, 30]);
        }"""
    )
    assert point["x"] > 0
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_timeout(400)
    shot("analytics-cockpit")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/analytics/cases/**")
    assert "fig=sla" in page.url and "stage=branch_intake" in page.url and "breach=1" in page.url
    listing = page.inner_text("#table-cases")
    assert "H-3" in listing and "H-1" not in listing
    shot("analytics-drill-down")

    csp = page.evaluate("window.__csp")
    assert csp == [] and errors == [], (csp, errors, missing)


def test_cockpit_and_case_forecast_on_two_years_of_demo_history(page, live_server, shot):
    from analytics import history
    from analytics.selectors import at_risk_forecasts
    from tests.factories import World

    world = World()
    history.seed_history(cases=400)
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(WATCH_CSP)
    page.set_viewport_size({"width": 1400, "height": 1000})
    staff_login(page, live_server.url, world.approver.username)
    page.goto(f"{live_server.url}/analytics/")
    page.wait_for_selector("#chart-flow canvas")
    page.wait_for_timeout(1500)
    shot("analytics-cockpit-history")
    # A funnel step leads to the cases that reached that stage.
    page.locator("#chart-funnel").scroll_into_view_if_needed()
    box = page.locator("#chart-funnel").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + 52)
    page.wait_for_url("**/analytics/cases/**")
    assert "fig=funnel" in page.url and "stage=branch_intake" in page.url
    assert page.locator("#table-cases tbody tr").count() > 50

    risky = at_risk_forecasts(user=world.approver).first()
    assert risky is not None
    page.goto(f"{live_server.url}/cases/{risky.case.public_id}/")
    page.wait_for_selector("#case-forecast")
    assert "延期风险" in page.inner_text("#case-forecast")
    page.locator("#case-forecast").scroll_into_view_if_needed()
    shot("analytics-case-forecast")
    # The case list says the same: P85, at risk, the stage and who holds it.
    page.goto(f"{live_server.url}/cases/?q={risky.case.reference}")
    row = page.locator("table.cases tbody tr", has_text=risky.case.reference)
    assert "延期风险" in row.inner_text() and f"P85 {risky.p85_date:%Y-%m-%d}" in row.inner_text()
    shot("analytics-case-list")
    assert page.evaluate("window.__csp") == [] and errors == [], errors
