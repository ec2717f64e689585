"""What the API shows: every field listed by name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.fields import Field, SkipField, is_simple_callable
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

from casetypes.declaration import state_labels_shown
from documents.models import Document, DocumentKind, DocumentVersion
from onboarding.models import CaseEvent, OnboardingCase, StageVisit
from onboarding.selectors import CASE_ROW_COLUMNS
from onboarding.states import Module
from portal.models import CaseMessage

# Whether a method read as a field's source is called (`is_simple_callable`: an inspection of
# its signature, ~20 µs), by the method's function: worked out once per process.
_SIMPLE: dict[Any, bool] = {}


def _represent(field: Any) -> Any:
    """The field's `to_representation`; for a plain ISO 8601 `DateTimeField` (the reader's
    time zone) the same for an aware datetime with the time zone looked up once rather than
    per value (DRF's `enforce_timezone` asks asgiref's local for it each time)."""
    if type(field) is not serializers.DateTimeField or not settings.USE_TZ or hasattr(field, "timezone"):
        return field.to_representation
    output = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output is None or output.lower() != ISO_8601:
        return field.to_representation
    zone = timezone.get_current_timezone()
    slow = field.to_representation

    def represent(value: Any) -> Any:
        if type(value) is not dt.datetime or value.utcoffset() is None:
            return slow(value)  # a string, a naive datetime, a subclass: DRF's own way
        try:
            text = value.astimezone(zone).isoformat()
        except OverflowError:
            return slow(value)  # DRF's error
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return represent


class Listed:
    """A serializer's rows without DRF's per-row field machinery (issue 26: 50 cases took ~8 ms
    of CPU in `get_attribute`, `_readable_fields` and a signature inspection per row for
    `get_state_display`). The same fields, in the same order, through each field's own
    `to_representation`: only finding each field's value is done here, by its `source_attrs`,
    with DRF's own `get_attribute` for a field that overrides it and for any row where the
    plain walk fails (a missing attribute, a related row that does not exist, a callable that
    raises), so defaults, nulls, skipped fields and errors are DRF's."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = self.__dict__.get("_listed_plan")
        if plan is None:
            plan = self._listed_plan = [  # type: ignore[attr-defined]
                (
                    field.field_name,
                    field.source_attrs if type(field).get_attribute is Field.get_attribute else None,
                    field,
                    _represent(field),
                )
                for field in self._readable_fields  # type: ignore[attr-defined]
            ]
        ret: dict[str, Any] = {}
        for name, attrs, field, represent in plan:
            value = instance
            try:
                if attrs is None:
                    raise LookupError
                for attr in attrs:
                    value = value[attr] if isinstance(value, Mapping) else getattr(value, attr)
                    if callable(value):
                        func = getattr(value, "__func__", value)
                        simple = _SIMPLE.get(func)
                        if simple is None:
                            simple = _SIMPLE[func] = is_simple_callable(value)
                        if simple:
                            value = value()
            except Exception:  # DRF's own walk decides: the same value, a skip or the error
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
            check = value.pk if isinstance(value, PKOnlyObject) else value
            ret[name] = None if check is None else represent(value)
        return ret


