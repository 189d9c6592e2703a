"""A factor change needs a factor (issue 13, section 2).

The attacker here holds a copy of the owner's session cookie (malware, a shared computer, a leaked
log) and knows the password, nothing more. Against an account with a second factor, re-entering the
password must not open adding, renaming or removing a factor, new recovery codes, an email change, a
password change or signing out another session: only a second factor does (passkey, authenticator app
or recovery code). Against an account without
one, the attacker can enrol a factor after the password, but that enrolment proves nothing: the new
factor does not count for the session (amr, acr, admin) until it is used at a sign-in, a step-up or a
re-authentication. Every re-authentication rotates the session key, so a copied cookie dies with it.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from accounts.sessions import session_id
from mfa import recovery
from mfa.models import Passkey, RecoveryCode
from oidc.assurance import ACR_1FA, ACR_MFA, ACR_PHR
from tests.oidc.relying_party import RelyingParty, approve, backdate_signin
from tests.oidc.relying_party import register as register_app
from tests.users import PASSWORD, add_totp, totp_code

from .pages import (
    CODES_PAGE,
    ENROL_PAGE,
    MFA_PAGE,
    REAUTH_PAGE,
    code_for_secret,
    device_of,
    is_signed_in,
    password_step,
    secret_on_page,
    sign_in_with_mfa,
    start_pending,
    submit_code,
    wrong_code,
)
from .softauthn import SoftAuthenticator
from .test_passkeys import (
    REGISTER,
    REGISTER_OPTIONS,
    SIGNIN,
    SIGNIN_OPTIONS,
    add_passkey,
    methods,
    options_from,
    passkey_signin,
    post_json,
    register,
)

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
SECURITY = "/accounts/security/"
PASSWORD_PAGE = "/accounts/password/change/"
NEW = "a passphrase only the thief knows 7"
REGENERATE = "/accounts/security/recovery-codes/regenerate/"
CHANGES = (
    Event.MFA_ADDED,
    Event.MFA_REMOVED,
    Event.PASSKEY_RENAMED,
    Event.RECOVERY_CODES_GENERATED,
    Event.EMAIL_CHANGE_REQUESTED,
    Event.PASSWORD_CHANGED,
)


def copy_of(c: Client) -> Client:
    """Another browser holding a copy of this one's session cookie."""
    thief = Client(raise_request_exception=False)
    thief.cookies[settings.SESSION_COOKIE_NAME] = c.cookies[settings.SESSION_COOKIE_NAME].value
    return thief


def account_state(user) -> dict:
    user.refresh_from_db()
    return {
        "email": user.email,
        "password": user.password,
        "passkeys": sorted(Passkey.objects.filter(user=user).values_list("name", flat=True)),
        "apps": sorted(TOTPDevice.objects.filter(user=user).values_list("name", flat=True)),
        "codes": set(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True)),
        "changes": SecurityEvent.objects.filter(user=user, kind__in=CHANGES).count(),
    }


def reauthenticate_with_password(c: Client, next_url: str = SECURITY):
    return c.post(REAUTH_PAGE, {"password": PASSWORD, "next": next_url})


def start_reauthentication(c: Client, next_url: str = SECURITY) -> None:
    """To the second-factor challenge ("Use an authenticator app or a recovery code instead" for an
    account holding a passkey, which the re-authentication page itself can take)."""
    response = c.get(REAUTH_PAGE, {"next": next_url, "with": "second-factor"})
    assert response.status_code == 302 and response["Location"] == MFA_PAGE, response


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
def owner(ada, authenticator):
    """Ada, with an authenticator app ("Phone"), a passkey ("Laptop") and ten recovery codes."""
    add_passkey(ada, authenticator)
    recovery.generate(ada)
    return ada


@pytest.fixture
def owners_session(owner, browser, clock) -> Client:
    """Ada signed in with both factors, long enough ago that her sign-in is no recent proof any more."""
    c = sign_in_with_mfa(browser(), owner)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    return c


@pytest.fixture
def thief(owners_session) -> Client:
    return copy_of(owners_session)


# --- the attacker's attempts, each as a browser would make it ----------------------------------------


