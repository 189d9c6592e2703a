"""TOTP, by django-otp: enrolment secrets, the QR code, and checking codes. Protocol only; the side
effects of a successful check live in mfa/base.py and mfa/flows.py."""

from __future__ import annotations

import math
import re
import secrets
import time
from base64 import b32encode
from binascii import unhexlify

import segno
from django.db import transaction
from django.utils import timezone
from django_otp import models as otp_models
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from identity.ratelimit import RateLimited

from .app_settings import app_settings
from .policy import totp_devices

STEP, DIGITS, TOLERANCE = 30, 6, 1  # 6 digits every 30 s; one step of clock drift either way


def normalize_code(code: str) -> str | None:
    """Six digits, forgiving spaces and dashes people type or paste; None for anything else."""
    digits = re.sub(r"[\s-]", "", code or "")
    return digits if re.fullmatch(r"\d{6}", digits) else None


def new_secret() -> str:
    """A 160-bit secret as hex, the form django-otp stores."""
    return secrets.token_hex(20)


def readable_secret(secret_hex: str) -> str:
    """The secret in base32, grouped by four, for typing into an app by hand."""
    b32 = b32encode(unhexlify(secret_hex)).decode().rstrip("=")
    return " ".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def provisioning_uri(user, secret_hex: str) -> str:
    return TOTPDevice(user=user, key=secret_hex, step=STEP, digits=DIGITS).config_url


def qr_svg(uri: str) -> str:
    """An inline SVG: no image request, nothing for a Content-Security-Policy to block."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=4, dark="#1b1f24", light="#ffffff")


def match_enrolment_code(secret_hex: str, code: str) -> int | None:
    """The time step a code matches for a secret being enrolled, or None."""
    token = normalize_code(code)
    if token is None:
        return None
    totp = TOTP(unhexlify(secret_hex), STEP, 0, DIGITS, 0)
    totp.time = time.time()
    if not totp.verify(int(token), TOLERANCE):
        return None
    return totp.t()  # includes the drift verify() settled on


def create_device(user, name: str, secret_hex: str, last_t: int) -> TOTPDevice:
    """A confirmed device whose enrolment code cannot be used again to sign in."""
    return TOTPDevice.objects.create(
        user=user,
        name=name,
        key=secret_hex,
        step=STEP,
        digits=DIGITS,
        tolerance=TOLERANCE,
        confirmed=True,
        last_t=last_t,
    )


def verify_code(user, code: str) -> TOTPDevice | None:
    """The user's device that accepts this code, or None.

    Each device row is locked while it is checked, so parallel submissions of one code are checked one
    after the other: the first moves django-otp's `last_t` past the code, and the rest are refused.
    django-otp's own throttling (growing delays after failures) applies per device.
    """
    token = normalize_code(code)
    if token is None:
        return None
    with transaction.atomic():
        devices = list(totp_devices(user).select_for_update())
        waits = [_throttle_wait(device) for device in devices]
        if devices and all(waits):
            # Every device is in django-otp's back-off: say so, rather than call a right code wrong.
            raise RateLimited(min(waits), ("otp-device",))
        for device in devices:
            if device.verify_token(token):
                return device
    return None


def _throttle_wait(device: TOTPDevice) -> int:
    """Seconds until django-otp lets this device check a code again (0: now), from the deadline its
    own check reports (capped by cap_backoff)."""
    allowed, refusal = device.verify_is_allowed()
    if allowed:
        return 0
    return max(1, math.ceil((refusal["locked_until"] - timezone.now()).total_seconds()))


def cap_backoff() -> None:
    """django-otp doubles a device's pause after every failure, up to 100 years: an attacker who knows
    the password could lock the owner's authenticator app for good. Its one knob is this module
    constant, read on every check; set it to MFA_TOTP_MAX_BACKOFF (the Redis limits still count every
    code). Fails loudly if an upgrade of django-otp renames it."""
    if not hasattr(otp_models, "MAX_THROTTLE_DELAY_SECONDS"):
        raise RuntimeError("django_otp.models.MAX_THROTTLE_DELAY_SECONDS is gone: cap django-otp's back-off anew")
    otp_models.MAX_THROTTLE_DELAY_SECONDS = app_settings.MFA_TOTP_MAX_BACKOFF


def clear_backoff(user) -> None:
    """Another factor was proved (a passkey, a recovery code): the person is back, so their
    authenticator apps need not wait out a back-off an attacker may have run up. Each row is locked
    as verify_code locks it, so django-otp's reset (a save of the whole row) writes no stale `last_t`."""
    with transaction.atomic():
        for device in totp_devices(user).filter(throttling_failure_count__gt=0).select_for_update():
            device.throttle_reset()
