"""Hostile files built in the test, byte by byte: workbooks with a DTD or a huge cell, PDF bombs
and polyglots, a PNG carrying HTML. Cheap to build: a 1 GB stream of zeros is 64 copies of one
full-flushed deflate segment, never 1 GB in memory."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image, PngImagePlugin

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"'
    ' Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="导入" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"'
    ' Target="worksheets/sheet1.xml"/></Relationships>'
)
SHEET_HEAD = f'<?xml version="1.0" encoding="UTF-8"?>{{doctype}}<worksheet xmlns="{MAIN}"><sheetData>'
SHEET_TAIL = "</sheetData></worksheet>"


def row(number: int, *texts: str) -> str:
    cells = "".join(
        f'<c r="{chr(65 + i)}{number}" t="inlineStr"><is><t>{text}</t></is></c>' for i, text in enumerate(texts)
    )
    return f'<row r="{number}">{cells}</row>'


def sheet_xml(rows: str, doctype: str = "") -> str:
    return SHEET_HEAD.format(doctype=doctype) + rows + SHEET_TAIL


def workbook(sheet: str | bytes) -> bytes:
    """An .xlsx as Excel lays it out, with the given worksheet XML."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return buf.getvalue()


XXE = '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
BILLION_LAUGHS = (
    '<!DOCTYPE worksheet [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _zeros_segment(byte: bytes, size: int) -> tuple[zlib._Compress, bytes]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c, c.compress(byte * size) + c.flush(zlib.Z_FULL_FLUSH)


def raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of already deflated members: (name, deflated bytes, CRC-32, declared size)."""
    out, central = bytearray(), bytearray()
    for name, deflated, crc, size in members:
        encoded = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(deflated), size, len(encoded), 0)
        out += encoded + deflated
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            len(deflated),
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += encoded
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd_offset, 0)
    return bytes(out)


def workbook_with_huge_cell(size: int = 300 * 1024 * 1024, *, declared: int | None = None) -> bytes:
    """A ≈ 300 KB .xlsx whose sheet holds one cell of `size` letters (300 MB by default).

    `declared` makes the zip directory lie about the sheet's decompressed size."""
    head = (SHEET_HEAD.format(doctype="") + '<row r="1"><c r="A1" t="inlineStr"><is><t>').encode()
    tail = ("</t></is></c></row>" + row(2, "x") + SHEET_TAIL).encode()
    step = 16 * 1024 * 1024
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)]
    segment = c.compress(b"A" * step) + c.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    block = b"A" * step
    for _ in range(size // step):
        parts.append(segment)
        crc = zlib.crc32(block, crc)
    rest = b"A" * (size % step)
    parts.append(c.compress(rest + tail) + c.flush())
    crc = zlib.crc32(rest + tail, crc)
    total = len(head) + size + len(tail)
    small = [
        (name, _deflate(text.encode()), zlib.crc32(text.encode()), len(text.encode()))
        for name, text in (
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", RELS),
            ("xl/workbook.xml", WORKBOOK),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        )
    ]
    return raw_zip([*small, ("xl/worksheets/sheet1.xml", b"".join(parts), crc, declared or total)])


# --- PDF ------------------------------------------------------------------------------------------


def pdf_with_stream(raw: bytes, filters: str = "/FlateDecode") -> bytes:
    """A one-page PDF whose content stream is `raw`, with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter %s >>\nstream\n" % (len(raw), filters.encode()) + raw + b"\nendstream",
    ]
    out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def flate_bomb(size: int = 1024 * 1024 * 1024) -> bytes:
    """A zlib stream of `size` zero bytes (1 GB by default) in about 1 MB."""
    step = 16 * 1024 * 1024
    c, segment = _zeros_segment(b"\0", step)
    adler = ((size % 65521) << 16) | 1  # Adler-32 of zeros: a stays 1, b is the length
    return b"\x78\xda" + segment * (size // step) + c.flush() + struct.pack(">I", adler)


def a_zip(name: str = "payload.exe", data: bytes = b"MZ\x90\x00 not a document") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


# --- PNG ------------------------------------------------------------------------------------------


def png_with_text(text: str, size: tuple[int, int] = (40, 20)) -> tuple[bytes, bytes]:
    """A PNG with `text` in a tEXt chunk, and the raw pixels it shows."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text)
    info.add_itxt("Description", text)
    image = Image.new("RGB", size, (200, 30, 30))
    image.putpixel((3, 4), (1, 2, 3))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue(), image.tobytes()
