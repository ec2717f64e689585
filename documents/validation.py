"""What an upload is, decided by its content: PDF, JPEG or PNG, or a refusal with a reason."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import unicodedata
import warnings
import zlib
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import LimitReachedError, PyPdfError
from pypdf.filters import ASCII85Decode, ASCIIHexDecode, LZWDecode, RunLengthDecode
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject, StreamObject

logger = logging.getLogger(__name__)

# Magic bytes → (content type, extensions a file of that type may carry).
PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
EXTENSIONS = {PDF: (".pdf",), JPEG: (".jpg", ".jpeg"), PNG: (".png",)}
TYPE_LABEL = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG"}
# A scan of an A4 page at 600 dpi is about 5000 x 7000 pixels; far beyond that is a bomb
# or a mistake.
MAX_IMAGE_SIDE = 15_000
MAX_IMAGE_PIXELS = 60_000_000
# A PDF is read by people: anything that runs, submits, launches or carries another file is
# refused, whatever the viewer would do with it. More objects than this is not a scan.
MAX_PDF_OBJECTS = 500_000
# Browsers sniff the first bytes: HTML there makes a PDF/HTML polyglot.
HTML_MARKERS = (b"<html", b"<!doctype", b"<script", b"<body", b"<head", b"<iframe", b"<svg", b"<object", b"<embed")
# pypdf and Pillow raise a zoo of exception types on malformed input; each of them means
# "this file is damaged" to the person uploading it.
CORRUPT_ERRORS = (
    PyPdfError,
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    RecursionError,
    zlib.error,
)


class UploadRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckedFile:
    data: bytes
    content_type: str
    extension: str
    original_name: str
    sha256: str
    # Set when the stored bytes are not the uploaded ones (a PNG re-encoded without its text
    # chunks and metadata): the SHA-256 of what was uploaded, kept in the upload's event.
    uploaded_sha256: str = ""

    @property
    def size(self) -> int:
        return len(self.data)


def clean_original_name(name: str) -> str:
    """The user's file name for display only: no path, no control characters, bounded."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".") or "file"
    stem, ext = os.path.splitext(name)
    return stem[: 200 - len(ext[:10])] + ext[:10]


def sniff(head: bytes) -> str | None:
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    return None


def read_upload(upload: IO[bytes], *, size: int | None = None) -> bytes:
    """Read at most the limit plus one byte, so a huge upload is refused without reading it all."""
    limit = settings.DOCUMENT_MAX_BYTES
    if size is not None and size > limit:
        raise UploadRefused(too_large_message())
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise UploadRefused(too_large_message())
    return data


def too_large_message() -> str:
    mb = settings.DOCUMENT_MAX_BYTES // (1024 * 1024)
    return _("文件超过 %(mb)d MB 上限") % {"mb": mb}


def check_file(data: bytes, name: str) -> CheckedFile:
    """Decide from the content what the file is; refuse anything else with a clear reason."""
    original = clean_original_name(name)
    if not data:
        raise UploadRefused(_("文件为空"))
    if len(data) > settings.DOCUMENT_MAX_BYTES:
        raise UploadRefused(too_large_message())
    content_type = sniff(data[:16])
    if content_type is None:
        raise UploadRefused(_("仅接受 PDF、JPEG、PNG 文件(按文件内容判断)"))
    ext = os.path.splitext(original)[1].lower()
    if ext not in EXTENSIONS[content_type]:
        raise UploadRefused(
            _("文件名“%(name)s”与文件内容(%(type)s)不符") % {"name": original, "type": TYPE_LABEL[content_type]}
        )
    uploaded_sha256 = ""
    if content_type == PDF:
        _check_pdf(data)
    else:
        _check_image(data, content_type)
        if content_type == PNG and _png_carries_more_than_pixels(data):
            uploaded_sha256 = hashlib.sha256(data).hexdigest()
            data = _png_reencoded(data)
    return CheckedFile(
        data=data,
        content_type=content_type,
        extension=EXTENSIONS[content_type][0],
        original_name=original,
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_sha256=uploaded_sha256,
    )