def add_a_passkey(c: Client, user):
    response = post_json(c, REGISTER_OPTIONS)
    if response.status_code != 200:
        return response
    return post_json(c, REGISTER, {"credential": SoftAuthenticator().create(response.json()), "name": "Mallory"})


def add_an_authenticator_app(c: Client, user):
    page = c.get(ENROL_PAGE)
    if page.status_code != 200:
        return page
    secret = secret_on_page(page.content.decode())
    return c.post(ENROL_PAGE, {"name": "Mallory", "code": code_for_secret(secret)})


def rename_the_passkey(c: Client, user):
    passkey = Passkey.objects.get(user=user)
    return c.post(f"/accounts/security/passkeys/{passkey.pk}/rename/", {"name": "Mallory"})


def remove_the_passkey(c: Client, user):
    return c.post(f"/accounts/security/passkeys/{Passkey.objects.get(user=user).pk}/remove/")


def remove_the_authenticator_app(c: Client, user):
    return c.post(f"/accounts/security/totp/{device_of(user).pk}/remove/")


def regenerate_the_recovery_codes(c: Client, user):
    return c.post(REGENERATE)


def change_the_email(c: Client, user):
    return c.post("/accounts/email/", {"email": "mallory@example.com"})


def change_the_password(c: Client, user):
    return c.post(PASSWORD_PAGE, {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW})


ATTEMPTS = [
    add_a_passkey,
    add_an_authenticator_app,
    rename_the_passkey,
    remove_the_passkey,
    remove_the_authenticator_app,
    regenerate_the_recovery_codes,
    change_the_email,
    change_the_password,
]


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda attempt: attempt.__name__)
def test_a_stolen_session_and_the_password_cannot_change_the_factors_or_the_email(
    thief, owner, attempt, deliver_outbox
):
    deliver_outbox().clear()
    before = account_state(owner)

    by_password = reauthenticate_with_password(thief)
    assert by_password.status_code == 302 and by_password["Location"] == MFA_PAGE, "sent to prove a factor"
    page = thief.get(MFA_PAGE).content.decode()
    assert "Confirm it's you" in page and "your password alone is not enough here" in page
    assert "Use a passkey" in page and "Use a recovery code" in page

    response = attempt(thief, owner)
    assert response.status_code == 302 and response["Location"].startswith(REAUTH_PAGE + "?next="), response
    asked_again = thief.get(response["Location"])
    assert asked_again.status_code == 200 and "Use a passkey" in asked_again.content.decode()
    assert account_state(owner) == before
    assert deliver_outbox() == []
    assert not SecurityEvent.objects.filter(kind=Event.REAUTHENTICATED).exists()


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda attempt: attempt.__name__)
def test_the_owner_does_each_change_after_confirming_with_her_authenticator_app(owners_session, owner, attempt):
    before = account_state(owner)
    start_reauthentication(owners_session)
    assert submit_code(owners_session, totp_code(device_of(owner)))["Location"] == SECURITY
    response = attempt(owners_session, owner)
    assert response.status_code in (200, 302), response
    assert not response.get("Location", "").startswith(REAUTH_PAGE)
    assert account_state(owner) != before
    [event] = SecurityEvent.objects.filter(kind=Event.REAUTHENTICATED)
    assert (event.user, event.method) == (owner, "otp")


def test_a_recovery_code_confirms_it_is_her(owners_session, owner):
    [code, *_] = recovery.generate(owner)
    start_reauthentication(owners_session, ENROL_PAGE)
    assert submit_code(owners_session, code, recovery=True)["Location"] == ENROL_PAGE
    assert owners_session.get(ENROL_PAGE).status_code == 200
    assert RecoveryCode.objects.filter(user=owner, used_at__isnull=False).count() == 1
    [event] = SecurityEvent.objects.filter(kind=Event.REAUTHENTICATED)
    assert (event.user, event.method) == (owner, "recovery")
    assert "recovery" in methods(owners_session)


