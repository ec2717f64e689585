"""The UKey register: download, activation (maker–checker), loss and release, replacement,
revocation, each an event; the UKey-issuance guard names who is not ready; the expiry list."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from branches.roles import Role
from counter import selectors, services
from counter.models import UKey
from demo.counter_work import confirm_identity, issue_ukey
from onboarding import services as case_services
from onboarding.models import CaseEvent
from onboarding.services import CaseError
from onboarding.states import State
from tests.factories import resident_id, user


@pytest.fixture
def case(world):
    case = world.case(State.UKEY_ISSUANCE)
    case_services.production_config_record(
        case=case,
        user=world.tech,
        production_endpoint="https://h2h.bank.example",
        certificate_serial="PROD-9",
        production_accounts=case.enterprise.accounts.first().account_number,
    )
    return case


def _op(world, case, name="孙八", n=801, role="entry"):
    return services.operator_add(case=case, user=world.maker, name=name, id_number=resident_id(n), role=role)


def _names(case):
    return list(CaseEvent.objects.filter(case=case).values_list("name", flat=True))


def _complete(world, case):
    return case_services.case_transition(case=case, user=world.checker, name="complete_ukey_issuance")


def test_activation_needs_download_and_a_checker(world, case):
    op = _op(world, case)
    key = issue_ukey(case, op, world.maker, world.checker, serial="KB-1", activate=False)
    with pytest.raises(CaseError):
        services.cert_activation_make(case=case, user=world.maker, ukey=key)
    key = services.ukey_download_record(ukey=key, user=world.maker)
    assert key.status == UKey.Status.DOWNLOADED and key.downloaded_at
    entry = services.cert_activation_make(case=case, user=world.maker, ukey=key)
    key.refresh_from_db()
    assert key.status == UKey.Status.DOWNLOADED  # not yet: pending the checker
    services.entry_confirm(entry=entry, user=world.checker)
    key.refresh_from_db()
    assert key.status == UKey.Status.ACTIVATED and key.activated_at
    assert _names(case).count("counter_entry_confirmed") == 2
    assert "ukey_downloaded" in _names(case)


def test_guard_names_the_operator_without_an_activated_ukey(world, case):
    confirm_identity(case, world.maker, world.checker)
    ready = _op(world, case, "周九", 811)
    waiting = _op(world, case, "吴十", 812, "review")
    issue_ukey(case, ready, world.maker, world.checker, serial="KB-A")
    with pytest.raises(CaseError) as exc:
        _complete(world, case)
    text = " ".join(exc.value.problems)
    assert "吴十" in text and "周九" not in text
    key = issue_ukey(case, waiting, world.maker, world.checker, serial="KB-B", activate=False)
    with pytest.raises(CaseError) as exc:
        _complete(world, case)
    assert any("吴十" in p and "KB-B" in p for p in exc.value.problems)
    key = services.ukey_download_record(ukey=key, user=world.maker)
    services.entry_confirm(
        entry=services.cert_activation_make(case=case, user=world.maker, ukey=key), user=world.checker
    )
    assert _complete(world, case).state == State.PRODUCTION_VERIFICATION


def test_guard_needs_a_confirmed_identity_check(world, case):
    op = _op(world, case)
    issue_ukey(case, op, world.maker, world.checker, serial="KB-C")
    ent = case.enterprise
    entry = services.identity_check_make(
        case=case,
        user=world.maker,
        person="legal_rep",
        person_name=ent.legal_rep_name,
        id_number=ent.legal_rep_id_number,
    )
    with pytest.raises(CaseError) as exc:
        _complete(world, case)
    assert any("身份核验" in p for p in exc.value.problems)
    services.entry_confirm(entry=entry, user=world.checker)
    assert _complete(world, case).state == State.PRODUCTION_VERIFICATION


def test_guard_needs_at_least_one_operator(world, case):
    confirm_identity(case, world.maker, world.checker)
    with pytest.raises(CaseError) as exc:
        _complete(world, case)
    assert any("操作员" in p for p in exc.value.problems)


def test_a_pending_entry_blocks_leaving_the_stage(world, case):
    confirm_identity(case, world.maker, world.checker)
    issue_ukey(case, _op(world, case), world.maker, world.checker, serial="KB-D")
    ent = case.enterprise
    entry = services.identity_check_make(
        case=case,
        user=world.maker,
        person="legal_rep",
        person_name=ent.legal_rep_name,
        id_number=ent.legal_rep_id_number,
    )
    with pytest.raises(CaseError) as exc:
        _complete(world, case)
    assert any("待复核" in p for p in exc.value.problems)
    services.entry_cancel(entry=entry, user=world.maker)
    assert _complete(world, case).state == State.PRODUCTION_VERIFICATION


def test_loss_report_and_release_return_the_key_to_its_status(world, case):
    confirm_identity(case, world.maker, world.checker)
    key = issue_ukey(case, _op(world, case), world.maker, world.checker, serial="KB-E")
    key = services.ukey_loss_report(ukey=key, user=world.checker, reason="客户遗失")
    assert key.status == UKey.Status.LOST
    with pytest.raises(CaseError) as exc:  # a lost key does not count as ready
        _complete(world, case)
    assert any("KB-E" in p for p in exc.value.problems)
    key = services.ukey_loss_release(ukey=key, user=world.maker, reason="已找回")
    assert key.status == UKey.Status.ACTIVATED
    names = _names(case)
    assert "ukey_lost" in names and "ukey_released" in names
    with pytest.raises(CaseError):
        services.ukey_loss_release(ukey=key, user=world.maker)


def test_replacement_is_maker_checker_and_retires_the_old_key(world, case):
    op = _op(world, case)
    old = issue_ukey(case, op, world.maker, world.checker, serial="KB-OLD")
    services.ukey_loss_report(ukey=old, user=world.maker)
    with pytest.raises(CaseError):  # a second key for the same operator needs the replacement path
        services.ukey_issuance_make(case=case, user=world.maker, operator=op, serial="KB-X")
    entry = services.ukey_issuance_make(case=case, user=world.maker, operator=op, serial="KB-NEW", replaces=old)
    old.refresh_from_db()
    assert old.status == UKey.Status.LOST
    with pytest.raises(CaseError):
        services.entry_confirm(entry=entry, user=world.maker)
    services.entry_confirm(entry=entry, user=world.checker)
    old.refresh_from_db()
    new = UKey.objects.get(serial="KB-NEW")
    assert old.status == UKey.Status.REPLACED and new.replaces == old and new.status == UKey.Status.ISSUED
    assert "ukey_replacement_made" in _names(case)


def test_revocation_needs_a_reason_and_counter_staff(world, case):
    key = issue_ukey(case, _op(world, case), world.maker, world.checker, serial="KB-R")
    with pytest.raises(CaseError):
        services.ukey_revoke(ukey=key, user=world.checker, reason="")
    with pytest.raises(CaseError):
        services.ukey_revoke(ukey=key, user=world.am_a, reason="离职")
    key = services.ukey_revoke(ukey=key, user=world.checker, reason="操作员离职")
    assert key.status == UKey.Status.REVOKED and key.ended_at
    assert CaseEvent.objects.get(case=case, name="ukey_revoked").reason == "操作员离职"
    with pytest.raises(CaseError):
        services.ukey_loss_report(ukey=key, user=world.checker)


def test_operator_with_a_key_in_use_cannot_be_removed(world, case):
    op = _op(world, case)
    key = issue_ukey(case, op, world.maker, world.checker, serial="KB-Q")
    with pytest.raises(CaseError):
        services.operator_remove(operator=op, user=world.maker)
    services.ukey_revoke(ukey=key, user=world.maker, reason="离职")
    op = services.operator_remove(operator=op, user=world.maker, reason="离职")
    assert op.removed_at is not None
    assert "operator_removed" in _names(case)


def test_operator_id_number_is_validated(world, case):
    with pytest.raises(CaseError):
        services.operator_add(case=case, user=world.maker, name="错号", id_number="310104198001010000", role="entry")
    with pytest.raises(CaseError):
        services.operator_add(case=case, user=world.customer_x, name="客户", id_number=resident_id(5), role="entry")


def test_expiry_list_shows_keys_in_use_within_the_window_and_in_scope(world, case):
    today = timezone.localdate()
    soon = issue_ukey(
        case,
        _op(world, case, "近到期", 821),
        world.maker,
        world.checker,
        serial="KB-S",
        expires_on=today + dt.timedelta(days=10),
    )
    later = issue_ukey(
        case,
        _op(world, case, "远到期", 822),
        world.maker,
        world.checker,
        serial="KB-L",
        expires_on=today + dt.timedelta(days=90),
    )
    gone = issue_ukey(
        case,
        _op(world, case, "已注销", 823),
        world.maker,
        world.checker,
        serial="KB-G",
        expires_on=today + dt.timedelta(days=5),
    )
    services.ukey_revoke(ukey=gone, user=world.maker, reason="注销")
    assert list(selectors.ukeys_expiring(user=world.am_a)) == [soon]
    assert set(selectors.ukeys_expiring(user=world.am_a, within_days=120)) == {soon, later}
    outsider = user("am_b2", Role.ACCOUNT_MANAGER, branch=world.branch_b)
    assert list(selectors.ukeys_expiring(user=outsider)) == []
