"""Passkeys against a software authenticator: registration, passwordless sign-in, the second step of a
password sign-in, and management. Each test breaks one property of a ceremony and checks that the
server refuses it, says so clearly, and changes nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from webauthn.helpers import bytes_to_base64url

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import OutboxMail, SecurityEvent, User
from accounts.signin_state import AUTH_METHODS
from mfa import recovery
from mfa.app_settings import app_settings as mfa_settings
from mfa.models import Passkey, RecoveryCode
from tests.users import PASSWORD, add_totp, sign_in_admin

from .pages import is_signed_in, page_after, password_step, sign_in_with_mfa, start_pending
from .softauthn import SoftAuthenticator

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind

REGISTER_OPTIONS = "/accounts/passkeys/register/options/"
REGISTER = "/accounts/passkeys/register/"
SIGNIN_OPTIONS = "/accounts/passkeys/signin/options/"
SIGNIN = "/accounts/passkeys/signin/"
MFA_PAGE = "/accounts/mfa/"
REAUTH_REDIRECT = "/accounts/reauthenticate/?next=%2Faccounts%2Fsecurity%2F"
MFA_MAIL = "Identity: Two-step verification changed"

NOT_VERIFIED = "This passkey could not be verified. Please try again."
NO_REQUEST = "There is no passkey request in progress. Please try again."
TOO_LONG = "The passkey request took too long. Please try again."
ALREADY_REGISTERED = "This passkey is already registered."
CANNOT_SIGN_IN = "This passkey cannot sign in to this account."
NOTHING_RECEIVED = "No passkey was received. Please try again."
ONE_PASSWORD = uuid.UUID("bada5566-a7aa-401f-bd96-45619a55120d")


# --- helpers ----------------------------------------------------------------------------------------


def post_json(c: Client, url: str, body: object = None, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body if body is not None else {})
    return c.post(url, data=data, content_type="application/json", **extra)


def options_from(c: Client, url: str, **extra) -> dict:
    response = post_json(c, url, **extra)
    assert response.status_code == 200, response
    assert response["Content-Type"] == "application/json"
    return response.json()


def register(c: Client, authenticator: SoftAuthenticator, name: str | None = None, **knobs):
    """One registration ceremony; returns the response to the credential."""
    credential = authenticator.create(options_from(c, REGISTER_OPTIONS), **knobs)
    body = {"credential": credential} if name is None else {"credential": credential, "name": name}
    return post_json(c, REGISTER, body)


def passkey_signin(c: Client, authenticator: SoftAuthenticator, next_url: object = None, **knobs):
    """One authentication ceremony (options, then assertion); returns the response to the assertion."""
    body: dict[str, object] = {"credential": authenticator.get(options_from(c, SIGNIN_OPTIONS), **knobs)}
    if next_url is not None:
        body["next"] = next_url
    return post_json(c, SIGNIN, body)


def add_passkey(user: User, authenticator: SoftAuthenticator, name: str = "Laptop", sign_count: int = 0) -> Passkey:
    """A passkey registered earlier: the authenticator holds the key, the database the public half."""
    existing = Passkey.objects.filter(user=user).first()
    handle = bytes(existing.user_handle) if existing else uuid.uuid4().bytes * 2
    credential = authenticator.new_credential("testserver", handle)
    credential.sign_count = sign_count
    return Passkey.objects.create(
        user=user,
        user_handle=handle,
        credential_id=credential.id,
        public_key=credential.public_key,
        sign_count=sign_count,
        transports=["internal", "hybrid"],
        aaguid=str(uuid.UUID(bytes=authenticator.aaguid)),
        name=name,
    )


REAUTH_OPTIONS = "/accounts/passkeys/reauthenticate/options/"
REAUTH = "/accounts/passkeys/reauthenticate/"


def reauthenticate_with_passkey(c: Client, authenticator: SoftAuthenticator, next_url: str = "/accounts/security/"):
    """Confirm it's you with a passkey on the re-authentication page (the password alone will not do)."""
    start = c.get("/accounts/reauthenticate/", {"next": next_url})
    assert start.status_code == 200 and b"Use a passkey" in start.content, start
    credential = authenticator.get(options_from(c, REAUTH_OPTIONS))
    assert post_json(c, REAUTH, {"credential": credential, "next": next_url}).json() == {"redirect": next_url}


def methods(c: Client) -> list[str]:
    return [entry["method"] for entry in c.session.get(AUTH_METHODS, [])]


def signed_in_user_id(c: Client) -> str | None:
    return c.session.get("_auth_user_id")


def mfa_mails(deliver_outbox) -> list:
    return [m for m in deliver_outbox() if m.subject == MFA_MAIL]


def refused(response, message: str) -> bool:
    """Refused with `message`; an unknown credential's answer also names it for the Signal API."""
    body = response.json()
    unknown = {"code": "unknown_credential", "rpId": body.get("rpId"), "credentialId": body.get("credentialId")}
    return response.status_code == 400 and body in ({"error": message}, {"error": message, **unknown})


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
def ada_key(user, authenticator) -> Passkey:
    """Ada's passkey (her only second factor) in `authenticator`."""
    return add_passkey(user, authenticator)


# --- registration: options --------------------------------------------------------------------------


def test_registration_options_ask_for_a_discoverable_user_verified_passkey_without_attestation(
    signed_in_client, user, settings
):
    options = options_from(signed_in_client, REGISTER_OPTIONS)
    assert options["rp"] == {"id": "testserver", "name": mfa_settings.WEBAUTHN_RP_NAME}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["requireResidentKey"] is True
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["timeout"] == mfa_settings.WEBAUTHN_CHALLENGE_TIMEOUT * 1000
    assert options["user"]["name"] == user.email
    assert len(options["challenge"]) >= 22, "at least 16 random bytes"
    assert options_from(signed_in_client, REGISTER_OPTIONS)["challenge"] != options["challenge"]


