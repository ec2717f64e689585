"""Dates in forms are ISO (YYYY-MM-DD) whatever the language, so an untouched save keeps them.

A browser's `<input type=date>` only understands `YYYY-MM-DD`. Rendered as `2027/01/29` (the
Chinese locale's input format) it shows the field empty and posts it empty: an untouched edit
then cleared the target go-live date and was refused for the authorisation letter's validity.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect

import pytest
from django import forms
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.factories import Role, enterprise, user
from tests.html_forms import ISO_DATE, browser_post_data, form_with, page_forms
from tests.record_snapshot import case_record

FORM_MODULES = ("onboarding.forms", "portal.forms", "counter.forms", "documents.forms", "audit.forms")
LANGUAGES = [code for code, _name in settings.LANGUAGES]
A_DATE = dt.date(2027, 1, 29)


def _project_forms() -> list[type[forms.BaseForm]]:
    found: dict[str, type[forms.BaseForm]] = {}
    for module_name in FORM_MODULES:
        module = importlib.import_module(module_name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, forms.BaseForm) and obj.__module__ == module_name:
                found[f"{module_name}.{obj.__name__}"] = obj
    return list(found.values())


def _date_fields() -> list[tuple[str, forms.Field]]:
    return [
        (f"{form.__module__}.{form.__name__}.{name}", field)
        for form in _project_forms()
        for name, field in form.base_fields.items()
        if isinstance(field, forms.DateField | forms.DateTimeField)
    ]


def test_the_project_has_date_fields_to_check():
    names = {name.rsplit(".", 1)[1] for name, _field in _date_fields()}
    assert {"authorisation_valid_from", "authorisation_valid_until", "target_date", "expires_on"} <= names


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("name", "field"), _date_fields(), ids=[n for n, _f in _date_fields()])
def test_every_date_field_renders_and_reads_iso(name, field, language):
    with translation.override(language):
        html = field.widget.render("d", A_DATE)
        assert 'value="2027-01-29"' in html, f"{name} in {language}: {html}"
        assert field.clean("2027-01-29") == A_DATE
        assert field.widget.input_type == "date", name


@pytest.fixture
def authorised(world):
    """A company whose handler acts on an authorisation letter, a customer of it and cases with dates."""
    company = enterprise(world.branch_a, handler_is_rep=False, name="丁公司", accounts=2)
    customer = user("customer_d", Role.ENTERPRISE_USER, enterprise=company)
    draft = world.case(State.DRAFT, company=company)
    intake = world.case(State.BRANCH_INTAKE, company=company)
    target = timezone.localdate() + dt.timedelta(days=45)
    OnboardingCase.objects.filter(pk__in=[draft.pk, intake.pk]).update(target_date=target, erp_system="金蝶云星空")
    return {"company": company, "customer": customer, "draft": draft, "intake": intake}


def _pages(world, authorised):
    draft, intake = authorised["draft"], authorised["intake"]
    return {
        "staff edit (draft)": (world.am_a, reverse("case_edit", args=[draft.public_id]), draft),
        "staff edit (intake)": (world.am_a, reverse("case_edit", args=[intake.public_id]), intake),
        "portal edit (draft)": (authorised["customer"], reverse("portal:case_edit", args=[draft.public_id]), draft),
    }


def _use_language(client, language):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language


@pytest.mark.parametrize("language", LANGUAGES)
def test_edit_pages_render_every_date_as_iso(client, world, authorised, language):
    company = authorised["company"]
    expected = {
        "authorisation_valid_from": company.authorisation_valid_from.isoformat(),
        "authorisation_valid_until": company.authorisation_valid_until.isoformat(),
        "target_date": OnboardingCase.objects.get(pk=authorised["draft"].pk).target_date.isoformat(),
    }
    pages = {
        **{k: (u, url) for k, (u, url, _case) in _pages(world, authorised).items()},
        "portal request": (authorised["customer"], reverse("portal:case_new")),
    }
    for label, (who, url) in pages.items():
        client.force_login(who)
        _use_language(client, language)
        response = client.get(url)
        assert response.status_code == 200, label
        dates = form_with(response.content.decode(), "authorisation_valid_from").date_inputs()
        wanted = expected if label != "portal request" else {k: v for k, v in expected.items() if k != "target_date"}
        assert {k: dates[k] for k in wanted} == wanted, f"{label} ({language})"
        assert all(v == "" or ISO_DATE.match(v) for v in dates.values()), f"{label} ({language}): {dates}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_other_pages_with_date_inputs_render_them_as_iso(client, world, language):
    ukey_case = world.case(State.UKEY_ISSUANCE)
    for who, url in [
        (world.maker, reverse("case_detail", args=[ukey_case.public_id])),
        (world.auditor, reverse("audit_log") + "?date_from=2026-01-05&date_to=2026-02-27"),
    ]:
        client.force_login(who)
        _use_language(client, language)
        html = client.get(url).content.decode()
        dates = {name: value for form in page_forms(html) for name, value in form.date_inputs().items()}
        assert dates, url
        assert all(v == "" or ISO_DATE.match(v) for v in dates.values()), f"{url} ({language}): {dates}"
        if "audit" in url:
            assert dates == {"date_from": "2026-01-05", "date_to": "2026-02-27"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page_name", ["staff edit (draft)", "staff edit (intake)", "portal edit (draft)"])
def test_saving_an_untouched_edit_page_keeps_the_record(client, world, authorised, page_name, language):
    who, url, case = _pages(world, authorised)[page_name]
    client.force_login(who)
    _use_language(client, language)
    before = case_record(case)
    form = form_with(client.get(url).content.decode(), "authorisation_valid_from")
    response = client.post(url, browser_post_data(form))
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert case_record(case) == before
