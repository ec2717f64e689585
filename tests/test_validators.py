from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from companies.validators import validate_account_count, validate_resident_id, validate_uscc


# Published examples with correct check characters (GB 32100 and GB 11643 appendices).
@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L", "91350100m000100y43"])
def test_valid_uscc_accepted(code):
    validate_uscc(code)


@pytest.mark.parametrize(
    ("code", "message_code"),
    [
        ("91350100M000100Y44", "uscc_check"),  # one check character off
        ("91350100M000100Y4", "uscc_length"),
        ("91350100M000100Y433", "uscc_length"),
        ("91350100I000100Y43", "uscc_charset"),  # I is not in the GB 32100 alphabet
        ("91350100O000100Y43", "uscc_charset"),
        ("", "uscc_length"),
    ],
)
def test_invalid_uscc_refused_with_reason(code, message_code):
    with pytest.raises(ValidationError) as exc:
        validate_uscc(code)
    assert exc.value.code == message_code
    assert "统一社会信用代码" in exc.value.messages[0]


@pytest.mark.parametrize("number", ["11010519491231002X", "11010519491231002x", "110105197501010018"])
def test_valid_resident_id_accepted(number):
    validate_resident_id(number)


@pytest.mark.parametrize(
    ("number", "message_code"),
    [
        ("110105194912310021", "id_check"),  # wrong check digit
        ("11010519491331002X", "id_birth_date"),  # month 13
        ("11010519490230002X", "id_birth_date"),  # 30 February
        ("1101051949123100", "id_length"),
        ("1101051949123100AX", "id_charset"),
    ],
)
def test_invalid_resident_id_refused_with_reason(number, message_code):
    with pytest.raises(ValidationError) as exc:
        validate_resident_id(number)
    assert exc.value.code == message_code


def test_resident_id_born_in_the_future_refused():
    body = "11010520990101001"
    from companies.validators import resident_id_check_char

    with pytest.raises(ValidationError) as exc:
        validate_resident_id(body + resident_id_check_char(body), today=dt.date(2026, 11, 22))
    assert exc.value.code == "id_birth_date"


@pytest.mark.parametrize("n", [1, 5, 10])
def test_account_count_within_limits(n):
    validate_account_count(n)


@pytest.mark.parametrize(("n", "code"), [(0, "accounts_min"), (11, "accounts_max")])
def test_account_count_outside_limits(n, code):
    with pytest.raises(ValidationError) as exc:
        validate_account_count(n)
    assert exc.value.code == code
