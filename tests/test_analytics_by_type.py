"""The cockpit by case type (issue 22): onboarding and each request type of the registry, with
cycle time and where they wait per stage, read from the facts; rendered as head office."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.facts import facts_refresh
from analytics.models import VisitFact
from casetypes import declaration
from links import services
from links.models import LiveLink
from links.requests import ukey_loss
from onboarding.models import OnboardingCase
from onboarding.states import State

pytestmark = pytest.mark.django_db


class _Rows(HTMLParser):
    """The body rows of one table of the page, as a browser shows their cells."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.in_body = table_id, False, False
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tbody":
            self.in_body = True
        elif self.in_body and tag == "tr":
            self.rows.append([])
        elif self.in_body and tag == "td":
            self.cell = []

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self.in_body and tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table" and self.inside:
            self.inside = self.in_body = False


def _table(html: str, key: str) -> list[list[str]]:
    parser = _Rows(f"table-{key}")
    parser.feed(html)
    return [r for r in parser.rows if len(r) > 1]  # not the "no data" row


def test_the_cockpit_shows_cycle_time_and_waiting_per_case_type(client, world) -> None:
    live = [world.case(State.LIVE) for _ in range(2)]
    open_onboarding = world.case(State.JOINT_TESTING)
    links = [LiveLink.objects.get(onboarding_case=c) for c in live]
    # A UKey loss replaced and confirmed (done), another still waiting at the counter.
    done_key = links[0].current_operators().exclude(ukey=None).first().ukey
    done = services.ukey_loss_report(link=links[0], ukey=done_key, user=world.customer_x, reason="遗失")
    services.ukey_replacement_make(
        request=done,
        user=world.maker,
        serial="KB-NEW-9",
        expires_on=timezone.localdate() + dt.timedelta(days=700),
    )
    services.ukey_replacement_confirm(request=done, user=world.checker)
    waiting_key = links[1].current_operators().exclude(ukey=None).first().ukey
    waiting = services.ukey_loss_report(link=links[1], ukey=waiting_key, user=world.customer_x, reason="遗失")
    assert OnboardingCase.objects.get(pk=done.case_id).state == ukey_loss.DONE
    ids = [c.pk for c in [*live, open_onboarding]] + [done.case_id, waiting.case_id]
    facts_refresh(case_ids=ids)
    # The request stages are facts like the onboarding stages.
    assert VisitFact.objects.filter(case_id=done.case_id).exists()
    assert VisitFact.objects.filter(case_id=waiting.case_id, left_at__isnull=True).exists()

    client.force_login(world.approver)
    html = client.get(reverse("analytics:cockpit")).content.decode()
    cycle = {row[0]: row for row in _table(html, "type_cycle")}
    onboarding_label = str(declaration.case_type("onboarding").label)
    assert set(cycle) == {onboarding_label, "UKey挂失补办"}
    assert cycle[onboarding_label][1] == "2" and cycle[onboarding_label][4] == "1"  # 2 live, 1 open
    assert cycle["UKey挂失补办"][1] == "1" and cycle["UKey挂失补办"][4] == "1"  # 1 done, 1 waiting
    stages = _table(html, "type_stage")
    loss_rows = [r for r in stages if r[0] == "UKey挂失补办"]
    assert loss_rows and sum(int(r[7]) for r in loss_rows) == 1  # one request waiting, in its stage
    assert sum(int(r[2]) for r in loss_rows) >= 1  # the stages the done request passed
    joint = next(r for r in stages if r[0] == onboarding_label and r[1] == "联调测试")
    assert joint[7] == "1"  # the onboarding case waiting in joint testing

    # A branch supervisor of the other tier-1 branch sees none of it.
    client.force_login(world.supervisor_other)
    other = client.get(reverse("analytics:cockpit")).content.decode()
    assert not _table(other, "type_cycle")
