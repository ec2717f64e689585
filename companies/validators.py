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
            _("统一社会信用代码应为18位(现为%(n)d位) / The unified social credit code must have 18 characters."),
            code="uscc_length",
            params={"n": len(code)},
        )
    bad = sorted({c for c in code if c not in USCC_ALPHABET})
    if bad:
        raise ValidationError(
            _("统一社会信用代码含有无效字符:%(chars)s / Invalid characters in the credit code."),
            code="uscc_charset",
            params={"chars": "".join(bad)},
        )
    if uscc_check_char(code[:17]) != code[17]:
        raise ValidationError(
            _(
                "统一社会信用代码校验位不正确,请与营业执照核对 / The credit code's check character is wrong; compare it with the business licence."
            ),
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
            _("居民身份证号应为18位(现为%(n)d位) / A resident ID number has 18 characters."),
            code="id_length",
            params={"n": len(number)},
        )
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValidationError(
            _(
                "居民身份证号前17位应为数字,末位为数字或X / The first 17 characters must be digits, the last a digit or X."
            ),
            code="id_charset",
        )
    birth = resident_id_birth_date(number)
    today = today or timezone.localdate()
    if birth is None or birth.year < 1900 or birth > today:
        raise ValidationError(
            _("居民身份证号中的出生日期无效 / The birth date in the ID number is not a valid date."),
            code="id_birth_date",
        )
    if resident_id_check_char(number[:17]) != number[17]:
        raise ValidationError(
            _("居民身份证号校验位不正确 / The ID number's check digit is wrong."),
            code="id_check",
        )


def validate_account_count(count: int) -> None:
    if count < MIN_ACCOUNTS:
        raise ValidationError(_("至少登记1个结算账户 / Register at least one settlement account."), code="accounts_min")
    if count > MAX_ACCOUNTS:
        raise ValidationError(
            _(
                "每次注册最多登记10个账户,更多账户请另行注册 / At most 10 accounts per registration; register the others separately."
            ),
            code="accounts_max",
        )
