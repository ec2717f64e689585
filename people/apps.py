from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PeopleConfig(AppConfig):
    name = "people"
    verbose_name = _("人员变动")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.core import checks as django_checks
        from django.db.models.signals import post_save, pre_save

        from counter import rules as counter_rules
        from onboarding import events, queue

        from . import checks, receivers
        from .queue import delegated_items
        from .selectors import entry_stand_in_q, on_behalf_of

        # Work arriving for someone away shows in the substitute's queue as "代 X 办理".
        queue.sources.add(delegated_items)
        queue.kind_labels.add(_("代同事办理"), key="delegated")
        # The record keeps both names: an event written by a substitute names whom they act for.
        events.data_contributors.add(on_behalf_of)
        # The substitute is told when work arrives for the person they stand in for.
        events.listeners.add(receivers.work_arrived)
        # Dual control: whoever answers for an entry in its maker's place may not check it.
        counter_rules.stand_ins.add(entry_stand_in_q)
        # A deactivated user holds nothing (admin, or the directory sync saving is_active=False).
        user_model = get_user_model()
        pre_save.connect(receivers.remember_activity, sender=user_model, dispatch_uid="people.remember_activity")
        post_save.connect(receivers.release_leaver, sender=user_model, dispatch_uid="people.release_leaver")
        django_checks.register(checks.inactive_holders, django_checks.Tags.database)
