"""The dashboard's per-state figures and overdue count, as a reader sees them (issue 26).

On PostgreSQL the per-state figures are the sum of the scope's `StageCount` rows, which the
cases' triggers keep, and head office's overdue count walks the open visits in due order. Both
must equal a direct count of the cases after every kind of write: transitions, suspension and
resumption, reassignment, the bulk import, a `queryset.update()` that moves cases to another
branch. Elsewhere (SQLite) the page counts the cases themselves: the page tests run on both.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from branches.roles import Role
from onboarding import selectors, services
from onboarding.models import OnboardingCase, OpenStage, StageCount, StageVisit, TeamCount
from onboarding.states import State
from people import services as people_services
from tests.factories import enterprise
from tests.transfers_helpers import encode, good_row

pytestmark = pytest.mark.django_db

FIGURE = re.compile(
    r'<a class="count(?: danger)?" href="[^"?]*\?(state=(\w+)|overdue=on)"><span class="n">([^<]+)</span>'
)


def direct() -> dict[tuple[int, str], int]:
    rows = OnboardingCase.objects.values("branch_id", "state").annotate(n=Count("*")).order_by()
    return {(r["branch_id"], r["state"]): r["n"] for r in rows}


def kept() -> dict[tuple[int, str], int]:
    return {(r.branch_id, r.state): r.n for r in StageCount.objects.all() if r.n}


OPEN_STAGE = (
    "branch_id",
    "account_manager_id",
    "state",
    "holder_role",
    "entered_at",
    "due_at",
    "paused_at",
    "left_at",
    "has_production_config",
)


def open_stages_direct() -> dict[int, tuple]:
    """Each case with a current stage: where it is, its current visit and whether it has a
    production configuration, read by the join."""
    from django.db.models import Exists, OuterRef

    from onboarding.models import ProductionConfig

    configured = Exists(ProductionConfig.objects.filter(case=OuterRef("pk")))
    rows = (
        OnboardingCase.objects.filter(current_visit__isnull=False)
        .annotate(configured=configured)
        .values_list(
            "pk",
            "current_visit_id",
            "branch_id",
            "account_manager_id",
            "state",
            "current_visit__holder_role",
            "current_visit__entered_at",
            "current_visit__due_at",
            "current_visit__paused_at",
            "current_visit__left_at",
            "configured",
        )
    )
    return {pk: rest for pk, *rest in rows}


def open_stages_kept() -> dict[int, tuple]:
    return {pk: rest for pk, *rest in OpenStage.objects.values_list("case_id", "visit_id", *OPEN_STAGE)}


def team_counts_direct() -> dict[tuple, int]:
    """The team table's groups (branch, state, account manager, holder) counted from the cases
    joined to their current visits."""
    rows = (
        OnboardingCase.objects.filter(current_visit__isnull=False)
        .values_list("branch_id", "state", "account_manager_id", "current_visit__holder_role")
        .annotate(n=Count("*"))
        .order_by()
    )
    return {tuple(key): n for *key, n in rows}


def team_counts_kept() -> dict[tuple, int]:
    rows = TeamCount.objects.filter(n__gt=0).values_list("branch_id", "state", "account_manager_id", "holder_role", "n")
    return {tuple(key): n for *key, n in rows}


def all_kept_exact() -> bool:
    """Every kept table equals its direct count."""
    return (
        kept() == direct()
        and open_stages_kept() == open_stages_direct()
        and team_counts_kept() == team_counts_direct()
        and not TeamCount.objects.filter(n__lt=0).exists()
    )


def figures(client, who) -> dict[str, str]:
    """The dashboard's figures as shown: {state: n, "overdue": n}."""
    client.force_login(who)
    page = client.get(reverse("home")).content.decode()
    client.logout()
    return {(m.group(2) or "overdue"): m.group(3) for m in FIGURE.finditer(page)}


def expected(who) -> dict[str, str]:
    """What a direct count of the cases the reader may see says."""
    visible = OnboardingCase.objects.filter(selectors.case_visible_q(who))
    counts = dict(visible.values_list("state").annotate(n=Count("*")).order_by())
    overdue = selectors.case_filter(visible, overdue=True).order_by().count()
    return {"states": counts, "overdue": str(overdue)}


def assert_figures_match(client, world) -> None:
    for who in (world.approver, world.auditor, world.supervisor, world.supervisor_other, world.am_a, world.am_b):
        shown = figures(client, who)
        want = expected(who)
        assert shown.pop("overdue") == want["overdue"], who
        assert shown, who
        for state, n in shown.items():
            assert int(n) == want["states"].get(state, 0), (who, state)


def make_overdue(case: OnboardingCase) -> None:
    StageVisit.objects.filter(pk=case.current_visit_id).update(due_at=timezone.now() - dt.timedelta(days=3))


def test_every_figure_equals_a_direct_count_for_every_reader(client, world) -> None:
    intake = world.case(State.BRANCH_INTAKE)
    make_overdue(intake)
    make_overdue(world.case(State.JOINT_TESTING, company=world.company_y))
    world.case(State.HEAD_OFFICE_APPROVAL)
    world.case(State.DRAFT, company=world.company_y)
    paused = world.case(State.TEST_PACKAGE_ISSUANCE)
    services.case_transition(case=paused, name="suspend", user=world.am_a, reason="客户暂缓")
    make_overdue(world.case(State.UKEY_ISSUANCE))  # overdue, then suspended: not counted
    world.case(State.LIVE)
    assert_figures_match(client, world)
    # Head office's count walks the open visits: a suspended visit past its due time is not overdue.
    assert figures(client, world.approver)["overdue"] == "3"


