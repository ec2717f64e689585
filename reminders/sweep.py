"""The sweep's one definition: a chain of SQL relations that PostgreSQL and SQLite both run.

Each relation is a SELECT, or an INSERT that writes the claims, events, notices and mail, over
the relations before it, in SQL both databases speak (CTEs, INSERT … SELECT, ON CONFLICT DO
NOTHING, RETURNING). Where the two spell a JSON function differently, the `Dialect` spells it;
no rule is written twice. How the chain runs is the only other difference:

- PostgreSQL: one statement, every relation a CTE (data-modifying CTEs write the rows), so a
  sweep of 100,000s of reminders is one round trip (bench/sweep.py).
- SQLite, which has no data-modifying CTEs: one statement per relation, in order, each kept in
  a temporary table the later ones read (an INSERT's RETURNING rows are kept likewise). It
  needs SQLite 3.38 or later (RETURNING, MATERIALIZED, the -> operator; Debian 12 has 3.40).

The rules it carries out (the inputs come from `policy.reminder_policy()` through
`services._sweep_params`): a running open visit of a stage with a service level reaches a level
when its due time lies before that stage's and level's cutoff; a sweep claims every level up to
the highest reached that nobody has claimed (so a visit whose highest level is claimed costs one
probe of the unique index); only the claims it inserted itself are recorded and sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .policy import Audience, Level


@dataclass(frozen=True)
class Relation:
    name: str
    sql: str
    columns: tuple[str, ...] = ()
    # PostgreSQL: True keeps the rows once (read several times), False inlines the relation
    # into each reader (SQLite does the same); None lets the planner choose.
    materialized: bool | None = None


@dataclass(frozen=True)
class Dialect:
    """The few spellings that differ. Each takes SQL expressions and returns one."""

    vendor: str

    def json(self, text: str) -> str:
        """A JSON value from its text."""
        return f"CAST({text} AS jsonb)" if self.vendor == "postgresql" else f"json({text})"

    def json_object(self, *pairs: str) -> str:
        fn = "jsonb_build_object" if self.vendor == "postgresql" else "json_object"
        return f"{fn}({', '.join(pairs)})"

    def json_array_length(self, expr: str) -> str:
        return f"{'jsonb' if self.vendor == 'postgresql' else 'json'}_array_length({expr})"

    def object_entries(self, param: str, alias: str) -> str:
        """A FROM item: the (key, value) pairs of a JSON object parameter."""
        if self.vendor == "postgresql":
            return f"jsonb_each(CAST({param} AS jsonb)) AS {alias}"
        return f"json_each({param}) AS {alias}"

    def array_elements(self, expr: str, alias: str) -> str:
        """A FROM item: the elements of a JSON array of numbers, as `alias.value` (PostgreSQL: text)."""
        if self.vendor == "postgresql":
            return f"jsonb_array_elements_text({expr}) AS {alias}(value)"
        return f"json_each({expr}) AS {alias}"

    def sorted_array(self, expr: str, *, text: bool) -> str:
        """An aggregate: a JSON array of the values in code-point order.

        SQLite before 3.44 has no ORDER BY inside an aggregate: it aggregates in the order of
        the subquery it reads, which sorts (the readers below sort their subqueries).
        """
        if self.vendor == "postgresql":
            collate = ' COLLATE "C"' if text else ""
            return f"jsonb_agg({expr} ORDER BY {expr}{collate})"
        return f"json_group_array({expr})"

    def utc_iso(self, expr: str) -> str:
        """A timestamp as Python's `isoformat()` writes it in UTC (the event data's due time)."""
        if self.vendor == "postgresql":
            return (
                f"to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
                f" || CASE WHEN to_char({expr}, 'US') = '000000' THEN '' ELSE to_char({expr}, '.US') END"
                " || '+00:00'"
            )
        # Django keeps SQLite timestamps as UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        return f"replace({expr}, ' ', 'T') || '+00:00'"


def relations(
    d: Dialect, *, levels: Sequence[Level], n_stages: int, people_sql: str, people_columns: tuple[str, ...]
) -> list[Relation]:
    """The sweep of one part of the visits (`id % parts = part`), as a chain of relations.

    Parameters (named): now, token, parts, part, customer, am, kind, ref_mark, company_mark,
    groups (JSON: "level|role|branch_id" → [ids, emails] of the staff to tell), stage_<i>,
    c<level>_<i> (cutoffs), text_<i>_<level>, event_<level>, and those of `people_sql`.
    """
    first = levels[0].level
    top = " ".join(f"WHEN v.due_at < lv.c{lv.level} THEN {lv.level}" for lv in reversed(levels[1:]))
    stage_rows = ", ".join(
        "(" + ", ".join([f"%(stage_{i})s", *(f"%(c{lv.level}_{i})s" for lv in levels)]) + ")" for i in range(n_stages)
    )
    level_rows = ", ".join(
        f"({lv.level}, %(event_{lv.level})s, {int(lv.audience is Audience.HOLDERS)})" for lv in levels
    )
    text_rows = ", ".join(
        f"(%(stage_{i})s, {lv.level}, %(text_{i}_{lv.level})s)" for i in range(n_stages) for lv in levels
    )
    empty = d.json("'[]'")
    # The notice as a kind with parameters (`notices.kinds`, the "reminder" renderer), and the
    # stage visit and holder it is about (cleared once the case has moved on).
    notice_params = d.json_object(
        *("'ref'", "rcp.ref", "'company'", "rcp.company", "'case'", "rcp.case_public_id"),
        *("'stage'", "rcp.stage", "'level'", "rcp.level", "'visit'", "rcp.visit_id", "'holder'", "rcp.holder_role"),
    )
    event_data = d.json_object(
        *("'level'", "level", "'stage'", "stage", "'visit'", "visit_id"),
        *("'due_at'", d.utc_iso("due_at"), "'recipients'", d.json("emails")),
    )
    # The case's own people, when a level goes to the holders and the customer or the case's
    # account manager holds the ball: the company's users, its contact e-mail and the account
    # manager when the customer holds it; the account manager when they do.
    own_ids = """SELECT u.id AS pk FROM people_users u
                   WHERE i.holder_role = %(customer)s AND u.enterprise_id = i.enterprise_id
                  UNION SELECT i.am_id WHERE i.am_id IS NOT NULL
                  ORDER BY 1"""
    own_emails = """SELECT u.email AS email FROM people_users u
                      WHERE i.holder_role = %(customer)s AND u.enterprise_id = i.enterprise_id AND u.email <> ''
                     UNION SELECT i.contact_email WHERE i.holder_role = %(customer)s AND i.contact_email <> ''
                     UNION SELECT i.am_email WHERE i.am_id IS NOT NULL AND i.am_email <> ''
                     ORDER BY 1"""
    return [
        Relation("lv", f"VALUES {stage_rows}", ("stage", *(f"c{lv.level}" for lv in levels))),
        Relation("lvl", f"VALUES {level_rows}", ("level", "event_name", "to_holders")),
        Relation("txt", f"VALUES {text_rows}", ("stage", "level", "text")),
        Relation("people_users", people_sql, people_columns, materialized=False),
        Relation(
            "reached",
            f"""SELECT v.id, v.case_id, v.stage, v.due_at, v.holder_role,
                       CASE {top} ELSE {first} END AS top
                FROM onboarding_stagevisit v JOIN lv ON lv.stage = v.stage
                WHERE v.left_at IS NULL AND v.paused_at IS NULL AND v.due_at < %(now)s AND v.due_at < lv.c{first}
                  AND v.id %% %(parts)s = %(part)s""",  # noqa: S608 (fragments made here, never input)
        ),
        # A sweep claims every level up to the one reached at once, so a visit whose highest
        # level reached is claimed has nothing left to claim: one probe of the unique index.
        Relation(
            "due",
            """SELECT r.id, r.case_id, r.stage, r.due_at, r.holder_role, l.level, l.event_name, l.to_holders
               FROM reached r JOIN lvl l ON l.level <= r.top
               WHERE NOT EXISTS (SELECT 1 FROM reminders_reminder x WHERE x.visit_id = r.id AND x.level = r.top)
                 AND NOT EXISTS (SELECT 1 FROM reminders_reminder x WHERE x.visit_id = r.id AND x.level = l.level)""",
            materialized=True,
        ),
        # The claim: a row another sweep inserted first, committed or not (PostgreSQL makes the
        # second insert wait on the unique index), is not returned, so it is not sent again.
        Relation(
            "claimed",
            """INSERT INTO reminders_reminder (visit_id, case_id, level, stage, due_at, created_at, claim)
               SELECT id, case_id, level, stage, due_at, %(now)s, %(token)s FROM due WHERE true ORDER BY id, level
               ON CONFLICT (visit_id, level) DO NOTHING
               RETURNING id, visit_id, case_id, level, stage, due_at""",
        ),
        Relation(
            "info",
            """SELECT c.id AS rid, c.visit_id, c.case_id, c.level, c.stage, c.due_at, d.holder_role, d.event_name,
                      oc.branch_id, oc.enterprise_id, e.contact_email,
                      oc.account_manager_id AS am_id, am.email AS am_email,
                      (d.to_holders = 1 AND (d.holder_role = %(customer)s
                           OR (d.holder_role = %(am)s AND oc.account_manager_id IS NOT NULL))) AS own,
                      -- The notice's text, filled in once per reminder (the bell, WeCom).
                      replace(replace(t.text, %(ref_mark)s, oc.reference), %(company_mark)s, e.name) AS text,
                      oc.reference AS ref, e.name AS company, oc.public_id AS case_public_id
               FROM claimed c
               JOIN due d ON d.id = c.visit_id AND d.level = c.level
               JOIN onboarding_onboardingcase oc ON oc.id = c.case_id
               JOIN onboarding_enterprise e ON e.id = oc.enterprise_id
               LEFT JOIN accounts_user am ON am.id = oc.account_manager_id
               JOIN txt t ON t.stage = c.stage AND t.level = c.level""",
        ),
        # The staff to tell per (level, holder role, branch), worked out in Python.
        Relation(
            "grp",
            f"SELECT g.key, g.value -> 0 AS ids, g.value -> 1 AS emails FROM {d.object_entries('%(groups)s', 'g')}",  # noqa: S608 (fragments made here, never input)
            materialized=True,
        ),
        # Each claim with the ids (notices) and e-mail addresses (event, mail) of its recipients.
        Relation(
            "rcp",
            f"""SELECT i.rid, i.visit_id, i.case_id, i.level, i.stage, i.due_at, i.event_name, i.text,
                       i.ref, i.company, i.case_public_id, i.holder_role,
                       coalesce(g.ids, {empty}) AS ids, coalesce(g.emails, {empty}) AS emails
                FROM info i LEFT JOIN grp g ON g.key = (i.level || '|' || i.holder_role || '|' || i.branch_id)
                WHERE NOT i.own
                UNION ALL
                SELECT i.rid, i.visit_id, i.case_id, i.level, i.stage, i.due_at, i.event_name, i.text,
                       i.ref, i.company, i.case_public_id, i.holder_role,
                       coalesce((SELECT {d.sorted_array("p.pk", text=False)} FROM ({own_ids}) p), {empty}),
                       coalesce((SELECT {d.sorted_array("p.email", text=True)} FROM ({own_emails}) p), {empty})
                FROM info i WHERE i.own""",  # noqa: S608 (fragments made here, never input)
            materialized=True,
        ),
        Relation(
            "ev",
            f"""INSERT INTO onboarding_caseevent (case_id, kind, name, data, created_at, from_state, to_state, reason)
                SELECT case_id, %(kind)s, event_name, {event_data}, %(now)s, '', '', ''
                FROM rcp WHERE true ORDER BY rid""",  # noqa: S608 (fragments made here, never input)
        ),
        Relation(
            "nt",
            f"""INSERT INTO notices_notification (recipient_id, case_id, kind, text, params, created_at)
                SELECT CAST(p.value AS bigint), rcp.case_id, 'reminder', substr(rcp.text, 1, 300), {notice_params},
                       %(now)s
                FROM rcp, {d.array_elements("rcp.ids", "p")}""",  # noqa: S608 (fragments made here, never input)
        ),
        Relation(
            "ob",
            f"""INSERT INTO notices_outboxemail (kind, key, payload, "to", created_at, next_attempt_at, attempts)
                SELECT 'reminder', 'reminder:' || rid, {d.json_object("'reminder'", "rid")}, {d.json("emails")},
                       %(now)s, %(now)s, 0
                FROM rcp WHERE {d.json_array_length("emails")} > 0
                RETURNING id""",  # noqa: S608 (fragments made here, never input)
        ),
    ]


# What a part returns: its claims in reminder order, the mail it queued, the overdue visits.
CLAIMS = "SELECT rid, case_id, level, text FROM rcp ORDER BY rid"
QUEUED = "SELECT id FROM ob ORDER BY id"
OVERDUE = """SELECT count(*) FROM onboarding_stagevisit v JOIN lv ON lv.stage = v.stage
             WHERE v.left_at IS NULL AND v.paused_at IS NULL AND v.due_at < %(now)s AND v.id %% %(parts)s = %(part)s"""


@dataclass
class Answer:
    claims: list[tuple[int, int, int, str]]  # (reminder id, case id, level, notice text)
    queued: list[int]  # outbox rows to send
    overdue: int


def run(cursor: Any, d: Dialect, chain: list[Relation], params: dict[str, Any]) -> Answer:
    if d.vendor == "postgresql":
        return _run_postgresql(cursor, chain, params)
    return _run_one_by_one(cursor, chain, params)


def _head(rel: Relation) -> str:
    return f"{rel.name}({', '.join(rel.columns)})" if rel.columns else rel.name


def postgresql_statement(chain: list[Relation]) -> str:
    keyword = {True: "MATERIALIZED ", False: "NOT MATERIALIZED ", None: ""}
    ctes = [f"{_head(rel)} AS {keyword[rel.materialized]}({rel.sql})" for rel in chain]
    # The claims as parallel arrays (cheaper to build and read than 100,000s of rows).
    claims = ", ".join(
        f"coalesce(array_agg({col} ORDER BY rid), '{{}}')" for col in ("rid", "case_id", "level", "text")
    )
    queued = "(SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM ob)"
    answer = f"SELECT {claims}, {queued}, ({OVERDUE}) FROM rcp"  # noqa: S608 (fragments made here, never input)
    return "WITH " + ",\n".join(ctes) + "\n" + answer


def _run_postgresql(cursor: Any, chain: list[Relation], params: dict[str, Any]) -> Answer:
    # PostgreSQL's JIT compiles a statement this size for seconds before running it in a
    # fraction of that (measured: idle sweep 4.3 s with, 0.25 s without).
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '64MB'")  # its sorts of 100,000s of rows stay in memory
    cursor.execute(postgresql_statement(chain), params)
    rids, case_ids, levels, texts, queued, overdue = cursor.fetchone()
    return Answer(list(zip(rids, case_ids, levels, texts, strict=True)), list(queued), overdue)


def _run_one_by_one(cursor: Any, chain: list[Relation], params: dict[str, Any]) -> Answer:
    inline: list[str] = []  # relations read in place (materialized=False), as CTEs of every later statement
    kept: list[str] = []
    try:
        for rel in chain:
            if rel.materialized is False:
                inline.append(f"{_head(rel)} AS ({rel.sql})")
                continue
            with_ = f"WITH {', '.join(inline)} " if inline else ""
            cursor.execute(f"DROP TABLE IF EXISTS temp.{rel.name}")
            if rel.sql.lstrip().upper().startswith("INSERT"):
                cursor.execute(with_ + rel.sql, params)
                if re.search(r"\bRETURNING\b", rel.sql):
                    rows = cursor.fetchall()
                    columns = [c[0] for c in cursor.description]
                    cursor.execute(f"CREATE TEMP TABLE {rel.name} ({', '.join(columns)})")
                    marks = ", ".join(["%s"] * len(columns))
                    cursor.executemany(f"INSERT INTO temp.{rel.name} VALUES ({marks})", rows)  # noqa: S608 (fragments made here, never input)
                    kept.append(rel.name)
                continue
            body = f"{rel.name}_({', '.join(rel.columns)}) AS ({rel.sql})" if rel.columns else ""
            if body:
                ctes = ", ".join([*inline, body])
                cursor.execute(f"CREATE TEMP TABLE {rel.name} AS WITH {ctes} SELECT * FROM {rel.name}_", params)  # noqa: S608 (fragments made here, never input)
            else:
                cursor.execute(f"CREATE TEMP TABLE {rel.name} AS {with_}{rel.sql}", params)
            kept.append(rel.name)
        cursor.execute(CLAIMS)
        claims = [tuple(row) for row in cursor.fetchall()]
        cursor.execute(QUEUED)
        queued = [row[0] for row in cursor.fetchall()]
        cursor.execute(OVERDUE, params)
        (overdue,) = cursor.fetchone()
    finally:
        for name in kept:
            cursor.execute(f"DROP TABLE IF EXISTS temp.{name}")
    return Answer(claims, queued, overdue)  # type: ignore[arg-type]
