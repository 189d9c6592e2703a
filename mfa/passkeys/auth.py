"""WebAuthn protocol calls (py_webauthn) and nothing else: options, challenges, verification.

The relying party id, name and origins come from settings, never from the request's Host or
forwarded headers. Challenges are random, live in the session for WEBAUTHN_CHALLENGE_TIMEOUT and are
removed on first use, so a replayed or late response fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

CHALLENGE_KEY = "mfa.webauthn_challenge"
KNOWN_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


class PasskeyError(Exception):
    """Anything wrong with a passkey response; the message is safe to show."""


@dataclass(frozen=True)
class NewCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    backup_eligible: bool
    backed_up: bool
    transports: list[str]


@dataclass(frozen=True)
class Assertion:
    credential_id: bytes
    user_handle: bytes | None
    raw: object  # the parsed credential, for verify_assertion


def _descriptor(passkey) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in passkey.transports or []:
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            pass
    return PublicKeyCredentialDescriptor(id=bytes(passkey.credential_id), transports=transports or None)


def _keep_challenge(request, purpose: str, challenge: bytes) -> None:
    request.session[CHALLENGE_KEY] = {"purpose": purpose, "challenge": bytes_to_base64url(challenge), "at": time.time()}


def take_challenge(request, purpose: str) -> bytes:
    """The challenge issued for this purpose, removed as it is read; an error if none, or too old."""
    stored = request.session.pop(CHALLENGE_KEY, None)
    if not stored or stored.get("purpose") != purpose:
        raise PasskeyError(_("There is no passkey request in progress. Please try again."))
    if time.time() - stored["at"] > settings.WEBAUTHN_CHALLENGE_TIMEOUT:
        raise PasskeyError(_("The passkey request took too long. Please try again."))
    return base64url_to_bytes(stored["challenge"])


def registration_options(request, user, user_handle: bytes, existing) -> str:
    options = generate_registration_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        rp_name=settings.WEBAUTHN_RP_NAME,
        user_id=user_handle,
        user_name=user.email,
        user_display_name=user.display_name or user.email,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(passkey) for passkey in existing],
        timeout=settings.WEBAUTHN_CHALLENGE_TIMEOUT * 1000,
    )
    _keep_challenge(request, "register", options.challenge)
    return options_to_json(options)


def verify_registration(request, credential: dict) -> NewCredential:
    challenge = take_challenge(request, "register")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=settings.WEBAUTHN_RP_ID,
            expected_origin=settings.WEBAUTHN_ORIGINS,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyError(_("This passkey could not be verified. Please try again.")) from error
    transports = credential.get("response", {}).get("transports")
    transports = transports if isinstance(transports, list) else []
    return NewCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=str(verified.aaguid),
        backup_eligible=verified.credential_device_type == "multi_device",
        backed_up=verified.credential_backed_up,
        transports=[t for t in transports if isinstance(t, str) and t in KNOWN_TRANSPORTS][:8],
    )


def authentication_options(request, allowed=()) -> str:
    """Options for a passkey sign-in: any discoverable passkey (usernameless), or the given ones."""
    options = generate_authentication_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        allow_credentials=[_descriptor(passkey) for passkey in allowed],
        user_verification=UserVerificationRequirement.REQUIRED,
        timeout=settings.WEBAUTHN_CHALLENGE_TIMEOUT * 1000,
    )
    _keep_challenge(request, "authenticate", options.challenge)
    return options_to_json(options)


def parse_assertion(credential: dict) -> Assertion:
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyError(_("This passkey response could not be read. Please try again.")) from error
    return Assertion(credential_id=parsed.raw_id, user_handle=parsed.response.user_handle, raw=parsed)


class SignCountRegression(PasskeyError):
    """The authenticator's counter went backwards: a sign the credential may have been cloned."""


def verify_assertion(request, assertion: Assertion, passkey) -> tuple[int, bool]:
    """Check a signed assertion against a stored passkey; returns (new sign count, backed up)."""
    challenge = take_challenge(request, "authenticate")
    try:
        verified = verify_authentication_response(
            credential=assertion.raw,
            expected_challenge=challenge,
            expected_rp_id=settings.WEBAUTHN_RP_ID,
            expected_origin=settings.WEBAUTHN_ORIGINS,
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except WebAuthnException as error:
        if "sign count" in str(error):
            raise SignCountRegression(_("This passkey could not be verified.")) from error
        raise PasskeyError(_("This passkey could not be verified. Please try again.")) from error
    return verified.new_sign_count, verified.credential_backed_up
