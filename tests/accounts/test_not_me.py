"""Recovery evicts the intruder: "This wasn't me" links in credential-event mail, the security page's
button, failed second steps told to the owner, and a cloned passkey told in those words.

The attacker knows the password. Each test plays them through the front door (their own browser), then
the owner, who acts only on what their mailbox received, in a browser that is not signed in.
"""

from __future__ import annotations

import re

import pytest
from django.core import signing
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import CredentialEvent, OutboxMail, SecurityEvent, User
from accounts.sessions import user_sessions
from accounts.tokens import NOT_ME_SALT, read_not_me_token
from mfa.models import Passkey, RecoveryCode
from mfa.policy import passkeys, totp_devices
from tests.mfa.softauthn import SoftAuthenticator
from tests.mfa.test_passkeys import add_passkey, passkey_signin, reauthenticate_with_passkey, register
from tests.oidc.relying_party import RelyingParty
from tests.oidc.relying_party import register as register_app
from tests.users import PASSWORD, add_totp, totp_code

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
ATTACKER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
OWNER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
NEW_PASSWORD = "the owner's fresh passphrase 9"
NOT_ME_LINK = re.compile(r"http://testserver(/accounts/not-me/[^/\s\"]+/)")
RESET_LINK = re.compile(r"http://testserver(/accounts/password/reset/[^\s\"]+/)")
CONFIRM = "/accounts/not-me/confirm/"


# --- helpers ----------------------------------------------------------------------------------------


@pytest.fixture
def owner(make_user):
    """The owner: a password, no second factor yet; their laptop is the account's first browser."""
    user = make_user("ada@example.com")
    sign_in(browser(OWNER_UA, "198.51.100.7"))  # registers the laptop silently (first browser)
    return user


def browser(user_agent: str = ATTACKER_UA, ip: str = "192.0.2.66") -> Client:
    return Client(raise_request_exception=False, HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)


def sign_in(c: Client, email: str = "ada@example.com", password: str = PASSWORD):
    return c.post("/accounts/login/", {"email": email, "password": password})


def signed_in(c: Client) -> bool:
    return c.get("/accounts/").status_code == 200


def mail_with(mails, subject: str):
    found = [mail for mail in mails if mail.subject == f"Identity: {subject}"]
    assert len(found) == 1, [mail.subject for mail in mails]
    return found[0]


def link_in(mail, pattern: re.Pattern = NOT_ME_LINK) -> str:
    match = pattern.search(mail.body)
    assert match, mail.body
    html = mail.alternatives[0][0]
    assert match.group(0) in html, "the HTML part carries the same link"
    return match.group(1)


def follow_not_me(path: str, c: Client | None = None):
    """The owner clicks the mailed link (no sign-in), sees the confirmation page, and clicks once."""
    c = c or browser(OWNER_UA, "198.51.100.7")
    stashed = c.get(path)
    assert stashed.status_code == 302 and stashed["Location"] == CONFIRM, stashed
    page = c.get(CONFIRM)
    assert page.status_code == 200 and "This wasn't me" in page.content.decode()
    assert path.split("/")[-2] not in page.content.decode(), "the token leaves the URL"
    return c, c.post(CONFIRM)


def attacker_adds_passkey(attacker: Client, authenticator: SoftAuthenticator):
    response = register(attacker, authenticator, name="Attacker's key")
    assert response.status_code == 200, response.content
    return Passkey.objects.get(name="Attacker's key")


