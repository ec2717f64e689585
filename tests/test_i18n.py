"""English is complete: every msgid of the catalogue is translated (no blank, no fuzzy guess),
the compiled .mo matches the .po, the code's literal strings are all in the catalogue, and the
main pages of each kind of user show no Chinese in their headings, labels and navigation once
the language switch says English. Chinese stays the default."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from branches.models import Branch
from companies.models import Enterprise
from counter.models import Operator
from onboarding.states import State

ROOT = Path(settings.BASE_DIR)
PO = ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
CJK = re.compile(r"[\u3400-\u9fff]")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


@dataclass
class Entry:
    msgid: str
    context: str | None = None
    plural: str | None = None
    msgstrs: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    line: int = 0


ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(s: str) -> str:
    s = s.strip()
    assert s.startswith('"') and s.endswith('"'), s
    return re.sub(r"\\(.)", lambda m: ESCAPES[m.group(1)], s[1:-1])


def parse_po(text: str) -> list[Entry]:
    """The live entries of a .po file (obsolete `#~` ones are dropped), header included."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: str | None = None  # which field a continuation line extends
    flags: set[str] = set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            flags |= {f.strip() for f in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            assert current is not None and target is not None, f"line {n}: stray string"
            if target == "msgid":
                current.msgid += _unquote(line)
            elif target == "msgctxt":
                current.context = (current.context or "") + _unquote(line)
            elif target == "msgid_plural":
                current.plural = (current.plural or "") + _unquote(line)
            else:
                current.msgstrs[-1] += _unquote(line)
            continue
        if keyword in ("msgctxt", "msgid") and (current is None or current.msgstrs):
            current = Entry(msgid="", flags=flags, line=n)
            entries.append(current)
            flags = set()
        assert current is not None, f"line {n}: {line}"
        if keyword == "msgctxt":
            current.context, target = _unquote(rest), "msgctxt"
        elif keyword == "msgid":
            current.msgid, target = _unquote(rest), "msgid"
        elif keyword == "msgid_plural":
            current.plural, target = _unquote(rest), "msgid_plural"
        elif keyword.startswith("msgstr"):
            current.msgstrs.append(_unquote(rest))
            target = "msgstr"
        else:
            raise AssertionError(f"line {n}: unknown keyword {keyword}")
    return entries


def problems(entries: list[Entry]) -> list[str]:
    """What keeps the English catalogue from being complete and correct."""
    found = []
    for e in entries:
        if not e.msgid:
            if "fuzzy" in e.flags:
                found.append("header marked fuzzy: msgfmt would ignore the whole catalogue's metadata")
            continue
        name = f"line {e.line} {e.msgid[:40]!r}"
        if "fuzzy" in e.flags:
            found.append(f"{name}: fuzzy")
        if not e.msgstrs or any(not s.strip() for s in e.msgstrs):
            found.append(f"{name}: untranslated")
            continue
        if e.plural is not None and len(e.msgstrs) != 2:
            found.append(f"{name}: English needs two plural forms")
        for s in e.msgstrs:
            if CJK.search(s):
                found.append(f"{name}: Chinese left in the English {s[:40]!r}")
            wanted = set(PLACEHOLDER.findall(e.msgid)) | set(PLACEHOLDER.findall(e.plural or ""))
            if e.plural is None and set(PLACEHOLDER.findall(s)) != wanted:
                found.append(f"{name}: placeholders differ {sorted(wanted)} → {s[:40]!r}")
    return found


def catalogue() -> list[Entry]:
    return parse_po(PO.read_text(encoding="utf-8"))


# --- the catalogue -------------------------------------------------------------------------


def test_every_msgid_has_an_english_translation_and_none_is_fuzzy():
    entries = catalogue()
    assert len(entries) > 600  # the parser read the real file, not an empty one
    assert problems(entries) == []


@pytest.mark.parametrize(
    ("po", "expected"),
    [
        ('msgid "保存"\nmsgstr ""\n', "untranslated"),
        ('#, fuzzy\nmsgid "保存"\nmsgstr "Save"\n', "fuzzy"),
        ('msgid "保存"\nmsgstr "保存"\n', "Chinese left"),
        ('#, python-format\nmsgid "%(n)s 次"\nmsgstr "times"\n', "placeholders differ"),
        ('msgid "%(n)s 次"\nmsgid_plural "%(n)s 次"\nmsgstr[0] "%(n)s time"\nmsgstr[1] ""\n', "untranslated"),
    ],
)
def test_the_checker_refuses_a_bad_entry(po, expected):
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    found = problems(parse_po(header + po))
    assert len(found) == 1 and expected in found[0]


def test_the_checker_accepts_good_entries_and_skips_obsolete_ones():
    po = (
        'msgid ""\nmsgstr ""\n\n'
        'msgctxt "list separator"\nmsgid "、"\nmsgstr ", "\n\n'
        'msgid "已超时 %(late_days)s 个"\nmsgstr ""\n"%(late_days)s days "\n"late"\n\n'
        '#~ msgid "旧"\n#~ msgstr ""\n'
    )
    entries = parse_po(po)
    assert [e.msgstrs for e in entries] == [[""], [", "], ["%(late_days)s days late"]]
    assert problems(entries) == []


def test_the_compiled_mo_matches_the_po():
    """compilemessages was run after the last change to the .po."""
    with MO.open("rb") as fh:
        mo = gettext.GNUTranslations(fh)
    stale = []
    for e in catalogue():
        if not e.msgid:
            continue
        if e.plural is not None:
            got = [
                mo.npgettext(e.context, e.msgid, e.plural, n) if e.context else mo.ngettext(e.msgid, e.plural, n)
                for n in (1, 2)
            ]
        else:
            got = [mo.pgettext(e.context, e.msgid) if e.context else mo.gettext(e.msgid)]
        if got != e.msgstrs:
            stale.append(e.msgid)
    assert stale == [], "run: ./scripts/setup (or manage.py compilemessages --ignore=.venv)"


TEMPLATE_LITERAL = re.compile(r"""\{%\s*(?:translate|trans)\s+("[^"]*"|'[^']*')([^%]*)%\}""")
GETTEXT = {"_", "gettext", "gettext_lazy", "gettext_noop"}


def _code_literals() -> dict[str, str]:
    """Chinese strings marked for translation in templates and Python, and where they are."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "templates").rglob("*.html")) + sorted((ROOT / "templates").rglob("*.txt")):
        for m in TEMPLATE_LITERAL.finditer(path.read_text(encoding="utf-8")):
            if "context" not in m.group(2):  # a msgctxt entry: same msgid, another meaning
                found.setdefault(m.group(1)[1:-1], str(path.relative_to(ROOT)))
    for app in (
        "accounts",
        "api",
        "audit",
        "branches",
        "config",
        "counter",
        "demo",
        "documents",
        "links",
        "onboarding",
        "portal",
        "reminders",
        "webhooks",
        "wecom",
        "workcalendar",
    ):
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in GETTEXT
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found.setdefault(node.args[0].value, str(path.relative_to(ROOT)))
    return {k: v for k, v in found.items() if CJK.search(k)}


def test_every_chinese_string_of_the_code_is_in_the_catalogue():
    """A string added without running makemessages would show in Chinese on an English page."""
    literals = _code_literals()
    assert len(literals) > 300  # the scan found the code's strings
    known = {e.msgid for e in catalogue()}
    assert {k: v for k, v in literals.items() if k not in known} == {}, (
        "run makemessages, write the English into django.po, compilemessages"
    )


# --- Chinese-only message ids -----------------------------------------------------------------

# "中文 / English": a Chinese character or closing punctuation, a slash, a space, an English word.
ENGLISH_HALF = re.compile(r"[\u3400-\u9fff)）。]\s*/ [A-Za-z]{2,}")


def test_no_message_id_carries_an_english_half():
    """English lives in django.po; a msgid is Chinese only."""
    halves = [e.msgid for e in catalogue() if ENGLISH_HALF.search(e.msgid)]
    halves += [k for k in _code_literals() if ENGLISH_HALF.search(k)]
    assert halves == []


def test_the_checker_sees_an_english_half():
    assert ENGLISH_HALF.search("已保存 / Saved.")
    assert ENGLISH_HALF.search("生产配置尚未下发 / The production configuration has not been issued")
    assert not ENGLISH_HALF.search("柜面办理(经办录入 / 复核生效)")
    assert not ENGLISH_HALF.search("自动执行的动作 /AA")


def test_the_catalogue_is_edited_with_standard_tools_only():
    assert not (ROOT / "locale" / "en_translations.py").exists()
    assert not (ROOT / "locale" / "fill_po.py").exists()
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "*.mo" in ignored  # compiled by scripts/setup, never committed
    assert "compilemessages" in (ROOT / "scripts" / "setup").read_text(encoding="utf-8")


SCRIPT = re.compile(r"<(script|style)\b.*?</\1>", re.S)


def english_halves(html: str) -> list[str]:
    """Visible text of a Chinese page that still carries " / English"."""
    text = TAG.sub("\n", SCRIPT.sub("", html))
    return [line.strip() for line in text.splitlines() if ENGLISH_HALF.search(line)]


# --- pages ---------------------------------------------------------------------------------

LABELS = re.compile(r"<(h1|h2|h3|th|label|summary|dt|legend|button|option)\b[^>]*>(.*?)</\1>", re.S)
NAV = re.compile(r"<nav\b[^>]*>(.*?)</nav>", re.S)
LANGUAGE_BUTTON = re.compile(r'<button name="language"[^>]*>.*?</button>', re.S)
TAG = re.compile(r"<[^>]+>")


def _data_names() -> list[str]:
    """Names that are data (companies, branches, people): they stay as entered, in Chinese."""
    names: set[str] = set(Branch.objects.values_list("name", flat=True))
    for row in Enterprise.objects.values_list("name", "legal_rep_name", "handler_name", "contact_name"):
        names.update(row)
    names.update(Operator.objects.values_list("name", flat=True))
    return sorted((n for n in names if n), key=len, reverse=True)


def chinese_labels(html: str) -> list[str]:
    """Headings, column heads, labels, buttons, options and navigation that still hold Chinese."""
    html = LANGUAGE_BUTTON.sub("", html)  # the switch back to 中文 is meant to be in Chinese
    texts = [m.group(2) for m in LABELS.finditer(html)] + NAV.findall(html)
    names = _data_names()
    left = []
    for raw in texts:
        text = TAG.sub(" ", raw)
        for name in names:
            text = text.replace(name, "")
        if CJK.search(text):
            left.append(" ".join(text.split()))
    return left


def _english(client):
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    return client


def _get(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_staff_home_is_chinese_by_default_even_for_an_english_browser(client, world):
    world.case(State.JOINT_TESTING)
    client.force_login(world.am_a)
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "我的待办" in page and "轮到我办理" in page and "联调测试" in page
    assert "My work" not in page


def test_staff_home_and_case_list_in_english(client, world):
    world.case(State.JOINT_TESTING)
    world.case(State.UKEY_ISSUANCE)
    client.force_login(world.am_a)
    _english(client)
    for url in ("/", reverse("case_list")):
        page = _get(client, url)
        assert '<html lang="en">' in page
        assert chinese_labels(page) == [], url
    page = _get(client, "/")
    assert "My work" in page and "Waiting for me" in page and "Joint testing" in page
    assert "Cases" in page and "New case" in page and "Notifications" in page and "Log out" in page


@pytest.mark.parametrize(
    ("state", "actor"),
    [
        (State.BRANCH_INTAKE, "am_a"),
        (State.HEAD_OFFICE_APPROVAL, "approver"),
        (State.JOINT_TESTING, "am_a"),
        (State.UKEY_ISSUANCE, "maker"),
        (State.PRODUCTION_VERIFICATION, "am_a"),
    ],
)
def test_case_page_with_its_forms_in_english(client, world, state, actor):
    case = world.case(state)
    client.force_login(getattr(world, actor))
    _english(client)
    page = _get(client, reverse("case_detail", args=[case.public_id]))
    assert "<form" in page and chinese_labels(page) == []


def test_every_queue_and_the_team_in_english_and_in_chinese(client, world):
    """The queue's actions and the supervisor's team table: English on English pages (data names
    aside), no English halves on Chinese ones."""
    for state in (State.BRANCH_INTAKE, State.HEAD_OFFICE_APPROVAL, State.JOINT_TESTING, State.UKEY_ISSUANCE):
        world.case(state)
    world.case(State.TEST_PACKAGE_ISSUANCE, company=world.company_y)
    people = (world.am_a, world.supervisor, world.tech, world.maker, world.approver)
    for who in people:
        client.force_login(who)
        page = _get(client, "/")
        assert 'class="queue-action"' in page or who == world.approver, who
        assert english_halves(page) == [], who
    assert "本机构团队在办情况" in _get(client_for(client, world.supervisor), "/")
    for who in people:
        client.force_login(who)
        _english(client)
        page = _get(client, "/")
        actions = re.findall(r'class="queue-action"[^>]*>([^<]*)<', page)
        left = [a for a in actions if CJK.search(a)]
        assert chinese_labels(page) == [] and left == [], (who, left)
        client.cookies.pop(settings.LANGUAGE_COOKIE_NAME, None)
    client.force_login(world.supervisor)
    _english(client)
    page = _get(client, "/")
    assert "My team's open cases" in page and "Waiting longest" in page


def client_for(client, who):
    client.force_login(who)
    return client


def test_case_page_in_ukey_issuance_in_english_for_the_counter_checker(client, world):
    case = world.case(State.UKEY_ISSUANCE)
    client.force_login(world.checker)
    _english(client)
    page = _get(client, reverse("case_detail", args=[case.public_id]))
    assert chinese_labels(page) == []
    for heading in ("Document checklist", "Company operators and UKey register", "Service level", "History"):
        assert heading in page
    assert "UKey issuance" in page


def test_audit_pages_in_english_for_the_auditor(client, world):
    world.case(State.BRANCH_INTAKE)
    client.force_login(world.auditor)
    _english(client)
    page = _get(client, reverse("audit_log"))
    assert chinese_labels(page) == []
    assert "Audit log" in page and "Export CSV" in page
    # Event kinds are translated when shown, not frozen in the language of the first import.
    assert "<td>Created</td>" in page and "<td>Transition</td>" in page
    assert "<td>创建</td>" not in page
    assert "Case created" in page and "Document uploaded" in page  # event names, not their codes
    assert chinese_labels(_get(client, reverse("audit_break_glass"))) == []


def test_counter_expiry_page_in_english(client, world):
    world.case(State.UKEY_ISSUANCE)
    client.force_login(world.maker)
    _english(client)
    page = _get(client, reverse("counter:expiring"))
    assert chinese_labels(page) == [] and "UKey certificates nearing expiry" in page


def test_portal_home_and_case_in_english_for_the_customer(client, world):
    case = world.case(State.JOINT_TESTING)
    client.force_login(world.customer_x)
    assert "账户查询、自动对账" in _get(client, reverse("portal:home"))  # Chinese first, its own list separator
    _english(client)
    for url in (reverse("portal:home"), reverse("portal:case_detail", args=[case.public_id])):
        page = _get(client, url)
        assert chinese_labels(page) == [], url
    page = _get(client, reverse("portal:home"))
    assert "My applications" in page and "Account query, Reconciliation" in page


def test_login_page_in_english_and_in_chinese(client, db):
    page = _get(client, reverse("account_login"))
    assert "用户名" in page and "Username" not in page and english_halves(page) == []
    _english(client)
    page = _get(client, reverse("account_login"))
    assert chinese_labels(page) == [] and "Username" in page and "Log in" in page


@pytest.mark.parametrize(
    ("state", "actor"),
    [
        (State.BRANCH_INTAKE, "am_a"),
        (State.HEAD_OFFICE_APPROVAL, "approver"),
        (State.JOINT_TESTING, "tech"),
        (State.UKEY_ISSUANCE, "maker"),
        (State.PRODUCTION_VERIFICATION, "am_a"),
    ],
)
def test_chinese_staff_pages_have_no_english_halves(client, world, state, actor):
    case = world.case(state)
    client.force_login(getattr(world, actor))
    for url in ("/", reverse("case_list"), reverse("case_detail", args=[case.public_id])):
        page = _get(client, url)
        assert '<html lang="zh-hans">' in page
        assert english_halves(page) == [], url
        assert "en-gloss" not in page


def test_chinese_portal_pages_have_no_english_halves(client, world):
    cases = [world.case(s) for s in (State.BRANCH_INTAKE, State.JOINT_TESTING, State.PRODUCTION_VERIFICATION)]
    client.force_login(world.customer_x)
    for url in [reverse("portal:home")] + [reverse("portal:case_detail", args=[c.public_id]) for c in cases]:
        assert english_halves(_get(client, url)) == [], url


def test_a_refusal_reads_chinese_only(client, world):
    """A flash message on a Chinese page: the refusal and what it names, no English after it."""
    case = world.case(State.TEST_PACKAGE_ISSUANCE)
    client.force_login(world.tech)
    response = client.post(
        reverse("case_transition", args=[case.public_id, "issue_test_package"]),
        {"version": case.version},
        follow=True,
    )
    page = response.content.decode()
    assert "测试包尚未登记" in page
    assert english_halves(page) == []
