"""The mail outbox: every mail is a row written with the change that caused it, sent later by Celery.

A row names a kind of mail and its recipient. The links in it (verification, reset) are minted from the
user's current state by the worker that first claims the row, kept with it until it is sent (so every
attempt sends the same link) and then erased (accounts/tasks.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from identity.net import client_ip, describe_device

from .app_settings import app_settings
from .models import CredentialEvent, OutboxMail, User
from .tokens import make_email_change_token, make_not_me_token, make_verification_token, mint_signin_code

log = logging.getLogger(__name__)


def absolute_url(path: str) -> str:
    return settings.SITE_URL + path


def password_reset_url(user: User) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return absolute_url(reverse("accounts:password_reset_confirm", args=[uidb64, token]))


def _verify_email_links(row: OutboxMail) -> dict:
    token = make_verification_token(row.user)
    return {"verify_url": absolute_url(reverse("accounts:verify_email", args=[token]))}


def _account_links(row: OutboxMail) -> dict:
    return {
        "signin_url": absolute_url(reverse("accounts:signin")),
        "reset_url": absolute_url(reverse("accounts:password_reset")),
        "security_url": absolute_url(reverse("accounts:security")),
    }


def _credential_event_links(row: OutboxMail) -> dict:
    """A mail about a credential event also carries its "This wasn't me" link (see flows/not_me.py)."""
    links = _account_links(row)
    event = CredentialEvent.objects.filter(pk=row.context.get("event"), user=row.user).first()
    if event is not None:
        links["not_me_url"] = absolute_url(reverse("accounts:not_me_link", args=[make_not_me_token(event)]))
        links["not_me_days"] = max(1, app_settings.NOT_ME_LINK_TIMEOUT // 86400)
    return links


def _password_reset_links(row: OutboxMail) -> dict:
    return {"reset_url": password_reset_url(row.user)}  # type: ignore[arg-type]  # rows without a user are never sent


def _email_change_links(row: OutboxMail) -> dict:
    token = make_email_change_token(row.user, row.to)
    return {"confirm_url": absolute_url(reverse("accounts:email_change_link", args=[token]))}


def _signin_code(row: OutboxMail) -> dict:
    return {
        "code": mint_signin_code(row.context["pending"], row.user),
        "minutes": app_settings.SIGNIN_CODE_TIMEOUT // 60,
        "reset_url": absolute_url(reverse("accounts:password_reset")),
    }


# What each kind of mail links to, minted at send time from the row and the user's current state.
LINKS: dict[str, Callable[[OutboxMail], dict]] = {
    OutboxMail.Kind.VERIFY_EMAIL: _verify_email_links,
    OutboxMail.Kind.ACCOUNT_EXISTS: _account_links,
    OutboxMail.Kind.PASSWORD_RESET: _password_reset_links,
    OutboxMail.Kind.PASSWORD_CHANGED: _account_links,
    OutboxMail.Kind.NEW_DEVICE: _credential_event_links,
    OutboxMail.Kind.MFA_CHANGED: _credential_event_links,
    OutboxMail.Kind.EMAIL_CHANGE: _email_change_links,
    OutboxMail.Kind.EMAIL_CHANGED: _credential_event_links,
    OutboxMail.Kind.MFA_FAILURES: _account_links,
    OutboxMail.Kind.PASSKEY_CLONED: _account_links,
    OutboxMail.Kind.SIGNIN_CODE: _signin_code,
    OutboxMail.Kind.UPSTREAM_CHANGED: _credential_event_links,
    OutboxMail.Kind.ACCOUNT_DELETED: lambda row: {"signup_url": absolute_url(reverse("accounts:signup"))},
}


# Kinds that go to an address with no account behind it (yet): another app's, added with add_mail_kind.
# Any other row without a user is a decoy the worker discards.
# An account's deletion is mailed after its row is gone, so that mail names the address only.
TO_ADDRESS_ONLY: set[str] = {OutboxMail.Kind.ACCOUNT_DELETED}


def add_mail_kind(kind: str, links: Callable[[OutboxMail], dict], *, to_address_only: bool = False) -> None:
    """Another app's kind of mail (federation's address verification): `links` mints its links at send
    time from the row, as LINKS does; its templates are mail/<kind>.txt, .html and _subject.txt.
    `to_address_only`: its rows name no user and are sent to `to` all the same."""
    LINKS[kind] = links
    if to_address_only:
        TO_ADDRESS_ONLY.add(kind)


def queue_mail(kind: str, user: User | None, *, request=None, to: str | None = None, **facts) -> OutboxMail:
    """Write a mail to the outbox and send it once the surrounding transaction commits.

    With a request, the mail can say when and from where (address, device) the action came. With no
    user, the row is a decoy that the worker discards: requests about unknown addresses do exactly the
    same work as those about real accounts, so their timing tells nothing. The mail speaks the
    language the person chose (User.language), else the request's.
    """
    context = dict(facts)
    if request is not None:
        context.update(
            at=timezone.now().isoformat(),
            ip=client_ip(request),
            device=describe_device(request.META.get("HTTP_USER_AGENT", "")),
        )
    row = OutboxMail.objects.create(
        kind=kind,
        user=user,
        to=to or (user.email if user else ""),
        context=context,
        language=(user.language if user and user.language else translation.get_language()) or settings.LANGUAGE_CODE,
    )
    transaction.on_commit(lambda: enqueue(row.pk))
    return row


def enqueue(mail_id: int) -> None:
    """Hand a row to Celery. If the broker is down the row waits for the sweep; the request goes on."""
    from .tasks import send_outbox_mail  # tasks.py imports this module

    try:
        send_outbox_mail.delay(mail_id)
    except Exception:  # kombu raises a variety of connection errors; all mean "try later"
        log.warning("broker unavailable; mail %s left for the outbox sweep", mail_id, exc_info=True)


def mint_links(row: OutboxMail) -> dict:
    """The row's links, minted now; JSON, so they can be kept with the row until it is sent."""
    with translation.override(row.language):
        return {key: str(value) if not isinstance(value, int) else value for key, value in LINKS[row.kind](row).items()}


def render_mail(row: OutboxMail) -> EmailMultiAlternatives:
    """The mail, with the links kept in the row (minted now if it has none, as in previews and tests)."""
    user = row.user
    with translation.override(row.language):
        context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, "user": user, **row.context}
        if "at" in row.context:
            context["at"] = datetime.fromisoformat(row.context["at"])
        context.update(row.links or LINKS[row.kind](row))
        subject = render_to_string(f"mail/{row.kind}_subject.txt", context).strip()
        text = render_to_string(f"mail/{row.kind}.txt", context)
        html = render_to_string(f"mail/{row.kind}.html", context)
    message = EmailMultiAlternatives(
        subject=f"{settings.SITE_NAME}: {subject}", body=text, to=[row.to], from_email=settings.DEFAULT_FROM_EMAIL
    )
    message.attach_alternative(html, "text/html")
    return message