class CaseSerializer(Listed, serializers.ModelSerializer[OnboardingCase]):
    """A case as the staff page and the PDFs show it: the company data is the case's version
    (`OnboardingCase.company`), the one approved once past intake, never the live company row."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    enterprise_name = serializers.CharField(source="company.name", read_only=True)
    enterprise_uscc = serializers.CharField(source="company.uscc", read_only=True)
    company_version = serializers.IntegerField(source="company.number", read_only=True, allow_null=True)
    branch_code = serializers.CharField(source="branch.code", read_only=True)
    stage_due_at = serializers.DateTimeField(source="current_visit.due_at", read_only=True, allow_null=True)

    class Meta:
        model = OnboardingCase
        fields = [
            "id",
            "reference",
            "state",
            "state_label",
            "version",
            "enterprise_name",
            "enterprise_uscc",
            "company_version",
            "branch_code",
            "modules",
            "erp_system",
            "connection_notes",
            "target_date",
            "stage_due_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# `CaseSerializer`'s fields that read a column of `case_rows` by another name (the others read
# their own): the state's label is the state's, shown in the reader's language.
_CASE_ROW_RENAMED = {
    "id": "public_id",
    "state_label": "state",
    "enterprise_name": "company_name",
    "enterprise_uscc": "company_uscc",
    "company_version": "company_number",
}
_case_row_plans: dict[Any, list[tuple[str, int, Any]]] = {}


def case_list_rows(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The API's case list: `CaseSerializer`'s rows written from `onboarding.selectors.case_rows`'
    values (issue 26: DRF built the serializer's eighteen fields and walked ~300 model instances
    for a list of 50, ~40 % of the call's CPU). Each value goes through its field's own
    `to_representation`, as `Listed` does, nulls as null; the plan (fields, their columns and the
    reader's time zone) is made once per time zone. Tested equal to DRF's output."""
    zone = timezone.get_current_timezone()
    plan = _case_row_plans.get(zone)
    if plan is None:
        fields = CaseSerializer().fields
        plan = _case_row_plans[zone] = [
            (name, CASE_ROW_COLUMNS.index(_CASE_ROW_RENAMED.get(name, name)), _represent(fields[name]))
            for name in CaseSerializer.Meta.fields
        ]
    labels = state_labels_shown()
    out = []
    for row in rows:
        ret: dict[str, Any] = {}
        for name, at, represent in plan:
            value = row[at]
            if name == "state_label":
                value = labels.get(value, value)
            ret[name] = None if value is None else represent(value)
        out.append(ret)
    return out


class CaseCreateSerializer(serializers.Serializer[Any]):
    modules = serializers.ListField(child=serializers.ChoiceField(choices=Module.choices), allow_empty=False)
    erp_system = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    connection_notes = serializers.CharField(required=False, allow_blank=True, default="")
    target_date = serializers.DateField(required=False, allow_null=True, default=None)


class TransitionSerializer(serializers.Serializer[Any]):
    expected_version = serializers.IntegerField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class StageVisitSerializer(serializers.ModelSerializer[StageVisit]):
    class Meta:
        model = StageVisit
        fields = ["stage", "entered_at", "due_at", "left_at", "holder_party", "holder_role"]
        read_only_fields = fields


class CaseEventSerializer(Listed, serializers.ModelSerializer[CaseEvent]):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = CaseEvent
        fields = ["id", "kind", "name", "actor", "from_state", "to_state", "reason", "created_at"]
        read_only_fields = fields

    def get_actor(self, obj: CaseEvent) -> str:
        return obj.actor.get_full_name() or obj.actor.get_username() if obj.actor else ""


class DocumentVersionSerializer(serializers.ModelSerializer[DocumentVersion]):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = DocumentVersion
        fields = ["id", "number", "original_name", "size", "content_type", "uploaded_at", "decision"]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer[Document]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    versions = DocumentVersionSerializer(many=True, read_only=True)

    class Meta:
        model = Document
        fields = ["id", "kind", "generated", "created_at", "versions"]
        read_only_fields = fields


class DocumentUploadSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    file = serializers.FileField()


class TestOutcomeSerializer(serializers.Serializer[Any]):
    module = serializers.ChoiceField(choices=Module.choices)
    test_case = serializers.CharField(max_length=30)
    passed = serializers.BooleanField()
    evidence = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    notes = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class TestResultsSerializer(serializers.Serializer[Any]):
    expected_version = serializers.IntegerField(required=False, allow_null=True, default=None)
    outcomes = TestOutcomeSerializer(many=True, allow_empty=False)