def test_the_figures_and_overdue_count_read_together_equal_each_read_alone(world) -> None:
    """A dashboard without a team table reads the per-state figures and the overdue count in one
    statement (PostgreSQL): the same figures as `stage_counts` and `overdue_count` each give."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_overdue(world.case(State.BRANCH_INTAKE))
    make_overdue(world.case(State.JOINT_TESTING, company=world.company_y))
    world.case(State.HEAD_OFFICE_APPROVAL)
    world.case(State.LIVE)
    for who in (world.approver, world.auditor, world.tech, world.am_a, world.am_b, world.checker, world.supervisor):
        alone = (selectors.stage_counts(user=who), selectors.overdue_count(user=who))
        with CaptureQueriesContext(connection) as read:
            together = selectors.stage_counts_and_overdue(user=who)
        assert together == alone, who
        assert len(read) == (1 if connection.vendor == "postgresql" else 2), who
    assert selectors.stage_counts_and_overdue(user=world.am_a)[1] == 1  # the case of branch A only


def test_an_overdue_case_of_another_root_branch_is_not_head_offices(client, world) -> None:
    """The walk over every open visit applies only while head office is the only root."""
    from branches.models import BranchLevel
    from tests.factories import branch

    other_root = branch("HO2", BranchLevel.HEAD_OFFICE)
    elsewhere = branch("E", BranchLevel.SUB_BRANCH, branch("E1", BranchLevel.BRANCH, other_root))
    moved = world.case(State.BRANCH_INTAKE, company=enterprise(world.branch_a, name="别行公司"))
    OnboardingCase.objects.filter(pk=moved.pk).update(branch=elsewhere)
    make_overdue(moved)
    make_overdue(world.case(State.BRANCH_INTAKE))
    assert figures(client, world.approver)["overdue"] == expected(world.approver)["overdue"] == "1"


@pytest.mark.postgres
def test_the_kept_counts_follow_every_write_path(client, world, tmp_path) -> None:
    assert all_kept_exact()
    case = world.case(State.JOINT_TESTING)
    world.case(State.BRANCH_INTAKE, company=world.company_y)
    world.case(State.LIVE)
    assert all_kept_exact() and sum(kept().values()) == 3

    # A visit made overdue, handed to another holder (statements on the visits' table).
    make_overdue(case)
    StageVisit.objects.filter(pk=case.current_visit_id).update(holder_role=Role.TECH_REVIEWER)
    assert all_kept_exact() and open_stages_kept()[case.pk][4] == Role.TECH_REVIEWER
    assert team_counts_kept()[(world.branch_a.pk, State.JOINT_TESTING, world.am_a.pk, Role.TECH_REVIEWER)] == 1

    # Suspension and resumption (the transition door).
    services.case_transition(case=case, name="suspend", user=world.am_a, reason="客户暂缓")
    assert all_kept_exact() and kept()[(world.branch_a.pk, State.SUSPENDED)] == 1
    case.refresh_from_db()
    services.case_transition(case=case, name="resume", user=world.am_a)
    assert all_kept_exact() and (world.branch_a.pk, State.SUSPENDED) not in kept()

    # A transition back (a new visit of another holder) and a close (no current visit: no row).
    sent = world.case(State.HEAD_OFFICE_APPROVAL)
    sent = services.case_transition(case=sent, name="return_to_intake", user=world.supervisor, reason="补件")
    assert (
        all_kept_exact()
        and team_counts_direct()[(world.branch_a.pk, State.BRANCH_INTAKE, world.am_a.pk, Role.ACCOUNT_MANAGER)] == 1
    )
    services.case_transition(case=sent, name="withdraw", user=world.am_a, reason="客户撤回")
    assert all_kept_exact() and not OpenStage.objects.filter(case_id=sent.pk).exists()

    # A case left without an account manager (a statement): its group keeps a NULL manager.
    OnboardingCase.objects.filter(pk=case.pk).update(account_manager=None)
    assert all_kept_exact() and any(am is None for _, _, am, _ in team_counts_kept())
    OnboardingCase.objects.filter(pk=case.pk).update(account_manager=world.am_a)
    assert all_kept_exact()

    # Reassignment to another account manager of the branch.
    moves = people_services.moves_of(person=world.am_a)
    outcome = people_services.work_reassign(actor=world.supervisor, moves=moves, target=world.am_a2, reason="调岗")
    assert outcome.moved and all_kept_exact()

    # The bulk import (the command; the page and the worker run the same service).
    data, name = encode(
        [
            good_row(1),
            good_row(
                2, 当前阶段="已上线", 柜台UKey发放日期="2026-03-25", 生产验证日期="2026-03-27", 上线日期="2026-03-30"
            ),
        ],
        "utf-8",
    )
    path = tmp_path / name
    path.write_bytes(data)
    call_command("import_cases", str(path), "--as", "supervisor", stdout=StringIO())
    assert OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").count() == 2
    assert all_kept_exact() and sum(kept().values()) == 6  # the withdrawn case is still a case

    # A statement that moves cases to another branch, whoever sends it.
    OnboardingCase.objects.filter(branch=world.branch_a).update(branch=world.branch_b)
    assert all_kept_exact() and not any(b == world.branch_a.pk for b, _ in kept())
    assert_figures_match(client, world)


def test_the_held_lists_and_documents_to_review_equal_the_joined_reads(client, world) -> None:
    """The held list walks the holder role's open visits (one role at a branch) and the documents
    to review are found by the candidate cases' ids (below head office): for every reader, the
    same items in the same order as the plain joined reads (`my_work`; the needs through the
    join to the cases)."""
    from django.db.models import Q

    from documents import queue as documents_queue
    from documents import services as documents
    from documents.samples import sample_pdf
    from onboarding import queue

    # Cases waiting on every role, in both subtrees, some overdue, one suspended.
    for state in (State.BRANCH_INTAKE, State.HEAD_OFFICE_APPROVAL, State.JOINT_TESTING, State.UKEY_ISSUANCE):
        make_overdue(world.case(state))
        world.case(state)
        world.case(state, company=world.company_y)
    paused = world.case(State.HEAD_OFFICE_APPROVAL)
    services.case_transition(case=paused, name="suspend", user=world.am_a, reason="客户暂缓")
    world.case(State.DRAFT)
    # Uploads waiting on the account manager (their own cases' intake papers), on tech (the test
    # report) and on nobody yet (decided, or a newer version waiting instead).
    intake = world.case(State.BRANCH_INTAKE, documents=False)
    other_intake = world.case(State.BRANCH_INTAKE, company=world.company_y, documents=False)
    testing = world.case(State.JOINT_TESTING, documents=False)
    for case, who, kind in (
        (intake, world.customer_x, "business_licence"),
        (intake, world.customer_x, "legal_rep_id"),
        (other_intake, world.customer_y, "business_licence"),
        (testing, world.customer_x, "test_report"),
    ):
        documents.document_upload(case=case, user=who, kind=kind, upload=io.BytesIO(sample_pdf(kind)), name="f.pdf")

    readers = (
        world.supervisor,
        world.supervisor_other,
        world.approver,
        world.tech,
        world.maker,
        world.checker,
        world.am_a,
        world.am_a2,
        world.am_b,
        world.auditor,
    )
    for who in readers:
        qs = selectors.my_work(user=who)
        for state, role in queue._handled():
            qs = qs.exclude(state=state, current_visit__holder_role=role)
        joined = list(qs.values_list("pk", flat=True)[:50])
        assert [item.case.pk for item in queue.held_items(who)] == joined, who

        needs = [need for role in sorted(selectors.user_roles(who)) for need in documents_queue._needs(role)]
        visible = OnboardingCase.objects.filter(selectors.case_visible_q(who)).values("pk")
        mine = documents_queue._waiting_q(needs, who) & Q(document__case__in=visible) if needs else Q(pk__in=[])
        versions = (
            documents_queue.DocumentVersion.objects.filter(mine, decision="", document__generated=False)
            .exclude(uploaded_by=who)
            .values_list("document__case_id", "document__kind")
        )
        want = sorted(
            (case_id, kind)
            for case_id, kind in versions
            if not documents_queue.DocumentVersion.objects.filter(
                document__case_id=case_id, document__kind=kind, number__gt=1
            ).exists()
        )
        got = sorted(
            (item.case.pk, kind)
            for item in documents_queue.documents_to_review(who)
            for kind in ("business_licence", "legal_rep_id", "test_report")
            if str(documents_queue.DocumentKind(kind).label) in item.action
        )
        assert got == want, who
    # The readers above did have work: the test compares lists that are not empty.
    assert queue.held_items(world.supervisor) and queue.held_items(world.supervisor_other)
    assert sum(bool(queue.held_items(who)) for who in readers) >= 4
    assert [i.case for i in documents_queue.documents_to_review(world.am_a)] == [intake]
    assert [i.case for i in documents_queue.documents_to_review(world.am_b)] == [other_intake]
    assert [i.case for i in documents_queue.documents_to_review(world.tech)] == [testing]


def waiting_direct() -> dict[int, tuple]:
    """The uploaded documents whose latest version is undecided (case, kind, that version's
    uploader), read from the versions."""
    from django.db.models import OuterRef, Subquery

    from documents.models import DocumentVersion

    latest = DocumentVersion.objects.filter(document=OuterRef("document")).order_by("-number").values("pk")[:1]
    rows = DocumentVersion.objects.filter(pk=Subquery(latest), decision="", document__generated=False).values_list(
        "document_id", "document__case_id", "document__kind", "uploaded_by_id"
    )
    return {pk: tuple(rest) for pk, *rest in rows}


def waiting_kept() -> dict[int, tuple]:
    from documents.models import WaitingDocument

    rows = WaitingDocument.objects.values_list("document_id", "case_id", "kind", "uploaded_by_id")
    return {pk: tuple(rest) for pk, *rest in rows}


def documents_joined(who) -> list[tuple[int, str]]:
    """轮到我办理's documents to review as the plain ORM read says (`_waiting_q` through the join
    to the cases, the reader's visible cases, each document's latest version, undecided, of an
    uploaded document, uploaded by someone else): (case, action) in the queue's order, at most
    200 (case, kind) pairs and 50 cases."""
    from django.db.models import F, OuterRef, Q, Subquery
    from django.utils.translation import gettext as _
    from django.utils.translation import pgettext

    from documents import queue as documents_queue
    from documents.models import DocumentKind, DocumentVersion

    needs = [need for role in sorted(selectors.user_roles(who)) for need in documents_queue._needs(role)]
    if not needs:
        return []
    visible = OnboardingCase.objects.filter(selectors.case_visible_q(who)).values("pk")
    latest = DocumentVersion.objects.filter(document=OuterRef("document")).order_by("-number").values("number")[:1]
    pairs = (
        DocumentVersion.objects.filter(
            documents_queue._waiting_q(needs, who) & Q(document__case__in=visible),
            decision="",
            document__generated=False,
        )
        .annotate(latest=Subquery(latest))
        .filter(number=F("latest"))
        .exclude(uploaded_by=who)
        .order_by("document__case_id", "document__kind")
        .values_list("document__case_id", "document__kind")
        .distinct()[:200]
    )
    names: dict[int, list[str]] = {}
    for case_id, kind in pairs:
        names.setdefault(case_id, []).append(str(DocumentKind(kind).label))
    sep = pgettext("list separator", "、")
    return [(pk, _("审核文件:%(names)s") % {"names": sep.join(n)}) for pk, n in list(names.items())[:50]]


def test_documents_to_review_equal_the_joined_read_after_every_write(world) -> None:
    """轮到我办理's documents to review (PostgreSQL: from `WaitingDocument`, which the versions'
    triggers keep) are, for every reader, the plain joined read's items in its order, after
    every write that changes what waits: an upload, a new version over an undecided one or a
    returned one, a rejection, an acceptance (one and several at once), a generated form, an
    upload by the reviewer themself, a statement writing several versions at once, a case moved
    on and back without a version written; and the kept rows equal the versions' own answer."""
    from django.db import connection

    from documents import queue as documents_queue
    from documents import services as documents
    from documents.models import Decision, Document, DocumentVersion
    from documents.samples import sample_pdf

    readers = (
        world.supervisor,
        world.supervisor_other,
        world.approver,
        world.tech,
        world.maker,
        world.checker,
        world.am_a,
        world.am_a2,
        world.am_b,
        world.auditor,
    )
    seen: dict[object, int] = {}

    def check(step: str) -> None:
        if connection.vendor == "postgresql":
            assert waiting_kept() == waiting_direct(), step
        for who in readers:
            got = [(item.case.pk, item.action) for item in documents_queue.documents_to_review(who)]
            assert got == documents_joined(who), (step, who)
            seen[who] = seen.get(who, 0) + bool(got)

    def upload(case, who, kind):
        return documents.document_upload(
            case=case, user=who, kind=kind, upload=io.BytesIO(sample_pdf(kind)), name=f"{kind}.pdf"
        )

    intake = world.case(State.BRANCH_INTAKE, documents=False)
    other_intake = world.case(State.BRANCH_INTAKE, company=world.company_y, documents=False)
    testing = world.case(State.JOINT_TESTING, documents=False)
    testing_y = world.case(State.JOINT_TESTING, company=world.company_y, documents=False)
    counter = world.case(State.UKEY_ISSUANCE, documents=False)
    world.case(State.UKEY_ISSUANCE)  # walked with every paper accepted: nothing waits
    check("nothing uploaded")

    licence = upload(intake, world.customer_x, "business_licence")
    upload(intake, world.customer_x, "legal_rep_id")
    upload(other_intake, world.customer_y, "business_licence")
    report = upload(testing, world.customer_x, "test_report")
    upload(testing_y, world.customer_y, "test_report")
    upload(counter, world.maker, "ebanking_registration")
    check("uploaded")
    assert [pk for pk, _ in documents_joined(world.tech)] == sorted([testing.pk, testing_y.pk])
    assert [pk for pk, _ in documents_joined(world.checker)] == [counter.pk]
    assert [pk for pk, _ in documents_joined(world.am_a)] == [intake.pk]

    report = upload(testing, world.customer_x, "test_report")  # a newer version, the older undecided
    check("a new version over an undecided one")
    documents.document_review(version=report, user=world.tech, accept=False, reason="缺少签章")
    check("rejected")
    assert [pk for pk, _ in documents_joined(world.tech)] == [testing_y.pk]
    upload(testing, world.customer_x, "test_report")
    check("uploaded again after the return")
    upload(testing_y, world.tech, "test_report")  # the reviewer's own upload: not theirs to review
    check("uploaded by the reviewer themself")
    assert [pk for pk, _ in documents_joined(world.tech)] == [testing.pk]
    documents.document_review(version=licence, user=world.am_a, accept=True)
    check("accepted")
    legal = DocumentVersion.objects.get(document__case=intake, document__kind="legal_rep_id")
    documents.documents_accept(case=intake, user=world.am_a, versions=[legal])
    check("accepted together")
    assert documents_joined(world.am_a) == []
    documents.form_generate(case=counter, user=world.maker, kind="ebanking_registration")
    check("a generated form")

    # One statement writing versions of several documents: one undecided, one decided.
    docs = [
        Document.objects.get_or_create(case=intake, kind=kind, generated=False, defaults={"retention": "15y"})[0]
        for kind in ("handler_id", "authorisation_letter")
    ]
    DocumentVersion.objects.bulk_create(
        DocumentVersion(
            document=doc,
            number=doc.versions.count() + 1,
            original_name="f.pdf",
            storage_name=f"bulk/{doc.pk}.pdf",
            size=1,
            content_type="application/pdf",
            sha256="0" * 64,
            uploaded_by=world.customer_x,
            **({"decision": Decision.ACCEPTED, "reviewed_by": world.am_a, "reviewed_at": timezone.now()} if i else {}),
        )
        for i, doc in enumerate(docs)
    )
    check("several versions in one statement")
    assert [pk for pk, _ in documents_joined(world.am_a)] == [intake.pk]

    # Cases moved on and back without a version written (a statement, whoever sends it).
    OnboardingCase.objects.filter(pk__in=[intake.pk, testing.pk]).update(state=State.UKEY_ISSUANCE)
    check("moved on")
    assert documents_joined(world.am_a) == [] and documents_joined(world.tech) == []
    OnboardingCase.objects.filter(pk=intake.pk).update(state=State.BRANCH_INTAKE)
    OnboardingCase.objects.filter(pk=testing.pk).update(state=State.HEAD_OFFICE_APPROVAL)
    check("moved back")
    assert [pk for pk, _ in documents_joined(world.tech)] == [testing.pk]
    # The comparisons were not of empty lists: each reviewing role had work at some step.
    assert all(seen[who] for who in (world.tech, world.checker, world.am_a, world.am_b)), seen


