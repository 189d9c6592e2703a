"""WebAuthn protocol calls (py_webauthn) and nothing else: options, challenges, verification.

The relying party id, name and origins come from settings, never from the request's Host or
forwarded headers. Challenges are random and stateless until they are answered: the browser keeps the
challenge, signed, with its purpose (and, for a registration, its person) and time, in an HttpOnly
cookie (CHALLENGE_COOKIE), valid for WEBAUTHN_CHALLENGE_TIMEOUT. Options therefore write nothing to
Redis, so anyone may ask for them at any rate without creating a session. Each challenge is used
once: its first answer from someone we know (a registered credential, or the signed-in person
registering) is recorded in Redis until it would have expired anyway, and a second is refused, so a
replayed or late response fails. An answer from a credential nobody registered writes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
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
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from identity.cookies import private_cookie

from ..app_settings import app_settings

log = logging.getLogger(__name__)

CHALLENGE_COOKIE = "passkey-challenge"  # identity.cookies: HttpOnly, __Host- outside development
CHALLENGE_SALT = "mfa.passkeys.challenge"
USED_CHALLENGE_PREFIX = "passkey-challenge-used:"
KNOWN_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


class PasskeyError(Exception):
    """Anything wrong with a passkey response; the message is safe to show."""


@dataclass(frozen=True)
class Options:
    json: str  # for the browser's navigator.credentials call
    challenge: str  # the signed challenge, for the browser to keep in CHALLENGE_COOKIE until it answers


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
    raw: AuthenticationCredential  # the parsed credential, for verify_assertion


def _descriptor(passkey) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in passkey.transports or []:
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            pass
    return PublicKeyCredentialDescriptor(id=bytes(passkey.credential_id), transports=transports or None)


def _signed_challenge(purpose: str, challenge: bytes, user_id=None) -> str:
    stored = {"purpose": purpose, "challenge": bytes_to_base64url(challenge), "user": user_id, "at": time.time()}
    return signing.dumps(stored, salt=CHALLENGE_SALT)


def read_challenge(request, purpose: str, user_id=None) -> bytes:
    """The challenge this browser was given for this purpose (and person); an error if none, or too
    old. It only reads: nothing is written, whoever sends the answer."""
    try:
        stored = signing.loads(private_cookie(request, CHALLENGE_COOKIE), salt=CHALLENGE_SALT)
    except signing.BadSignature:
        stored = None
    if not isinstance(stored, dict) or stored.get("purpose") != purpose or stored.get("user") != user_id:
        raise PasskeyError(_("There is no passkey request in progress. Please try again."))
    if time.time() - stored["at"] > app_settings.WEBAUTHN_CHALLENGE_TIMEOUT:
        raise PasskeyError(_("The passkey request took too long. Please try again."))
    return base64url_to_bytes(stored["challenge"])


def use_up_challenge(challenge: bytes) -> None:
    """Record the first use of a challenge (atomically: SET NX) until it would expire; refuse a second.
    Called only for an answer from someone we know, so strangers cannot make it write."""
    used = USED_CHALLENGE_PREFIX + hashlib.sha256(challenge).hexdigest()
    if not cache.add(used, 1, timeout=app_settings.WEBAUTHN_CHALLENGE_TIMEOUT + 1):
        raise PasskeyError(_("There is no passkey request in progress. Please try again."))


def take_challenge(request, purpose: str, user_id=None) -> bytes:
    """The challenge, used up as it is taken."""
    challenge = read_challenge(request, purpose, user_id)
    use_up_challenge(challenge)
    return challenge


def registration_options(user, user_handle: bytes, existing) -> Options:
    options = generate_registration_options(
        rp_id=app_settings.WEBAUTHN_RP_ID,
        rp_name=app_settings.WEBAUTHN_RP_NAME,
        user_id=user_handle,
        user_name=user.email,
        user_display_name=user.display_name or user.email,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(passkey) for passkey in existing],
        timeout=app_settings.WEBAUTHN_CHALLENGE_TIMEOUT * 1000,
    )
    return Options(options_to_json(options), _signed_challenge("register", options.challenge, user.pk))


def verify_registration(request, credential: dict) -> NewCredential:
    challenge = take_challenge(request, "register", request.user.pk)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=app_settings.WEBAUTHN_RP_ID,
            expected_origin=app_settings.WEBAUTHN_ORIGINS,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise not_verified(error) from error
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


def authentication_options(allowed=(), *, purpose: str = "authenticate", bound_to: str | None = None) -> Options:
    """Options for a passkey sign-in: any discoverable passkey (usernameless), or the given ones. A
    `purpose` other than sign-in (re-authentication) keeps its challenge apart, `bound_to` its session."""
    options = generate_authentication_options(
        rp_id=app_settings.WEBAUTHN_RP_ID,
        allow_credentials=[_descriptor(passkey) for passkey in allowed],
        user_verification=UserVerificationRequirement.REQUIRED,
        timeout=app_settings.WEBAUTHN_CHALLENGE_TIMEOUT * 1000,
    )
    return Options(options_to_json(options), _signed_challenge(purpose, options.challenge, bound_to))


def parse_assertion(credential: dict) -> Assertion:
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyError(_("This passkey response could not be read. Please try again.")) from error
    return Assertion(credential_id=parsed.raw_id, user_handle=parsed.response.user_handle, raw=parsed)


class UnknownPasskey(PasskeyError):
    """No account here holds this credential (it was removed, or never registered): the page may tell the
    browser to forget it (WebAuthn Signal API). Says nothing about any account or address."""

    def __init__(self, message: str, credential_id: bytes):
        super().__init__(message)
        self.credential_id = credential_id


class SignCountRegression(PasskeyError):
    """The authenticator's counter went backwards: a sign the credential may have been cloned."""


