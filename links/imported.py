"""A live link brought in from a bank's spreadsheet of links already in service (issue 22).

`link_create_imported` is the one write that creates such a link. It attaches to the company's
onboarding case that is already live and has no link yet (a case that went live in the tracker
has its link from go-live; a case imported live by the case import has none), and records the
link as the file gives it: accounts with their rights, modules, production endpoint, front-end
certificate, operators with role and UKey serial, go-live date, branch, status. Its first
history row is `link_imported`, naming the import (job, file, row). Each operator's UKey goes
into the counter's register as the bank has it (in use, expiring with the certificate, origin
导入 with the job and row: no counter entry issued it), so the loss report, the renewal and the
termination's revocation find it. Nobody is told: the link was in service before the tracker
knew it.

A link is imported once: the key is the company and the production endpoint. A second row (in
the same file or a later import) for a company that already has a link at that endpoint is
refused with the existing link's reference (`existing_link_for`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import Branch
from branches.roles import Role, has_role
from branches.scope import branch_in_subtree
from casetypes import declaration
from counter.models import Operator
from counter.services import ukey_register_imported
from onboarding.models import OnboardingCase
from onboarding.services import CaseError

from .models import Channel, LinkAccount, LinkEvent, LinkOperator, LinkStatus, LiveLink
from .services import link_event

if TYPE_CHECKING:
    from accounts.models import User
    from companies.models import Enterprise

IMPORTABLE_STATUSES = (LinkStatus.ACTIVE, LinkStatus.SUSPENDED)


def existing_link_for(enterprise: Enterprise, endpoint: str) -> LiveLink | None:
    """The company's link at this production endpoint, if it has one (the import's key)."""
    return LiveLink.objects.filter(enterprise=enterprise, production_endpoint=endpoint).first()


def live_cases_without_link(enterprise_ids: list[int]) -> QuerySet[OnboardingCase]:
    """These companies' live onboarding cases that have no link yet, oldest first."""
    return OnboardingCase.objects.filter(
        enterprise_id__in=enterprise_ids, state__in=declaration.live_states(), live_link__isnull=True
    ).order_by("created_at", "pk")


def _at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0)))


def link_create_imported(
    *,
    user: User,
    case: OnboardingCase,
    branch: Branch,
    accounts: list[dict[str, Any]],
    modules: list[str],
    production_endpoint: str,
    certificate_serial: str,
    certificate_expires_on: dt.date,
    operators: list[dict[str, Any]],
    went_live_on: dt.date,
    status: str,
    source: dict[str, Any],
) -> LiveLink:
    """Create the link of `case` (live, linkless) as the file describes it; refused with `CaseError`."""
    if not has_role(user, Role.BRANCH_SUPERVISOR, Role.HEAD_OFFICE_APPROVER):
        raise CaseError(_("只有分行审核岗和总行可以导入直联服务"))
    if not branch_in_subtree(branch, user) or not branch_in_subtree(case.branch, user):
        raise CaseError(_("受理机构不在您的管辖范围内"))
    if status not in IMPORTABLE_STATUSES:
        raise CaseError(_("只能导入状态为“正常”或“已暂停”的直联服务"))
    if went_live_on > timezone.localdate():
        raise CaseError(_("上线日期不能晚于今天"))
    existing = existing_link_for(case.enterprise, production_endpoint)
    if existing is not None:
        raise CaseError(_("该直联服务已存在(服务编号 %(ref)s),不重复导入") % {"ref": existing.reference})
    now = timezone.now()
    live_at = _at(went_live_on)
    with transaction.atomic():
        case = OnboardingCase.objects.select_for_update().get(pk=case.pk)
        assert case.company_version_id is not None, "a live case has its approved data version"
        if case.state not in declaration.live_states() or LiveLink.objects.filter(onboarding_case=case).exists():
            raise CaseError(_("该企业没有已上线且尚未建立直联服务的开通案件"))
        link = LiveLink.objects.create(
            reference=f"TMP-{case.pk}",
            onboarding_case=case,
            enterprise=case.enterprise,
            branch=branch,
            company_version_id=case.company_version_id,
            modules=list(modules),
            production_endpoint=production_endpoint,
            certificate_serial=certificate_serial,
            certificate_expires_on=certificate_expires_on,
            status=status,
            went_live_at=live_at,
            last_activity_at=now,
            created_at=now,
            updated_at=now,
        )
        link.reference = f"ZLFW-{timezone.localdate(live_at).year}-{link.pk:06d}"
        link.save(update_fields=["reference"])
        event = link_event(
            link=link,
            name=LinkEvent.Name.IMPORTED,
            actor=user,
            channel=Channel.BANK,
            data={
                **source,
                "case": case.reference,
                "went_live_on": went_live_on.isoformat(),
                "status": status,
                "modules": list(modules),
                "accounts": [a["account_number"] for a in accounts],
                "operators": [o["name"] for o in operators],
            },
            now=now,
        )
        LinkAccount.objects.bulk_create(
            [LinkAccount(link=link, started_event=event, started_at=live_at, **a) for a in accounts]
        )
        for o in operators:
            operator = Operator.objects.create(
                case=case, name=o["name"], id_number=o["id_number"], role=o["role"], created_by=user, created_at=now
            )
            # The key as the bank has it, into the counter's register (origin 导入), so a loss
            # report, a renewal or a termination's revocation finds it like any other.
            ukey = ukey_register_imported(
                case=case,
                operator=operator,
                serial=o["ukey_serial"],
                expires_on=certificate_expires_on,
                in_use_since=live_at,
                source={**source, "link": link.reference},
            )
            LinkOperator.objects.create(
                link=link,
                operator=operator,
                name=o["name"],
                role=o["role"],
                ukey=ukey,
                ukey_serial=o["ukey_serial"],
                ukey_expires_on=certificate_expires_on,
                started_event=event,
                started_at=live_at,
            )
    link.refresh_from_db()
    return link
