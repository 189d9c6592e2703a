"""Back-channel logout delivery, retried with backoff while the app cannot be reached."""

from __future__ import annotations

import logging

import requests
from celery import shared_task
from django.contrib.auth import get_user_model

from .app_settings import app_settings
from .keys import KeysetUnavailable
from .logout import enqueue_logout, logout_token
from .models import Client, PendingLogout

log = logging.getLogger(__name__)


class LogoutNotDelivered(Exception):
    pass


@shared_task(
    autoretry_for=(requests.RequestException, LogoutNotDelivered, KeysetUnavailable),  # a keyset fixed later
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=app_settings.OIDC_BACKCHANNEL_LOGOUT_RETRIES,
)
def send_backchannel_logout(client_pk: int, person: str | int, sid: str = "") -> None:
    """`person` is the subject; a task queued by the release before names the account's row (an int)."""
    client = Client.objects.filter(pk=client_pk).first()
    subject = _subject_of_row(person) if isinstance(person, int) else person
    if client is None or subject is None or not client.backchannel_logout_uri:
        return
    # Minted at each attempt, so a retried delivery never carries an expired token.
    response = requests.post(
        client.backchannel_logout_uri,
        data={"logout_token": logout_token(client, subject, sid)},
        timeout=app_settings.OIDC_BACKCHANNEL_LOGOUT_TIMEOUT,
        allow_redirects=False,
    )
    if not 200 <= response.status_code < 300:
        raise LogoutNotDelivered(f"{client.client_id}: HTTP {response.status_code}")
    log.info("back-channel logout delivered to %s", client.client_id)


def _subject_of_row(pk: int) -> str | None:
    subject = get_user_model().objects.filter(pk=pk).values_list("subject", flat=True).first()
    return str(subject) if subject else None


@shared_task
def sweep_pending_logouts() -> int:
    """Hand to Celery the logouts that waited out a broker outage (each row once: it goes when handed)."""
    handed = 0
    for pending in PendingLogout.objects.order_by("pk")[:500]:
        PendingLogout.objects.filter(pk=pending.pk).delete()
        handed += enqueue_logout(pending.client_id, str(pending.subject), pending.sid)
    return handed