def _check_pdf(data: bytes) -> None:
    if any(marker in data[:1024].lower() for marker in HTML_MARKERS):
        raise UploadRefused(_("PDF 文件开头含有网页代码(PDF/HTML 混合文件),不予接受"))
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UploadRefused(_("PDF 已加密或设有密码,请上传未加密的文件"))
        # The page tree is counted with a cap before pypdf flattens it: a 100,000-page file
        # is refused after reading a few hundred page nodes, not all of them.
        cap = settings.DOCUMENT_MAX_PDF_PAGES
        if _count_pages(reader, cap) > cap:
            raise UploadRefused(_("PDF 超过 %(n)d 页上限") % {"n": cap})
        _refuse_active_content(reader)
        pages = len(reader.pages)
        for page in reader.pages:
            page.mediabox  # noqa: B018  (reading the page tree finds broken PDFs)
    except UploadRefused:
        raise
    except CORRUPT_ERRORS as exc:
        logger.info("refused corrupt PDF: %s", exc)
        raise UploadRefused(_("PDF 文件已损坏,无法读取")) from None
    if pages < 1:
        raise UploadRefused(_("PDF 文件已损坏,无法读取"))
    # pypdf recovers silently from a missing end; a file cut off in transfer is still damaged.
    if b"%%EOF" not in data[-2048:]:
        raise UploadRefused(_("PDF 文件已损坏,无法读取"))
    # Bytes after the last %%EOF are not part of the PDF: a viewer ignores them, an unzip tool
    # or a scanner downstream may not (a PDF/ZIP polyglot). Only line ends and padding may follow.
    if data[data.rfind(b"%%EOF") + 5 :].strip(b" \t\r\n\x00\x0c"):
        raise UploadRefused(_("PDF 文件结束标记(%(eof)s)之后还附带了其他数据,不予接受") % {"eof": "%%EOF"})
    if _zip_inside(data):
        raise UploadRefused(_("PDF 中夹带了 ZIP 压缩包(PDF/ZIP 混合文件),不予接受"))
    try:
        _check_pdf_streams(reader, settings.DOCUMENT_MAX_PDF_INFLATED_BYTES)
    except UploadRefused:
        raise
    except CORRUPT_ERRORS as exc:
        logger.info("refused corrupt PDF stream: %s", exc)
        raise UploadRefused(_("PDF 文件已损坏,无法读取")) from None


def _zip_inside(data: bytes) -> bool:
    """A ZIP's end-of-central-directory record near the end whose central directory is really there:
    what unzip looks for (it reads from the end). Four bytes alone would match compressed data by chance."""
    window = 65_535 + 22 + 1024
    base = max(0, len(data) - window)
    at = data.rfind(b"PK\x05\x06", base)
    while at >= 0:
        if at + 22 <= len(data):
            cd_size = struct.unpack("<L", data[at + 12 : at + 16])[0]
            start = at - cd_size
            if 0 < cd_size <= at and data[start : start + 4] == b"PK\x01\x02":
                return True
        at = data.rfind(b"PK\x05\x06", base, at)
    return False


FLATE = {"/FlateDecode", "/Fl"}
# Filters decoded by pypdf, which caps each one's output (75 MB by default); their real output
# is counted like Flate's.
DECODERS = {
    "/ASCIIHexDecode": ASCIIHexDecode.decode,
    "/AHx": ASCIIHexDecode.decode,
    "/ASCII85Decode": ASCII85Decode.decode,
    "/A85": ASCII85Decode.decode,
    "/RunLengthDecode": RunLengthDecode.decode,
    "/RL": RunLengthDecode.decode,
    "/LZWDecode": LZWDecode.decode,
    "/LZW": LZWDecode.decode,
}
# Image codecs end a chain: a viewer decodes them to pixels, bounded by the image's dimensions.
IMAGE_FILTERS = {"/DCTDecode", "/DCT", "/JPXDecode", "/CCITTFaxDecode", "/CCF", "/JBIG2Decode"}
# A decoded stream that feeds another filter is held in memory: never more than this.
MAX_INTERMEDIATE = 64 * 1024 * 1024


def _check_pdf_streams(reader: PdfReader, cap: int) -> None:
    """Every stream in the cross-reference table inflated incrementally, its output counted and
    dropped, until the whole file's total passes `cap`: a 1 MB file of a 1 GB stream is refused
    after inflating `cap` bytes, never held in memory."""
    budget = [cap]
    if sum(len(numbers) for numbers in reader.xref.values()) > MAX_PDF_OBJECTS:
        raise UploadRefused(
            _("PDF 含有不允许的活动内容(%(what)s),请上传普通的扫描件或打印件") % {"what": _("对象过多")}
        )
    for generation, numbers in list(reader.xref.items()):
        for number in list(numbers):
            obj = reader.get_object(IndirectObject(number, generation, reader))
            if isinstance(obj, StreamObject):
                _count_stream(obj, budget)


