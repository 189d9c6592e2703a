"""OpenID Connect Back-Channel Logout 1.0: a signed logout token, POSTed to the app by Celery."""

from __future__ import annotations

import logging
import time
import uuid

from django.db import transaction

from . import issuer, signing
from .app_settings import app_settings
from .models import PendingLogout

log = logging.getLogger(__name__)

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_token(client, subject: str, sid: str = "") -> str:
    """A logout token for one app: by `sid` for one session, by `sub` alone for all of them; signed
    with the app's algorithm, as its ID tokens are."""
    now = int(time.time())
    claims = {
        "iss": issuer(),
        "aud": client.client_id,
        "iat": now,
        "exp": now + app_settings.OIDC_LOGOUT_TOKEN_LIFETIME,
        "jti": str(uuid.uuid4()),
        "sub": subject,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    if sid:
        claims["sid"] = sid
    return signing.sign(claims, alg=client.algorithm, typ="logout+jwt")


def notify_logout(client, user, sid: str = "") -> None:
    """Queue the logout token once the surrounding change is committed. While the broker is down it
    waits as a PendingLogout row for the sweep; the person signing out never sees an error. The task
    carries the subject, so a logout sent because the account is being deleted still goes out."""
    subject = str(user.subject)
    transaction.on_commit(lambda: enqueue_logout(client.pk, subject, sid))


def enqueue_logout(client_pk: int, subject: str, sid: str) -> bool:
    from .tasks import send_backchannel_logout  # tasks.py imports this module

    try:
        send_backchannel_logout.delay(client_pk, subject, sid)
    except Exception:  # kombu raises a variety of connection errors; all mean "try later"
        pending = PendingLogout.objects.create(client_id=client_pk, subject=subject, sid=sid)
        log.warning(
            "broker unavailable; back-channel logout to %s not queued, left for the sweep",
            pending.client.client_id,
            exc_info=True,
        )
        return False
    return True
