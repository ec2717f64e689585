"""Existing data migrates to the case-type declaration with nothing lost.

The demo data is put into the database, the onboarding app is taken back to the schema that had
landed before case types (0012: no `case_type` column), and migrated forward again: every row of
every table reads the same before and after, and every case is an onboarding case.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from config.dbroles import after_migrate, connected_as_owner

LANDED = ("onboarding", "0012_lean_sweep_indexes")


# Kept by triggers, not written by anyone: the tables are dropped with the migrations taken back
# and refilled from the cases going forward (new ids, no rows left at 0): compared by what they
# count, per key.
COUNTED = {
    "onboarding.StageCount": ("branch_id", "state"),
    "onboarding.TeamCount": ("branch_id", "state", "account_manager_id", "holder_role"),
}


def _dump() -> dict[str, list[dict[str, Any]]]:
    dump = {
        model._meta.label: list(model._base_manager.order_by("pk").values())
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }
    for label, key in COUNTED.items():
        dump[label] = sorted(
            ({**{k: r[k] for k in key}, "n": r["n"]} for r in dump[label] if r["n"]),
            key=lambda r, key=key: tuple(str(r[k]) for k in key),
        )
    return dump


def _columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


@pytest.mark.django_db(transaction=True)
def test_the_landed_schema_with_demo_data_migrates_forward_with_nothing_lost() -> None:
    from demo.seed import seed

    # The data of before case types: no request cases of a live link (issue 22's types).
    counts = seed(link_requests=False)
    assert counts["cases"] >= 30
    before = _dump()

    with connected_as_owner(connection) as app_role:  # migrations run as the tables' owner
        MigrationExecutor(connection).migrate([LANDED])
        assert "case_type" not in _columns("onboarding_onboardingcase")

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
        after_migrate(connection, app_role)  # as `manage.py migrate` finishes
    assert "case_type" in _columns("onboarding_onboardingcase")

    after = _dump()
    assert sorted(after) == sorted(before)
    for table, rows in before.items():
        assert after[table] == rows, table
    assert {row["case_type"] for row in after["onboarding.OnboardingCase"]} == {"onboarding"}
