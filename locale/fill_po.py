"""Fill empty msgstr entries of locale/en/LC_MESSAGES/django.po, then run compilemessages.

`manage.py makemessages -l en` keeps existing translations; this fills the blanks and the
fuzzy guesses from `en_translations.EN` (an entry with a msgctxt is looked up there under
its context, a \\x04 and its msgid first), or from the English half of a "中文 / English" msgid,
and brings any msgstr whose msgid is in `EN` up to date with it (EN is the source of truth).
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from en_translations import EN

PO = Path(__file__).parent / "en" / "LC_MESSAGES" / "django.po"
SPLIT = re.compile(r"\s*/\s+(?=[A-Z(%])")
CJK = re.compile(r"[\u3400-\u9fff]")


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def english(msgid: str) -> str | tuple[str, str] | None:
    if msgid in EN:
        return EN[msgid]
    parts = SPLIT.split(msgid, maxsplit=1)
    # "第 %(n)s / %(total)s 页" is not "中文 / English": an English half has no Chinese in it.
    if len(parts) == 2 and re.search(r"[A-Za-z]", parts[1]) and not CJK.search(parts[1]):
        text = parts[1].strip()
        # msgfmt wants every named argument of the msgid in the msgstr too.
        lost = [a for a in dict.fromkeys(re.findall(r"%\(\w+\)[sd]", msgid)) if a not in text]
        return f"{text} ({', '.join(lost)})" if lost else text
    return None


def unquote(lines: list[str]) -> str:
    return "".join(
        bytes(m, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
        for line in lines
        for m in re.findall(r'"(.*)"', line)
    )


def current(lines: list[str]) -> str | tuple[str, str]:
    """The msgstr of an entry; a (singular, plural) pair for a plural entry."""
    starts = [i for i, line in enumerate(lines) if line.startswith("msgstr")] + [len(lines)]
    parts = [unquote(lines[a:b]) for a, b in itertools.pairwise(starts)]
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def main() -> None:
    blocks = PO.read_text(encoding="utf-8").split("\n\n")
    out, filled, missing = [], 0, []
    for block in blocks:
        lines = block.split("\n")
        idx = {
            k: i
            for i, line in enumerate(lines)
            for k in ("msgid ", "msgid_plural ", "msgstr ", "msgstr[0] ")
            if line.startswith(k)
        }
        if "msgid " not in idx:
            out.append(block)
            continue
        end_id = idx.get("msgid_plural ", idx.get("msgstr ", idx.get("msgstr[0] ")))
        msgid = unquote(lines[idx["msgid "] : end_id])
        context = [unquote([line]) for line in lines if line.startswith("msgctxt ")]
        if context and f"{context[0]}\x04{msgid}" in EN:
            msgid = f"{context[0]}\x04{msgid}"  # EN keys a msgctxt entry as "context\x04msgid"
        if not msgid:
            out.append("\n".join(line for line in lines if line != "#, fuzzy"))
            continue
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        if fuzzy:
            # makemessages guessed from a similar old msgid: translate it afresh.
            lines = [
                re.sub(r"^#, fuzzy, ", "#, ", line)
                for line in lines
                if line != "#, fuzzy" and not line.startswith("#| ")
            ]
            idx = {
                k: i
                for i, line in enumerate(lines)
                for k in ("msgid ", "msgid_plural ", "msgstr ", "msgstr[0] ")
                if line.startswith(k)
            }
        has_str = not fuzzy and any(re.match(r'msgstr(\[\d\])? "(.+)"', line) for line in lines)
        want = EN.get(msgid)
        if isinstance(want, str) and "msgid_plural " in idx:
            want = (want, want)
        if has_str and want is not None and current(lines) != want:
            has_str = False  # en_translations is the source of truth: a changed entry replaces the old msgstr
        if has_str:
            out.append(block)
            continue
        en = english(msgid)
        if en is None:
            missing.append(msgid)
            out.append(block)
            continue
        head = lines[: (idx.get("msgstr ") if "msgstr " in idx else idx["msgstr[0] "])]
        head = [line for line in head if line != "#, fuzzy"]
        if "msgid_plural " in idx:
            one, many = en if isinstance(en, tuple) else (en, en)
            head = [line for line in head if not line.startswith("msgstr")]
            block_lines = head + [f"msgstr[0] {quote(one)}", f"msgstr[1] {quote(many)}"]
        else:
            block_lines = head + [f"msgstr {quote(en if isinstance(en, str) else en[0])}"]
        out.append("\n".join(block_lines))
        filled += 1
    PO.write_text("\n\n".join(out), encoding="utf-8")
    print(f"filled {filled}; untranslated {len(missing)}")
    for m in missing:
        print("  ", m)


if __name__ == "__main__":
    main()
