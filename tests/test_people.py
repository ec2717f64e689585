"""People change (issue 23): a supervisor reassigns work after a preview, an absence hands
arriving work to a substitute ("代 X 办理"), a deactivated user holds nothing. Read and posted
as a browser would (the rendered forms, `tests/html_forms.py`), each rule from both sides."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from branches.roles import Role
from counter import services as counter
from counter.models import CounterEntry
from notices.models import Notification
from onboarding import services
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.services import CaseError
from onboarding.states import State
from people.checks import inactive_holders, inactive_holdings
from people.models import Absence, EntryHolder, LeaverItem
from tests.factories import enterprise, fill_assessment, user
from tests.html_forms import browser_post_data, form_with, page_forms


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def queue_text(client, who) -> str:
    client.force_login(who)
    page = client.get(reverse("home")).content.decode()
    client.logout()
    match = re.search(r'<section class="card" id="queue">(.*?)</section>', page, re.S)
    return text(match.group(1)) if match else ""


def preview_and_confirm(client, url: str, *, items: list[str], target, reason: str):
    """Tick `items` on the work page, choose the target, preview, then confirm the preview as shown."""
    page = client.get(url).content.decode()
    form = form_with(page, "target")
    data = browser_post_data(form)
    data["item"] = items
    data["target"] = [str(target.pk)]
    data["reason"] = [reason]
    preview = client.post(form.action, data)
    assert preview.status_code == 200
    html = preview.content.decode()
    confirm = next(f for f in page_forms(html) if "reassign" in f.action)
    return html, client.post(confirm.action, browser_post_data(confirm), follow=True)


def test_a_supervisor_reassigns_one_case_after_a_preview_and_the_new_holder_has_it(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE)
    other = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="丙公司"))
    assert case.reference in queue_text(client, world.am_a)

    client.force_login(world.supervisor)
    home = client.get(reverse("home")).content.decode()
    assert reverse("people:work", args=[world.am_a.username]) in home  # the team table's action
    html, done = preview_and_confirm(
        client,
        reverse("people:work", args=[world.am_a.username]),
        items=[f"case:{case.public_id}"],
        target=world.am_a2,
        reason="客户经理调岗",
    )
    assert case.reference in html and "将转交" in html and other.reference not in text(html).split("转交预览")[1]
    assert "已转交 1 项工作给 am_a2" in done.content.decode()

    case.refresh_from_db()
    assert case.account_manager == world.am_a2
    assert OnboardingCase.objects.get(pk=other.pk).account_manager == world.am_a  # not chosen: stays
    event = CaseEvent.objects.filter(case=case, name="case_reassigned").get()
    assert event.actor == world.supervisor and event.reason == "客户经理调岗"
    assert (event.data["from"], event.data["to"], event.data["by"]) == (
        world.am_a.pk,
        world.am_a2.pk,
        world.supervisor.pk,
    )
    assert Notification.objects.filter(recipient=world.am_a2, case=case).exists()  # the bell
    assert case.reference in queue_text(client, world.am_a2)
    assert case.reference not in queue_text(client, world.am_a)
    client.force_login(world.supervisor)
    page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert "am_a → am_a2" in text(page)


def test_another_branch_supervisor_cannot_see_or_move_the_work(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.supervisor_other)
    assert client.get(reverse("people:work", args=[world.am_a.username])).status_code == 404
    data = {"item": [f"case:{case.public_id}"], "target": [world.am_b.pk], "reason": ["x"], "role": ["account_manager"]}
    assert client.post(reverse("people:work_preview", args=[world.am_a.username]), data).status_code == 404
    assert client.post(reverse("people:work_reassign", args=[world.am_a.username]), data).status_code == 404
    # Head office sees the whole bank.
    client.force_login(world.approver)
    assert client.get(reverse("people:work", args=[world.am_a.username])).status_code == 200
    # An account manager is no manager: the pages are not his.
    client.force_login(world.am_a2)
    assert client.get(reverse("people:work", args=[world.am_a.username])).status_code == 404
    case.refresh_from_db()
    assert case.account_manager == world.am_a


def test_a_reassignment_to_someone_without_the_role_is_a_form_error(client, world) -> None:
    case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.supervisor)
    url = reverse("people:work", args=[world.am_a.username])
    page = client.get(url).content.decode()
    assert (
        f'value="{world.maker.pk}"'
        not in form_with(page, "target").action + page.split('name="target"')[1].split("</select>")[0]
    )
    data = browser_post_data(form_with(page, "target"))
    data.update(item=[f"case:{case.public_id}"], target=[str(world.maker.pk)], reason=["调岗"])
    response = client.post(reverse("people:work_preview", args=[world.am_a.username]), data)
    assert "maker 不是客户经理,不能接手该工作" in response.content.decode()
    case.refresh_from_db()
    assert case.account_manager == world.am_a
    assert not CaseEvent.objects.filter(case=case, name="case_reassigned").exists()


def test_a_deactivated_user_holds_nothing_and_the_leaver_queue_hands_it_on(client, world) -> None:
    cases = [world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a)) for _ in range(3)]
    world.case(State.BRANCH_INTAKE, company=world.company_y)  # branch B: not am_a's

    world.am_a.is_active = False
    world.am_a.save()  # as the admin (or the directory sync) does

    assert inactive_holdings() == dict.fromkeys(inactive_holdings(), 0)
    assert inactive_holders(databases=["default"]) == []
    for case in cases:
        case.refresh_from_db()
        assert case.account_manager is None
        assert CaseEvent.objects.filter(case=case, name="holder_left", data__from=world.am_a.pk).exists()
    assert LeaverItem.objects.filter(former=world.am_a, resolved_at__isnull=True).count() == 3

    client.force_login(world.supervisor_other)  # another branch's supervisor sees none of it
    assert not any(c.reference in client.get(reverse("people:leavers")).content.decode() for c in cases)

    client.force_login(world.supervisor)
    html, _done = preview_and_confirm(
        client,
        reverse("people:leavers"),
        items=[f"case:{c.public_id}" for c in cases],
        target=world.am_a2,
        reason="离职交接",
    )
    assert html.count("<td>将转交</td>") == 3
    assert html.count("am_a(已停用,离职交接队列)") == 3
    assert OnboardingCase.objects.filter(pk__in=[c.pk for c in cases], account_manager=world.am_a2).count() == 3
    assert not LeaverItem.objects.filter(resolved_at__isnull=True).exists()
    queue = queue_text(client, world.am_a2)
    assert all(c.reference in queue for c in cases)


def test_the_check_finds_work_left_with_an_inactive_user_and_the_command_releases_it(world) -> None:
    case = world.case(State.BRANCH_INTAKE)
    type(world.am_a).objects.filter(pk=world.am_a.pk).update(is_active=False)  # no signal
    found = inactive_holders(databases=["default"])
    assert {e.id for e in found} == {"people.E001"} and any("open cases" in e.msg for e in found)
    call_command("release_leavers", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert inactive_holders(databases=["default"]) == []
    case.refresh_from_db()
    assert case.account_manager is None


def absence_form_post(client, who, **values):
    client.force_login(who)
    page = client.get(reverse("people:absences")).content.decode()
    form = form_with(page, "starts_on")
    data = browser_post_data(form)
    data.update({k: [str(v)] for k, v in values.items()})
    return client.post(reverse("people:absences"), data)


def test_an_absence_hands_arriving_work_to_the_substitute_and_the_record_names_both(client, world) -> None:
    today = timezone.localdate()
    starts, ends = today, today + dt.timedelta(days=7)
    # Refused: the substitute holds another role; the dates survive the re-rendered form.
    refused = absence_form_post(client, world.am_a, starts_on=starts, ends_on=ends, substitute=world.maker.pk)
    html = refused.content.decode()
    assert "maker 不是客户经理,不能代办" in html
    assert form_with(html, "starts_on").date_inputs() == {"starts_on": starts.isoformat(), "ends_on": ends.isoformat()}
    assert not Absence.objects.exists()

    saved = absence_form_post(
        client, world.am_a, starts_on=starts, ends_on=ends, substitute=world.am_a2.pk, reason="年假"
    )
    assert saved.status_code == 302
    absence = Absence.objects.get()
    assert (absence.person, absence.substitute, absence.starts_on, absence.ends_on) == (
        world.am_a,
        world.am_a2,
        starts,
        ends,
    )

    draft = world.case(State.DRAFT)
    services.case_transition(case=draft, user=world.customer_x, name="submit")  # work arrives
    assert Notification.objects.filter(recipient=world.am_a2, case=draft, text__contains="代 am_a 办理").exists()
    queue = queue_text(client, world.am_a2)
    assert "代 am_a 办理" in queue and draft.reference in queue
    client.force_login(world.am_a2)
    page = text(client.get(reverse("case_detail", args=[draft.public_id])).content.decode())
    assert "由 am_a2 代 am_a 办理" in page

    fill_assessment(OnboardingCase.objects.get(pk=draft.pk), world.am_a2)  # the substitute acts
    event = CaseEvent.objects.filter(case=draft, actor=world.am_a2).latest("pk")
    assert event.data["on_behalf_of"] == world.am_a.pk and event.data["on_behalf_of_name"] == "am_a"
    page = text(client.get(reverse("case_detail", args=[draft.public_id])).content.decode())
    assert "am_a2 代 am_a 办理" in page  # the timeline names both

    # Someone else's absence: am_b's colleague of another branch sees none of it.
    assert "代 am_a" not in queue_text(client, world.am_b)


def test_another_person_cannot_set_my_absence_unless_supervising_me(world) -> None:
    from people.services import absence_set

    today = timezone.localdate()
    with pytest.raises(CaseError):
        absence_set(actor=world.am_a2, person=world.am_a, starts_on=today, ends_on=today, substitute=None)
    with pytest.raises(CaseError):
        absence_set(actor=world.supervisor_other, person=world.am_a, starts_on=today, ends_on=today, substitute=None)
    absence = absence_set(actor=world.supervisor, person=world.am_a, starts_on=today, ends_on=today, substitute=None)
    assert absence.substitute is None and absence.role == Role.ACCOUNT_MANAGER


def _pending_identity_check(world, case):
    company = case.company
    return counter.identity_check_make(
        case=case,
        user=world.maker,
        person="legal_rep",
        person_name=company.legal_rep_name,
        id_number=company.legal_rep_id_number,
    )


def test_a_delegate_may_not_check_the_entry_of_the_maker_they_stand_in_for_nor_their_own(client, world) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    entry = _pending_identity_check(world, case)
    both = user("both", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    today = timezone.localdate()
    Absence.objects.create(
        person=world.maker, role=Role.COUNTER_MAKER, starts_on=today, ends_on=today, substitute=both, set_by=world.maker
    )

    client.force_login(both)
    page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert reverse("counter:entry_confirm", args=[case.public_id, entry.public_id]) not in page
    response = client.post(
        reverse("counter:entry_confirm", args=[case.public_id, entry.public_id]), {"version": case.version}, follow=True
    )
    assert "不能复核由您代为负责的录入事项" in response.content.decode()
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.PENDING
    assert entry.public_id and "复核:" not in queue_text(client, both)

    # Nor their own entry, delegate or not.
    other = world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a))
    company = other.company
    own = counter.identity_check_make(
        case=other,
        user=both,
        person="legal_rep",
        person_name=company.legal_rep_name,
        id_number=company.legal_rep_id_number,
    )
    with pytest.raises(CaseError, match="不能复核自己录入的事项"):
        counter.entry_confirm(entry=own, user=both)
    # The outlet's own checker may.
    counter.entry_confirm(entry=CounterEntry.objects.get(pk=entry.pk), user=world.checker)


def test_a_leavers_pending_entry_goes_to_the_leaver_queue_and_on_to_another_maker(client, world) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    entry = _pending_identity_check(world, case)
    maker2 = user("maker2", Role.COUNTER_MAKER, branch=world.branch_a)
    world.maker.is_active = False
    world.maker.save()
    assert EntryHolder.objects.get(entry=entry).holder is None
    assert inactive_holdings()["pending counter entries"] == 0

    client.force_login(world.supervisor)
    url = reverse("people:leavers") + "?role=counter_maker"
    assert case.reference in client.get(url).content.decode()
    _html, _done = preview_and_confirm(
        client, url, items=[f"entry:{entry.public_id}"], target=maker2, reason="离职交接"
    )
    assert EntryHolder.objects.get(entry=entry).holder == maker2
    assert CaseEvent.objects.filter(case=case, name="counter_entry_reassigned", data__to=maker2.pk).exists()
    # The new holder answers for it: may cancel it as its maker could.
    counter.entry_cancel(entry=CounterEntry.objects.get(pk=entry.pk), user=maker2)


def test_a_reassignment_that_would_leave_an_entry_with_no_one_to_check_it_is_refused(client, world) -> None:
    case = world.case(State.UKEY_ISSUANCE)
    entry = _pending_identity_check(world, case)
    world.checker.is_active = False
    world.checker.save()
    both = user("both", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    client.force_login(world.supervisor)
    html, _done = preview_and_confirm(
        client,
        reverse("people:work", args=[world.maker.username]) + "?role=counter_maker",
        items=[f"entry:{entry.public_id}"],
        target=both,
        reason="调岗",
    )
    assert "本网点再无其他复核人可复核该事项" in html
    assert not EntryHolder.objects.filter(entry=entry).exists()


def test_an_administrator_deactivating_a_user_in_the_admin_releases_their_work(client, world) -> None:
    """The contract with the directory sign-in: a user saved with is_active=False (here through
    the admin's own change form, untouched but for the box) holds nothing afterwards."""
    from django.contrib.auth import get_user_model

    case = world.case(State.BRANCH_INTAKE)
    admin = get_user_model().objects.create_superuser("root", "root@bank.example", "x-Strong-pass-1")
    client.force_login(admin)
    url = reverse("admin:accounts_user_change", args=[world.am_a.pk])
    form = form_with(client.get(url).content.decode(), "username")
    data = browser_post_data(form)
    data.pop("is_active", None)  # the box unticked
    data["_save"] = ["保存"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    world.am_a.refresh_from_db()
    assert not world.am_a.is_active
    case.refresh_from_db()
    assert case.account_manager is None
    assert LeaverItem.objects.filter(former=world.am_a, case=case, resolved_at__isnull=True).exists()
    event = CaseEvent.objects.get(case=case, name="holder_left")
    assert event.actor == admin and event.data["by"] == admin.pk and event.data["from"] == world.am_a.pk
    # Saving the inactive user again moves nothing twice.
    world.am_a.save()
    assert CaseEvent.objects.filter(case=case, name="holder_left").count() == 1


def test_reminders_and_escalations_follow_the_new_holder_at_once(client, world) -> None:
    from onboarding.models import StageVisit
    from people.services import Move, work_reassign
    from reminders import services as reminders

    case = world.case(State.BRANCH_INTAKE)
    work_reassign(
        actor=world.supervisor,
        moves=[Move(case=case, entry=None, holder=world.am_a)],
        target=world.am_a2,
        reason="调岗",
    )
    StageVisit.objects.filter(pk=case.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=30))
    reminders.reminders_sweep()
    reminded = set(
        Notification.objects.filter(case=case, kind="reminder").values_list("recipient__username", flat=True)
    )
    assert "am_a2" in reminded and "am_a" not in reminded
    assert "supervisor" in reminded  # the escalation goes up from the case's branch, as before


def test_a_leaver_stands_in_for_nobody_and_their_own_absences_end(world) -> None:
    today = timezone.localdate()
    covered = Absence.objects.create(
        person=world.am_a,
        role=Role.ACCOUNT_MANAGER,
        starts_on=today,
        ends_on=today,
        substitute=world.am_a2,
        set_by=world.am_a,
    )
    own = Absence.objects.create(
        person=world.am_a2,
        role=Role.ACCOUNT_MANAGER,
        starts_on=today,
        ends_on=today,
        substitute=None,
        set_by=world.am_a2,
    )
    world.am_a2.is_active = False
    world.am_a2.save()
    covered.refresh_from_db()
    own.refresh_from_db()
    assert covered.substitute is None and covered.cancelled_at is None  # the branch's role queue takes over
    assert own.cancelled_at is not None
    assert inactive_holdings()["substitutions"] == 0