def test_her_passkey_confirms_it_is_her(owners_session, owner, authenticator):
    start_reauthentication(owners_session, ENROL_PAGE)
    options = options_from(owners_session, SIGNIN_OPTIONS)
    assert [item["id"] for item in options["allowCredentials"]] == [authenticator.credentials[0].b64id]
    response = post_json(owners_session, SIGNIN, {"credential": authenticator.get(options)})
    assert response.json() == {"redirect": ENROL_PAGE}
    assert owners_session.get(ENROL_PAGE).status_code == 200
    [event] = SecurityEvent.objects.filter(kind=Event.REAUTHENTICATED)
    assert (event.user, event.method) == (owner, "passkey")
    assert not SecurityEvent.objects.filter(kind=Event.MFA_VERIFIED).exclude(at__lt=event.at).exists()


def test_someone_elses_passkey_does_not_confirm_it_is_her(owners_session, owner, make_user):
    bobs = SoftAuthenticator()
    add_passkey(make_user("bob@example.com"), bobs)
    start_reauthentication(owners_session, ENROL_PAGE)
    options = options_from(owners_session, SIGNIN_OPTIONS)
    forged = {**options, "allowCredentials": []}  # Bob's authenticator answers anyway
    response = post_json(owners_session, SIGNIN, {"credential": bobs.get(forged)})
    assert response.status_code == 400
    assert owners_session.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)
    assert not SecurityEvent.objects.filter(kind=Event.REAUTHENTICATED).exists()


def test_wrong_codes_are_refused_recorded_and_throttled_like_the_sign_in_step(owner, thief, settings):
    """mfa-pending (5 per re-authentication) and mfa-account (10 per account, across re-authentications
    and sign-ins), as at the second step of a sign-in. django-otp's own per-device pause is taken out
    of the way to see the Redis limits alone."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = device_of(owner)
    start_reauthentication(thief)
    for _attempt in range(5):
        assert submit_code(thief, wrong_code(device)).status_code == 400
    throttled = submit_code(thief, totp_code(device))
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert "Too many attempts" in throttled.content.decode()
    failed = SecurityEvent.objects.filter(kind=Event.MFA_FAILED, user=owner)
    assert failed.count() == 5
    assert set(failed.values_list("reason", flat=True)) == {"reauth"}, "told apart from a second sign-in step"

    # A new re-authentication is a new attempt, not new guesses: the account's limit holds across them.
    start_reauthentication(thief)
    for _attempt in range(5):
        assert submit_code(thief, wrong_code(device)).status_code == 400
    start_reauthentication(thief)
    assert submit_code(thief, totp_code(device)).status_code == 429
    assert thief.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)
    assert not SecurityEvent.objects.filter(kind=Event.REAUTHENTICATED).exists()


def test_the_reauthentication_page_only_returns_to_this_site(owners_session, owner):
    start_reauthentication(owners_session, "https://evil.example/")
    assert submit_code(owners_session, totp_code(device_of(owner)))["Location"] == SECURITY


def test_a_reauthentication_left_too_long_is_started_again(owners_session, owner, clock):
    start_reauthentication(owners_session, ENROL_PAGE)
    clock.advance(accounts_settings.MFA_PENDING_TIMEOUT + 1)
    late = submit_code(owners_session, totp_code(device_of(owner)))
    assert late.status_code == 302 and late["Location"] == SECURITY
    assert "you took too long. Please try again." in owners_session.get(SECURITY).content.decode()
    assert owners_session.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)
    assert is_signed_in(owners_session)


# --- re-authentication rotates the session key ------------------------------------------------------


def confirm_with_password(c: Client, user, authenticator) -> None:
    assert reauthenticate_with_password(c)["Location"] == SECURITY


def confirm_with_app(c: Client, user, authenticator) -> None:
    start_reauthentication(c)
    assert submit_code(c, totp_code(device_of(user)))["Location"] == SECURITY


def confirm_with_passkey(c: Client, user, authenticator) -> None:
    start_reauthentication(c)
    assert passkey_signin(c, authenticator).json() == {"redirect": SECURITY}


@pytest.mark.parametrize(
    "confirm", [confirm_with_password, confirm_with_app, confirm_with_passkey], ids=lambda f: f.__name__
)
def test_reauthentication_rotates_the_session_key(user, browser, authenticator, clock, confirm):
    """ASVS V7: a new session token on re-authentication. A cookie copied before it no longer works."""
    c = browser()
    if confirm is confirm_with_password:  # no second factor: the password is the account's highest level
        assert password_step(c, user.email)["Location"] == "/accounts/"
    else:
        add_totp(user)
        add_passkey(user, authenticator)
        sign_in_with_mfa(c, user)
        clock.advance(30)  # the sign-in used this step's code
    copied = copy_of(c)
    old_key = c.cookies[settings.SESSION_COOKIE_NAME].value
    session_ref = c.session["accounts.session_ref"]

    confirm(c, user, authenticator)

    assert c.cookies[settings.SESSION_COOKIE_NAME].value != old_key
    assert is_signed_in(c)
    assert c.session["accounts.session_ref"] == session_ref, "the same signed-in session, under a new key"
    assert not is_signed_in(copied), "the copy of the old cookie is dead"


# --- the password change and one other session's sign-out need it too (review R6, R7) -----------------

SESSION_IDS = re.compile(r'name="session" value="([^"]+)"')


def test_a_session_thief_with_the_password_cannot_change_it_without_the_accounts_second_factor(user, clock):
    """Session thief who also knows the password, against an account with an authenticator app. The
    password change asks only for the current password (not the highest level, as factor and email
    changes now do), so the thief sets a new one: every other session of the owner ends, the copied
    session lives on under a new key, and the owner's own browser is signed out."""
    add_totp(user)
    owner = sign_in_with_mfa(Client(raise_request_exception=False), user)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)  # her sign-in is no recent proof any more
    thief = Client(raise_request_exception=False)
    thief.cookies[settings.SESSION_COOKIE_NAME] = owner.cookies[settings.SESSION_COOKIE_NAME].value

    thief.post("/accounts/password/change/", {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW})

    user.refresh_from_db()
    assert user.check_password(PASSWORD) and not user.check_password(NEW), (
        "a stolen session plus the password replaced the password of an account with a second factor"
    )
    assert is_signed_in(owner)


