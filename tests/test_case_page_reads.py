"""The staff case page's reads (issue 26): as many queries whatever the case holds, and the
shortcuts taken for speed give what the long way gives."""

from __future__ import annotations

import pytest
from django.db import connection
from django.template import TemplateSyntaxError, engines
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from counter import services as counter_services
from counter.models import CounterEntry
from counter.rules import answers_for
from counter.selectors import case_entry_list, case_operators
from counter.templatetags.counter_tags import panel_data
from documents import services as document_services
from onboarding.models import OnboardingCase
from onboarding.page_reads import page_reads
from onboarding.states import State


def _page_case(case: OnboardingCase) -> OnboardingCase:
    return page_reads(OnboardingCase.objects.select_related("branch", "enterprise").get(pk=case.pk))


def _panel_queries(case: OnboardingCase, user) -> int:
    marked = _page_case(case)
    with CaptureQueriesContext(connection) as ctx:
        panel_data(case=marked, user=user)
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_the_counter_panel_reads_as_much_with_or_without_operators_keys_and_entries(world):
    empty = world.case(State.DRAFT)
    live = world.case(State.LIVE)  # its operators hold keys; counter entries made and checked
    assert case_operators(case=live) and any(o.ukeys.all() for o in case_operators(case=live))
    assert CounterEntry.objects.filter(case=live).exists()
    assert not case_operators(case=empty)
    for reader in (world.am_a, world.maker, world.checker, world.approver):
        assert _panel_queries(empty, reader) == _panel_queries(live, reader) == 2


@pytest.mark.django_db
def test_the_operators_and_their_keys_are_the_ones_the_orm_reads(world):
    live = world.case(State.LIVE)
    read = case_operators(case=_page_case(live))
    expected = list(live.operators.order_by("removed_at", "pk").prefetch_related("ukeys"))
    assert [o.pk for o in read] == [o.pk for o in expected]
    for mine, theirs in zip(read, expected, strict=True):
        assert [k.pk for k in mine.ukeys.all()] == [k.pk for k in theirs.ukeys.order_by("issued_at", "pk")]
        for key in mine.ukeys.all():
            assert key.operator is mine
            assert key.issued_entry_id is None or key.issued_entry.maker_id is not None


@pytest.mark.django_db
def test_whom_the_reader_answers_for_is_read_with_the_entries(world):
    case = world.case(State.UKEY_ISSUANCE)
    ent = case.company
    entry = counter_services.identity_check_make(
        case=case,
        user=world.maker,
        person=CounterEntry.Person.LEGAL_REP if ent.handler_is_legal_rep else CounterEntry.Person.HANDLER,
        person_name=ent.legal_rep_name if ent.handler_is_legal_rep else ent.handler_name,
        id_number=ent.legal_rep_id_number if ent.handler_is_legal_rep else ent.handler_id_number,
    )
    assert entry.status == CounterEntry.Status.PENDING
    for reader in (world.maker, world.checker, world.am_a):
        marked = _page_case(case)
        data = panel_data(case=marked, user=reader)
        (shown,) = [e for e in data["entries"] if e.pk == entry.pk]
        assert shown.answers_for is answers_for(entry, reader), reader
    # Read first for nobody in particular (the guards), then by the panel: asked apart, the same.
    marked = _page_case(case)
    case_entry_list(case=marked)
    (shown,) = [e for e in panel_data(case=marked, user=world.maker)["entries"] if e.pk == entry.pk]
    assert shown.answers_for is True


@pytest.mark.django_db
def test_the_kinds_one_may_upload_are_upload_refusals_none(world):
    for state in (State.DRAFT, State.BRANCH_INTAKE, State.JOINT_TESTING, State.LIVE):
        case = world.case(state)
        kinds = {r.kind for r in document_services.checklist.requirements(case)}
        for reader in world.actors.values():
            if reader.enterprise_id is not None and reader.enterprise_id != case.enterprise_id:
                continue
            expected = {k for k in kinds if document_services.upload_refusal(case, reader, k) is None}
            assert document_services.uploadable_kinds(case, reader) == expected, (state, reader)


def test_fixed_stretches_are_drawn_once_per_language_and_refuse_variables():
    engine = engines["django"]
    t = engine.from_string('{% load i18n fixed %}{% fixed %}<b>{% translate "退出" %}</b>{% endfixed %}')
    with translation.override("zh-hans"):
        assert t.render({}) == "<b>退出</b>"
    with translation.override("en"):
        assert t.render({}) == "<b>Log out</b>"
    with translation.override("zh-hans"):
        assert t.render({}) == "<b>退出</b>"
    for body in ("{{ x }}", "{% translate x %}", '{% translate "退出" as y %}', "{% if x %}{% endif %}"):
        with pytest.raises(TemplateSyntaxError):
            engine.from_string("{% load i18n fixed %}{% fixed %}" + body + "{% endfixed %}")


@pytest.mark.django_db
def test_a_live_case_reads_its_live_link_with_its_one_to_ones(client, world):
    """The live link comes with the case's one-to-ones (no read of its own), is the one the ORM
    finds, and the page shows it; a case in work shows none."""
    from django.urls import reverse

    from links.models import LiveLink
    from onboarding.selectors import case_page_get

    live = world.case(State.LIVE)
    link = LiveLink.objects.get(onboarding_case=live)
    with CaptureQueriesContext(connection) as ctx:
        read = case_page_get(user=world.am_a, public_id=live.public_id)
    assert read.live_link.pk == link.pk and read.live_link.onboarding_case is read
    assert not any('"links_livelink"' in q["sql"].split(" FROM ")[1][:20] for q in ctx.captured_queries)
    client.force_login(world.am_a)
    page = client.get(reverse("case_detail", args=[live.public_id])).content.decode()
    assert reverse("links:link_detail", args=[link.public_id]) in page
    in_work = world.case(State.JOINT_TESTING)
    assert not hasattr(case_page_get(user=world.am_a, public_id=in_work.public_id), "live_link")


@pytest.mark.django_db
def test_the_staff_thread_panel_links_the_portal_users_and_posts_messages(client, world):
    from django.urls import reverse

    case = world.case(State.JOINT_TESTING)
    for reader, may_post in ((world.am_a, True), (world.auditor, False)):
        client.force_login(reader)
        page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
        assert reverse("portal:staff_enterprise", args=[case.enterprise.public_id]) in page
        post = reverse("portal:staff_case_message", args=[case.public_id])
        assert (f'action="{post}"' in page) is may_post, reader
    client.force_login(world.am_a)
    client.post(reverse("portal:staff_case_message", args=[case.public_id]), {"body": "请补充材料"})
    page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert "请补充材料" in page
