"""The short code printed on each generated form, so that the signed scan finds its form.

A code is the form's kind (SQB, XY, …) and four characters drawn from the case, e.g.
``SQB-K7M2``: the same for every rendering of that form of that case, different between
cases, short enough to type from the paper. The upload of a signed form reads the code typed
or the one in the file's name and picks the form (`kind_from_code`); a code of another case is
refused rather than filed under the wrong case.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from .models import DocumentKind

# Also printed in the form's reference number: <case reference>-<kind code>-<version>.
CODES: dict[str, str] = {
    DocumentKind.APPLICATION_FORM: "SQB",
    DocumentKind.SERVICE_AGREEMENT: "XY",
    DocumentKind.AUTHORISATION_LETTER: "WTS",
    DocumentKind.EBANKING_REGISTRATION: "ZCB",
    DocumentKind.PRODUCTION_VERIFICATION_FORM: "YZQ",
    DocumentKind.TERMINATION_FORM: "ZXS",
    DocumentKind.LINK_CHANGE_FORM: "BGS",
}
_PATTERN = re.compile(r"(?<![A-Z0-9])(" + "|".join(CODES.values()) + r")[-_ ]?([A-Z2-7]{4})(?![A-Z0-9])")


class WrongCase(ValueError):
    """A form code that belongs to no form of this case."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def form_code(case: Any, kind: str) -> str:
    digest = hashlib.sha256(f"{case.public_id}:{kind}".encode()).digest()
    return f"{CODES[kind]}-{base64.b32encode(digest).decode()[:4]}"


def kind_from_code(case: Any, text: str) -> str | None:
    """The kind of the case's form whose code appears in `text` (typed, or a file's name);
    None if no code appears; `WrongCase` if a code appears that is not one of this case's."""
    found = None
    for prefix, tail in _PATTERN.findall(text.upper()):
        code = f"{prefix}-{tail}"
        kind = next((k for k in CODES if form_code(case, k) == code), None)
        if kind is None:
            found = found or WrongCase(code)
            continue
        return kind
    if found is not None:
        raise found
    return None