def test_permissions_are_read_in_one_query_and_kept_with_the_users_copy(world) -> None:
    """`accounts.permissions.PermissionsBackend`: a person's own and their groups' permissions in
    one query, the same answer as Django's; none with the copy `user_prepare` made."""
    from django.contrib.auth.models import Group, Permission
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from branches.roles import user_prepare

    change = Permission.objects.get(codename="change_calendarday")
    view = Permission.objects.get(codename="view_calendarday")
    world.am_a.user_permissions.add(change)
    Group.objects.get(name="branch_supervisor").permissions.add(view)

    def fresh(who):
        return User.objects.get(pk=who.pk)

    for who, perm, allowed in (
        (world.am_a, "workcalendar.change_calendarday", True),  # their own
        (world.am_a, "workcalendar.view_calendarday", False),
        (world.supervisor, "workcalendar.view_calendarday", True),  # their group's
        (world.supervisor, "workcalendar.change_calendarday", False),
        (world.auditor, "workcalendar.change_calendarday", False),
    ):
        person = fresh(who)
        with CaptureQueriesContext(connection) as ctx:
            assert person.has_perm(perm) is allowed, (who, perm)
            assert person.has_perm(perm) is allowed
        assert len(ctx.captured_queries) == 1, ctx.captured_queries
    # Superusers have every permission; inactive people none.
    User.objects.filter(pk=world.auditor.pk).update(is_superuser=True)
    assert fresh(world.auditor).has_perm("workcalendar.change_calendarday")
    User.objects.filter(pk=world.am_a.pk).update(is_active=False)
    assert not fresh(world.am_a).has_perm("workcalendar.change_calendarday")
    # The user cache's copy carries them: the dashboard's question costs nothing.
    person = fresh(world.supervisor)
    user_prepare(person)
    with CaptureQueriesContext(connection) as ctx:
        assert person.has_perm("workcalendar.view_calendarday")
    assert not ctx.captured_queries


