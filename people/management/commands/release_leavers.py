"""Release the work of every inactive user who still holds some (deactivated without signals)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db.models import Q

from people import services


class Command(BaseCommand):
    help = "Move the open work of inactive users to their supervisors' leaver queue."

    def handle(self, *args: Any, **options: Any) -> None:
        from counter.models import CounterEntry
        from onboarding.models import OnboardingCase
        from onboarding.states import OPEN_STATES

        holders = set(
            OnboardingCase.objects.filter(state__in=OPEN_STATES, account_manager__is_active=False).values_list(
                "account_manager_id", flat=True
            )
        )
        pairs = set(
            CounterEntry.objects.filter(status=CounterEntry.Status.PENDING)
            .filter(Q(maker__is_active=False, people_holder__isnull=True) | Q(people_holder__holder__is_active=False))
            .values_list("maker_id", "people_holder__holder_id")
        )
        holders |= {holder if holder is not None else maker for maker, holder in pairs}
        moved = 0
        for person in get_user_model().objects.filter(pk__in=holders, is_active=False):
            moved += services.leaver_release(person=person)
        self.stdout.write(f"{moved} pieces of work moved to the leaver queue")
