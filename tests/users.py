"""The test users' password and authenticator app, and signing them in with both."""

from __future__ import annotations

import time

from django.test import Client

PASSWORD = "correct horse battery staple"

# django-otp's default TOTP step, in seconds.
STEP = 30


def totp_code(device, steps_ago: int = 0) -> str:
    """The code an authenticator app would show for a django-otp TOTP device (now, or steps ago)."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() - steps_ago * device.step
    return f"{totp.token():0{device.digits}d}"


def add_totp(user, name: str = "Phone"):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from mfa.totp import new_secret

    return TOTPDevice.objects.create(user=user, name=name, key=new_secret(), confirmed=True)


def pass_mfa(browser: Client, user, **extra):
    """Answer the MFA step of a pending sign-in with the user's current TOTP code."""
    from mfa.policy import totp_devices

    return browser.post("/accounts/mfa/", {"code": totp_code(totp_devices(user).first())}, **extra)


def sign_in_admin(admin, browser: Client | None = None, **extra) -> Client:
    browser = browser or Client(raise_request_exception=False)
    first = browser.post("/accounts/login/", {"email": admin.email, "password": PASSWORD}, **extra)
    assert first.status_code == 302 and first["Location"] == "/accounts/mfa/", first
    assert pass_mfa(browser, admin, **extra).status_code == 302
    return browser
