"""The audit trail, the security page, re-authentication, "this wasn't me", new-device mail and email change.

Every test signs in through the front door. Each `device(...)` is a separate browser with its own cookies,
user agent and address, so sessions, device cookies and audit rows can be told apart.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC
from urllib.parse import urlencode

import pytest
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import KnownDevice, OutboxMail, SecurityEvent
from accounts.sessions import session_id, user_sessions
from tests.users import PASSWORD, sign_in_admin

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
HOME_IP, PHONE_IP, ATTACKER_IP, OTHER_IP = "198.51.100.7", "203.0.113.9", "192.0.2.66", "198.51.100.200"
SESSION_COOKIE, DEVICE_COOKIE = "__Host-session", "__Host-device"


def device_token(cookie_value: str) -> str:
    """The random token inside the signed device cookie (what the database stores a hash of)."""
    from django.core import signing

    from accounts.devices import COOKIE_SALT

    return signing._unsign_cookie(cookie_value, cookie_name=DEVICE_COOKIE, salt=COOKIE_SALT)  # type: ignore[attr-defined]  # private


NEW = "a brand new passphrase 7"


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def device():
    """A separate browser: its own cookie jar, user agent and client address."""

    def make(user_agent: str = FIREFOX_WINDOWS, ip: str = HOME_IP) -> Client:
        return Client(raise_request_exception=False, HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)

    return make


def sign_in(c: Client, email: str, password: str = PASSWORD) -> Client:
    response = c.post("/accounts/login/", {"email": email, "password": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    return c


def is_signed_in(c: Client) -> bool:
    return c.get("/accounts/").status_code == 200


def sid(c: Client) -> str:
    return session_id(c.cookies[SESSION_COOKIE].value)


def session_rows(html: str) -> list[str]:
    """The rows of the "Where you are signed in" list."""
    section = html.split('id="sessions-heading"', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<li class="row">(.*?)</li>', section, flags=re.S)


def listed_session_ids(html: str) -> list[str]:
    return re.findall(r'name="session" value="([0-9a-f]+)"', html)


def history(html: str) -> str:
    return html.split('id="history-heading"', 1)[1].split("</section>", 1)[0]


def events(kind: str, **filters) -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(kind=kind, **filters))


def mail_path(mail, prefix: str) -> str:
    match = re.search(rf"http://testserver({re.escape(prefix)}[^\s]+/)", mail.body)
    assert match, mail.body
    return match.group(1)


def token_in(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


# --- audit trail: sign-in -----------------------------------------------------------------------


def test_signin_success_is_recorded_with_method_address_agent_and_session(user, device):
    browser = sign_in(device(FIREFOX_WINDOWS, HOME_IP), user.email)
    [event] = events(Event.SIGNIN_SUCCEEDED)
    assert event.user == user
    assert event.method == "pwd"
    assert event.ip == HOME_IP
    assert event.user_agent == FIREFOX_WINDOWS
    assert event.device == "Firefox on Windows"
    # The session is named by a prefix of its stored hash, never by the cookie value itself.
    assert event.session_ref == sid(browser)[:16]
    assert event.session_ref not in browser.cookies[SESSION_COOKIE].value
    assert event.actor is None


def test_wrong_password_on_a_real_account_is_recorded_against_it(user, device):
    response = device(CHROME_MAC, ATTACKER_IP).post(
        "/accounts/login/", {"email": user.email.upper(), "password": "not the password at all"}
    )
    assert response.status_code == 400
    [event] = events(Event.SIGNIN_FAILED)
    assert (event.user, event.method, event.reason) == (user, "pwd", "bad_credentials")
    assert (event.ip, event.user_agent) == (ATTACKER_IP, CHROME_MAC)


def test_failure_for_an_unknown_address_is_recorded_without_a_user(user, device):
    device(CHROME_MAC, ATTACKER_IP).post("/accounts/login/", {"email": "nobody@example.com", "password": PASSWORD})
    [event] = events(Event.SIGNIN_FAILED)
    assert event.user is None
    assert (event.method, event.reason, event.ip) == ("pwd", "bad_credentials", ATTACKER_IP)


def test_right_password_on_an_unverified_account_is_recorded_as_unverified(make_user, device):
    unverified = make_user("new@example.com", email_verified=False)
    assert device().post("/accounts/login/", {"email": unverified.email, "password": PASSWORD}).status_code == 400
    [event] = events(Event.SIGNIN_FAILED)
    assert (event.user, event.reason) == (unverified, "unverified")
    assert (event.ip, event.user_agent) == (HOME_IP, FIREFOX_WINDOWS)
    assert not events(Event.SIGNIN_SUCCEEDED)


def test_right_password_on_an_inactive_account_is_recorded_as_inactive(make_user, device):
    inactive = make_user(is_active=False)
    device().post("/accounts/login/", {"email": inactive.email, "password": PASSWORD})
    [event] = events(Event.SIGNIN_FAILED)
    assert (event.user, event.reason) == (inactive, "inactive")


@pytest.mark.parametrize("known", [True, False], ids=["account", "unknown-address"])
def test_throttled_attempts_are_recorded(user, device, settings, known):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signin-ip-account": "2/15m"}
    email = user.email if known else "nobody@example.com"
    attacker = device(CHROME_MAC, ATTACKER_IP)
    for _ in range(2):
        assert attacker.post("/accounts/login/", {"email": email, "password": "guess guess guess"}).status_code == 400
    throttled = attacker.post("/accounts/login/", {"email": email, "password": PASSWORD})
    assert throttled.status_code == 429
    [event] = events(Event.SIGNIN_THROTTLED)
    assert event.user == (user if known else None)
    assert (event.method, event.ip, event.user_agent) == ("pwd", ATTACKER_IP, CHROME_MAC)
    assert len(events(Event.SIGNIN_FAILED)) == 2


def test_sign_out_is_recorded_with_the_ended_session(user, device):
    browser = sign_in(device(), user.email)
    ref = sid(browser)[:16]
    assert browser.post("/accounts/logout/").status_code == 302
    [event] = events(Event.SIGNED_OUT)
    assert (event.user, event.session_ref, event.ip, event.user_agent) == (user, ref, HOME_IP, FIREFOX_WINDOWS)


# --- audit trail: password, verification -------------------------------------------------------


def test_password_change_is_recorded(user, device):
    browser = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    ref = sid(browser)[:16]
    response = browser.post(
        "/accounts/password/change/", {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    )
    assert response.status_code == 302
    [event] = events(Event.PASSWORD_CHANGED)
    assert (event.user, event.ip, event.user_agent, event.session_ref) == (user, PHONE_IP, SAFARI_IPHONE, ref)


def test_reset_request_and_reset_are_recorded(user, device, deliver_outbox):
    requester = device(CHROME_MAC, OTHER_IP)
    assert requester.post("/accounts/password/reset/", {"email": user.email}).status_code == 302
    [requested] = events(Event.PASSWORD_RESET_REQUESTED)
    assert (requested.user, requested.ip, requested.user_agent) == (user, OTHER_IP, CHROME_MAC)

    resetter = device(SAFARI_IPHONE, PHONE_IP)
    form_url = resetter.get(mail_path(deliver_outbox()[0], "/accounts/password/reset/"))["Location"]
    assert resetter.post(form_url, {"new_password1": NEW, "new_password2": NEW}).status_code == 302
    [reset] = events(Event.PASSWORD_RESET)
    assert (reset.user, reset.ip, reset.user_agent) == (user, PHONE_IP, SAFARI_IPHONE)
    # The reset form runs without a session: the token waits in a cookie, not in Redis (issue 13, section 5).
    assert reset.session_ref == ""


def test_reset_request_for_an_unknown_address_is_recorded_without_a_user_and_mails_nothing(client, deliver_outbox):
    client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    [event] = SecurityEvent.objects.all()
    assert event.kind == Event.PASSWORD_RESET_REQUESTED and event.user is None
    assert deliver_outbox() == []


def test_email_verification_is_recorded(device, deliver_outbox):
    browser = device()
    browser.post("/accounts/signup/", {"email": "grace@example.com", "password": PASSWORD})
    browser.get(mail_path(deliver_outbox()[0], "/accounts/verify/"))
    assert not events(Event.EMAIL_VERIFIED), "opening the link is not verifying"
    browser.post("/accounts/verify/confirm/")
    [event] = events(Event.EMAIL_VERIFIED)
    assert (event.user.email, event.ip, event.user_agent) == ("grace@example.com", HOME_IP, FIREFOX_WINDOWS)


# --- audit trail: never a secret ----------------------------------------------------------------


def test_no_audit_or_outbox_row_holds_a_password_token_or_cookie(device, deliver_outbox, mailoutbox):
    first, second, third = "first secret passphrase 1", "second secret passphrase 2", "third secret passphrase 3"
    wrong = "first secret passphrase 1!"  # a typo of the real one: just as secret
    secrets_seen: dict[str, str] = {"first": first, "second": second, "third": third, "wrong": wrong}
    home, phone, stranger = device(), device(SAFARI_IPHONE, PHONE_IP), device(CHROME_MAC, OTHER_IP)

    # Sign up and verify.
    assert home.post("/accounts/signup/", {"email": "grace@example.com", "password": first}).status_code == 302
    verify_path = mail_path(deliver_outbox()[-1], "/accounts/verify/")
    secrets_seen["verification token"] = token_in(verify_path)
    home.get(verify_path)
    home.post("/accounts/verify/confirm/")

    # A wrong guess, then sign in from two browsers (the second one gets a new-device mail).
    assert home.post("/accounts/login/", {"email": "grace@example.com", "password": wrong}).status_code == 400
    sign_in(home, "grace@example.com", first)
    secrets_seen["session cookie 1"] = home.cookies[SESSION_COOKIE].value
    sign_in(phone, "grace@example.com", first)
    secrets_seen["device cookie"] = phone.cookies[DEVICE_COOKIE].value

    # Change the password, then reset it from the mailed link.
    response = home.post(
        "/accounts/password/change/", {"old_password": first, "new_password1": second, "new_password2": second}
    )
    assert response.status_code == 302
    secrets_seen["session cookie 2"] = home.cookies[SESSION_COOKIE].value
    stranger.post("/accounts/password/reset/", {"email": "grace@example.com"})
    reset_path = mail_path(deliver_outbox()[-1], "/accounts/password/reset/")
    secrets_seen["reset token"] = token_in(reset_path)
    form_url = stranger.get(reset_path)["Location"]
    assert stranger.post(form_url, {"new_password1": third, "new_password2": third}).status_code == 302

    # Change the address from the mailed link.
    sign_in(home, "grace@example.com", third)
    assert home.post("/accounts/email/", {"email": "grace.new@example.com"}).status_code == 200
    change_path = mail_path(deliver_outbox()[-1], "/accounts/email/confirm/")
    secrets_seen["email-change token"] = token_in(change_path)
    home.get(change_path)
    assert home.post("/accounts/email/confirm/").status_code == 302
    sign_in(device(), "grace.new@example.com", third)
    deliver_outbox()

    kinds = set(SecurityEvent.objects.values_list("kind", flat=True))
    assert kinds >= {
        Event.EMAIL_VERIFIED,
        Event.SIGNIN_FAILED,
        Event.SIGNIN_SUCCEEDED,
        Event.PASSWORD_CHANGED,
        Event.PASSWORD_RESET_REQUESTED,
        Event.PASSWORD_RESET,
        Event.EMAIL_CHANGE_REQUESTED,
        Event.EMAIL_CHANGED,
    }
    assert set(OutboxMail.objects.values_list("kind", flat=True)) >= {
        OutboxMail.Kind.VERIFY_EMAIL,
        OutboxMail.Kind.NEW_DEVICE,
        OutboxMail.Kind.PASSWORD_CHANGED,
        OutboxMail.Kind.PASSWORD_RESET,
        OutboxMail.Kind.EMAIL_CHANGE,
        OutboxMail.Kind.EMAIL_CHANGED,
    }
    assert all(row.sent_at for row in OutboxMail.objects.all())
    dump = "\n".join(
        repr(row) for model in (SecurityEvent, OutboxMail, KnownDevice) for row in model.objects.values_list()
    )
    leaked = [name for name, value in secrets_seen.items() if value in dump]
    assert leaked == [], f"secrets stored in audit/outbox/device rows: {leaked}"
    # The tokens really were secrets worth looking for (long, and in the mails).
    assert all(len(secrets_seen[k]) >= 20 for k in ("verification token", "reset token", "email-change token"))


# --- security page: sessions -------------------------------------------------------------------


def test_security_page_needs_sign_in(client):
    response = client.get("/accounts/security/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/accounts/security/"


def test_security_page_lists_every_session_of_the_user_and_marks_this_one(user, make_user, device):
    laptop = sign_in(device(FIREFOX_WINDOWS, HOME_IP), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    someone_else = make_user("bob@example.com")
    bob = sign_in(device(CHROME_MAC, OTHER_IP), someone_else.email)

    response = laptop.get("/accounts/security/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    rows = session_rows(html)
    assert len(rows) == 2
    this_row, other_row = rows  # this device first
    assert "Firefox on Windows" in this_row and HOME_IP in this_row and "This device" in this_row
    assert 'name="session"' not in this_row, "no sign-out button for the session in use"
    assert "Mobile Safari on iOS" in other_row and PHONE_IP in other_row and "This device" not in other_row
    assert listed_session_ids(html) == [sid(phone)]
    assert "Sign out all other sessions" in html
    # Bob's session is nowhere on Ada's page.
    assert "Chrome on Mac OS X" not in html and OTHER_IP not in html and sid(bob) not in html

    # The same list from the phone marks the phone.
    phone_rows = session_rows(phone.get("/accounts/security/").content.decode())
    assert "Mobile Safari on iOS" in phone_rows[0] and "This device" in phone_rows[0]
    assert "This device" not in phone_rows[1]


def test_a_single_session_offers_no_sign_out_all_others(user, device):
    html = sign_in(device(), user.email).get("/accounts/security/").content.decode()
    assert len(session_rows(html)) == 1
    assert "Sign out all other sessions" not in html


def test_ending_one_session_signs_out_that_browser_only(user, device):
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    [phone_id] = listed_session_ids(laptop.get("/accounts/security/").content.decode())

    response = laptop.post("/accounts/security/sessions/end/", {"session": phone_id})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/security/"
    assert not is_signed_in(phone)
    page = laptop.get("/accounts/security/").content.decode()
    assert "That session has been signed out." in page
    assert len(session_rows(page)) == 1
    assert list(user_sessions(user.pk)) == [sid(laptop)]
    [event] = events(Event.SESSION_ENDED)
    assert (event.user, event.ip, event.session_ref) == (user, HOME_IP, sid(laptop)[:16])


def test_another_users_session_cannot_be_ended(user, make_user, device):
    bob_user = make_user("bob@example.com")
    bob_laptop = sign_in(device(CHROME_MAC, OTHER_IP), bob_user.email)
    bob_phone = sign_in(device(SAFARI_IPHONE, OTHER_IP), bob_user.email)
    # The attacker reads an id straight off Bob's page (as anyone who saw it could).
    [bob_phone_id] = listed_session_ids(bob_laptop.get("/accounts/security/").content.decode())
    assert bob_phone_id == sid(bob_phone)

    ada = sign_in(device(), user.email)
    for target in (bob_phone_id, sid(bob_laptop)):
        response = ada.post("/accounts/security/sessions/end/", {"session": target})
        assert response.status_code == 302
    assert "That session had already ended." in ada.get("/accounts/security/").content.decode()
    assert is_signed_in(bob_phone) and is_signed_in(bob_laptop)
    assert sorted(user_sessions(bob_user.pk)) == sorted([sid(bob_laptop), sid(bob_phone)])
    assert not events(Event.SESSION_ENDED)


@pytest.mark.parametrize("target", ["", "nonsense", "0" * 64])
def test_ending_an_unknown_session_says_so(user, device, target):
    ada = sign_in(device(), user.email)
    ada.post("/accounts/security/sessions/end/", {"session": target})
    assert "That session had already ended." in ada.get("/accounts/security/").content.decode()
    assert is_signed_in(ada)


def test_ending_a_session_needs_sign_in_and_post(user, device):
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    anonymous = device()
    response = anonymous.post("/accounts/security/sessions/end/", {"session": sid(phone)})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    ada = sign_in(device(), user.email)
    assert ada.get("/accounts/security/sessions/end/", {"session": sid(phone)}).status_code == 405
    assert is_signed_in(phone)


def test_ending_this_very_session_by_id_signs_out_gracefully(user, device):
    """The page offers no button for it, but a crafted POST (or a second tab) can name the current session."""
    ada = sign_in(device(), user.email)
    response = ada.post("/accounts/security/sessions/end/", {"session": sid(ada)})
    assert user_sessions(user.pk) == {}
    assert not is_signed_in(ada)
    assert response.status_code == 302, response.content.decode()[:500]


def test_ending_another_session_when_stale_goes_through_reauthentication(user, device, settings, clock):
    """A stolen cookie alone must not sign the owner out of their other browsers one by one (review R7):
    as for "sign out all other sessions", the account's highest level (here the password) comes first."""
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    [phone_id] = listed_session_ids(laptop.get("/accounts/security/").content.decode())
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 5)

    stale = laptop.post("/accounts/security/sessions/end/", {"session": phone_id})
    assert stale.status_code == 302
    assert stale["Location"] == "/accounts/reauthenticate/?next=%2Faccounts%2Fsecurity%2F"
    assert is_signed_in(phone), "nothing ends before re-authentication"
    assert not events(Event.SESSION_ENDED)
    page = laptop.get(stale["Location"]).content.decode()
    assert "Nothing has been changed yet. Confirm it&#x27;s you, then try again." in page

    back = laptop.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": "/accounts/security/"})
    assert back["Location"] == "/accounts/security/"
    assert laptop.post("/accounts/security/sessions/end/", {"session": phone_id})["Location"] == "/accounts/security/"
    assert "That session has been signed out." in laptop.get("/accounts/security/").content.decode()
    assert not is_signed_in(phone) and is_signed_in(laptop)
    assert len(events(Event.SESSION_ENDED)) == 1


