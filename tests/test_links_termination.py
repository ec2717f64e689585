"""Termination (注销) of a live link, walked by the real roles through the real pages:
the customer asks on the portal and uploads the letter bearing the company seal, the account
manager accepts it, renders the 注销申请书 and submits, the supervisor approves, the counter
revokes every UKey with dual control, tech disables the link, the account manager closes it.
Then the retention date, the legal hold and the purge."""

from __future__ import annotations

import datetime as dt
import logging

from django.core.management import call_command
from django.utils import timezone

from branches.roles import Role
from counter.models import Operator, UKey
from documents.models import DocumentKind, DocumentVersion
from documents.samples import sample_pdf
from links import request_services
from links.models import LinkEvent, LinkRequest, LinkStatus, LiveLink
from links.requests import termination
from onboarding.models import CaseEvent, OnboardingCase
from tests.factories import user
from tests.links_request_helpers import (
    as_user,
    fill_and_post,
    forged_transition,
    live_link,
    messages_of,
    review_accept,
    text,
    transition,
    upload,
)


def _open_on_portal(world, link):
    customer = as_user(world.customer_x)
    url = f"/portal/links/{link.public_id}/requests/termination/"
    done = fill_and_post(customer, url, url, reason="公司业务调整,不再使用银企直联")
    req = LinkRequest.objects.get(link=link, kind=termination.CODE)
    assert done.redirect_chain[-1][0] == f"/portal/cases/{req.case.public_id}/"
    return customer, req


def _case_url(req):
    return f"/cases/{req.case.public_id}/"


def test_termination_from_the_portal_to_closed_by_the_real_roles(world, settings):
    settings.LINK_RETENTION_YEARS = 5
    link = live_link(world)
    keys_before = list(UKey.objects.filter(case_id=link.onboarding_case_id).values_list("serial", flat=True))
    assert len(keys_before) == 2

    customer, req = _open_on_portal(world, link)
    link.refresh_from_db()
    assert link.status == LinkStatus.CLOSING  # 注销中 at once
    portal_page = f"/portal/cases/{req.case.public_id}/"
    page = text(customer.get(portal_page))
    assert "注销直联服务" in page and "注销中" in page and "加盖贵司公章" in page

    # The customer uploads the sealed letter from the portal case page.
    done = upload(customer, portal_page, DocumentKind.TERMINATION_LETTER, sample_pdf("sealed letter"))
    assert any("已上传" in m for m in messages_of(done)), messages_of(done)

    # The account manager: the submit button is blocked until the letter is accepted.
    am = as_user(world.am_a)
    page = text(am.get(_case_url(req)))
    assert "提交注销审批" in page and "以下文件尚未审核通过" in page
    review_accept(am, _case_url(req))
    # The bank's 注销申请书 with the seal box, rendered from the link's data.
    fill_and_post(am, _case_url(req), f"/generate/{DocumentKind.TERMINATION_FORM}/")
    form = DocumentVersion.objects.get(document__case=req.case, document__kind=DocumentKind.TERMINATION_FORM)
    assert form.sha256
    done = transition(am, _case_url(req), "termination_submitted")
    assert "已提交注销审批" in messages_of(done)

    # The branch supervisor is handed it: in their queue, in the declaration's words.
    sup = as_user(world.supervisor)
    home = text(sup.get("/"))
    assert req.case.reference in home and "审批注销申请" in home
    assert "批准注销" in text(sup.get(_case_url(req)))
    done = transition(sup, _case_url(req), "termination_approved")
    assert "注销已批准,等待柜面注销UKey" in messages_of(done)

    # The counter: the maker lists the keys; the checker confirms; the keys are revoked.
    maker = as_user(world.maker)
    home = text(maker.get("/"))
    assert req.case.reference in home and "录入注销该直联服务的全部UKey" in home
    page = text(maker.get(_case_url(req)))
    assert all(s in page for s in keys_before)
    transition(maker, _case_url(req), "termination_revocation_entered")
    assert UKey.objects.filter(serial__in=keys_before, status=UKey.Status.REVOKED).count() == 0
    checker = as_user(world.checker)
    done = transition(checker, _case_url(req), "termination_revocation_confirmed")
    assert "全部UKey已注销,等待停用直联" in messages_of(done)
    assert UKey.objects.filter(serial__in=keys_before, status=UKey.Status.REVOKED).count() == 2
    assert link.current_operators().count() == 0

    # Tech disables the link; the account manager closes it.
    transition(as_user(world.tech), _case_url(req), "termination_disabled")
    done = transition(am, _case_url(req), "termination_closed")
    assert "直联服务已注销" in messages_of(done)

    link.refresh_from_db()
    req.refresh_from_db()
    today = timezone.localdate()
    assert link.status == LinkStatus.CLOSED and link.closed_on == today
    assert link.retention_until == today.replace(year=today.year + 5)
    assert not req.is_open
    names = list(link.events.filter(request=req).values_list("name", flat=True))
    for name in (
        "request_opened",
        "status_changed",
        "revocation_made",
        "ukey_revoked",
        "link_disabled",
        "request_closed",
    ):
        assert name in names, (name, names)
    statuses = [e.data["to"] for e in link.events.filter(name="status_changed").order_by("pk")]
    assert statuses == ["closing", "closed"]
    # The customer sees it closed on the portal.
    assert "已注销" in text(customer.get(portal_page))


