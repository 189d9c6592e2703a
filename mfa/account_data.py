"""mfa's part of "Download my data" (accounts.account_data): the factors, never their secrets (no
TOTP key, passkey public key or credential id, no recovery-code hash: only names, dates and counts)."""

from __future__ import annotations

from accounts.account_data import add_data_part, when

from .models import RecoveryCode
from .policy import passkeys, recovery_codes_left, totp_devices


def second_factors(user) -> dict:
    return {
        "passkeys": [
            {
                "name": passkey.name,
                "added_at": when(passkey.created_at),
                "last_used_at": when(passkey.last_used_at),
                "aaguid": passkey.aaguid,
                "synced": passkey.backed_up,
            }
            for passkey in passkeys(user)
        ],
        "authenticator_apps": [
            {"name": device.name, "added_at": when(device.created_at), "last_used_at": when(device.last_used_at)}
            for device in totp_devices(user)
        ],
        "recovery_codes": {
            "left": recovery_codes_left(user),
            "generated_at": when(
                RecoveryCode.objects.filter(user=user)
                .order_by("-created_at")
                .values_list("created_at", flat=True)
                .first()
            ),
        },
    }


def register() -> None:
    add_data_part("second_factors", second_factors)