def test_signing_out_this_session_by_id_when_stale_needs_no_reauthentication(user, device, settings, clock):
    ada = sign_in(device(), user.email)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 5)
    response = ada.post("/accounts/security/sessions/end/", {"session": sid(ada)})
    assert response.status_code == 302 and not response["Location"].startswith("/accounts/reauthenticate/")
    assert not is_signed_in(ada) and user_sessions(user.pk) == {}


# --- security page: sign out all others and re-authentication ----------------------------------


def test_sign_out_all_others_right_after_sign_in_needs_no_reauthentication(user, device):
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    response = laptop.post("/accounts/security/sessions/end-others/")
    assert response.status_code == 302 and response["Location"] == "/accounts/security/"
    assert not is_signed_in(phone) and is_signed_in(laptop)


def test_sign_out_all_others_when_stale_goes_through_reauthentication(user, device, settings, clock):
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    tablet = sign_in(device(CHROME_MAC, OTHER_IP), user.email)
    current = sid(laptop)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 5)

    stale = laptop.post("/accounts/security/sessions/end-others/")
    assert stale.status_code == 302
    assert stale["Location"] == "/accounts/reauthenticate/?next=%2Faccounts%2Fsecurity%2F"
    assert is_signed_in(phone) and is_signed_in(tablet), "nothing ends before re-authentication"
    assert not events(Event.OTHER_SESSIONS_ENDED)

    page = laptop.get(stale["Location"])
    assert page.status_code == 200
    assert 'name="next" value="/accounts/security/"' in page.content.decode()
    back = laptop.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": "/accounts/security/"})
    assert back.status_code == 302 and back["Location"] == "/accounts/security/"
    [reauth] = events(Event.REAUTHENTICATED)
    assert (reauth.user, reauth.method, reauth.ip) == (user, "pwd", HOME_IP)
    assert sid(laptop) != current, "re-authenticating rotates the session key, as a sign-in does"
    current = sid(laptop)

    done = laptop.post("/accounts/security/sessions/end-others/")
    assert done.status_code == 302 and done["Location"] == "/accounts/security/"
    page = laptop.get("/accounts/security/").content.decode()
    assert "2 other sessions were signed out." in page
    assert len(session_rows(page)) == 1
    assert not is_signed_in(phone) and not is_signed_in(tablet)
    assert is_signed_in(laptop)
    assert sid(laptop) == current and list(user_sessions(user.pk)) == [current]
    [event] = events(Event.OTHER_SESSIONS_ENDED)
    assert (event.user, event.ip, event.session_ref) == (user, HOME_IP, current[:16])

    # A re-authentication, too, only lasts REAUTHENTICATION_TIMEOUT.
    sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 5)
    assert laptop.post("/accounts/security/sessions/end-others/")["Location"].startswith("/accounts/reauthenticate/")


