from __future__ import annotations

import uuid
from typing import Any

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin

from casetypes import declaration
from companies.models import CompanyVersion
from config.evidence import NoTruncate

from . import validators
from .event_names import label
from .journey import ONBOARDING, OnboardingJourney, State
from .terms import ApprovalLevel, Module, Party, RiskLevel, joint_test_label

# The body of the triggers that keep `StageCount`: `changes` is a query of (branch_id, state, d)
# rows, d = +1 or -1. Summed per key and applied in key order (two transitions crossing the same
# two states lock the counts in the same order: no deadlock).
STAGE_COUNT_SQL = (
    "INSERT INTO onboarding_stagecount (branch_id, state, n)"
    " SELECT branch_id, state, SUM(d) FROM ({changes}) AS changes"
    " GROUP BY branch_id, state HAVING SUM(d) <> 0 ORDER BY branch_id, state"
    " ON CONFLICT (branch_id, state) DO UPDATE SET n = onboarding_stagecount.n + EXCLUDED.n;"
    " RETURN NULL;"
)

# The triggers that keep `OpenStage`: `cases` is a query of cases (id, branch_id,
# account_manager_id, state, current_visit_id) whose row is written again from the case and its
# current visit, in case order, after `before` (a statement run first); a case without a current
# visit (closed) has no row.
OPEN_STAGE_SQL = (
    "{before}"
    "INSERT INTO onboarding_openstage (case_id, visit_id, branch_id, account_manager_id, state, holder_role,"
    " entered_at, due_at, paused_at, left_at)"
    " SELECT c.id, v.id, c.branch_id, c.account_manager_id, c.state, v.holder_role, v.entered_at, v.due_at,"
    " v.paused_at, v.left_at FROM ({cases}) AS c JOIN onboarding_stagevisit v ON v.id = c.current_visit_id"
    " ORDER BY c.id"
    " ON CONFLICT (case_id) DO UPDATE SET visit_id = EXCLUDED.visit_id, branch_id = EXCLUDED.branch_id,"
    " account_manager_id = EXCLUDED.account_manager_id, state = EXCLUDED.state,"
    " holder_role = EXCLUDED.holder_role, entered_at = EXCLUDED.entered_at, due_at = EXCLUDED.due_at,"
    " paused_at = EXCLUDED.paused_at, left_at = EXCLUDED.left_at;"
    " RETURN NULL;"
)


# The triggers on `OpenStage` that keep `TeamCount`: `changes` is a query of (branch_id, state,
# account_manager_id, holder_role, d) rows, d = +1 or -1, summed per key and applied in key order
# (as `STAGE_COUNT_SQL`). A case without an account manager is counted under the key's NULL (the
# unique key reads it as 0).
TEAM_COUNT_SQL = (
    "INSERT INTO onboarding_teamcount (branch_id, state, account_manager_id, holder_role, n)"
    " SELECT branch_id, state, account_manager_id, holder_role, SUM(d) FROM ({changes}) AS changes"
    " GROUP BY branch_id, state, account_manager_id, holder_role HAVING SUM(d) <> 0"
    " ORDER BY branch_id, state, account_manager_id, holder_role"
    " ON CONFLICT (branch_id, state, (COALESCE(account_manager_id, 0)), holder_role)"
    " DO UPDATE SET n = onboarding_teamcount.n + EXCLUDED.n;"
    " RETURN NULL;"
)
# The body of the triggers on `ProductionConfig` that keep `OpenStage.has_production_config`:
# `cases` is a query of the cases whose configuration came, went or moved; only rows whose value
# changes are written (an edited configuration writes nothing here).
CONFIGURED_SQL = (
    "UPDATE onboarding_openstage s SET has_production_config = NOT s.has_production_config"
    " WHERE s.case_id IN ({cases}) AND s.has_production_config IS DISTINCT FROM"
    " EXISTS (SELECT 1 FROM onboarding_productionconfig pc WHERE pc.case_id = s.case_id); RETURN NULL;"
)

# An `OpenStage` row that changed group: its old group loses it, its new group gains it.
TEAM_MOVED = (
    " FROM old_rows o JOIN new_rows n ON n.case_id = o.case_id"
    " WHERE (o.branch_id, o.state, o.account_manager_id, o.holder_role)"
    " IS DISTINCT FROM (n.branch_id, n.state, n.account_manager_id, n.holder_role)"
)