def verify_assertion(
    request, assertion: Assertion, passkey, *, purpose: str = "authenticate", bound_to: str | None = None
) -> tuple[int, bool]:
    """Check a signed assertion against a stored passkey; returns (new sign count, backed up).

    The counter is compared here, after py_webauthn has checked the signature (it is given a stored
    count of 0, which its own counter check always passes): a counter that did not go up is then
    known to come from the passkey's own key, a sign that the credential was copied, and an assertion
    anyone else signed is merely invalid, so it cannot make us tell the owner of a copy."""
    challenge = take_challenge(request, purpose, bound_to)
    try:
        verified = verify_authentication_response(
            credential=assertion.raw,
            expected_challenge=challenge,
            expected_rp_id=app_settings.WEBAUTHN_RP_ID,
            expected_origin=app_settings.WEBAUTHN_ORIGINS,
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except WebAuthnException as error:
        raise not_verified(error) from error
    if _counter_regressed(verified.new_sign_count, passkey.sign_count):
        raise SignCountRegression(_("This passkey could not be verified."))
    return verified.new_sign_count, verified.credential_backed_up


ORIGIN_MISMATCH = re.compile(r'Unexpected client data origin "([^"]*)"')


def not_verified(error: Exception) -> PasskeyError:
    """The refusal to show. In development, a passkey refused because the site runs on another origin or
    RP id than it is configured for (PORT=8041 with SITE_URL on :8000) says so, on the page and in the log;
    in production the message stays generic (it would tell an attacker the configuration)."""
    if settings.DEBUG:
        expected = ", ".join(app_settings.WEBAUTHN_ORIGINS)
        origin = ORIGIN_MISMATCH.search(str(error))
        if origin:
            log.warning("passkey refused: the page is at %s but WEBAUTHN_ORIGINS is %s", origin.group(1), expected)
            return PasskeyError(
                _(
                    "This page is at %(origin)s but passkeys are set up for %(expected)s: set SITE_URL (or "
                    "WEBAUTHN_ORIGINS) to this page's address, or open the site at %(expected)s."
                )
                % {"origin": origin.group(1), "expected": expected}
            )
        if "RP ID hash" in str(error):
            rp_id = app_settings.WEBAUTHN_RP_ID
            log.warning("passkey refused: the passkey is for another RP id than WEBAUTHN_RP_ID %s", rp_id)
            return PasskeyError(
                _("This passkey is not for %(rp_id)s, the RP id passkeys are set up for: check WEBAUTHN_RP_ID.")
                % {"rp_id": rp_id}
            )
    return PasskeyError(_("This passkey could not be verified. Please try again."))


def _counter_regressed(new: int, stored: int) -> bool:
    """WebAuthn's signature-counter rule (section 6.1.1, applied in the signCount step of 7.2): a counter
    in use must go up every time; one an authenticator keeps at 0 (a synced passkey) is not in use."""
    return (new > 0 or stored > 0) and new <= stored
