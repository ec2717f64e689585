"""Periodic review (定期复核) of live links by risk level, from the users' side (issue 22).

- The beat sweep opens one review per link when it falls due (go-live plus the months of its
  risk level, configurable); run again it opens nothing more (idempotent); a closed link gets none.
- The account manager finds it in the queue and closes it on the case page; the next review
  counts from that close.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from links import changes, services
from links.models import LinkRequest, LinkStatus, LiveLink
from links.requests import periodic_review as pr
from links.tasks import periodic_reviews
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.html_forms import browser_post_data, page_forms


def _went_live(link: LiveLink, days_ago: int) -> None:
    LiveLink.objects.filter(pk=link.pk).update(went_live_at=timezone.now() - dt.timedelta(days=days_ago))


def test_the_sweep_opens_one_review_when_due_by_risk_level(world, settings, client):
    settings.LINK_REVIEW_MONTHS = {"high": 6, "medium": 24, "low": 36}
    case = world.case(State.LIVE)
    link = LiveLink.objects.get(onboarding_case=case)
    OnboardingCase.objects.filter(pk=case.pk).update(risk_level="high")
    _went_live(link, 150)  # five months: not due for a high risk (six)
    assert periodic_reviews() == 0
    _went_live(link, 200)
    assert periodic_reviews() == 1
    assert periodic_reviews() == 0  # idempotent: one open review per link
    request = LinkRequest.objects.get(link=link, kind=pr.CODE)
    assert request.channel == "system" and request.opened_by == world.am_a
    review = OnboardingCase.objects.get(pk=request.case_id)
    assert review.state == pr.REVIEW and review.current_visit.holder_role == "account_manager"
    # Low risk would not have been due yet.
    OnboardingCase.objects.filter(pk=case.pk).update(risk_level="low")
    link.refresh_from_db()
    assert changes.review_due_on(link) > timezone.localdate()
    # The account manager finds it in the queue and closes it on the case page.
    client.force_login(world.am_a)
    home = client.get("/").content.decode()
    assert review.reference in home and "复核直联服务" in home
    page = client.get(f"/cases/{review.public_id}/").content.decode()
    form = next(f for f in page_forms(page) if f.action.endswith("/transition/periodic_review_passed/"))
    response = client.post(form.action, browser_post_data(form), follow=True)
    assert "定期复核已办结" in " ".join(str(m) for m in response.context["messages"])
    request.refresh_from_db()
    assert not request.is_open
    # The next review counts from this close.
    OnboardingCase.objects.filter(pk=case.pk).update(risk_level="high")
    link.refresh_from_db()
    assert changes.review_due_on(link) == changes._add_months(timezone.localdate(request.closed_at), 6)
    assert periodic_reviews() == 0


def test_no_review_on_a_closed_link(world, settings):
    settings.LINK_REVIEW_MONTHS = {"high": 6, "medium": 6, "low": 6}
    link = LiveLink.objects.get(onboarding_case=world.case(State.LIVE))
    _went_live(link, 400)
    services.link_status_set(link=link, status=LinkStatus.CLOSED, actor=world.supervisor, reason="注销")
    assert periodic_reviews() == 0
    assert not LinkRequest.objects.filter(link=link).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_open_one_review(settings):
    import threading

    from django.db import connection

    from tests.factories import World

    assert connection.vendor == "postgresql"
    settings.LINK_REVIEW_MONTHS = {"high": 6, "medium": 6, "low": 6}
    world = World()
    link = LiveLink.objects.get(onboarding_case=world.case(State.LIVE))
    _went_live(link, 400)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def sweep() -> None:
        try:
            barrier.wait()
            counts.append(periodic_reviews())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(counts) == [0, 1]
    assert LinkRequest.objects.filter(link=link, kind=pr.CODE).count() == 1