def test_the_owner_confirms_with_her_app_then_types_her_password_once(owners_session, owner, browser, clock):
    """The password page itself sends her to confirm with her second factor, then back to the form,
    whose current-password field is the only place the password is asked for."""
    elsewhere = sign_in_with_mfa(browser(), owner)
    clock.advance(30)  # that sign-in used this step's code
    to_confirm = owners_session.get(PASSWORD_PAGE)
    assert to_confirm["Location"] == REAUTH_PAGE + "?next=%2Faccounts%2Fpassword%2Fchange%2F"
    assert "Use a passkey" in owners_session.get(to_confirm["Location"]).content.decode()
    assert owners_session.get(to_confirm["Location"] + "&with=second-factor")["Location"] == MFA_PAGE
    assert 'type="password"' not in owners_session.get(MFA_PAGE).content.decode()
    assert submit_code(owners_session, totp_code(device_of(owner)))["Location"] == PASSWORD_PAGE
    form = owners_session.get(PASSWORD_PAGE)
    assert form.status_code == 200 and form.content.decode().count('name="old_password"') == 1

    assert change_the_password(owners_session, owner)["Location"] == "/accounts/"
    owner.refresh_from_db()
    assert owner.check_password(NEW)
    assert is_signed_in(owners_session) and not is_signed_in(elsewhere)


def test_without_a_second_factor_the_forms_current_password_is_the_proof(user, browser, clock):
    """Her highest level is the password, which the form asks for: no re-authentication page first,
    even long after sign-in (that would ask for the password twice in a row)."""
    c = browser()
    assert password_step(c, user.email)["Location"] == "/accounts/"
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    assert c.get(PASSWORD_PAGE).status_code == 200
    wrong = c.post(PASSWORD_PAGE, {"old_password": "not her password 1", "new_password1": NEW, "new_password2": NEW})
    assert wrong.status_code == 400
    assert change_the_password(c, user)["Location"] == "/accounts/"
    user.refresh_from_db()
    assert user.check_password(NEW)
    assert not SecurityEvent.objects.filter(kind=Event.REAUTHENTICATED).exists()


