"""Recognising the browsers a person signs in from, so a sign-in from a new one can be reported.

A browser is known by a random token in a long-lived signed cookie (so only tokens this site issued
count); the database keeps only its hash.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .audit import record_credential_event
from .models import CredentialEvent, KnownDevice, OutboxMail, User
from .outbox import queue_mail

DEVICE_COOKIE_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
NEW_DEVICE_COOKIE = "_identity_new_device_cookie"  # request attribute read by DeviceCookieMiddleware
COOKIE_SALT = "accounts.device"


def device_cookie_name() -> str:
    return "__Host-device" if settings.SESSION_COOKIE_SECURE else "device"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def recognise_device(request, user: User, *, via: str = "") -> None:
    """Note the browser behind a successful sign-in; mail the user if it is new to their account
    (`via`: the identity provider the sign-in went through, which the mail names).

    The first browser an account ever uses is registered silently (it is the one that just signed up).
    """
    token = request.get_signed_cookie(device_cookie_name(), default="", salt=COOKIE_SALT)
    if not token:
        token = secrets.token_urlsafe(32)
        setattr(request, NEW_DEVICE_COOKIE, token)
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    known = KnownDevice.objects.filter(user=user, token_hash=_hash(token))
    if known.update(last_seen=timezone.now(), user_agent=user_agent):
        return
    with transaction.atomic():
        first = not KnownDevice.objects.filter(user=user).exists()
        _, created = KnownDevice.objects.get_or_create(
            user=user, token_hash=_hash(token), defaults={"user_agent": user_agent}
        )
        if created and not first:
            # Nothing was added, but its "This wasn't me" link still ends everything and the password.
            event = record_credential_event(request, user, CredentialEvent.Kind.NEW_DEVICE)
            facts = {"via": via} if via else {}
            queue_mail(OutboxMail.Kind.NEW_DEVICE, user, request=request, event=event.pk, **facts)


def forget_devices(user: User) -> None:
    KnownDevice.objects.filter(user=user).delete()


class DeviceCookieMiddleware:
    """Sets the device cookie chosen during a sign-in on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        token = getattr(request, NEW_DEVICE_COOKIE, None)
        if token:
            response.set_signed_cookie(
                device_cookie_name(),
                token,
                salt=COOKIE_SALT,
                max_age=DEVICE_COOKIE_AGE,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
