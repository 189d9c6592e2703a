"""Which second factors an account holds. Whether it must hold one is accounts' policy
(`accounts.stages.must_have_mfa`): the MFA_REQUIRED setting and the account's own flag."""

from __future__ import annotations

from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Passkey, RecoveryCode


def totp_devices(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("created_at", "pk")


def passkeys(user):
    return Passkey.objects.filter(user=user).order_by("created_at", "pk")


def second_factor_count(user) -> int:
    return totp_devices(user).count() + passkeys(user).count()


def has_second_factor(user) -> bool:
    """One query (asked on every password sign-in): an authenticator app or a passkey."""
    return totp_devices(user).order_by().values("pk").union(passkeys(user).order_by().values("pk")).exists()


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