def test_the_submitter_does_not_approve_and_the_maker_does_not_check(world):
    link = live_link(world)
    _customer, req = _open_on_portal(world, link)
    # One person both account manager and supervisor in branch A's tree.
    both = user("am_sup", Role.ACCOUNT_MANAGER, Role.BRANCH_SUPERVISOR, branch=world.tier1)
    client = as_user(both)
    upload(client, _case_url(req), DocumentKind.TERMINATION_LETTER, sample_pdf("letter"))
    review_accept(as_user(world.am_a), _case_url(req))
    transition(client, _case_url(req), "termination_submitted")
    assert "批准注销" not in text(client.get(_case_url(req)))
    done = forged_transition(client, req.case, "termination_approved")
    assert "提交人不能审批自己提交的案件" in messages_of(done)
    assert OnboardingCase.objects.get(pk=req.case_id).state == termination.APPROVAL
    transition(as_user(world.supervisor), _case_url(req), "termination_approved")

    # A counter clerk holding both roles enters the revocation and cannot confirm it.
    clerk = user("clerk_both", Role.COUNTER_MAKER, Role.COUNTER_CHECKER, branch=world.branch_a)
    clerk_client = as_user(clerk)
    transition(clerk_client, _case_url(req), "termination_revocation_entered")
    assert "复核通过,注销全部UKey" not in text(clerk_client.get(_case_url(req)))
    done = forged_transition(clerk_client, req.case, "termination_revocation_confirmed")
    assert "不能复核自己录入的事项" in messages_of(done)
    assert OnboardingCase.objects.get(pk=req.case_id).state == termination.REVOCATION_CHECK
    assert UKey.objects.filter(case_id=link.onboarding_case_id, status=UKey.Status.REVOKED).count() == 0
    # Tech cannot disable while keys are in use.
    done = forged_transition(as_user(world.tech), req.case, "termination_disabled")
    assert OnboardingCase.objects.get(pk=req.case_id).state == termination.REVOCATION_CHECK
    done = transition(as_user(world.checker), _case_url(req), "termination_revocation_confirmed")
    assert OnboardingCase.objects.get(pk=req.case_id).state == termination.DISABLE


def test_launch_controls_while_a_termination_is_open_and_on_a_closed_link(world):
    link = live_link(world)
    customer, req = _open_on_portal(world, link)
    # Nothing new while the termination is open: the page says why, posting creates nothing.
    url = f"/portal/links/{link.public_id}/requests/suspension/"
    page = text(customer.get(url))
    assert "正在办理注销" in page
    done = fill_and_post(customer, url, url, reason="暂停一下")
    assert any("正在办理注销" in m for m in messages_of(done))
    assert LinkRequest.objects.filter(link=link).count() == 1
    # A second termination: refused too.
    done = fill_and_post(
        customer, f"/portal/links/{link.public_id}/requests/termination/", "/termination/", reason="再次"
    )
    assert LinkRequest.objects.filter(link=link, kind=termination.CODE).count() == 1

    # Withdrawn by the customer's bank: the link is back in service, and requests start again.
    transition(as_user(world.am_a), _case_url(req), "termination_withdrawn", reason="客户撤回")
    link.refresh_from_db()
    assert link.status == LinkStatus.ACTIVE

    # A closed link takes no request at all.
    LiveLink.objects.filter(pk=link.pk).update(status=LinkStatus.CLOSED, closed_on=timezone.localdate())
    done = fill_and_post(
        as_user(world.am_a),
        f"/links/{link.public_id}/requests/suspension/",
        "/requests/suspension/",
        reason="风险",
        reason_code="risk",
    )
    assert any("已注销" in m for m in messages_of(done))
    assert LinkRequest.objects.filter(link=link, is_open=True).count() == 0


def test_another_branch_and_another_company_see_nothing(world):
    link = live_link(world)
    # The live onboarding case's page offers the requests to its own branch.
    page = text(as_user(world.am_a).get(f"/cases/{link.onboarding_case.public_id}/"))
    assert f"/links/{link.public_id}/requests/termination/" in page and "申请注销" in page
    assert as_user(world.customer_y).get(f"/portal/links/{link.public_id}/requests/termination/").status_code == 404
    assert as_user(world.am_b).get(f"/links/{link.public_id}/requests/termination/").status_code == 404
    assert as_user(world.am_b).get(f"/links/{link.public_id}/retention/").status_code == 404
    # Staff pages refuse customers, portal pages refuse staff.
    # A customer who opens a staff page is sent to the portal's start, never shown the page.
    refused = as_user(world.customer_x).get(f"/links/{link.public_id}/requests/termination/")
    assert (refused.status_code, refused["Location"]) == (302, "/portal/start/")
    assert as_user(world.am_a).get(f"/portal/links/{link.public_id}/requests/termination/").status_code == 403


