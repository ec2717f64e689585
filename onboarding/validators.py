"""Moved to `companies.validators`; kept importable for old migrations and callers."""

from __future__ import annotations

from companies.validators import (
    ID_CHECK,
    ID_WEIGHTS,
    MAX_ACCOUNTS,
    MIN_ACCOUNTS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
    resident_id_birth_date,
    resident_id_check_char,
    uscc_check_char,
    validate_account_count,
    validate_resident_id,
    validate_uscc,
)

__all__ = [
    "ID_CHECK",
    "ID_WEIGHTS",
    "MAX_ACCOUNTS",
    "MIN_ACCOUNTS",
    "USCC_ALPHABET",
    "USCC_WEIGHTS",
    "resident_id_birth_date",
    "resident_id_check_char",
    "uscc_check_char",
    "validate_account_count",
    "validate_resident_id",
    "validate_uscc",
]
