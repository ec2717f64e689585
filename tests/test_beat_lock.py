"""Only one beat sends the schedule: the second waits until the first is gone."""

from __future__ import annotations

import pytest

from config.beat_lock import beat_lock_acquire


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_beat_cannot_take_the_lock_until_the_first_is_gone():
    first = beat_lock_acquire(wait=False)
    assert first is not None
    try:
        assert beat_lock_acquire(wait=False) is None  # another host's beat: refused
    finally:
        first.close()  # the first beat's process ends: its session and lock go with it
    second = beat_lock_acquire(wait=False)
    assert second is not None
    second.close()