def _inflated_too_much() -> UploadRefused:
    mb = settings.DOCUMENT_MAX_PDF_INFLATED_BYTES // (1024 * 1024)
    return UploadRefused(_("PDF 中的压缩数据解压后超过 %(mb)d MB 上限(疑似压缩炸弹),不予接受") % {"mb": mb})


def _count_stream(stream: StreamObject, budget: list[int]) -> None:
    filters = stream.get("/Filter")
    names = [str(f) for f in (filters if isinstance(filters, ArrayObject) else [filters] if filters else [])]
    while names and names[-1] in IMAGE_FILTERS:
        names.pop()
    data: bytes = stream._data or b""
    for i, name in enumerate(names):
        last = i == len(names) - 1
        if name in FLATE:
            data = _inflate_counted(data, budget, keep=not last)
        elif name in DECODERS:
            try:
                data = DECODERS[name](data)
            except LimitReachedError:
                raise _inflated_too_much() from None
            budget[0] -= len(data)
            if budget[0] < 0 or (not last and len(data) > MAX_INTERMEDIATE):
                raise _inflated_too_much()
        else:
            raise UploadRefused(
                _("PDF 使用了无法安全检查的编码方式(%(f)s),请用扫描软件重新导出为 PDF") % {"f": " ".join(names)}
            )


def _inflate_counted(raw: bytes, budget: list[int], *, keep: bool = False) -> bytes:
    """Inflate `raw` a megabyte at a time, subtracting each piece from the budget; the output is
    dropped unless `keep` (then it must stay under MAX_INTERMEDIATE)."""
    inflater = zlib.decompressobj()
    kept: list[bytes] = []
    held = 0
    data = raw
    step = 1024 * 1024
    while data and not inflater.eof:
        out = inflater.decompress(data, step)
        budget[0] -= len(out)
        if budget[0] < 0:
            raise _inflated_too_much()
        if keep:
            held += len(out)
            if held > MAX_INTERMEDIATE:
                raise _inflated_too_much()
            kept.append(out)
        data = inflater.unconsumed_tail
        if not out and not data:
            break
    return b"".join(kept)


def _count_pages(reader: PdfReader, cap: int) -> int:
    """Leaf pages of the page tree, counted until one beyond `cap`."""
    stack: list[PdfObject] = [reader.root_object["/Pages"]]
    seen: set[tuple[int, int]] = set()
    count = 0
    while stack and count <= cap:
        ref = stack.pop()
        if isinstance(ref, IndirectObject):
            if (ref.idnum, ref.generation) in seen:
                continue  # a loop in the page tree
            seen.add((ref.idnum, ref.generation))
        node = ref.get_object()
        if not isinstance(node, DictionaryObject):
            continue
        kids = node.get("/Kids")
        if kids is None:
            count += 1
        else:
            kids = kids.get_object()
            if len(kids) > cap + 1:
                return cap + 1
            stack.extend(reversed(kids))
    return count


# Action types (/S) that run code, submit data, start programs or fetch other content.
ACTIVE_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "Launch",
    "/SubmitForm": "SubmitForm",
    "/ImportData": "ImportData",
    "/GoToE": "GoToE",
    "/RichMediaExecute": "RichMediaExecute",
    "/Rendition": "Rendition",
}


def _refuse_active_content(reader: PdfReader) -> None:
    """Walk every object reachable from the document catalogue (dictionaries and arrays; stream
    contents are not decoded) and refuse JavaScript, automatic actions (/AA, an /OpenAction
    other than going to a page), launch and form-submit actions, XFA forms (their scripts
    live in streams) and embedded files."""
    reason = _active_content(reader)
    if reason:
        raise UploadRefused(_("PDF 含有不允许的活动内容(%(what)s),请上传普通的扫描件或打印件") % {"what": reason})


