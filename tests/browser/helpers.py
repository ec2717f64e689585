from __future__ import annotations

import time

from audit.mfa import totp_code
from tests.factories import PASSWORD, TOTP_SECRET


def staff_login(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Password, then the code of the authenticator app (test staff are enrolled with TOTP_SECRET)."""
    page.goto(f"{base_url}/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", password)
    page.click("button.primary")
    page.wait_for_selector("input[name=code]")
    if 30 - time.time() % 30 < 3:  # don't type a code that expires on the way
        time.sleep(30 - time.time() % 30 + 0.1)
    page.fill("input[name=code]", totp_code(TOTP_SECRET))
    page.click("button.primary")
