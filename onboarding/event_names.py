"""The names of a case's events and their labels: the vocabulary itself (`onboarding.events`
records them). Imports nothing of the models, so the models can label their rows with it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from casetypes import declaration


class EventName(models.TextChoices):
    # the case itself
    CASE_CREATED = "create", _("创建案件")
    CASE_EDITED = "edit", _("修改企业资料/评估")
    # transitions (the names of the transition methods in onboarding/workflow.py)
    SUBMIT = "submit", _("提交受理")
    SUBMIT_FOR_APPROVAL = "submit_for_approval", _("上报立项审批")
    ENDORSE = "endorse", _("分行审核通过(立项上报)")
    APPROVE = "approve", _("总行立项批复、费用通过")
    RETURN_TO_INTAKE = "return_to_intake", _("退回补件")
    REJECT = "reject", _("不予立项")
    ISSUE_TEST_PACKAGE = "issue_test_package", _("下发测试包")
    ACCEPT_TEST_REPORT = "accept_test_report", _("测试通过,进入UKey发放")
    RETURN_TO_TEST_PACKAGE = "return_to_test_package", _("退回测试包阶段")
    COMPLETE_UKEY_ISSUANCE = "complete_ukey_issuance", _("UKey发放完成,进入生产验证")
    GO_LIVE = "go_live", _("行方确认,正式上线")
    SUSPEND = "suspend", _("暂停")
    RESUME = "resume", _("恢复")
    WITHDRAW = "withdraw", _("撤回申请")
    # stage records
    TEST_PACKAGE = "test_package", _("登记测试包")
    TEST_RESULT = "test_result", _("登记联调测试结果")
    RETEST_REQUESTED = "retest_requested", _("要求重测")
    TEST_OBSERVED = "test_observed", _("测试网关观测到联调交易")
    PRODUCTION_CONFIG = "production_config", _("下发生产配置")
    CUSTOMER_CONFIRMED = "customer_confirmed", _("客户确认生产验证")
    # company data
    COMPANY_VERSION_ADOPTED = "company_version_adopted", _("采用企业最新资料")
    CHANGE_REQUEST_FILED = "company_change_request_filed", _("提交变更申请")
    CHANGE_REQUEST_APPROVED = "company_change_request_approved", _("变更申请已批准")
    CHANGE_REQUEST_REFUSED = "company_change_request_refused", _("变更申请被拒绝")
    # documents
    DOCUMENT_UPLOAD = "document_upload", _("上传文件")
    DOCUMENT_ACCEPT = "document_accept", _("文件审核通过")
    DOCUMENT_REJECT = "document_reject", _("文件退回")
    DOCUMENT_DOWNLOAD = "document_download", _("下载文件")
    DOCUMENT_VIEW = "document_view", _("查看文件")
    FORM_GENERATE = "form_generate", _("生成表单")
    # the counter
    OPERATOR_ADDED = "operator_added", _("登记企业操作员")
    OPERATOR_REMOVED = "operator_removed", _("删除企业操作员")
    COUNTER_ENTRY_MADE = "counter_entry_made", _("柜面经办录入")
    UKEY_REPLACEMENT_MADE = "ukey_replacement_made", _("录入UKey补办")
    COUNTER_ENTRY_CONFIRMED = "counter_entry_confirmed", _("柜面复核确认")
    COUNTER_ENTRY_CANCELLED = "counter_entry_cancelled", _("柜面经办取消录入")
    UKEY_DOWNLOADED = "ukey_downloaded", _("登记证书已下载")
    UKEY_LOST = "ukey_lost", _("UKey挂失")
    UKEY_RELEASED = "ukey_released", _("UKey解挂")
    UKEY_REVOKED = "ukey_revoked", _("UKey注销")
    # people change (issue 23): a holder's work moved to a colleague, or to the leaver queue
    CASE_REASSIGNED = "case_reassigned", _("转交案件")
    COUNTER_ENTRY_REASSIGNED = "counter_entry_reassigned", _("转交柜面事项")
    HOLDER_LEFT = "holder_left", _("离职交接:转入待分配队列")
    # the thread
    MESSAGE_POSTED = "message_posted", _("留言")
    # reminders (one per level)
    REMIND = "remind", _("到期提醒")
    ESCALATE = "escalate", _("上级督办")
    ESCALATE_HEAD_OFFICE = "escalate_head_office", _("总行督办")
    # bulk import (transfers): the case as imported, and each stage of its history as given
    CASE_IMPORTED = "case_imported", _("批量导入案件")
    STAGE_IMPORTED = "stage_imported", _("导入的历史阶段")


TRANSITION_EVENTS = frozenset(
    {
        EventName.SUBMIT,
        EventName.SUBMIT_FOR_APPROVAL,
        EventName.ENDORSE,
        EventName.APPROVE,
        EventName.RETURN_TO_INTAKE,
        EventName.REJECT,
        EventName.ISSUE_TEST_PACKAGE,
        EventName.ACCEPT_TEST_REPORT,
        EventName.RETURN_TO_TEST_PACKAGE,
        EventName.COMPLETE_UKEY_ISSUANCE,
        EventName.GO_LIVE,
        EventName.SUSPEND,
        EventName.RESUME,
        EventName.WITHDRAW,
    }
)
REMINDER_EVENTS = {1: EventName.REMIND, 2: EventName.ESCALATE, 3: EventName.ESCALATE_HEAD_OFFICE}


# Each name's (lazy) label, built once: `EventName.values` and `EventName(name)` rebuild and
# search the member list on every call, and a case page labels dozens of events.
_LABELS = {member.value: member.label for member in EventName}


def label(name: str) -> str:
    found = _LABELS.get(name)
    if found is not None:
        return str(found)
    return declaration.transition_label(name)
