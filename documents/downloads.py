"""How a stored file is named when it is sent: for the pages and the API alike."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """`attachment` with an ASCII fallback and the UTF-8 name per RFC 6266 / RFC 5987."""
    filename = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C")
    # The stem and the extension separately: a Chinese stem has no ASCII left, and the
    # extension must survive it ("营业执照.pdf" → "document.pdf", not "pdf").
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    ascii_stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", ascii_stem).strip(" ._") or "document"
    ascii_extension = re.sub(r"[^A-Za-z0-9]+", "", extension)[:10]
    ascii_name = f"{ascii_stem}.{ascii_extension}" if ascii_extension else ascii_stem
    disposition = "inline" if inline else "attachment"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
