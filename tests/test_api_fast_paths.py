"""The API's reads written for speed (issue 26) answer as DRF's and django-oauth-toolkit's own did."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone, translation
from oauth2_provider.models import AccessToken
from rest_framework import serializers

from api import serializers as s
from api.models import ApiClient
from api.services import api_client_create
from audit.models import AccessEvent
from companies.models import Enterprise
from onboarding import selectors
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.api_helpers import Api, api_token


def _drf(serializer: type, rows: list) -> list:
    """The rows as DRF's own `Serializer.to_representation` gives them."""
    child = serializer()
    return [serializers.Serializer.to_representation(child, row) for row in rows]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC"])
def test_the_case_rows_are_drfs_own(world, zone, language):
    """The API's case list (values written by `case_list_rows`) equals DRF's `CaseSerializer`
    over the cases' model instances: a case with a data version and one without (the company as
    it is, number 0), one with a stage due and a target date and drafts without, every state
    label in the reader's language, times in the reader's zone."""
    world.case(State.BRANCH_INTAKE)
    world.case(State.DRAFT, company=world.company_y)
    world.case(State.JOINT_TESTING)
    draft, intake, live = world.case(State.DRAFT), world.case(State.BRANCH_INTAKE), world.case(State.LIVE)
    OnboardingCase.objects.filter(pk=draft.pk).update(company_version=None)
    OnboardingCase.objects.filter(pk=intake.pk).update(target_date=dt.date(2027, 1, 29))
    OnboardingCase.objects.filter(pk=live.pk).update(current_visit=None)
    # The company renamed since: a case with a version shows the version's name, one without the new name.
    Enterprise.objects.filter(pk=world.company_x.pk).update(name="改名后的企业")
    ids = list(OnboardingCase.objects.order_by("-pk").values_list("pk", flat=True))
    cases = list(OnboardingCase.objects.filter(pk__in=ids).order_by("-pk"))
    assert {c.company_version_id is None for c in cases} == {True, False}
    assert {c.current_visit_id is None for c in cases} == {True, False}
    assert {c.target_date is None for c in cases} == {True, False}
    with timezone.override(zone), translation.override(language):
        fast = s.case_list_rows(selectors.case_rows(ids))
        drf = _drf(s.CaseSerializer, cases)
    assert json.dumps(fast, default=str, ensure_ascii=False) == json.dumps(drf, default=str, ensure_ascii=False)
    assert fast[0]["created_at"].endswith("Z") == (zone == "UTC")
    assert {row["company_version"] for row in fast} >= {0, 1}
    names = {row["id"]: row["enterprise_name"] for row in fast}
    assert names[str(draft.public_id)] == "改名后的企业" and names[str(intake.public_id)] != "改名后的企业"
    # The ids' order is the list's, whatever order the database reads them in.
    assert [row["id"] for row in s.case_list_rows(selectors.case_rows(ids[::-1]))] == [r["id"] for r in fast[::-1]]


def test_the_event_rows_are_drfs_own(world):
    case = world.case(State.BRANCH_INTAKE)
    events = list(selectors.case_timeline(case=case))
    assert events
    fast = s.CaseEventSerializer(events, many=True).data
    assert json.dumps(fast, default=str) == json.dumps(_drf(s.CaseEventSerializer, events), default=str)


def test_a_field_that_is_missing_is_decided_by_drf(world):
    class Odd(s.Listed, serializers.Serializer):
        name = serializers.CharField(source="nothing.here", read_only=True)  # skipped: not required
        label = serializers.CharField(source="nothing.here", allow_null=True, read_only=True)
        kept = serializers.CharField(source="reference", read_only=True)

    case = world.case(State.BRANCH_INTAKE)
    assert Odd(case).data == {"label": None, "kept": case.reference}


def test_an_expired_token_and_a_revoked_client_are_refused(world):
    world.case(State.BRANCH_INTAKE)
    creds = api_client_create(name="erp", scopes=["read"], enterprise=world.company_x)
    token = api_token(creds.client_id, creds.client_secret)
    api = Api(token)
    assert api.get("/api/v1/cases/").status_code == 200
    AccessToken.objects.filter(application__client_id=creds.client_id).update(
        expires=timezone.now() - dt.timedelta(seconds=1)
    )
    assert api.get("/api/v1/cases/").status_code == 401
    AccessToken.objects.filter(application__client_id=creds.client_id).update(
        expires=timezone.now() + dt.timedelta(hours=1)
    )
    assert api.get("/api/v1/cases/").status_code == 200
    # Revoked without its tokens deleted (as `api_client_revoke` does): the token is refused all the same.
    ApiClient.objects.filter(pk=creds.client.pk).update(revoked_at=timezone.now())
    assert api.get("/api/v1/cases/").status_code == 401
    assert Api("no-such-token").get("/api/v1/cases/").status_code == 401


@pytest.mark.parametrize("listed", [True, False])
def test_a_list_call_writes_a_call_and_a_read_per_case(world, listed):
    if listed:
        world.case(State.BRANCH_INTAKE)
        world.case(State.DRAFT)
    creds = api_client_create(name="erp", scopes=["read"], enterprise=world.company_x)
    api = Api(api_token(creds.client_id, creds.client_secret))
    before = AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    body = api.get("/api/v1/cases/").json()
    rows = list(AccessEvent.objects.filter(pk__gt=before).order_by("pk"))
    shown = [r["id"] for r in body["results"]]
    assert [r.kind for r in rows] == ["api_call"] + ["case_read"] * len(shown)
    assert [str(r.case.public_id) for r in rows[1:]] == shown
    assert rows[0].case_id is None
    assert {r.username for r in rows} == {creds.client.user.username}
    assert {r.path for r in rows} == {"/api/v1/cases/"}
    assert rows[0].data["method"] == "GET" and rows[0].data["status"] == 200
    assert all(r.data == {"view": rows[0].data["view"], "client": str(creds.client.public_id)} for r in rows[1:])
    assert [r.created_at for r in rows] == sorted(r.created_at for r in rows)
