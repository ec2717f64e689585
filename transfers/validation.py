"""Checking the rows of an import file with the intake page's own forms and validators.

A row fills `onboarding.forms.EnterpriseForm` (credit code, ID numbers, the authorisation
letter, one ID number one person), the account formset (`AccountForm`: 8–32 digits; 1–10
accounts, no duplicates) and `CaseForm` (modules, target date), exactly as the intake page
does; the stage dates go through the same `DateField` and `onboarding.imported.history_problems`.
Every error is reported with the row number and the column header it belongs to, in Chinese.
Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from branches.models import Branch
from branches.roles import Role
from branches.scope import branch_in_subtree, subtree_q
from casetypes import declaration
from companies.models import Enterprise
from onboarding.form_fields import DateField
from onboarding.forms import CaseForm, EnterpriseForm, account_formset
from onboarding.imported import IMPORTABLE_STATES, history_problems
from onboarding.states import Module

from .columns import BY_HEADER, BY_KEY, COLUMNS, LIST_SEPARATORS, NO, STAGE_COLUMNS, YES
from .reading import Table

if TYPE_CHECKING:
    from accounts.models import User

ENTERPRISE_FIELDS = tuple(EnterpriseForm.base_fields)
CASE_FIELDS = ("erp_system", "connection_notes", "target_date")


@dataclass
class RowCheck:
    """One row as checked: its errors by column, or the clean values to import it with."""

    row: int
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column header, message)
    enterprise: dict[str, Any] = field(default_factory=dict)
    accounts: list[dict[str, str]] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    case_fields: dict[str, Any] = field(default_factory=dict)
    state: str = ""
    entered: dict[str, dt.date] = field(default_factory=dict)
    branch: Branch | None = None
    account_manager: Any = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, key: str, message: Any) -> None:
        self.errors.append((BY_KEY[key].header if key in BY_KEY else key, str(message)))

    def summary(self) -> str:
        if not self.ok:
            return ""
        return _("新建企业“%(name)s”及案件:%(state)s,受理机构 %(branch)s,客户经理 %(am)s") % {
            "name": self.enterprise.get("name", ""),
            "state": declaration.state_label(self.state),
            "branch": self.branch,
            "am": self.account_manager,
        }


def header_problems(headers: list[str]) -> list[str]:
    """What is wrong with the header row as a whole (unknown, repeated or missing columns)."""
    problems = []
    unknown = [h for h in headers if h and h not in BY_HEADER]
    if unknown:
        problems.append(_("无法识别的列:%(cols)s(请使用导入模板的表头)") % {"cols": "、".join(unknown)})
    # A column given twice, under the same header or under its Chinese and its English one.
    keys = [BY_HEADER[h].key for h in headers if h in BY_HEADER]
    repeated = sorted({h for h in headers if h in BY_HEADER and keys.count(BY_HEADER[h].key) > 1})
    if repeated:
        problems.append(_("列重复:%(cols)s") % {"cols": "、".join(repeated)})
    missing = [c.header_in() for c in COLUMNS if c.required and c.key not in keys]
    if missing:
        problems.append(_("缺少必填列:%(cols)s") % {"cols": "、".join(missing)})
    return problems


def _messages(errors: Any) -> list[str]:
    return [str(m) for m in errors]


def _split(value: str) -> list[str]:
    return [v for v in re.split(LIST_SEPARATORS, value or "") if v]


def _module_codes() -> dict[str, str]:
    codes = {code: code for code in Module.values}
    codes.update({str(label): code for code, label in Module.choices})
    return codes


def _state_codes() -> dict[str, str]:
    codes = {code: code for code in declaration.state_labels()}
    codes.update({str(label): code for code, label in declaration.state_labels().items()})
    return codes


class Checker:
    """Checks rows for `user` importing into `scope`'s subtree (reads preloaded once)."""

    def __init__(self, *, user: User, scope: Branch, table: Table) -> None:
        self.user = user
        self.scope = scope
        self.table = table
        self.index = {BY_HEADER[h].key: i for i, h in enumerate(table.headers) if h in BY_HEADER}
        self.branches = {b.code: b for b in Branch.objects.filter(subtree_q("", scope))}
        people = (
            get_user_model()
            .objects.filter(groups__name=Role.ACCOUNT_MANAGER, is_active=True, branch__in=self.branches.values())
            .select_related("branch")
        )
        self.managers = {u.username: u for u in people}
        usccs = {self.value(cells, "uscc").upper() for _n, cells in table.rows}
        self.existing = {
            e.uscc: e for e in Enterprise.objects.filter(uscc__in=[u for u in usccs if u]).select_related("branch")
        }
        self.first_row: dict[str, int] = {}
        for number, cells in table.rows:
            code = self.value(cells, "uscc").upper()
            if code:
                self.first_row.setdefault(code, number)
        self.today = timezone.localdate()
        # Stage and module names in Chinese or, from an English template, in English.
        with translation.override("en"):
            self.module_codes = _module_codes()
            self.state_codes = _state_codes()
        with translation.override("zh-hans"):
            self.module_codes.update(_module_codes())
            self.state_codes.update(_state_codes())
        self.date_field = DateField(required=False)

    def value(self, cells: list[str], key: str) -> str:
        i = self.index.get(key)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def check(self, number: int, cells: list[str]) -> RowCheck:
        with translation.override("zh-hans"):
            return self._check(number, cells)

    def _check(self, number: int, cells: list[str]) -> RowCheck:
        r = RowCheck(row=number)
        v = {c.key: self.value(cells, c.key) for c in COLUMNS}
        self._enterprise(r, v)
        self._accounts(r, v)
        self._case(r, v)
        self._people(r, v)
        self._history(r, v)
        return r

    def _enterprise(self, r: RowCheck, v: dict[str, str]) -> None:
        data = {k: v[k] for k in ENTERPRISE_FIELDS if k in v and k != "authorisation_covers_ebanking"}
        covers = v["authorisation_covers_ebanking"].strip().lower()
        if covers in YES:
            data["authorisation_covers_ebanking"] = "on"
        elif covers not in NO:
            r.error("authorisation_covers_ebanking", _("请填写“是”或“否”"))
        form = EnterpriseForm(data)
        if form.is_valid():
            r.enterprise = dict(form.cleaned_data)
        for name, errors in form.errors.items():
            for message in _messages(errors):
                r.error(name if name in BY_KEY else "", message)
        code = v["uscc"].strip().upper()
        if code and self.first_row.get(code, r.row) != r.row:
            r.error("uscc", _("与第 %(n)d 行的统一社会信用代码重复") % {"n": self.first_row[code]})
        existing = self.existing.get(code)
        if existing is not None:
            if branch_in_subtree(existing.branch, self.user):
                r.error("uscc", _("该企业已登记,请在系统中直接办理"))
            else:
                r.error("uscc", _("该企业已在其他机构登记,请联系其开户机构"))

    def _accounts(self, r: RowCheck, v: dict[str, str]) -> None:
        numbers = _split(v["account_numbers"])
        name = v["account_name"] or v["name"]
        data: dict[str, Any] = {
            "acc-TOTAL_FORMS": str(len(numbers)),
            "acc-INITIAL_FORMS": "0",
            "acc-MIN_NUM_FORMS": "0",
            "acc-MAX_NUM_FORMS": "1000",
        }
        for i, number in enumerate(numbers):
            data[f"acc-{i}-account_number"] = number
            data[f"acc-{i}-account_name"] = name
            data[f"acc-{i}-opening_branch"] = v["opening_branch"]
        formset = account_formset(data)
        if formset.is_valid():
            r.accounts = [
                {k: row[k] for k in ("account_number", "account_name", "opening_branch")} for row in formset.accounts()
            ]
            return
        for i, errors in enumerate(formset.errors):
            for name_, messages in errors.items():
                column = "account_numbers" if name_ == "account_number" else "account_name"
                for message in _messages(messages):
                    r.error(column, f"{numbers[i] if i < len(numbers) else ''}:{message}")
        for message in _messages(formset.non_form_errors()):
            r.error("account_numbers", message)

    def _case(self, r: RowCheck, v: dict[str, str]) -> None:
        codes = self.module_codes
        modules: list[str] = []
        unknown: list[str] = []
        for item in _split(v["modules"]):
            (modules if item in codes else unknown).append(codes.get(item, item))
        if unknown:
            r.error("modules", _("无法识别的功能模块:%(m)s") % {"m": "、".join(unknown)})
        form = CaseForm({"modules": list(dict.fromkeys(modules)), **{k: v[k] for k in CASE_FIELDS}})
        if form.is_valid():
            r.modules = form.cleaned_data["modules"]
            r.case_fields = {k: form.cleaned_data[k] for k in CASE_FIELDS}
        for name, errors in form.errors.items():
            if name == "modules" and unknown:
                continue
            for message in _messages(errors):
                r.error(name, message)

    def _people(self, r: RowCheck, v: dict[str, str]) -> None:
        username = v["account_manager"]
        manager = self.managers.get(username)
        if not username:
            r.error("account_manager", _("请填写客户经理的用户名"))
        elif manager is None:
            r.error("account_manager", _("“%(u)s”不是您管辖范围内在岗的客户经理") % {"u": username})
        r.account_manager = manager
        code = v["branch"]
        if code:
            r.branch = self.branches.get(code)
            if r.branch is None:
                r.error("branch", _("机构号“%(c)s”不存在或不在您的管辖范围内") % {"c": code})
        elif manager is not None:
            r.branch = manager.branch

    def _history(self, r: RowCheck, v: dict[str, str]) -> None:
        states = self.state_codes
        raw = v["state"]
        state = states.get(raw, "")
        if not raw:
            r.error("state", _("请填写当前阶段"))
            return
        if state not in IMPORTABLE_STATES:
            r.error("state", _("“%(s)s”不是可导入的阶段(分支行受理至已上线)") % {"s": raw})
            return
        r.state = state
        field_ = self.date_field
        bad = False
        for stage, key in STAGE_COLUMNS.items():
            if not v[key]:
                continue
            try:
                day = field_.clean(v[key])
            except ValidationError as exc:
                bad = True
                for message in exc.messages:
                    r.error(key, message)
                continue
            if day is not None:
                r.entered[stage] = day
        if bad:
            return
        for stage, message in history_problems(state=state, entered=r.entered, today=self.today):
            r.error(STAGE_COLUMNS.get(stage, "state"), message)