def test_registration_options_exclude_existing_passkeys_and_keep_the_user_handle(signed_in_client, user, authenticator):
    first, second = add_passkey(user, authenticator), add_passkey(user, authenticator, "Phone")
    add_passkey(User.objects.create_user("bob@example.com", PASSWORD), SoftAuthenticator())
    reauthenticate_with_passkey(signed_in_client, authenticator)
    options = options_from(signed_in_client, REGISTER_OPTIONS)
    excluded = {item["id"] for item in options["excludeCredentials"]}
    assert excluded == {credential.b64id for credential in authenticator.credentials}
    assert all(item["type"] == "public-key" for item in options["excludeCredentials"])
    assert {tuple(item["transports"]) for item in options["excludeCredentials"]} == {("internal", "hybrid")}
    assert options["user"]["id"] == bytes_to_base64url(bytes(first.user_handle))
    assert bytes(first.user_handle) == bytes(second.user_handle)


@pytest.mark.parametrize("header", ["HTTP_HOST", "HTTP_X_FORWARDED_HOST"])
def test_relying_party_comes_from_settings_not_the_request(signed_in_client, settings, header):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "evil.example"]
    settings.USE_X_FORWARDED_HOST = True
    assert options_from(signed_in_client, REGISTER_OPTIONS, **{header: "evil.example"})["rp"]["id"] == "testserver"
    assert options_from(Client(), SIGNIN_OPTIONS, **{header: "evil.example"})["rpId"] == "testserver"

    settings.WEBAUTHN_RP_ID = "id.example.com"
    assert options_from(signed_in_client, REGISTER_OPTIONS)["rp"]["id"] == "id.example.com"
    assert options_from(Client(), SIGNIN_OPTIONS)["rpId"] == "id.example.com"


# --- registration: what is stored -------------------------------------------------------------------


def test_registering_the_first_passkey_stores_it_with_codes_mail_and_audit(
    signed_in_client, user, authenticator, deliver_outbox
):
    deliver_outbox().clear()
    options = options_from(signed_in_client, REGISTER_OPTIONS)
    credential = authenticator.create(options, sign_count=7, transports=["internal", "usb"])
    response = post_json(signed_in_client, REGISTER, {"credential": credential, "name": "  Work laptop  "})
    assert response.status_code == 200
    assert response.json() == {"redirect": "/accounts/security/recovery-codes/"}

    [passkey] = Passkey.objects.filter(user=user)
    soft = authenticator.credentials[0]
    assert bytes(passkey.credential_id) == soft.id
    assert bytes(passkey.public_key) == soft.public_key
    assert bytes(passkey.user_handle) == soft.user_handle
    assert passkey.sign_count == 7
    assert passkey.transports == ["internal", "usb"]
    assert passkey.aaguid == "00000000-0000-0000-0000-000000000000"
    assert (passkey.backup_eligible, passkey.backed_up) == (False, False)
    assert passkey.name == "Work laptop"
    assert passkey.last_used_at is None

    assert RecoveryCode.objects.filter(user=user, used_at__isnull=True).count() == 10
    assert len(signed_in_client.session["mfa.new_recovery_codes"]) == 10
    # Registering proves nothing about who holds the session: the passkey counts once it is used.
    assert "passkey" not in methods(signed_in_client)
    [added] = SecurityEvent.objects.filter(kind=Event.MFA_ADDED)
    assert added.user == user
    [mail] = mfa_mails(deliver_outbox)
    assert mail.to == [user.email] and "A passkey was added to your account" in mail.body


def test_recovery_codes_made_with_the_first_passkey_are_audited(signed_in_client, user, authenticator):
    assert register(signed_in_client, authenticator).status_code == 200
    assert SecurityEvent.objects.filter(kind=Event.RECOVERY_CODES_GENERATED, user=user).count() == 1


def test_a_second_passkey_shares_the_user_handle_and_keeps_the_recovery_codes(signed_in_client, user, deliver_outbox):
    laptop_key = SoftAuthenticator()
    assert register(signed_in_client, laptop_key, "Laptop").status_code == 200
    codes = set(RecoveryCode.objects.values_list("code_hash", flat=True))
    reauthenticate_with_passkey(signed_in_client, laptop_key)
    second = register(signed_in_client, SoftAuthenticator(), "Phone")
    assert second.json() == {"redirect": "/accounts/security/"}
    laptop, phone = Passkey.objects.filter(user=user).order_by("pk")
    assert bytes(laptop.user_handle) == bytes(phone.user_handle) and len(bytes(laptop.user_handle)) >= 16
    assert set(RecoveryCode.objects.values_list("code_hash", flat=True)) == codes
    assert SecurityEvent.objects.filter(kind=Event.MFA_ADDED).count() == 2
    assert len(mfa_mails(deliver_outbox)) == 2


def test_passkeys_registered_from_two_sessions_at_once_share_the_user_handle(user, browser):
    laptop, phone = browser(), browser()
    for c in (laptop, phone):
        assert password_step(c, user.email)["Location"] == "/accounts/"
    on_laptop, on_phone = SoftAuthenticator(), SoftAuthenticator()
    laptop_options, phone_options = options_from(laptop, REGISTER_OPTIONS), options_from(phone, REGISTER_OPTIONS)
    assert post_json(phone, REGISTER, {"credential": on_phone.create(phone_options)}).status_code == 200
    response = post_json(laptop, REGISTER, {"credential": on_laptop.create(laptop_options)})
    handles = {bytes(handle) for handle in Passkey.objects.filter(user=user).values_list("user_handle", flat=True)}
    assert len(handles) == 1, "one user, one handle (or the late registration is refused)"
    if response.status_code == 200:
        assert passkey_signin(browser(), on_laptop).status_code == 200


def test_different_users_get_different_user_handles(signed_in_client, make_user):
    assert register(signed_in_client, SoftAuthenticator()).status_code == 200
    bob = make_user("bob@example.com")
    c = Client()
    password_step(c, bob.email)
    assert register(c, SoftAuthenticator()).status_code == 200
    ada_key, bob_key = Passkey.objects.order_by("pk")
    assert bytes(ada_key.user_handle) != bytes(bob_key.user_handle)