def _closed_past_retention(world):
    link = live_link(world)
    past = timezone.localdate() - dt.timedelta(days=1)
    LiveLink.objects.filter(pk=link.pk).update(
        status=LinkStatus.CLOSED, closed_on=past.replace(year=past.year - 5), retention_until=past
    )
    link.refresh_from_db()
    return link


def test_legal_hold_set_by_head_office_is_respected_by_the_purge(world, caplog):
    link = _closed_past_retention(world)
    url = f"/links/{link.public_id}/retention/"
    # The account manager sees the page but may not set a hold (no form; a forged post is refused).
    am = as_user(world.am_a)
    assert 'name="reason"' not in am.get(url).content.decode()
    done = am.post(url, {"action": "set", "reason": "自己设"}, follow=True)
    assert any("保全仅限总行" in m for m in messages_of(done))
    # Head office sets it, with a reason, recorded on the link.
    ho = as_user(world.approver)
    page = text(ho.get(url))
    assert "设置保全" in page
    from tests.html_forms import form_with
    from tests.links_request_helpers import post_form

    done = post_form(ho, url, form_with(page, "reason"), reason="公安机关协查(2026)第12号")
    assert "保全已设置" in messages_of(done)
    link.refresh_from_db()
    assert link.legal_hold and link.events.filter(name=LinkEvent.Name.LEGAL_HOLD_SET).count() == 1

    names_before = list(Operator.objects.filter(case_id=link.onboarding_case_id).values_list("name", flat=True))
    with caplog.at_level(logging.WARNING, logger="links.requests"):
        call_command("purge_closed_links", "--apply")
    assert any("legal hold" in r.getMessage() and link.reference in r.getMessage() for r in caplog.records)
    assert list(Operator.objects.filter(case_id=link.onboarding_case_id).values_list("name", flat=True)) == names_before
    link.refresh_from_db()
    assert link.purged_at is None

    # Released (by head office, with a reason): a dry run changes nothing, --apply purges.
    page = text(ho.get(url))
    done = post_form(ho, url, form_with(page, "reason"), reason="协查结束")
    assert "保全已解除" in messages_of(done)
    call_command("purge_closed_links")
    assert list(Operator.objects.filter(case_id=link.onboarding_case_id).values_list("name", flat=True)) == names_before
    events_before = CaseEvent.objects.count()
    call_command("purge_closed_links", "--apply")
    ops = Operator.objects.filter(case_id=link.onboarding_case_id)
    assert set(ops.values_list("name", flat=True)) == {request_services.PURGED_NAME}
    assert all(op.id_number.startswith("PURGED") for op in ops)
    assert set(UKey.objects.filter(case_id=link.onboarding_case_id).values_list("holder", flat=True)) == {"已清除"}
    link.refresh_from_db()
    assert link.purged_at is not None and link.events.filter(name=LinkEvent.Name.PURGED).count() == 1
    # Evidence is kept: no case event or link event went away.
    assert CaseEvent.objects.count() == events_before
    # Purged once: a second run finds nothing.
    call_command("purge_closed_links", "--apply")
    assert link.events.filter(name=LinkEvent.Name.PURGED).count() == 1


def test_a_link_within_retention_is_not_purged(world):
    link = live_link(world)
    future = timezone.localdate() + dt.timedelta(days=10)
    LiveLink.objects.filter(pk=link.pk).update(
        status=LinkStatus.CLOSED, closed_on=timezone.localdate(), retention_until=future
    )
    assert request_services.links_purge(apply=True) == []
    assert not Operator.objects.filter(case_id=link.onboarding_case_id, name=request_services.PURGED_NAME).exists()


def test_the_termination_form_prints_the_link_its_keys_and_a_seal_box(world):
    import io

    from pypdf import PdfReader

    from documents import forms_pdf

    link = live_link(world)
    req = request_services.termination_open(link=link, user=world.am_a, reason="公司注销")
    case = OnboardingCase.objects.get(pk=req.case_id)
    context = forms_pdf.form_context(case, DocumentKind.TERMINATION_FORM)
    pdf = forms_pdf.render_form(DocumentKind.TERMINATION_FORM, context, number=1, generated_at=timezone.now())
    printed = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for expected in [link.reference, "申请单位(公章)", "公司注销", *[o.ukey_serial for o in link.current_operators()]]:
        assert expected in printed, expected