def test_timeout_setting_decides_what_is_stale(user, device, settings):
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    settings.REAUTHENTICATION_TIMEOUT = -1  # everything is stale
    assert laptop.post("/accounts/security/sessions/end-others/")["Location"].startswith("/accounts/reauthenticate/")
    assert is_signed_in(phone)
    settings.REAUTHENTICATION_TIMEOUT = 3600
    assert laptop.post("/accounts/security/sessions/end-others/")["Location"] == "/accounts/security/"
    assert not is_signed_in(phone)


def test_wrong_password_at_reauthentication_is_refused_and_recorded(user, device, settings, clock):
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 5)
    response = laptop.post("/accounts/reauthenticate/", {"password": "not my password", "next": "/accounts/security/"})
    assert response.status_code == 400
    assert "That password is not right." in response.content.decode()
    [event] = events(Event.SIGNIN_FAILED)
    assert (event.user, event.method, event.reason, event.ip) == (user, "pwd", "reauth", HOME_IP)
    assert not events(Event.REAUTHENTICATED)
    section = history(laptop.get("/accounts/security/").content.decode())
    assert 'class="event-signin_failed"' in section and "Confirming it's you failed" in section
    assert "Sign-in failed" not in section, "a refused re-authentication is not a failed sign-in"
    assert laptop.post("/accounts/security/sessions/end-others/")["Location"].startswith("/accounts/reauthenticate/")
    assert is_signed_in(phone)


