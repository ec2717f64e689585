"""What the API returns about a case is the case's company data version: the approved one once
past intake (as the staff page and the PDFs), the company's live data before approval."""

from __future__ import annotations

from onboarding.states import State
from tests.api_helpers import bank_api, enterprise_api
from tests.factories import company_update


def _names(api, case) -> tuple[str, str]:
    detail = api.get(f"/api/v1/cases/{case.public_id}/")
    assert detail.status_code == 200, detail.content
    listed = next(c for c in api.get("/api/v1/cases/").json()["results"] if c["id"] == str(case.public_id))
    return detail.json()["enterprise_name"], listed["enterprise_name"]


def test_an_approved_case_reads_the_approved_name_after_the_company_renames(world):
    case = world.case(State.TEST_PACKAGE_ISSUANCE)  # approved by head office
    approved = case.company.name
    company_update(world.company_x, by=world.am_a, name="甲公司(更名后)")
    world.company_x.refresh_from_db()
    assert world.company_x.name == "甲公司(更名后)"
    for api in (
        enterprise_api(world.company_x, scopes="read"),
        bank_api(world.branch_a, "account_manager", scopes="read"),
    ):
        assert _names(api, case) == (approved, approved)
    body = enterprise_api(world.company_x, scopes="read").get(f"/api/v1/cases/{case.public_id}/").json()
    assert body["company_version"] == case.company.number


def test_before_approval_the_case_follows_the_live_company(world):
    case = world.case(State.BRANCH_INTAKE)
    company_update(world.company_x, by=world.am_a, name="甲公司(更名后)")
    api = enterprise_api(world.company_x, scopes="read")
    assert _names(api, case) == ("甲公司(更名后)", "甲公司(更名后)")
