"""The reads written once per process are prepared on their connection (`DB_PREPARED_READS`, issue 26).

On PostgreSQL `config.statements.read_cursor` prepares a statement at its first execution and
runs it by name afterwards. Checked from PostgreSQL's side (`pg_prepared_statements`, the
server's own list for this connection): the case page's reads are prepared and the page reads
the same rows; a branch subtree's `LIKE` never is, except as an init plan (the subtree's branch ids
read once before the rows are found: head-office tech's and an account manager's queue reads); the
setting off prepares nothing; a
rolled-back transaction (psycopg forgets its statements then) leaves the next reads working;
the prepared reads are still seen by Django's execute wrappers (query counts, the user's copy).
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.db import connection, transaction
from django.http import Http404
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from documents import services as documents
from documents.samples import sample_pdf
from onboarding import queue, selectors
from onboarding.models import State
from tests.factories import enterprise

pytestmark = pytest.mark.postgres


def _prepared() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE from_sql IS FALSE")
        return {row[0] for row in cursor.fetchall()}


def _page(client: Any, reader: Any, case: Any) -> str:
    client.force_login(reader)
    response = client.get(f"/cases/{case.public_id}/")
    assert response.status_code == 200
    return response.content.decode()


def _stable(html: str) -> str:
    """The page without its per-request tokens and the working days left (they move with the clock
    between two requests as a due time's working day begins)."""
    html = re.sub(r'name="(csrfmiddlewaretoken|form_token)" value="[^"]+"', "", html)
    return re.sub(r"\d+ 个工作日", "N 个工作日", html)


def test_the_case_pages_reads_are_prepared_and_read_the_same(world: Any, client: Any) -> None:
    case = world.case(State.PRODUCTION_VERIFICATION)
    before = _prepared()  # the world's own writes read some already
    with override_settings(DB_PREPARED_READS=False):
        plain = _page(client, world.am_a, case)
        assert _prepared() == before  # off: nothing prepared
    first = _page(client, world.am_a, case)
    statements = _prepared()
    assert any("onboarding_onboardingcase" in s and "$1" in s for s in statements - before), statements
    # A subtree's LIKE only checks a row found by its own key (the reader's scope), never finds rows.
    assert all(_like_is_safe(s) for s in statements), statements
    second = _page(client, world.am_a, case)
    assert _prepared() == statements  # run by name the second time, nothing prepared again
    assert _stable(first) == _stable(second) == _stable(plain)


def _like_is_safe(statement: str) -> bool:
    """A prepared statement's subtree `LIKE` checks a row found by its own key, or is an init plan
    (the subtree's branch ids read once, before any row is found: PostgreSQL's estimate of the
    rows is then the same for every value, so the generic plan is the one it makes for each)."""
    if " LIKE " not in statement.upper():
        return True
    if re.search(r'WHERE t0\."(public_id|id)" = \$1 AND', statement):
        return True
    init_plan = r"= ANY\(ARRAY\(SELECT b\.id FROM branches_branch b WHERE b\.path LIKE \$\d+\)\)"
    return len(re.findall(init_plan, statement)) == len(re.findall(r" LIKE ", statement, re.I))


def _home(client: Any, reader: Any) -> str:
    client.force_login(reader)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_head_office_techs_queue_reads_are_prepared_and_read_the_same(world: Any, client: Any) -> None:
    """Head-office tech's 轮到我办理 reads (the held cases, the production configurations to
    issue, the documents to review) are prepared: their subtree is an init plan. The dashboard
    reads the same with and without, run by name the second time."""
    world.case(State.UKEY_ISSUANCE, company=enterprise(world.branch_a))
    tested = world.case(State.JOINT_TESTING, company=enterprise(world.branch_a), documents=False)
    documents.document_upload(
        case=tested, user=world.am_a, kind="test_report", upload=io.BytesIO(sample_pdf("t")), name="r.pdf"
    )
    before = _prepared()
    with override_settings(DB_PREPARED_READS=False):
        plain = _home(client, world.tech)
        assert _prepared() == before  # off: nothing prepared
    first = _home(client, world.tech)
    added = _prepared() - before
    assert any("documents_waitingdocument" in s for s in added), added
    assert any("has_production_config" in s for s in added), added
    assert any("o.holder_role = $1" in s for s in added), added
    assert all(_like_is_safe(s) for s in added), added
    second = _home(client, world.tech)
    assert _prepared() == before | added  # run by name the second time
    assert _stable(first) == _stable(second) == _stable(plain)
    assert tested.reference in first and "审核文件:测试报告" in first
    _home(client, world.am_a)
    assert all(_like_is_safe(s) for s in _prepared()), _prepared()


def test_an_account_managers_dashboard_reads_are_prepared_and_read_the_same(world: Any, client: Any) -> None:
    """The account manager's 轮到我办理 reads (the held cases, the documents to review, whether
    they stand in for anyone), the forecast cells and the bell are prepared: the subtree is an
    init plan, the states, roles and document kinds are written in as the declaration's codes,
    the reader's values are parameters. The dashboard reads the same with and without, and the
    second time runs them by name."""
    world.case(State.JOINT_TESTING)
    waiting = world.case(State.BRANCH_INTAKE, documents=False)
    documents.document_upload(
        case=waiting,
        user=world.customer_x,
        kind="business_licence",
        upload=io.BytesIO(sample_pdf("l")),
        name="l.pdf",
    )
    before = _prepared()
    with override_settings(DB_PREPARED_READS=False):
        plain = _home(client, world.am_a)
        assert _prepared() == before  # off: nothing prepared
    first = _home(client, world.am_a)
    added = _prepared() - before
    for read in ("onboarding_openstage", "documents_waitingdocument", "people_absence", "analytics_caseforecast"):
        assert any(read in s for s in added), (read, added)
    assert any("notices_notification" in s for s in _prepared()), added  # the bell (maybe read before)
    assert all(_like_is_safe(s) for s in added), added
    # The reader's id and subtree are parameters, never the statement's text.
    assert not any(f"= {world.am_a.pk} " in s or world.am_a.branch.path in s for s in added), added
    second = _home(client, world.am_a)
    assert _prepared() == before | added  # run by name the second time
    assert _stable(first) == _stable(second) == _stable(plain)
    assert waiting.reference in first and "审核文件:营业执照" in first


def test_a_statement_takes_only_codes_as_constants() -> None:
    assert queue.sql_codes(["draft", "joint_testing"]) == "'draft', 'joint_testing'"
    for bad in ("x' OR '1'='1", "Draft", "", "a b"):
        with pytest.raises(ValueError, match="not a code"):
            queue.sql_codes([bad])


def test_a_case_read_by_another_reader_on_the_same_connection_is_theirs(world: Any) -> None:
    case = world.case(State.JOINT_TESTING)
    read = selectors.case_page_get(user=world.am_a, public_id=case.public_id)
    again = selectors.case_page_get(user=world.supervisor, public_id=case.public_id)
    assert read.pk == again.pk == case.pk
    other = world.case(State.JOINT_TESTING, company=world.company_y)
    assert selectors.case_page_get(user=world.supervisor_other, public_id=other.public_id).pk == other.pk
    with pytest.raises(Http404):  # the refused side, with the statement already prepared
        selectors.case_page_get(user=world.am_a, public_id=other.public_id)


def test_reads_go_on_after_a_rolled_back_transaction(world: Any) -> None:
    case = world.case(State.JOINT_TESTING)
    selectors.case_page_get(user=world.am_a, public_id=case.public_id)
    assert _prepared()
    with pytest.raises(RuntimeError), transaction.atomic():
        selectors.case_page_get(user=world.am_a, public_id=case.public_id)
        raise RuntimeError("the transaction fails after a prepared read")
    read = selectors.case_page_get(user=world.am_a, public_id=case.public_id)
    assert read.pk == case.pk


def test_prepared_reads_are_counted_like_any_other(world: Any) -> None:
    case = world.case(State.JOINT_TESTING)
    selectors.case_page_get(user=world.am_a, public_id=case.public_id)
    with CaptureQueriesContext(connection) as prepared:
        selectors.case_page_get(user=world.am_a, public_id=case.public_id)
    with override_settings(DB_PREPARED_READS=False), CaptureQueriesContext(connection) as plain:
        selectors.case_page_get(user=world.am_a, public_id=case.public_id)
    assert len(prepared) == len(plain) > 0  # each prepared read passed Django's wrappers
    assert all(q["sql"] and "%s" not in q["sql"] for q in prepared.captured_queries)  # logged with its values