def test_reauthentication_needs_sign_in(client):
    response = client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_reauthentication_never_redirects_off_site(user, device, target):
    ada = sign_in(device(), user.email)
    by_field = ada.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": target})
    assert by_field.status_code == 302 and by_field["Location"] == "/accounts/security/"
    by_query = ada.post("/accounts/reauthenticate/?" + urlencode({"next": target}), {"password": PASSWORD})
    assert by_query.status_code == 302 and by_query["Location"] == "/accounts/security/"
    page = ada.get("/accounts/reauthenticate/", {"next": target}).content.decode()
    assert "evil" not in page


def test_reauthentication_returns_to_a_page_of_this_site(user, device):
    ada = sign_in(device(), user.email)
    response = ada.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": "/accounts/email/"})
    assert response["Location"] == "/accounts/email/"


# --- security page: sign-in history -------------------------------------------------------------


def test_history_shows_sign_ins_and_failures_against_the_account_only(user, make_user, device):
    bob = make_user("bob@example.com")
    attacker = device(CHROME_MAC, ATTACKER_IP)
    attacker.post("/accounts/login/", {"email": user.email, "password": "a guess at ada's password"})
    device(SAFARI_IPHONE, OTHER_IP).post("/accounts/login/", {"email": bob.email, "password": "a guess at bob's"})
    device(SAFARI_IPHONE, "192.0.2.201").post("/accounts/login/", {"email": "nobody@example.com", "password": "x" * 12})
    ada = sign_in(device(), user.email)

    section = history(ada.get("/accounts/security/").content.decode())
    assert 'class="event-signin_failed"' in section and "Sign-in failed" in section
    assert ATTACKER_IP in section and "Chrome on Mac OS X" in section
    assert 'class="event-signin_succeeded"' in section and HOME_IP in section and "Firefox on Windows" in section
    assert OTHER_IP not in section and "192.0.2.201" not in section and "Mobile Safari" not in section
    assert section.count("<tr class=") == 2
    # Newest first: this sign-in above the failure.
    assert section.index("event-signin_succeeded") < section.index("event-signin_failed")


# --- "This wasn't me" ---------------------------------------------------------------------------


