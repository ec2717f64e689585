"""The API's flows through the real token endpoint: drafts, transitions, idempotency, documents, tests, messages."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.hashers import check_password
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from oauth2_provider.models import Application

from api.models import ApiClient
from api.services import api_client_create, api_client_revoke, api_client_rotate
from documents.samples import sample_pdf
from onboarding.events import EventName
from onboarding.models import OnboardingCase
from onboarding.states import Module, State
from tests.api_helpers import Api, api_token, enterprise_api

DRAFT = {"modules": [Module.ACCOUNT_QUERY], "erp_system": "SAP S/4HANA"}


def test_a_company_client_opens_and_submits_a_draft(world):
    api = enterprise_api(world.company_x)
    response = api.post("/api/v1/cases/", DRAFT)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == State.DRAFT and body["enterprise_uscc"] == world.company_x.uscc
    case = OnboardingCase.objects.get(public_id=body["id"])
    assert case.enterprise == world.company_x and case.events.count() == 1

    response = api.post(f"/api/v1/cases/{case.public_id}/submit/", {"expected_version": body["version"]})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == State.BRANCH_INTAKE
    assert [e["name"] for e in api.get(f"/api/v1/cases/{case.public_id}/events/").json()["results"]][-1] == "submit"
    visits = api.get(f"/api/v1/cases/{case.public_id}/visits/").json()["results"]
    assert [v["stage"] for v in visits] == [State.DRAFT, State.BRANCH_INTAKE]


def test_a_stale_version_is_a_conflict_and_changes_nothing(world):
    case = world.case(State.BRANCH_INTAKE)
    api = enterprise_api(world.company_x)
    response = api.post(
        f"/api/v1/cases/{case.public_id}/withdraw/", {"expected_version": case.version - 1, "reason": "不再需要"}
    )
    assert response.status_code == 409
    assert response.json()["current_version"] == case.version
    case.refresh_from_db()
    assert case.state == State.BRANCH_INTAKE


def test_a_refusal_names_what_is_missing(world):
    case = world.case(State.BRANCH_INTAKE)
    response = enterprise_api(world.company_x).post(f"/api/v1/cases/{case.public_id}/withdraw/", {})
    assert response.status_code == 400
    assert response.json()["detail"]
    case.refresh_from_db()
    assert case.state == State.BRANCH_INTAKE


def test_same_key_same_body_returns_the_stored_response(world):
    api = enterprise_api(world.company_x)
    first = api.post("/api/v1/cases/", DRAFT, **{"Idempotency-Key": "k-1"})
    again = api.post("/api/v1/cases/", DRAFT, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert OnboardingCase.objects.filter(enterprise=world.company_x).count() == 1


def test_same_key_other_body_is_422(world):
    api = enterprise_api(world.company_x)
    assert api.post("/api/v1/cases/", DRAFT, **{"Idempotency-Key": "k-2"}).status_code == 201
    other = api.post("/api/v1/cases/", {**DRAFT, "erp_system": "Oracle"}, **{"Idempotency-Key": "k-2"})
    assert other.status_code == 422
    assert OnboardingCase.objects.filter(enterprise=world.company_x).count() == 1


def test_keys_belong_to_one_client(world):
    first = enterprise_api(world.company_x)
    second = enterprise_api(world.company_x)
    assert first.post("/api/v1/cases/", DRAFT, **{"Idempotency-Key": "shared"}).status_code == 201
    assert second.post("/api/v1/cases/", DRAFT, **{"Idempotency-Key": "shared"}).status_code == 201
    assert OnboardingCase.objects.filter(enterprise=world.company_x).count() == 2


def test_upload_list_and_download_a_document(world):
    case = world.case(State.JOINT_TESTING)
    api = enterprise_api(world.company_x)
    pdf = SimpleUploadedFile("联调测试报告.pdf", sample_pdf("test_report"), content_type="application/pdf")
    response = api.post(
        f"/api/v1/cases/{case.public_id}/documents/", {"kind": "test_report", "file": pdf}, multipart=True
    )
    assert response.status_code == 201, response.content
    version_id = response.json()["id"]
    listed = api.get(f"/api/v1/cases/{case.public_id}/documents/").json()["results"]
    assert version_id in [v["id"] for d in listed for v in d["versions"]]
    download = api.get(f"/api/v1/document-versions/{version_id}/download/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert case.events.filter(name=EventName.DOCUMENT_DOWNLOAD).exists()


def test_joint_test_results_are_recorded_through_the_service(world):
    case = world.case(State.JOINT_TESTING)
    api = enterprise_api(world.company_x)
    outcome = {"module": case.modules[0], "test_case": "balance", "passed": True, "evidence": "SN-1"}
    if case.modules[0] != Module.ACCOUNT_QUERY:
        pytest.skip("the world's cases start with account query")
    response = api.post(f"/api/v1/cases/{case.public_id}/test-results/", {"outcomes": [outcome]})
    assert response.status_code == 201, response.content
    assert case.test_results.filter(test_case="balance", evidence="SN-1").exists()
    failing = {**outcome, "evidence": ""}
    assert api.post(f"/api/v1/cases/{case.public_id}/test-results/", {"outcomes": [failing]}).status_code == 400


def test_messages_and_actions(world):
    case = world.case(State.DRAFT)
    api = enterprise_api(world.company_x)
    assert api.post(f"/api/v1/cases/{case.public_id}/messages/", {"body": "请问进度?"}).status_code == 201
    thread = api.get(f"/api/v1/cases/{case.public_id}/messages/").json()["results"]
    assert thread[-1]["body"] == "请问进度?" and thread[-1]["from_customer"] is True
    actions = api.get(f"/api/v1/cases/{case.public_id}/actions/").json()
    assert {"key", "text", "urgency", "required"} <= set(actions[0])


def test_page_size_is_capped(world):
    world.case(State.DRAFT)
    body = enterprise_api(world.company_x).get("/api/v1/cases/?page_size=100000").json()
    assert len(body["results"]) == 1 and body["next"] is None and "count" not in body
    from api.pagination import KeysetPagination

    assert KeysetPagination.max_page_size == 100


def test_scopes_are_limited_to_the_clients(world):
    creds = api_client_create(name="ro", scopes=["read"], enterprise=world.company_x)
    refused = Api(None).client.post(
        "/api/v1/oauth/token/",
        {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "scope": "write",
        },
    )
    assert refused.status_code in (400, 401)
    assert api_token(creds.client_id, creds.client_secret, "read")


def test_secret_is_hashed_rotated_and_revoked(world):
    creds = api_client_create(name="erp", scopes=["read"], enterprise=world.company_x)
    app = Application.objects.get(client_id=creds.client_id)
    assert app.client_secret != creds.client_secret and check_password(creds.client_secret, app.client_secret)
    old = Api(api_token(creds.client_id, creds.client_secret))
    new = api_client_rotate(client=creds.client)
    assert old.get("/api/v1/cases/").status_code == 401
    fresh = Api(api_token(new.client_id, new.client_secret))
    assert fresh.get("/api/v1/cases/").status_code == 200
    api_client_revoke(client=creds.client)
    assert fresh.get("/api/v1/cases/").status_code == 401


def test_a_bank_client_sees_its_branch_subtree_only(world):
    inside = world.case(State.BRANCH_INTAKE)
    outside = world.case(State.BRANCH_INTAKE, company=world.company_y)
    creds = api_client_create(name="core", scopes=["read"], branch=world.tier1, roles=["account_manager"])
    ids = [
        c["id"] for c in Api(api_token(creds.client_id, creds.client_secret)).get("/api/v1/cases/").json()["results"]
    ]
    assert str(inside.public_id) in ids and str(outside.public_id) not in ids


def test_the_command_prints_id_and_secret(world):
    out = io.StringIO()
    call_command("api_client", "create", "--enterprise", world.company_x.uscc, "--scopes", "read,write", stdout=out)
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines() if ": " in line)
    client = ApiClient.objects.get(application__client_id=lines["client_id"])
    assert client.enterprise == world.company_x and client.scope_list == ["read", "write"]
    assert api_token(lines["client_id"], lines["client_secret"])
    out = io.StringIO()
    call_command("api_client", "create", "--branch", world.tier1.code, "--scopes", "read", stdout=out)
    assert "client_secret: " in out.getvalue()


def test_the_schema_and_reference_page_are_refused_to_anonymous_users(client, world):
    for url in ("/api/v1/schema/", "/api/v1/docs/", "/api/v1/docs/?script="):
        response = client.get(url)
        assert response.status_code in (401, 403), url
        assert b"/api/v1/cases/" not in response.content


def test_the_schema_is_served_to_an_api_client(world):
    api = enterprise_api(world.company_x)
    response = api.get("/api/v1/schema/")
    assert response.status_code == 200 and b"/api/v1/cases/" in response.content


def test_the_schema_and_reference_page_are_served(client, world, login):
    login(client, world.am_a)
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/cases/" in schema.content
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    assert b"//" not in page.content.split(b"<script")[1].split(b">")[0].replace(b"'", b"").split(b"src=")[1][:3]


def test_the_schema_validates():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_calls_are_throttled_per_client(world, monkeypatch):
    from django.core.cache import cache

    from api.auth import ClientThrottle

    cache.clear()
    monkeypatch.setattr(ClientThrottle, "THROTTLE_RATES", {"api_client": "3/min"})
    first, second = enterprise_api(world.company_x), enterprise_api(world.company_x)
    assert [first.get("/api/v1/cases/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert second.get("/api/v1/cases/").status_code == 200  # another client has its own budget


def test_a_key_claimed_by_a_running_request_is_409(world):
    from api.models import IdempotencyRecord

    api = enterprise_api(world.company_x)
    assert api.post("/api/v1/cases/", DRAFT, **{"Idempotency-Key": "k-3"}).status_code == 201
    IdempotencyRecord.objects.filter(key="k-3").update(status_code=0)  # as if the first were still running
    assert api.post("/api/v1/cases/", DRAFT, **{"Idempotency-Key": "k-3"}).status_code == 409
    assert OnboardingCase.objects.filter(enterprise=world.company_x).count() == 1


def test_idempotency_records_expire(world):
    import datetime as dt

    from django.utils import timezone

    from api.models import IdempotencyRecord
    from api.tasks import idempotency_expire

    api = enterprise_api(world.company_x)
    api.post("/api/v1/cases/", DRAFT, **{"Idempotency-Key": "old"})
    api.post("/api/v1/cases/", DRAFT, **{"Idempotency-Key": "new"})
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - dt.timedelta(hours=25))
    assert idempotency_expire() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