def reset_with_mail(deliver_outbox, to: str = "ada@example.com") -> Client:
    """The owner follows the reset mail they were sent and chooses a new password."""
    mail = mail_with([m for m in deliver_outbox() if m.to == [to]], "Reset your password")
    c = browser(OWNER_UA, "198.51.100.7")
    form = c.get(link_in(mail, RESET_LINK))
    assert form.status_code == 302, form
    done = c.post(form["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/accounts/login/", done.content.decode()[:3000]
    return c


# --- the mailed link ----------------------------------------------------------------------------------


def test_the_passkey_mail_link_evicts_the_attacker_and_the_owner_gets_back_in(owner, deliver_outbox, mailoutbox):
    attacker, key = browser(), SoftAuthenticator()
    assert sign_in(attacker).status_code == 302
    app, secret = register_app("Mail app")
    rp = RelyingParty(app, secret)
    app_tokens = rp.sign_in_and_redeem(attacker)
    attacker_key = attacker_adds_passkey(attacker, key)
    mails = deliver_outbox()
    link = link_in(mail_with(mails, "Two-step verification changed"))

    # Before: the owner's own password sign-in would ask for the attacker's passkey.
    stuck = sign_in(browser(OWNER_UA, "198.51.100.7"))
    assert stuck["Location"] == "/accounts/mfa/"

    mailoutbox.clear()
    _, response = follow_not_me(link)
    assert response.status_code == 302 and response["Location"] == "/accounts/not-me/done/"

    assert not Passkey.objects.filter(pk=attacker_key.pk).exists()
    assert user_sessions(owner.pk) == {} and not signed_in(attacker)
    assert passkey_signin(browser(), key).status_code == 400, "the attacker's passkey no longer signs in"
    assert sign_in(browser()).status_code == 400, "the old password is refused"
    refused = rp.refresh(app_tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert rp.userinfo(app_tokens["access_token"]).status_code == 401
    owner.refresh_from_db()
    assert not owner.has_usable_password()
    assert CredentialEvent.objects.get(added__passkey=[attacker_key.pk]).used_at is not None
    [not_me] = SecurityEvent.objects.filter(kind=Event.NOT_ME)
    assert not_me.user == owner

    reset_with_mail(deliver_outbox)
    owner_back = browser(OWNER_UA, "198.51.100.7")
    response = sign_in(owner_back, password=NEW_PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/accounts/", "no factor is asked for"
    assert signed_in(owner_back)
    token = link.split("/")[-2]
    dump = "\n".join(
        repr(row) for model in (OutboxMail, CredentialEvent, SecurityEvent) for row in model.objects.values_list()
    )
    assert token not in dump, "rows hold no link tokens"


def test_the_owners_own_factors_stay_and_only_the_event_is_undone(make_user, deliver_outbox):
    """The attacker phished one TOTP code, so their session is fully signed in; they add a passkey."""
    owner = make_user("ada@example.com")
    phone = add_totp(owner, "Ada's phone")
    owners_key = SoftAuthenticator()
    own_passkey = add_passkey(owner, owners_key, name="Ada's laptop")
    attacker, key = browser(), SoftAuthenticator()
    assert sign_in(attacker)["Location"] == "/accounts/mfa/"
    assert attacker.post("/accounts/mfa/", {"code": totp_code(phone)}).status_code == 302
    attacker_adds_passkey(attacker, key)
    mails = deliver_outbox()
    link = link_in(mail_with(mails, "Two-step verification changed"))

    follow_not_me(link)
    assert list(passkeys(owner)) == [own_passkey] and list(totp_devices(owner)) == [phone]
    assert passkey_signin(browser(), key).status_code == 400
    reset_with_mail(deliver_outbox)
    back = browser(OWNER_UA, "198.51.100.7")
    assert sign_in(back, password=NEW_PASSWORD)["Location"] == "/accounts/mfa/", "asked for a factor they have"
    assert passkey_signin(Client(), owners_key).status_code == 200


def test_a_reset_link_alone_never_removes_a_factor(make_user, deliver_outbox):
    """Possession of the mailbox is not possession of the account's factors."""
    owner = make_user("ada@example.com")
    phone = add_totp(owner)
    own_passkey = add_passkey(owner, SoftAuthenticator())
    thief = browser()
    thief.post("/accounts/password/reset/", {"email": owner.email})
    mail = mail_with(deliver_outbox(), "Reset your password")
    form = thief.get(link_in(mail, RESET_LINK))
    assert (
        thief.post(form["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}).status_code == 302
    )
    assert list(totp_devices(owner)) == [phone] and list(passkeys(owner)) == [own_passkey]
    assert sign_in(thief, password=NEW_PASSWORD)["Location"] == "/accounts/mfa/"
    assert not signed_in(thief)


def test_the_link_works_once(owner, deliver_outbox):
    attacker = browser()
    sign_in(attacker)
    attacker_adds_passkey(attacker, SoftAuthenticator())
    link = link_in(mail_with(deliver_outbox(), "Two-step verification changed"))
    follow_not_me(link)
    again = browser(OWNER_UA)
    assert again.get(link).status_code == 302
    page = again.get(CONFIRM)
    assert page.status_code == 400 and "no longer valid" in page.content.decode()
    assert again.post(CONFIRM).status_code == 400
    assert SecurityEvent.objects.filter(kind=Event.NOT_ME).count() == 1


def test_the_link_expires_after_days_not_minutes(owner, deliver_outbox, settings, clock):
    attacker = browser()
    sign_in(attacker)
    attacker_adds_passkey(attacker, SoftAuthenticator())
    link = link_in(mail_with(deliver_outbox(), "Two-step verification changed"))
    assert accounts_settings.NOT_ME_LINK_TIMEOUT >= 3 * 24 * 3600
    clock.advance(accounts_settings.NOT_ME_LINK_TIMEOUT - 60)
    c = browser(OWNER_UA)
    c.get(link)
    assert c.get(CONFIRM).status_code == 200, "still good a few days later"
    clock.advance(120)
    assert c.post(CONFIRM).status_code == 400
    assert Passkey.objects.count() == 1 and User.objects.get().has_usable_password()


def test_a_link_for_one_persons_event_cannot_act_on_another(owner, make_user, deliver_outbox):
    bob = make_user("bob@example.com")
    bob_key = add_passkey(bob, SoftAuthenticator())
    attacker = browser()
    sign_in(attacker)
    attacker_adds_passkey(attacker, SoftAuthenticator())
    link = link_in(mail_with(deliver_outbox(), "Two-step verification changed"))
    event = read_not_me_token(link.split("/")[-2])
    # The payload names both the event and its owner; pointing it at bob needs the site's signature.
    forged = signing.dumps({"e": event.pk, "u": bob.pk}, salt=NOT_ME_SALT)
    assert read_not_me_token(forged) is None
    tampered = link.replace(link.split("/")[-2], link.split("/")[-2][:-3] + "AAA")
    assert browser().get(tampered).status_code == 400
    follow_not_me(link)
    bob.refresh_from_db()
    assert bob.has_usable_password() and list(passkeys(bob)) == [bob_key]
    assert sign_in(browser(), "bob@example.com").status_code == 302


def test_a_forged_link_writes_no_session(owner):
    c = browser()
    assert c.get("/accounts/not-me/not-a-real-token/").status_code == 400
    assert c.get(CONFIRM).status_code == 400
    assert "__Host-session" not in c.cookies


def test_the_email_changed_mail_puts_the_old_address_back(owner, deliver_outbox):
    attacker = browser()
    sign_in(attacker)
    assert attacker.post("/accounts/email/", {"email": "mallory@example.net"}).status_code == 200
    change = mail_with(deliver_outbox(), "Confirm your new email address")
    attacker.get(re.search(r"http://testserver(/accounts/email/confirm/[^\s]+/)", change.body).group(1))
    assert attacker.post("/accounts/email/confirm/").status_code == 302
    assert User.objects.get().email == "mallory@example.net"
    told = mail_with(deliver_outbox(), "Your email address was changed")
    assert told.to == ["ada@example.com"]

    follow_not_me(link_in(told))
    owner.refresh_from_db()
    assert owner.email == "ada@example.com" and owner.email_verified and not owner.has_usable_password()
    assert not signed_in(attacker)
    reset_with_mail(deliver_outbox, to="ada@example.com")
    assert sign_in(browser(OWNER_UA), password=NEW_PASSWORD)["Location"] == "/accounts/"


def test_regenerated_recovery_codes_are_discarded_and_the_factors_stay(make_user, deliver_outbox):
    owner = make_user("ada@example.com")
    phone = add_totp(owner)
    attacker = browser()
    sign_in(attacker)
    attacker.post("/accounts/mfa/", {"code": totp_code(phone)})
    assert attacker.post("/accounts/security/recovery-codes/regenerate/").status_code == 302
    assert RecoveryCode.objects.filter(user=owner).count() == 10
    link = link_in(mail_with(deliver_outbox(), "Two-step verification changed"))

    follow_not_me(link)
    assert not RecoveryCode.objects.filter(user=owner).exists(), "the attacker's set is gone (the old one was replaced)"
    assert list(totp_devices(owner)) == [phone]


def test_the_new_device_mail_link_ends_everything_though_nothing_was_added(owner, deliver_outbox):
    attacker = browser()
    sign_in(attacker)
    link = link_in(mail_with(deliver_outbox(), "New sign-in to your account"))
    follow_not_me(link)
    assert not signed_in(attacker) and user_sessions(owner.pk) == {}
    assert sign_in(browser()).status_code == 400
    assert mail_with(deliver_outbox(), "Reset your password").to == ["ada@example.com"]


def test_an_owner_who_must_use_mfa_sets_one_up_after_the_attackers_only_factor_goes(make_user, deliver_outbox):
    make_user("ada@example.com", mfa_required=True)
    sign_in(browser(OWNER_UA))
    attacker = browser()
    assert sign_in(attacker)["Location"] == "/accounts/security/totp/add/"  # must enrol: the attacker does
    attacker_adds_passkey(attacker, SoftAuthenticator())
    follow_not_me(link_in(mail_with(deliver_outbox(), "Two-step verification changed")))
    assert not Passkey.objects.exists()
    reset_with_mail(deliver_outbox)
    back = browser(OWNER_UA)
    assert sign_in(back, password=NEW_PASSWORD)["Location"] == "/accounts/security/totp/add/"


# --- the security page's button -----------------------------------------------------------------------


def test_the_security_page_button_undoes_what_the_other_sessions_added(owner, deliver_outbox):
    """The owner has an authenticator app; the attacker has the password and one phished code. Each adds
    a passkey in a session that proved the app (a password alone may not change factors, section 2)."""
    device = add_totp(owner)
    attacker, key = browser(), SoftAuthenticator()
    assert sign_in(attacker)["Location"] == "/accounts/mfa/"
    assert attacker.post("/accounts/mfa/", {"code": totp_code(device)}).status_code == 302
    laptop = browser(OWNER_UA, "198.51.100.7")
    sign_in(laptop)
    device.refresh_from_db()
    assert laptop.post("/accounts/mfa/", {"code": totp_code(device, steps_ago=-1)}).status_code == 302
    owners_key = SoftAuthenticator()
    assert register(laptop, owners_key, name="Ada's key").status_code == 200  # the owner's own, from this session
    attacker_adds_passkey(attacker, key)
    deliver_outbox()

    assert laptop.post("/accounts/security/not-me/", {"password": PASSWORD})["Location"] == "/accounts/not-me/done/"
    assert [p.name for p in passkeys(owner)] == ["Ada's key"], "only what the other session added is gone"
    assert list(totp_devices(owner)) == [device], "the owner's own app stays"
    assert user_sessions(owner.pk) == {} and not signed_in(attacker)
    assert passkey_signin(browser(), key).status_code == 400
    owner.refresh_from_db()
    assert not owner.has_usable_password()
    assert sign_in(browser()).status_code == 400, "the intruder cannot sign straight back in"
    reset_with_mail(deliver_outbox)
    assert passkey_signin(Client(), owners_key).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_parallel_clicks_on_one_link_act_once(owner, deliver_outbox):
    from tests.concurrency import run_in_parallel

    attacker = browser()
    sign_in(attacker)
    attacker_adds_passkey(attacker, SoftAuthenticator())
    link = link_in(mail_with(deliver_outbox(), "Two-step verification changed"))
    clicks = [browser(OWNER_UA) for _ in range(4)]
    for c in clicks:
        c.get(link)
    results = run_in_parallel([lambda c=c: c.post(CONFIRM).status_code for c in clicks])
    assert sorted(results) == [302, 400, 400, 400], results
    assert SecurityEvent.objects.filter(kind=Event.NOT_ME).count() == 1
    assert OutboxMail.objects.filter(kind=OutboxMail.Kind.PASSWORD_RESET).count() == 1


def test_events_are_forgotten_once_their_links_have_expired(owner, settings):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.tasks import forget_expired_credential_events

    old = CredentialEvent.objects.create(user=owner, kind=CredentialEvent.Kind.NEW_DEVICE)
    CredentialEvent.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(seconds=accounts_settings.NOT_ME_LINK_TIMEOUT + 60)
    )
    fresh = CredentialEvent.objects.create(user=owner, kind=CredentialEvent.Kind.NEW_DEVICE)
    assert forget_expired_credential_events() == 1
    assert list(CredentialEvent.objects.all()) == [fresh]


def test_the_passkey_link_also_puts_back_the_address_the_same_session_changed(owner, deliver_outbox):
    """The attacker adds a passkey, then moves the account to their address: the owner's only mail with
    a link may be the passkey one. It undoes the whole session, so the reset goes to the owner."""
    attacker, key = browser(), SoftAuthenticator()
    sign_in(attacker)
    attacker_adds_passkey(attacker, key)
    passkey_mail = mail_with(deliver_outbox(), "Two-step verification changed")
    # The account now holds a second factor, so the address change asks for it: the attacker has his own.
    reauthenticate_with_passkey(attacker, key, "/accounts/email/")
    attacker.post("/accounts/email/", {"email": "mallory@example.net"})
    change = mail_with(deliver_outbox(), "Confirm your new email address")
    attacker.get(re.search(r"http://testserver(/accounts/email/confirm/[^\s]+/)", change.body).group(1))
    assert attacker.post("/accounts/email/confirm/").status_code == 302

    follow_not_me(link_in(passkey_mail))
    owner.refresh_from_db()
    assert owner.email == "ada@example.com" and not Passkey.objects.exists()
    assert not OutboxMail.objects.filter(kind=OutboxMail.Kind.PASSWORD_RESET, to="mallory@example.net").exists()
    reset_with_mail(deliver_outbox, to="ada@example.com")
    assert sign_in(browser(OWNER_UA), password=NEW_PASSWORD)["Location"] == "/accounts/"


def test_an_owner_whose_reset_link_expired_can_ask_for_another(owner, deliver_outbox, settings, clock):
    """Django's own reset form skips accounts with an unusable password; ours must not, or an owner
    who read the mail late would be locked out for good."""
    attacker = browser()
    sign_in(attacker)
    follow_not_me(link_in(mail_with(deliver_outbox(), "New sign-in to your account")))
    deliver_outbox().clear()
    clock.advance(settings.PASSWORD_RESET_TIMEOUT + 60)
    assert browser(OWNER_UA).post("/accounts/password/reset/", {"email": "ada@example.com"}).status_code == 302
    reset_with_mail(deliver_outbox)
    assert sign_in(browser(OWNER_UA), password=NEW_PASSWORD)["Location"] == "/accounts/"


def test_an_authenticator_app_the_attacker_set_up_goes_with_its_recovery_codes(owner, deliver_outbox):
    from tests.mfa.pages import enrol_through_pages

    attacker = browser()
    sign_in(attacker)
    response, secret = enrol_through_pages(attacker, name="Attacker's phone")
    assert response.status_code == 302 and RecoveryCode.objects.filter(user=owner).count() == 10
    follow_not_me(link_in(mail_with(deliver_outbox(), "Two-step verification changed")))
    assert not totp_devices(owner).exists() and not RecoveryCode.objects.filter(user=owner).exists()
    reset_with_mail(deliver_outbox)
    assert sign_in(browser(OWNER_UA), password=NEW_PASSWORD)["Location"] == "/accounts/"


def test_an_old_address_taken_meanwhile_is_not_given_a_reset_for_the_intruders_address(
    owner, make_user, deliver_outbox
):
    attacker = browser()
    sign_in(attacker)
    attacker.post("/accounts/email/", {"email": "mallory@example.net"})
    change = mail_with(deliver_outbox(), "Confirm your new email address")
    attacker.get(re.search(r"http://testserver(/accounts/email/confirm/[^\s]+/)", change.body).group(1))
    attacker.post("/accounts/email/confirm/")
    told = mail_with(deliver_outbox(), "Your email address was changed")
    make_user("ada@example.com", email_verified=False)  # someone signed up with the freed address

    c, response = follow_not_me(link_in(told))
    assert "now belongs to another account" in c.get(response["Location"]).content.decode()
    assert not signed_in(attacker) and not User.objects.get(pk=owner.pk).has_usable_password()
    assert not OutboxMail.objects.filter(kind=OutboxMail.Kind.PASSWORD_RESET).exists()
