"""The data set of `bench/pages.py`: 100,000 cases with realistic histories, built with SQL.

1. `<db>_seed`: migrated, then `demo.seed.seed()` walks 40 cases through the real services
   (every state; ~23 events, documents and versions, approvals, counter entries, test results
   each) and writes the 600-case two-year history (`analytics/history.py`); a few set-based
   statements add what the demo leaves out (case messages, reminders of late visits, in-app
   notices, auditors' reads).
2. `<db>` (and `<db>_small`) are created from that template (CREATE DATABASE … TEMPLATE) and
   grown by copying its cases with `INSERT … SELECT` over a `copies` table: every copied row
   gets `id + j × stride` (stride = the template's largest id of that table), so every foreign
   key to a copied table moves by the same amount and stays consistent; new public ids,
   references, credit codes and key serials; timestamps shifted by j × 37 s (no ties). Each copy
   lands on one of 20 slots of a branch tree of 57 branches (head office, the demo's 2 + 10
   tier-1 branches, the demo's 4 + 40 sub-branches) with its own staff (a clone of every demo
   staff member per slot), so scopes are of realistic size.

Rows are only ever inserted: the evidence triggers (audit/evidence.py) refuse UPDATE, DELETE and
TRUNCATE, which is why a rebuild drops the database instead of emptying it. The copy runs with
`session_replication_role = replica` (no per-row foreign-key trigger: the copy of consistent rows
is consistent), then the sequences are moved past the copied ids, the tables kept by triggers
(`StageCount`, `OpenStage`, `TeamCount`, `PendingChange`, the documents' `WaitingDocument`) are filled again from the cases, and everything is analysed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

# The demo's 40 walked cases are "rich"; the 600 history cases ("-H" references) have visits
# and events only. 70 % of the copies are rich ones, so a case has ~19 events on average.
RICH_SHARE = 0.7
SLOTS = 20
CITIES = [
    ("GZ", "广州"),
    ("SZ", "深圳"),
    ("HZ", "杭州"),
    ("NJ", "南京"),
    ("CD", "成都"),
    ("WH", "武汉"),
    ("XA", "西安"),
    ("TJ", "天津"),
    ("CQ", "重庆"),
    ("SU", "苏州"),
]
DISTRICTS = [("E", "城东支行"), ("W", "城西支行"), ("G", "高新区支行"), ("K", "经开区支行")]

# Copied per case (or per company), in an order that only matters for reading.
TABLES = [
    "onboarding_enterprise",
    "onboarding_settlementaccount",
    "companies_companyversion",
    "onboarding_onboardingcase",
    "onboarding_stagevisit",
    "onboarding_caseevent",
    "onboarding_approval",
    "onboarding_testpackage",
    "onboarding_moduletestresult",
    "onboarding_productionconfig",
    "onboarding_changerequest",
    "documents_document",
    "documents_documentversion",
    "counter_operator",
    "counter_counterentry",
    "counter_ukey",
    "reminders_reminder",
    "portal_casemessage",
    "notices_notification",
    "analytics_visitfact",
    "analytics_caseforecast",
    "audit_accessevent",
]


# The closed states (`declaration.live_states()` and `closed_states()` of the onboarding type):
# only copies of closed walked cases are moved back in time; open ones stay current.
CLOSED_STATES = ("live", "withdrawn", "rejected")
# One case in LONG_TAIL_EVERY gets rework loops: its history repeated 1–60 times (log-uniform:
# most a few, some many), so a few cases carry hundreds of events, the heaviest over a thousand.
LONG_TAIL_EVERY = 50
MAX_LOOPS = 60
# Staff reads of each case over its life (the audit log's bulk: millions at 100,000 cases).
READS_PER_CASE = 18

# Read models whose primary key is the visit's or the case's id.
KEYED_BY_FK = {"analytics_visitfact", "analytics_caseforecast"}


def enrich_template(cur: Any) -> None:
    """What the demo does not write: messages, reminders of late visits, notices, auditor reads."""
    cur.execute(
        """
        INSERT INTO portal_casemessage (public_id, from_customer, body, created_at, author_id, case_id)
        SELECT gen_random_uuid(), g % 2 = 1,
               CASE WHEN g % 2 = 1 THEN '请问测试环境的证书什么时候可以下发?我们这边已经准备好了。'
                    ELSE '已提交总行科技部,预计两个工作日内下发,届时会通知贵司。' END,
               c.created_at + g * interval '1 day',
               CASE WHEN g % 2 = 1 THEN COALESCE(
                   (SELECT min(u.id) FROM accounts_user u WHERE u.enterprise_id = c.enterprise_id), c.account_manager_id)
                    ELSE c.account_manager_id END,
               c.id
        FROM onboarding_onboardingcase c
        CROSS JOIN generate_series(1, 4) g
        WHERE c.state <> 'draft' AND c.account_manager_id IS NOT NULL
          AND (c.reference NOT LIKE '%%-H%%' OR g = 1)
        """
    )
    # One reminder per late visit (level 1), a second and third for the very late ones.
    cur.execute(
        """
        INSERT INTO reminders_reminder (level, stage, due_at, claim, created_at, case_id, visit_id)
        SELECT l, v.stage, v.due_at, gen_random_uuid(), v.due_at + (l - 1) * interval '2 days', v.case_id, v.id
        FROM onboarding_stagevisit v
        CROSS JOIN generate_series(1, 3) l
        WHERE v.due_at IS NOT NULL AND COALESCE(v.left_at, now()) > v.due_at + (l - 1) * interval '2 days'
        """
    )
    # A notice to the account manager for every transition (a tenth still unread), and to the
    # head-office approver and tech and the tier-1 supervisors for every sixth one.
    cur.execute(
        """
        INSERT INTO notices_notification (kind, text, params, created_at, read_at, case_id, recipient_id)
        SELECT 'transition', '案件 ' || c.reference || ' 已进入下一阶段,请及时办理。', '{}'::jsonb, e.created_at,
               CASE WHEN e.id % 10 = 0 THEN NULL ELSE e.created_at + interval '1 hour' END, c.id, r.uid
        FROM onboarding_caseevent e
        JOIN onboarding_onboardingcase c ON c.id = e.case_id
        CROSS JOIN LATERAL (
            SELECT c.account_manager_id AS uid
            UNION ALL SELECT u.id FROM accounts_user u WHERE e.id % 6 = 0 AND u.username IN ('ho_approver', 'ho_tech')
            UNION ALL SELECT u.id FROM accounts_user u
                JOIN branches_branch b ON b.id = u.branch_id
                JOIN branches_branch cb ON cb.id = c.branch_id
                WHERE e.id % 6 = 3 AND u.username LIKE 'sup\\_%%' AND cb.path LIKE b.path || '%%'
        ) r
        WHERE e.kind = 'transition' AND r.uid IS NOT NULL
        """
    )
    cur.execute(
        """
        INSERT INTO audit_accessevent (kind, username, reason, ip, path, data, created_at, actor_id, case_id)
        SELECT 'case_read', u.username, '', '10.1.2.3', '/cases/' || c.public_id || '/', '{}'::jsonb,
               c.updated_at + interval '3 hours', u.id, c.id
        FROM onboarding_onboardingcase c JOIN accounts_user u ON u.username = 'auditor'
        WHERE c.id % 3 = 0
        """
    )


def branch_tree(cur: Any) -> None:
    """10 tier-1 branches of 4 sub-branches each, beside the demo's; staff cloned per slot."""
    cur.execute("SELECT id, path FROM branches_branch WHERE code = 'HO'")
    ho_id, ho_path = cur.fetchone()
    for code, city in CITIES:
        cur.execute(
            "INSERT INTO branches_branch (code, name, level, path, parent_id) VALUES (%s, %s, 'branch', '', %s) RETURNING id",
            [code, f"{city}分行", ho_id],
        )
        (t_id,) = cur.fetchone()
        t_path = f"{ho_path}{t_id}/"
        cur.execute("UPDATE branches_branch SET path = %s WHERE id = %s", [t_path, t_id])
        for dcode, dname in DISTRICTS:
            cur.execute(
                "INSERT INTO branches_branch (code, name, level, path, parent_id) "
                "VALUES (%s, %s, 'sub_branch', '', %s) RETURNING id",
                [code + dcode, city + dname, t_id],
            )
            (s_id,) = cur.fetchone()
            cur.execute("UPDATE branches_branch SET path = %s WHERE id = %s", [f"{t_path}{s_id}/", s_id])
    # branch_map(slot, old, new): for slot s (t = s % 10, half = s // 10) the demo's 北京分行 lands
    # on tier-1 #t, 上海分行 on #(t+5) % 10, their sub-branches on sub-branches 2·half and 2·half+1.
    cur.execute("CREATE TEMP TABLE branch_map (slot int, old_id bigint, new_id bigint, PRIMARY KEY (slot, old_id))")
    codes = {}
    cur.execute("SELECT code, id FROM branches_branch")
    for code, pk in cur.fetchall():
        codes[code] = pk
    demo = {"BJ": ("BJHD", "BJCY"), "SH": ("SHPD", "SHXH")}
    rows = []
    for s in range(SLOTS):
        t, half = s % 10, s // 10
        for tier1, offset in (("BJ", 0), ("SH", 5)):
            city = CITIES[(t + offset) % 10][0]
            rows.append((s, codes[tier1], codes[city]))
            for i, sub in enumerate(demo[tier1]):
                rows.append((s, codes[sub], codes[city + DISTRICTS[2 * half + i][0]]))
    cur.executemany("INSERT INTO branch_map VALUES (%s, %s, %s)", rows)
    # One clone of every demo staff member of a mapped branch per slot, same groups.
    cur.execute(
        """
        INSERT INTO accounts_user (password, last_login, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined, display_name, phone, branch_id, enterprise_id)
        SELECT u.password, NULL, false, u.username || '_s' || m.slot, '', '', u.username || '_s' || m.slot || '@bank.example',
               false, true, u.date_joined, u.display_name || m.slot, '', m.new_id, NULL
        FROM accounts_user u JOIN branch_map m ON m.old_id = u.branch_id
        """
    )
    cur.execute(
        """
        CREATE TEMP TABLE user_map AS
        SELECT m.slot, u.id AS old_id, n.id AS new_id
        FROM accounts_user u JOIN branch_map m ON m.old_id = u.branch_id
        JOIN accounts_user n ON n.username = u.username || '_s' || m.slot;
        ALTER TABLE user_map ADD PRIMARY KEY (slot, old_id);
        INSERT INTO accounts_user_groups (user_id, group_id)
        SELECT um.new_id, g.group_id FROM user_map um JOIN accounts_user_groups g ON g.user_id = um.old_id;
        """
    )