def test_a_session_thief_cannot_sign_the_owner_out_one_session_at_a_time(user, clock):
    """Session thief (a copied cookie of the owner's phone session; no password, no factor). The
    "sign out all other sessions" button asks for the authenticator app, which the thief lacks; the
    per-session "Sign out" buttons ask for nothing, so the thief ends the owner's laptop session (and
    every other) one by one and keeps the account to itself until the owner signs in again."""
    device = add_totp(user)
    laptop = sign_in_with_mfa(Client(raise_request_exception=False, HTTP_USER_AGENT="laptop"), user)
    phone = Client(raise_request_exception=False, HTTP_USER_AGENT="phone")
    start_pending(phone, user)
    device.refresh_from_db()
    assert submit_code(phone, totp_code(device, steps_ago=-1)).status_code == 302
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 60)  # an ordinary session, not a fresh sign-in
    assert is_signed_in(laptop)
    thief = Client(raise_request_exception=False)
    stolen = phone.cookies[settings.SESSION_COOKIE_NAME].value
    thief.cookies[settings.SESSION_COOKIE_NAME] = stolen

    refused = thief.post("/accounts/security/sessions/end-others/")
    assert refused["Location"].startswith("/accounts/reauthenticate/"), refused["Location"]
    page = thief.get("/accounts/security/").content.decode()
    for sid in SESSION_IDS.findall(page):
        thief.post("/accounts/security/sessions/end/", {"session": sid})
        if not is_signed_in(thief):  # that one was the stolen session itself: take another copy
            thief = Client(raise_request_exception=False)
            thief.cookies[settings.SESSION_COOKIE_NAME] = stolen

    assert is_signed_in(laptop), "a stolen cookie alone signed the owner out of their laptop"


def test_the_owner_signs_out_another_session_after_confirming_it_is_her(owners_session, owner, browser, clock):
    phone = sign_in_with_mfa(browser(), owner)
    clock.advance(30)  # that sign-in used this step's code
    [phone_id] = SESSION_IDS.findall(owners_session.get(SECURITY).content.decode())

    asked = owners_session.post("/accounts/security/sessions/end/", {"session": phone_id})
    assert asked["Location"] == REAUTH_PAGE + "?next=%2Faccounts%2Fsecurity%2F"
    assert is_signed_in(phone), "nothing ends before she confirms"
    assert owners_session.get(asked["Location"] + "&with=second-factor")["Location"] == MFA_PAGE
    challenge = owners_session.get(MFA_PAGE).content.decode()
    assert "Nothing has been changed yet. Confirm it&#x27;s you, then try again." in challenge
    assert submit_code(owners_session, totp_code(device_of(owner)))["Location"] == SECURITY

    ended = owners_session.post("/accounts/security/sessions/end/", {"session": phone_id})
    assert ended["Location"] == SECURITY
    assert not is_signed_in(phone) and is_signed_in(owners_session)
    assert SecurityEvent.objects.filter(kind=Event.SESSION_ENDED).count() == 1


def test_signing_out_this_session_by_its_id_needs_no_confirmation(owners_session):
    """The sign-out of the session in use stays one click, however long ago it signed in."""
    own_id = session_id(owners_session.cookies[settings.SESSION_COOKIE_NAME].value)
    response = owners_session.post("/accounts/security/sessions/end/", {"session": own_id})
    assert response.status_code == 302 and not response["Location"].startswith(REAUTH_PAGE)
    assert not is_signed_in(owners_session)


# --- a factor enrolled in this session does not count for it ----------------------------------------


@pytest.fixture
def rp(db) -> RelyingParty:
    client, secret = register_app()
    return RelyingParty(client, secret)


def enrol_a_passkey(c: Client, authenticator: SoftAuthenticator) -> None:
    assert register(c, authenticator).status_code == 200


def enrol_an_app(c: Client, authenticator: SoftAuthenticator) -> str:
    page = c.get(ENROL_PAGE)
    assert page.status_code == 200, page
    secret = secret_on_page(page.content.decode())
    assert c.post(ENROL_PAGE, {"name": "Mallory", "code": code_for_secret(secret)})["Location"] == CODES_PAGE
    return secret


