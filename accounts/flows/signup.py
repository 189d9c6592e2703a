"""Creating an account without telling anyone whether the address already had one."""

from __future__ import annotations

from django.db import transaction

from identity import ratelimit
from identity.net import client_ip, rate_limit_subject

from ..models import OutboxMail, User, normalize_email
from ..outbox import queue_mail


def sign_up(request, email: str, password: str) -> None:
    """Create an unverified account and mail a verification link.

    If the address already has an account, mail its owner a notice instead. Both paths run the same
    statements (one insert that the unique address constraint lets do nothing when the address is
    taken, one lookup, one outbox row, in one transaction), hash the password once and end on the
    same page, so neither the response nor its timing tells the two apart. A concurrent sign-up for
    the same address waits on that insert and then finds the winner's account.
    """
    email = normalize_email(email)
    ratelimit.hit(("signup-ip", rate_limit_subject(client_ip(request))), ("signup-address", email.lower()))
    candidate = User(email=email)
    candidate.set_password(password)
    with transaction.atomic():
        User.objects.bulk_create([candidate], ignore_conflicts=True)  # INSERT ... ON CONFLICT DO NOTHING
        account = User.objects.only("pk", "email", "is_active", "subject").get(email__lower=email.lower())
        if account.subject == candidate.subject:  # the row just inserted: its random subject is ours
            queue_mail(OutboxMail.Kind.VERIFY_EMAIL, account)
        else:
            queue_mail(OutboxMail.Kind.ACCOUNT_EXISTS, account if account.is_active else None)
