"""Passkey side effects: registering, signing in (passwordless or as the second factor), renaming,
removing. Protocol calls live in auth.py; the shared ending of a second factor in mfa/base.py."""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from webauthn.helpers import generate_user_handle

from accounts.audit import record_event
from accounts.flows.security import mail_warning
from accounts.flows.signin import (
    begin_signin,
    pending_signin,
    refuse_reauthentication,
    renew_reauthentication,
    spend_reauthentication_attempt,
)
from accounts.models import OutboxMail, SecurityEvent, User
from identity.net import describe_device

from ..base import complete_factor, forget_factor_failures, refuse_factor
from ..flows import factor_added, remove_second_factor
from ..models import Passkey, PasskeyOwner
from ..policy import has_second_factor, passkeys
from . import auth
from .auth import PasskeyError, SignCountRegression, UnknownPasskey

Event = SecurityEvent.Kind

# A friendlier default name for well-known authenticators (AAGUID → name); others are named by device.
KNOWN_AUTHENTICATORS = {
    "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
    "dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain",
    "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
    "adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
    "08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
    "9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
    "6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
    "bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
    "d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
    "531126d6-e717-415c-9320-3d9aa6981239": "Dashlane",
    "cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5",
    "ee882879-721c-4913-9775-3dfcce97072a": "YubiKey 5",
}


def offer_passkey_once(request) -> bool:
    """Whether to offer adding a passkey: once per person, after a sign-in without one."""
    user = request.user
    if user.passkey_offered or passkeys(user).exists():
        return False
    User.objects.filter(pk=user.pk).update(passkey_offered=True)
    return True


def user_handle(user) -> bytes:
    """The user's one handle, created on first use; parallel first registrations agree on it."""
    existing = passkeys(user).values_list("user_handle", flat=True).first()  # passkeys from before owners
    handle = bytes(existing) if existing is not None else generate_user_handle()
    owner, _created = PasskeyOwner.objects.get_or_create(user=user, defaults={"handle": handle})
    return bytes(owner.handle)


def begin_registration(request) -> auth.Options:
    user = request.user
    return auth.registration_options(user, user_handle(user), list(passkeys(user)))


def complete_registration(request, credential: dict, name: str = "") -> tuple[Passkey, list[str] | None]:
    """Store a verified new passkey. A credential id registered to anyone already is refused."""
    user = request.user
    new = auth.verify_registration(request, credential)
    handle = user_handle(user)
    name = (
        name.strip()[:64]
        or KNOWN_AUTHENTICATORS.get(new.aaguid)
        or describe_device(request.META.get("HTTP_USER_AGENT", ""))
    )
    try:
        with transaction.atomic():
            first = not has_second_factor(user)
            passkey = Passkey.objects.create(
                user=user,
                user_handle=handle,
                credential_id=new.credential_id,
                public_key=new.public_key,
                sign_count=new.sign_count,
                transports=new.transports,
                aaguid=new.aaguid,
                backup_eligible=new.backup_eligible,
                backed_up=new.backed_up,
                name=name,
            )
            codes = factor_added(request, "passkey", "passkey_added", first, passkey)
    except IntegrityError:
        raise PasskeyError(_("This passkey is already registered.")) from None
    return passkey, codes


def begin_authentication(request) -> auth.Options:
    """Usernameless options for sign-in; the pending user's passkeys for the second step."""
    found = pending_signin(request)
    return auth.authentication_options(passkeys(found[1]) if found else ())


def complete_authentication(request, credential: dict, next_url: str | None) -> str:
    """Verify a passkey and sign in with it. Returns where to send the person.

    With a pending password sign-in, the passkey must be one of that user's and completes the second
    step; otherwise it signs in on its own (user-verified: multi-factor by itself).
    """
    assertion = auth.parse_assertion(credential)
    passkey = Passkey.objects.select_related("user").filter(credential_id=assertion.credential_id).first()
    found = pending_signin(request)
    problem = ""
    if passkey is None:
        problem = "unknown_credential"
    elif assertion.user_handle is not None and assertion.user_handle != bytes(passkey.user_handle):
        problem = "user_handle_mismatch"
    elif found and found[1].pk != passkey.user_id:
        problem = "other_account"
    elif not passkey.user.is_active:
        problem = "inactive"
    if problem or passkey is None:
        challenge = auth.read_challenge(request, "authenticate")
        if passkey is not None:  # a registered credential uses its challenge up; a stranger's writes nothing
            auth.use_up_challenge(challenge)
        record_event(request, Event.SIGNIN_FAILED, passkey.user if passkey else None, method="passkey", reason=problem)
        if found:  # the second step of a sign-in whose password was right
            refuse_factor(request, found[0], found[1], "passkey")
        refused = _("This passkey cannot sign in to this account.")
        if problem == "unknown_credential":
            raise UnknownPasskey(str(refused), assertion.credential_id)
        raise PasskeyError(refused)
    user = passkey.user
    try:
        _verify_and_count(request, assertion, passkey)
    except PasskeyError as error:
        reason = "sign_count_regression" if isinstance(error, SignCountRegression) else "invalid_assertion"
        record_event(request, Event.SIGNIN_FAILED, user, method="passkey", reason=reason)
        if found:
            refuse_factor(request, found[0], user, "passkey")
        raise
    key = _key_kind(passkey)
    if found:
        return complete_factor(request, found[0], user, "passkey", key=key, id=passkey.pk)
    forget_factor_failures(user)  # a passkey sign-in proves the person, as the second step would
    return begin_signin(request, user, "passkey", next_url, key=key, id=passkey.pk)