def test_a_user_with_an_authenticator_app_gets_no_new_recovery_codes(ada, browser):
    recovery.generate(ada)
    before = set(RecoveryCode.objects.values_list("code_hash", flat=True))
    c = sign_in_with_mfa(browser(), ada)
    assert register(c, SoftAuthenticator()).json() == {"redirect": "/accounts/security/"}
    assert set(RecoveryCode.objects.values_list("code_hash", flat=True)) == before


@pytest.mark.parametrize(
    ("flags", "stored"),
    [
        ({}, (False, False)),
        ({"backup_eligible": True}, (True, False)),
        ({"backup_eligible": True, "backed_up": True}, (True, True)),
    ],
)
def test_backup_flags_are_stored(signed_in_client, user, flags, stored):
    assert register(signed_in_client, SoftAuthenticator(**flags), "Key").status_code == 200
    passkey = Passkey.objects.get(user=user)
    assert (passkey.backup_eligible, passkey.backed_up) == stored
    assert passkey.synced is stored[0]


@pytest.mark.parametrize(
    ("aaguid", "user_agent", "name"),
    [
        (ONE_PASSWORD, "", "1Password"),
        (
            uuid.UUID(int=0),
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox on Linux",
        ),
        (uuid.UUID(int=0), "", "Unknown device"),
    ],
)
@pytest.mark.parametrize("given", [None, "", "   "])
def test_a_passkey_without_a_name_is_named_after_the_authenticator_or_device(
    signed_in_client, user, aaguid, user_agent, name, given
):
    authenticator = SoftAuthenticator(aaguid=aaguid.bytes)
    credential = authenticator.create(options_from(signed_in_client, REGISTER_OPTIONS))
    body = {"credential": credential} if given is None else {"credential": credential, "name": given}
    response = signed_in_client.post(
        REGISTER, data=json.dumps(body), content_type="application/json", HTTP_USER_AGENT=user_agent
    )
    assert response.status_code == 200
    passkey = Passkey.objects.get(user=user)
    assert passkey.name == name
    assert passkey.aaguid == str(aaguid)


def test_a_long_name_is_cut_to_64_characters(signed_in_client, user):
    assert register(signed_in_client, SoftAuthenticator(), "x" * 200).status_code == 200
    assert Passkey.objects.get(user=user).name == "x" * 64


# --- registration: refusals -------------------------------------------------------------------------


def test_a_credential_id_registered_already_is_refused_for_the_same_user(signed_in_client, user, deliver_outbox):
    first = SoftAuthenticator()
    assert register(signed_in_client, first).status_code == 200
    taken = bytes(Passkey.objects.get(user=user).credential_id)
    reauthenticate_with_passkey(signed_in_client, first)
    deliver_outbox().clear()
    response = register(signed_in_client, SoftAuthenticator(), credential_id=taken)
    assert refused(response, ALREADY_REGISTERED)
    assert Passkey.objects.filter(user=user).count() == 1
    assert SecurityEvent.objects.filter(kind=Event.MFA_ADDED).count() == 1
    assert mfa_mails(deliver_outbox) == []


def test_a_credential_id_of_another_user_is_refused(user, authenticator, make_user, deliver_outbox):
    adas = add_passkey(user, authenticator)
    bob = make_user("bob@example.com")
    c = Client()
    password_step(c, bob.email)
    response = register(c, SoftAuthenticator(), credential_id=bytes(adas.credential_id))
    assert refused(response, ALREADY_REGISTERED)
    assert not Passkey.objects.filter(user=bob).exists()
    assert Passkey.objects.get(pk=adas.pk).user == user
    assert not RecoveryCode.objects.filter(user=bob).exists(), "the codes were rolled back with the passkey"
    assert not SecurityEvent.objects.filter(kind=Event.MFA_ADDED).exists()
    assert mfa_mails(deliver_outbox) == []


