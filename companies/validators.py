"""Checks on company data that must match the bank's records (必须与银行备案数据吻合)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# GB 32100-2015: the code's alphabet leaves out I, O, Z, S and V.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# GB 11643-1999 (ISO 7064 MOD 11-2).
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

MIN_ACCOUNTS = 1
MAX_ACCOUNTS = 10


def uscc_check_char(body: str) -> str:
    """The 18th character for the first 17 characters of a unified social credit code."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> None:
    code = (value or "").strip().upper()
    if len(code) != 18:
        raise ValidationError(
            _("统一社会信用代码应为18位(现为%(n)d位)"),
            code="uscc_length",
            params={"n": len(code)},
        )
    bad = sorted({c for c in code if c not in USCC_ALPHABET})
    if bad:
        raise ValidationError(
            _("统一社会信用代码含有无效字符:%(chars)s"),
            code="uscc_charset",
            params={"chars": "".join(bad)},
        )
    if uscc_check_char(code[:17]) != code[17]:
        raise ValidationError(
            _("统一社会信用代码校验位不正确,请与营业执照核对"),
            code="uscc_check",
        )


def resident_id_check_char(body: str) -> str:
    total = sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def resident_id_birth_date(value: str) -> dt.date | None:
    try:
        return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def validate_resident_id(value: str, *, today: dt.date | None = None) -> None:
    number = (value or "").strip().upper()
    if len(number) != 18:
        raise ValidationError(
            _("居民身份证号应为18位(现为%(n)d位)"),
            code="id_length",
            params={"n": len(number)},
        )
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValidationError(
            _("居民身份证号前17位应为数字,末位为数字或X"),
            code="id_charset",
        )
    birth = resident_id_birth_date(number)
    today = today or timezone.localdate()
    if birth is None or birth.year < 1900 or birth > today:
        raise ValidationError(
            _("居民身份证号中的出生日期无效"),
            code="id_birth_date",
        )
    if resident_id_check_char(number[:17]) != number[17]:
        raise ValidationError(
            _("居民身份证号校验位不正确"),
            code="id_check",
        )


ACCOUNTS_MAX_MESSAGE = _("每次注册最多登记10个账户,更多账户请另行注册")


def validate_account_count(count: int) -> None:
    if count < MIN_ACCOUNTS:
        raise ValidationError(_("至少登记1个结算账户"), code="accounts_min")
    if count > MAX_ACCOUNTS:
        raise ValidationError(ACCOUNTS_MAX_MESSAGE, code="accounts_max")


# --- one ID number, one person ---------------------------------------------------------------


def normalise_id_number(value: str) -> str:
    """A resident ID number as compared: no spaces, the check character X upper-case."""
    return "".join((value or "").split()).upper()


def normalise_person_name(value: str) -> str:
    """A name as compared: stripped, inner runs of whitespace (full-width too) as one space."""
    return " ".join((value or "").split())


def same_person(name: str, id_number: str, other_name: str, other_id_number: str) -> bool:
    """Both the ID number and the name match: only then are two entries one person."""
    return normalise_id_number(id_number) == normalise_id_number(other_id_number) and normalise_person_name(
        name
    ) == normalise_person_name(other_name)


def identity_conflicts(people: list[tuple[str, str, str]]) -> list[str]:
    """Pairs of (role, name, ID number) that share an ID number under different names, each named.

    Who the handler, the legal representative, an authorised agent or an operator is, is
    decided by the ID number; one ID number under two names is a typing error or a false
    record, never two people (and must never make a handler pass as the legal representative).
    """
    problems = []
    for i, (role, name, number) in enumerate(people):
        for other_role, other_name, other_number in people[i + 1 :]:
            if not normalise_id_number(number) or normalise_id_number(number) != normalise_id_number(other_number):
                continue
            if normalise_person_name(name) != normalise_person_name(other_name):
                problems.append(
                    _(
                        "%(role)s“%(name)s”与%(other_role)s“%(other_name)s”的身份证号相同而姓名不同:同一身份证号只能是同一人,请核对姓名或身份证号"
                    )
                    % {"role": role, "name": name, "other_role": other_role, "other_name": other_name}
                )
    return problems


def validate_identities(people: list[tuple[str, str, str]]) -> None:
    problems = identity_conflicts(people)
    if problems:
        raise ValidationError(problems, code="identity_conflict")


def company_identity_conflicts(
    *, legal_rep_name: str, legal_rep_id_number: str, handler_name: str, handler_id_number: str
) -> list[str]:
    """The legal representative and the handler (the authorised agent when not the legal rep)."""
    return identity_conflicts(
        [
            (str(_("法定代表人")), legal_rep_name, legal_rep_id_number),
            (str(_("经办人")), handler_name, handler_id_number),
        ]
    )
