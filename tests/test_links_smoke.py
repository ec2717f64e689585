from __future__ import annotations

from counter.models import UKey
from links import services
from links.models import LinkEvent, LiveLink
from onboarding.states import State


def test_smoke(world):
    case = world.case(State.LIVE)
    link = LiveLink.objects.get(onboarding_case=case)
    assert link.current_operators().count() == 2
    assert link.current_accounts().count() == 1
    key = link.current_operators().first().ukey
    req = services.ukey_loss_report(link=link, ukey=key, user=world.customer_x, reason="丢了")
    key.refresh_from_db()
    assert key.status == UKey.Status.LOST
    services.ukey_replacement_make(request=req, user=world.maker, serial="NEW-1")
    new = services.ukey_replacement_confirm(request=req, user=world.checker)
    req.refresh_from_db()
    assert not req.is_open
    assert link.current_operators().filter(ukey=new).exists()
    print(list(LinkEvent.objects.values_list("name", flat=True)))
