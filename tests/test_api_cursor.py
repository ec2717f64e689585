"""API lists by cursor (issue 26): every row once, no COUNT(*), no OFFSET, scope kept."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.api_helpers import bank_api, enterprise_api


def _walk(api, url: str, *, between=None) -> list[str]:
    """Follow `next` as given, as a client does, to the last page."""
    seen: list[str] = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert "count" not in body
        seen += [row["id"] for row in body["results"]]
        if between is not None:
            between()
        url = body["next"]
    return seen


def _cases(world):
    with freeze_time("2026-03-02 09:00:00"):  # several cases of one instant: the id breaks the tie
        for _ in range(4):
            world.case(State.DRAFT)
    for _ in range(3):
        world.case(State.DRAFT)
    other = [world.case(State.DRAFT, company=world.company_y) for _ in range(2)]
    mine = {
        str(c) for c in OnboardingCase.objects.filter(enterprise=world.company_x).values_list("public_id", flat=True)
    }
    return mine, {str(c.public_id) for c in other}


def test_walking_the_cursor_visits_every_case_of_the_company_once(world):
    mine, other = _cases(world)
    api = enterprise_api(world.company_x)
    seen = _walk(api, "/api/v1/cases/?page_size=2")
    assert len(seen) == len(set(seen)) == len(mine) == 7 and set(seen) == mine
    assert not set(seen) & other  # another company's cases never appear
    everything = _walk(bank_api(world.head_office, "head_office_approver"), "/api/v1/cases/?page_size=3")
    assert set(everything) == mine | other and len(everything) == len(mine | other)


def test_cases_opened_during_the_walk_neither_repeat_nor_hide_one(world):
    mine, _other = _cases(world)
    api = enterprise_api(world.company_x)
    seen = _walk(api, "/api/v1/cases/?page_size=2", between=lambda: world.case(State.DRAFT))
    assert len(seen) == len(set(seen)) and mine <= set(seen)


def test_previous_link_gives_the_same_page_back(world):
    _cases(world)
    api = enterprise_api(world.company_x)
    first = api.get("/api/v1/cases/?page_size=2").json()
    assert first["previous"] is None
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    back = api.get(third["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in second["results"]]
    top = api.get(second["previous"]).json()
    assert [r["id"] for r in top["results"]] == [r["id"] for r in first["results"]] and top["previous"] is None


def test_a_page_reads_no_count_and_no_offset(world):
    _cases(world)
    api = enterprise_api(world.company_x)
    first = api.get("/api/v1/cases/?page_size=2").json()
    deep = api.get(api.get(first["next"]).json()["next"]).json()
    assert deep["results"]
    counts = []
    for url in ("/api/v1/cases/?page_size=2", first["next"]):
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(url).status_code == 200
        sql = [q["sql"].upper() for q in ctx.captured_queries]
        assert not [s for s in sql if "COUNT(" in s], sql
        assert not [s for s in sql if "OFFSET" in s], sql
        counts.append(len(sql))
    assert counts[0] == counts[1]


def test_page_numbers_are_refused_with_a_reason_and_bad_cursors_too(world):
    _cases(world)
    api = enterprise_api(world.company_x)
    assert api.get("/api/v1/cases/?page=1").status_code == 200
    refused = api.get("/api/v1/cases/?page=2")
    assert refused.status_code == 404 and "next" in refused.json()["detail"]
    for junk in ("x", "W10", "WyJuIiwiMjAyNi0wMyIsIngiXQ"):
        assert api.get(f"/api/v1/cases/?cursor={junk}").status_code == 404, junk


def test_a_cursor_of_another_company_shows_only_ones_own(world):
    _cases(world)
    theirs = enterprise_api(world.company_y).get("/api/v1/cases/?page_size=1").json()
    assert theirs["next"]
    mine = enterprise_api(world.company_x).get(theirs["next"]).json()
    ids = {
        str(c) for c in OnboardingCase.objects.filter(enterprise=world.company_x).values_list("public_id", flat=True)
    }
    assert mine["results"] and {r["id"] for r in mine["results"]} <= ids


def test_the_history_pages_oldest_first_by_cursor(world):
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    api = bank_api(world.head_office, "head_office_approver")
    seen = _walk(api, f"/api/v1/cases/{case.public_id}/events/?page_size=2")
    expected = list(case.events.order_by("created_at", "pk").values_list("pk", flat=True))
    assert len(expected) > 2 and seen == expected
