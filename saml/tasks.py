"""SOAP Single Logout delivery, retried with backoff while the SP cannot be reached."""

from __future__ import annotations

import logging
from datetime import timedelta

import requests
from celery import shared_task
from django.utils import timezone

from .app_settings import app_settings
from .keys import CertificatesUnavailable
from .logout import LogoutNotDelivered, deliver, enqueue
from .models import SignOn

log = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(requests.RequestException, LogoutNotDelivered, CertificatesUnavailable),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=app_settings.SAML_LOGOUT_RETRIES,
)
def send_logout(sign_on_pk: int) -> None:
    sign_on = SignOn.objects.select_related("service_provider").filter(pk=sign_on_pk, logout_pending=True).first()
    if sign_on is None:
        return
    deliver(sign_on)
    SignOn.objects.filter(pk=sign_on_pk).update(logout_pending=False)
    log.info("SAML logout delivered to %s", sign_on.service_provider.entity_id)


@shared_task
def forget_old_sign_ons() -> int:
    """Sign-ons are kept for SAML_SIGN_ON_RETENTION (the security page's "last signed in", Single
    Logout of sessions that old); then they go, ended or not."""
    cutoff = timezone.now() - timedelta(seconds=app_settings.SAML_SIGN_ON_RETENTION)
    deleted, _ = SignOn.objects.filter(signed_on_at__lt=cutoff).delete()
    return deleted


@shared_task
def sweep_pending_logouts() -> int:
    """Hand to Celery again the logouts still pending an hour after their session ended (a broker
    outage, or retries that ran out while the SP was down); after a day, give up on them."""
    now = timezone.now()
    pending = SignOn.objects.filter(logout_pending=True)
    pending.filter(ended_at__lt=now - timedelta(days=1)).update(logout_pending=False)
    stale = pending.filter(ended_at__lt=now - timedelta(hours=1)).values_list("pk", flat=True)[:500]
    return sum(enqueue(pk) for pk in stale)
