""" "轮到我办理" holds more than the cases whose stage I hold: entries to check, configurations to issue."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from branches.roles import Role
from counter.models import CounterEntry
from onboarding import services
from onboarding.states import State
from tests.factories import enterprise, user


def home(client, who) -> str:
    client.force_login(who)
    page = client.get(reverse("home"))
    assert page.status_code == 200
    client.logout()
    return page.content.decode()


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
    assert "目前没有等您办理的案件" not in page
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