def _key_kind(passkey: Passkey) -> str:
    return "swk" if passkey.backup_eligible else "hwk"  # a synced passkey's key leaves the device (RFC 8176)


def _verify_and_count(request, assertion: auth.Assertion, passkey: Passkey, **challenge) -> None:
    """Verify an assertion against the stored passkey (its challenge taken as `challenge` says) and
    move its counter on, under a row lock so parallel answers cannot both pass. A counter that went
    back is told to its owner, in those words. The caller audits a refusal, outside the rolled-back
    transaction (a SignCountRegression is the counter's)."""
    try:
        with transaction.atomic():
            locked = Passkey.objects.select_for_update().get(pk=passkey.pk)
            sign_count, backed_up = auth.verify_assertion(request, assertion, locked, **challenge)
            locked.sign_count = sign_count
            locked.backed_up = backed_up
            locked.last_used_at = timezone.now()
            locked.save(update_fields=["sign_count", "backed_up", "last_used_at"])
    except SignCountRegression:  # a copy of the key signed with an older counter: tell its owner, in those words
        mail_warning(request, passkey.user, OutboxMail.Kind.PASSKEY_CLONED, passkey=passkey.name)
        raise


REAUTHENTICATE = "reauthenticate"  # the challenge's purpose: a sign-in's challenge does not re-authenticate


def _session_binding(request) -> str:
    """Whom a re-authentication challenge belongs to: this person in this session (a digest of its key,
    which the signed cookie must not carry). A challenge fetched by another account, or in the session
    before it rotated, answers nothing here."""
    session_key = request.session.session_key or ""
    return f"{request.user.pk}:{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"


def begin_passkey_reauthentication(request) -> auth.Options:
    """Options to confirm it's you with a passkey: this account's passkeys only (allowCredentials),
    user verification required, a fresh challenge bound to this session."""
    return auth.authentication_options(
        passkeys(request.user), purpose=REAUTHENTICATE, bound_to=_session_binding(request)
    )


def confirm_identity_with_passkey(request, credential: dict) -> None:
    """Re-authenticate the signed-in person with one of their passkeys: counted first on the
    re-authentication page's limit, then verified like a sign-in's assertion, and ended as the password
    ends it (accounts' renew_reauthentication). Raises RateLimited or PasskeyError."""
    spend_reauthentication_attempt(request, "passkey")
    assertion = auth.parse_assertion(credential)
    passkey = passkeys(request.user).filter(credential_id=assertion.credential_id).first()
    if passkey is None or (assertion.user_handle is not None and assertion.user_handle != bytes(passkey.user_handle)):
        refuse_reauthentication(request, "passkey")
        auth.take_challenge(request, REAUTHENTICATE, _session_binding(request))  # used up all the same
        raise PasskeyError(_("This passkey is not one of this account's."))
    try:
        _verify_and_count(request, assertion, passkey, purpose=REAUTHENTICATE, bound_to=_session_binding(request))
    except PasskeyError:
        refuse_reauthentication(request, "passkey")
        raise
    forget_factor_failures(request.user)
    renew_reauthentication(request, "passkey", key=_key_kind(passkey), id=passkey.pk)


def rename_passkey(request, passkey_id: int, name: str) -> bool:
    if not passkeys(request.user).filter(pk=passkey_id).update(name=name.strip()[:64]):
        return False
    record_event(request, Event.PASSKEY_RENAMED, request.user)
    return True


# The removed passkey's user handle (hex), for the security page's next signalAllAcceptedCredentials.
REMOVED_USER_HANDLE = "mfa.removed_user_handle"


def remove_passkey(request, passkey_id: int) -> bool:
    handle = passkeys(request.user).filter(pk=passkey_id).values_list("user_handle", flat=True).first()
    removed = remove_second_factor(request, passkeys(request.user), passkey_id, "passkey_removed")
    if removed and handle is not None:
        request.session[REMOVED_USER_HANDLE] = bytes(handle).hex()
    return removed