TILE = re.compile(r'<a class="count" href="[^"?]*\?state=(\w+)"><span class="n">([^<]+)</span><span>([^<]+)</span></a>')


def test_each_request_stage_has_one_tile_with_its_count(client, world) -> None:
    """A request type's first stage is timed and the bank's (an initial state and a working
    one): its tile shows once on the dashboard, with the number of such requests the reader
    sees (the operator change's review for the account manager, the UKey loss for the counter)."""
    from links import changes
    from links import services as link_services
    from links.requests import operator_change, ukey_loss
    from tests.links_request_helpers import live_link

    link = live_link(world)
    row = link.current_operators().exclude(ukey=None).first()
    changes.operator_change_open(
        link=link, user=world.customer_x, action="role", operator_id=row.operator_id, role="authorise"
    )
    link_services.ukey_loss_report(link=link, ukey=row.ukey, user=world.customer_x, reason="遗失")
    for who, state, label in (
        (world.am_a, operator_change.REVIEW, "操作员变更待客户经理审核"),
        (world.maker, ukey_loss.REPORTED, "已挂失,待补办录入"),
    ):
        client.force_login(who)
        tiles = TILE.findall(client.get(reverse("home")).content.decode())
        codes = [code for code, _n, _label in tiles]
        labels = [shown for _code, _n, shown in tiles]
        assert len(codes) == len(set(codes)) and len(labels) == len(set(labels)), (who, labels)
        assert labels.count(label) == 1, (who, labels)
        visible = OnboardingCase.objects.filter(selectors.case_visible_q(who))
        for code, n, _shown in tiles:
            assert int(n) == visible.filter(state=code).count(), (who, code)
        assert next(int(n) for code, n, _s in tiles if code == state) == 1


