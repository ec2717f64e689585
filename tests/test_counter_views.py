"""The counter panel on the case page and the counter URLs: scoped, and driving the services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from branches.roles import Role
from counter.models import CounterEntry, Operator
from demo.counter_work import confirm_identity
from onboarding.states import State
from tests.factories import resident_id, user


def _login(client, u):
    client.force_login(u)  # a complete login, second factor included (tests/conftest.py)
    return client


@pytest.fixture
def case(world):
    return world.case(State.UKEY_ISSUANCE)


def test_panel_shows_entries_register_and_maker_forms(client, world, case):
    confirm_identity(case, world.maker, world.checker)
    page = _login(client, world.maker).get(reverse("case_detail", args=[case.public_id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "临柜身份核验" in html and "已复核生效" in html and "企业操作员与UKey登记簿" in html
    assert reverse("counter:ukey_issue", args=[case.public_id]) in html
    assert "测试用例" in html


def test_checker_sees_confirm_only_for_others_entries(client, world, case):
    ent = case.enterprise
    _login(client, world.maker).post(
        reverse("counter:identity_check", args=[case.public_id]),
        {"person": "legal_rep", "person_name": ent.legal_rep_name, "id_number": ent.legal_rep_id_number},
    )
    entry = CounterEntry.objects.get()
    assert entry.maker == world.maker
    confirm_url = reverse("counter:entry_confirm", args=[case.public_id, entry.public_id])
    assert confirm_url not in client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    client.logout()
    _login(client, world.checker)
    assert confirm_url in client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    client.post(confirm_url)
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.CONFIRMED


def test_maker_confirming_own_entry_through_the_url_is_refused(client, world, case):
    both = user("both_counter", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    ent = case.enterprise
    _login(client, both)
    client.post(
        reverse("counter:identity_check", args=[case.public_id]),
        {"person": "legal_rep", "person_name": ent.legal_rep_name, "id_number": ent.legal_rep_id_number},
    )
    entry = CounterEntry.objects.get()
    response = client.post(reverse("counter:entry_confirm", args=[case.public_id, entry.public_id]), follow=True)
    assert "不能复核自己" in response.content.decode()
    entry.refresh_from_db()
    assert entry.status == CounterEntry.Status.PENDING


def test_counter_staff_of_another_branch_get_404(client, world, case):
    maker_b = user("maker_b", Role.COUNTER_MAKER, branch=world.branch_b)
    _login(client, maker_b)
    assert client.get(reverse("case_detail", args=[case.public_id])).status_code == 404
    response = client.post(
        reverse("counter:operator_add", args=[case.public_id]),
        {"name": "越权", "id_number": resident_id(44), "role": "entry"},
    )
    assert response.status_code == 404
    assert not Operator.objects.exists()


def test_operator_added_through_the_form(client, world, case):
    _login(client, world.maker).post(
        reverse("counter:operator_add", args=[case.public_id]),
        {"name": "新操作员", "id_number": resident_id(45), "role": "authorise"},
    )
    assert Operator.objects.get().name == "新操作员"


def test_enterprise_users_cannot_use_counter_urls(client, world, case):
    _login(client, world.customer_x)
    response = client.post(
        reverse("counter:operator_add", args=[case.public_id]),
        {"name": "客户", "id_number": resident_id(46), "role": "entry"},
    )
    assert response.status_code == 403
    assert not Operator.objects.exists()


def test_expiring_page_renders_for_staff(client, world, case):
    response = _login(client, world.am_a).get(reverse("counter:expiring") + "?days=60")
    assert response.status_code == 200
    assert "即将到期" in response.content.decode()
