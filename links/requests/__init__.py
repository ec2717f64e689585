"""The service requests on a live link: one module per request type, each declaring its
`CaseType` (stages, holders, SLA, documents) and the proxy model of `OnboardingCase` carrying
its transitions. A new type: a module here, its `CaseType` added to `REQUEST_TYPES`
(`LinksConfig.ready()` registers them; `links.models` imports this package so the proxies are
models of the links app, their migrations in links/migrations)."""

from __future__ import annotations

from casetypes.declaration import CaseType

from .account_change import ACCOUNT_CHANGE
from .cert_renewal import CERT_RENEWAL
from .operator_change import OPERATOR_CHANGE
from .periodic_review import PERIODIC_REVIEW
from .suspension import LINK_RESUMPTION, LINK_SUSPENSION
from .termination import LINK_TERMINATION
from .ukey_loss import UKEY_LOSS

REQUEST_TYPES: tuple[CaseType, ...] = (
    UKEY_LOSS,
    OPERATOR_CHANGE,
    ACCOUNT_CHANGE,
    CERT_RENEWAL,
    LINK_SUSPENSION,
    LINK_RESUMPTION,
    LINK_TERMINATION,
    PERIODIC_REVIEW,
)

# What a suspended (已暂停) link may still take, per type: a lost key is blocked at any hour; the
# certificate keeps being renewed (and reviewed) so the link can come back; it may be resumed or
# terminated. Changing what a suspended link does (operators, accounts, modules) or suspending it
# again is refused by the launch controls (`links.services.launch_refusal`): resume it first.
TAKEN_WHEN_SUSPENDED: frozenset[str] = frozenset(
    {
        UKEY_LOSS.code,
        CERT_RENEWAL.code,
        LINK_RESUMPTION.code,
        LINK_TERMINATION.code,
        PERIODIC_REVIEW.code,
    }
)
