"""An API client's service account is not a person: not on the team page, never a case's account manager."""

from __future__ import annotations

from api import services as api_services
from branches.roles import Role
from onboarding import services
from portal.services import account_manager_pick
from tests.factories import enterprise
from tests.portal_helpers import member


def test_a_company_client_is_not_listed_as_a_team_member(world, client, login) -> None:
    member(world.customer_x, admin=True)
    creds = api_services.api_client_create(name="ERP 接口", scopes=["read"], enterprise=world.company_x)
    login(client, world.customer_x)
    page = client.get("/portal/team/").content.decode()
    assert world.customer_x.username in page
    assert creds.client.user.username not in page


def test_a_bank_client_with_the_account_manager_role_is_never_picked(world) -> None:
    # Both people of branch A have an open case; the API client in branch A has none, so the
    # "fewest open cases" rule would pick it if service accounts were not left out.
    services.case_create(user=world.am_a, enterprise=world.company_x, modules=["account_query"])
    services.case_create(
        user=world.am_a, enterprise=world.company_x, modules=["account_query"], account_manager=world.am_a2
    )
    creds = api_services.api_client_create(
        name="核心系统", scopes=["read"], branch=world.branch_a, roles=[Role.ACCOUNT_MANAGER]
    )
    newcomer = enterprise(world.branch_a, name="新客户")  # no earlier case, no earlier manager
    picked = account_manager_pick(enterprise=newcomer)
    assert picked is not None and picked != creds.client.user
    assert picked.username in {"am_a", "am_a2"}


def test_service_accounts_get_no_hand_off_notice_but_the_people_do(world) -> None:
    from notices.models import Notification
    from onboarding.states import State

    bank = api_services.api_client_create(
        name="科技部系统", scopes=["read"], branch=world.head_office, roles=[Role.TECH_REVIEWER]
    )
    company = api_services.api_client_create(name="ERP 接口", scopes=["read"], enterprise=world.company_x)
    case = world.case(State.HEAD_OFFICE_APPROVAL, endorsed=True)
    case = services.case_transition(case=case, user=world.approver, name="approve", reason="")
    assert Notification.objects.filter(recipient=world.tech, case_id=case.pk, kind="handoff").exists()
    assert not Notification.objects.filter(recipient=bank.client.user).exists()
    # The test package goes to the customer: its people, not its ERP's account.
    services.test_package_record(
        case=case,
        user=world.tech,
        test_endpoint="https://t.example/h2h",
        test_accounts="1",
        test_certificate_ref="T",
        doc_version="v1",
    )
    services.case_transition(case=case, user=world.tech, name="issue_test_package", reason="")
    assert Notification.objects.filter(recipient=world.customer_x, case_id=case.pk, kind="handoff").exists()
    assert not Notification.objects.filter(recipient=company.client.user).exists()


def test_the_reminder_sweep_skips_service_accounts(world) -> None:
    import datetime as dt

    from django.utils import timezone

    from notices.models import Notification
    from onboarding.models import StageVisit
    from onboarding.states import State
    from reminders.services import reminders_sweep

    bank = api_services.api_client_create(
        name="科技部系统", scopes=["read"], branch=world.head_office, roles=[Role.TECH_REVIEWER]
    )
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    StageVisit.objects.filter(pk=case.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=3))
    reminders_sweep()
    assert Notification.objects.filter(recipient=world.tech, case_id=case.pk).exists()
    assert not Notification.objects.filter(recipient=bank.client.user).exists()
