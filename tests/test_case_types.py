"""A case type is declared once (casetypes.declaration), and the rest of the product follows.

- A toy type of two stages, declared in this module alone, gets a queue entry for its holder, a
  hand-off notice the next person sees, an SLA with a reminder once overdue, a document
  checklist, a webhook event, a row in analytics, visibility in the API, a `describe_workflow`
  section and the same scoping (branch tree, portal company) as onboarding cases.
- Every stage of every declared type has what each consumer needs (the coverage test).
- No module outside the journey's own declaration, the demo data and the back-test's synthetic
  histories names a stage.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.template.loader import get_template
from django.test import override_settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import transition
from freezegun import freeze_time

from branches.roles import Role
from casetypes import declaration
from casetypes.declaration import CUSTOMER, Action, CaseType, DocumentNeed, End, Stage
from documents.checklist import case_checklist
from documents.models import DocumentKind
from notices.models import Notification
from onboarding import queue, rules
from onboarding import services as case_services
from onboarding.models import OnboardingCase
from onboarding.workflow import CaseEngine, step
from tests.api_helpers import enterprise_api

ROOT = Path(__file__).resolve().parent.parent


# --- the toy type, declared here and nowhere else ---------------------------------------------
class ToyJourney(CaseEngine):
    @transition(
        field="state",
        source="toy_review",
        target="toy_sign",
        permission=rules.Allowed(Role.BRANCH_SUPERVISOR),
        custom=step(_("审阅通过"), done=_("已审阅,等待客户签署")),
    )
    def toy_reviewed(self, *, by: Any, now: dt.datetime) -> None:
        """Review closes; signing opens, held by the customer."""
        self._enter("toy_sign", now)

    @transition(
        field="state",
        source="toy_sign",
        target="toy_done",
        permission=rules.Allowed(Role.ENTERPRISE_USER),
        custom=step(_("签署"), done=_("已签署")),
    )
    def toy_signed(self, *, by: Any, now: dt.datetime) -> None:
        """Signing closes; the toy is done."""
        self._enter("toy_done", now)


class ToyCase(ToyJourney, OnboardingCase):
    class Meta:
        proxy = True
        app_label = "onboarding"


TOY = CaseType(
    code="toy",
    label="玩具",
    model=ToyCase,
    stages=(
        Stage(
            "toy_review",
            "审阅",
            holder=Role.BRANCH_SUPERVISOR,
            sla_days=2,
            actions=(Action(Role.BRANCH_SUPERVISOR, "审阅玩具申请", "actions"),),
            documents=(DocumentNeed(DocumentKind.BUSINESS_LICENCE, reviewers=(Role.BRANCH_SUPERVISOR,)),),
        ),
        Stage("toy_sign", "签署", holder=CUSTOMER, sla_days=1),
    ),
    ends=(End("toy_done", "已完成", live=True),),
)


@pytest.fixture
def toy() -> Any:
    declaration.register(TOY)
    yield TOY
    declaration.unregister(TOY.code)


def _toy_case(world: Any) -> OnboardingCase:
    return case_services.case_create(
        user=world.am_a, enterprise=world.company_x, modules=[], case_type="toy", fields={}
    )


@override_settings(WEBHOOK_ALLOW_LOOPBACK=True)
def test_a_toy_type_declared_in_one_module_gets_the_whole_product(
    world, toy, client, django_capture_on_commit_callbacks
):
    from analytics.facts import facts_refresh
    from analytics.models import VisitFact
    from reminders.models import Reminder
    from reminders.services import reminders_sweep
    from webhooks import services as webhooks
    from webhooks.models import WebhookDelivery, WebhookEvent

    webhooks.endpoint_add(
        url="http://127.0.0.1:9/hook", events=[WebhookEvent.STAGE_ENTERED], enterprise=world.company_x
    )
    case = _toy_case(world)

    # Loaded back, the row is a toy (its own transitions) and starts in its first stage.
    case = OnboardingCase.objects.get(pk=case.pk)
    assert type(case) is ToyCase and case.state == "toy_review" and case.case_type == "toy"
    visit = case.current_visit
    assert visit.holder_role == Role.BRANCH_SUPERVISOR and visit.due_at is not None

    # The queue: the supervisor of the case's branch tree holds it, in the declaration's words.
    items = [i for i in queue.queue_for(world.supervisor) if i.case.pk == case.pk]
    assert [i.action for i in items] == ["审阅玩具申请"]
    assert not [i for i in queue.queue_for(world.supervisor_other) if i.case.pk == case.pk]

    # The document checklist of its stage.
    assert [(i.kind, i.requirement.stage) for i in case_checklist(case)] == [
        (DocumentKind.BUSINESS_LICENCE, "toy_review")
    ]

    # Scoping: the other branch's staff and the other company's users see nothing.
    client.force_login(world.supervisor)
    page = client.get(f"/cases/{case.public_id}/")
    assert page.status_code == 200 and "审阅" in page.content.decode()
    client.force_login(world.supervisor_other)
    assert client.get(f"/cases/{case.public_id}/").status_code == 404
    client.force_login(world.customer_y)
    assert client.get(f"/portal/cases/{case.public_id}/").status_code == 404

    # The hand-off: the supervisor reviews; the customer is told and sees it after logging in.
    with django_capture_on_commit_callbacks(execute=False):
        case = case_services.case_transition(case=case, user=world.supervisor, name="toy_reviewed")
    assert case.state == "toy_sign" and case.current_visit.holder_role == CUSTOMER
    assert Notification.objects.filter(recipient=world.customer_x, case_id=case.pk, kind="handoff").exists()
    client.force_login(world.customer_x)
    portal = client.get(f"/portal/cases/{case.public_id}/")
    assert portal.status_code == 200 and "签署" in portal.content.decode()

    # A webhook delivery for the stage entered.
    assert WebhookDelivery.objects.filter(event_type=WebhookEvent.STAGE_ENTERED, event__case_id=case.pk).exists()

    # The API shows the company's toy case to the company's client, not to another company's.
    listed = enterprise_api(world.company_x).get("/api/v1/cases/").json()
    assert str(case.public_id) in str(listed)
    assert str(case.public_id) not in str(enterprise_api(world.company_y).get("/api/v1/cases/").json())

    # Overdue by its declared service level (1 working day): the sweep reminds.
    with freeze_time(timezone.now() + dt.timedelta(days=10)):
        reminders_sweep()
    assert Reminder.objects.filter(visit=case.current_visit, level=1).exists()

    # Analytics: its visits become fact rows.
    facts_refresh(case_ids=[case.pk])
    assert set(VisitFact.objects.filter(case_id=case.pk).values_list("stage", flat=True)) == {"toy_review", "toy_sign"}

    # describe_workflow has a section for it.
    from io import StringIO

    out = StringIO()
    call_command("describe_workflow", stdout=out)
    text = out.getvalue()
    assert "== toy: 玩具 ==" in text and "toy_reviewed: 审阅通过" in text


def test_the_toy_type_is_gone_once_unregistered(world):
    assert "toy_review" not in declaration.working_states()
    assert "toy" not in declaration.CASE_TYPES


# --- every stage has what every consumer needs ---------------------------------------------------
def _stages() -> list[tuple[CaseType, Stage]]:
    return [(ct, s) for ct in declaration.CASE_TYPES.values() for s in ct.stages]


@pytest.mark.parametrize("ct,stage", _stages(), ids=lambda x: getattr(x, "code", ""))
def test_every_stage_declares_what_its_consumers_need(ct, stage):
    roles = set(Role.values)
    # The holder is a role or the customer; a bank-held stage says what its holder does next.
    assert stage.holder in roles | {CUSTOMER}
    if stage.holder != CUSTOMER:
        assert stage.action_for(stage.holder) is not None, "the queue needs the holder's action"
    for action in stage.actions:  # a bank role, or what the customer does on the portal
        assert action.role in roles | {CUSTOMER} and str(action.text)
    # A timed stage has a service level; only the start may be untimed.
    assert stage.timed or stage is ct.initial
    # Documents: known kinds, reviewed by a real role; generated ones have a PDF template.
    from documents.forms_pdf import TEMPLATES

    for need in stage.documents:
        assert need.kind in DocumentKind.values
        assert need.reviewers and set(need.reviewers) <= roles
        if need.generated:
            assert need.kind in TEMPLATES
    for panel in stage.portal_panels:
        get_template(panel)
    # The label reads in both languages.
    assert str(stage.label)
    # It is reached by a transition and left by one (describe_workflow, analytics' targets).
    ts = declaration.transitions(ct)
    assert any(t.source == stage.code for t in ts), "no way out"
    assert stage is ct.initial or any(t.target == stage.code for t in ts), "never entered"


def test_every_state_code_fits_the_columns_that_store_it():
    from onboarding.models import StageVisit

    width = StageVisit._meta.get_field("stage").max_length
    assert all(len(code) <= width for ct in declaration.CASE_TYPES.values() for code in ct.states)


# --- a stage is named in its declaration, not across the product ----------------------------------
STAGES = {
    "DRAFT": "draft",
    "BRANCH_INTAKE": "branch_intake",
    "HEAD_OFFICE_APPROVAL": "head_office_approval",
    "TEST_PACKAGE_ISSUANCE": "test_package_issuance",
    "JOINT_TESTING": "joint_testing",
    "UKEY_ISSUANCE": "ukey_issuance",
    "PRODUCTION_VERIFICATION": "production_verification",
}
# The journey's declaration, and the two places that walk it by name as a person would.
ALLOWED = {"onboarding/journey.py", "demo/seed.py", "analytics/history.py"}


def _files_naming(code: str) -> set[str]:
    """Files (outside tests, migrations and benches) with `State.X` or the code as a string,
    not counting another vocabulary's member of the same spelling (a document kind)."""
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {".venv", "tests", "bench", "node_modules", "var"} or "migrations" in rel.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        other_vocabulary = {
            id(c)
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and node.name != "State"
            for st in node.body
            if isinstance(st, ast.Assign)
            for c in ast.walk(st.value)
        }
        for node in ast.walk(tree):
            named = (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "State"
                and STAGES.get(node.attr) == code
            ) or (isinstance(node, ast.Constant) and node.value == code and id(node) not in other_vocabulary)
            if named:
                found.add(str(rel))
    for path in (ROOT / "templates").rglob("*.html"):
        if re.search(rf"[\"']{code}[\"']", path.read_text(encoding="utf-8")):
            found.add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("code", STAGES.values())
def test_a_stage_is_named_in_at_most_three_files(code):
    files = _files_naming(code)
    assert len(files) <= 3 and files <= ALLOWED, sorted(files)
