"""Certificate renewal (证书更新): opened once per certificate by the sweep, the customer
reminded through the notices and the outbox, renewed by the customer before expiry (tech
confirms) or at the counter after it (maker and checker). Two sweeps at once on PostgreSQL
open one request."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from branches.roles import Role
from links import request_services
from links.models import LinkEvent, LinkRequest, LiveLink
from links.requests import cert_renewal
from notices.models import Notification, OutboxEmail
from onboarding.models import OnboardingCase
from tests.factories import World, user
from tests.html_forms import form_with
from tests.links_request_helpers import (
    as_user,
    forged_transition,
    live_link,
    messages_of,
    post_form,
    text,
    transition,
)


def _expiring(world, days: int) -> LiveLink:
    link = live_link(world)
    LiveLink.objects.filter(pk=link.pk).update(
        certificate_serial="FEP-OLD-1", certificate_expires_on=timezone.localdate() + dt.timedelta(days=days)
    )
    link.refresh_from_db()
    return link


def test_the_sweep_opens_one_renewal_per_certificate_and_reminds_the_customer(world, settings):
    settings.LINK_RENEWAL_LEAD_DAYS = 90
    settings.LINK_RENEWAL_REMINDER_DAYS = (90, 30, 7, 0)
    far = _expiring(world, 120)
    assert request_services.renewal_sweep().opened == []
    LiveLink.objects.filter(pk=far.pk).update(certificate_expires_on=timezone.localdate() + dt.timedelta(days=80))

    result = request_services.renewal_sweep()
    assert len(result.opened) == 1
    req = LinkRequest.objects.get(link=far, kind=cert_renewal.CODE)
    assert req.details["expires_on"] == str(timezone.localdate() + dt.timedelta(days=80))
    case = OnboardingCase.objects.get(pk=req.case_id)
    assert case.state == cert_renewal.CUSTOMER_RENEWS
    # The customer is told in the portal and by mail (one outbox row per threshold).
    assert Notification.objects.filter(recipient=world.customer_x, kind="link_renewal").count() == 1
    assert OutboxEmail.objects.filter(kind="link_renewal", key=f"link-renewal-{req.pk}-90").count() == 1
    # Again: nothing new.
    again = request_services.renewal_sweep()
    assert again.opened == [] and again.reminded == 0
    assert LinkRequest.objects.filter(link=far, kind=cert_renewal.CODE).count() == 1

    # At T−30 the next reminder, once.
    later = timezone.localdate() + dt.timedelta(days=55)
    assert request_services.renewal_sweep(today=later).reminded == 1
    assert request_services.renewal_sweep(today=later).reminded == 0
    assert Notification.objects.filter(recipient=world.customer_x, kind="link_renewal").count() == 2
    assert OutboxEmail.objects.filter(kind="link_renewal", key=f"link-renewal-{req.pk}-30").exists()
    # Another company's users are never told.
    assert not Notification.objects.filter(recipient=world.customer_y, kind="link_renewal").exists()


def test_the_customer_renews_on_the_portal_and_tech_confirms(world):
    link = _expiring(world, 60)
    request_services.renewal_sweep()
    req = LinkRequest.objects.get(link=link, kind=cert_renewal.CODE)
    customer = as_user(world.customer_x)
    portal = f"/portal/cases/{req.case.public_id}/"
    page = text(customer.get(portal))
    assert "证书更新" in page and "FEP-OLD-1" in page
    new_expiry = timezone.localdate() + dt.timedelta(days=730)
    done = post_form(customer, portal, form_with(page, "serial"), serial="fep-new-2", expires_on=new_expiry.isoformat())
    assert "新证书已提交,等待总行科技部确认" in messages_of(done)
    submitted = LinkEvent.objects.get(request=req, name=LinkEvent.Name.CERTIFICATE_SUBMITTED)
    assert submitted.data == {"serial": "FEP-NEW-2", "expires_on": new_expiry.isoformat()}  # the date survived
    assert submitted.actor == world.customer_x

    # Head-office tech holds it now and confirms on the case page.
    tech = as_user(world.tech)
    staff_page = f"/cases/{req.case.public_id}/"
    assert "FEP-NEW-2" in text(tech.get(staff_page))
    done = transition(tech, staff_page, "cert_renewal_confirmed")
    assert "新证书已生效,证书更新办结" in messages_of(done)
    link.refresh_from_db()
    req.refresh_from_db()
    assert link.certificate_serial == "FEP-NEW-2" and link.certificate_expires_on == new_expiry
    assert not req.is_open
    renewed = LinkEvent.objects.get(link=link, name=LinkEvent.Name.CERTIFICATE_RENEWED)
    assert renewed.data["from"]["serial"] == "FEP-OLD-1" and renewed.data["to"]["serial"] == "FEP-NEW-2"
    # The new certificate is far from expiry: the sweep opens nothing.
    assert request_services.renewal_sweep().opened == []


def test_after_expiry_the_renewal_goes_through_the_counter_with_dual_control(world):
    link = _expiring(world, 10)
    request_services.renewal_sweep()
    req = LinkRequest.objects.get(link=link, kind=cert_renewal.CODE)
    LiveLink.objects.filter(pk=link.pk).update(certificate_expires_on=timezone.localdate() - dt.timedelta(days=1))
    customer = as_user(world.customer_x)
    portal = f"/portal/cases/{req.case.public_id}/"
    page = text(customer.get(portal))
    assert "证书已过期,不能自助更新" in page and 'name="serial"' not in page
    # A forged post from the portal is refused and records nothing.
    done = customer.post(
        f"/portal/links/requests/{req.case.public_id}/certificate/",
        {"serial": "X-1", "expires_on": (timezone.localdate() + dt.timedelta(days=700)).isoformat()},
        follow=True,
    )
    assert any("须到柜面办理更新" in m for m in messages_of(done))
    assert not LinkEvent.objects.filter(request=req, name=LinkEvent.Name.CERTIFICATE_SUBMITTED).exists()

    staff_page = f"/cases/{req.case.public_id}/"
    clerk = user("clerk_both", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    clerk_client = as_user(clerk)
    transition(clerk_client, staff_page, "cert_renewal_to_counter")
    assert OnboardingCase.objects.get(pk=req.case_id).state == cert_renewal.COUNTER_ENTERS
    page = text(clerk_client.get(staff_page))
    new_expiry = timezone.localdate() + dt.timedelta(days=700)
    done = post_form(
        clerk_client, staff_page, form_with(page, "serial"), serial="FEP-CTR-3", expires_on=new_expiry.isoformat()
    )
    assert "更新后的证书已录入,等待柜面复核" in messages_of(done)
    # The maker cannot check their own entry.
    done = forged_transition(clerk_client, req.case, "cert_renewal_counter_confirmed")
    assert "不能复核自己录入的事项" in messages_of(done)
    link.refresh_from_db()
    assert link.certificate_serial == "FEP-OLD-1"
    # Another checker confirms.
    done = transition(as_user(world.checker), staff_page, "cert_renewal_counter_confirmed")
    assert "新证书已生效,证书更新办结" in messages_of(done)
    link.refresh_from_db()
    assert link.certificate_serial == "FEP-CTR-3" and link.certificate_expires_on == new_expiry


def test_another_company_and_branch_see_no_renewal(world):
    link = _expiring(world, 30)
    request_services.renewal_sweep()
    req = LinkRequest.objects.get(link=link, kind=cert_renewal.CODE)
    assert as_user(world.customer_y).get(f"/portal/cases/{req.case.public_id}/").status_code == 404
    assert as_user(world.am_b).get(f"/cases/{req.case.public_id}/").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_renewal_sweeps_at_once_on_postgresql_open_one_request():
    assert connection.vendor == "postgresql"
    world = World()
    link = _expiring(world, 45)
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def sweep(i: int) -> None:
        try:
            barrier.wait()
            outcomes[i] = request_services.renewal_sweep()
        except Exception as exc:
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(o, request_services.SweepResult) for o in outcomes), outcomes
    assert sum(len(o.opened) for o in outcomes) == 1, outcomes  # type: ignore[union-attr]
    assert LinkRequest.objects.filter(link=link, kind=cert_renewal.CODE).count() == 1
    req = LinkRequest.objects.get(link=link, kind=cert_renewal.CODE)
    assert LinkEvent.objects.filter(request=req, name=LinkEvent.Name.RENEWAL_REMINDED).count() == 1
    assert OutboxEmail.objects.filter(kind="link_renewal").count() == 1


def test_the_sweeps_are_on_celery_beat_and_their_tasks_run(world, settings):
    from django.conf import settings as conf

    from links import request_tasks

    beat = conf.CELERY_BEAT_SCHEDULE
    assert beat["links-renewal-sweep"]["task"] == "links.request_tasks.renewal_sweep"
    assert beat["links-dormant-sweep"]["task"] == "links.request_tasks.dormant_sweep"
    link = _expiring(world, 20)
    assert request_tasks.renewal_sweep.apply().get() == {"opened": 1, "reminded": 1}
    assert request_tasks.dormant_sweep.apply().get() == {"opened": 0}
    assert LinkRequest.objects.filter(link=link, kind=cert_renewal.CODE).count() == 1


def test_a_link_whose_account_manager_left_is_skipped_and_the_sweep_goes_on(world):
    first = _expiring(world, 20)
    second = _expiring(world, 25)
    world.am_a.is_active = False
    world.am_a.save(update_fields=["is_active"])
    result = request_services.renewal_sweep()
    assert result.opened == [] and len(result.skipped) == 2
    assert not LinkRequest.objects.filter(link__in=[first, second]).exists()
