"""A queue row's case (`onboarding.queue.row_case`) is the instance `from_db` makes of its columns."""

from __future__ import annotations

import uuid

import pytest
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_init

from onboarding.models import OnboardingCase
from onboarding.queue import row_case


def _from_db(pk: int, public_id: uuid.UUID, reference: str, state: str) -> OnboardingCase:
    return OnboardingCase.from_db(
        DEFAULT_DB_ALIAS, ["id", "public_id", "reference", "state"], [pk, public_id, reference, state]
    )


@pytest.mark.parametrize("public_id", [uuid.UUID(int=7), uuid.UUID(int=7).hex])
def test_row_case_is_what_from_db_makes(public_id) -> None:
    made = row_case(7, public_id, "DL-7", "joint_testing")
    want = _from_db(7, uuid.UUID(int=7), "DL-7", "joint_testing")
    assert type(made) is type(want)
    assert vars(made).keys() == vars(want).keys()
    assert {k: v for k, v in vars(made).items() if k != "_state"} == {
        k: v for k, v in vars(want).items() if k != "_state"
    }
    assert vars(made._state) == vars(want._state) == {"adding": False, "db": DEFAULT_DB_ALIAS}
    assert made == want and made.pk == 7 and made.is_open
    assert made.get_deferred_fields() == want.get_deferred_fields()


def test_row_case_goes_through_init_while_someone_listens() -> None:
    seen = []

    def heard(sender, instance, **kwargs) -> None:
        seen.append(instance)

    post_init.connect(heard, sender=OnboardingCase)
    try:
        made = row_case(8, uuid.UUID(int=8), "DL-8", "live")
    finally:
        post_init.disconnect(heard, sender=OnboardingCase)
    assert seen == [made] and not made.is_open