@pytest.fixture(params=["passkey", "app"])
def intruder(request, user, browser, authenticator) -> Client:
    """Ada (no second factor) signed in with her password a while ago. The attacker copied the session
    cookie, re-entered her password (her highest level) and enrolled a factor of their own. (The sign-in
    is backdated rather than the clock moved on: ID tokens' lifetimes follow the real clock.)"""
    c = browser()
    assert password_step(c, user.email)["Location"] == "/accounts/"
    backdate_signin(c, accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    thief = copy_of(c)
    assert reauthenticate_with_password(thief)["Location"] == SECURITY
    if request.param == "passkey":
        enrol_a_passkey(thief, authenticator)
    else:
        thief.secret = enrol_an_app(thief, authenticator)  # type: ignore[attr-defined]  # a note for the test
    thief.factor = request.param  # type: ignore[attr-defined]  # a note for the test
    return thief


def test_a_factor_enrolled_in_this_session_does_not_raise_its_id_tokens(rp, intruder):
    body = rp.sign_in_and_redeem(intruder)
    assert body["claims"]["amr"] == ["pwd"]
    assert body["claims"]["acr"] == ACR_1FA

    asks = [ACR_MFA, ACR_PHR] if intruder.factor == "passkey" else [ACR_MFA]
    for acr_values in asks:
        request = rp.authorization(acr_values=acr_values)
        response = approve(intruder, request["url"])
        assert response.status_code == 302 and response["Location"] == MFA_PAGE, (acr_values, response)
    assert methods(intruder) == ["pwd", "pwd"]  # the sign-in's password and the re-entered one


def test_the_new_factor_counts_once_it_is_used_at_a_step_up(rp, intruder, authenticator, clock):
    acr_values = ACR_PHR if intruder.factor == "passkey" else ACR_MFA
    request = rp.authorization(acr_values=acr_values)
    assert approve(intruder, request["url"])["Location"] == MFA_PAGE
    key_before = intruder.cookies[settings.SESSION_COOKIE_NAME].value
    if intruder.factor == "passkey":
        back = passkey_signin(intruder, authenticator).json()["redirect"]
    else:
        clock.advance(30)  # the enrolment used this step's code
        back = submit_code(intruder, code_for_secret(intruder.secret))["Location"]
    assert back == request["url"]
    assert intruder.cookies[settings.SESSION_COOKIE_NAME].value != key_before, "a step-up rotates the key too"
    returned = rp.callback(approve(intruder, request["url"]))
    tokens = rp.redeem(returned["code"], request["verifier"]).json()
    claims = rp.id_claims(tokens["id_token"], request["params"]["nonce"])
    assert claims["acr"] == acr_values and "mfa" in claims["amr"]


def test_a_staff_session_does_not_reach_the_admin_with_a_factor_it_only_enrolled(
    make_user, browser, authenticator, deliver_outbox
):
    """MFA_REQUIRED=staff: a staff member without a second factor must enrol one right after the
    password. Whoever holds that session (the person, or a thief with the cookie) enrols one; it must
    still be proved before the admin opens, through the step-up the admin's login page offers."""
    staff = make_user("staff@example.com", is_staff=True, is_superuser=True)
    victim = make_user("victim@example.com")
    c = browser()
    assert password_step(c, staff.email, next_url="/admin/")["Location"] == ENROL_PAGE
    thief = copy_of(c)
    enrol_a_passkey(thief, authenticator)

    to_login = thief.get("/admin/")
    assert to_login.status_code == 302 and to_login["Location"] == "/admin/login/?next=/admin/"
    assert thief.get("/admin/accounts/user/").status_code == 302
    thief.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [victim.pk]})
    victim.refresh_from_db()
    assert victim.is_active

    # The clear path for the person: the admin's login page starts a step-up with the new factor.
    assert thief.get(to_login["Location"])["Location"] == MFA_PAGE
    page = thief.get(MFA_PAGE).content.decode()
    assert "The administration site needs your second factor in this session." in page
    assert "Use a passkey" in page
    assert passkey_signin(thief, authenticator).json() == {"redirect": "/admin/"}
    assert thief.get("/admin/").status_code == 200