class OnboardingCase(OnboardingJourney, FSMModelMixin, models.Model):
    """One application of one enterprise for a direct link.

    Its transitions, with their guards, permissions and effects, are the onboarding journey
    (`onboarding.journey`). Every declared case type (`casetypes.declaration`) keeps its cases
    in this table, `case_type` naming it: a row of another type is loaded as that type's model
    (a proxy of this one carrying its own transitions), so scoping, stage visits, events,
    documents, reminders, the queue and the API treat every type alike.
    `onboarding.services.case_transition` is the only caller of the transitions.
    """

    case_type = models.CharField(_("案件类型"), max_length=40, default="onboarding", db_index=True, editable=False)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(_("编号"), max_length=20, unique=True, editable=False)
    enterprise = models.ForeignKey(
        "companies.Enterprise", verbose_name=_("企业"), on_delete=models.PROTECT, related_name="cases"
    )
    # The company data this case uses: the company's newest version while the case is a draft
    # or in branch intake, frozen on what head office approved once it has left intake (moved
    # only by an approved change request). See `company`.
    company_version = models.ForeignKey(
        "companies.CompanyVersion",
        verbose_name=_("企业资料版本"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        editable=False,
    )
    branch = models.ForeignKey(
        "branches.Branch", verbose_name=_("受理机构"), on_delete=models.PROTECT, related_name="cases"
    )
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("客户经理"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="managed_cases",
        db_index=False,  # case_manager_order_idx leads with it
    )
    modules = models.JSONField(_("功能模块"), default=list)
    erp_system = models.CharField(_("企业ERP/财资系统"), max_length=100, blank=True)
    connection_notes = models.TextField(_("对接方式说明"), blank=True)
    fee_amount = models.DecimalField(_("费用(元)"), max_digits=12, decimal_places=2, null=True, blank=True)
    fee_note = models.CharField(_("费用说明"), max_length=200, blank=True)
    risk_level = models.CharField(_("风险等级"), max_length=10, choices=RiskLevel.choices, blank=True)
    risk_note = models.CharField(_("风险说明"), max_length=300, blank=True)
    target_date = models.DateField(_("目标上线日期"), null=True, blank=True)

    # Indexed by case_state_order_idx (the state first), not by an index of its own.
    state = FSMField(_("状态"), default=ONBOARDING.initial.code, choices=State.choices, protected=True)
    state_before_suspend = models.CharField(max_length=30, blank=True, editable=False)
    # Incremented by every write (`services.case_write`): a form posts the version it showed,
    # so a stale page cannot act on, or overwrite, a case that has moved on.
    version = models.PositiveIntegerField(default=0, editable=False)
    current_visit = models.ForeignKey(
        "StageVisit", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    customer_confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    customer_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="created_cases", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("银企直联案件")
        verbose_name_plural = _("银企直联案件")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["branch", "state"]),
            # The case list's order (newest first, id as tie-break): page 1 reads 25 index rows.
            # The branch is carried in the index (PostgreSQL's INCLUDE), so that a page of a
            # subtree's list, or a deep page, is found in the index alone: page 200 of head
            # office's list read 5,000 case rows for their branch (45 ms at 100,000 cases), an
            # account manager's page 1 the 3,800 newest cases of the bank (17 ms); 1–2 ms now.
            models.Index(fields=["-created_at", "-id"], include=["branch"], name="case_list_order_idx"),
            # The list of one state in that order (and any read by state): page 1 reads its 25
            # rows, where the order index alone walked every newer case of other states (26,000
            # index rows, 120 ms at 100,000 cases). It replaces the plain index on `state` and
            # its LIKE twin, which no query used.
            models.Index(fields=["state", "-created_at", "-id"], include=["branch"], name="case_state_order_idx"),
            # One account manager's cases in the list's order (the supervisor's filter, and any read
            # by manager): page 1 reads its 25 index rows and the count up to 10,001, where both
            # read all of the manager's cases through two bitmaps (1,166 rows, ~1 ms each).
            models.Index(
                fields=["account_manager", "-created_at", "-id"], include=["branch"], name="case_manager_order_idx"
            ),
            # An account manager's cases without a current stage in given states: 轮到我办理's
            # drafts before their first stage (`queue._HELD_MINE_KEPT`, beside the kept open
            # stages). Read through the three indexes above, the bench's account manager's
            # none cost 187 index and table pages (6,260 entries of the states bank-wide).
            models.Index(
                fields=["account_manager", "state"],
                condition=models.Q(current_visit__isnull=True),
                name="case_unvisited_idx",
            ),
        ]
        # PostgreSQL keeps `StageCount` (the cases per branch and state) with every statement that
        # writes cases, whoever sends it; each statement's changes summed, applied in key order.
        triggers = [
            pgtrigger.Trigger(
                name="stage_count_insert",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func=STAGE_COUNT_SQL.format(changes="SELECT branch_id, state, 1 AS d FROM new_rows"),
            ),
            pgtrigger.Trigger(
                name="stage_count_update",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows", new="new_rows"),
                func=STAGE_COUNT_SQL.format(
                    changes="SELECT o.branch_id, o.state, -1 AS d FROM old_rows o JOIN new_rows n ON n.id = o.id"
                    " WHERE (o.branch_id, o.state) IS DISTINCT FROM (n.branch_id, n.state)"
                    " UNION ALL SELECT n.branch_id, n.state, 1 FROM old_rows o JOIN new_rows n ON n.id = o.id"
                    " WHERE (o.branch_id, o.state) IS DISTINCT FROM (n.branch_id, n.state)"
                ),
            ),
            pgtrigger.Trigger(
                name="stage_count_delete",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows"),
                func=STAGE_COUNT_SQL.format(changes="SELECT branch_id, state, -1 AS d FROM old_rows"),
            ),
            # And `OpenStage` (each open case's current stage, for the team table).
            pgtrigger.Trigger(
                name="open_stage_insert",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func=OPEN_STAGE_SQL.format(before="", cases="SELECT * FROM new_rows"),
            ),
            pgtrigger.Trigger(
                name="open_stage_update",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows", new="new_rows"),
                func=OPEN_STAGE_SQL.format(
                    before="DELETE FROM onboarding_openstage s USING new_rows n"
                    " WHERE s.case_id = n.id AND n.current_visit_id IS NULL; ",
                    cases="SELECT n.* FROM old_rows o JOIN new_rows n ON n.id = o.id"
                    " WHERE (o.branch_id, o.account_manager_id, o.state, o.current_visit_id)"
                    " IS DISTINCT FROM (n.branch_id, n.account_manager_id, n.state, n.current_visit_id)",
                ),
            ),
            # And `PendingChange` (the pending change requests with their cases' branches).
            pgtrigger.Trigger(
                name="pending_change_branch",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows", new="new_rows"),
                func="UPDATE onboarding_pendingchange p SET branch_id = n.branch_id FROM old_rows o"
                " JOIN new_rows n ON n.id = o.id WHERE p.case_id = n.id AND o.branch_id IS DISTINCT FROM n.branch_id;"
                " RETURN NULL;",
            ),
            pgtrigger.Trigger(
                name="open_stage_delete",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows"),
                func="DELETE FROM onboarding_openstage s USING old_rows o WHERE s.case_id = o.id; RETURN NULL;",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.enterprise.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        declared = next((ct for ct in declaration.CASE_TYPES.values() if ct.model_class() is type(self)), None)
        if declared is not None and self._state.adding:
            self.case_type = declared.code
        super().save(*args, **kwargs)

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> OnboardingCase:  # type: ignore[override]
        """A row of another declared case type comes back as that type's model (its transitions)."""
        instance = super().from_db(db, field_names, values, **kwargs)
        code = instance.__dict__.get("case_type")
        if code and code != "onboarding":
            declared = declaration.CASE_TYPES.get(code)
            model = declared.model_class() if declared is not None else None
            if model is not None and model is not cls and issubclass(model, OnboardingCase):
                instance.__class__ = model
        return instance

    @property
    def is_initial(self) -> bool:
        """Not yet submitted (a draft): the start of its case type."""
        return self.state in declaration.initial_states()

    @property
    def is_draft(self) -> bool:
        """Not yet submitted and the customer's to complete (not a request already with the bank)."""
        return self.state in declaration.draft_states()

    @property
    def is_paused(self) -> bool:
        return declaration.is_paused(self.state)

    @property
    def features(self) -> frozenset[str]:
        """What the case's current stage hosts (`declaration.Feature`), for the templates."""
        stage = declaration.stage(self.state)
        if stage is not None:
            return stage.features
        end = next((e for e in declaration.case_type_of(self).ends if e.code == self.state), None)
        return end.features if end is not None else frozenset()

    @property
    def state_label(self) -> str:
        return declaration.state_label(self.state)

    def get_state_display(self) -> str:  # type: ignore[override,no-redef]
        return declaration.state_label(self.state)

    # --- derived --------------------------------------------------------------------------
    @property
    def company(self) -> CompanyVersion:
        """The company data of this case: its version. Only a case made before versions
        existed and never migrated has none; it reads the company as it is."""
        if self.company_version_id is not None:
            return self.company_version  # type: ignore[return-value]
        from companies.services import company_snapshot

        # The accounts come from a prefetch when a list made one (`prefetch_company_accounts`).
        return company_snapshot(self.enterprise)

    @property
    def module_labels(self) -> list[str]:
        return [str(Module(m).label) for m in self.modules if m in Module.values]

    @property
    def is_open(self) -> bool:
        return self.state in declaration.open_states()

    def current_endorsement(self) -> Approval | None:
        if self.current_visit_id is None:
            return None
        return (
            self.approvals.filter(visit_id=self.current_visit_id, level=Approval.Level.BRANCH)
            .select_related("decided_by")
            .first()
        )


class StageCount(models.Model):
    """How many cases of a branch are in a state: what the dashboard's per-state figures add up
    over a subtree (57 branches' rows instead of 100,000 cases). Written only by the triggers on
    the cases' table (PostgreSQL), so every statement that writes cases keeps it exact: the
    services, imports, `queryset.update()`, a bulk `INSERT … SELECT`. The first migration fills
    it from the cases; elsewhere (SQLite) the figures are counted from the cases themselves."""

    branch = models.ForeignKey("branches.Branch", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    state = models.CharField(max_length=50)
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["branch", "state"], name="stage_count_key")]


class OpenStage(models.Model):
    """An open case's current stage: where the case is (branch, account manager, state) and its
    open visit (holder, since when, due when, paused). What the supervisor's team table groups
    (a narrow index read instead of every open case of the subtree joined to its visit). Written
    only by the triggers on the cases' and the visits' tables (PostgreSQL), like `StageCount`;
    the migration fills it; elsewhere (SQLite) the team table reads the cases themselves."""

    case = models.OneToOneField(
        OnboardingCase, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    visit_id = models.BigIntegerField()
    # Indexed by open_stage_group_idx (the branch first), not by indexes of their own.
    branch = models.ForeignKey(
        "branches.Branch", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    state = models.CharField(max_length=50)
    holder_role = models.CharField(max_length=30)
    entered_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True)
    paused_at = models.DateTimeField(null=True)
    left_at = models.DateTimeField(null=True)
    # The case has a production configuration (`ProductionConfig`): set when the row is written
    # (`open_stage_configured`) and by the configurations' own triggers.
    has_production_config = models.BooleanField(db_default=False)

    class Meta:
        indexes = [
            # The team table: a subtree's open cases grouped, read from the index alone.
            # Each group's longest-waiting case is its first entry there (the case's id breaks
            # a tie): one index row a group.
            models.Index(
                fields=["branch", "state", "account_manager", "holder_role", "entered_at", "case"],
                include=["due_at", "paused_at", "left_at"],
                name="open_stage_group_idx",
            ),
            # The team table's overdue count per group: the group's running stages (not left, not
            # paused) in due order, so a group's overdue ones are a range of the index alone
            # (open_stage_group_idx held every open stage of the group: twice the entries read).
            models.Index(
                fields=["branch", "state", "account_manager", "holder_role", "due_at"],
                name="open_stage_group_late_idx",
                condition=models.Q(left_at__isnull=True, paused_at__isnull=True),
            ),
            # Head office's overdue count: the running stages in due order, counted from the index.
            models.Index(
                fields=["due_at"],
                include=["branch", "state"],
                name="open_stage_late_idx",
                condition=models.Q(left_at__isnull=True, paused_at__isnull=True),
            ),
            # The held list of one role (a supervisor, the counter, head office): that role's
            # open stages in due order, each one's branch and state beside it, read from the
            # index alone until the page and its count are found (`onboarding.queue`).
            models.Index(
                fields=["holder_role", "due_at"],
                include=["case", "branch", "state"],
                name="open_stage_held_idx",
                condition=models.Q(left_at__isnull=True),
            ),
            # Head-office tech's production configurations to issue: a stage's cases without
            # one in due order, each one's branch beside it (`onboarding.queue`): the first 50
            # read from the index, not every case of the stage checked for a configuration.
            models.Index(
                fields=["state", "due_at", "case"],
                include=["branch", "visit_id"],
                name="open_stage_unconfigured_idx",
                condition=models.Q(has_production_config=False),
            ),
        ]
        # PostgreSQL keeps `TeamCount` (the rows per group) with every statement that writes
        # these rows (the cases' and the visits' triggers above).
        triggers = [
            # A row written for a case that already has its production configuration says so
            # (the configurations' triggers keep it after that). An upsert that finds the case's
            # row keeps the row's value: the same case.
            pgtrigger.Trigger(
                name="open_stage_configured",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                level=pgtrigger.Row,
                func="NEW.has_production_config := EXISTS (SELECT 1 FROM onboarding_productionconfig pc"
                " WHERE pc.case_id = NEW.case_id); RETURN NEW;",
            ),
            pgtrigger.Trigger(
                name="team_count_insert",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func=TEAM_COUNT_SQL.format(
                    changes="SELECT branch_id, state, account_manager_id, holder_role, 1 AS d FROM new_rows"
                ),
            ),
            pgtrigger.Trigger(
                name="team_count_update",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows", new="new_rows"),
                func=TEAM_COUNT_SQL.format(
                    changes="SELECT o.branch_id, o.state, o.account_manager_id, o.holder_role, -1 AS d"
                    + TEAM_MOVED
                    + " UNION ALL SELECT n.branch_id, n.state, n.account_manager_id, n.holder_role, 1"
                    + TEAM_MOVED
                ),
            ),
            pgtrigger.Trigger(
                name="team_count_delete",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows"),
                func=TEAM_COUNT_SQL.format(
                    changes="SELECT branch_id, state, account_manager_id, holder_role, -1 AS d FROM old_rows"
                ),
            ),
        ]


class TeamCount(models.Model):
    """How many open stages a group of the supervisor's team table holds: the `OpenStage` rows
    per (branch, state, account manager, holder role). The team table reads a subtree's groups
    here (dozens of rows) instead of grouping every open case of the subtree (5,000 at a tier-1
    branch of the 100,000-case bench). Written only by the triggers on `OpenStage` (PostgreSQL),
    which the cases' and the visits' triggers keep from every statement; the migration fills
    it; elsewhere (SQLite) the team table groups the cases themselves."""

    branch = models.ForeignKey(
        "branches.Branch", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    state = models.CharField(max_length=50)
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    holder_role = models.CharField(max_length=30)
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            # One row a group, the cases without an account manager included (NULL read as 0);
            # the branch first: a subtree's rows are found by their branches.
            models.UniqueConstraint(
                "branch",
                "state",
                Coalesce("account_manager", Value(0)),
                "holder_role",
                name="team_count_key",
            )
        ]


class StageVisit(models.Model):
    """One stay of a case in one stage: when it came, when it is due, when it left."""

    case = models.ForeignKey(OnboardingCase, on_delete=models.PROTECT, related_name="visits")
    stage = models.CharField(max_length=30, choices=State.choices)
    entered_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    holder_party = models.CharField(max_length=10, choices=Party.choices)
    holder_role = models.CharField(max_length=30)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("阶段记录")
        verbose_name_plural = _("阶段记录")
        ordering = ["entered_at", "pk"]
        indexes = [
            # The overdue sweep: open, running visits by due time.
            models.Index(fields=["due_at"], name="open_visit_due_idx", condition=models.Q(left_at__isnull=True)),
            # 轮到我办理 of a role (head office, tech, the counter): its open visits in due order,
            # without stepping over every other role's (26 ms at 100,000 cases, now 50 rows).
            models.Index(
                fields=["holder_role", "due_at"],
                name="open_visit_holder_due_idx",
                condition=models.Q(left_at__isnull=True),
            ),
        ]
        # The SLA record (config/evidence.py): while open, a visit is paused and resumed
        # (paused_at, paused_seconds, due_at), handed to another holder (holder_party,
        # holder_role) and closed once (left_at); a closed visit never changes. Where, when it
        # began and for which case never change; never deleted or emptied.
        triggers = [
            pgtrigger.Protect(
                name="closed_visits_are_final",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__left_at__isnull=False),
            ),
            pgtrigger.Protect(
                name="only_open_visit_columns_change",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(
                    exclude=["left_at", "paused_at", "paused_seconds", "due_at", "holder_party", "holder_role"]
                ),
            ),
            pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete),
            # `OpenStage` follows the visit: a new current visit, a pause, a hand-over, its close.
            pgtrigger.Trigger(
                name="open_stage_visit_insert",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func=OPEN_STAGE_SQL.format(
                    before="",
                    cases="SELECT c.* FROM new_rows v JOIN onboarding_onboardingcase c ON c.current_visit_id = v.id",
                ),
            ),
            pgtrigger.Trigger(
                name="open_stage_visit_update",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func="UPDATE onboarding_openstage s SET holder_role = n.holder_role, entered_at = n.entered_at,"
                " due_at = n.due_at, paused_at = n.paused_at, left_at = n.left_at FROM new_rows n"
                " WHERE s.case_id = n.case_id AND s.visit_id = n.id; RETURN NULL;",
            ),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.stage}"

    def is_overdue(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.left_at is None and self.paused_at is None and self.due_at is not None and self.due_at < now


class Approval(models.Model):
    Level = ApprovalLevel

    case = models.ForeignKey(OnboardingCase, on_delete=models.PROTECT, related_name="approvals")
    visit = models.ForeignKey(StageVisit, on_delete=models.PROTECT, related_name="approvals")
    level = models.CharField(max_length=20, choices=Level.choices)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("审批记录")
        verbose_name_plural = _("审批记录")
        constraints = [models.UniqueConstraint(fields=["visit", "level"], name="one_approval_per_level_per_visit")]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]