def _columns(cur: Any, table: str) -> list[tuple[str, str]]:
    cur.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        [table],
    )
    return [(name, kind) for name, kind in cur.fetchall()]


def _foreign_keys(cur: Any, table: str) -> dict[str, str]:
    cur.execute(
        """
        SELECT a.attname, c.confrelid::regclass::text FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.conrelid = %s::regclass
        """,
        [table],
    )
    return dict(cur.fetchall())


def _copy_sql(cur: Any, table: str, strides: dict[str, int]) -> str:
    """INSERT … SELECT of every template row of `table` once per row of `copies` (j, slot, rich)."""
    fks = _foreign_keys(cur, table)
    cols, exprs, joins = [], [], []
    for name, kind in _columns(cur, table):
        cols.append(name)
        target = fks.get(name)
        if name == "id":
            expr = f"t.id + c.j * {strides[table]}"
        elif target in strides:
            expr = f"t.{name} + c.j * {strides[target]}"
        elif target == "accounts_user":
            alias = f"u_{name}"
            joins.append(f"LEFT JOIN user_map {alias} ON {alias}.slot = c.slot AND {alias}.old_id = t.{name}")
            expr = f"COALESCE({alias}.new_id, t.{name})"
        elif target == "branches_branch":
            alias = f"b_{name}"
            joins.append(f"LEFT JOIN branch_map {alias} ON {alias}.slot = c.slot AND {alias}.old_id = t.{name}")
            expr = f"COALESCE({alias}.new_id, t.{name})"
        elif name == "public_id" or (table == "reminders_reminder" and name == "claim"):
            expr = "gen_random_uuid()"
        elif kind == "timestamp with time zone":
            # A closed case's copy lands up to two years back (`copies.days`), its rows with it.
            expr = (
                f"t.{name} - c.j * interval '37 seconds' - CASE WHEN g.closed THEN c.days ELSE 0 END * interval '1 day'"
            )
        elif kind == "date" and table != "onboarding_enterprise":
            expr = f"t.{name} - CASE WHEN g.closed THEN c.days ELSE 0 END"
        else:
            expr = f"t.{name}"
        exprs.append(expr)
    special = {
        (
            "onboarding_onboardingcase",
            "reference",
        ): "'ZL-' || to_char(t.created_at, 'YYYY') || '-B' || lpad((t.id + c.j * {s})::text, 8, '0')",
        ("onboarding_enterprise", "uscc"): "'9' || lpad((t.id + c.j * {s})::text, 17, '0')",
        ("onboarding_enterprise", "name"): "t.name || '(' || c.j || ')'",
        ("counter_ukey", "serial"): "t.serial || '-' || c.j",
        ("documents_documentversion", "storage_name"): "t.storage_name || '.' || c.j",
    }
    for i, name in enumerate(cols):
        if (table, name) in special:
            exprs[i] = special[(table, name)].format(s=strides[table])
    # Which template rows belong to a rich or a history case.
    if table in ("onboarding_enterprise",):
        group = "t.id"
        group_col = "enterprise_id"
    elif table in ("onboarding_settlementaccount", "companies_companyversion"):
        group, group_col = "t.enterprise_id", "enterprise_id"
    elif table == "onboarding_onboardingcase":
        group, group_col = "t.id", "case_id"
    elif table == "documents_documentversion":
        group, group_col = "d.case_id", "case_id"
        joins.insert(0, "JOIN documents_document d ON d.id = t.document_id")
    else:
        group, group_col = "t.case_id", "case_id"
    where = ["g.rich = c.rich"] if table in KEYED_BY_FK else [f"t.id <= {strides[table]}", "g.rich = c.rich"]
    if table == "analytics_visitfact":
        # The fact carries its branch's path and tier-1 branch: those of the branch it moved to.
        joins.append(f"JOIN branches_branch nb ON nb.id = {exprs[cols.index('branch_id')]}")
        exprs[cols.index("branch_path")] = "nb.path"
        exprs[cols.index("tier1_id")] = (
            "CASE WHEN split_part(nb.path, '/', 3) = '' THEN t.tier1_id ELSE split_part(nb.path, '/', 3)::int END"
        )
    joins.insert(1 if table == "documents_documentversion" else 0, f"JOIN template_group g ON g.{group_col} = {group}")
    if table == "notices_notification":
        # Customers' notices stay with the template's companies (their users are not copied).
        joins.append("JOIN accounts_user r ON r.id = t.recipient_id")
        where.append("r.enterprise_id IS NULL")
    if table == "audit_accessevent":
        where.append("t.case_id IS NOT NULL")
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} "
        f"FROM {table} t CROSS JOIN copies c {' '.join(joins)} WHERE {' AND '.join(where)}"
    )


