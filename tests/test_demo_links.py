"""The demo holds live links with a request of every type under way (issue 22, item 5).

Seeded once per module (the whole demo, as `manage.py seed_demo` does); each request is read
back as the person who holds it would see it: its stage, in their queue, with its notice.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from casetypes import declaration
from documents.models import Decision, DocumentKind, DocumentVersion
from links.models import LinkEvent, LinkRequest, LinkStatus, LiveLink
from links.requests import REQUEST_TYPES
from onboarding.models import OnboardingCase

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    from demo.seed import seed

    with django_db_blocker.unblock():
        seed()
        yield
        # The module's data stays in the test database otherwise (seeded outside a test's
        # transaction). The flush also empties what the migrations seeded (the official calendar
        # and the service levels), which the other tests of this process rely on: seed it again.
        import importlib

        from django.apps import apps
        from django.core.management import call_command

        from workcalendar import workcal

        call_command("flush", "--no-input", verbosity=0)
        importlib.import_module("workcalendar.migrations.0002_seed_sla_and_calendar").seed(apps, None)
        workcal.forget_days()


def _open(kind: str) -> list[tuple[LinkRequest, OnboardingCase]]:
    return [
        (r, OnboardingCase.objects.get(pk=r.case_id))
        for r in LinkRequest.objects.filter(kind=kind, is_open=True).select_related("link").order_by("pk")
    ]


def _state(kind: str) -> set[str]:
    return {case.state for _r, case in _open(kind)}


def test_every_request_type_is_under_way_and_every_link_status_is_shown(demo):
    declared = {t.code for t in REQUEST_TYPES}
    open_kinds = set(LinkRequest.objects.filter(is_open=True).values_list("kind", flat=True))
    # Every type is under way, but the suspension: it is done (the link is suspended, its resumption asked).
    assert declared - open_kinds == {"link_suspension"}
    assert LinkRequest.objects.filter(kind="link_suspension", case__state="link_susp_done").exists()
    assert set(LiveLink.objects.values_list("status", flat=True)) == set(LinkStatus.values)


def test_a_certificate_expiring_next_month_has_its_renewal_from_the_sweep(demo):
    today = timezone.localdate()
    month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    link = LiveLink.objects.get(certificate_expires_on__year=month.year, certificate_expires_on__month=month.month)
    renewal = LinkRequest.objects.get(link=link, kind="link_cert_renewal", is_open=True)
    assert renewal.channel == "system"  # the renewal sweep opened it
    assert OnboardingCase.objects.get(pk=renewal.case_id).state == "link_renew_customer"
    assert LinkEvent.objects.filter(request=renewal, name=LinkEvent.Name.RENEWAL_REMINDED).exists()
    # The expired certificate went to the counter; the one expiring next week waits for tech.
    assert {"link_renew_counter", "link_renew_confirm"} <= _state("link_cert_renewal")


def test_the_states_of_the_requests_under_way(demo):
    assert _state("ukey_loss") == {"ukey_loss_reported", "ukey_loss_checking"}
    assert _state("operator_change") == {"operator_change_checking"}
    assert _state("account_change") == {"account_change_testing"}
    # Past their review, so each has its 变更申请书 signed, on file and accepted.
    for kind in ("operator_change", "account_change"):
        for _r, case in _open(kind):
            kept = DocumentVersion.objects.filter(document__case=case, document__kind=DocumentKind.LINK_CHANGE_FORM)
            assert kept.filter(decision=Decision.ACCEPTED, document__generated=False).exists(), kind
    assert _state("link_resumption") == {"link_resume_review"}
    assert _state("link_termination") == {"link_term_approval"}
    assert _state("periodic_review") == {"periodic_review_open"}
    suspended = LiveLink.objects.get(status=LinkStatus.SUSPENDED)
    assert LinkRequest.objects.filter(link=suspended, kind="link_resumption", is_open=True).exists()
    closed = LiveLink.objects.get(status=LinkStatus.CLOSED)
    assert closed.closed_on is not None and closed.retention_until is not None
    assert LiveLink.objects.get(status=LinkStatus.CLOSING).requests.get(is_open=True).kind == "link_termination"


@pytest.mark.parametrize(
    ("username", "kind"),
    [
        ("sup_sh", "link_termination"),
        ("sup_bj", "link_resumption"),
        ("checker_bjhd", "operator_change"),
        ("maker_bjcy", "link_cert_renewal"),
        ("ho_tech", "link_cert_renewal"),
        ("am_shxh", "periodic_review"),
    ],
)
def test_the_holder_sees_the_request_in_their_queue_with_a_notice(demo, username, kind):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=username)
    client = Client()
    client.force_login(user)
    page = client.get("/")
    assert page.status_code == 200
    held = [case for _r, case in _open(kind) if case.reference in page.content.decode()]
    assert held, f"{username} does not see a {kind} request in the queue"
    # A request handed on to its holder came with the hand-off notice, as the product writes it
    # (one just opened, by the customer or a sweep, is in the queue without one).
    from notices.models import Notification

    if kind not in ("periodic_review", "link_resumption"):
        assert Notification.objects.filter(recipient=user, case__in=[c.pk for c in held]).exists()
    case = held[0]
    declared = declaration.case_type_of(case)
    assert case.state in declared.open_states


def test_what_the_sweeps_opened_says_so_and_the_review_says_why(demo):
    """Read as the account manager: the requests the sweeps opened are theirs, but each case's
    history says the system check opened it; the periodic review says why it is due."""
    from django.contrib.auth import get_user_model

    am = Client()
    am.force_login(get_user_model().objects.get(username="am_shxh"))
    ((review, case),) = _open("periodic_review")
    page = am.get(f"/cases/{case.public_id}/").content.decode()
    assert "系统(定期复核检查)" in page and f"{case.account_manager} 创建案件" not in page
    went_live = timezone.localdate(review.link.went_live_at).isoformat()
    assert f"高风险,上线 {went_live} 后未复核,每 12 个月复核" in page
    for renewal, renewal_case in _open("link_cert_renewal"):
        assert renewal.opener_label == "系统(证书到期检查)" and renewal.opened_by == renewal_case.account_manager