def test_registration_needs_a_sign_in(client):
    for url in (REGISTER_OPTIONS, REGISTER):
        response = post_json(client, url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get(REGISTER_OPTIONS).status_code == 405


def test_registration_needs_recent_authentication(signed_in_client, user, clock, settings):
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    response = post_json(signed_in_client, REGISTER_OPTIONS)
    assert response.status_code == 302 and response["Location"] == REAUTH_REDIRECT


def test_a_credential_sent_after_re_authentication_lapsed_is_not_stored(signed_in_client, user, clock, settings):
    options = options_from(signed_in_client, REGISTER_OPTIONS)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    credential = SoftAuthenticator().create(options)
    response = post_json(signed_in_client, REGISTER, {"credential": credential})
    assert response.status_code == 302 and response["Location"] == REAUTH_REDIRECT
    assert not Passkey.objects.exists()


@pytest.mark.parametrize(
    "knobs",
    [
        {"origin": "http://evil.example"},
        {"origin": "https://testserver"},
        {"origin": "http://testserver:8000"},
        {"rp_id": "evil.example"},
        {"user_verified": False},
        {"user_present": False},
        {"challenge": "AAAAAAAAAAAAAAAAAAAAAA"},
    ],
    ids=lambda knobs: "-".join(f"{k}={v}" for k, v in knobs.items()),
)
def test_a_bad_registration_response_is_refused_and_nothing_is_stored(signed_in_client, user, knobs, deliver_outbox):
    response = register(signed_in_client, SoftAuthenticator(), **knobs)
    assert refused(response, NOT_VERIFIED)
    assert not Passkey.objects.exists()
    assert not RecoveryCode.objects.exists()
    assert not SecurityEvent.objects.filter(kind=Event.MFA_ADDED).exists()
    assert mfa_mails(deliver_outbox) == []
    assert "passkey" not in methods(signed_in_client)


def test_a_registration_made_for_a_spoofed_host_is_refused(signed_in_client, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "evil.example"]
    options = options_from(signed_in_client, REGISTER_OPTIONS, HTTP_HOST="evil.example")
    credential = SoftAuthenticator(origin="http://evil.example").create(options, rp_id="evil.example")
    response = post_json(signed_in_client, REGISTER, {"credential": credential}, HTTP_HOST="evil.example")
    assert refused(response, NOT_VERIFIED)
    assert not Passkey.objects.exists()


def test_a_registration_response_cannot_be_replayed(signed_in_client, user):
    options = options_from(signed_in_client, REGISTER_OPTIONS)
    body = {"credential": SoftAuthenticator().create(options)}
    assert post_json(signed_in_client, REGISTER, body).status_code == 200
    Passkey.objects.all().delete()  # so only the challenge can stop the replay

    assert refused(post_json(signed_in_client, REGISTER, body), NO_REQUEST)
    options_from(signed_in_client, REGISTER_OPTIONS)  # a new challenge does not revive the old answer
    assert refused(post_json(signed_in_client, REGISTER, body), NOT_VERIFIED)
    assert not Passkey.objects.exists()


def test_a_registration_challenge_is_used_up_by_a_failed_attempt(signed_in_client):
    options = options_from(signed_in_client, REGISTER_OPTIONS)
    authenticator = SoftAuthenticator()
    unverified = {"credential": authenticator.create(options, user_verified=False)}
    assert refused(post_json(signed_in_client, REGISTER, unverified), NOT_VERIFIED)
    assert refused(post_json(signed_in_client, REGISTER, {"credential": authenticator.create(options)}), NO_REQUEST)
    assert not Passkey.objects.exists()


@pytest.mark.parametrize(("late", "accepted"), [(-1, True), (1, False)])
def test_registration_challenge_expires(signed_in_client, clock, settings, late, accepted):
    options = options_from(signed_in_client, REGISTER_OPTIONS)
    clock.advance(mfa_settings.WEBAUTHN_CHALLENGE_TIMEOUT + late)
    response = post_json(signed_in_client, REGISTER, {"credential": SoftAuthenticator().create(options)})
    assert (response.status_code == 200) is accepted
    if not accepted:
        assert refused(response, TOO_LONG)
    assert Passkey.objects.exists() is accepted


def test_registration_without_options_is_refused(signed_in_client):
    options = {"rp": {"id": "testserver"}, "user": {"id": "AAAA"}, "challenge": "AAAAAAAAAAAAAAAAAAAAAA"}
    credential = SoftAuthenticator().create(options)
    assert refused(post_json(signed_in_client, REGISTER, {"credential": credential}), NO_REQUEST)


def test_a_sign_in_challenge_does_not_register(signed_in_client):
    options_from(signed_in_client, REGISTER_OPTIONS)
    signin = options_from(signed_in_client, SIGNIN_OPTIONS)  # replaces the registration challenge
    options = {"rp": {"id": "testserver"}, "user": {"id": "AAAA"}, "challenge": signin["challenge"]}
    credential = SoftAuthenticator().create(options)
    assert refused(post_json(signed_in_client, REGISTER, {"credential": credential}), NO_REQUEST)


GARBAGE_BODIES = [
    b"",
    b"not json",
    b"\xff\xfe\x00",
    b"[]",
    b"null",
    b'"credential"',
    b"42",
    b"{}",
    b'{"name": "x"}',
    b'{"credential": null}',
    b'{"credential": "eyJpZCI6IDF9"}',
    b'{"credential": []}',
    b'{"credential": 1}',
    b'{"credential": {}}',
    b'{"credential": {"id": 1, "rawId": 2}}',
    b'{"credential": {"id": "AA", "rawId": "AA", "type": "public-key", "response": []}}',
    b'{"credential": {"id": "!!", "rawId": "!!", "type": "public-key", '
    b'"response": {"clientDataJSON": "!!", "attestationObject": "!!"}}}',
    b'{"credential": {"id": "AA", "rawId": "AA", "type": "public-key", '
    b'"response": {"clientDataJSON": "AA", "attestationObject": "AA"}}}',
    b'{"credential": {"id": "AA", "rawId": "AA", "type": "public-key", '
    b'"response": {"clientDataJSON": "AA", "authenticatorData": "AA", "signature": "AA", "userHandle": 5}}}',
]


@pytest.mark.parametrize("body", GARBAGE_BODIES)
def test_garbage_registration_bodies_get_a_400(signed_in_client, body):
    options_from(signed_in_client, REGISTER_OPTIONS)
    response = post_json(signed_in_client, REGISTER, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] in (NOTHING_RECEIVED, NOT_VERIFIED)
    assert not Passkey.objects.exists()


@pytest.mark.parametrize("url", [REGISTER, SIGNIN])
def test_a_deeply_nested_body_gets_a_400(signed_in_client, url):
    response = post_json(signed_in_client, url, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400


def test_non_list_transports_do_not_break_registration(signed_in_client):
    response = register(signed_in_client, SoftAuthenticator(), transports=5)
    assert response.status_code in (200, 400)


def test_transports_that_are_not_strings_are_dropped(signed_in_client, user):
    response = register(signed_in_client, SoftAuthenticator(), transports=["internal", 5, None, {"x": 1}])
    assert response.status_code == 200
    assert Passkey.objects.get(user=user).transports == ["internal"]


# --- passwordless sign-in ---------------------------------------------------------------------------


def test_sign_in_options_are_usernameless_and_ask_for_user_verification(client, settings, ada_key):
    options = options_from(client, SIGNIN_OPTIONS)
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    assert options["rpId"] == "testserver"
    assert options["timeout"] == mfa_settings.WEBAUTHN_CHALLENGE_TIMEOUT * 1000
    assert len(options["challenge"]) >= 22
    assert client.get(SIGNIN_OPTIONS).status_code == 405


def test_a_passkey_signs_in_alone_even_with_an_authenticator_app(client, user, authenticator, ada_key):
    add_totp(user)
    response = passkey_signin(client, authenticator)
    assert response.status_code == 200
    assert response.json() == {"redirect": "/accounts/"}
    assert is_signed_in(client)
    assert signed_in_user_id(client) == str(user.pk)
    assert methods(client) == ["passkey"]
    assert "accounts.pending_signin" not in client.session
    [event] = SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED)
    assert (event.user, event.method) == (user, "passkey")
    assert not SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED).exists()
    ada_key.refresh_from_db()
    assert ada_key.sign_count == 1 and ada_key.last_used_at is not None


def test_a_passkey_sign_in_rotates_the_session_key(client, authenticator, ada_key):
    options = options_from(client, SIGNIN_OPTIONS)
    before = client.session.session_key
    body = {"credential": authenticator.get(options)}
    assert post_json(client, SIGNIN, body).status_code == 200
    assert client.session.session_key != before


