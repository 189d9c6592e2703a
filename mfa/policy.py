"""Who needs a second factor, and which ones they have."""

from __future__ import annotations

from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import RecoveryCode

# Factors that count as the second one (passkeys will join them).
# A user-verified passkey is multi-factor on its own (something you have, plus PIN or biometrics).
SECOND_FACTORS = frozenset({"otp", "recovery", "passkey"})


def must_have_mfa(user) -> bool:
    policy = settings.MFA_REQUIRED
    return user.mfa_required or policy == "all" or (policy == "staff" and user.is_staff)


def totp_devices(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("created_at", "pk")


def passkeys(user):
    from .models import Passkey

    return Passkey.objects.filter(user=user).order_by("created_at", "pk")


def second_factor_count(user) -> int:
    return totp_devices(user).count() + passkeys(user).count()


def has_second_factor(user) -> bool:
    return totp_devices(user).exists() or passkeys(user).exists()


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
