"""An .xlsx file checked as a zip before any XML parser sees it, then read into rows of text.

No Django here: `python transfers/sheet.py` is also the child process that parses a large file
under a memory and CPU limit (`reading.parse_in_child`), reading the file on stdin and writing
JSON on stdout. A refusal is a `SheetProblem` with a code and numbers; `reading` words it in
Chinese.

The checks, in order, each before the work it protects:
1. the zip's directory (no decompression): number of members, each member's and the total
   decompressed size, the compression ratio of large members, the shared strings' size;
   only stored or deflated members, none encrypted;
2. every XML member streamed through expat with nothing kept: a DOCTYPE or an entity
   declaration refuses the file (no XML in a workbook needs one: that is XXE and "billion
   laughs"), and a cell's text longer than the cell limit refuses it; a member that
   decompresses to more than its directory entry says is refused as damaged;
3. only then openpyxl (read-only, defusedxml installed), row by row.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import zipfile
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

MB = 1024 * 1024
# Members smaller than this are not held to the compression ratio (a tiny, repetitive part
# compresses very well and costs nothing to read).
RATIO_FLOOR = 1 * MB
XML_SUFFIXES = (".xml", ".rels", ".vml")
# Elements that hold a cell's text: <v> (value), <t> (shared or inline string, rich-text run), <f>.
TEXT_ELEMENTS = {"v", "t", "f"}


class SheetProblem(Exception):
    """The file is refused: `code` says why, `params` the numbers (sizes in bytes, names)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.code, self.params = code, params


@dataclass(frozen=True)
class Limits:
    max_members: int
    max_member_bytes: int
    max_total_bytes: int
    max_ratio: int
    max_shared_strings_bytes: int
    max_cell_chars: int


@dataclass(frozen=True)
class Inspection:
    total_bytes: int  # decompressed size of every member together


def inspect(data: bytes, limits: Limits, *, scan_xml: bool = True) -> Inspection:
    """Check the zip and (`scan_xml`) every XML member of an .xlsx without building anything;
    `SheetProblem` if refused. Without `scan_xml` nothing is decompressed."""
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        infos = book.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise SheetProblem("corrupt") from None
    if len(infos) > limits.max_members:
        raise SheetProblem("members", count=len(infos), limit=limits.max_members)
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise SheetProblem("encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SheetProblem("corrupt")
        if info.file_size > limits.max_member_bytes:
            raise SheetProblem("member_size", name=info.filename, size=info.file_size, limit=limits.max_member_bytes)
        if _is_shared_strings(info.filename) and info.file_size > limits.max_shared_strings_bytes:
            raise SheetProblem(
                "shared_strings", name=info.filename, size=info.file_size, limit=limits.max_shared_strings_bytes
            )
        if info.file_size > RATIO_FLOOR and info.file_size > limits.max_ratio * max(1, info.compress_size):
            raise SheetProblem(
                "ratio",
                name=info.filename,
                size=info.file_size,
                ratio=info.file_size // max(1, info.compress_size),
                limit=limits.max_ratio,
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise SheetProblem("total_size", size=total, limit=limits.max_total_bytes)
    for info in infos if scan_xml else ():
        if info.filename.lower().endswith(XML_SUFFIXES):
            _scan_xml(book, info, limits)
    return Inspection(total_bytes=total)


def _is_shared_strings(name: str) -> bool:
    return name.lower().rsplit("/", 1)[-1] == "sharedstrings.xml"


class _Scan:
    """expat handlers that refuse DTDs and over-long cell text, keeping nothing."""

    def __init__(self, name: str, max_cell_chars: int) -> None:
        self.name, self.max_cell_chars = name, max_cell_chars
        self.in_text = 0
        self.length = 0

    def doctype(self, *args: Any) -> Any:
        raise SheetProblem("dtd", name=self.name)

    def start(self, tag: str, attrs: Any) -> None:
        if tag.rsplit(":", 1)[-1] in TEXT_ELEMENTS:
            self.in_text += 1
            self.length = 0

    def end(self, tag: str) -> None:
        if tag.rsplit(":", 1)[-1] in TEXT_ELEMENTS and self.in_text:
            self.in_text -= 1

    def text(self, data: str) -> None:
        if self.in_text:
            self.length += len(data)
            if self.length > self.max_cell_chars:
                raise SheetProblem("cell", name=self.name, limit=self.max_cell_chars)


def _scan_xml(book: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> None:
    scan = _Scan(info.filename, limits.max_cell_chars)
    parser = expat.ParserCreate()
    parser.buffer_text = True  # fewer, larger text callbacks: the scan stays cheap on a big sheet
    parser.buffer_size = 64 * 1024
    parser.StartDoctypeDeclHandler = scan.doctype
    parser.EntityDeclHandler = scan.doctype
    parser.UnparsedEntityDeclHandler = scan.doctype
    parser.NotationDeclHandler = scan.doctype
    parser.ExternalEntityRefHandler = scan.doctype
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.CharacterDataHandler = scan.text
    read = 0
    try:
        with book.open(info) as member:
            while chunk := member.read(256 * 1024):
                read += len(chunk)
                if read > info.file_size:  # more than the directory declared: never trust it
                    raise SheetProblem("corrupt")
                parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except SheetProblem:
        raise
    except (expat.ExpatError, zipfile.BadZipFile, EOFError, ValueError, OSError, UnicodeError):
        raise SheetProblem("corrupt") from None


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse(data: bytes, *, max_rows: int, max_cell_chars: int) -> list[list[str]]:
    """The first sheet's cells as text; call `inspect` first. Stops after `max_rows` + 1000 rows."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, SyntaxError, TypeError, IndexError):
        # defusedxml's refusals are ValueErrors, expat's are SyntaxErrors (ParseError)
        raise SheetProblem("corrupt") from None
    try:
        if not book.worksheets:
            raise SheetProblem("corrupt")
        cells = []
        for row in book.worksheets[0].iter_rows(values_only=True):
            texts = [cell_text(v) for v in row]
            if any(len(t) > max_cell_chars for t in texts):
                raise SheetProblem("cell", name="", limit=max_cell_chars)
            cells.append(texts)
            if len(cells) > max_rows + 1000:  # blank rows are skipped later; stop a runaway sheet
                break
    except SheetProblem:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, SyntaxError, TypeError, IndexError, AttributeError):
        raise SheetProblem("corrupt") from None
    finally:
        book.close()
    return cells


def child_main() -> int:
    """The child process: limits first, then parse stdin's file; JSON on stdout."""
    import resource

    options = json.loads(sys.argv[1])
    memory = int(options["memory_bytes"])
    seconds = int(options["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    data = sys.stdin.buffer.read()
    try:
        result: dict[str, Any] = {
            "cells": parse(data, max_rows=int(options["max_rows"]), max_cell_chars=int(options["max_cell_chars"]))
        }
    except SheetProblem as exc:
        result = {"problem": exc.code, "params": exc.params}
    except MemoryError:
        result = {"problem": "memory"}
    sys.stdout.write(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