class TestPackage(models.Model):
    case = models.OneToOneField(OnboardingCase, on_delete=models.PROTECT, related_name="test_package")
    test_endpoint = models.CharField(_("测试地址"), max_length=200, blank=True)
    test_accounts = models.TextField(_("测试账号"), blank=True)
    test_certificate_ref = models.CharField(_("测试证书编号"), max_length=100, blank=True)
    doc_version = models.CharField(_("接口文档版本"), max_length=30, blank=True)
    issued_to = models.CharField(_("下发对象"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("测试包")
        verbose_name_plural = _("测试包")


class ModuleTestResult(models.Model):
    """A joint-test outcome for one test case of one requested module (`states.TEST_CASES`).

    Rows are never changed: a later row for the same (module, test case) supersedes the
    earlier ones. A row with `retest` set is the tech reviewer asking for the case to be run
    again (it counts as not passed until a new result comes).
    """

    case = models.ForeignKey(OnboardingCase, on_delete=models.PROTECT, related_name="test_results")
    module = models.CharField(_("功能模块"), max_length=30, choices=Module.choices)
    test_case = models.CharField(_("测试用例"), max_length=30, blank=True)
    passed = models.BooleanField(_("通过"))
    retest = models.BooleanField(_("要求重测"), default=False)
    evidence = models.CharField(_("测试凭据(流水号/日志)"), max_length=300, blank=True)
    notes = models.CharField(_("说明"), max_length=300, blank=True)
    # The gateway's observation this result confirms (the customer confirmed it instead of typing).
    observation = models.ForeignKey(
        "GatewayObservation", null=True, blank=True, on_delete=models.PROTECT, related_name="confirmations"
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("联调测试结果")
        verbose_name_plural = _("联调测试结果")
        indexes = [models.Index(fields=["case", "module", "test_case"])]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    @property
    def test_case_label(self) -> str:
        return joint_test_label(self.module, self.test_case)


class GatewayObservation(models.Model):
    """A test transaction the bank's own test gateway saw for a case's test credentials.

    Posted by the gateway through the API (scope `test_gateway`); never changed. The latest
    observation of a (module, test case) of the matrix fills its row as "observed by the
    gateway" until the customer confirms it (a `ModuleTestResult` naming it). `trace_id` is
    the gateway's own id of the transaction: a repeated post of it records nothing twice.
    """

    case = models.ForeignKey(OnboardingCase, on_delete=models.PROTECT, related_name="gateway_observations")
    trace_id = models.CharField(_("追踪号"), max_length=100, unique=True)
    module = models.CharField(_("功能模块"), max_length=30)
    test_case = models.CharField(_("测试用例"), max_length=30)
    interface = models.CharField(_("接口"), max_length=100, blank=True)
    result_code = models.CharField(_("返回码"), max_length=30)
    succeeded = models.BooleanField(_("交易成功"))
    observed_at = models.DateTimeField(_("交易时间"))
    # The test account or test certificate that named the case.
    credential = models.CharField(_("测试凭证"), max_length=100)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("测试网关观测记录")
        verbose_name_plural = _("测试网关观测记录")
        indexes = [models.Index(fields=["case", "module", "test_case"], name="gateway_obs_case_row_idx")]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.trace_id} {self.module}:{self.test_case} {self.result_code}"

    @property
    def test_case_label(self) -> str:
        return joint_test_label(self.module, self.test_case)


class ProductionConfig(models.Model):
    class Connection(models.TextChoices):
        INTERNET = "internet", _("互联网")
        LEASED_LINE = "leased_line", _("专线")

    case = models.OneToOneField(OnboardingCase, on_delete=models.PROTECT, related_name="production_config")
    production_endpoint = models.CharField(_("生产地址"), max_length=200)
    certificate_serial = models.CharField(_("生产证书序列号"), max_length=100)
    production_accounts = models.TextField(_("生产账号"), blank=True, help_text=_("每行一个"))
    connection_type = models.CharField(
        _("接入方式"), max_length=20, choices=Connection.choices, default=Connection.INTERNET
    )
    front_end_processor = models.CharField(_("前置机(主机/IP/版本)"), max_length=200, blank=True)
    line_details = models.CharField(_("前置机/专线信息"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("生产配置")
        verbose_name_plural = _("生产配置")
        # PostgreSQL keeps `OpenStage.has_production_config` with every statement that writes
        # configurations (the service, an import, a statement typed into psql).
        triggers = [
            pgtrigger.Trigger(
                name="open_stage_config_insert",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func=CONFIGURED_SQL.format(cases="SELECT case_id FROM new_rows"),
            ),
            pgtrigger.Trigger(
                name="open_stage_config_update",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows", new="new_rows"),
                func=CONFIGURED_SQL.format(
                    cases="SELECT o.case_id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.case_id <> n.case_id"
                    " UNION ALL SELECT n.case_id FROM old_rows o JOIN new_rows n ON n.id = o.id"
                    " WHERE o.case_id <> n.case_id"
                ),
            ),
            pgtrigger.Trigger(
                name="open_stage_config_delete",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(old="old_rows"),
                func=CONFIGURED_SQL.format(cases="SELECT case_id FROM old_rows"),
            ),
        ]

    @property
    def account_list(self) -> list[str]:
        return split_accounts(self.production_accounts)

    def problems(self) -> list[str]:
        """Test and production are kept apart (测试环境与生产环境区分), each reuse named."""
        from django.utils.translation import gettext

        problems = []
        if not self.production_endpoint.strip():
            problems.append(gettext("生产地址未填写"))
        if not self.certificate_serial.strip():
            problems.append(gettext("生产证书序列号未填写"))
        accounts = self.account_list
        if not accounts:
            problems.append(gettext("生产账号未填写"))
        if self.connection_type == self.Connection.LEASED_LINE and not self.line_details.strip():
            problems.append(gettext("专线接入须填写专线信息"))
        registered = set(self.case.company.account_numbers)
        for account in accounts:
            if account not in registered:
                problems.append(gettext("生产账号 %(a)s 不是该企业已登记的结算账户") % {"a": account})
        package = getattr(self.case, "test_package", None)
        if package is not None:
            if self.production_endpoint.strip() and _endpoint(self.production_endpoint) == _endpoint(
                package.test_endpoint
            ):
                problems.append(gettext("生产地址与测试地址相同"))
            if (
                self.certificate_serial.strip()
                and self.certificate_serial.strip().upper() == package.test_certificate_ref.strip().upper()
            ):
                problems.append(gettext("生产证书与测试证书相同"))
            test_accounts = set(split_accounts(package.test_accounts))
            for account in accounts:
                if account in test_accounts:
                    problems.append(gettext("生产账号 %(a)s 是测试账号") % {"a": account})
        return problems


def split_accounts(text: str) -> list[str]:
    """Account numbers from a free-text field: one per line, commas or spaces also separate."""
    import re

    seen: list[str] = []
    for token in re.split(r"[\s,,;;、]+", text or ""):
        if token and token not in seen:
            seen.append(token)
    return seen


def _endpoint(url: str) -> str:
    return validators.normalise_endpoint(url)


class CaseEventQuerySet(models.QuerySet["CaseEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise PermissionError("case events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("case events are append-only")


class CaseEvent(models.Model):
    """The append-only history of a case: the timeline and the audit log read these rows."""

    class Kind(models.TextChoices):
        CREATED = "created", _("创建")
        TRANSITION = "transition", _("流转")
        EDITED = "edited", _("修改资料")
        RECORD = "record", _("登记")
        DOCUMENT = "document", _("文件")
        REMINDER = "reminder", _("提醒")
        MESSAGE = "message", _("留言")
        IMPORTED = "imported", _("导入")

    # No index of its own: caseevent_case_history_idx leads with it (and serves the foreign key).
    case = models.ForeignKey(OnboardingCase, on_delete=models.PROTECT, related_name="events", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=60, blank=True)
    # No index of its own: caseevent_actor_log_idx leads with the actor (and serves the
    # foreign key's checks too).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    from_state = models.CharField(max_length=30, blank=True)
    to_state = models.CharField(max_length=30, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # No index of its own: caseevent_log_order_idx leads with it, read either way.
    created_at = models.DateTimeField(default=timezone.now)

    objects = CaseEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("案件事件")
        verbose_name_plural = _("案件事件")
        ordering = ["created_at", "pk"]
        # The audit log's order (newest first, id as tie-break) without sorting every event.
        # Every index here is written by each event (the reminder sweep writes 100,000s at
        # once, bench/sweep.py), so none repeats the leading column of another.
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="caseevent_log_order_idx"),
            # One case's history in timeline order: the case page's newest events and the
            # history pages (keyset on created_at, id) stop after a page, however long the
            # history. It replaces the plain case_id index (same number of indexes written).
            models.Index(fields=["case", "created_at", "id"], name="caseevent_case_history_idx"),
            # The audit log of one person: their events newest first, not a walk of everyone's.
            # Only events with an actor: the sweep's reminders (no actor) are never looked up by one.
            models.Index(
                fields=["actor", "-created_at", "-id"],
                name="caseevent_actor_log_idx",
                condition=models.Q(actor__isnull=False),
            ),
        ]
        triggers = [  # evidence (config/evidence.py): never changed, deleted or emptied
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            NoTruncate(),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("case events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("case events are append-only")

    @property
    def label(self) -> str:
        return label(self.name)

    @property
    def from_label(self) -> str:
        # Any declared type's state (a request's stages too), not only the onboarding's.
        return declaration.state_label(self.from_state)

    @property
    def to_label(self) -> str:
        return declaration.state_label(self.to_state)


class ChangeRequest(models.Model):
    """A change of company data on a case past branch intake (变更申请).

    Filed by the customer or the case's account manager with the proposed data and a reason;
    decided by a branch supervisor of the case's branch who did not file it. On approval the
    proposed data becomes the company's newest version and the case points to it. The case
    events keep the difference, the filer, the decider and the reasons.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("待审批")
        APPROVED = "approved", _("已批准")
        REFUSED = "refused", _("已拒绝")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(OnboardingCase, on_delete=models.PROTECT, related_name="change_requests")
    status = models.CharField(_("状态"), max_length=20, choices=Status.choices, default=Status.PENDING)
    # The case's version when filed; the proposal is shown as a difference from it.
    base_version = models.ForeignKey("companies.CompanyVersion", on_delete=models.PROTECT, related_name="+")
    # The proposed company data (`companies.models.DATA_FIELDS` minus the credit code, dates as
    # ISO text) and {"accounts": [...]}.
    proposed = models.JSONField(default=dict)
    reason = models.TextField(_("变更原因"))
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    filed_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(_("审批意见"), blank=True)
    result_version = models.ForeignKey(
        "companies.CompanyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("变更申请")
        verbose_name_plural = _("变更申请")
        ordering = ["-filed_at", "-pk"]
        constraints = [
            # One pending request per case: a second would be decided against stale data.
            models.UniqueConstraint(
                fields=["case"], condition=models.Q(status="pending"), name="one_pending_change_request_per_case"
            )
        ]
        # Evidence (config/evidence.py): a pending request receives its decision once, in one
        # update (status, who, when, why, the resulting version: change_requests._decide); the
        # proposal, the reason, who filed it and when never change; never deleted or emptied.
        triggers = [
            pgtrigger.Protect(
                name="decided_only_once",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__df="pending")
                | ~pgtrigger.Q(new__status__in=["approved", "refused"]),
            ),
            pgtrigger.Protect(
                name="only_decision_columns_change",
                operation=pgtrigger.Update,
                condition=pgtrigger.AnyChange(
                    exclude=["status", "decided_by", "decided_at", "decision_reason", "result_version"]
                ),
            ),
            pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete),
            NoTruncate(),
            # And `PendingChange` (the pending requests where their cases are): a request filed
            # pending is added with its case's branch, one decided is taken out.
            pgtrigger.Trigger(
                name="pending_change_insert",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func="INSERT INTO onboarding_pendingchange (request_id, case_id, branch_id, filed_by_id, filed_at)"
                " SELECT r.id, r.case_id, c.branch_id, r.filed_by_id, r.filed_at FROM new_rows r"
                " JOIN onboarding_onboardingcase c ON c.id = r.case_id WHERE r.status = 'pending'; RETURN NULL;",
            ),
            pgtrigger.Trigger(
                name="pending_change_decided",
                when=pgtrigger.After,
                operation=pgtrigger.Update,
                level=pgtrigger.Statement,
                referencing=pgtrigger.Referencing(new="new_rows"),
                func="DELETE FROM onboarding_pendingchange p USING new_rows n"
                " WHERE p.request_id = n.id AND n.status <> 'pending'; RETURN NULL;",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.status}"


class PendingChange(models.Model):
    """A change request waiting for its decision, with its case's branch: the supervisors'
    轮到我办理 finds its subtree's requests by their branches (a few dozen index entries) instead
    of reading every pending request of the bank and its case (302 and 1,000 buffers at the
    100,000-case bench). Written only by triggers (PostgreSQL): the requests' (filed pending: a
    row; decided: none) and the cases' (a case moved to another branch, by any statement); the
    migration fills it. Elsewhere (SQLite) the queue joins the requests to their cases."""

    request = models.OneToOneField(
        ChangeRequest, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    case = models.OneToOneField(
        OnboardingCase, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )  # one pending request per case (`one_pending_change_request_per_case`)
    branch = models.ForeignKey(
        "branches.Branch", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    filed_at = models.DateTimeField()

    class Meta:
        indexes = [
            # A subtree's pending requests, oldest first, by its branches.
            models.Index(fields=["branch", "filed_at", "request"], name="pending_change_branch_idx"),
        ]