def test_counters_and_backup_state_follow_each_sign_in(authenticator, ada_key, clock):
    first = Client()
    assert passkey_signin(first, authenticator).status_code == 200
    ada_key.refresh_from_db()
    used_first = ada_key.last_used_at
    clock.advance(60)
    authenticator.backup_eligible = authenticator.backed_up = True
    assert passkey_signin(Client(), authenticator).status_code == 200
    ada_key.refresh_from_db()
    assert ada_key.sign_count == 2
    assert ada_key.last_used_at > used_first
    assert ada_key.backed_up is True


@pytest.mark.parametrize(
    ("next_url", "target"),
    [
        ("/accounts/security/", "/accounts/security/"),
        ("/oauth/authorize/?client_id=x&scope=openid", "/oauth/authorize/?client_id=x&scope=openid"),
        ("https://evil.example/", "/accounts/"),
        ("http://testserver/accounts/security/", "/accounts/"),
        ("//evil.example/", "/accounts/"),
        ("/\\evil.example/", "/accounts/"),
        ("javascript:alert(1)", "/accounts/"),
        ("", "/accounts/"),
    ],
)
def test_next_is_honoured_only_for_paths_on_this_site(client, authenticator, ada_key, next_url, target):
    response = passkey_signin(client, authenticator, next_url=next_url)
    assert response.json() == {"redirect": target}


@pytest.mark.parametrize("next_url", [123, ["/accounts/"], True])
def test_a_next_that_is_not_a_string_is_ignored(client, authenticator, ada_key, next_url):
    response = passkey_signin(client, authenticator, next_url=next_url)
    assert response.status_code == 200 and response.json() == {"redirect": "/accounts/"}


@pytest.mark.parametrize("counts", [True, False], ids=["counting", "synced-always-0"])
def test_an_assertion_cannot_be_replayed(authenticator, ada_key, counts):
    authenticator.credentials[0].counts = counts
    first = Client()
    body = {"credential": authenticator.get(options_from(first, SIGNIN_OPTIONS))}
    assert post_json(first, SIGNIN, body).status_code == 200

    again = Client()  # the same answer, sent from another browser, with or without options of its own
    assert refused(post_json(again, SIGNIN, body), NO_REQUEST)
    options_from(again, SIGNIN_OPTIONS)
    response = post_json(again, SIGNIN, body)
    assert response.status_code == 400 and response.json()["error"].startswith("This passkey could not be verified")
    assert not is_signed_in(again)
    assert refused(post_json(first, SIGNIN, body), NO_REQUEST)
    assert SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED).count() == 1


@pytest.mark.parametrize(("late", "accepted"), [(-1, True), (1, False)])
def test_sign_in_challenge_expires(client, authenticator, ada_key, clock, settings, late, accepted):
    body = {"credential": authenticator.get(options_from(client, SIGNIN_OPTIONS))}
    clock.advance(mfa_settings.WEBAUTHN_CHALLENGE_TIMEOUT + late)
    response = post_json(client, SIGNIN, body)
    assert (response.status_code == 200) is accepted
    if not accepted:
        assert refused(response, TOO_LONG)
    assert is_signed_in(client) is accepted


def test_an_unknown_credential_is_refused_and_audited(client, user, ada_key):
    stranger = SoftAuthenticator()
    stranger.new_credential("testserver", b"\x01" * 16)
    response = passkey_signin(client, stranger)
    assert refused(response, CANNOT_SIGN_IN)
    assert not is_signed_in(client)
    [event] = SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED)
    assert (event.user, event.method, event.reason) == (None, "passkey", "unknown_credential")
    # The failed attempt used the challenge up.
    again = {"credential": stranger.get({"challenge": "AAAA", "rpId": "testserver"})}
    assert refused(post_json(client, SIGNIN, again), NO_REQUEST)


def test_a_credential_of_one_user_with_another_users_handle_is_refused(client, user, authenticator, ada_key, make_user):
    bob = make_user("bob@example.com")
    bobs = add_passkey(bob, SoftAuthenticator())
    response = passkey_signin(client, authenticator, user_handle=bytes(bobs.user_handle))
    assert refused(response, CANNOT_SIGN_IN)
    assert not is_signed_in(client)
    [event] = SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED)
    assert (event.user, event.reason) == (user, "user_handle_mismatch")
    ada_key.refresh_from_db()
    assert ada_key.sign_count == 0 and ada_key.last_used_at is None


def test_an_assertion_without_a_user_handle_still_identifies_the_passkey(client, user, authenticator, ada_key):
    assert passkey_signin(client, authenticator, user_handle=None).status_code == 200
    assert signed_in_user_id(client) == str(user.pk)


@pytest.mark.parametrize(
    "knobs",
    [
        {"user_verified": False},
        {"user_present": False},
        {"origin": "http://evil.example"},
        {"origin": "https://testserver"},
        {"rp_id": "evil.example"},
        {"challenge": "AAAAAAAAAAAAAAAAAAAAAA"},
    ],
    ids=lambda knobs: "-".join(f"{k}={v}" for k, v in knobs.items()),
)
def test_a_bad_assertion_is_refused(client, authenticator, ada_key, knobs):
    response = passkey_signin(client, authenticator, **knobs)
    assert refused(response, NOT_VERIFIED)
    assert not is_signed_in(client)
    assert not SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED).exists()
    ada_key.refresh_from_db()
    assert ada_key.sign_count == 0 and ada_key.last_used_at is None


def test_an_assertion_signed_by_another_key_is_refused(client, authenticator, ada_key):
    impostor = SoftAuthenticator()
    copy = impostor.new_credential("testserver", bytes(ada_key.user_handle), credential_id=bytes(ada_key.credential_id))
    response = passkey_signin(client, impostor, credential=copy)
    assert refused(response, NOT_VERIFIED)
    assert not is_signed_in(client)


def test_a_tampered_signature_is_refused(client, authenticator, ada_key):
    credential = authenticator.get(options_from(client, SIGNIN_OPTIONS))
    credential["response"]["signature"] = "AAAA"
    assert refused(post_json(client, SIGNIN, {"credential": credential}), NOT_VERIFIED)
    assert not is_signed_in(client)


