"""Small valid files made in code, for the demo seed and the tests (no binary fixtures)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw
from pypdf import PdfWriter
from pypdf.generic import NameObject, TextStringObject


def sample_pdf(title: str = "sample") -> bytes:
    """A one-page A4 PDF; `title` goes into the metadata so different samples hash differently."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({NameObject("/Title"): TextStringObject(title)})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sample_png(width: int = 320, height: int = 200, label: str = "") -> bytes:
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((4, 4, width - 5, height - 5), outline="black", width=2)
    if label:
        draw.text((12, 12), label, fill="black")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def sample_jpeg(width: int = 320, height: int = 200) -> bytes:
    img = Image.new("RGB", (width, height), (230, 230, 250))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()