def test_the_overdue_list_counts_what_it_lists_for_every_reader_and_filter(client, world) -> None:
    """On PostgreSQL the overdue list is counted from `OpenStage` (its branch, state and account
    manager kept beside the visit's times): the page's "共 N 件" equals a direct count of the
    cases the filtered list selects, for every reader and filter."""
    for state in (State.BRANCH_INTAKE, State.JOINT_TESTING, State.UKEY_ISSUANCE):
        make_overdue(world.case(state))
        make_overdue(world.case(state, company=world.company_y))
        world.case(state)
    paused = world.case(State.TEST_PACKAGE_ISSUANCE)
    make_overdue(paused)
    services.case_transition(case=paused, name="suspend", user=world.am_a, reason="客户暂缓")
    world.case(State.DRAFT)
    filters = [
        {},
        {"state": State.JOINT_TESTING},
        {"branch": world.branch_a.pk},
        {"account_manager": world.am_a.pk},
        {"state": State.BRANCH_INTAKE, "account_manager": world.am_b.pk},
    ]
    for who in (world.approver, world.supervisor, world.supervisor_other, world.am_a, world.am_b):
        client.force_login(who)
        for params in filters:
            page = client.get(reverse("case_list"), {**params, "overdue": "on"}).content.decode()
            shown = re.search(r"共 (\d+) 件", page)
            visible = OnboardingCase.objects.filter(selectors.case_visible_q(who))
            branch = next((b for b in [world.branch_a] if b.pk == params.get("branch")), None)
            want = selectors.case_filter(
                visible,
                state=params.get("state", ""),
                branch=branch,
                account_manager_id=params.get("account_manager"),
                overdue=True,
            ).count()
            if "branch" in params and not visible.filter(branch=world.branch_a).exists():
                continue  # a branch not offered to this reader: the form refuses it
            if "account_manager" in params and shown is None:
                continue  # an account manager not offered to this reader
            assert shown is not None, (who, params)
            assert int(shown.group(1)) == want, (who, params)
        client.logout()
    assert figures(client, world.approver)["overdue"] == "6"


