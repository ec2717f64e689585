"""The import template's own example row imports cleanly, in Chinese and in English (issue 25):
the template is downloaded from the page as a user would, then checked in a dry run."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from branches.roles import Role
from tests.factories import user
from transfers import columns

pytestmark = pytest.mark.django_db


def dry_run(path) -> str:
    out = StringIO()
    call_command("import_cases", str(path), "--dry-run", "--as", "supervisor", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_downloaded_template_checks_with_no_error(client, world, tmp_path, fmt, language):
    user("am_shpd", Role.ACCOUNT_MANAGER, branch=world.branch_a)  # the example row's account manager
    client.force_login(world.supervisor)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(reverse(f"transfers:template_{fmt}"))
    assert response.status_code == 200
    path = tmp_path / f"template.{fmt}"
    path.write_bytes(response.content)
    if fmt == "csv":
        header = response.content.decode("utf-8-sig").splitlines()[0]
        if language == "en":
            assert header.startswith("Company name,Unified social credit code,")
            assert "企业名称" not in header
        else:
            assert header.startswith("企业名称,统一社会信用代码,")
    out = dry_run(path)
    assert "共 1 行:有效 1 行,有错误 0 行" in out, out


def test_the_import_page_names_the_columns_in_the_pages_language(client, world):
    client.force_login(world.supervisor)
    page = client.get(reverse("transfers:import")).content.decode()
    assert "统一社会信用代码" in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("transfers:import")).content.decode()
    assert "Unified social credit code" in page and "统一社会信用代码" not in page


def test_a_column_under_both_its_names_is_refused_as_repeated():
    from transfers.validation import header_problems

    headers = [c.header for c in columns.COLUMNS]
    assert header_problems(headers) == []
    assert header_problems([c.english for c in columns.COLUMNS]) == []
    problems = header_problems([*headers, "Company name"])
    assert problems and "列重复" in problems[0] and "Company name" in problems[0]
