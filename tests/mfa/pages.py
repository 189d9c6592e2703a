"""The second-factor pages as a person uses them: the password step, the code step, re-authentication,
enrolling an authenticator app from what the page shows, and reading recovery codes off the page."""

from __future__ import annotations

import re
import time
from base64 import b32decode
from binascii import hexlify, unhexlify

from django.conf import settings
from django.test import Client

from tests.users import PASSWORD, STEP, totp_code

MFA_PAGE = "/accounts/mfa/"
ENROL_PAGE = "/accounts/security/totp/add/"
CODES_PAGE = "/accounts/security/recovery-codes/"
REAUTH_PAGE = "/accounts/reauthenticate/"


def device_of(user):
    from mfa.policy import totp_devices

    return totp_devices(user).first()


def wrong_code(device) -> str:
    """A well-formed code that is certainly not accepted now (not in the drift window)."""
    valid = {totp_code(device, steps) for steps in (-1, 0, 1)}
    return next(code for code in (f"{n}" * 6 for n in range(10)) if code not in valid)


def password_step(c: Client, email: str, password: str = PASSWORD, next_url: str | None = None):
    path = "/accounts/login/" + (f"?next={next_url}" if next_url else "")
    return c.post(path, {"email": email, "password": password})


def start_pending(c: Client, user, **kwargs) -> Client:
    """The password step of a user with a second factor: a pending sign-in waits for the code."""
    response = password_step(c, user.email, **kwargs)
    assert response.status_code == 302 and response["Location"] == MFA_PAGE, response
    return c


def submit_code(c: Client, code: str, recovery: bool = False):
    return c.post(MFA_PAGE + ("?method=recovery" if recovery else ""), {"code": code})


def reauthenticate(c: Client, code: str, next_url: str = "/accounts/security/", recovery: bool = False):
    """Confirm it's you with a second factor's code: the account holds one, so the password will not do.
    Returns the challenge's answer (a redirect to `next_url` when the code was right)."""
    start = c.get(REAUTH_PAGE, {"next": next_url, "with": "second-factor"})  # a passkey holder is asked to
    assert start.status_code == 302 and start["Location"] == MFA_PAGE, start
    return submit_code(c, code, recovery=recovery)


def sign_in_with_mfa(c: Client, user, device=None) -> Client:
    start_pending(c, user)
    response = submit_code(c, totp_code(device or device_of(user)))
    assert response.status_code == 302 and response["Location"] == "/accounts/", response
    return c


def is_signed_in(c: Client) -> bool:
    return c.get("/accounts/").status_code == 200


def session_key(c: Client) -> str:
    return c.cookies[settings.SESSION_COOKIE_NAME].value


def page_after(c: Client, response) -> str:
    """Follow one redirect and return the page's text (where flashed messages appear)."""
    assert response.status_code == 302, response
    return c.get(response["Location"]).content.decode()


def secret_on_page(html: str) -> str:
    """The key as an authenticator app would take it, parsed from the enrolment page, as hex."""
    match = re.search(r'class="secret">.*?<code>([A-Z2-7 ]+)</code>', html, flags=re.S)
    assert match, html
    b32 = match.group(1).replace(" ", "")
    return hexlify(b32decode(b32 + "=" * (-len(b32) % 8))).decode()


def code_for_secret(secret_hex: str, steps_ago: int = 0) -> str:
    """What an authenticator app set up with this secret shows (now, or steps ago)."""
    from django_otp.oath import TOTP

    totp = TOTP(unhexlify(secret_hex), STEP, 0, 6, 0)
    totp.time = time.time() - steps_ago * STEP
    return f"{totp.token():06d}"


def enrol_through_pages(c: Client, name: str = "Phone"):
    """Set up an authenticator app the way a person does. Returns (response, secret as hex)."""
    page = c.get(ENROL_PAGE)
    assert page.status_code == 200, page
    secret = secret_on_page(page.content.decode())
    return c.post(ENROL_PAGE, {"name": name, "code": code_for_secret(secret)}), secret


def codes_on_page(html: str) -> list[str]:
    section = html.split('id="recovery-codes"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<code>([a-z0-9-]+)</code>", section)
