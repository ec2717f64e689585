"""Evidence in the database itself (PostgreSQL), declared next to the models with django-pgtrigger.

A model whose rows are evidence lists its protection in `Meta.triggers`:

- `pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)`:
  never changed, never deleted (case events, access log, approvals, …);
- `pgtrigger.Protect(operation=pgtrigger.Update, condition=…)`, one per rule, where a row may
  change in one state and only in some columns (a pending counter entry being confirmed, a
  document version being reviewed, an outbox mail being marked sent), plus a `Delete` Protect;
- `NoTruncate()` below: TRUNCATE fires no row trigger, and `pgtrigger.Protect` has no
  statement-level form for TRUNCATE (it needs transition tables, which TRUNCATE has not).

`makemigrations` writes them into the app's migrations (pgtrigger's migration integration,
`PGTRIGGER_MIGRATIONS`); on other databases (SQLite in development) those operations do
nothing and the models' own refusals remain.

`pgtrigger.ignore(...)` lifts triggers for the statements one thread runs inside it. The test
suite uses it for Django's flush alone (Django empties test databases with TRUNCATE; see
tests/conftest.py); no application code calls it (tests/test_evidence_protection.py checks).
An owner of the database can still drop a trigger: these stop mistakes, code paths and
ordinary accounts, not the database owner.
"""

from __future__ import annotations

import pgtrigger

NO_TRUNCATE = "no_truncate"


class NoTruncate(pgtrigger.Trigger):
    """TRUNCATE refused, per statement (also when it arrives by CASCADE from a parent table)."""

    name = NO_TRUNCATE
    when = pgtrigger.Before
    operation = pgtrigger.Truncate
    level = pgtrigger.Statement
    func = "RAISE EXCEPTION 'pgtrigger: Cannot truncate rows from % table (evidence)', TG_TABLE_NAME; RETURN NULL;"
