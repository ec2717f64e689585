"""Hand-offs the next person is told about: the counter checker and head-office tech at UKey issuance."""

from __future__ import annotations

from django.core import mail
from django.urls import reverse

from branches.roles import Role
from counter.models import CounterEntry
from demo.counter_work import record_all_tests_passed
from notices.models import EmailPreference, OutboxEmail
from onboarding import services
from onboarding.models import CaseEvent
from onboarding.states import State
from tests.factories import user


def bell(client, who) -> str:
    client.force_login(who)
    page = client.get(reverse("notification_list"))
    assert page.status_code == 200
    client.logout()
    return page.content.decode()


def test_a_counter_entry_tells_the_outlets_checkers_but_not_its_maker_or_another_outlet(
    client, world, django_capture_on_commit_callbacks
) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    checker_b = user("checker_b", Role.COUNTER_CHECKER, branch=world.branch_b)
    both = user("both_a", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    ent = case.enterprise
    client.force_login(both)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("counter:identity_check", args=[case.public_id]),
            {"person": "legal_rep", "person_name": ent.legal_rep_name, "id_number": ent.legal_rep_id_number},
        )
    client.logout()
    entry = CounterEntry.objects.get(case=case)
    assert entry.maker == both
    assert "待您复核" in bell(client, world.checker) and case.reference in bell(client, world.checker)
    for other in (both, checker_b, world.maker, world.am_a):
        assert "待您复核" not in bell(client, other), other
    row = OutboxEmail.objects.get(key=f"counter-entry:{entry.pk}")
    assert row.kind == "counter_check" and row.to == [world.checker.email]
    sent = [m for m in mail.outbox if m.to == [world.checker.email]]
    assert len(sent) == 1 and case.reference in sent[0].subject and "#counter" in sent[0].body


def test_a_confirmation_tells_no_checker_again(client, world, django_capture_on_commit_callbacks) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    ent = case.enterprise
    client.force_login(world.maker)
    client.post(
        reverse("counter:identity_check", args=[case.public_id]),
        {"person": "legal_rep", "person_name": ent.legal_rep_name, "id_number": ent.legal_rep_id_number},
    )
    client.force_login(world.checker)
    entry = CounterEntry.objects.get(case=case)
    client.post(reverse("counter:entry_confirm", args=[case.public_id, entry.public_id]))
    assert OutboxEmail.objects.filter(kind="counter_check").count() == 1
    assert bell(client, world.checker).count("待您复核") == 1


def test_tests_accepted_tell_the_counter_makers_and_head_office_tech(client, world) -> None:
    tech2 = user("tech2", Role.TECH_REVIEWER, branch=world.head_office)
    case = world.case(State.JOINT_TESTING)
    record_all_tests_passed(case, world.customer_x)
    case.refresh_from_db()
    services.case_transition(case=case, user=world.tech, name="accept_test_report", expected_version=case.version)
    event = CaseEvent.objects.get(case=case, name="accept_test_report")
    text = f"{case.reference} {case.enterprise.name}:{event.label},现由您办理"
    for told in (world.maker, tech2):
        assert text in bell(client, told), told
    for not_told in (world.tech, world.checker, world.supervisor_other, world.am_a):
        assert text not in bell(client, not_told), not_told
    row = OutboxEmail.objects.get(key=f"event:{event.pk}")
    assert sorted(row.to) == sorted([world.maker.email, tech2.email])


def _enter_identity(client, world, case) -> CounterEntry:
    ent = case.enterprise
    client.force_login(world.maker)
    client.post(
        reverse("counter:identity_check", args=[case.public_id]),
        {"person": "legal_rep", "person_name": ent.legal_rep_name, "id_number": ent.legal_rep_id_number},
    )
    client.logout()
    return CounterEntry.objects.filter(case=case).latest("pk")


def test_a_checker_who_turns_counter_mail_off_gets_the_bell_but_no_mail(client, world) -> None:
    checker2 = user("checker2", Role.COUNTER_CHECKER, branch=world.branch_a)
    client.force_login(world.checker)
    page = client.get(reverse("email_preferences")).content.decode()
    assert page.count('type="checkbox"') == 3 and page.count(" checked") == 3  # mail on by default
    # The browser posts only the boxes left ticked: counter checks unticked.
    client.post(reverse("email_preferences"), {"email": ["handoff", "message"]})
    page = client.get(reverse("email_preferences")).content.decode()
    assert 'value="counter_check">' in page and 'value="handoff" checked' in page
    client.logout()

    case = world.case(State.UKEY_ISSUANCE)
    entry = _enter_identity(client, world, case)
    assert "待您复核" in bell(client, world.checker)  # in-app stays on
    assert "待您复核" in bell(client, checker2)
    row = OutboxEmail.objects.get(key=f"counter-entry:{entry.pk}")
    assert row.to == [checker2.email]  # the checker who kept mail on


def test_nobody_left_wanting_mail_means_no_mail_at_all(client, world) -> None:
    client.force_login(world.checker)
    client.post(reverse("email_preferences"), {})
    client.logout()
    case = world.case(State.UKEY_ISSUANCE)
    entry = _enter_identity(client, world, case)
    assert "待您复核" in bell(client, world.checker)
    assert not OutboxEmail.objects.filter(key=f"counter-entry:{entry.pk}").exists()
    # Another person's choice is theirs: the maker's hand-off mail is untouched.
    assert not EmailPreference.objects.filter(user=world.maker).exists()


def test_the_preferences_page_needs_a_login(client) -> None:
    response = client.get(reverse("email_preferences"))
    assert response.status_code == 302 and "login" in response["Location"]
