"""mfa's parts of the account pages (accounts.sections): the passkeys and two-step verification on the
security page, the one-time passkey offer on the home page, and "Use a passkey" on the
re-authentication page."""

from __future__ import annotations

from accounts import sections
from accounts.stages import must_have_mfa

from .passkeys.flows import offer_passkey_once
from .policy import passkeys, recovery_codes_left, totp_devices
from .status import mfa_status


def security_context(request) -> dict:
    user = request.user
    return {
        "totp_devices": totp_devices(user),
        "passkeys": passkeys(user),
        "recovery_left": recovery_codes_left(user),
        "must_have_mfa": must_have_mfa(user),
        "mfa_status": mfa_status(user),
    }


def home_context(request) -> dict:
    return {"offer_passkey": offer_passkey_once(request)}


def reauthenticate_context(request) -> dict:
    return {"reauthenticate_with_passkey": passkeys(request.user).exists()}


def register() -> None:
    sections.add_section(sections.SECURITY, sections.Section("mfa/_security_factors.html", security_context, order=20))
    sections.add_section(sections.HOME, sections.Section("mfa/_home_passkey_offer.html", home_context))
    # Before the sign-in providers' buttons: a passkey is a factor the account holds.
    reauthenticate = sections.Section("mfa/_reauthenticate_passkey.html", reauthenticate_context, order=-10)
    sections.add_section(sections.REAUTHENTICATE, reauthenticate)
