"""A system check (`manage.py check --database default`, and `migrate`): no inactive user holds
open work, a reminder's recipient role, a pending counter entry or a substitution."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import connections


def inactive_holders(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from .models import Absence

    found: list[checks.CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        if Absence._meta.db_table not in connection.introspection.table_names():
            continue  # before `migrate` has made the tables
        for what, count in inactive_holdings(using=alias).items():
            if count:
                found.append(
                    checks.Error(
                        f"{count} {what} held by inactive users ({alias})",
                        hint="Run `manage.py release_leavers` (a deactivation saved without signals, "
                        "e.g. a queryset update, left their work behind).",
                        id="people.E001",
                    )
                )
    return found


def inactive_holdings(*, using: str = "default") -> dict[str, int]:
    """What inactive users still hold, by kind (all zero when leavers were released)."""
    from django.db.models import Q

    from counter.models import CounterEntry
    from onboarding.models import OnboardingCase, StageVisit
    from onboarding.states import OPEN_STATES

    from .models import Absence
    from .selectors import today

    return {
        "open cases": OnboardingCase.objects.using(using)
        .filter(state__in=OPEN_STATES, account_manager__is_active=False)
        .count(),
        # The reminder sweep tells a case's account manager; an open visit of such a case would
        # remind someone gone.
        "open stage visits (reminders)": StageVisit.objects.using(using)
        .filter(left_at__isnull=True, case__account_manager__is_active=False)
        .count(),
        "pending counter entries": CounterEntry.objects.using(using)
        .filter(status=CounterEntry.Status.PENDING)
        .filter(Q(maker__is_active=False, people_holder__isnull=True) | Q(people_holder__holder__is_active=False))
        .count(),
        "substitutions": Absence.objects.using(using)
        .filter(cancelled_at__isnull=True, ends_on__gte=today(), substitute__is_active=False)
        .count(),
    }
