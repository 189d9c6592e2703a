"""Mail sending. Tasks take a row id only, are idempotent, and retry with backoff on SMTP errors."""

from __future__ import annotations

import logging
import secrets
import smtplib
from datetime import datetime, timedelta

from celery import shared_task
from django.db.models import F, Q
from django.utils import timezone

from .app_settings import app_settings
from .models import CredentialEvent, OutboxMail
from .outbox import TO_ADDRESS_ONLY, enqueue, mint_links, render_mail

log = logging.getLogger(__name__)


# How long a worker holds a row it is sending: longer than any SMTP conversation (EMAIL_TIMEOUT), so
# the row is only tried again when its worker has surely died between sending and recording it.
CLAIM_LEASE = timedelta(minutes=10)
# Kept links are sent again only while young: a mail recorded late (the claim's lease) repeats its link,
# but a retry hours into an SMTP outage mints new ones rather than mail a reset link that has expired.
LINKS_KEPT_FOR = timedelta(minutes=30)


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def send_outbox_mail(mail_id: int) -> None:
    """Claim the row (one conditional UPDATE, so two workers or two deliveries never both send it), mint
    its links once, send, then record it sent.

    No transaction is held open around the SMTP conversation: if recording fails after the mail went out
    (SQLite's `database is locked`, a lost connection), the claim keeps every other worker and the sweep
    away until the lease ends, and a late retry sends the very same links (while they are young: LINKS_KEPT_FOR).
    """
    claim = claim_row(mail_id)
    if claim is None:  # already sent, being sent by another worker, or gone
        return
    row = OutboxMail.objects.select_related("user").get(pk=mail_id)
    decoy = row.user_id is None and row.kind not in TO_ADDRESS_ONLY
    if decoy or not _still_addressed(row) or _expired(row):  # a decoy, or stale
        _mark_sent(row, claim, attempted=False)
        return
    if not _kept_links_fresh(row):
        row.links = {**mint_links(row), MINTED_AT: timezone.now().isoformat()}
        OutboxMail.objects.filter(pk=mail_id, claim=claim).update(links=row.links)
    try:
        render_mail(row).send()
    except Exception as exc:
        OutboxMail.objects.filter(pk=mail_id, claim=claim).update(
            attempts=F("attempts") + 1,
            last_attempt_at=timezone.now(),
            last_error=repr(exc)[:2000],
            claimed_until=None,
            claim="",
        )
        # Given up (no sweep tries it again): its live links must not outlive it in the database.
        OutboxMail.objects.filter(
            pk=mail_id, sent_at__isnull=True, attempts__gte=app_settings.MAIL_MAX_ATTEMPTS
        ).update(links={})
        log.warning("mail %s not sent: %r", mail_id, exc)
        raise
    _mark_sent(row, claim, attempted=True)


MINTED_AT = "minted_at"


def _kept_links_fresh(row: OutboxMail) -> bool:
    minted = row.links.get(MINTED_AT) if row.links else None
    return minted is not None and timezone.now() - datetime.fromisoformat(minted) < LINKS_KEPT_FOR


def claim_row(mail_id: int) -> str | None:
    """Take the row for this worker if it is unsent and nobody holds it; the token proves the claim."""
    now = timezone.now()
    claim = secrets.token_hex(16)
    taken = (
        OutboxMail.objects.filter(pk=mail_id, sent_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + CLAIM_LEASE, claim=claim)
    )
    return claim if taken else None


def _mark_sent(row: OutboxMail, claim: str, *, attempted: bool) -> None:
    """Sent (or discarded): the links are erased, the claim released."""
    OutboxMail.objects.filter(pk=row.pk, claim=claim).update(
        sent_at=timezone.now(),
        attempts=F("attempts") + int(attempted),
        last_error="",
        links={},
        claimed_until=None,
        claim="",
    )


# Mail whose link only works for the account's current address is never sent to an older one.
ADDRESS_BOUND = {OutboxMail.Kind.VERIFY_EMAIL, OutboxMail.Kind.PASSWORD_RESET}


def _still_addressed(row: OutboxMail) -> bool:
    return row.kind not in ADDRESS_BOUND or row.to.lower() == row.user.email.lower()  # type: ignore[union-attr]  # has a user


def _expired(row: OutboxMail) -> bool:
    """A sign-in code is useless once its sign-in has timed out: never mail it late (after an outage)."""
    age = (timezone.now() - row.created_at).total_seconds()
    return row.kind == OutboxMail.Kind.SIGNIN_CODE and age > app_settings.SIGNIN_CODE_TIMEOUT


@shared_task
def sweep_outbox() -> int:
    """Re-enqueue mail still unsent a while after it was written (a broker or SMTP outage).

    A row that has already failed waits longer after each attempt (doubling, up to an hour), so a long
    SMTP outage spends its MAIL_MAX_ATTEMPTS over many hours rather than minutes.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=app_settings.MAIL_SWEEP_AFTER)
    rows = (
        OutboxMail.objects.filter(
            sent_at__isnull=True, created_at__lte=cutoff, attempts__lt=app_settings.MAIL_MAX_ATTEMPTS
        )
        .exclude(claimed_until__gte=now)
        .values_list("pk", "attempts", "last_attempt_at")[:500]
    )
    due = [pk for pk, attempts, last in rows if last is None or now - last >= _pause_after(attempts)]
    for mail_id in due:
        enqueue(mail_id)
    return len(due)


def _pause_after(attempts: int) -> timedelta:
    return timedelta(seconds=min(app_settings.MAIL_SWEEP_AFTER * 2 ** max(attempts - 1, 0), 3600))


@shared_task
def forget_expired_credential_events() -> int:
    """Credential events outlive their "This wasn't me" links by nothing: once a link has expired the row
    can no longer be acted on (the audit trail keeps what happened)."""
    cutoff = timezone.now() - timedelta(seconds=app_settings.NOT_ME_LINK_TIMEOUT)
    deleted, _ = CredentialEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
