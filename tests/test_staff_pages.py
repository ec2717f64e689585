"""The staff workspace as a browser sees it: scoping, forms, buttons, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver, reverse

from companies.models import Enterprise
from onboarding.models import CaseEvent, OnboardingCase
from onboarding.states import State
from tests.factories import enterprise, user

CASE_URL_NAMES = sorted(
    name
    for name, entries in get_resolver().reverse_dict.lists()
    if isinstance(name, str) and any("public_id" in params for _pattern, params in [e[0][0] for e in entries])
)


def test_case_urls_found():
    # The scoping test below walks these; make sure the walk is not silently empty.
    assert {"case_detail", "case_edit", "case_transition"} <= set(CASE_URL_NAMES)


def _url(name, case):
    kwargs = {"public_id": case.public_id}
    if name == "case_transition":
        kwargs["name"] = "submit"
    return reverse(name, kwargs=kwargs)


# The break-glass form asks anyone on the staff for a reason before opening a case outside
# their subtree (read-only, logged; tests/test_audit.py): it is the one case URL meant for them.
BREAK_GLASS_FORM = {"audit_break_glass_open"}


@pytest.mark.parametrize("name", [n for n in CASE_URL_NAMES if n not in BREAK_GLASS_FORM])
def test_other_branch_gets_404_on_every_case_url(client, world, name):
    case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.am_b)
    assert client.get(_url(name, case)).status_code in (404, 405)
    assert client.post(_url(name, case), {"version": case.version, "reason": "x"}).status_code == 404
    assert OnboardingCase.objects.get(pk=case.pk).state == State.BRANCH_INTAKE


@pytest.mark.parametrize("name", CASE_URL_NAMES)
def test_own_branch_and_supervisors_reach_the_case(client, world, name):
    case = world.case(State.BRANCH_INTAKE)
    for u in (world.am_a, world.supervisor, world.approver):
        client.force_login(u)
        assert client.get(reverse("case_detail", kwargs={"public_id": case.public_id})).status_code == 200
    client.force_login(world.supervisor_other)
    assert client.get(reverse("case_detail", kwargs={"public_id": case.public_id})).status_code == 404


def test_enterprise_users_and_anonymous_never_reach_staff_pages(client, world):
    case = world.case()
    for url in [reverse("home"), reverse("case_list"), reverse("case_new"), _url("case_detail", case)]:
        client.logout()
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
        client.force_login(world.customer_x)
        # Not a refusal but the portal: a customer never sees a 403 for a page meant for staff.
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("portal:start")
        assert client.post(url, {}).status_code in (403, 404, 405)


def _intake_post(**overrides):
    ent = Enterprise(uscc="")
    data = {
        "name": "杭州西湖茶业有限公司",
        "uscc": "91350100M000100Y43",
        "legal_rep_name": "王五",
        "legal_rep_id_number": "11010519491231002X",
        "handler_name": "王五",
        "handler_id_number": "11010519491231002X",
        "contact_email": "cw@xihu.example",
        "acc-TOTAL_FORMS": "3",
        "acc-INITIAL_FORMS": "0",
        "acc-MIN_NUM_FORMS": "0",
        "acc-MAX_NUM_FORMS": "10",
        "acc-0-account_number": "6222000011112222",
        "acc-0-account_name": "杭州西湖茶业有限公司",
        "modules": ["account_query", "payment_single"],
        "fee_amount": "2000",
        "risk_level": "low",
    }
    del ent
    data.update(overrides)
    return data


def test_new_case_with_a_bad_credit_code_is_refused_and_nothing_saved(client, world):
    client.force_login(world.am_a)
    response = client.post(reverse("case_new"), _intake_post(uscc="91350100M000100Y44"))
    assert response.status_code == 200
    assert "校验位不正确" in response.content.decode()
    assert not Enterprise.objects.filter(name="杭州西湖茶业有限公司").exists()
    assert OnboardingCase.objects.count() == 0


def test_new_case_with_eleven_accounts_is_refused(client, world):
    client.force_login(world.am_a)
    data = _intake_post(**{"acc-TOTAL_FORMS": "11"})
    for i in range(11):
        data[f"acc-{i}-account_number"] = f"62220000111100{i:02d}"
        data[f"acc-{i}-account_name"] = "x"
    response = client.post(reverse("case_new"), data)
    assert response.status_code == 200
    assert OnboardingCase.objects.count() == 0


def test_handler_other_than_legal_rep_needs_authorisation_in_the_form(client, world):
    client.force_login(world.am_a)
    response = client.post(reverse("case_new"), _intake_post(handler_id_number="110105197501010018"))
    assert "法人授权委托书" in response.content.decode()
    assert OnboardingCase.objects.count() == 0


def test_new_case_with_good_input_is_created_in_draft(client, world):
    client.force_login(world.am_a)
    response = client.post(reverse("case_new"), _intake_post())
    case = OnboardingCase.objects.get(enterprise__uscc="91350100M000100Y43")
    assert response.status_code == 302 and str(case.public_id) in response["Location"]
    assert case.state == State.DRAFT
    assert case.reference.startswith("ZL-2026-") or case.reference.startswith("ZL-")
    assert case.branch == world.branch_a and case.account_manager == world.am_a
    assert CaseEvent.objects.filter(case=case, kind="created").count() == 1


def test_company_registered_with_another_branch_is_refused(client, world):
    client.force_login(world.am_b)
    response = client.post(reverse("case_new"), _intake_post(uscc=world.company_x.uscc))
    assert "已在其他机构登记" in response.content.decode()
    assert not OnboardingCase.objects.filter(enterprise=world.company_x).exists()


def test_case_page_offers_only_allowed_transitions_and_explains_blocked_ones(client, world):
    case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.am_a)
    page = client.get(reverse("case_detail", kwargs={"public_id": case.public_id})).content.decode()
    assert "上报立项审批" in page and "未填写费用评估" in page  # offered, blocked, and why
    assert "总行立项批复" not in page
    client.force_login(world.tech)
    page = client.get(reverse("case_detail", kwargs={"public_id": case.public_id})).content.decode()
    assert "上报立项审批" not in page


def test_transition_through_the_page_and_a_refused_one_says_why(client, world):
    case = world.case(State.HEAD_OFFICE_APPROVAL)
    url = reverse("case_transition", kwargs={"public_id": case.public_id, "name": "approve"})
    client.force_login(world.approver)
    response = client.post(url, {"version": case.version}, follow=True)
    assert "缺少分行审核" in response.content.decode()
    client.force_login(world.supervisor)
    client.post(
        reverse("case_transition", kwargs={"public_id": case.public_id, "name": "endorse"}), {"version": case.version}
    )
    case.refresh_from_db()
    client.force_login(world.approver)
    client.post(url, {"version": case.version})
    assert OnboardingCase.objects.get(pk=case.pk).state == State.TEST_PACKAGE_ISSUANCE


def _make_cases(world, n):
    am = world.am_a
    from onboarding import services

    for _ in range(n):
        ent = enterprise(world.branch_a)
        services.case_create(user=am, enterprise=ent, modules=["account_query"])


@pytest.mark.parametrize("url_name", ["home", "case_list"])
def test_list_pages_use_a_constant_number_of_queries(client, world, url_name):
    client.force_login(world.am_a)
    _make_cases(world, 5)
    client.get(reverse(url_name))  # the first request after login renews the session (a write)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse(url_name)).status_code == 200
    _make_cases(world, 495)
    # Making 495 cases can outlast the user's copy (USER_CACHE_SECONDS) on a busy machine: the
    # next request reads the user again (3 queries, once). Compare the pages as they are read.
    client.get(reverse(url_name))
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse(url_name))
    assert response.status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_case_list_filters_and_search(client, world):
    client.force_login(world.supervisor)
    case_x = world.case(State.BRANCH_INTAKE)
    other = enterprise(world.branch_a, name="丙公司")
    from onboarding import services

    services.case_create(user=world.am_a, enterprise=other, modules=["account_query"])
    page = client.get(reverse("case_list"), {"q": "甲公司"}).content.decode()
    assert case_x.reference in page and "丙公司" not in page
    page = client.get(reverse("case_list"), {"q": other.uscc}).content.decode()
    assert "丙公司" in page and case_x.reference not in page
    page = client.get(reverse("case_list"), {"state": "branch_intake"}).content.decode()
    assert case_x.reference in page and "丙公司" not in page


def test_user_without_role_sees_nothing(client, world):
    nobody = user("nobody", branch=world.head_office)
    client.force_login(nobody)
    assert client.get(reverse("home")).status_code == 403


def test_chinese_by_default_even_for_an_english_browser_and_english_on_request(client, world):
    client.force_login(world.am_a)
    response = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response["Content-Language"] == "zh-hans"
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert client.get(reverse("home"))["Content-Language"] == "en"


def test_lists_show_how_far_past_due_an_overdue_case_is(client, world):
    import datetime as dt

    from django.utils import timezone
    from freezegun import freeze_time

    with freeze_time(timezone.now() - dt.timedelta(days=30)):
        late = world.case(State.BRANCH_INTAKE)
    fresh = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="丁公司"))
    client.force_login(world.am_a)
    page = client.get(reverse("case_list"), {"overdue": "on"}).content.decode()
    assert late.reference in page and fresh.reference not in page
    row = page[page.index(late.reference) :]
    row = row[: row.index("</tr>")]
    assert "超时" in row and "个工作日" in row and "周" not in row  # working days, not "3周，2天"


def test_search_finds_by_reference_name_and_credit_code_within_scope_only(client, world):
    from onboarding import services

    mine = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="星河科技有限公司"))
    theirs = services.case_create(
        user=world.am_b, enterprise=enterprise(world.branch_b, name="星河物流有限公司"), modules=["account_query"]
    )

    def row(case):  # the case's line in the list (the search box repeats what was typed)
        return f'{case.public_id}/">{case.reference}</a>'

    client.force_login(world.am_a)
    # As typed: lower-case reference and code, part of the name.
    for q in (mine.reference.lower(), "河科", mine.enterprise.uscc.lower(), "星河"):
        page = client.get(reverse("case_list"), {"q": q}).content.decode()
        assert row(mine) in page and row(theirs) not in page, q
    # Another branch's case is not found by its reference, code or name either.
    for q in (theirs.reference, theirs.enterprise.uscc, "物流"):
        page = client.get(reverse("case_list"), {"q": q}).content.decode()
        assert row(theirs) not in page and row(mine) not in page, q
    client.force_login(world.am_b)
    page = client.get(reverse("case_list"), {"q": "星河"}).content.decode()
    assert row(theirs) in page and row(mine) not in page
    # Head office sees both, each once.
    client.force_login(world.approver)
    page = client.get(reverse("case_list"), {"q": "星河"}).content.decode()
    assert page.count(row(mine)) == 1 and page.count(row(theirs)) == 1


def test_case_list_pages_show_every_case_once_newest_first(client, world):
    import re

    from django.utils import timezone

    from onboarding import services

    same_time = timezone.now()
    made = [
        services.case_create(user=world.am_a, enterprise=enterprise(world.branch_a), modules=["account_query"])
        for _ in range(30)
    ]
    # Ties on created_at are broken by id, so no case falls between two pages.
    OnboardingCase.objects.filter(pk__in=[c.pk for c in made[:12]]).update(created_at=same_time)
    other = services.case_create(user=world.am_b, enterprise=enterprise(world.branch_b), modules=["account_query"])
    client.force_login(world.am_a)
    seen = []
    number = 1
    while True:  # follow the pager as a person would, until there is no next page
        page = client.get(reverse("case_list"), {"page": number}).content.decode()
        seen += re.findall(r'/cases/[0-9a-f-]+/">(ZL-[^<]+)</a>', page)
        if "下一页" not in page:
            break
        number += 1
    assert number == 2
    from onboarding.selectors import case_list

    expected = list(case_list(user=world.am_a).values_list("reference", flat=True))
    assert seen == expected and len(seen) == len(set(seen)) >= 30
    assert other.reference not in seen  # another branch's case on no page


def test_a_long_case_list_says_how_many_up_to_a_bound(client, world, monkeypatch):
    from onboarding import selectors

    client.force_login(world.am_a)
    _make_cases(world, 6)
    total = selectors.case_list(user=world.am_a).count()
    page = client.get(reverse("case_list")).content.decode()
    assert f"共 {total} 件" in page
    monkeypatch.setattr(selectors, "CASE_LIST_COUNT_LIMIT", 3)
    page = client.get(reverse("case_list")).content.decode()
    assert "共 3+ 件" in page and f"共 {total} 件" not in page
    page = client.get(reverse("case_list"), {"state": "suspended"}).content.decode()
    assert "共 0 件" in page  # a narrow filter: the exact count


def test_a_filter_the_list_cannot_read_selects_nothing_and_says_which(client, world):
    case = world.case(State.BRANCH_INTAKE)
    client.force_login(world.supervisor)
    page = client.get(reverse("case_list"), {"state": "nonsense", "q": ""}).content.decode()
    assert "状态:" in page and "msg error" in page
    assert case.reference not in page and "筛选条件有误,请更正后再查询。" in page
    # The form keeps what was typed elsewhere, and a readable filter lists the case again.
    page = client.get(reverse("case_list"), {"state": "branch_intake"}).content.decode()
    assert case.reference in page and "msg error" not in page


def test_the_overdue_list_shows_the_longest_overdue_first(client, world):
    import datetime as dt

    from django.utils import timezone
    from freezegun import freeze_time

    with freeze_time(timezone.now() - dt.timedelta(days=40)):
        oldest_due = world.case(State.BRANCH_INTAKE)
    with freeze_time(timezone.now() - dt.timedelta(days=20)):
        later_due = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="丁公司"))
    newest = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="戊公司"))
    client.force_login(world.am_a)
    page = client.get(reverse("case_list"), {"overdue": "on"}).content.decode()
    assert "超时最久的在前。" in page and newest.reference not in page
    assert page.index(oldest_due.reference) < page.index(later_due.reference)
    # Without the filter the list is newest first, as always.
    page = client.get(reverse("case_list")).content.decode()
    assert page.index(newest.reference) < page.index(later_due.reference) < page.index(oldest_due.reference)
    assert "超时最久的在前。" not in page
