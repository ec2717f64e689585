"""Chinese by default; the language switch gives English, including the portal's own strings."""

from __future__ import annotations

from django.conf import settings

from onboarding.states import State


def test_portal_home_in_chinese_then_english(world, client):
    world.case(State.JOINT_TESTING)
    client.force_login(world.customer_x)
    page = client.get("/portal/").content.decode()
    assert "我的申请" in page and "联调测试" in page and "登记联调测试结果" in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/portal/"})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    page = client.get("/portal/").content.decode()
    assert "My applications" in page and "Record the joint-test result: Account query" in page
    assert "我的申请" not in page and "登记联调测试结果" not in page


def test_the_refused_invitation_page_in_english(db, client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/portal/invite/not-a-real-token/").content.decode()
    assert "This invitation link is not valid" in page