@pytest.mark.parametrize(("stored", "sent"), [(5, 5), (5, 4), (5, 0)])
def test_a_counter_that_did_not_go_up_is_refused(client, user, authenticator, stored, sent):
    passkey = add_passkey(user, authenticator, sign_count=stored)
    response = passkey_signin(client, authenticator, sign_count=sent)
    assert response.status_code == 400
    assert not is_signed_in(client)
    passkey.refresh_from_db()
    assert passkey.sign_count == stored and passkey.last_used_at is None


@pytest.mark.parametrize(
    ("knobs", "reason"),
    [({"sign_count": 3}, "sign_count_regression"), ({"user_verified": False}, "invalid_assertion")],
)
def test_a_refused_assertion_is_audited_with_its_reason(client, user, authenticator, knobs, reason):
    add_passkey(user, authenticator, sign_count=5)
    authenticator.credentials[0].sign_count = 5
    assert passkey_signin(client, authenticator, **knobs).status_code == 400
    [event] = SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED)
    assert (event.user, event.method, event.reason) == (user, "passkey", reason)


def test_a_stale_counter_under_another_keys_signature_is_no_copy_of_the_passkey(client, user, authenticator):
    """Only an assertion the passkey's own key signed tells of a copy: a stale counter under anyone
    else's signature is an invalid assertion, and nobody is told of a copy that was never made."""
    passkey = add_passkey(user, authenticator, sign_count=5)
    impostor = SoftAuthenticator()
    copy = impostor.new_credential("testserver", bytes(passkey.user_handle), credential_id=bytes(passkey.credential_id))
    response = passkey_signin(client, impostor, credential=copy, sign_count=3)
    assert refused(response, NOT_VERIFIED)
    [event] = SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED)
    assert (event.user, event.method, event.reason) == (user, "passkey", "invalid_assertion")
    assert not OutboxMail.objects.filter(kind=OutboxMail.Kind.PASSKEY_CLONED).exists()


def test_counters_of_zero_stay_allowed(user):
    synced = SoftAuthenticator(counts=False)
    passkey = add_passkey(user, synced)
    for _ in range(3):
        c = Client()
        assert passkey_signin(c, synced).status_code == 200
        assert is_signed_in(c)
    passkey.refresh_from_db()
    assert passkey.sign_count == 0


def test_a_counter_that_goes_up_is_accepted_and_kept(client, user, authenticator):
    passkey = add_passkey(user, authenticator, sign_count=5)
    assert passkey_signin(client, authenticator, sign_count=9).status_code == 200
    passkey.refresh_from_db()
    assert passkey.sign_count == 9


def test_a_deactivated_users_passkey_is_refused(client, user, authenticator, ada_key):
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = passkey_signin(client, authenticator)
    assert refused(response, CANNOT_SIGN_IN)
    assert not is_signed_in(client)
    [event] = SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED)
    assert (event.user, event.reason) == (user, "inactive")


@pytest.mark.parametrize("header", ["HTTP_HOST", "HTTP_X_FORWARDED_HOST"])
def test_a_spoofed_host_does_not_change_the_expected_relying_party(client, authenticator, ada_key, settings, header):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "evil.example"]
    settings.USE_X_FORWARDED_HOST = True
    spoof = {header: "evil.example"}
    options = options_from(client, SIGNIN_OPTIONS, **spoof)
    assert options["rpId"] == "testserver"
    phished = authenticator.get(options, rp_id="evil.example", origin="http://evil.example")
    assert refused(post_json(client, SIGNIN, {"credential": phished}, **spoof), NOT_VERIFIED)
    assert not is_signed_in(client)

    # Only the origin, or only the relying party, of the spoofed host: refused too.
    for knobs in ({"origin": "http://evil.example"}, {"rp_id": "evil.example"}):
        body = {"credential": authenticator.get(options_from(client, SIGNIN_OPTIONS, **spoof), **knobs)}
        assert refused(post_json(client, SIGNIN, body, **spoof), NOT_VERIFIED)

    # A genuine answer is judged the same whatever Host it arrives with.
    genuine = authenticator.get(options_from(client, SIGNIN_OPTIONS, **spoof))
    assert post_json(client, SIGNIN, {"credential": genuine}, **spoof).status_code == 200


@pytest.mark.parametrize("body", GARBAGE_BODIES)
def test_garbage_sign_in_bodies_get_a_400(client, ada_key, body):
    options_from(client, SIGNIN_OPTIONS)
    response = post_json(client, SIGNIN, body)
    assert response.status_code == 400, response.content
    assert "error" in response.json()
    assert not is_signed_in(client)


def test_sign_in_without_options_is_refused(client, authenticator, ada_key):
    options = {"challenge": "AAAAAAAAAAAAAAAAAAAAAA", "rpId": "testserver"}
    assert refused(post_json(client, SIGNIN, {"credential": authenticator.get(options)}), NO_REQUEST)
    assert not is_signed_in(client)


def test_a_registration_challenge_does_not_sign_in(signed_in_client, user, authenticator):
    passkey = add_passkey(user, authenticator)
    reauthenticate_with_passkey(signed_in_client, authenticator)
    passkey.refresh_from_db()
    used_at = passkey.last_used_at
    registration = options_from(signed_in_client, REGISTER_OPTIONS)
    credential = authenticator.get({"challenge": registration["challenge"], "rpId": "testserver"})
    assert refused(post_json(signed_in_client, SIGNIN, {"credential": credential}), NO_REQUEST)
    passkey.refresh_from_db()
    assert passkey.last_used_at == used_at


def test_passkey_ceremonies_are_rate_limited_per_address(client, authenticator, ada_key, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "passkey-ip": "3/5m"}
    for _ in range(3):
        options_from(client, SIGNIN_OPTIONS)
    throttled = post_json(client, SIGNIN_OPTIONS)
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert passkey_signin(other, authenticator).status_code == 200


# --- password throttling does not block passkeys ----------------------------------------------------


