"""`manage.py import_cases FILE [--links] [--dry-run] [--branch CODE] --as USERNAME [--valid-only]`, and `--resume JOB`
(finishes the check or the import of a job left by a worker or a broker that was down)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation

from branches.models import Branch
from transfers import services
from transfers.models import ImportJob, RowFate


class Command(BaseCommand):
    help = "导入企业与案件(CSV 或 .xlsx);--dry-run 只检查,不写入任何数据"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="CSV (UTF-8, UTF-8 with BOM, GB18030/GBK) or .xlsx")
        parser.add_argument("--links", action="store_true", help="the file lists live links, not cases")
        parser.add_argument("--dry-run", action="store_true", help="check every row and write nothing")
        parser.add_argument("--branch", help="code of the branch whose subtree is imported into (default: the user's)")
        parser.add_argument("--as", dest="username", help="the supervisor or head-office user who imports")
        parser.add_argument("--valid-only", action="store_true", help="import the valid rows, skip those with errors")
        parser.add_argument("--resume", metavar="JOB", help="run what is left of a queued import job (its uuid)")

    def handle(self, *args: Any, **options: Any) -> None:
        translation.activate("zh-hans")
        if options["resume"]:
            self._resume(options["resume"])
            return
        if not options["file"] or not options["username"]:
            raise CommandError("需要导入文件和 --as 用户名")
        user = get_user_model().objects.filter(username=options["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"没有在岗用户 {options['username']}")
        branch = None
        if options["branch"]:
            branch = Branch.objects.filter(code=options["branch"]).first()
            if branch is None:
                raise CommandError(f"没有机构号 {options['branch']}")
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"无法读取 {path}: {exc}") from None
        kind = ImportJob.Kind.LINKS if options["links"] else ImportJob.Kind.CASES
        try:
            if options["dry_run"]:
                self._report(services.file_check(user=user, data=data, name=path.name, branch=branch, kind=kind))
                return
            job = services.import_job_create(user=user, data=data, name=path.name, branch=branch, kind=kind)
            while services.check_chunk_run(job_id=job.pk):
                pass  # a large file: check it here rather than wait for a worker
            job.refresh_from_db()
            self._report_job(job)
            if job.status != ImportJob.Status.CHECKED:
                raise CommandError("文件未通过检查,未导入")
            mode = ImportJob.Mode.VALID_ONLY if options["valid_only"] else ImportJob.Mode.ALL
            job = services.import_job_start(job=job, user=user, mode=mode)
            while job.is_running and services.import_chunk_run(job_id=job.pk):
                job.refresh_from_db()  # a large file from the command line: run the chunks here
            job.refresh_from_db()
        except services.ImportRefused as exc:
            raise CommandError(exc.message) from None
        self._report_job(job, fates=True)
        if job.status != ImportJob.Status.DONE:
            raise CommandError("导入未完成")

    def _resume(self, public_id: str) -> None:
        job = ImportJob.objects.filter(public_id=public_id).first()
        if job is None:
            raise CommandError(f"没有导入批次 {public_id}")
        while services.check_chunk_run(job_id=job.pk):
            pass
        while services.import_chunk_run(job_id=job.pk):
            pass
        job.refresh_from_db()
        self._report_job(job, fates=True)

    def _line(self, row: int, fate: str, errors: list[tuple[str, str]], summary: str) -> None:
        self.stdout.write(f"第 {row} 行\t{fate}\t{summary}")
        for column, message in errors:
            self.stdout.write(f"    {column or '—'}:{message}")

    def _report(self, check: services.FileCheck) -> None:
        for problem in check.problems:
            self.stdout.write(f"文件:{problem}")
        for r in check.rows:
            self._line(r.row, "有效" if r.ok else "有错误", r.errors, r.summary())
        self.stdout.write(
            f"共 {len(check.rows)} 行:有效 {len(check.valid)} 行,有错误 {len(check.invalid)} 行。"
            "试运行(--dry-run):未写入任何数据。"
        )

    def _report_job(self, job: ImportJob, *, fates: bool = False) -> None:
        for problem in job.report.get("file", []):
            self.stdout.write(f"文件:{problem}")
        if fates:
            for r in job.report.get("rows", []):
                errors = [(e["column"], e["message"]) for e in r.get("errors", [])]
                summary = f"案件 {r['case']}" if r.get("case") else r.get("summary", "")
                summary = f"直联服务 {r['link']}" if r.get("link") else summary
                self._line(
                    r["row"], str(dict(RowFate.choices).get(r.get("fate", ""), r.get("fate", ""))), errors, summary
                )
        self.stdout.write(
            f"导入批次 {job.public_id}:{job.get_status_display()};共 {job.total_rows} 行,有效 {job.valid_rows},"  # type: ignore[attr-defined]
            f"有错误 {job.invalid_rows},已导入 {job.imported_rows},失败 {job.failed_rows}"
        )
