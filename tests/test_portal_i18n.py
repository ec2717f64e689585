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


def test_the_case_page_in_chinese_english_then_chinese_again(world, client):
    """The case page's fragments written in Python (the tracker, the to-do list, the summary,
    the thread, the checklist's rows) keep words per language: one process serves both."""
    case = world.case(State.JOINT_TESTING)
    client.force_login(world.customer_x)
    url = f"/portal/cases/{case.public_id}/"
    chinese = ("贵司待办", "申请概要", "与银行的留言", "开始", "未上传", "测试环境参数")
    english = ("What you need to do", "Application summary", "Messages with the bank", "Started", "Not uploaded")
    page = client.get(url).content.decode()
    assert all(word in page for word in chinese), [w for w in chinese if w not in page]
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(url).content.decode()
    assert all(word in page for word in english), [w for w in english if w not in page]
    assert not any(word in page for word in chinese), [w for w in chinese if w in page]
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(url).content.decode()
    assert all(word in page for word in chinese) and "Not uploaded" not in page