@pytest.mark.parametrize("spread", [False, True], ids=["signin-ip-account", "signin-account"])
def test_password_throttling_does_not_block_a_passkey_sign_in(user, authenticator, ada_key, spread):
    """Wrong passwords lock password sign-in for the account; the passkey, phishing-proof, still works."""
    addresses = [f"198.51.100.{n}" for n in range(1, 6)] if spread else ["198.51.100.1"]
    tries = 10 if spread else 5
    for i in range(tries):
        c = Client(REMOTE_ADDR=addresses[i % len(addresses)])
        assert c.post("/accounts/login/", {"email": user.email, "password": "wrong"}).status_code == 400
    here = "198.51.100.99" if spread else addresses[0]
    locked = Client(REMOTE_ADDR=here)
    assert locked.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 429
    assert not is_signed_in(locked)

    response = passkey_signin(locked, authenticator)
    assert response.json() == {"redirect": "/accounts/"}
    assert is_signed_in(locked) and methods(locked) == ["passkey"]


# --- as the second step of a password sign-in -------------------------------------------------------


def test_a_password_sign_in_of_a_passkey_user_waits_for_the_passkey(client, user, authenticator, ada_key):
    start_pending(client, user)
    assert not is_signed_in(client)
    page = client.get(MFA_PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Use a passkey" in html and f'data-passkey-verify="{SIGNIN}"' in html

    options = options_from(client, SIGNIN_OPTIONS)
    assert [item["id"] for item in options["allowCredentials"]] == [authenticator.credentials[0].b64id]
    assert options["allowCredentials"][0]["transports"] == ["internal", "hybrid"]
    assert options["userVerification"] == "required"


def test_a_passkey_completes_a_pending_password_sign_in(client, user, authenticator, ada_key):
    password_step(client, user.email, next_url="/accounts/security/")
    response = passkey_signin(client, authenticator, next_url="/ignored/")
    assert response.json() == {"redirect": "/accounts/security/"}, "the pending sign-in's target wins"
    assert is_signed_in(client)
    assert methods(client) == ["pwd", "passkey"]
    assert "accounts.pending_signin" not in client.session
    [verified] = SecurityEvent.objects.filter(kind=Event.MFA_VERIFIED)
    assert (verified.user, verified.method) == (user, "passkey")
    [signed_in] = SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED)
    assert signed_in.method == "pwd+passkey"


def test_the_mfa_page_lists_only_the_pending_users_passkeys(client, user, authenticator, make_user):
    add_passkey(user, authenticator)
    add_passkey(user, authenticator, "Phone")
    add_passkey(make_user("bob@example.com"), SoftAuthenticator())
    start_pending(client, user)
    options = options_from(client, SIGNIN_OPTIONS)
    assert {item["id"] for item in options["allowCredentials"]} == {c.b64id for c in authenticator.credentials}


def test_another_users_passkey_cannot_finish_a_pending_sign_in(client, user, authenticator, ada_key, make_user):
    bob = make_user("bob@example.com")
    bobs_authenticator = SoftAuthenticator()
    add_passkey(bob, bobs_authenticator)
    start_pending(client, user)
    options = options_from(client, SIGNIN_OPTIONS)
    # A browser would not offer Bob's passkey here (it is not allowed); an attacker sends it anyway.
    bobs_answer = bobs_authenticator.get(options, credential=bobs_authenticator.credentials[0])
    response = post_json(client, SIGNIN, {"credential": bobs_answer})
    assert refused(response, CANNOT_SIGN_IN)
    assert not is_signed_in(client)
    assert signed_in_user_id(client) is None, "not Ada, and not Bob either"
    [event] = SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED, method="passkey")
    assert (event.user, event.reason) == (bob, "other_account")
    assert not SecurityEvent.objects.filter(kind__in=[Event.SIGNIN_SUCCEEDED, Event.MFA_VERIFIED]).exists()

    # Ada's own passkey still finishes her sign-in.
    assert passkey_signin(client, authenticator).json() == {"redirect": "/accounts/"}
    assert signed_in_user_id(client) == str(user.pk)


def test_a_passkey_after_the_pending_sign_in_expired_signs_in_on_its_own(
    client, user, authenticator, ada_key, clock, settings
):
    start_pending(client, user)
    clock.advance(accounts_settings.MFA_PENDING_TIMEOUT + 1)
    assert options_from(client, SIGNIN_OPTIONS)["allowCredentials"] == []
    assert passkey_signin(client, authenticator).status_code == 200
    assert methods(client) == ["passkey"]


def test_someone_who_must_use_mfa_may_enrol_a_passkey_instead_of_an_app(make_user, browser):
    ada = make_user(mfa_required=True)
    c = browser()
    assert password_step(c, ada.email)["Location"] == "/accounts/security/totp/add/"
    assert c.get("/accounts/security/")["Location"] == "/accounts/security/totp/add/"
    assert register(c, SoftAuthenticator()).json() == {"redirect": "/accounts/security/recovery-codes/"}
    assert c.get("/accounts/security/").status_code == 200, "enrolment is no longer demanded"


# --- management -------------------------------------------------------------------------------------


def rename_path(passkey: Passkey) -> str:
    return f"/accounts/security/passkeys/{passkey.pk}/rename/"


def remove_path(passkey: Passkey) -> str:
    return f"/accounts/security/passkeys/{passkey.pk}/remove/"


@pytest.fixture
def ada_by_passkey(user, authenticator, ada_key) -> Client:
    """Ada, signed in with her passkey, with ten recovery codes."""
    recovery.generate(user)
    c = Client(raise_request_exception=False)
    assert passkey_signin(c, authenticator).status_code == 200
    return c


def test_the_security_page_lists_passkeys(ada_by_passkey, ada_key):
    html = ada_by_passkey.get("/accounts/security/").content.decode()
    assert "Laptop" in html
    assert f'action="{rename_path(ada_key)}"' in html and f'action="{remove_path(ada_key)}"' in html


