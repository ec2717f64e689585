"""The robots' webhook keys at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived by HKDF.

The key comes from `WECOM_KEY_SECRET` when set (so rotating SECRET_KEY does not lose the robots),
else from SECRET_KEY. A database dump alone therefore does not reveal a robot's key; anyone
holding the key can post to the group, which is why it is never shown again after it is entered.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _fernet() -> Fernet:
    secret = (getattr(settings, "WECOM_KEY_SECRET", "") or settings.SECRET_KEY).encode()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"onboarding wecom robot key").derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))


def key_encrypt(key: str) -> str:
    return _fernet().encrypt(key.encode()).decode()


def key_decrypt(token: str) -> str:
    """The webhook key; raises `KeyUnreadable` when the secret it was encrypted with is gone."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise KeyUnreadable from None


class KeyUnreadable(Exception):
    pass


def key_mask(key: str) -> str:
    """What the pages show: the first and last four characters."""
    if len(key) <= 8:
        return "****"
    return f"{key[:4]}****{key[-4:]}"
