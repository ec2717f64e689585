"""Bulk import of companies and cases: every encoding, good, bad and mixed files, dry runs that write
nothing, "valid rows only", the page (upload, check, confirm) and the command, the background path,
and scope (another branch's companies and account managers are not importable)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from companies.models import Enterprise
from delivery.channels import flush
from onboarding.event_names import EventName
from onboarding.models import CaseEvent, OnboardingCase, StageVisit
from onboarding.states import State
from tests.html_forms import browser_post_data, form_with, page_forms
from tests.transfers_helpers import ENCODINGS, bad_row, changed, encode, good_row, table_counts
from transfers import services
from transfers.models import ImportJob
from transfers.reading import decode_csv

pytestmark = pytest.mark.django_db


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("import_cases", *args, stdout=out)
    return out.getvalue()


def write(tmp_path, rows, encoding):
    data, name = encode(rows, encoding)
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# --- reading --------------------------------------------------------------------------------------


def test_encodings_are_detected():
    text = "企业名称,统一社会信用代码\n甲公司,1\n"
    assert decode_csv(text.encode("gb18030")) == (text, "gb18030")
    assert decode_csv(text.encode("gbk")) == (text, "gb18030")
    assert decode_csv(text.encode("utf-8")) == (text, "utf-8")
    assert decode_csv(text.encode("utf-8-sig")) == (text, "utf-8-sig")


# --- good, bad and mixed files in every encoding, through the command ------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_good_file_dry_run_writes_nothing_then_imports_with_history(world, tmp_path, encoding):
    path = write(
        tmp_path,
        [
            good_row(1),
            good_row(
                2, 当前阶段="已上线", 柜台UKey发放日期="2026-03-25", 生产验证日期="2026-03-27", 上线日期="2026-03-30"
            ),
        ],
        encoding,
    )
    before = table_counts()
    out = run_command(path, "--dry-run", "--as", "supervisor")
    assert changed(before, table_counts()) == {}
    assert "第 2 行\t有效" in out and "第 3 行\t有效" in out
    assert "共 2 行:有效 2 行,有错误 0 行" in out and "未写入任何数据" in out

    out = run_command(path, "--as", "supervisor")
    assert "已完成" in out and "已导入 2" in out
    case = OnboardingCase.objects.get(enterprise__name="导入测试1号科技有限公司")
    assert case.state == State.JOINT_TESTING
    assert case.branch == world.branch_a and case.account_manager == world.am_a
    assert case.enterprise.accounts.count() == 2
    visits = list(StageVisit.objects.filter(case=case).order_by("entered_at"))
    assert [v.stage for v in visits] == [
        State.BRANCH_INTAKE,
        State.HEAD_OFFICE_APPROVAL,
        State.TEST_PACKAGE_ISSUANCE,
        State.JOINT_TESTING,
    ]
    assert [v.entered_at.date().isoformat() for v in visits] == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-20"]
    assert visits[0].left_at == visits[1].entered_at and visits[-1].left_at is None
    assert case.current_visit == visits[-1]
    history = list(case.events.order_by("created_at", "pk"))
    assert [e.name for e in history] == [EventName.STAGE_IMPORTED] * 4 + [EventName.CASE_IMPORTED]
    assert all(e.data["imported"] and e.data["row"] == 2 and e.actor == world.supervisor for e in history)
    assert history[0].created_at.date().isoformat() == "2026-03-02"
    live = OnboardingCase.objects.get(enterprise__name="导入测试2号科技有限公司")
    assert live.state == State.LIVE and live.current_visit is None
    assert live.visits.count() == 6 and not live.visits.filter(left_at__isnull=True).exists()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_bad_file_names_every_error_by_row_and_column_and_writes_nothing(world, tmp_path, encoding):
    path = write(tmp_path, [bad_row(1), bad_row(2)], encoding)
    before = table_counts()
    out = run_command(path, "--dry-run", "--as", "supervisor")
    assert changed(before, table_counts()) == {}
    for expected in (
        "统一社会信用代码:统一社会信用代码校验位不正确,请与营业执照核对",
        "法定代表人身份证号:居民身份证号校验位不正确",
        "结算账号:12ab:账号应为8至32位数字",
        "功能模块:无法识别的功能模块:外汇交易",
        "测试包下发日期:",
    ):
        assert out.count(expected) == 2, expected
    assert "第 2 行\t有错误" in out and "第 3 行\t有错误" in out

    with pytest.raises(CommandError, match="没有可导入的有效行"):
        run_command(path, "--as", "supervisor", "--valid-only")
    after = changed(before, table_counts())
    assert set(after) == {"transfers_importjob"}, after  # the file and its check are kept, nothing else
    assert not Enterprise.objects.filter(name__startswith="导入测试").exists()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_mixed_file_imports_nothing_unless_valid_rows_only_is_chosen(world, tmp_path, encoding):
    path = write(tmp_path, [good_row(1), bad_row(2), good_row(3)], encoding)
    before = table_counts()
    with pytest.raises(CommandError, match="仅导入有效行"):
        run_command(path, "--as", "supervisor")
    assert set(changed(before, table_counts())) == {"transfers_importjob"}
    assert not OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").exists()

    out = run_command(path, "--as", "supervisor", "--valid-only")
    assert "第 3 行\t已跳过(有错误)" in out
    assert sorted(
        OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").values_list(
            "enterprise__name", flat=True
        )
    ) == [
        "导入测试1号科技有限公司",
        "导入测试3号科技有限公司",
    ]
    job = ImportJob.objects.latest("created_at")
    assert (job.status, job.mode, job.imported_rows, job.invalid_rows) == ("done", "valid_only", 2, 1)
    assert job.created_by == world.supervisor and job.size > 0 and len(job.sha256) == 64


def test_history_rules(world, tmp_path):
    rows = [
        good_row(1, 总行立项审批日期=""),  # a passed stage without its date
        good_row(2, 测试包下发日期="2026-03-01"),  # before the previous stage
        good_row(3, 柜台UKey发放日期="2026-03-25"),  # a stage after the current one
        good_row(4, 当前阶段="已暂停"),
        good_row(5, 联调测试日期="2099-01-01"),
    ]
    out = run_command(write(tmp_path, rows, "utf-8"), "--dry-run", "--as", "supervisor")
    assert "总行立项审批日期:已经历的阶段须填写进入日期" in out
    assert "测试包下发日期:日期早于上一阶段的日期" in out
    assert "柜台UKey发放日期:当前阶段之后的阶段不应填写日期" in out
    assert "当前阶段:“已暂停”不是可导入的阶段" in out
    assert "联调测试日期:日期不能晚于今天" in out


def test_the_intake_forms_rules_apply(world, tmp_path):
    other = "李四"
    rows = [
        good_row(1, 经办人=other, 经办人身份证号=good_row(1)["法定代表人身份证号"]),  # one ID, two names
        good_row(2, 经办人=other, 经办人身份证号="11010519491231002X"),  # handler ≠ legal rep, no authorisation
        good_row(3, 结算账号=";".join(f"62229000{k:06d}" for k in range(11))),
        good_row(4, 结算账号="6222900000000001;6222900000000001"),
        good_row(5, 统一社会信用代码=good_row(1)["统一社会信用代码"]),
    ]
    out = run_command(write(tmp_path, rows, "utf-8"), "--dry-run", "--as", "supervisor")
    assert "同一身份证号只能是同一人" in out
    assert "授权委托书到期日:经办人不是法定代表人时,须提供法人授权委托书的有效期" in out
    assert "结算账号:每次注册最多登记10个账户" in out
    assert "结算账号:同一账号不能重复登记" in out
    assert "统一社会信用代码:与第 2 行的统一社会信用代码重复" in out


def test_file_problems(world, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("企业名称,外币\n甲,1\n".encode())
    out = run_command(str(path), "--dry-run", "--as", "supervisor")
    assert "无法识别的列:外币" in out and "缺少必填列:统一社会信用代码" in out
    path.write_bytes(b"\xff\xfe\x00\x81\x30")
    assert "无法识别文件编码" in run_command(str(path), "--dry-run", "--as", "supervisor")


# --- scope ---------------------------------------------------------------------------------------


def test_another_branchs_account_manager_branch_and_company_are_refused(world, tmp_path):
    rows = [
        good_row(1, manager="am_b"),  # account manager of the other tier-1 branch
        good_row(2, 受理机构号="B"),
        good_row(3, 统一社会信用代码=world.company_y.uscc),  # a company of the other branch
        good_row(4, 统一社会信用代码=world.company_x.uscc),  # a company of our own branch
    ]
    out = run_command(write(tmp_path, rows, "utf-8"), "--dry-run", "--as", "supervisor")
    assert "客户经理:“am_b”不是您管辖范围内在岗的客户经理" in out
    assert "受理机构号:机构号“B”不存在或不在您的管辖范围内" in out
    assert "统一社会信用代码:该企业已在其他机构登记,请联系其开户机构" in out
    assert "统一社会信用代码:该企业已登记,请在系统中直接办理" in out
    # The other branch's supervisor may import for am_b, not for am_a.
    out = run_command(
        write(tmp_path, [good_row(5, manager="am_b"), good_row(6)], "utf-8"), "--dry-run", "--as", "supervisor_other"
    )
    assert "第 2 行\t有效" in out and "客户经理:“am_a”不是您管辖范围内在岗的客户经理" in out
    # An inactive account manager is no account manager.
    world.am_a2.is_active = False
    world.am_a2.save()
    out = run_command(write(tmp_path, [good_row(7, manager="am_a2")], "utf-8"), "--dry-run", "--as", "supervisor")
    assert "“am_a2”不是您管辖范围内在岗的客户经理" in out


def test_only_supervisors_and_head_office_import(world, tmp_path):
    path = write(tmp_path, [good_row(1)], "utf-8")
    for username in ("am_a", "tech", "maker", "auditor", "customer_x"):
        with pytest.raises(CommandError, match="只有分行审核岗和总行可以导入案件"):
            run_command(path, "--dry-run", "--as", username)
    assert "第 2 行\t有效" in run_command(path, "--dry-run", "--as", "approver")
    with pytest.raises(CommandError, match="导入机构不在您的管辖范围内"):
        run_command(path, "--dry-run", "--as", "supervisor", "--branch", "B")


# --- the page --------------------------------------------------------------------------------------


def upload(client, rows, encoding="gb18030", branch=None):
    page = client.get(reverse("transfers:import"))
    assert page.status_code == 200
    form = form_with(page.content.decode(), "file")
    fields: dict = browser_post_data(form)
    if branch is not None:
        fields["branch"] = [branch]
    data, name = encode(rows, encoding)
    fields["file"] = SimpleUploadedFile(name, data)
    return client.post(form.action or reverse("transfers:import"), fields, follow=True)


def test_page_upload_check_and_import_valid_rows_only(world, client):
    client.force_login(world.supervisor)
    before = table_counts()
    result = upload(client, [good_row(1), bad_row(2), good_row(3)])
    html = result.content.decode()
    assert result.status_code == 200 and "导入检查结果" in html
    assert set(changed(before, table_counts())) == {"transfers_importjob"}
    assert "统一社会信用代码</span>:统一社会信用代码校验位不正确" in html
    assert "编码:gb18030" in html
    assert html.count("有效,可导入") == 2
    assert "导入全部" not in html
    job = ImportJob.objects.get()
    forms = [f for f in page_forms(html) if "start" in f.action]
    assert [c.value for f in forms for c in f.controls if c.name == "mode"] == ["valid_only"]
    # A post for "all" of a file with errors is refused, whatever the page offered.
    refused = client.post(reverse("transfers:job_start", args=[job.public_id]), {"mode": "all"}, follow=True)
    assert "文件中有错误的行" in refused.content.decode()
    assert not OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").exists()

    done = client.post(forms[0].action, {c.name: c.value for c in forms[0].controls}, follow=True)
    html = done.content.decode()
    assert "已导入 2 个案件" in html and html.count("已导入") >= 2 and "已跳过(有错误)" in html
    case = OnboardingCase.objects.get(enterprise__name="导入测试1号科技有限公司")
    assert case.reference in html
    # Once done the file cannot be imported again.
    again = client.post(forms[0].action, {"mode": "valid_only"}, follow=True)
    assert "该文件已处理" in again.content.decode()
    # The imported case reads as imported on its page, for its account manager.
    client.force_login(world.am_a)
    page = client.get(reverse("case_detail", args=[case.public_id])).content.decode()
    assert "导入的历史阶段" in page and "批量导入案件" in page


def test_page_import_of_an_all_valid_xlsx(world, client):
    client.force_login(world.approver)
    html = upload(client, [good_row(1), good_row(2)], "xlsx").content.decode()
    form = next(f for f in page_forms(html) if "start" in f.action)
    assert [c.value for c in form.controls if c.name == "mode"] == ["all"]
    done = client.post(form.action, {c.name: c.value for c in form.controls}, follow=True).content.decode()
    assert "已导入 2 个案件" in done
    assert (
        OnboardingCase.objects.filter(enterprise__name__startswith="导入测试", created_by=world.approver).count() == 2
    )


def test_page_refuses_whoever_is_not_an_importer(world, client):
    for user in (world.am_a, world.tech, world.maker, world.auditor, world.customer_x):
        client.force_login(user)
        for url in (reverse("transfers:import"), reverse("transfers:template_csv")):
            response = client.get(url)
            if user.enterprise_id:  # a customer is sent to the portal
                assert response.status_code == 302 and response["Location"] == "/portal/start/"
            else:
                assert response.status_code == 403
    client.force_login(world.supervisor)
    assert client.get(reverse("transfers:import")).status_code == 200
    job = services.import_job_create(user=world.supervisor, data=encode([good_row(1)], "utf-8")[0], name="a.csv")
    # Another importer cannot open, nor start, someone else's import.
    client.force_login(world.supervisor_other)
    assert client.get(reverse("transfers:job", args=[job.public_id])).status_code == 404
    assert client.post(reverse("transfers:job_start", args=[job.public_id]), {"mode": "all"}).status_code == 404


def test_upload_branch_choices_are_the_subtree(world, client):
    client.force_login(world.supervisor)
    page = client.get(reverse("transfers:import")).content.decode()
    select = next(c for f in page_forms(page) for c in f.controls if c.name == "branch")
    assert sorted(v for v, _s in select.options) == sorted(str(b.pk) for b in (world.tier1, world.branch_a))
    result = upload(client, [good_row(1)], branch=str(world.branch_b.pk))
    assert "导入检查结果" not in result.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_templates_have_chinese_headers_and_check_as_a_file(world, client, fmt):
    from transfers.reading import read_table

    client.force_login(world.supervisor)
    body = client.get(reverse(f"transfers:template_{fmt}")).content
    table = read_table(body, name=f"t.{fmt}", max_rows=10)
    assert table.headers[:3] == ["企业名称", "统一社会信用代码", "注册地址"]
    assert len(table.rows) == 1


# --- large files: the background job ----------------------------------------------------------------


def test_a_large_file_is_checked_then_imported_in_the_background_with_progress(
    world, client, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_INLINE_ROWS = 5
    settings.IMPORT_CHUNK_ROWS = 4
    settings.IMPORT_CHECK_CHUNK_ROWS = 4
    rows = [good_row(n) for n in range(1, 10)] + [bad_row(10)]
    client.force_login(world.supervisor)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = services.import_job_create(user=world.supervisor, data=encode(rows, "utf-8-sig")[0], name="big.csv")
    assert job.status == "checking" and len(queued) == 1 and job.report["rows"] == []

    # The check runs in chunks too (as a worker would run them); its progress is on the page.
    assert services.check_chunk_run(job_id=job.pk) is True
    page = client.get(reverse("transfers:job", args=[job.public_id])).content.decode()
    assert "检查中" in page and "已处理 4 / 10 行" in page and "后台检查中" in page
    assert '<meta http-equiv="refresh" content="3">' in page and "<script" not in page
    with django_capture_on_commit_callbacks(execute=True):
        queued[0]()
    job.refresh_from_db()
    assert (job.status, job.valid_rows, job.invalid_rows, job.processed_rows) == ("checked", 9, 1, 0)
    assert [r["row"] for r in job.report["rows"]] == list(range(2, 12))
    with pytest.raises(services.ImportRefused, match="仅导入有效行"):
        services.import_job_start(job=job, user=world.supervisor, mode="all")

    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = services.import_job_start(job=job, user=world.supervisor, mode="valid_only")
    assert job.status == "queued" and len(queued) == 1
    assert not OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").exists()

    # One chunk of the import: progress is on the page, which refreshes itself.
    assert services.import_chunk_run(job_id=job.pk) is True
    page = client.get(reverse("transfers:job", args=[job.public_id])).content.decode()
    assert "已处理 4 / 10 行" in page and "后台导入中" in page and 'http-equiv="refresh"' in page

    # The queued task (eager here) runs the rest, each chunk enqueuing the next on commit.
    with django_capture_on_commit_callbacks(execute=True):
        queued[0]()
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.imported_rows, job.failed_rows) == ("done", 10, 9, 0)
    assert OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").count() == 9
    # A redelivered task finds nothing left to do and imports nothing twice.
    assert services.import_chunk_run(job_id=job.pk) is False
    assert services.check_chunk_run(job_id=job.pk) is False
    assert OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").count() == 9
    page = client.get(reverse("transfers:job", args=[job.public_id])).content.decode()
    assert 'http-equiv="refresh"' not in page and "已跳过(有错误)" in page


def test_a_row_that_became_invalid_before_its_chunk_is_recorded_as_failed(
    world, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_INLINE_ROWS = 1
    settings.IMPORT_CHUNK_ROWS = 2
    rows = [good_row(n) for n in range(1, 4)]
    with django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_create(user=world.supervisor, data=encode(rows, "utf-8")[0], name="big.csv")
    job.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        job = services.import_job_start(job=job, user=world.supervisor, mode="all")
    # Meanwhile someone registers the third row's company.
    from tests.factories import enterprise

    taken = enterprise(world.branch_a)
    Enterprise.objects.filter(pk=taken.pk).update(uscc=good_row(3)["统一社会信用代码"])
    while services.import_chunk_run(job_id=job.pk):
        pass
    job.refresh_from_db()
    assert (job.imported_rows, job.failed_rows) == (2, 1)
    failed = [r for r in job.report["rows"] if r["fate"] == "failed"]
    assert failed[0]["row"] == 4 and "该企业已登记" in failed[0]["errors"][0]["message"]


def test_inline_import_is_all_or_nothing(world, monkeypatch):
    """In the request (small files), a row that fails at write time leaves nothing imported."""
    rows = [good_row(1), good_row(2)]
    job = services.import_job_create(user=world.supervisor, data=encode(rows, "utf-8")[0], name="a.csv")
    real = services.case_create_imported
    calls = []

    def second_fails(**kwargs):
        calls.append(kwargs["source"]["row"])
        if len(calls) == 2:
            raise services.CaseError("模拟失败")
        return real(**kwargs)

    monkeypatch.setattr(services, "case_create_imported", second_fails)
    before = OnboardingCase.objects.count(), Enterprise.objects.count(), CaseEvent.objects.count()
    job = services.import_job_start(job=job, user=world.supervisor, mode="all")
    assert job.status == "refused" and calls == [2, 3]
    assert (OnboardingCase.objects.count(), Enterprise.objects.count(), CaseEvent.objects.count()) == before
    assert "第 3 行导入失败,整个文件未导入" in job.report["file"][0]


def test_the_kept_file_is_checked_against_its_hash(world):
    from django.core.files.storage import storages

    job = services.import_job_create(user=world.supervisor, data=encode([good_row(1)], "utf-8")[0], name="a.csv")
    with storages["documents"].open(job.stored_name, "wb") as f:
        f.write(encode([good_row(2)], "utf-8")[0])
    with pytest.raises(services.ImportRefused, match="校验值不符"):
        services.import_job_start(job=job, user=world.supervisor, mode="all")


def test_command_resume_finishes_a_check_then_an_import_left_behind(
    world, settings, django_capture_on_commit_callbacks
):
    """A broker that was down when the job was committed: the command does what the worker would have."""
    settings.IMPORT_INLINE_ROWS = 1
    data = encode([good_row(1), good_row(2)], "utf-8")[0]
    with django_capture_on_commit_callbacks(execute=False):
        job = services.import_job_create(user=world.supervisor, data=data, name="a.csv")
    run_command("--resume", str(job.public_id))
    job.refresh_from_db()
    assert job.status == "checked" and job.valid_rows == 2
    with django_capture_on_commit_callbacks(execute=False):
        services.import_job_start(job=job, user=world.supervisor, mode="all")
    out = run_command("--resume", str(job.public_id))
    assert "已完成" in out and re.search(r"已导入 2", out)


def test_the_command_checks_and_imports_a_large_file_itself(world, tmp_path, settings):
    settings.IMPORT_INLINE_ROWS = 2
    settings.IMPORT_CHUNK_ROWS = 2
    settings.IMPORT_CHECK_CHUNK_ROWS = 2
    out = run_command(write(tmp_path, [good_row(n) for n in range(1, 6)], "xlsx"), "--as", "supervisor")
    assert "已完成" in out and "已导入 5" in out


def test_the_import_pages_in_english_and_without_english_in_chinese(world, client):
    from tests.test_i18n import _english, _get, chinese_labels, english_halves

    client.force_login(world.supervisor)
    job = services.import_job_create(
        user=world.supervisor, data=encode([good_row(1), bad_row(2)], "utf-8")[0], name="a.csv"
    )
    pages = (reverse("transfers:import"), reverse("transfers:job", args=[job.public_id]))
    for url in pages:
        assert english_halves(client.get(url).content.decode()) == [], url
    _english(client)
    for url in pages:
        page = _get(client, url)
        assert '<html lang="en">' in page and chinese_labels(page) == [], url
    assert "Import valid rows only" not in page and "Import only the 1 valid rows" in page


# --- the background path on the delivery kernel (transfers.services.ImportChannel) ---------------


def _broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from kombu.exceptions import OperationalError

    from delivery.channels import send_rows

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("broker unreachable")

    monkeypatch.setattr(send_rows, "apply_async", down)


def test_a_large_import_left_by_a_broker_that_was_down_is_finished_by_the_flush(
    world, settings, monkeypatch, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.utils import timezone
    from freezegun import freeze_time

    settings.IMPORT_INLINE_ROWS = settings.IMPORT_CHUNK_ROWS = settings.IMPORT_CHECK_CHUNK_ROWS = 3
    data = encode([good_row(n) for n in range(1, 8)], "utf-8-sig")[0]
    stalled = dt.timedelta(seconds=settings.IMPORT_STALL_SECONDS + 1)
    t0 = timezone.now()
    with monkeypatch.context() as m:
        _broker_down(m)
        with freeze_time(t0), django_capture_on_commit_callbacks(execute=True):
            job = services.import_job_create(user=world.supervisor, data=data, name="big.csv")
    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("checking", 0)  # saved; its first chunk never queued
    with freeze_time(t0 + dt.timedelta(seconds=30)):
        assert services.ImportChannel().due_ids(timezone.now()) == []  # a worker may still have it
    with freeze_time(t0 + stalled), django_capture_on_commit_callbacks(execute=True):
        assert flush(services.ImportChannel) == 1  # the beat entry's work; each chunk queues the next
    job.refresh_from_db()
    assert (job.status, job.valid_rows) == ("checked", 7)

    with monkeypatch.context() as m:
        _broker_down(m)
        with freeze_time(t0 + stalled), django_capture_on_commit_callbacks(execute=True):
            job = services.import_job_start(job=job, user=world.supervisor, mode="all")
    assert job.status == "queued"
    with freeze_time(t0 + 2 * stalled + dt.timedelta(seconds=1)), django_capture_on_commit_callbacks(execute=True):
        assert flush(services.ImportChannel) == 1
    job.refresh_from_db()
    assert (job.status, job.imported_rows, job.attempts) == ("done", 7, 0)
    assert OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").count() == 7


def test_a_chunk_that_keeps_failing_is_retried_with_back_off_then_the_job_is_given_up(
    world, settings, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.core.files.base import ContentFile
    from django.core.files.storage import storages
    from django.utils import timezone
    from freezegun import freeze_time

    settings.IMPORT_INLINE_ROWS = settings.IMPORT_CHUNK_ROWS = settings.IMPORT_CHECK_CHUNK_ROWS = 3
    data = encode([good_row(n) for n in range(1, 8)], "utf-8-sig")[0]
    with django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_create(user=world.supervisor, data=data, name="big.csv")
    # The kept file is altered behind the job's back: its SHA-256 no longer matches.
    storage = storages["documents"]
    storage.delete(job.stored_name)
    storage.save(job.stored_name, ContentFile(data + b"\n"))
    t0 = timezone.now()
    with freeze_time(t0), django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_start(job=job, user=world.supervisor, mode="all")
    job.refresh_from_db()
    assert (job.status, job.attempts, job.imported_rows) == ("queued", 1, 0)
    assert "校验值不符" in job.last_error and job.next_attempt_at == t0 + dt.timedelta(seconds=60)
    for later in (60, 360, 2160):  # 1 min, then 5 min, then 30 min after each attempt
        with freeze_time(t0 + dt.timedelta(seconds=later - 1)):
            assert flush(services.ImportChannel) == 0
        with freeze_time(t0 + dt.timedelta(seconds=later)):
            assert flush(services.ImportChannel) == 1
    job.refresh_from_db()
    assert job.attempts == services.ImportChannel.max_attempts() == 4
    assert job.status == "refused" and job.given_up_at is not None and job.finished_at is not None
    assert any("校验值不符" in message for message in job.report["file"])
    assert not OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").exists()
