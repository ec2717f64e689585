"""Error pages in Chinese, in the site's layout; the staff 404 points to 跨机构查阅; a favicon;
`admin` lands in the admin after login."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.test import override_settings
from django.urls import reverse

from onboarding.states import State


@override_settings(DEBUG=False)
def test_staff_404_points_to_break_glass(client, world):
    other = world.case(State.BRANCH_INTAKE, company=world.company_y)
    client.force_login(world.am_a)
    response = client.get(reverse("case_detail", args=[other.public_id]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "页面不存在" in page and "跨机构查阅" in page
    assert reverse("audit_break_glass") in page
    assert 'class="topbar"' in page  # the site's layout
    assert "Not Found" not in page


@override_settings(DEBUG=False)
def test_customer_404_has_no_break_glass(client, world):
    other = world.case(State.BRANCH_INTAKE, company=world.company_y)
    client.force_login(world.customer_x)
    response = client.get(reverse("portal:case_detail", args=[other.public_id]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "页面不存在" in page and "跨机构查阅" not in page


@override_settings(DEBUG=False)
def test_403_is_chinese_in_the_layout(client, world):
    client.force_login(world.am_a)  # bank staff on the customers' portal
    response = client.get(reverse("portal:home"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "无权访问" in page and 'class="topbar"' in page and "Forbidden" not in page


def test_500_renders_without_a_request():
    page = render_to_string("500.html")
    assert "系统暂时出错" in page


@pytest.mark.django_db  # the login page reads the configured identity platforms (allauth socialaccount)
def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content.startswith(b"\x00\x00\x01\x00")
    page = client.get(reverse("login")).content.decode()
    assert 'rel="icon"' in page


def test_admin_without_staff_role_lands_in_the_admin(client, world):
    admin = get_user_model().objects.create_superuser("root", "root@bank.example", "x-Strong-pass-1")
    client.force_login(admin)
    response = client.get(reverse("portal:start"))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.get(response["Location"]).status_code == 200


def test_staff_still_land_in_their_workspace(client, world):
    client.force_login(world.am_a)
    assert client.get(reverse("portal:start"))["Location"] == reverse("home")