def test_renaming_a_passkey(ada_by_passkey, ada_key):
    response = ada_by_passkey.post(rename_path(ada_key), {"name": "  Work laptop "})
    assert response["Location"] == "/accounts/security/"
    assert "The passkey was renamed." in page_after(ada_by_passkey, response)
    ada_key.refresh_from_db()
    assert ada_key.name == "Work laptop"

    response = ada_by_passkey.post(rename_path(ada_key), {"name": "   "})
    assert "A passkey needs a name." in page_after(ada_by_passkey, response)
    ada_key.refresh_from_db()
    assert ada_key.name == "Work laptop"


def test_renaming_needs_recent_authentication(ada_by_passkey, ada_key, clock, settings):
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    response = ada_by_passkey.post(rename_path(ada_key), {"name": "Stolen"})
    assert response["Location"] == REAUTH_REDIRECT
    ada_key.refresh_from_db()
    assert ada_key.name == "Laptop"


def test_another_users_passkey_cannot_be_renamed_or_removed(ada_by_passkey, make_user, deliver_outbox):
    bobs = add_passkey(make_user("bob@example.com"), SoftAuthenticator(), "Bob's phone")
    deliver_outbox().clear()
    response = ada_by_passkey.post(rename_path(bobs), {"name": "Mine now"})
    assert "That passkey was already removed." in page_after(ada_by_passkey, response)
    response = ada_by_passkey.post(remove_path(bobs))
    assert "That passkey was already removed." in page_after(ada_by_passkey, response)
    bobs.refresh_from_db()
    assert bobs.name == "Bob's phone"
    assert not SecurityEvent.objects.filter(kind=Event.MFA_REMOVED).exists()
    assert mfa_mails(deliver_outbox) == []


def test_management_needs_a_sign_in_and_a_post(client, ada_by_passkey, ada_key):
    assert client.post(remove_path(ada_key))["Location"].startswith("/accounts/login/")
    assert client.post(rename_path(ada_key), {"name": "x"})["Location"].startswith("/accounts/login/")
    assert ada_by_passkey.get(remove_path(ada_key)).status_code == 200  # the confirmation page only
    assert Passkey.objects.filter(pk=ada_key.pk).exists()


def test_removing_one_of_two_passkeys_mails_audits_and_keeps_the_codes(
    user, authenticator, ada_key, ada_by_passkey, deliver_outbox
):
    phone = add_passkey(user, authenticator, "Phone")
    deliver_outbox().clear()
    response = ada_by_passkey.post(remove_path(phone))
    assert "The passkey was removed." in page_after(ada_by_passkey, response)
    assert list(Passkey.objects.filter(user=user).values_list("name", flat=True)) == ["Laptop"]
    assert RecoveryCode.objects.filter(user=user).count() == 10
    [event] = SecurityEvent.objects.filter(kind=Event.MFA_REMOVED)
    assert event.user == user
    [mail] = mfa_mails(deliver_outbox)
    assert mail.to == [user.email] and "A passkey was removed from your account" in mail.body


def test_removing_needs_recent_authentication(ada_by_passkey, ada_key, clock, settings):
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    assert ada_by_passkey.post(remove_path(ada_key))["Location"] == REAUTH_REDIRECT
    assert Passkey.objects.filter(pk=ada_key.pk).exists()
    assert not SecurityEvent.objects.filter(kind=Event.MFA_REMOVED).exists()


def test_removing_the_last_factor_discards_the_recovery_codes(user, authenticator, ada_key, ada_by_passkey, browser):
    response = ada_by_passkey.post(remove_path(ada_key))
    assert "The passkey was removed." in page_after(ada_by_passkey, response)
    assert not Passkey.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert is_signed_in(ada_by_passkey)
    assert password_step(browser(), user.email)["Location"] == "/accounts/", "password-only again"
    assert refused(passkey_signin(browser(), authenticator), CANNOT_SIGN_IN)


def test_removing_a_passkey_keeps_the_codes_while_an_app_remains(user, ada_key, ada_by_passkey):
    add_totp(user)
    assert ada_by_passkey.post(remove_path(ada_key))["Location"] == "/accounts/security/"
    assert not Passkey.objects.filter(user=user).exists()
    assert RecoveryCode.objects.filter(user=user).count() == 10


def test_the_last_passkey_of_someone_who_must_use_mfa_cannot_be_removed(user, authenticator, ada_key, ada_by_passkey):
    User.objects.filter(pk=user.pk).update(mfa_required=True)
    response = ada_by_passkey.post(remove_path(ada_key))
    html = page_after(ada_by_passkey, response)
    assert "must use two-step verification, so its last passkey cannot be removed" in html
    assert Passkey.objects.filter(pk=ada_key.pk).exists()
    assert RecoveryCode.objects.filter(user=user).count() == 10
    assert not SecurityEvent.objects.filter(kind=Event.MFA_REMOVED).exists()

    # With a second factor, either can go, but not both.
    phone = add_passkey(user, authenticator, "Phone")
    assert "The passkey was removed." in page_after(ada_by_passkey, ada_by_passkey.post(remove_path(phone)))
    ada_by_passkey.post(remove_path(ada_key))
    assert Passkey.objects.filter(pk=ada_key.pk).exists()

    # An authenticator app counts as the other factor too.
    add_totp(user)
    ada_by_passkey.post(remove_path(ada_key))
    assert not Passkey.objects.filter(pk=ada_key.pk).exists()
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_a_removed_passkey_no_longer_signs_in(user, authenticator, ada_key, ada_by_passkey, browser):
    add_totp(user)
    ada_by_passkey.post(remove_path(ada_key))
    assert refused(passkey_signin(browser(), authenticator), CANNOT_SIGN_IN)


def test_admin_reset_removes_passkeys(user, authenticator, ada_key, ada_by_passkey, make_admin, browser):
    add_totp(user)
    admin = sign_in_admin(make_admin(), Client(raise_request_exception=False))
    response = admin.post("/admin/accounts/user/", {"action": "reset_mfa", "_selected_action": [user.pk]})
    assert response.status_code == 302
    assert not Passkey.objects.filter(user=user).exists()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert not is_signed_in(ada_by_passkey)
    assert refused(passkey_signin(browser(), authenticator), CANNOT_SIGN_IN)
    assert password_step(browser(), user.email)["Location"] == "/accounts/"
