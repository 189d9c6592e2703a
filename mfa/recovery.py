"""Recovery codes: ten single-use codes, shown once, stored as keyed hashes."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from .models import RecoveryCode

COUNT = 10
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to read back from paper
LENGTH = 12  # about 59 bits each
WARN_AT = 2  # using a code that leaves this many or fewer warns the user


def _hash(code: str) -> str:
    return salted_hmac("mfa.recovery-code", normalize(code), algorithm="sha256").hexdigest()


def normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch in ALPHABET)


def download(user, codes: list[str]) -> tuple[str, str]:
    """The saved file's name and text: both say which site, account and day the codes are for, so a
    file found months later in Downloads (or one of several accounts') explains itself."""
    today = timezone.localdate().isoformat()
    account = user.get_username()
    site, who = (re.sub(r"[^a-z0-9.]+", "-", part.lower()).strip("-.") for part in (settings.SITE_NAME, account))
    header = _(
        "%(site)s recovery codes for %(account)s (%(site_url)s), created %(date)s.\n"
        "Each code signs you in once instead of your second factor. Keep this file somewhere safe."
    ) % {"site": settings.SITE_NAME, "account": account, "site_url": settings.SITE_URL, "date": today}
    return f"{site}-recovery-codes-{who}-{today}.txt", header + "\n\n" + "\n".join(codes) + "\n"


def display(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def generate(user) -> list[str]:
    """A fresh set of codes; the old set, used or not, stops working."""
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    with transaction.atomic():
        RecoveryCode.objects.filter(user=user).delete()
        RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=_hash(code)) for code in codes)
    return [display(code) for code in codes]


def use(user, code: str) -> bool:
    """Spend a code. One UPDATE decides, so a code can never be spent twice, even in parallel."""
    if len(normalize(code)) != LENGTH:
        return False
    return bool(
        RecoveryCode.objects.filter(user=user, code_hash=_hash(code), used_at__isnull=True).update(
            used_at=timezone.now()
        )
    )


def code_ids(user) -> list[int]:
    """The current set, by row id (what a credential event remembers, never the codes)."""
    return list(RecoveryCode.objects.filter(user=user).values_list("pk", flat=True))


def discard(user, ids: list[int] | None = None) -> None:
    """Delete the user's codes (only those rows, given ids)."""
    codes = RecoveryCode.objects.filter(user=user)
    (codes if ids is None else codes.filter(pk__in=ids)).delete()
