"""Which documents a case needs, per stage, derived from its data; and their status."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from casetypes import declaration
from config.statements import prepared
from onboarding.page_reads import read_once

from .models import Decision, Document, DocumentKind, DocumentVersion

if TYPE_CHECKING:
    from onboarding.models import OnboardingCase


def generated_forms() -> tuple[str, ...]:
    """The kinds the bank renders from case data (documents.forms_pdf), as the stages declare them
    (worked out once per registry: a case page asks about twenty times)."""
    # Kept with the registry (`declaration._cached`), cleared when it changes.
    return declaration._cached(
        ("documents.generated_forms",),
        lambda: tuple(dict.fromkeys(d.kind for _, d in declaration.document_needs() if d.generated)),
    )


GENERATED_FORMS = declaration.StateSet(generated_forms)


_kind_labels: dict[str | None, dict[str, str]] = {}


def kind_label(kind: str) -> str:
    """A document kind's name in the reader's language (`str(DocumentKind(kind).label)`), the
    names made once per language: a checklist names a dozen kinds, several times each."""
    language = get_language()
    labels = _kind_labels.get(language)
    if labels is None:
        labels = _kind_labels[language] = {k.value: str(k.label) for k in DocumentKind}
    found = labels.get(kind)
    return found if found is not None else str(DocumentKind(kind).label)


class Status:
    MISSING = "missing"
    UPLOADED = "uploaded"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    # The case was returned to this stage with this document marked to redo (需补正), and no
    # version has been uploaded since: it holds the stage's guard as a missing one does.
    REDO = "redo"


@dataclass
class Requirement:
    kind: str
    stage: str
    required: bool = True

    @property
    def label(self) -> str:
        return kind_label(self.kind)

    @property
    def stage_label(self) -> str:
        return declaration.state_labels_shown().get(self.stage, self.stage)


@dataclass
class ChecklistItem:
    requirement: Requirement
    document: Document | None = None
    versions: list[DocumentVersion] = field(default_factory=list)
    generated: Document | None = None
    generated_versions: list[DocumentVersion] = field(default_factory=list)
    # Marked to redo by the return that opened the current stage (its reason), until a newer upload.
    redo_reason: str | None = None

    @property
    def kind(self) -> str:
        return self.requirement.kind

    @property
    def label(self) -> str:
        return self.requirement.label

    @property
    def latest(self) -> DocumentVersion | None:
        return self.versions[0] if self.versions else None

    @property
    def status(self) -> str:
        latest = self.latest
        if latest is None:
            return Status.MISSING
        if self.redo_reason is not None:
            return Status.REDO
        if latest.decision == Decision.ACCEPTED:
            return Status.ACCEPTED
        if latest.decision == Decision.REJECTED:
            return Status.REJECTED
        return Status.UPLOADED

    @property
    def can_generate(self) -> bool:
        return self.kind in generated_forms()


def requirements(case: OnboardingCase) -> list[Requirement]:
    """The documents of each stage, in order, as the case's type declares them
    (`Stage.documents`). Only `required` items hold a stage's guard. Worked out once per case
    page (`onboarding.page_reads`): the documents panel asks it for every row's guards."""
    return list(read_once(case, "documents.requirements", lambda: _requirements(case)))


def _requirements(case: OnboardingCase) -> list[Requirement]:
    return [
        Requirement(need.kind, stage.code, required=need.required)
        for stage in declaration.case_type_of(case).stages
        for need in stage.documents
        if need.only_if is None or need.only_if(case)
    ]


def case_checklist(case: OnboardingCase) -> list[ChecklistItem]:
    """Every requirement of the case with its documents and versions (newest first).

    One query: the versions with their documents (a document row without any version, left
    by an upload refused after it was made, counts as no document: nothing was uploaded). On
    the case page the guards and the documents panel share it (`onboarding.page_reads`).
    """
    return read_once(case, CHECKLIST_KEY, lambda: _case_checklist(case))


CHECKLIST_KEY = "documents.checklist"


def _versions(case_ids: list[int]) -> Any:
    return (
        DocumentVersion.objects.filter(document__case__in=case_ids)
        .select_related("document", "uploaded_by", "reviewed_by")
        .order_by("-number", "-pk")
    )


# The return that opened the current stage visit, if it marked documents to redo:
# (the kinds, the reason, when).
Returned = tuple[frozenset[str], str, Any]


def _redo_events(case_ids: list[int]) -> Any:
    from onboarding.models import CaseEvent

    return CaseEvent.objects.filter(
        case_id__in=case_ids, kind=CaseEvent.Kind.TRANSITION, data__has_key="redo"
    ).order_by("created_at", "pk")


