"""Names the rest of the product imports: the onboarding journey's `State` codes (declared in
`journey.py`) and the registry's views of every declared case type's states.

`WORKING_STAGES`, `OPEN_STATES`, `TERMINAL_STATES` and `STAGE_HOLDER` read the registry
(`casetypes.declaration`) each time they are used, so a case type registered later is in them.
"""

from __future__ import annotations

from casetypes import declaration

from .journey import ONBOARDING, State
from .terms import CUSTOMER, TEST_CASES, ApprovalLevel, Module, Party, RiskLevel, joint_test_label

__all__ = [
    "CUSTOMER",
    "ONBOARDING",
    "OPEN_STATES",
    "STAGE_HOLDER",
    "TERMINAL_STATES",
    "TEST_CASES",
    "WORKING_STAGES",
    "ApprovalLevel",
    "Module",
    "Party",
    "RiskLevel",
    "State",
    "joint_test_label",
]

# The timed stages of every case type, in order (a draft comes before them, the ends after).
WORKING_STAGES = declaration.StateSet(declaration.working_states)
OPEN_STATES = declaration.StateSet(declaration.open_states)
TERMINAL_STATES = declaration.StateSet(lambda: (*declaration.live_states(), *declaration.closed_states()))
# Who holds the ball when a stage is entered: (party, role code or "customer").
STAGE_HOLDER = declaration.StageHolders()