@pytest.mark.postgres
def test_the_held_list_from_open_stage_equals_the_joined_read(world, monkeypatch) -> None:
    """On PostgreSQL the held list is read from `OpenStage`: one role's (a supervisor, the
    counter, head office; `queue._HELD_KEPT`) and an account manager's (`queue._HELD_MINE_KEPT`,
    with the drafts that have no current stage yet): after transitions, a suspension, a hand-over, a move to
    another branch and with due times and creation times that tie, every page and the count
    equal the joined read of the cases (`my_work`, less the stages another source covers), in
    the same order (due time, creation time, id), also where the count's limit falls in a tie."""
    from onboarding import queue

    same_due = timezone.now() + dt.timedelta(days=1)
    same_created = timezone.now() - dt.timedelta(days=5)
    tied = []
    for state in (State.BRANCH_INTAKE, State.HEAD_OFFICE_APPROVAL, State.JOINT_TESTING, State.UKEY_ISSUANCE):
        for company in (world.company_x, world.company_x, world.company_y):
            tied.append(world.case(state, company=company))
        make_overdue(world.case(state))
    visits = [c.current_visit_id for c in tied]
    StageVisit.objects.filter(pk__in=visits).update(due_at=same_due)
    OnboardingCase.objects.filter(pk__in=[c.pk for c in tied[::2]]).update(created_at=same_created)
    # A suspension, a transition back, a hand-over to the supervisor, a move to the other subtree.
    paused = world.case(State.HEAD_OFFICE_APPROVAL)
    services.case_transition(case=paused, name="suspend", user=world.am_a, reason="客户暂缓")
    back = world.case(State.HEAD_OFFICE_APPROVAL)
    services.case_transition(case=back, name="return_to_intake", user=world.supervisor, reason="补件")
    handed = world.case(State.JOINT_TESTING)
    StageVisit.objects.filter(pk=handed.current_visit_id).update(holder_role=Role.BRANCH_SUPERVISOR, due_at=same_due)
    moved = world.case(State.BRANCH_INTAKE)
    OnboardingCase.objects.filter(pk=moved.pk).update(branch=world.branch_b)
    for role in (Role.HEAD_OFFICE_APPROVER, Role.TECH_REVIEWER, Role.COUNTER_CHECKER):  # hand-overs
        for i, due in enumerate((same_due, same_due, same_due, same_due, None)):
            other = world.case(State.BRANCH_INTAKE)
            StageVisit.objects.filter(pk=other.current_visit_id).update(holder_role=role, due_at=due)
            # Created the later, the lower its id: the tie's order is not the index's.
            OnboardingCase.objects.filter(pk=other.pk).update(created_at=same_created - dt.timedelta(hours=i))
    # The account managers' own (`queue._HELD_MINE_KEPT`): drafts whose creation times tie, one
    # without a current visit (no `OpenStage` row) tying with them, a case waiting on the
    # customer, one handed to the other account manager and one handed back to the first.
    drafts = [world.case(State.DRAFT) for _i in range(3)] + [world.case(State.DRAFT, company=world.company_y)]
    OnboardingCase.objects.filter(pk__in=[c.pk for c in drafts]).update(created_at=same_created)
    no_visit = world.case(State.DRAFT)
    OnboardingCase.objects.filter(pk=no_visit.pk).update(current_visit=None, created_at=same_created)
    with_customer = world.case(State.JOINT_TESTING)
    StageVisit.objects.filter(pk=with_customer.current_visit_id).update(holder_role="customer", due_at=same_due)
    to_other = world.case(State.BRANCH_INTAKE)
    OnboardingCase.objects.filter(pk=to_other.pk).update(account_manager=world.am_a2)
    returned = world.case(State.BRANCH_INTAKE)
    OnboardingCase.objects.filter(pk=returned.pk).update(account_manager=world.am_a2)
    OnboardingCase.objects.filter(pk=returned.pk).update(account_manager=world.am_a)
    assert all_kept_exact()
    assert not OpenStage.objects.filter(case_id=no_visit.pk).exists()

    readers = (
        world.supervisor,
        world.supervisor_other,
        world.approver,
        world.tech,
        world.maker,
        world.checker,
        world.am_a,
        world.am_a2,
        world.am_b,
    )

    def joined(who) -> list[int]:
        qs = selectors.my_work(user=who)
        for state, role in queue._handled():
            qs = qs.exclude(state=state, current_visit__holder_role=role)
        return list(qs.order_by("current_visit__due_at", "created_at", "pk").values_list("pk", flat=True))

    for limit in (2, 3, 5):
        monkeypatch.setattr(queue, "HELD_COUNT_LIMIT", limit)  # the count's cut inside the ties
        for who in readers:
            want = joined(who)
            statement = queue._held_statement(who, selectors.user_roles(who), 10)
            assert statement is not None and "onboarding_openstage" in statement[0], who
            for offset in range(0, len(want) + 1):
                held = queue.held_page(who, offset=offset, limit=2)
                assert [item.case.pk for item in held.items] == want[offset : offset + 2], (who, offset)
                if held.items:  # (a page past the end counts with a page of one: `held_page`)
                    assert held.total == min(len(want), held.counted + 1), (who, offset)
    assert len(joined(world.supervisor)) >= 4 and all(
        len(joined(who)) >= 3 for who in readers[2:6] if who != world.maker
    )
    assert handed.pk in joined(world.supervisor) and paused.pk not in joined(world.approver)
    mine = joined(world.am_a)
    assert {no_visit.pk, with_customer.pk, returned.pk, *(c.pk for c in drafts[:3])} <= set(mine)
    assert paused.pk not in mine and to_other.pk not in mine and to_other.pk in joined(world.am_a2)
    assert drafts[3].pk in joined(world.am_b)


