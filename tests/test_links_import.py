"""Import of a bank's live links from its spreadsheet (issue 22): through the real import page,
check first (counts and every error by row and column), then import; idempotent by company and
production endpoint; scope; the template's own example row imports cleanly."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from casetypes import declaration
from links.models import LinkEvent, LinkStatus, LiveLink
from onboarding.models import OnboardingCase
from onboarding.states import State
from tests.html_forms import browser_post_data, form_with, page_forms
from tests.transfers_helpers import changed, encode, good_row, table_counts
from transfers import services
from transfers.links import COLUMNS
from transfers.models import ImportJob

pytestmark = pytest.mark.django_db

HEADERS = [c.header for c in COLUMNS]


def live_cases(world, ns, *, user=None, **over):
    """Cases already live, brought in by the case import with their history (the real path)."""
    live = {
        "当前阶段": str(declaration.state_label(State.LIVE)),
        "柜台UKey发放日期": "2026-03-25",
        "生产验证日期": "2026-03-30",
        "上线日期": "2026-04-02",
    }
    data, name = encode([good_row(n, **live, **over) for n in ns], "utf-8")
    user = user or world.supervisor
    job = services.import_job_create(user=user, data=data, name=name)
    job = services.import_job_start(job=job, user=user, mode=ImportJob.Mode.ALL)
    assert job.status == ImportJob.Status.DONE and job.imported_rows == len(ns), job.report
    cases = list(OnboardingCase.objects.filter(enterprise__name__startswith="导入测试").order_by("pk"))
    assert all(c.state == State.LIVE for c in cases)
    assert not LiveLink.objects.exists()  # an imported live case has no link yet
    return cases


def link_row(case, n, **over):
    row = {
        "统一社会信用代码": case.enterprise.uscc,
        "企业名称": case.enterprise.name,
        "账号及权限": f"62229000{n:06d}(查询/支付);62229001{n:06d}(查询)",
        "功能模块": "账户查询;指令支付(单笔)",
        "生产地址": f"https://dl{n}.example.com:8443/bank",
        "前置机证书序列号": f"4A3F{n:012d}",
        "证书到期日": "2027-06-30",
        "操作员": f"李四/录入(制单)/K{n:09d}1/310104198001010025;王五/复核/K{n:09d}2/310104198001010033",
        "上线日期": "2026-04-02",
        "受理机构号": "",
        "服务状态": "正常",
    }
    row.update(over)
    return row


def link_file(rows) -> tuple[bytes, str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow([row.get(h, "") for h in HEADERS])
    return buf.getvalue().encode("gb18030"), "links.csv"


def upload(client, data, name):
    page = client.get(reverse("transfers:import_links"))
    assert page.status_code == 200 and "批量导入直联服务" in page.content.decode()
    form = form_with(page.content.decode(), "file")
    fields: dict = browser_post_data(form)
    fields["file"] = SimpleUploadedFile(name, data)
    return client.post(form.action or reverse("transfers:import_links"), fields, follow=True)


def start(client, html):
    forms = [f for f in page_forms(html) if "start" in f.action]
    assert len(forms) == 1
    return client.post(forms[0].action, {c.name: c.value for c in forms[0].controls}, follow=True).content.decode()


def test_dry_run_shows_counts_and_errors_then_the_real_run_creates_the_links(world, client):
    cases = live_cases(world, [1, 2, 3])
    client.force_login(world.supervisor)
    bad = link_row(
        cases[1],
        2,
        账号及权限="12ab;62229000000002(转账)",
        操作员="赵七/出纳/K1/310104198001010025",
        证书到期日="2027-02-30",
        服务状态="已注销",
    )
    before = table_counts()
    html = upload(client, *link_file([link_row(cases[0], 1), bad, link_row(cases[2], 3)])).content.decode()
    # The check: counts, every error by column in Chinese, and nothing written but the job.
    assert "导入检查结果" in html and html.count("有效,可导入") == 2
    assert "“12ab”不是有效的账号" in html and "权限只能是“查询”或“支付”:转账" in html
    assert "操作员 赵七 的角色“出纳”不存在" in html
    assert "证书到期日" in html and "只能导入状态为“正常”或“已暂停”的直联服务" in html
    assert set(changed(before, table_counts())) == {"transfers_importjob"}
    job = ImportJob.objects.get(kind=ImportJob.Kind.LINKS)
    assert (job.total_rows, job.valid_rows, job.invalid_rows) == (3, 2, 1)

    done = start(client, html)
    assert "已导入 2 个直联服务" in done and "已跳过(有错误)" in done
    links = list(LiveLink.objects.order_by("pk"))
    assert [lk.onboarding_case for lk in links] == [cases[0], cases[2]]
    link = links[0]
    assert link.reference in done
    assert link.production_endpoint == "https://dl1.example.com:8443/bank"
    assert link.certificate_serial == f"4A3F{1:012d}" and str(link.certificate_expires_on) == "2027-06-30"
    assert link.status == LinkStatus.ACTIVE and link.branch == cases[0].branch
    assert str(link.went_live_at.date()) == "2026-04-02"
    assert sorted(link.modules) == sorted(["account_query", "payment_single"])
    accounts = {a.account_number: (a.can_query, a.can_pay) for a in link.current_accounts()}
    assert accounts == {"62229000000001": (True, True), "62229001000001": (True, False)}
    ops = {(o.name, o.role, o.ukey_serial) for o in link.current_operators()}
    assert ops == {("李四", "entry", "K0000000011"), ("王五", "review", "K0000000012")}
    event = LinkEvent.objects.get(link=link)
    assert event.name == LinkEvent.Name.IMPORTED and event.actor == world.supervisor
    assert event.data["import_job"] == str(job.public_id) and event.data["row"] == 2

    # The link's page shows it, with its history.
    page = client.get(reverse("links:link_detail", args=[link.public_id]))
    assert page.status_code == 200 and "直联服务导入" in page.content.decode()

    # The same file again: each link already there is refused by its key, nothing written twice.
    again = upload(client, *link_file([link_row(cases[0], 1), link_row(cases[2], 3)])).content.decode()
    assert again.count(f"该直联服务已存在(服务编号 {link.reference}),不重复导入") == 1
    assert "没有可导入的有效行" in again
    assert LiveLink.objects.count() == 2


def test_a_link_twice_in_one_file_and_a_company_without_a_live_case_are_refused(world, client):
    cases = live_cases(world, [1])
    client.force_login(world.approver)
    rows = [link_row(cases[0], 1), link_row(cases[0], 1), link_row(cases[0], 4, 统一社会信用代码=world.company_x.uscc)]
    html = upload(client, *link_file(rows)).content.decode()
    assert "与第 2 行是同一直联服务(同一企业、同一生产地址)" in html
    assert "该企业没有已上线且尚未建立直联服务的开通案件" in html
    assert not LiveLink.objects.exists()


def test_another_branchs_rows_are_refused_for_a_branch_scoped_importer(world, client):
    cases = live_cases(world, [1])  # a company of branch A (tier 1)
    client.force_login(world.supervisor_other)  # the other tier-1 branch
    html = upload(client, *link_file([link_row(cases[0], 1)])).content.decode()
    assert "该企业已在其他机构登记,请联系其开户机构" in html and "有效,可导入" not in html
    client.force_login(world.supervisor)
    html = upload(client, *link_file([link_row(cases[0], 1, 受理机构号="B")])).content.decode()
    assert "机构号不存在或不在导入机构辖内" in html
    assert not LiveLink.objects.exists()


def test_only_importers_reach_the_page(world, client):
    client.force_login(world.am_a)
    assert client.get(reverse("transfers:import_links")).status_code == 403
    assert client.get(reverse("transfers:links_template_csv")).status_code == 403


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_templates_example_row_imports_cleanly(world, client, fmt):
    example = next(c.example for c in COLUMNS if c.header == "统一社会信用代码")
    live_cases(world, [1], 统一社会信用代码=example)
    client.force_login(world.supervisor)
    page = client.get(reverse("transfers:import_links")).content.decode()
    url = reverse(f"transfers:links_template_{fmt}")
    assert url in page
    body = client.get(url).content
    html = upload(client, body, f"template.{fmt}").content.decode()
    assert "有效,可导入" in html and "有错误的行" in html
    job = ImportJob.objects.get(kind=ImportJob.Kind.LINKS)
    assert (job.valid_rows, job.invalid_rows) == (1, 0), job.report
    done = start(client, html)
    assert "已导入 1 个直联服务" in done
    assert LiveLink.objects.get().enterprise.uscc == example


def test_the_link_import_pages_in_english_and_without_english_in_chinese(world, client):
    from tests.test_i18n import _english, _get, chinese_labels, english_halves

    cases = live_cases(world, [1])
    client.force_login(world.supervisor)
    data, name = link_file(
        [
            link_row(cases[0], 1),
            link_row(cases[0], 2, 生产地址="https://other.example.com", 账号及权限="12ab", 操作员="x"),
        ]
    )
    job = services.import_job_create(user=world.supervisor, data=data, name=name, kind=ImportJob.Kind.LINKS)
    assert (job.valid_rows, job.invalid_rows) == (1, 1)
    pages = (reverse("transfers:import_links"), reverse("transfers:job", args=[job.public_id]))
    for url in pages:
        assert english_halves(client.get(url).content.decode()) == [], url
    _english(client)
    for url in pages:
        page = _get(client, url)
        assert '<html lang="en">' in page and chinese_labels(page) == [], url
    assert "Import direct links" in page  # the row errors are kept in Chinese, as for the case import


def test_a_large_file_is_checked_then_imported_in_chunks_through_the_delivery_kernel(
    world, client, settings, django_capture_on_commit_callbacks
):
    from delivery.channels import flush

    cases = live_cases(world, [1, 2, 3, 4])
    settings.IMPORT_INLINE_ROWS = 2
    settings.IMPORT_CHUNK_ROWS = 2
    settings.IMPORT_CHECK_CHUNK_ROWS = 2
    rows = [link_row(c, n) for n, c in enumerate(cases, start=1)] + [link_row(cases[0], 9, 账号及权限="12ab")]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = services.import_job_create(
            user=world.supervisor, data=link_file(rows)[0], name="big.csv", kind=ImportJob.Kind.LINKS
        )
    assert job.status == "checking" and len(queued) == 1
    with django_capture_on_commit_callbacks(execute=True):
        queued[0]()
    job.refresh_from_db()
    assert (job.status, job.valid_rows, job.invalid_rows) == ("checked", 4, 1)
    # The broker lost the first chunk's task: the flush of the delivery kernel queues it again.
    with django_capture_on_commit_callbacks(execute=False):
        job = services.import_job_start(job=job, user=world.supervisor, mode="valid_only")
    assert job.status == "queued" and not LiveLink.objects.exists()
    assert services.import_chunk_run(job_id=job.pk) is True
    assert LiveLink.objects.count() == 2
    ImportJob.objects.filter(pk=job.pk).update(next_attempt_at=job.next_attempt_at.replace(year=2000))
    with django_capture_on_commit_callbacks(execute=True):
        flush(services.ImportChannel)
    job.refresh_from_db()
    assert (job.status, job.imported_rows, job.failed_rows) == ("done", 4, 0), job.report
    assert LiveLink.objects.count() == 4
    assert services.import_chunk_run(job_id=job.pk) is False  # a redelivered task imports nothing twice
    assert LiveLink.objects.count() == 4
    client.force_login(world.supervisor)
    page = client.get(reverse("transfers:job", args=[job.public_id])).content.decode()
    assert page.count("直联服务 ZLFW-") == 4 and "已跳过(有错误)" in page


def test_the_command_dry_run_writes_nothing_then_imports(world, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    cases = live_cases(world, [1, 2])
    path = tmp_path / "links.csv"
    path.write_bytes(link_file([link_row(cases[0], 1), link_row(cases[1], 2, 上线日期="2099-01-01")])[0])
    out = StringIO()
    call_command("import_cases", str(path), "--links", "--dry-run", "--as", "supervisor", stdout=out)
    text = out.getvalue()
    assert "第 2 行\t有效" in text and "上线日期:上线日期不能晚于今天" in text and "未写入任何数据" in text
    assert not LiveLink.objects.exists() and not ImportJob.objects.filter(kind="links").exists()
    out = StringIO()
    call_command("import_cases", str(path), "--links", "--valid-only", "--as", "supervisor", stdout=out)
    link = LiveLink.objects.get()
    assert f"直联服务 {link.reference}" in out.getvalue() and link.onboarding_case == cases[0]


# --- the imported UKeys in the counter's register -------------------------------------------------


def _import(client, world, rows):
    client.force_login(world.supervisor)
    html = upload(client, *link_file(rows)).content.decode()
    return html, start(client, html)


def test_an_import_records_each_key_in_the_ukey_register_marked_imported(world, client):
    from counter.models import UKey

    cases = live_cases(world, [1])
    _html, done = _import(client, world, [link_row(cases[0], 1)])
    assert "已导入 1 个直联服务" in done
    link = LiveLink.objects.get()
    job = ImportJob.objects.get(kind=ImportJob.Kind.LINKS)
    keys = {k.serial: k for k in UKey.objects.filter(case=cases[0])}
    assert set(keys) == {"K0000000011", "K0000000012"}
    for op in link.current_operators():
        key = op.ukey
        assert key is not None and key == keys[op.ukey_serial]
        assert key.holder == op.name and key.operator.name == op.name
        assert key.status == UKey.Status.ACTIVATED and key.in_use
        assert str(key.expires_on) == "2027-06-30" == str(op.ukey_expires_on)
        assert key.origin == UKey.Origin.IMPORTED and key.issued_entry is None
        assert key.import_source == {
            "import_job": str(job.public_id),
            "file": "links.csv",
            "row": 2,
            "link": link.reference,
        }
    # The register on the case page says where each key came from: 导入, the file and its row.
    client.force_login(world.maker)
    page = client.get(reverse("case_detail", args=[cases[0].public_id])).content.decode()
    register = page[page.index("企业操作员与UKey登记簿") :]
    assert register.count('<span class="badge origin-imported"') == 2 and "links.csv 第 2 行" in register


def test_a_serial_already_in_the_register_or_twice_in_the_file_is_refused_in_the_check(world, client):
    from counter.models import UKey

    cases = live_cases(world, [1, 2, 3])
    issued = world.case(State.LIVE)  # gone live in the tracker: its keys were issued at the counter
    taken = UKey.objects.filter(case=issued).order_by("pk").first().serial
    rows = [
        link_row(cases[0], 1, 操作员=f"李四/录入(制单)/{taken}/310104198001010025"),
        link_row(cases[1], 2),
        link_row(cases[2], 3, 操作员="王五/复核/K0000000021/310104198001010033"),
    ]
    client.force_login(world.supervisor)
    before = table_counts()
    html = upload(client, *link_file(rows)).content.decode()
    # Refused in the check already, naming the serial; nothing written but the job.
    assert set(changed(before, table_counts())) == {"transfers_importjob"}
    assert f"K宝编号 {taken} 已在UKey登记簿中,不能重复导入" in html
    assert "K宝编号 K0000000021 与第 3 行重复" in html  # row 4 repeats row 3's key
    job = ImportJob.objects.get(kind=ImportJob.Kind.LINKS)
    assert (job.valid_rows, job.invalid_rows) == (1, 2)
    assert "已导入 1 个直联服务" in start(client, html)
    # Only the clean row went in; the key already held stays the other link's.
    assert [lk.onboarding_case for lk in LiveLink.objects.filter(enterprise__name__startswith="导入测试")] == [cases[1]]
    assert UKey.objects.get(serial=taken).case == issued
    assert UKey.objects.filter(origin=UKey.Origin.IMPORTED).count() == 2


def test_the_service_refuses_a_serial_the_register_took_after_the_check(world):
    """Two imports checked at once: the second one's write names the serial and leaves no link."""
    from counter.models import UKey
    from links.imported import link_create_imported
    from onboarding.services import CaseError

    cases = live_cases(world, [1])
    taken = UKey.objects.filter(case=world.case(State.LIVE)).first().serial
    with pytest.raises(CaseError) as refused:
        link_create_imported(
            user=world.supervisor,
            case=cases[0],
            branch=cases[0].branch,
            accounts=[{"account_number": "62229000000001", "can_query": True, "can_pay": False}],
            modules=["account_query"],
            production_endpoint="https://dl1.example.com",
            certificate_serial="4A3F1",
            certificate_expires_on=timezone.localdate() + dt.timedelta(days=400),
            operators=[{"name": "李四", "role": "entry", "ukey_serial": taken, "id_number": "310104198001010025"}],
            went_live_on=timezone.localdate(),
            status=LinkStatus.ACTIVE,
            source={"import_job": "x", "file": "f.csv", "row": 2},
        )
    assert taken in refused.value.message
    assert not LiveLink.objects.filter(onboarding_case=cases[0]).exists()