def _active_content(reader: PdfReader) -> str | None:
    stack: list[PdfObject | None] = [reader.trailer["/Root"]]
    seen: set[tuple[int, int]] = set()
    visited = 0
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            key = (obj.idnum, obj.generation)
            if key in seen:
                continue
            seen.add(key)
            obj = obj.get_object()
        visited += 1
        if visited > MAX_PDF_OBJECTS:
            return _("对象过多")
        if isinstance(obj, ArrayObject):
            stack.extend(obj)
            continue
        if not isinstance(obj, DictionaryObject):
            continue
        keys = set(obj.keys())
        if keys & {"/JS", "/JavaScript"}:
            return "JavaScript"
        if "/AA" in keys:
            return _("自动执行的动作 /AA")
        if "/XFA" in keys:  # XFA forms carry their scripts inside XML streams, which are not decoded here
            return "XFA"
        if keys & {"/EmbeddedFile", "/EmbeddedFiles", "/EF"} or obj.get("/Type") == "/EmbeddedFile":
            return _("嵌入文件")
        action = obj.get("/S")
        if isinstance(action, NameObject) and action in ACTIVE_ACTIONS:
            return ACTIVE_ACTIONS[action]
        open_action = obj.get("/OpenAction")
        if open_action is not None:
            target = open_action.get_object()
            if isinstance(target, DictionaryObject):
                kind = target.get("/S")
                if "/JS" in target:
                    return "JavaScript"
                if kind in ACTIVE_ACTIONS:
                    return ACTIVE_ACTIONS[kind]
                if kind != "/GoTo":
                    return _("打开文件时自动执行的动作 /OpenAction")
        stack.extend(obj.values())
    return None


# PNG chunks that describe the pixels (colour, transparency, density); anything else (tEXt, zTXt,
# iTXt, eXIf, iCCP, private chunks) or bytes after IEND makes the image re-encoded.
PNG_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs", b"bKGD"}


def _png_carries_more_than_pixels(data: bytes) -> bool:
    at = 8
    while at + 8 <= len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        kind = data[at + 4 : at + 8]
        if kind not in PNG_PIXEL_CHUNKS:
            return True
        at += 12 + length
        if kind == b"IEND":
            return bool(data[at:])
    return True


def _png_reencoded(data: bytes) -> bytes:
    """The image's pixels written anew by Pillow: text chunks, metadata (EXIF, XMP, ICC profile),
    private chunks and trailing bytes are not carried over; pixels are the same (PNG is lossless)."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            img.load()
            options: dict[str, object] = {}
            if "transparency" in img.info:
                options["transparency"] = img.info["transparency"]
            if "dpi" in img.info:
                options["dpi"] = img.info["dpi"]
            img.info = {}
            out = io.BytesIO()
            img.save(out, format="PNG", **options)
    except CORRUPT_ERRORS as exc:
        logger.info("refused PNG that cannot be re-encoded: %s", exc)
        raise UploadRefused(_("图片文件已损坏,无法读取")) from None
    return out.getvalue()


def _check_image(data: bytes, content_type: str) -> None:
    bad_size = _("图片尺寸异常(最大 %(side)d 像素、共 %(mp)d 百万像素)") % {
        "side": MAX_IMAGE_SIDE,
        "mp": MAX_IMAGE_PIXELS // 1_000_000,
    }
    damaged = _("图片文件已损坏,无法读取")
    # WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES, which makes decoding pad
    # a cut-off file silently; so the end of the file is checked here, independent of it.
    if content_type == PNG and not data.rstrip(b"\0").endswith(b"IEND\xaeB`\x82"):
        raise UploadRefused(damaged)
    if content_type == JPEG and b"\xff\xd9" not in data[-4096:]:
        raise UploadRefused(damaged)
    # A JPEG may carry a few bytes after its end (cameras do); a whole ZIP there is a polyglot.
    if content_type == JPEG and _zip_inside(data):
        raise UploadRefused(_("图片中夹带了 ZIP 压缩包(图片/ZIP 混合文件),不予接受"))
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, on decompression bombs: treat both as a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as img:
                width, height = img.size
                if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE) or (
                    width * height > MAX_IMAGE_PIXELS
                ):
                    raise UploadRefused(bad_size)
                if Image.MIME.get(img.format or "") != content_type:
                    raise UploadRefused(damaged)
                img.verify()
            if content_type == JPEG:
                # verify() does not decode JPEG; decoding at 1/8 scale finds a truncated or
                # garbled scan cheaply.
                with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:
                    img.draft("L", (max(1, width // 8), max(1, height // 8)))
                    img.load()
    except UploadRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRefused(bad_size) from None
    except CORRUPT_ERRORS as exc:
        logger.info("refused corrupt image: %s", exc)
        raise UploadRefused(damaged) from None
