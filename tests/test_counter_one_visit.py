"""The counter stage in fewer visits (issue 25): the maker records the identity check and every
operator's K宝 in one form, the checker confirms them in one action (each entry still recorded
and confirmed by itself, never by its maker), and the checker is told only when there is
something to check."""

from __future__ import annotations

import pytest
from django.urls import reverse

from branches.roles import Role
from counter.models import CounterEntry, UKey
from demo.counter_work import add_operators
from notices.models import Notification
from onboarding import services
from onboarding.models import CaseEvent
from onboarding.states import State
from tests.factories import operator_people, user
from tests.html_forms import browser_post_data, form_with, page_forms


@pytest.fixture
def case(world):
    case = world.case(State.UKEY_ISSUANCE)
    add_operators(case, world.maker, operator_people(case.pk))
    return case


def detail(client, who, case) -> str:
    client.force_login(who)
    response = client.get(reverse("case_detail", args=[case.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def next_step_panel(html: str) -> str:
    start = html.index('id="next-step"')
    return html[start : html.index("</section>", start)]


def visit_data(html: str, case, serials: list[str]) -> dict[str, list[str]]:
    """The one-visit form as the page renders it, filled in as the maker would."""
    ent = case.company
    url = reverse("counter:visit", args=[case.public_id])
    (form,) = [f for f in page_forms(html) if f.action == url]
    data = browser_post_data(form)
    data.update(person=["legal_rep"], person_name=[ent.legal_rep_name], id_number=[ent.legal_rep_id_number])
    names = sorted(k for k in data if k.startswith("serial_"))
    assert len(names) == len(serials)
    for name, serial in zip(names, serials, strict=True):
        data[name] = [serial]
    return data


def test_the_makers_panel_lists_what_is_left_and_one_visit_records_it_all(client, world, case):
    html = detail(client, world.maker, case)
    panel = next_step_panel(html)
    assert "临柜身份核验尚未经复核确认" in panel
    for operator in case.operators.all():
        assert f"操作员 {operator.name} 尚无经复核发放的UKey" in panel
    assert 'href="#counter"' in panel
    # Not "nothing for you to do": the maker's own step leads to the counter's form.
    assert '<a class="button primary" href="#counter">柜面录入:身份核验、UKey发放与激活</a>' in panel
    assert "当前没有您可以办理的操作" not in panel
    before = CaseEvent.objects.filter(case=case).count()
    response = client.post(
        reverse("counter:visit", args=[case.public_id]), visit_data(html, case, ["KB-A-01", "KB-A-02"])
    )
    assert response.status_code == 302
    entries = list(CounterEntry.objects.filter(case=case).order_by("pk"))
    assert [e.kind for e in entries] == [
        CounterEntry.Kind.IDENTITY_CHECK,
        CounterEntry.Kind.ISSUE_UKEY,
        CounterEntry.Kind.ISSUE_UKEY,
    ]
    assert {e.status for e in entries} == {CounterEntry.Status.PENDING}
    assert CaseEvent.objects.filter(case=case).count() == before + 3  # each entry recorded by itself
    # The form is not offered again for what is pending.
    assert 'id="counter-visit"' not in detail(client, world.maker, case)


def test_one_visit_is_all_or_nothing(client, world, case):
    html = detail(client, world.maker, case)
    data = visit_data(html, case, ["KB-DUP", "KB-DUP"])  # the same K宝 twice
    # Refused, the case page comes back with the reason and what was typed.
    page = client.post(reverse("counter:visit", args=[case.public_id]), data).content.decode()
    assert not CounterEntry.objects.filter(case=case).exists()
    assert "KB-DUP 已有待复核的发放" in page
    assert page.count('value="KB-DUP"') == 2
    data = visit_data(html, case, ["KB-1", "KB-2"])
    data["id_number"] = ["110101199001011234"]  # not the legal representative's
    client.post(reverse("counter:visit", args=[case.public_id]), data)
    assert not CounterEntry.objects.filter(case=case).exists()


def test_the_checker_confirms_the_makers_visit_in_one_action(client, world, case):
    html = detail(client, world.maker, case)
    client.post(reverse("counter:visit", args=[case.public_id]), visit_data(html, case, ["KB-B-01", "KB-B-02"]))
    client.logout()
    html = detail(client, world.checker, case)
    form = form_with(html, "maker")
    assert form.action == reverse("counter:confirm_all", args=[case.public_id])
    assert "全部复核确认(3 项)" in html
    client.post(form.action, browser_post_data(form))
    entries = CounterEntry.objects.filter(case=case)
    assert {e.status for e in entries} == {CounterEntry.Status.CONFIRMED}
    assert {e.checker for e in entries} == {world.checker}
    assert CaseEvent.objects.filter(case=case, name="counter_entry_confirmed").count() == 3
    assert UKey.objects.filter(case=case, status=UKey.Status.ISSUED).count() == 2
    # Then download and activation of both keys in one action, and one more check.
    client.logout()
    html = detail(client, world.maker, case)
    form = form_with(html, "ukeys")
    client.post(form.action, browser_post_data(form))
    assert CounterEntry.objects.filter(case=case, kind=CounterEntry.Kind.CERT_ACTIVATION, status="pending").count() == 2
    client.logout()
    html = detail(client, world.checker, case)
    form = form_with(html, "maker")
    client.post(form.action, browser_post_data(form))
    assert UKey.objects.filter(case=case, status=UKey.Status.ACTIVATED).count() == 2


def test_nobody_confirms_his_own_entries_even_all_at_once(client, world, case):
    both = user("both_counter", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    html = detail(client, both, case)
    client.post(reverse("counter:visit", args=[case.public_id]), visit_data(html, case, ["KB-C-01", "KB-C-02"]))
    assert CounterEntry.objects.filter(case=case, maker=both).count() == 3
    html = detail(client, both, case)
    assert 'name="maker"' not in html  # no "confirm all" for one's own entries
    client.post(reverse("counter:confirm_all", args=[case.public_id]), {"maker": both.pk, "version": case.version})
    assert not CounterEntry.objects.filter(case=case, status=CounterEntry.Status.CONFIRMED).exists()
    assert "不能复核自己录入的事项" in client.get(reverse("case_detail", args=[case.public_id])).content.decode()


def test_another_branchs_checker_gets_404(client, world, case):
    html = detail(client, world.maker, case)
    client.post(reverse("counter:visit", args=[case.public_id]), visit_data(html, case, ["KB-D-01", "KB-D-02"]))
    outsider = user("checker_b", Role.COUNTER_CHECKER, branch=world.branch_b)
    client.force_login(outsider)
    url = reverse("counter:confirm_all", args=[case.public_id])
    assert client.post(url, {"maker": world.maker.pk}).status_code == 404
    assert not CounterEntry.objects.filter(case=case, status=CounterEntry.Status.CONFIRMED).exists()


def test_the_checker_is_not_handed_the_case_before_there_is_something_to_check(world, case):
    services.production_config_record(
        case=case,
        user=world.tech,
        production_endpoint="https://h2h.bank.example",
        certificate_serial="PROD-1",
        production_accounts=case.enterprise.accounts.order_by("pk").first().account_number,
    )
    told = Notification.objects.filter(recipient=world.checker)
    assert not told.filter(text__contains="现由您办理").exists()
    assert not told.exists()  # nothing to check yet: the maker has recorded nothing


def test_the_new_parts_of_the_case_page_in_english(client, world, case):
    from django.conf import settings

    from tests.test_i18n import chinese_labels

    intake = world.case(State.BRANCH_INTAKE, documents=False)
    html = detail(client, world.maker, case)
    client.post(reverse("counter:visit", args=[case.public_id]), visit_data(html, case, ["KB-E-01", "KB-E-02"]))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for who, c in ((world.maker, case), (world.checker, case), (world.am_a, intake)):
        page = detail(client, who, c)
        assert chinese_labels(page) == [], (who, chinese_labels(page))
    assert "Confirm all (3 items)" in detail(client, world.checker, case)
    page = detail(client, world.am_a, intake)
    assert "Other actions (rare, confirmation required)" in page and "Upload a signed form" in page