def test_imported_keys_are_reported_lost_revoked_on_termination_and_shown_expiring(world, client):
    from branches.roles import Role
    from counter.models import UKey
    from links.requests import termination
    from tests.factories import user
    from tests.html_forms import browser_post_data

    cases = live_cases(world, [1])
    soon = (timezone.localdate() + dt.timedelta(days=20)).isoformat()
    _import(client, world, [link_row(cases[0], 1, 证书到期日=soon)])
    link = LiveLink.objects.get()
    customer = user("imported_customer", Role.ENTERPRISE_USER, enterprise=cases[0].enterprise)

    # The counter's expiry list shows the imported keys running out within 30 days.
    client.force_login(world.maker)
    page = client.get("/counter/expiring/?days=30").content.decode()
    assert "K0000000011" in page and "K0000000012" in page and page.count("origin-imported") == 2
    assert "K0000000011" not in client.get("/counter/expiring/?days=10").content.decode()

    # The customer reports one lost on the portal: blocked at once.
    client.force_login(customer)
    page = client.get(f"/portal/links/{link.public_id}/").content.decode()
    form = form_with(page, "ukey")
    key = UKey.objects.get(serial="K0000000011")
    assert f'value="{key.pk}"' in page
    data = browser_post_data(form)
    data["ukey"], data["reason"] = [str(key.pk)], ["K宝遗失"]
    done = client.post(form.action, data, follow=True)
    assert any("挂失已生效" in str(m) for m in done.context["messages"])
    key.refresh_from_db()
    assert key.status == UKey.Status.LOST
    assert "已挂失" in client.get(f"/portal/links/{link.public_id}/").content.decode()

    # A termination's revocation lists the imported keys (the lost one included) until revoked.
    from links.request_services import termination_open

    request = termination_open(link=link, user=customer, reason="不再使用")
    client.force_login(world.supervisor)
    page = client.get(reverse("case_detail", args=[request.case.public_id])).content.decode()
    listed = page[page.index("该直联服务在用的UKey") :]
    assert "K0000000011" in listed and "K0000000012" in listed
    case = OnboardingCase.objects.get(pk=request.case_id)
    assert termination.all_ukeys_revoked.problems(case) == ["以下UKey尚未注销:K0000000011、K0000000012"]