class GatewayObservationSerializer(serializers.Serializer[Any]):
    trace_id = serializers.CharField(max_length=100)
    module = serializers.ChoiceField(choices=Module.choices)
    test_case = serializers.CharField(max_length=30)
    interface = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    result_code = serializers.CharField(max_length=30)
    observed_at = serializers.DateTimeField()


class GatewayObservationsSerializer(serializers.Serializer[Any]):
    """What the bank's test gateway saw for one set of test credentials (account and/or certificate)."""

    test_account = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    certificate_ref = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    observations = GatewayObservationSerializer(many=True, allow_empty=False, max_length=500)


class GatewayReportSerializer(serializers.Serializer[Any]):
    case = serializers.UUIDField()
    reference = serializers.CharField()
    recorded = serializers.ListField(child=serializers.CharField())
    duplicates = serializers.ListField(child=serializers.CharField())
    unmatched = serializers.ListField(child=serializers.CharField())


class MessageSerializer(serializers.ModelSerializer[CaseMessage]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    author = serializers.SerializerMethodField()

    class Meta:
        model = CaseMessage
        fields = ["id", "author", "from_customer", "body", "created_at"]
        read_only_fields = ["id", "author", "from_customer", "created_at"]

    def get_author(self, obj: CaseMessage) -> str:
        return obj.author.get_full_name() or obj.author.get_username()


class MessagePostSerializer(serializers.Serializer[Any]):
    body = serializers.CharField(max_length=4000)


class ActionSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    text = serializers.CharField()
    urgency = serializers.CharField()
    detail = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    required = serializers.BooleanField()


class ErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
    problems = serializers.ListField(child=serializers.CharField(), required=False)


# --- live links (issue 22): read-only ---------------------------------------------------------------


class LinkAccountSerializer(serializers.Serializer[Any]):
    account_number = serializers.CharField()
    account_name = serializers.CharField()
    can_query = serializers.BooleanField()
    can_pay = serializers.BooleanField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)


class LinkOperatorSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    role = serializers.CharField()
    ukey_serial = serializers.CharField()
    ukey_status = serializers.CharField(source="ukey.status", allow_null=True, default=None)
    ukey_expires_on = serializers.DateField(allow_null=True)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)


class LinkRequestSerializer(serializers.Serializer[Any]):
    case_id = serializers.UUIDField(source="case.public_id")
    reference = serializers.CharField(source="case.reference")
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    state = serializers.CharField(source="case.state")
    state_label = serializers.CharField(source="case.get_state_display")
    channel = serializers.CharField()
    ukey_serial = serializers.CharField(source="ukey.serial", allow_null=True, default=None)
    is_open = serializers.BooleanField()
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class LiveLinkSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="public_id")
    reference = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    enterprise_name = serializers.CharField(source="enterprise.name")
    enterprise_uscc = serializers.CharField(source="enterprise.uscc")
    branch_code = serializers.CharField(source="branch.code")
    onboarding_case_id = serializers.UUIDField(source="onboarding_case.public_id")
    company_version = serializers.IntegerField(source="company_version.number")
    modules = serializers.ListField(child=serializers.CharField())
    production_endpoint = serializers.CharField()
    certificate_serial = serializers.CharField()
    certificate_expires_on = serializers.DateField(allow_null=True)
    went_live_at = serializers.DateTimeField()
    closed_on = serializers.DateField(allow_null=True)
    retention_until = serializers.DateField(allow_null=True)
    legal_hold = serializers.BooleanField()
    last_activity_at = serializers.DateTimeField()


class LiveLinkDetailSerializer(LiveLinkSerializer):
    accounts = LinkAccountSerializer(many=True, source="current_accounts")
    operators = LinkOperatorSerializer(many=True, source="current_operators")
    requests = LinkRequestSerializer(many=True, source="requests.all")


class LinkEventSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    label = serializers.CharField()
    channel = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    data = serializers.JSONField()
    reason = serializers.CharField()
    request_case_id = serializers.UUIDField(source="request.case.public_id", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
