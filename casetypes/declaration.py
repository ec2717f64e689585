"""A case type, declared once: its stages and everything the product needs to know about each.

A journey module (``onboarding/journey.py`` for the onboarding of a direct link) builds one
`CaseType` and registers it from its app's `ready()`. Every consumer reads the registry instead
of naming stages:

- the queue ("轮到我办理") and the next-step panel: `Stage.holder`, `Stage.actions`;
- stage visits, SLAs and reminders: `Stage.holder`, `Stage.sla_days` (the defaults behind the
  admin's `StageSLA`), `CaseType.reminders`;
- documents: `Stage.documents` (the checklist, who reviews, whose queue);
- what a stage hosts (`Stage.features`: the counter works in it, the customer records joint
  tests in it, company data follows the company in it, ...). A feature is a capability, not a
  stage: the counter app asks `states_with(COUNTER)` and never learns which stages those are,
  so a new journey that needs the counter declares the feature on its own stage;
- the customer's portal: `Stage.portal_panels` (templates shown on the portal case page);
- webhooks: every transition announces `stage.entered`, one into a stage with required
  documents `document.requested`, one into a live end `case.live`;
- analytics: every timed stage is a fact row; `Stage.features` say where the customer holds
  part of a visit;
- the import columns (`CaseType.importable`: a date column per state) and the PDF forms the
  bank renders (`DocumentNeed.generated`);
- `describe_workflow`: the stages as declared and the transitions as composed at run time.

`tests/test_case_types.py` checks that every stage of every declared type has an entry for each
consumer that needs one, and declares a toy type in one test module to show the rest follows.
This module imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import get_language

# The party and role code of a stage held by the company's own people (portal users).
CUSTOMER = "customer"
BANK = "bank"


class Feature:
    """What a stage hosts. Consumers ask for the states with a feature, never for a stage."""

    # Company data follows the company's newest version and staff may edit it (draft, intake).
    COMPANY_FOLLOWS = "company_follows"
    # Company data is frozen; an approved change request moves it.
    CHANGE_REQUESTS = "change_requests"
    # The company's operators (经办/复核/授权) may be named or removed.
    OPERATORS = "operators"
    # Head-office tech records the test package here.
    TEST_PACKAGE = "test_package"
    # The customer records joint-test results here; tech accepts them or asks for a retest.
    JOINT_TESTS = "joint_tests"
    # Joint-test results are shown from here on.
    TEST_RESULTS_SHOWN = "test_results_shown"
    # The counter makes and checks entries (identity, UKeys, certificates) here.
    COUNTER = "counter"
    # The counter holds the stage: the maker's entries to make and the checker's completion.
    COUNTER_HOLDS = "counter_holds"
    # Head-office tech issues the production configuration here (and is told when it opens).
    PRODUCTION_CONFIG = "production_config"
    # The customer confirms production verification here; the bank holds the rest of the visit.
    CUSTOMER_CONFIRMATION = "customer_confirmation"
    # The company's time is counted from the first visit of this stage (analytics' lead time).
    STARTS_CLOCK = "starts_clock"

    ALL = frozenset(
        {
            COMPANY_FOLLOWS,
            CHANGE_REQUESTS,
            OPERATORS,
            TEST_PACKAGE,
            JOINT_TESTS,
            TEST_RESULTS_SHOWN,
            COUNTER,
            COUNTER_HOLDS,
            PRODUCTION_CONFIG,
            CUSTOMER_CONFIRMATION,
            STARTS_CLOCK,
        }
    )


@dataclass(frozen=True)
class Action:
    """What the person holding a stage in `role` does next (the queue's words) and where on the case page."""

    role: str
    text: Any  # a lazy translation
    anchor: str = "next-step"


@dataclass(frozen=True)
class DocumentNeed:
    """A document a stage collects: its kind (documents.DocumentKind code), whether it holds the
    stage's guard, who reviews it (the first reviewer role finds it in their queue), and a
    condition on the case (e.g. the authorisation letter only when the handler is not the legal
    representative)."""

    kind: str
    required: bool = True
    reviewers: tuple[str, ...] = ()
    only_if: Callable[[Any], bool] | None = None
    # Reviewed only on the cases this role manages (the account manager's own cases).
    own_cases_only: bool = False
    # The bank renders it from the case's data (documents.forms_pdf has a template for it).
    generated: bool = False


@dataclass(frozen=True)
class Stage:
    code: str
    label: Any
    holder: str  # the role code that holds the stage when it opens, or CUSTOMER
    sla_days: int | None  # working days before the holder is reminded; None: not timed (a draft)
    actions: tuple[Action, ...] = ()
    documents: tuple[DocumentNeed, ...] = ()
    features: frozenset[str] = frozenset()
    portal_panels: tuple[str, ...] = ()  # templates shown on the portal case page in this stage

    @property
    def party(self) -> str:
        return CUSTOMER if self.holder == CUSTOMER else BANK

    @property
    def timed(self) -> bool:
        return self.sla_days is not None

    def action_for(self, role: str) -> Action | None:
        return next((a for a in self.actions if a.role == role), None)


@dataclass(frozen=True)
class End:
    """A state a case ends in: `live` (the link works) or closed (rejected, withdrawn)."""

    code: str
    label: Any
    live: bool = False
    features: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ReminderPolicy:
    """When a visit past its due time reaches each reminder level, as a share of its stage's
    service level: level 1 reminds the holder at the due time, level 2 escalates to the
    supervisor half the service level later, level 3 to head office a whole service level later."""

    lateness: tuple[float, ...] = (0.0, 0.5, 1.0)

    def levels(self) -> dict[int, float]:
        return {level: share for level, share in enumerate(self.lateness, start=1)}


@dataclass
class CaseType:
    code: str
    label: Any
    model: Any  # the Django model (or proxy) whose django-fsm transitions are this journey's
    stages: tuple[Stage, ...]  # in order; the first is where a case starts
    ends: tuple[End, ...]
    paused: tuple[str, Any] | None = None  # (code, label) of the suspended state, if any
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    # States a case may be imported in (transfers): the working stages and live by default.
    import_states: tuple[str, ...] = ()
    # Roles besides the account manager (and the company's own users) who may open a case of
    # this type (a counter maker reports a lost UKey).
    starters: tuple[str, ...] = ()

    def model_class(self) -> Any:
        """The model class (`model` may be given as "app_label.ModelName")."""
        if isinstance(self.model, str):
            from django.apps import apps

            return apps.get_model(self.model)
        return self.model

    # --- reading the declaration ------------------------------------------------------------
    @property
    def initial(self) -> Stage:
        return self.stages[0]

    @property
    def importable(self) -> tuple[str, ...]:
        """The states a case of this type may be imported in, in the order a case passes them."""
        return self.import_states or (*[s.code for s in self.working], *self.live_states)

    def stage(self, code: str) -> Stage | None:
        return next((s for s in self.stages if s.code == code), None)

    @property
    def working(self) -> tuple[Stage, ...]:
        """The timed stages, in order (a draft is not one)."""
        return tuple(s for s in self.stages if s.timed)

    @property
    def states(self) -> tuple[str, ...]:
        return (
            *[s.code for s in self.stages],
            *([self.paused[0]] if self.paused else []),
            *[e.code for e in self.ends],
        )

    @property
    def open_states(self) -> tuple[str, ...]:
        return (*[s.code for s in self.stages], *([self.paused[0]] if self.paused else []))

    @property
    def live_states(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.ends if e.live)

    @property
    def closed_states(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.ends if not e.live)

    @property
    def order(self) -> tuple[str, ...]:
        """Stages then live ends: how far a case has come (suspended and closed are off this line)."""
        return (*[s.code for s in self.stages], *self.live_states)

    def labels(self) -> dict[str, Any]:
        out: dict[str, Any] = {s.code: s.label for s in self.stages}
        if self.paused:
            out[self.paused[0]] = self.paused[1]
        out.update({e.code: e.label for e in self.ends})
        return out

    def with_feature(self, feature: str, *, paused: bool = False) -> tuple[str, ...]:
        found = [s.code for s in self.stages if feature in s.features]
        found += [e.code for e in self.ends if feature in e.features]
        if paused and self.paused and found:
            found.append(self.paused[0])
        return tuple(found)

    def from_feature(self, feature: str) -> tuple[str, ...]:
        """The states on the line from the first stage with `feature` on, live included."""
        codes = [s.code for s in self.stages]
        first = next((i for i, s in enumerate(self.stages) if feature in s.features), None)
        return () if first is None else (*codes[first:], *self.live_states)

    def active_stage(self, case: Any) -> str:
        """The stage a case is in, or was in before it was suspended."""
        if self.paused and case.state == self.paused[0]:
            return str(case.state_before_suspend)
        return str(case.state)


# --- the registry ------------------------------------------------------------------------------
CASE_TYPES: dict[str, CaseType] = {}
_STAGES: dict[str, tuple[CaseType, Stage]] = {}


def register(case_type: CaseType) -> CaseType:
    """Register a case type (from its app's `ready()`; registering the same again replaces it)."""
    for stage in case_type.stages:
        owner = _STAGES.get(stage.code)
        if owner is not None and owner[0].code != case_type.code:
            raise ValueError(f"stage {stage.code!r} of {case_type.code!r} is already {owner[0].code!r}'s")
        unknown = set(stage.features) - Feature.ALL
        if unknown:
            raise ValueError(f"stage {stage.code!r}: unknown features {sorted(unknown)}")
    CASE_TYPES[case_type.code] = case_type
    _rebuild()
    return case_type


def unregister(code: str) -> None:
    """Tests only: take a toy type back out."""
    CASE_TYPES.pop(code, None)
    _rebuild()


def _rebuild() -> None:
    _STAGES.clear()
    for ct in CASE_TYPES.values():
        for stage in ct.stages:
            _STAGES[stage.code] = (ct, stage)
    _cache.clear()


_cache: dict[tuple[Any, ...], Any] = {}


def _cached(key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    if key not in _cache:
        _cache[key] = make()
    return _cache[key]


def case_type(code: str) -> CaseType:
    return CASE_TYPES[code]


def case_type_of(case: Any) -> CaseType:
    return CASE_TYPES[getattr(case, "case_type", "") or "onboarding"]


def stage(code: str) -> Stage | None:
    found = _STAGES.get(code)
    return found[1] if found else None


def all_stages() -> list[Stage]:
    return [s for ct in CASE_TYPES.values() for s in ct.stages]


def _union(get: Callable[[CaseType], Iterable[str]]) -> tuple[str, ...]:
    out: list[str] = []
    for ct in CASE_TYPES.values():
        out += [c for c in get(ct) if c not in out]
    return tuple(out)


def states_with(feature: str, *, paused: bool = False) -> tuple[str, ...]:
    """Every state of every case type that hosts `feature`."""
    return _cached(("with", feature, paused), lambda: _union(lambda ct: ct.with_feature(feature, paused=paused)))


def states_from(feature: str) -> tuple[str, ...]:
    return _cached(("from", feature), lambda: _union(lambda ct: ct.from_feature(feature)))


def open_states() -> tuple[str, ...]:
    return _cached(("open",), lambda: _union(lambda ct: ct.open_states))


def working_states() -> tuple[str, ...]:
    return _cached(("working",), lambda: _union(lambda ct: [s.code for s in ct.working]))


def initial_states() -> tuple[str, ...]:
    return _cached(("initial",), lambda: _union(lambda ct: [ct.initial.code]))


def draft_states() -> tuple[str, ...]:
    """The drafts: a type's first stage when the customer holds it untimed (an onboarding
    application not yet submitted). A request opened straight into the bank's first stage, or
    into a timed stage of the customer's (a renewal the sweep opened), is no draft."""
    return _cached(
        ("drafts",),
        lambda: _union(lambda ct: [ct.initial.code] if ct.initial.holder == CUSTOMER and not ct.initial.timed else []),
    )


def live_states() -> tuple[str, ...]:
    return _cached(("live",), lambda: _union(lambda ct: ct.live_states))


def closed_states() -> tuple[str, ...]:
    return _cached(("closed",), lambda: _union(lambda ct: ct.closed_states))


def paused_states() -> tuple[str, ...]:
    return _cached(("paused",), lambda: _union(lambda ct: [ct.paused[0]] if ct.paused else []))


def _labels() -> dict[str, Any]:
    def make() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ct in CASE_TYPES.values():
            out.update(ct.labels())
        return out

    return _cached(("labels",), make)  # type: ignore[no-any-return]


def state_labels() -> dict[str, Any]:
    """Every declared state's (lazy) label, by code."""
    return dict(_labels())


def state_label(code: str) -> str:
    """A state's label in the reader's language (read per row on the case list: no copy)."""
    return str(_labels().get(code, code))


def state_labels_shown() -> dict[str, str]:
    """Every declared state's label in the reader's language, by code: made once per language
    (the case list offers every state in its filter and names one on each row: 75 lookups of
    the catalogue a page otherwise)."""
    key = ("labels_shown", get_language())
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = {code: str(label) for code, label in _labels().items()}
    return found  # type: ignore[no-any-return]


def active_stage(case: Any) -> str:
    """The stage a case is in, or was in before it was suspended."""
    return case_type_of(case).active_stage(case)


def is_paused(state: str) -> bool:
    return state in paused_states()


def reminder_policy(code: str) -> ReminderPolicy:
    """The reminder policy of the case type a stage belongs to."""
    found = _STAGES.get(code)
    return found[0].reminders if found else ReminderPolicy()


def sla_defaults() -> dict[str, int]:
    return {s.code: s.sla_days for s in all_stages() if s.sla_days is not None}


def document_needs() -> list[tuple[Stage, DocumentNeed]]:
    return [(s, d) for s in all_stages() for d in s.documents]


def document_stage(kind: str) -> Stage | None:
    """The stage that collects documents of `kind` (the first declared)."""
    return next((s for s, d in document_needs() if d.kind == kind), None)


def document_need(kind: str) -> DocumentNeed | None:
    return next((d for _, d in document_needs() if d.kind == kind), None)


class StateSet(Sequence[str]):
    """A tuple of state codes read from the registry each time it is used, so a case type
    registered later (a new journey, a test's toy type) is in every filter built with it:
    ``Q(state__in=OPEN_STATES)``, ``code in WORKING_STAGES``, ``WORKING_STAGES.index(code)``."""

    def __init__(self, read: Callable[[], tuple[str, ...]]) -> None:
        self._read = read

    def __getitem__(self, index: Any) -> Any:
        return self._read()[index]

    def __len__(self) -> int:
        return len(self._read())

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __contains__(self, code: object) -> bool:
        return code in self._read()

    def __repr__(self) -> str:
        return f"StateSet{self._read()!r}"


class StageHolders(Mapping[str, tuple[str, str]]):
    """Stage code → (party, holder role) for every declared stage, read from the registry."""

    def __getitem__(self, code: str) -> tuple[str, str]:
        s = stage(code)
        if s is None:
            raise KeyError(code)
        return (s.party, s.holder)

    def __iter__(self) -> Iterator[str]:
        return iter([s.code for s in all_stages()])

    def __len__(self) -> int:
        return len(all_stages())


def transitions(case_type: CaseType) -> list[Any]:
    """The django-fsm transitions of a case type's model (on its `state` field)."""
    model = case_type.model_class()
    return list(model._meta.get_field("state").get_all_transitions(model))


def transition_label(name: str) -> str:
    """A transition's button label, whichever declared case type has it (else the name)."""

    def make() -> dict[str, Any]:
        out: dict[str, Any] = {}  # lazy labels: each reader's language
        for ct in CASE_TYPES.values():
            for t in transitions(ct):
                out.setdefault(t.name, t.custom.get("label", t.name))
        return out

    return str(_cached(("transition_labels",), make).get(name, name))


class TransitionTargets(Mapping[str, str]):
    """Transition name → the state it leads to, for every transition of every declared case type
    that leaves its stage for one named state (not a move within a stage, nor pausing/resuming)."""

    def _read(self) -> dict[str, str]:
        def make() -> dict[str, str]:
            out: dict[str, str] = {}
            paused = paused_states()
            for ct in CASE_TYPES.values():
                for t in transitions(ct):
                    target = t.target
                    if (
                        isinstance(target, str)
                        and target != t.source
                        and target not in paused
                        and t.source not in paused
                    ):
                        out.setdefault(t.name, target)
            return out

        return _cached(("targets",), make)

    def __getitem__(self, name: str) -> str:
        return self._read()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())