def test_production_configs_to_issue_equal_the_joined_read(world) -> None:
    """Head-office tech's production configurations to issue, read by their keys (PostgreSQL:
    from `OpenStage`), are the joined read's (`case_list`): the scope's cases in such a stage
    without a configuration, earliest due first, the id breaking a tie."""
    from casetypes import declaration
    from casetypes.declaration import Feature
    from onboarding import queue
    from onboarding.models import ProductionConfig

    states = declaration.states_with(Feature.PRODUCTION_CONFIG)
    same_due = timezone.now() + dt.timedelta(days=1)
    made = []
    for state in states:
        for company in (world.company_x, world.company_y, world.company_x):
            made.append(world.case(state, company=company))
    StageVisit.objects.filter(pk__in=[c.current_visit_id for c in made[::2]]).update(due_at=same_due)
    make_overdue(made[1])
    world.case(State.JOINT_TESTING)  # another stage: not listed
    issued = {c.pk for c in made if ProductionConfig.objects.filter(case=c).exists()}

    def joined(who) -> list[tuple]:
        cases = (
            selectors.case_list(user=who)
            .filter(state__in=states, production_config__isnull=True)
            .order_by("current_visit__due_at", "pk")[:50]
        )
        return [(c.pk, c.reference, c.state, queue.company_name(c), c.current_visit.due_at) for c in cases]

    got = [
        (i.case.pk, i.case.reference, i.case.state, i.company, i.due_at)
        for i in queue.production_configs_to_issue(world.tech)
    ]
    assert got == joined(world.tech) and len(got) == len(made) - len(issued) >= 3
    assert queue.production_configs_to_issue(world.approver) == []


@pytest.mark.postgres
def test_the_production_configuration_mark_follows_every_write_path(world) -> None:
    """`OpenStage.has_production_config` (what head-office tech's list of configurations to
    issue reads) equals a direct look at `ProductionConfig` after every way a configuration or
    an open stage is written: the service (issued, issued again), a statement moving one to
    another case, a deletion, a configured case's next stage, its row written anew."""
    from onboarding import queue
    from onboarding.models import ProductionConfig

    def issue(case: OnboardingCase, serial: str) -> None:
        services.production_config_record(
            case=case,
            user=world.tech,
            production_endpoint="https://h2h.bank.example",
            certificate_serial=serial,
            production_accounts=case.enterprise.accounts.order_by("pk").first().account_number,
        )

    def listed() -> set[int]:
        return {item.case.pk for item in queue.production_configs_to_issue(world.tech)}

    first = world.case(State.UKEY_ISSUANCE)
    second = world.case(State.UKEY_ISSUANCE, company=world.company_y)
    assert all_kept_exact() and listed() == {first.pk, second.pk}

    issue(first, "PROD-1")  # the service: a new configuration
    assert all_kept_exact() and open_stages_kept()[first.pk][-1] is True and listed() == {second.pk}
    issue(first, "PROD-2")  # issued again: the same row updated
    assert all_kept_exact() and listed() == {second.pk}

    # A statement that moves the configuration to the other case, then deletes it.
    ProductionConfig.objects.filter(case=first).update(case=second)
    assert all_kept_exact() and listed() == {first.pk}
    ProductionConfig.objects.filter(case=second).delete()
    assert all_kept_exact() and listed() == {first.pk, second.pk}

    # A configured case's next stage (its row updated by the visits' and the cases' triggers),
    # and its row written anew (no current stage, then one again: the row's insert).
    issue(second, "PROD-3")
    later = world.case(State.PRODUCTION_VERIFICATION)
    assert all_kept_exact() and open_stages_kept()[later.pk][-1] is True
    visit = later.current_visit_id
    OnboardingCase.objects.filter(pk=later.pk).update(current_visit=None)
    assert all_kept_exact() and later.pk not in open_stages_kept()
    OnboardingCase.objects.filter(pk=later.pk).update(current_visit=visit)
    assert all_kept_exact() and open_stages_kept()[later.pk][-1] is True
    assert listed() == {first.pk}


