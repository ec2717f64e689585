"""Read models derived from the stage visits and case events (never edited by hand).

`VisitFact` is one stage visit with its working time already counted on the SLA calendar,
so the cockpit aggregates in SQL instead of walking the calendar for 100,000 cases per
page view. `CaseForecast` is the go-live forecast of one open case, recomputed after each
of its transitions and nightly. `ForecastModel` holds the fitted stage-duration
distributions the forecasts are drawn from. All three can be rebuilt at any time
(`manage.py analytics_refresh`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from onboarding.states import Party, State


class VisitFact(models.Model):
    visit = models.OneToOneField("onboarding.StageVisit", primary_key=True, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey("onboarding.OnboardingCase", on_delete=models.CASCADE, related_name="+")
    stage = models.CharField(max_length=30, choices=State.choices)
    branch = models.ForeignKey("branches.Branch", on_delete=models.CASCADE, related_name="+")
    branch_path = models.CharField(max_length=255)
    # The tier-1 branch (分行) above the case's branch, or head office for its own cases.
    tier1_id = models.IntegerField()
    modules_key = models.CharField(max_length=200)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_with = models.CharField(max_length=60, blank=True)
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    first_visit = models.BooleanField(default=True)
    # When the case first entered branch intake: the funnel's cohort.
    case_started_at = models.DateTimeField(null=True, blank=True)
    retests = models.IntegerField(default=0, help_text="re-tests asked for during the visit")
    holder_party = models.CharField(max_length=10, choices=Party.choices)
    # Working time (suspensions excluded); for an open visit, as of `refreshed_at`.
    work_seconds = models.IntegerField(default=0)
    bank_seconds = models.IntegerField(default=0)
    customer_seconds = models.IntegerField(default=0)
    tenths = models.IntegerField(default=0, help_text="working days × 10, rounded")
    sla_days = models.IntegerField(null=True, blank=True)
    within_sla = models.BooleanField(null=True, blank=True)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("阶段用时")
        verbose_name_plural = _("阶段用时")
        indexes = [
            models.Index(fields=["left_at", "branch_path"], name="visitfact_left_idx"),
            models.Index(fields=["branch_path", "stage"], name="visitfact_scope_idx"),
            models.Index(fields=["case", "stage"], name="visitfact_case_idx"),
            models.Index(fields=["case_started_at", "branch_path"], name="visitfact_cohort_idx"),
        ]


class CaseForecast(models.Model):
    case = models.OneToOneField(
        "onboarding.OnboardingCase", primary_key=True, on_delete=models.CASCADE, related_name="forecast"
    )
    computed_at = models.DateTimeField(default=timezone.now)
    stage = models.CharField(max_length=30, choices=State.choices)
    holder_party = models.CharField(max_length=10, choices=Party.choices, blank=True)
    holder_role = models.CharField(max_length=30, blank=True)
    stage_elapsed_days = models.FloatField(default=0)
    stage_p85_days = models.FloatField(null=True, blank=True)
    # When the current stage passes that stage's 85th percentile (suspensions push it back).
    stage_late_at = models.DateTimeField(null=True, blank=True)
    p50_date = models.DateField(null=True, blank=True)
    p85_date = models.DateField(null=True, blank=True)
    target_date = models.DateField(null=True, blank=True)
    target_late = models.BooleanField(default=False)
    basis = models.CharField(max_length=200, blank=True)
    basis_n = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("上线预测")
        verbose_name_plural = _("上线预测")
        indexes = [models.Index(fields=["stage_late_at"], name="forecast_late_idx")]

    def stage_late(self, now: object = None) -> bool:
        now = now or timezone.now()
        return self.stage_late_at is not None and self.stage_late_at <= now  # type: ignore[operator]

    def at_risk(self, now: object = None) -> bool:
        return self.target_late or self.stage_late(now)


class ForecastModel(models.Model):
    fitted_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("预测模型")
        verbose_name_plural = _("预测模型")
        get_latest_by = "fitted_at"


class CockpitSnapshot(models.Model):
    """The cockpit's tables for one scope (branch subtree), period and filters, as computed at
    `computed_at`: the page, its charts and its exports are served from here, so no page view
    computes the default figures (`analytics.snapshots`). One row per key, upserted: two
    workers on two hosts computing the same key leave one row."""

    scope = models.ForeignKey("branches.Branch", on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField()
    period_end = models.DateField()
    # The other inputs of the figures: today only the language the tables are labelled in.
    filters_key = models.CharField(max_length=100)
    computed_at = models.DateTimeField()
    figures = models.JSONField()
    # Set when a case of the subtree changed after `computed_at` (cleared by the refresh).
    dirty_since = models.DateTimeField(null=True, blank=True)
    # The figures this row held before its last refresh: an export clicked on a page shown
    # just before a refresh still writes what that page charted.
    previous_computed_at = models.DateTimeField(null=True, blank=True)
    previous_figures = models.JSONField(null=True, blank=True)
    # What the cockpit page shows of `figures`, shaped when they were computed: the first rows of
    # each table, and the charts' script element (text: inside the JSON its escaping doubled
    # the bytes to parse). A page view reads these, not the whole figures
    # (`analytics.snapshots.page_form`). Empty on rows written before they existed.
    page = models.JSONField(null=True, blank=True)
    # A default in the database too: code from before these columns (a rolling deploy) inserts
    # rows without them.
    page_charts = models.TextField(blank=True, db_default="")

    class Meta:
        verbose_name = _("驾驶舱数据快照")
        verbose_name_plural = _("驾驶舱数据快照")
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "period_start", "period_end", "filters_key"], name="cockpitsnapshot_key_uniq"
            )
        ]