def grow(conn: Any, *, cases: int, log: Any = print) -> int:
    """Copy the template's cases until the database holds `cases` of them; returns the count."""
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute("SET maintenance_work_mem = '256MB'")
        cur.execute(
            "SELECT count(*) FILTER (WHERE reference NOT LIKE '%%-H%%'), count(*) FROM onboarding_onboardingcase"
        )
        rich_n, total = cur.fetchone()
        hist_n = total - rich_n
        need = cases - total
        if need <= 0:
            return total
        rich_copies = math.floor(need * RICH_SHARE / rich_n) if hist_n else math.ceil(need / rich_n)
        hist_copies = (need - rich_copies * rich_n) // hist_n if hist_n else 0
        rest = need - rich_copies * rich_n - hist_copies * hist_n
        rich_copies += math.ceil(rest / rich_n)  # the last copies: a few more rich cases
        strides = {}
        for table in TABLES:
            if table in KEYED_BY_FK:
                continue
            cur.execute(f"SELECT COALESCE(max(id), 0) FROM {table}")
            strides[table] = int(cur.fetchone()[0]) or 1
        branch_tree(cur)
        cur.execute(
            f"""
            CREATE TEMP TABLE template_group AS
            SELECT id AS case_id, enterprise_id, reference NOT LIKE '%-H%' AS rich,
                   reference NOT LIKE '%-H%' AND state IN {CLOSED_STATES!r} AS closed
            FROM onboarding_onboardingcase;
            CREATE INDEX ON template_group (case_id); CREATE INDEX ON template_group (enterprise_id);
            """
        )
        # Enterprise-level rows: one row per company. `days`: how far back a closed case's copy
        # goes (0–729 days, evenly over the copies), so closed cases spread over two years.
        cur.execute("CREATE TEMP TABLE all_copies (j int PRIMARY KEY, slot int, rich bool, days int)")
        cur.executemany(
            "INSERT INTO all_copies VALUES (%s, %s, %s, %s)",
            [(j, j % SLOTS, j <= rich_copies, (j * 7919) % 730) for j in range(1, rich_copies + hist_copies + 1)],
        )
        conn.commit()
        sqls = {table: _copy_sql(cur, table, strides) for table in TABLES}
        # template_group holds one row per case: the enterprise tables need one per company.
        for table in ("onboarding_enterprise", "onboarding_settlementaccount", "companies_companyversion"):
            sqls[table] = sqls[table].replace(
                "JOIN template_group g",
                "JOIN (SELECT enterprise_id, rich, bool_and(closed) AS closed FROM template_group "
                "GROUP BY enterprise_id, rich) g",
            )
        n_copies = rich_copies + hist_copies
        batch = max(1, n_copies // 8)
        for start in range(1, n_copies + 1, batch):
            cur.execute("DROP TABLE IF EXISTS copies")
            cur.execute(
                "CREATE TEMP TABLE copies AS SELECT * FROM all_copies WHERE j >= %s AND j < %s", [start, start + batch]
            )
            for table in TABLES:
                cur.execute(sqls[table])
            conn.commit()
            log(f"  copies {start}–{min(start + batch - 1, n_copies)} of {n_copies} ({time.perf_counter() - t0:.0f} s)")
        for table in [
            *[t for t in TABLES if t not in KEYED_BY_FK],
            "accounts_user",
            "branches_branch",
            "accounts_user_groups",
        ]:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        # Logins and logouts of the staff over the period: the audit log's other half.
        cur.execute(
            """
            WITH s AS (SELECT array_agg(id ORDER BY id) AS ids, array_agg(username ORDER BY id) AS names
                       FROM accounts_user WHERE branch_id IS NOT NULL)
            INSERT INTO audit_accessevent (kind, username, reason, ip, path, data, created_at, actor_id, case_id)
            SELECT CASE WHEN g %% 7 = 0 THEN 'login_failed' ELSE 'login' END, s.names[1 + g %% cardinality(s.ids)],
                   '', '10.2.0.' || (g %% 250), '/login/', '{}'::jsonb, now() - g * interval '17 minutes',
                   s.ids[1 + g %% cardinality(s.ids)], NULL
            FROM generate_series(1, %s) g CROSS JOIN s
            """,
            [max(1000, cases // 2)],
        )
        bank_history(cur, log=log)
        # The copies went in without triggers: what the cases' triggers keep is counted again.
        cur.execute("DELETE FROM onboarding_stagecount")
        cur.execute(
            "INSERT INTO onboarding_stagecount (branch_id, state, n)"
            " SELECT branch_id, state, COUNT(*) FROM onboarding_onboardingcase GROUP BY branch_id, state"
        )
        cur.execute("DELETE FROM onboarding_openstage")
        cur.execute(
            "INSERT INTO onboarding_openstage (case_id, visit_id, branch_id, account_manager_id, state, holder_role,"
            " entered_at, due_at, paused_at, left_at, has_production_config)"
            " SELECT c.id, v.id, c.branch_id, c.account_manager_id, c.state, v.holder_role, v.entered_at, v.due_at,"
            " v.paused_at, v.left_at,"
            " EXISTS (SELECT 1 FROM onboarding_productionconfig pc WHERE pc.case_id = c.id)"
            " FROM onboarding_onboardingcase c JOIN onboarding_stagevisit v ON v.id = c.current_visit_id"
        )
        cur.execute("DELETE FROM onboarding_teamcount")  # kept by `OpenStage`'s triggers, off here too
        cur.execute(
            "INSERT INTO onboarding_teamcount (branch_id, state, account_manager_id, holder_role, n)"
            " SELECT branch_id, state, account_manager_id, holder_role, COUNT(*) FROM onboarding_openstage"
            " GROUP BY branch_id, state, account_manager_id, holder_role"
        )
        # The pending change requests where their cases are (kept by the requests' and the cases' triggers).
        cur.execute("DELETE FROM onboarding_pendingchange")
        cur.execute(
            "INSERT INTO onboarding_pendingchange (request_id, case_id, branch_id, filed_by_id, filed_at)"
            " SELECT r.id, r.case_id, c.branch_id, r.filed_by_id, r.filed_at FROM onboarding_changerequest r"
            " JOIN onboarding_onboardingcase c ON c.id = r.case_id WHERE r.status = 'pending'"
        )
        # The documents waiting for review (kept by the versions' triggers): each uploaded
        # document whose latest version is undecided.
        cur.execute("DELETE FROM documents_waitingdocument")
        cur.execute(
            "INSERT INTO documents_waitingdocument (document_id, case_id, kind, uploaded_by_id)"
            " SELECT id, case_id, kind, uploaded_by_id FROM (SELECT DISTINCT ON (d.id) d.id, d.case_id, d.kind,"
            " v.uploaded_by_id, v.decision FROM documents_document d JOIN documents_documentversion v"
            " ON v.document_id = d.id WHERE NOT d.generated ORDER BY d.id, v.number DESC) latest"
            " WHERE decision = ''"
        )
        cur.execute("SET session_replication_role = origin")
        conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        cur.execute("SELECT count(*) FROM onboarding_onboardingcase")
        (total,) = cur.fetchone()
    conn.autocommit = False
    log(f"  grown to {total} cases in {time.perf_counter() - t0:.0f} s")
    return int(total)


def _insert_copy(cur: Any, table: str, source: str, overrides: dict[str, str]) -> int:
    """INSERT INTO `table` every column of `t` (rows of `source`), but the overridden ones and
    the id (from the sequence)."""
    cols = [name for name, _ in _columns(cur, table) if name != "id"]
    exprs = [overrides.get(name, f"t.{name}") for name in cols]
    cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} {source}")
    return int(cur.rowcount)


def bank_history(cur: Any, log: Any = print) -> dict[str, int]:
    """What a bank's two years hold beyond copies of the demo: long histories with rework loops,
    change requests, documents in several versions, staff reads of every case, API calls, and
    one or two portal users per company. Set-based; runs after the copies (ids from sequences)."""
    t0 = time.perf_counter()
    made: dict[str, int] = {}
    # Rework loops: the case's transitions and document events again, loop after loop, each
    # loop 41 minutes earlier than the one after it (never before the case was created).
    made["rework events"] = _insert_copy(
        cur,
        "onboarding_caseevent",
        f"""FROM onboarding_onboardingcase c
        CROSS JOIN LATERAL generate_series(1, greatest(1, floor(exp(ln({MAX_LOOPS}) * ((c.id * 7919) % 1000) / 1000.0))::int)) g
        JOIN onboarding_caseevent t ON t.case_id = c.id AND t.kind IN ('transition', 'document')
        WHERE c.id % {LONG_TAIL_EVERY} = 7""",
        {
            "reason": "CASE WHEN t.kind = 'transition' THEN '返工:资料退回后重新提交' ELSE t.reason END",
            "created_at": "greatest(c.created_at, t.created_at - g * interval '41 minutes')",
        },
    )
    # Several document versions: a quarter of the documents get 1–3 more (earlier ones returned).
    made["document versions"] = _insert_copy(
        cur,
        "documents_documentversion",
        """FROM documents_documentversion t
        JOIN (SELECT document_id, max(number) AS n FROM documents_documentversion GROUP BY document_id) m
          ON m.document_id = t.document_id AND m.n = t.number
        CROSS JOIN LATERAL generate_series(1, 1 + t.document_id % 3) g
        WHERE t.document_id % 4 = 1""",
        {
            "public_id": "gen_random_uuid()",
            "number": "m.n + g",
            "storage_name": "t.storage_name || '.v' || (m.n + g)",
            "uploaded_at": "t.uploaded_at + g * interval '2 days'",
        },
    )
    # Change requests (变更申请) on one closed case in ten with a company version: most
    # approved long ago, some rejected, the newest pending.
    made["change requests"] = _insert_copy(
        cur,
        "onboarding_changerequest",
        f"""FROM onboarding_onboardingcase c
        JOIN LATERAL (SELECT max(v.id) AS id FROM companies_companyversion v WHERE v.enterprise_id = c.enterprise_id) v
          ON v.id IS NOT NULL
        CROSS JOIN LATERAL (SELECT 1) t
        WHERE c.id % 10 = 3 AND c.state IN {CLOSED_STATES!r} AND c.account_manager_id IS NOT NULL""",
        {
            "public_id": "gen_random_uuid()",
            "status": "CASE WHEN c.id % 7 = 0 THEN 'rejected' WHEN c.id % 13 = 0 THEN 'pending' ELSE 'approved' END",
            "proposed": """jsonb_build_object('contact_phone', '021-' || lpad((c.id % 100000000)::text, 8, '0'))""",
            "reason": "'联系电话变更'",
            "filed_at": "c.updated_at + interval '30 days'",
            "decided_at": "CASE WHEN c.id % 13 = 0 THEN NULL ELSE c.updated_at + interval '32 days' END",
            "decision_reason": "CASE WHEN c.id % 7 = 0 THEN '材料不全' ELSE '' END",
            "base_version_id": "v.id",
            "case_id": "c.id",
            "decided_by_id": "CASE WHEN c.id % 13 = 0 THEN NULL ELSE c.account_manager_id END",
            "filed_by_id": "c.account_manager_id",
            "result_version_id": "NULL",
        },
    )
    # Staff reads of every case over its life: its account manager, spread evenly.
    cur.execute(
        f"""
        INSERT INTO audit_accessevent (kind, username, reason, ip, path, data, created_at, actor_id, case_id)
        SELECT 'case_read', u.username, '', '10.3.' || (c.id % 250) || '.' || g, '/cases/' || c.public_id || '/',
               '{{}}'::jsonb, c.created_at + (now() - c.created_at) * (g / {READS_PER_CASE + 1}.0), u.id, c.id
        FROM onboarding_onboardingcase c JOIN accounts_user u ON u.id = c.account_manager_id
        CROSS JOIN generate_series(1, {READS_PER_CASE}) g
        """
    )
    made["case reads"] = int(cur.rowcount)
    # One or two portal users per company without any (password and groups of the demo's ent01),
    # the first its administrator.
    cur.execute(
        """
        INSERT INTO accounts_user (password, last_login, is_superuser, username, first_name, last_name, email,
                                   is_staff, is_active, date_joined, display_name, phone, branch_id, enterprise_id)
        SELECT t.password, NULL, false, 'p' || e.id || '_' || g, '', '', 'p' || e.id || '_' || g || '@corp.example',
               false, true, e.created_at, '财务' || g, '', NULL, e.id
        FROM onboarding_enterprise e CROSS JOIN generate_series(1, 1 + e.id % 2) g
        JOIN accounts_user t ON t.username = 'ent01'
        WHERE NOT EXISTS (SELECT 1 FROM accounts_user x WHERE x.enterprise_id = e.id)
        """
    )
    made["portal users"] = int(cur.rowcount)
    cur.execute(
        r"""
        INSERT INTO accounts_user_groups (user_id, group_id)
        SELECT u.id, g.group_id FROM accounts_user u
        JOIN accounts_user_groups g ON g.user_id = (SELECT id FROM accounts_user WHERE username = 'ent01')
        WHERE u.username LIKE 'p%\_%' AND u.enterprise_id IS NOT NULL
        """
    )
    _insert_copy(
        cur,
        "portal_enterprisemember",
        r"""FROM accounts_user u JOIN portal_enterprisemember t
          ON t.user_id = (SELECT id FROM accounts_user WHERE username = 'ent01')
        WHERE u.username LIKE 'p%\_%' AND u.enterprise_id IS NOT NULL""",
        {
            "public_id": "gen_random_uuid()",
            "user_id": "u.id",
            "is_admin": r"u.username LIKE '%\_1'",
            "created_at": "u.date_joined",
        },
    )
    log("  bank history: " + ", ".join(f"{k} {n:,}" for k, n in made.items()) + f" ({time.perf_counter() - t0:.0f} s)")
    return made


def counts(conn: Any, tables: Iterable[str] = TABLES) -> dict[str, int]:
    out = {}
    with conn.cursor() as cur:
        for table in tables:
            cur.execute(f"SELECT count(*) FROM {table}")
            out[table] = int(cur.fetchone()[0])
    return out
