"""Creating an account without telling anyone whether the address already had one."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction

from identity import ratelimit
from identity.net import client_ip, rate_limit_subject

from ..models import OutboxMail, User, normalize_email
from ..outbox import queue_mail


def sign_up(request, email: str, password: str) -> None:
    """Create an unverified account and mail a verification link.

    If the address already has an account, mail its owner a notice instead. Both paths hash the
    password, write one outbox row and end on the same page, so neither the response nor its timing
    tells the two apart.
    """
    email = normalize_email(email)
    ratelimit.hit(("signup-ip", rate_limit_subject(client_ip(request))), ("signup-address", email.lower()))
    try:
        with transaction.atomic():
            existing = User.objects.filter(email__lower=email.lower()).first()
            if existing is None:
                user = User.objects.create_user(email, password)
                queue_mail(OutboxMail.Kind.VERIFY_EMAIL, user)
                return
    except IntegrityError:  # a concurrent sign-up for the same address won the race
        existing = User.objects.get_by_email(email)
    make_password(password)
    with transaction.atomic():
        queue_mail(OutboxMail.Kind.ACCOUNT_EXISTS, existing if existing.is_active else None)
