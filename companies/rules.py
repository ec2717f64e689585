"""Checks on a company's data as a whole (the field validators are in `validators`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from . import validators
from .models import CompanyVersion, Enterprise


def account_count(company: Any) -> int:
    """A version lists its accounts; the company row has them as related rows."""
    accounts = company.accounts
    return len(accounts) if isinstance(accounts, list) else int(accounts.count())


def company_problems(enterprise: CompanyVersion | Enterprise, *, today: dt.date | None = None) -> list[str]:
    """Everything in the company data (a version, or the company as it is) that does not pass
    the checks of domain.md."""
    today = today or timezone.localdate()
    problems: list[str] = []

    def check(label: str, func: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except ValidationError as exc:
            problems.extend(f"{label}: {m}" for m in exc.messages)

    if not enterprise.name.strip():
        problems.append(_("企业名称未填写"))
    check(_("统一社会信用代码"), validators.validate_uscc, enterprise.uscc)
    if not enterprise.legal_rep_name.strip():
        problems.append(_("法定代表人姓名未填写"))
    check(_("法定代表人身份证号"), validators.validate_resident_id, enterprise.legal_rep_id_number, today=today)
    if not enterprise.handler_name.strip():
        problems.append(_("经办人姓名未填写"))
    check(_("经办人身份证号"), validators.validate_resident_id, enterprise.handler_id_number, today=today)
    check(_("结算账户"), validators.validate_account_count, account_count(enterprise))
    conflicts = validators.company_identity_conflicts(
        legal_rep_name=enterprise.legal_rep_name,
        legal_rep_id_number=enterprise.legal_rep_id_number,
        handler_name=enterprise.handler_name,
        handler_id_number=enterprise.handler_id_number,
    )
    problems.extend(conflicts)
    if conflicts or enterprise.handler_is_legal_rep:
        # With a conflict, whether an authorisation letter is needed is unknown: the conflict is
        # the problem to fix.
        return problems
    # The handler acts for the legal representative: the authorisation letter must cover today
    # and e-banking.
    if not enterprise.authorisation_valid_from or not enterprise.authorisation_valid_until:
        problems.append(_("经办人非法定代表人,须提供法人授权委托书及其有效期"))
    elif not enterprise.authorisation_valid_from <= today <= enterprise.authorisation_valid_until:
        problems.append(_("法人授权委托书不在有效期内"))
    if not enterprise.authorisation_covers_ebanking:
        problems.append(_("法人授权委托书的授权范围须包含电子银行业务"))
    return problems