def test_not_me_signs_out_everywhere_and_mails_a_reset_link(user, device, deliver_outbox):
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    ref = sid(laptop)[:16]
    deliver_outbox().clear()  # the phone's new-device mail

    response = laptop.post("/accounts/security/not-me/", {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/not-me/done/"
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert user_sessions(user.pk) == {}
    page = laptop.get("/accounts/not-me/done/").content.decode()
    assert "signed everyone out, everywhere" in page and "Your old password no longer works" in page
    assert 'name="password"' not in page, "no sign-in form for the password just disabled"

    [event] = events(Event.NOT_ME)
    assert (event.user, event.ip, event.user_agent, event.session_ref) == (user, HOME_IP, FIREFOX_WINDOWS, ref)
    [mail] = deliver_outbox()
    assert mail.to == [user.email]
    reset = device().get(mail_path(mail, "/accounts/password/reset/"))
    assert reset.status_code == 302 and reset["Location"].endswith("/set-password/"), "the mailed link works"


def test_not_me_with_a_wrong_password_says_so_at_the_field_and_changes_nothing(user, device, deliver_outbox):
    laptop = sign_in(device(), user.email)
    deliver_outbox().clear()
    response = laptop.post("/accounts/security/not-me/", {"password": "not my password"})
    assert response.status_code == 400
    page = response.content.decode()
    field = page[page.index('<div class="field field-invalid">') :]
    field = field[: field.index("</div>")]
    assert 'id="not-me-password"' in field and "That password is not right. Nothing was changed." in field
    assert is_signed_in(laptop) and not events(Event.NOT_ME) and deliver_outbox() == []
    [event] = events(Event.SIGNIN_FAILED)  # the audit row stays, shown as what it was
    assert (event.user, event.reason) == (user, "reauth")
    assert "<h1>This wasn't me</h1>" in page and 'action="/accounts/security/not-me/"' in page, "the confirm page again"
    assert "data-error-summary" in page and 'href="#not-me-password"' in page
    user.refresh_from_db()
    assert user.has_usable_password()
    history_page = laptop.get("/accounts/security/").content.decode()
    assert "Confirming it's you failed" in history(history_page) and "Sign-in failed" not in history(history_page)


def test_not_me_needs_a_signed_in_post(user, client, deliver_outbox):
    assert client.post("/accounts/security/not-me/").status_code == 302
    assert client.get("/accounts/security/not-me/")["Location"].startswith("/accounts/login/")
    ada = sign_in(Client(raise_request_exception=False), user.email)
    assert ada.put("/accounts/security/not-me/").status_code == 405
    assert is_signed_in(ada)
    assert deliver_outbox() == [] and not events(Event.NOT_ME)


def test_the_security_page_links_to_the_not_me_confirm_page(user):
    """The security page only explains and links (a GET form): the password and the POST are on the
    page that says what will happen."""
    page = sign_in(Client(), user.email).get("/accounts/security/").content.decode()
    section = page[page.index('aria-labelledby="notme-heading"') :]
    section = section[: section.index("</section>")]
    assert '<form method="get" action="/accounts/security/not-me/">' in section
    assert 'method="post"' not in section and 'name="password"' not in section


def test_the_not_me_page_says_what_will_happen_and_a_get_changes_nothing(user, device, deliver_outbox):
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    deliver_outbox().clear()
    response = laptop.get("/accounts/security/not-me/")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "sign you out everywhere, this device too, make your current password stop working" in page
    assert 'method="post" action="/accounts/security/not-me/"' in page and "csrfmiddlewaretoken" in page
    assert 'id="not-me-password"' in page and 'href="/accounts/security/">Cancel</a>' in page
    assert is_signed_in(laptop) and is_signed_in(phone), "a GET signs nobody out"
    assert deliver_outbox() == [] and not events(Event.NOT_ME)
    user.refresh_from_db()
    assert user.has_usable_password()


def test_a_cross_site_not_me_post_is_refused(user, deliver_outbox):
    """A page elsewhere can't make a signed-in browser press the button (CSRF), even with the password."""
    signed_in = sign_in(Client(), user.email)
    signed_in.get("/accounts/security/not-me/")  # the page's own CSRF cookie: the other site can't read its token
    ada = Client(enforce_csrf_checks=True)
    ada.cookies = signed_in.cookies
    deliver_outbox().clear()
    response = ada.post("/accounts/security/not-me/", {"password": PASSWORD}, HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    assert is_signed_in(ada) and deliver_outbox() == [] and not events(Event.NOT_ME)
    user.refresh_from_db()
    assert user.has_usable_password()


# --- new-device mail ----------------------------------------------------------------------------


def new_device_rows() -> list[OutboxMail]:
    return list(OutboxMail.objects.filter(kind=OutboxMail.Kind.NEW_DEVICE))


def test_first_ever_sign_in_sends_no_new_device_mail_but_sets_the_cookie(user, device):
    browser = device()
    response = browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert DEVICE_COOKIE in response.cookies
    assert new_device_rows() == []
    assert KnownDevice.objects.filter(user=user).count() == 1


def test_sign_in_from_a_second_browser_mails_once_with_when_where_and_what(user, device, deliver_outbox):
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    [row] = new_device_rows()
    assert row.to == user.email
    [mail] = deliver_outbox()
    assert "New sign-in" in mail.subject
    assert "When: " in mail.body and " UTC" in mail.body
    assert f"IP address: {PHONE_IP}" in mail.body
    assert "Device: Mobile Safari on iOS" in mail.body
    assert "http://testserver/accounts/security/" in mail.body
    html = mail.alternatives[0][0]
    assert PHONE_IP in html and "Mobile Safari on iOS" in html

    # Known browsers, signing in again with their cookie, send nothing.
    for browser in (phone, laptop):
        browser.post("/accounts/logout/")
        sign_in(browser, user.email)
    assert len(new_device_rows()) == 1
    assert KnownDevice.objects.filter(user=user).count() == 2


@pytest.mark.parametrize(
    "forged", ["garbage", "x" * 40, "A" * 200, ""], ids=["short", "well-formed-unknown", "too-long", "empty"]
)
def test_a_forged_device_cookie_counts_as_a_new_device(user, device, forged):
    sign_in(device(), user.email)
    intruder = device(CHROME_MAC, ATTACKER_IP)
    intruder.cookies[DEVICE_COOKIE] = forged
    sign_in(intruder, user.email)
    assert len(new_device_rows()) == 1
    issued = device_token(intruder.cookies[DEVICE_COOKIE].value)
    assert len(issued) >= 16
    assert KnownDevice.objects.filter(user=user, token_hash=hashlib.sha256(issued.encode()).hexdigest()).exists()


def test_a_device_cookie_not_signed_by_the_site_counts_as_a_new_device(user, device):
    """Knowing (or guessing) a device token is not enough: the cookie must carry the site's signature."""
    laptop = sign_in(device(), user.email)
    token = device_token(laptop.cookies[DEVICE_COOKIE].value)
    intruder = device(CHROME_MAC, ATTACKER_IP)
    intruder.cookies[DEVICE_COOKIE] = token  # the raw token, unsigned
    sign_in(intruder, user.email)
    assert len(new_device_rows()) == 1


def test_a_device_known_to_one_account_is_new_to_another(user, make_user, device):
    bob = make_user("bob@example.com")
    shared = device()
    sign_in(device(SAFARI_IPHONE, PHONE_IP), bob.email)  # Bob's first browser
    sign_in(shared, user.email)
    shared.post("/accounts/logout/")
    sign_in(shared, bob.email)  # the cookie the shared browser holds is Ada's, not Bob's
    [row] = new_device_rows()
    assert row.user == bob


def test_failed_and_unverified_sign_ins_send_no_new_device_mail(user, make_user, device):
    sign_in(device(), user.email)
    stranger = device(CHROME_MAC, ATTACKER_IP)
    response = stranger.post("/accounts/login/", {"email": user.email, "password": "not the password"})
    assert DEVICE_COOKIE not in response.cookies
    unverified = make_user("new@example.com", email_verified=False)
    stranger.post("/accounts/login/", {"email": unverified.email, "password": PASSWORD})
    assert new_device_rows() == []


def test_device_cookie_is_http_only_secure_lax_and_stored_only_hashed(user, device):
    sign_in(device(), user.email)
    response = device(SAFARI_IPHONE, PHONE_IP).post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    cookie = response.cookies[DEVICE_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/" and not cookie["domain"]  # what the __Host- prefix demands
    assert int(cookie["max-age"]) >= 365 * 24 * 3600
    token = device_token(cookie.value)
    hashes = set(KnownDevice.objects.filter(user=user).values_list("token_hash", flat=True))
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    assert token not in hashes
    assert not KnownDevice.objects.filter(token_hash__contains=token).exists()


# --- password change and reset mail -------------------------------------------------------------


def test_password_change_mail_says_when_and_from_where(user, device, deliver_outbox):
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    phone.post("/accounts/password/change/", {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW})
    [mail] = [m for m in deliver_outbox() if "password was changed" in m.subject]
    assert mail.to == [user.email]
    assert "When: " in mail.body and " UTC" in mail.body
    assert f"IP address: {PHONE_IP}" in mail.body
    assert "Device: Mobile Safari on iOS" in mail.body
    assert "/accounts/password/reset/" in mail.body


def test_reset_mail_says_where_the_reset_was_completed(user, device, deliver_outbox):
    device(CHROME_MAC, OTHER_IP).post("/accounts/password/reset/", {"email": user.email})
    resetter = device(SAFARI_IPHONE, PHONE_IP)
    form_url = resetter.get(mail_path(deliver_outbox()[0], "/accounts/password/reset/"))["Location"]
    resetter.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    [mail] = [m for m in deliver_outbox() if "password was changed" in m.subject]
    assert "When: " in mail.body
    assert f"IP address: {PHONE_IP}" in mail.body and "Device: Mobile Safari on iOS" in mail.body
    assert OTHER_IP not in mail.body


# --- email change ------------------------------------------------------------------------------


def request_change(c: Client, email: str):
    return c.post("/accounts/email/", {"email": email})


def confirm_path(mails, to: str) -> str:
    [mail] = [m for m in mails if m.to == [to]]
    return mail_path(mail, "/accounts/email/confirm/")


def test_email_change_needs_sign_in(client):
    response = client.get("/accounts/email/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert client.post("/accounts/email/", {"email": "x@example.com"}).status_code == 302
    assert not OutboxMail.objects.exists()


def test_email_change_when_stale_needs_reauthentication(user, device, settings, clock, deliver_outbox):
    ada = sign_in(device(), user.email)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 5)
    target = "/accounts/reauthenticate/?next=%2Faccounts%2Femail%2F"
    assert ada.get("/accounts/email/")["Location"] == target
    assert request_change(ada, "new@example.com")["Location"] == target
    assert deliver_outbox() == [] and not events(Event.EMAIL_CHANGE_REQUESTED)

    back = ada.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": "/accounts/email/"})
    assert back["Location"] == "/accounts/email/"
    assert ada.get("/accounts/email/").status_code == 200
    assert request_change(ada, "new@example.com").status_code == 200


def test_email_change_takes_effect_only_when_the_new_address_confirms(user, device, deliver_outbox):
    ada = sign_in(device(), user.email)
    deliver_outbox().clear()
    response = request_change(ada, "ada.new@example.com")
    assert response.status_code == 200
    assert "Check your new inbox" in response.content.decode()
    assert "ada.new@example.com" in response.content.decode()
    [requested] = events(Event.EMAIL_CHANGE_REQUESTED)
    assert (requested.user, requested.ip) == (user, HOME_IP)

    mails = deliver_outbox()
    assert [m.to for m in mails] == [["ada.new@example.com"]], "only the new address is written to"
    assert "Confirm your new email address" in mails[0].subject
    path = confirm_path(mails, "ada.new@example.com")
    mails.clear()
    user.refresh_from_db()
    assert user.email == "ada@example.com"

    # Opening the link (as a mail scanner would) changes nothing; the confirmation POST does.
    link = ada.get(path)
    assert link.status_code == 302 and link["Location"] == "/accounts/email/confirm/"
    page = ada.get("/accounts/email/confirm/")
    assert page.status_code == 200
    assert "ada@example.com" in page.content.decode() and "ada.new@example.com" in page.content.decode()
    user.refresh_from_db()
    assert user.email == "ada@example.com"

    done = ada.post("/accounts/email/confirm/")
    assert done.status_code == 302 and done["Location"] == "/accounts/"
    user.refresh_from_db()
    assert user.email == "ada.new@example.com" and user.email_verified
    [changed] = events(Event.EMAIL_CHANGED)
    assert (changed.user, changed.ip, changed.user_agent) == (user, HOME_IP, FIREFOX_WINDOWS)
    assert "Your email address is now ada.new@example.com" in ada.get("/accounts/").content.decode()

    [notice] = deliver_outbox()
    assert notice.to == ["ada@example.com"]
    assert "email address was changed" in notice.subject
    assert "ada.new@example.com" in notice.body
    assert f"IP address: {HOME_IP}" in notice.body and "Device: Firefox on Windows" in notice.body

    # The new address signs in; the old one no longer does.
    assert device().post("/accounts/login/", {"email": "ada@example.com", "password": PASSWORD}).status_code == 400
    sign_in(device(), "ada.new@example.com")


def test_email_change_needs_the_owner_signed_in_to_confirm(user, make_user, device, deliver_outbox):
    """Whoever reads mail at a mistyped new address must not be able to take the account with the link."""
    ada = sign_in(device(), user.email)
    request_change(ada, "ada.new@example.com")
    path = confirm_path(deliver_outbox(), "ada.new@example.com")
    stranger = device(SAFARI_IPHONE, PHONE_IP)
    stranger.get(path)
    refused = stranger.post("/accounts/email/confirm/")
    assert refused.status_code == 403 and "sign in first" in refused.content.decode()  # what to do (issue 19)
    bob = sign_in(device(CHROME_MAC, ATTACKER_IP), make_user("bob@example.com").email)
    bob.get(path)
    assert bob.post("/accounts/email/confirm/").status_code == 403
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    ada.get(path)
    assert ada.post("/accounts/email/confirm/").status_code == 302
    user.refresh_from_db()
    assert user.email == "ada.new@example.com"


def test_email_change_link_works_once(user, device, deliver_outbox):
    ada = sign_in(device(), user.email)
    request_change(ada, "ada.new@example.com")
    path = confirm_path(deliver_outbox(), "ada.new@example.com")
    ada.get(path)
    ada.post("/accounts/email/confirm/")

    for browser in (ada, sign_in(device(CHROME_MAC, OTHER_IP), "ada.new@example.com")):
        browser.get(path)
        again = browser.post("/accounts/email/confirm/")
        assert again.status_code == 400
        assert "no longer valid" in again.content.decode()
    assert len(events(Event.EMAIL_CHANGED)) == 1


def test_using_one_email_change_link_voids_the_others(user, device, deliver_outbox):
    ada = sign_in(device(), user.email)
    request_change(ada, "first@example.com")
    request_change(ada, "second@example.com")
    mails = deliver_outbox()
    first, second = confirm_path(mails, "first@example.com"), confirm_path(mails, "second@example.com")
    ada.get(second)
    ada.post("/accounts/email/confirm/")
    ada.get(first)
    assert ada.post("/accounts/email/confirm/").status_code == 400
    user.refresh_from_db()
    assert user.email == "second@example.com"


def test_email_change_link_expires(user, device, deliver_outbox, settings, clock):
    ada = sign_in(device(), user.email)
    request_change(ada, "ada.new@example.com")
    path = confirm_path(deliver_outbox(), "ada.new@example.com")
    clock.advance(accounts_settings.EMAIL_VERIFICATION_TIMEOUT + 5)
    browser = sign_in(device(), user.email)  # a day later: the old session has expired too
    browser.get(path)
    assert browser.get("/accounts/email/confirm/").status_code == 400
    assert browser.post("/accounts/email/confirm/").status_code == 400
    user.refresh_from_db()
    assert user.email == "ada@example.com"


def test_changing_to_an_address_of_another_account_looks_the_same_and_tells_its_owner(
    user, make_user, device, deliver_outbox
):
    owner = make_user("taken@example.com")
    ada = sign_in(device(), user.email)
    deliver_outbox().clear()

    def shape(response, email: str) -> str:
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
        return html.replace(email, "X")

    free = request_change(ada, "free@example.com")
    taken = request_change(ada, "TAKEN@example.com")
    assert free.status_code == taken.status_code == 200
    assert shape(free, "free@example.com") == shape(taken, "TAKEN@example.com")

    mails = deliver_outbox()
    assert sorted(m.to[0] for m in mails) == ["free@example.com", "taken@example.com"]
    [notice] = [m for m in mails if m.to == ["taken@example.com"]]
    assert "already have an account" in notice.subject
    assert "/accounts/email/confirm/" not in notice.body, "no link that could move the address"
    user.refresh_from_db()
    owner.refresh_from_db()
    assert user.email == "ada@example.com" and owner.email == "taken@example.com"
    assert len(events(Event.EMAIL_CHANGE_REQUESTED, user=user)) == 2


@pytest.mark.parametrize("same", ["ada@example.com", "ADA@EXAMPLE.COM", " ada@Example.com "])
def test_changing_to_the_same_address_is_refused(user, device, same, deliver_outbox):
    ada = sign_in(device(), user.email)
    deliver_outbox().clear()
    response = request_change(ada, same)
    assert response.status_code == 400
    assert "That is already your address." in response.content.decode()
    assert deliver_outbox() == [] and not events(Event.EMAIL_CHANGE_REQUESTED)


def test_address_taken_before_confirmation_gets_a_clear_409(user, make_user, device, deliver_outbox):
    ada = sign_in(device(), user.email)
    request_change(ada, "ada.new@example.com")
    path = confirm_path(deliver_outbox(), "ada.new@example.com")
    make_user("Ada.New@example.com")  # someone else signs up with it meanwhile
    ada.get(path)
    response = ada.post("/accounts/email/confirm/")
    assert response.status_code == 409
    assert "has meanwhile become the address of another account" in response.content.decode()
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    assert not events(Event.EMAIL_CHANGED)
    assert not OutboxMail.objects.filter(kind=OutboxMail.Kind.EMAIL_CHANGED).exists()
    assert is_signed_in(ada)


def test_reset_link_mailed_to_the_old_address_dies_with_the_change(user, device, deliver_outbox):
    """Whoever still reads the old mailbox cannot take the account back with a reset link sent there."""
    device(CHROME_MAC, OTHER_IP).post("/accounts/password/reset/", {"email": user.email})
    reset_path = mail_path(deliver_outbox()[-1], "/accounts/password/reset/")
    ada = sign_in(device(), user.email)
    request_change(ada, "ada.new@example.com")
    ada.get(confirm_path(deliver_outbox(), "ada.new@example.com"))
    ada.post("/accounts/email/confirm/")
    assert device(CHROME_MAC, OTHER_IP).get(reset_path).status_code == 400


@pytest.mark.parametrize("token", ["garbage", "eyJ1IjoxfQ:forged:signature", "x" * 300])
def test_invalid_email_change_link_gets_a_400_page(user, device, token):
    client = sign_in(device(), user.email)
    assert client.get(f"/accounts/email/confirm/{token}/").status_code == 400  # refused before the session
    response = client.get("/accounts/email/confirm/")
    assert response.status_code == 400
    assert "no longer valid" in response.content.decode()
    assert client.post("/accounts/email/confirm/").status_code == 400


def test_confirm_page_without_any_link_gets_a_400(user, device):
    assert sign_in(device(), user.email).get("/accounts/email/confirm/").status_code == 400


def test_tokens_of_other_purposes_do_not_change_the_address(user, device):
    from django.core import signing

    client = sign_in(device(), user.email)
    from accounts import tokens

    verification = tokens.make_verification_token(user)
    # A correctly signed payload with a new address, but under the verification salt.
    payload = {"u": user.pk, "e": "evil@example.com", "f": tokens._fingerprint(user)}
    wrong_salt = signing.dumps(payload, salt=tokens.SALT)
    for token in (verification, wrong_salt):
        client.get(f"/accounts/email/confirm/{token}/")
        assert client.post("/accounts/email/confirm/").status_code == 400
    user.refresh_from_db()
    assert user.email == "ada@example.com"


def test_email_change_requests_are_limited_per_account(user, make_user, device, deliver_outbox):
    ada = sign_in(device(), user.email)
    for n in range(5):
        assert request_change(ada, f"new{n}@example.com").status_code == 200
    refused = request_change(ada, "new5@example.com")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "new5@example.com" not in [m.to[0] for m in deliver_outbox()]
    assert len(events(Event.EMAIL_CHANGE_REQUESTED)) == 5
    # Another account, from the same address, is not affected.
    bob = make_user("bob@example.com")
    assert request_change(sign_in(device(), bob.email), "bob.new@example.com").status_code == 200


# --- admin -------------------------------------------------------------------------------------


@pytest.fixture
def admin_browser(make_admin, device) -> Client:
    root = make_admin()
    browser = sign_in_admin(root, device(CHROME_MAC, OTHER_IP))
    browser.root = root  # type: ignore[attr-defined]  # a note for the test
    return browser


CHANGELIST = "/admin/accounts/securityevent/"


def listed(response) -> list[SecurityEvent]:
    assert response.status_code == 200, response.content.decode()[:2000]
    return list(response.context["cl"].result_list)


def test_security_events_are_read_only_in_admin(admin_browser, user, device):
    device().post("/accounts/login/", {"email": user.email, "password": "wrong wrong wrong"})
    event = SecurityEvent.objects.get(kind=Event.SIGNIN_FAILED)
    assert admin_browser.get(CHANGELIST).status_code == 200
    assert admin_browser.get(CHANGELIST + "add/").status_code == 403
    detail = admin_browser.get(f"{CHANGELIST}{event.pk}/change/")
    assert detail.status_code == 200
    assert 'name="reason"' not in detail.content.decode()
    admin_browser.post(f"{CHANGELIST}{event.pk}/change/", {"kind": "signin_succeeded", "reason": "fine"})
    assert admin_browser.post(f"{CHANGELIST}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert (event.kind, event.reason) == (Event.SIGNIN_FAILED, "bad_credentials")


def test_security_events_filter_by_kind_user_and_time_and_search_by_email(admin_browser, user, make_user, device):
    from datetime import datetime

    bob = make_user("bob@example.com")
    device().post("/accounts/login/", {"email": user.email, "password": "wrong wrong wrong"})
    sign_in(device(), bob.email)
    old = SecurityEvent.objects.create(kind=Event.SIGNED_OUT, user=bob, ip="192.0.2.1")
    SecurityEvent.objects.filter(pk=old.pk).update(at=datetime(2021, 3, 4, 12, 0, tzinfo=UTC))

    failed = listed(admin_browser.get(CHANGELIST, {"kind__exact": "signin_failed"}))
    assert [(e.kind, e.user) for e in failed] == [(Event.SIGNIN_FAILED, user)]

    bobs = listed(admin_browser.get(CHANGELIST, {"user__id__exact": bob.pk}))
    assert {e.user for e in bobs} == {bob} and len(bobs) == 2

    in_2021 = listed(admin_browser.get(CHANGELIST, {"at__year": 2021}))
    assert [e.pk for e in in_2021] == [old.pk]
    assert [e.pk for e in listed(admin_browser.get(CHANGELIST, {"at__year": 2021, "at__month": 3, "at__day": 4}))] == [
        old.pk
    ]
    assert old.pk not in [e.pk for e in listed(admin_browser.get(CHANGELIST, {"at__year": datetime.now().year}))]

    found = listed(admin_browser.get(CHANGELIST, {"q": "ADA@example"}))
    assert {e.user for e in found} == {user}
    page = admin_browser.get(CHANGELIST, {"q": "ada@example.com"}).content.decode()
    assert "Sign-in failed" in page and "bob@example.com" not in page


def test_user_change_page_shows_recent_events(admin_browser, user, device):
    device(CHROME_MAC, ATTACKER_IP).post("/accounts/login/", {"email": user.email, "password": "wrong wrong wrong"})
    sign_in(device(), user.email)
    page = admin_browser.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Recent security events" in html
    assert "Sign-in failed" in html and "bad_credentials" in html and ATTACKER_IP in html
    assert "Signed in" in html and HOME_IP in html
    assert f"{CHANGELIST}?user__id__exact={user.pk}" in html
    assert "root@example.com" not in html.split("Recent security events", 1)[1].split("</table>", 1)[0]


def test_end_sessions_admin_action_signs_the_user_out_everywhere(admin_browser, user, device):
    laptop = sign_in(device(), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    response = admin_browser.post("/admin/accounts/user/", {"action": "end_sessions", "_selected_action": [user.pk]})
    assert response.status_code == 302
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert user_sessions(user.pk) == {}
    assert is_signed_in(admin_browser)
    [event] = events(Event.ADMIN_SESSIONS_ENDED)
    assert (event.user, event.actor, event.ip, event.user_agent) == (user, admin_browser.root, OTHER_IP, CHROME_MAC)


@pytest.mark.parametrize(
    ("action", "kind", "active"),
    [
        ("deactivate", Event.ADMIN_DEACTIVATED, True),
        ("reactivate", Event.ADMIN_REACTIVATED, False),
        ("send_password_reset", Event.ADMIN_RESET_SENT, True),
        ("clear_throttling", Event.ADMIN_THROTTLE_CLEARED, True),
        ("end_sessions", Event.ADMIN_SESSIONS_ENDED, True),
    ],
)
def test_admin_actions_are_recorded_with_the_admin(admin_browser, make_user, action, kind, active):
    target = make_user("target@example.com", is_active=active)
    response = admin_browser.post("/admin/accounts/user/", {"action": action, "_selected_action": [target.pk]})
    assert response.status_code == 302
    [event] = events(kind)
    assert (event.user, event.actor) == (target, admin_browser.root)
    assert (event.ip, event.user_agent) == (OTHER_IP, CHROME_MAC)
    assert event.session_ref == sid(admin_browser)[:16]


# --- follow-ups from review ---------------------------------------------------------------------


def test_a_password_reset_forgets_known_browsers(user, device, deliver_outbox):
    laptop = sign_in(device(), user.email)
    sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    assert KnownDevice.objects.filter(user=user).count() == 2
    from django.test import RequestFactory

    from accounts.flows.password import complete_password_reset

    complete_password_reset(RequestFactory().post("/"), user, "a brand new passphrase 7")
    assert not KnownDevice.objects.filter(user=user).exists()
    laptop.cookies.pop(SESSION_COOKIE, None)
    sign_in(laptop, user.email, "a brand new passphrase 7")
    # The laptop had been known; after the reset its sign-in is reported again (the first device after a
    # reset is registered silently, so sign in from a second one).
    sign_in(device(CHROME_MAC, OTHER_IP), user.email, "a brand new passphrase 7")
    assert len(new_device_rows()) == 2


def test_throttling_outside_sign_in_is_recorded(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "reset-address": "1/h"}
    client.post("/accounts/password/reset/", {"email": "someone@example.com"})
    response = client.post("/accounts/password/reset/", {"email": "someone@example.com"})
    assert response.status_code == 429
    [event] = events(Event.THROTTLED)
    assert "reset-address" in event.reason and event.ip


def test_an_interrupted_session_gets_the_friendly_400_page(user, device, monkeypatch):
    from django.contrib.sessions.exceptions import SessionInterrupted

    from accounts.views import security as security_views

    def interrupted(request):
        raise SessionInterrupted("gone")

    monkeypatch.setattr(security_views, "active_sessions", interrupted)
    response = sign_in(device(), user.email).get("/accounts/security/")
    assert response.status_code == 400
    assert "Request not understood" in response.content.decode()


def test_moving_another_account_onto_a_taken_address_mails_its_owner_a_fitting_notice(
    user, make_user, device, deliver_outbox
):
    make_user("taken@example.com")
    ada = sign_in(device(), user.email)
    ada.post("/accounts/email/", {"email": "taken@example.com"})
    [notice] = [m for m in deliver_outbox() if m.to == ["taken@example.com"]]
    assert "move another account to this address" in notice.body
    assert "create an account" not in notice.body


# --- the account page's "previous sign-in" --------------------------------------------------------


def test_the_account_page_shows_the_sign_in_before_this_sessions_own(user, device):
    first = sign_in(device(FIREFOX_WINDOWS, HOME_IP), user.email)
    assert "Previous sign-in" not in first.get("/accounts/").content.decode()  # nothing before it

    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)
    page = phone.get("/accounts/").content.decode()
    assert "Previous sign-in" in page and "Firefox on Windows" in page

    # A later sign-in elsewhere does not change what this session was told about its own start.
    sign_in(device(FIREFOX_WINDOWS, OTHER_IP), user.email)
    page = phone.get("/accounts/").content.decode()
    assert "Firefox on Windows" in page and "Safari" not in page.split("Previous sign-in", 1)[1].split("</dd>", 1)[0]


def test_the_previous_sign_in_is_described_in_the_language_of_the_page(user, device):
    """Noted when the session began (in that request's language), it is still said in the page's."""
    sign_in(device(FIREFOX_WINDOWS, HOME_IP), user.email)
    phone = sign_in(device(SAFARI_IPHONE, PHONE_IP), user.email)  # signs in in English
    page = phone.get("/accounts/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Vorherige Anmeldung" in page and "Firefox unter Windows" in page and "Firefox on Windows" not in page