def test_a_queue_rows_case_is_the_partly_read_case_from_db_makes(world) -> None:
    """`queue.row_case` makes the case without `Model.__init__`: only valid while the model has no
    `__init__` of its own and nothing listens to its init signals; the case it makes reads like
    `from_db`'s (the four columns loaded, the rest deferred and read on access)."""
    from django.db import connection
    from django.db.models import Model, signals

    from onboarding import queue

    assert not any("__init__" in vars(k) for k in OnboardingCase.__mro__ if k not in (Model, object))
    assert not signals.pre_init.has_listeners(OnboardingCase) and not signals.post_init.has_listeners(OnboardingCase)
    case = world.case(State.BRANCH_INTAKE)
    made = queue.row_case(case.pk, case.public_id, case.reference, case.state)
    read = OnboardingCase.from_db(
        connection.alias,
        ["id", "public_id", "reference", "state"],
        [case.pk, case.public_id, case.reference, case.state],
    )
    assert type(made) is type(read) and made == read and made.state == case.state
    assert vars(made).keys() - {"_state"} == vars(read).keys() - {"_state"}
    assert made.get_deferred_fields() == read.get_deferred_fields()
    assert (made._state.db, made._state.adding) == (read._state.db, read._state.adding)
    assert made.enterprise == case.enterprise  # a deferred relation, read on access


def pending_direct() -> dict[int, tuple]:
    """The pending change requests with their cases' branches, read by the join."""
    from onboarding.models import ChangeRequest

    rows = ChangeRequest.objects.filter(status=ChangeRequest.Status.PENDING).values_list(
        "pk", "case_id", "case__branch_id", "filed_by_id", "filed_at"
    )
    return {pk: tuple(rest) for pk, *rest in rows}


def pending_kept() -> dict[int, tuple]:
    from onboarding.models import PendingChange

    rows = PendingChange.objects.values_list("request_id", "case_id", "branch_id", "filed_by_id", "filed_at")
    return {pk: tuple(rest) for pk, *rest in rows}


def changes_to_decide(client, who) -> set[str]:
    """The cases whose change request the reader's dashboard asks them to decide (their pages' paths)."""
    client.force_login(who)
    page = client.get(reverse("home")).content.decode()
    client.logout()
    return set(re.findall(r'href="([^"#]+)#company-changes"', page))


def test_the_supervisors_change_requests_follow_every_write_path(client, world) -> None:
    """A pending change request is on the dashboard of the supervisors of its case's subtree and
    no other's: after filing (the account manager, the customer), a move of the case to another
    tier-1 branch (a statement), a refusal and an approval. On PostgreSQL the dashboard reads the
    kept `PendingChange` rows, which must equal the requests joined to their cases each time."""
    from django.db import connection

    from onboarding.change_requests import change_request_approve, change_request_file, change_request_refuse

    postgresql = connection.vendor == "postgresql"

    def file(case, by):
        company = case.company
        data = {f: getattr(company, f) for f in ("legal_rep_name", "legal_rep_id_number", "handler_name")}
        data.update(
            name=f"{company.name}(更名)",
            handler_id_number=company.handler_id_number,
            contact_email=company.contact_email,
        )
        return change_request_file(case=case, user=by, data=data, accounts=list(company.accounts), reason="企业更名")

    def shown(mine: set, theirs: set) -> None:
        assert changes_to_decide(client, world.supervisor) == {reverse("case_detail", args=[c.public_id]) for c in mine}
        assert changes_to_decide(client, world.supervisor_other) == {
            reverse("case_detail", args=[c.public_id]) for c in theirs
        }
        for who in (world.am_a, world.am_b, world.approver):
            assert not changes_to_decide(client, who), who
        if postgresql:
            assert pending_kept() == pending_direct()

    a = world.case(State.TEST_PACKAGE_ISSUANCE)
    b = world.case(State.JOINT_TESTING, company=world.company_y)
    shown(set(), set())
    request_a = file(a, world.am_a)  # the account manager files: branch A, under the supervisor's tier-1 branch
    request_b = file(b, world.customer_y)  # the customer files: branch B, under the other tier-1 branch
    shown({a}, {b})
    assert len(pending_direct()) == 2

    # The case moved to the other subtree by a statement: its request goes with it, and back.
    OnboardingCase.objects.filter(pk=a.pk).update(branch=world.branch_b)
    shown(set(), {a, b})
    OnboardingCase.objects.filter(pk=a.pk).update(branch=world.branch_a)
    shown({a}, {b})

    # Decided: off every dashboard; filed again after a refusal: back on the supervisor's.
    a.refresh_from_db()
    change_request_refuse(request=request_a, user=world.supervisor, reason="资料不全")
    shown(set(), {b})
    a.refresh_from_db()
    request_a = file(a, world.am_a)
    shown({a}, {b})
    change_request_approve(request=request_b, user=world.supervisor_other)
    shown({a}, set())
    a.refresh_from_db()
    change_request_approve(request=request_a, user=world.supervisor)
    shown(set(), set())
    assert not pending_direct()
