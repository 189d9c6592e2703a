"""mfa's parts of the account pages (accounts.sections): the passkeys and two-step verification on the
security page, the one-time passkey offer on the home page, and "Use a passkey" on the
re-authentication page."""

from __future__ import annotations

from webauthn.helpers import bytes_to_base64url

from accounts import sections
from accounts.stages import must_have_mfa

from .app_settings import app_settings
from .passkeys.flows import REMOVED_USER_HANDLE, offer_passkey_once
from .policy import passkeys, recovery_codes_left, totp_devices
from .status import mfa_status


def accepted_passkeys(request, held) -> dict | None:
    """For the WebAuthn Signal API (signalAllAcceptedCredentials, static/js/passkeys.js): the account's
    user handle and the ids of the passkeys it still accepts, so the browser forgets removed ones; after
    the last one is removed, the handle it had (kept in the session for one page) and no ids."""
    removed_handle = request.session.pop(REMOVED_USER_HANDLE, None)
    handle = bytes(held[0].user_handle) if held else (bytes.fromhex(removed_handle) if removed_handle else None)
    if handle is None:
        return None
    ids = " ".join(bytes_to_base64url(bytes(passkey.credential_id)) for passkey in held)
    return {"rp_id": app_settings.WEBAUTHN_RP_ID, "user_id": bytes_to_base64url(handle), "ids": ids}


def security_context(request) -> dict:
    user = request.user
    held = list(passkeys(user))
    return {
        "totp_devices": totp_devices(user),
        "passkeys": held,
        "accepted_passkeys": accepted_passkeys(request, held),
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
