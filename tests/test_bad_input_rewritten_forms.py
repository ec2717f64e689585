"""Bad input in the forms of the pages written in Python (issue 26), from the user's side.

Each test reads the rendered form back as a browser would (`tests/html_forms.py`), fills it
with one bad value among good ones, posts it and checks: the answer is a clear error in the
page's language, what else was typed (dates especially) is still in the form, and nothing is
written (no event, no result, no message, no entry, no row).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.models import AccessEvent
from counter import services as counter_services
from counter.models import CounterEntry, Operator, UKey
from documents.models import Document, DocumentVersion
from onboarding.models import CaseEvent, ChangeRequest, ModuleTestResult, OnboardingCase
from onboarding.states import State
from portal.models import CaseMessage
from tests.factories import operator_people
from tests.html_forms import browser_post_data, form_with, page_forms

LANGUAGES = [code for code, _name in settings.LANGUAGES]


def written(case: OnboardingCase) -> dict[str, Any]:
    """Everything a refused post must leave as it was."""
    fresh = OnboardingCase.objects.get(pk=case.pk)
    return {
        "state": fresh.state,
        "version": fresh.version,
        "events": CaseEvent.objects.filter(case=case).count(),
        "results": ModuleTestResult.objects.filter(case=case).count(),
        "messages": CaseMessage.objects.filter(case=case).count(),
        "entries": CounterEntry.objects.filter(case=case).count(),
        "operators": Operator.objects.filter(case=case).count(),
        "ukeys": UKey.objects.filter(case=case).count(),
        "change_requests": ChangeRequest.objects.filter(case=case).count(),
        "documents": Document.objects.filter(case=case).count(),
        "versions": DocumentVersion.objects.filter(document__case=case).count(),
    }


def errors_of(html: str) -> list[str]:
    """The error messages shown at the top of the page (and a form's own errors)."""
    import re

    found = re.findall(r'<li class="msg error">(.*?)</li>', html, re.S)
    found += re.findall(r'<div class="error">(.*?)</div>', html, re.S)
    found += re.findall(r'<ul class="errorlist[^"]*">(.*?)</ul>', html, re.S)
    return [re.sub(r"<[^>]+>", "", e).strip() for e in found]


def speaks(text: str, language: str) -> bool:
    """Chinese text has CJK characters; English text has none outside quoted names."""
    has_cjk = any("\u4e00" <= ch <= "\u9fff" for ch in text)
    return has_cjk if language == "zh-hans" else not has_cjk


def _client(client, who, language):
    client.force_login(who)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def _last_read(case: OnboardingCase) -> tuple[str, int | None]:
    """The page and reader of the case's newest read in the audit log."""
    event = AccessEvent.objects.filter(case=case, kind=AccessEvent.Kind.CASE_READ).order_by("-pk").first()
    assert event is not None, "no read of the case recorded"
    return event.data["view"], event.actor_id


def _fill(form, values: dict[str, str]) -> dict[str, list[str]]:
    data = browser_post_data(form)
    names = {c.name for c in form.controls}
    for name, value in values.items():
        assert name in names, f"{name} is not in the form ({sorted(names)})"
        data[name] = [value]
    return data


# --- the portal case page --------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_pass_without_evidence_comes_back_with_what_was_typed(client, world, language):
    case = world.case(State.JOINT_TESTING, documents=False)
    c = _client(client, world.customer_x, language)
    url = reverse("portal:case_detail", args=[case.public_id])
    page = c.get(url).content.decode()
    form = form_with(
        page, next(ctl.name for f in page_forms(page) for ctl in f.controls if ctl.name.startswith("result-"))
    )
    keys = [ctl.name.removeprefix("result-") for ctl in form.controls if ctl.name.startswith("result-")]
    first, second = keys[0], keys[1]
    before = written(case)
    reads = AccessEvent.objects.filter(case=case, kind=AccessEvent.Kind.CASE_READ).count()
    data = _fill(
        form,
        {
            f"result-{first}": "pass",  # bad: a pass needs evidence
            f"notes-{first}": "首笔查询",
            f"result-{second}": "fail",
            f"evidence-{second}": "TX-0042",
            f"notes-{second}": "返回码 E102",
        },
    )
    response = c.post(form.action, data)
    assert response.status_code == 200
    html = response.content.decode()
    errors = errors_of(html)
    assert errors and all(speaks(e, language) for e in errors), errors
    again = form_with(html, f"result-{first}")
    values = browser_post_data(again)
    assert values[f"result-{first}"] == ["pass"] and values[f"notes-{first}"] == ["首笔查询"]
    assert values[f"result-{second}"] == ["fail"] and values[f"evidence-{second}"] == ["TX-0042"]
    assert values[f"notes-{second}"] == ["返回码 E102"]
    assert written(case) == before
    # The page drawn again is a read of the case, in the audit log as the portal case page.
    assert AccessEvent.objects.filter(case=case, kind=AccessEvent.Kind.CASE_READ).count() == reads + 1
    assert _last_read(case) == ("portal:case_detail", world.customer_x.pk)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_blank_message_is_refused_in_the_page_language(client, world, language):
    case = world.case(State.JOINT_TESTING)
    c = _client(client, world.customer_x, language)
    page = c.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    form = form_with(page, "body")
    before = written(case)
    response = c.post(form.action, _fill(form, {"body": "   \n  "}), follow=True)
    errors = errors_of(response.content.decode())
    assert errors and all(speaks(e, language) for e in errors), errors
    assert written(case) == before


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_withdrawal_without_a_reason_is_refused(client, world, language):
    case = world.case(State.JOINT_TESTING)
    c = _client(client, world.customer_x, language)
    page = c.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    form = form_with(page, "reason")
    assert "withdraw" in form.action
    before = written(case)
    response = c.post(form.action, _fill(form, {"reason": "  "}), follow=True)
    errors = errors_of(response.content.decode())
    assert errors and all(speaks(e, language) for e in errors), errors
    assert written(case) == before


@pytest.mark.parametrize("language", LANGUAGES)
def test_production_unconfirmed_is_refused(client, world, language):
    case = world.case(State.PRODUCTION_VERIFICATION)
    c = _client(client, world.customer_x, language)
    page = c.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    form = form_with(page, "transactions_done")
    before = written(case)
    data = browser_post_data(form)
    data["transactions_done"] = ["on"]  # one box ticked, the other not
    response = c.post(form.action, data, follow=True)
    errors = errors_of(response.content.decode())
    assert errors and all(speaks(e, language) for e in errors), errors
    assert written(case) == before


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_change_request_with_a_bad_id_number_keeps_the_dates(client, world, language):
    case = world.case(State.JOINT_TESTING)
    c = _client(client, world.customer_x, language)
    page = c.get(reverse("portal:case_detail", args=[case.public_id])).content.decode()
    url = reverse("portal:case_change_request", args=[case.public_id])
    assert url in page
    form = form_with(c.get(url).content.decode(), "reason")
    valid_from, valid_until = "2026-03-01", "2029-02-28"
    before = written(case)
    data = _fill(
        form,
        {
            "legal_rep_id_number": "11010519800101001",  # bad: 17 characters
            "authorisation_valid_from": valid_from,
            "authorisation_valid_until": valid_until,
            "reason": "法定代表人变更",
        },
    )
    response = c.post(url, data)
    assert response.status_code == 200
    html = response.content.decode()
    errors = errors_of(html)
    assert errors and all(speaks(e, language) for e in errors), errors
    again = form_with(html, "reason")
    assert again.date_inputs()["authorisation_valid_from"] == valid_from
    assert again.date_inputs()["authorisation_valid_until"] == valid_until
    assert browser_post_data(again)["reason"] == ["法定代表人变更"]
    assert written(case) == before


# --- the counter panel of the staff case page ------------------------------------------------


@pytest.fixture
def counter_case(world):
    """A case at UKey issuance whose company's two operators are registered, nothing issued yet."""
    case = world.case(State.UKEY_ISSUANCE)
    for name, id_number, role in operator_people(case.pk)[:2]:
        counter_services.operator_add(case=case, user=world.maker, name=name, id_number=id_number, role=role)
    return OnboardingCase.objects.get(pk=case.pk)


def _staff_page(c, case):
    return c.get(reverse("case_detail", args=[case.public_id])).content.decode()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_visit_form_with_half_an_identity_keeps_the_keys_and_dates(client, world, counter_case, language):
    c = _client(client, world.maker, language)
    form = next(f for f in page_forms(_staff_page(c, counter_case)) if "visit" in f.action)
    serials = sorted(ctl.name for ctl in form.controls if ctl.name.startswith("serial_"))
    expiries = sorted(ctl.name for ctl in form.controls if ctl.name.startswith("expires_"))
    assert len(serials) == 2 and len(expiries) == 2
    expiry = (timezone.localdate() + dt.timedelta(days=500)).isoformat()
    before = written(counter_case)
    data = _fill(
        form,
        {
            "person": "handler",
            "person_name": "王五",  # bad: no ID number with it
            serials[0]: "KB-VISIT-1",
            expiries[0]: expiry,
            serials[1]: "KB-VISIT-2",
        },
    )
    response = c.post(form.action, data, follow=True)
    html = response.content.decode()
    errors = errors_of(html)
    assert errors and all(speaks(e, language) for e in errors), errors
    again = next(f for f in page_forms(html) if "visit" in f.action)
    values = browser_post_data(again)
    assert values["person_name"] == ["王五"]
    assert values[serials[0]] == ["KB-VISIT-1"] and values[serials[1]] == ["KB-VISIT-2"]
    assert again.date_inputs()[expiries[0]] == expiry
    assert written(counter_case) == before


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_operator_with_a_short_id_number_keeps_the_name(client, world, counter_case, language):
    c = _client(client, world.maker, language)
    form = form_with(_staff_page(c, counter_case), "role")
    assert "operator" in form.action
    before = written(counter_case)
    reads = AccessEvent.objects.filter(case=counter_case, kind=AccessEvent.Kind.CASE_READ).count()
    response = c.post(form.action, _fill(form, {"name": "赵六", "id_number": "1101051980"}), follow=True)
    html = response.content.decode()
    # The case page drawn in answer is a read, recorded once, as the staff case page.
    assert AccessEvent.objects.filter(case=counter_case, kind=AccessEvent.Kind.CASE_READ).count() == reads + 1
    assert _last_read(counter_case) == ("case_detail", world.maker.pk)
    errors = errors_of(html)
    assert errors and all(speaks(e, language) for e in errors), errors
    values = browser_post_data(form_with(html, "role"))
    assert values["name"] == ["赵六"] and values["id_number"] == ["1101051980"]
    assert written(counter_case) == before


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_ukey_with_a_taken_serial_keeps_the_date(client, world, counter_case, language):
    operator = Operator.objects.filter(case=counter_case).order_by("pk").first()
    counter_services.ukey_issuance_make(case=counter_case, user=world.maker, operator=operator, serial="KB-TAKEN")
    counter_case = OnboardingCase.objects.get(pk=counter_case.pk)
    c = _client(client, world.maker, language)
    form = form_with(_staff_page(c, counter_case), "holder")
    expiry = (timezone.localdate() + dt.timedelta(days=400)).isoformat()
    before = written(counter_case)
    response = c.post(
        form.action, _fill(form, {"serial": "KB-TAKEN", "expires_on": expiry, "notes": "补录"}), follow=True
    )
    html = response.content.decode()
    errors = errors_of(html)
    assert errors and all(speaks(e, language) for e in errors), errors
    again = form_with(html, "holder")
    assert again.date_inputs()["expires_on"] == expiry
    assert browser_post_data(again)["serial"] == ["KB-TAKEN"]
    assert written(counter_case) == before


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_identity_check_with_a_short_id_number_keeps_the_name(client, world, counter_case, language):
    c = _client(client, world.maker, language)
    page = _staff_page(c, counter_case)
    form = next(f for f in page_forms(page) if "identity" in f.action)
    before = written(counter_case)
    response = c.post(form.action, _fill(form, {"person_name": "钱七", "id_number": "110105"}), follow=True)
    html = response.content.decode()
    errors = errors_of(html)
    assert errors and all(speaks(e, language) for e in errors), errors
    again = next(f for f in page_forms(html) if "identity" in f.action)
    assert browser_post_data(again)["person_name"] == ["钱七"]
    assert written(counter_case) == before


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_test_package_on_a_page_gone_stale_keeps_what_was_typed(client, world, language):
    """No field of the test package is checked; the refusal to try is a page read before someone
    else moved the case on (its version): typed in vain, it would be typed again."""
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    c = _client(client, world.tech, language)
    form = form_with(_staff_page(c, case), "test_endpoint")
    before = written(case)
    typed = {
        "test_endpoint": "https://test.bank.example/h2h/v2",
        "test_accounts": "6222000011112222",
        "doc_version": "v3.2",
    }
    data = _fill(form, typed)
    data["version"] = [str(int(data["version"][0]) - 1)]
    response = c.post(form.action, data, follow=True)
    html = response.content.decode()
    errors = errors_of(html)
    assert errors and all(speaks(e, language) for e in errors), errors
    values = browser_post_data(form_with(html, "test_endpoint"))
    assert {k: values[k] for k in typed} == {k: [v] for k, v in typed.items()}
    assert written(case) == before


@pytest.mark.parametrize(("language", "section"), [("zh-hans", "文件清单"), ("en", "Document checklist")])
def test_the_joint_test_help_names_the_documents_section_the_page_shows(client, world, language, section):
    """The matrix sends the customer to upload the test report in a section below: it must be
    called as the page calls it (it said “申请资料” under a heading “文件清单”)."""
    case = world.case(State.JOINT_TESTING, documents=False)
    html = _client(client, world.customer_x, language).get(reverse("portal:case_detail", args=[case.public_id]))
    page = html.content.decode()
    testing = page[page.index('id="testing"') : page.index("</section>", page.index('id="testing"'))]
    assert section in testing
    assert f"<h2>{section}</h2>" in page