def _returned(case: OnboardingCase, events: Iterable[Any]) -> Returned | None:
    """The latest return into the case's current visit that marked documents to redo."""
    visit = case.current_visit
    if visit is None:
        return None
    found = None
    for e in events:
        if (
            e.kind == "transition"
            and isinstance(e.data, dict)
            and e.data.get("redo")
            and e.created_at >= visit.entered_at
        ):
            found = (frozenset(e.data["redo"]), e.reason, e.created_at)
    return found


def prime_checklists(cases: list[OnboardingCase]) -> None:
    """The checklists of several cases from two queries at most (the portal home's cards)."""
    from onboarding.page_reads import prime

    by_case: dict[int, list[DocumentVersion]] = {c.pk: [] for c in cases}
    # The columns an action item reads (status, reason, when); the rest load if ever asked for.
    lean = (
        DocumentVersion.objects.filter(document__case__in=list(by_case))
        .select_related("document")
        .only(*_LEAN_VERSION, *(f"document__{f}" for f in _LEAN_DOCUMENT))
        .order_by("-number", "-pk")
    )
    for v in lean:
        by_case[v.document.case_id].append(v)
    returns: dict[int, list[Any]] = {c.pk: [] for c in cases}
    visiting = [c.pk for c in cases if c.current_visit_id is not None]  # no visit: no return to look for
    for e in _redo_events(visiting).only("case_id", "kind", "data", "reason", "created_at") if visiting else ():
        returns[e.case_id].append(e)
    for case in cases:
        prime(case, CHECKLIST_KEY, _checklist_of(case, by_case[case.pk], _returned(case, returns[case.pk])))


_LEAN_VERSION = ("document_id", "number", "uploaded_at", "decision", "decision_reason")
_LEAN_DOCUMENT = ("case_id", "kind", "generated")


def _case_checklist(case: OnboardingCase) -> list[ChecklistItem]:
    # The staff case page's events include every return that marked documents to redo.
    # Both reads by statements compiled once per process (`config.statements.prepared`): the
    # case pages read them on every request.
    from onboarding.models import CaseEvent

    read = getattr(case, "page_events", None)
    if read is None and case.current_visit_id is not None:
        events = prepared("documents.redo_events", lambda owner: _redo_events([owner]), CaseEvent)
        read = [objects[0] for objects in events.rows(case.pk)]
    statement = prepared(
        "documents.case_versions",
        lambda owner: _versions([owner]),
        DocumentVersion,
        ["document", "uploaded_by", "reviewed_by"],
    )
    versions = [objects[0] for objects in statement.rows(case.pk)]
    return _checklist_of(case, versions, _returned(case, read or []))


def _checklist_of(
    case: OnboardingCase, rows: Iterable[DocumentVersion], returned: Returned | None = None
) -> list[ChecklistItem]:
    docs: dict[tuple[str, bool], Document] = {}
    versions: dict[int, list[DocumentVersion]] = {}
    for v in rows:
        docs.setdefault((v.document.kind, v.document.generated), v.document)
        versions.setdefault(v.document_id, []).append(v)
    items = []
    for req in requirements(case):
        doc = docs.get((req.kind, False))
        gen = docs.get((req.kind, True))
        items.append(
            ChecklistItem(
                requirement=req,
                document=doc,
                versions=versions.get(doc.pk, []) if doc else [],
                generated=gen,
                generated_versions=versions.get(gen.pk, []) if gen else [],
            )
        )
    if returned is not None:
        kinds, reason, at = returned
        for item in items:
            latest = item.latest
            if item.kind in kinds and latest is not None and latest.uploaded_at < at:
                item.redo_reason = reason
    return items


def stage_problems(case: OnboardingCase, stage: str) -> list[str]:
    """Name every required item of `stage` that is not accepted."""
    missing = [
        item.label
        for item in case_checklist(case)
        if item.requirement.stage == stage and item.requirement.required and item.status != Status.ACCEPTED
    ]
    if not missing:
        return []
    return [_("以下文件尚未审核通过:%(items)s") % {"items": "、".join(missing)}]


def documents_owed(case: OnboardingCase, stage: str) -> list[ChecklistItem]:
    """The required documents of `stage` still to be supplied: none uploaded yet, the latest
    rejected, or marked to redo by a return."""
    return [
        item
        for item in case_checklist(case)
        if item.requirement.stage == stage
        and item.requirement.required
        and item.status in (Status.MISSING, Status.REJECTED, Status.REDO)
    ]


def stage_documents_accepted(case: Any) -> list[str]:
    """Every required document of the case's stage uploaded and accepted by a reviewer."""
    return stage_problems(case, declaration.active_stage(case))


def intake_documents_accepted(case: Any) -> list[str]:
    """Every intake document of the checklist uploaded and accepted by a reviewer."""
    return stage_documents_accepted(case)


def test_report_accepted(case: Any) -> list[str]:
    """The joint-test report uploaded and accepted by head-office tech."""
    return stage_documents_accepted(case)
