"""Review R1-R3 of issue 13: "This wasn't me" where sections 2 and 3 meet (moved from
tests/security_review/test_not_me_bypasses.py), and the rules that fix them: a link undoes only what its
mailbox was told of, and the security page's button needs this session's own sign-in proved again.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import CredentialEvent, OutboxMail, SecurityEvent
from mfa.policy import passkeys, totp_devices
from tests.accounts.test_not_me import (
    ATTACKER_UA,
    NEW_PASSWORD,
    OWNER_UA,
    browser,
    follow_not_me,
    link_in,
    mail_with,
    reset_with_mail,
    sign_in,
    signed_in,
)
from tests.mfa.pages import code_for_secret, enrol_through_pages, reauthenticate
from tests.users import PASSWORD

# The codes these tests compute must still be current when the server checks them (tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("totp_clock")]

EMAIL_CONFIRM_LINK = re.compile(r"http://testserver(/accounts/email/confirm/[^\s]+/)")


def copy_of(c: Client) -> Client:
    """Another browser holding a copy of this one's session cookie (malware, a shared computer)."""
    thief = browser(ATTACKER_UA, "192.0.2.66")
    thief.cookies[settings.SESSION_COOKIE_NAME] = c.cookies[settings.SESSION_COOKIE_NAME].value
    return thief


@pytest.mark.parametrize("form", [{}, {"password": "a guess"}], ids=["no-password", "wrong-password"])
def test_a_session_thief_cannot_strip_the_owners_own_factor_with_the_security_page_button(
    make_user, deliver_outbox, form
):
    """Session thief (a copied cookie of the owner's phone session, no password, no factor). The owner
    sets up an authenticator app on their laptop. The thief presses "This wasn't me" on the security
    page of the phone session: it undoes what the *other* sessions added, which is the owner's own
    app and recovery codes. The issue: "their own earlier factors stay". Now (R2) the button asks for
    the phone session's password again: a clear 400, and nothing at all happens."""
    owner = make_user("ada@example.com")
    phone = browser(OWNER_UA, "198.51.100.8")
    assert sign_in(phone).status_code == 302
    laptop = browser(OWNER_UA, "198.51.100.7")
    assert sign_in(laptop).status_code == 302
    enrolled, _secret = enrol_through_pages(laptop, name="Owner's phone app")
    assert enrolled.status_code == 302, enrolled
    assert totp_devices(owner).count() == 1
    deliver_outbox()

    thief = copy_of(phone)
    assert signed_in(thief)
    refused = thief.post("/accounts/security/not-me/", form)

    assert [d.name for d in totp_devices(owner)] == ["Owner's phone app"], (
        "a stolen cookie alone removed the owner's own authenticator app (made in the owner's own session)"
    )
    said = "That password is not right. Nothing was changed." if form else "This field is required."
    assert (
        refused.status_code == 400
        and said in refused.content.decode()
        and "data-error-summary" in refused.content.decode()
    )
    assert signed_in(laptop) and signed_in(phone)
    owner.refresh_from_db()
    assert owner.has_usable_password() and not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.NOT_ME).exists()
    assert not OutboxMail.objects.filter(kind=OutboxMail.Kind.PASSWORD_RESET).exists()


def test_the_old_mailbox_cannot_take_over_after_the_owner_moved_address_and_turned_on_mfa(make_user, deliver_outbox):
    """Mailbox thief of the OLD address (the reason the owner moved). In one laptop session the owner
    changes the address to a new mailbox and then sets up an authenticator app (its mail goes to the new
    address). The email-changed mail to the old address carries a not-me link; it undoes the address
    change *and everything else that session added*, the owner's app included, then mails a reset link
    to the restored (old, stolen) address. The thief resets the password and signs in without a factor."""
    owner = make_user("ada@example.com")
    laptop = browser(OWNER_UA, "198.51.100.7")
    assert sign_in(laptop).status_code == 302
    assert laptop.post("/accounts/email/", {"email": "ada@new.example"}).status_code == 200
    confirm = mail_with(deliver_outbox(), "Confirm your new email address")
    laptop.get(EMAIL_CONFIRM_LINK.search(confirm.body).group(1))
    assert laptop.post("/accounts/email/confirm/").status_code == 302
    owner.refresh_from_db()
    assert owner.email == "ada@new.example"
    enrolled, _secret = enrol_through_pages(laptop, name="Owner's phone app")
    assert enrolled.status_code == 302, enrolled
    mails = deliver_outbox()
    told_old = [
        m for m in mails if m.to == ["ada@example.com"] and m.subject == "Identity: Your email address was changed"
    ]
    assert len(told_old) == 1

    # The thief reads only the old mailbox.
    thief = browser(ATTACKER_UA, "192.0.2.66")
    follow_not_me(link_in(told_old[0]), thief)
    reset_with_mail(deliver_outbox, to="ada@example.com")
    landed = sign_in(browser(ATTACKER_UA, "192.0.2.66"), email="ada@example.com", password=NEW_PASSWORD)

    assert landed["Location"] != "/accounts/", "the old mailbox alone took the account over, with no second factor"
    assert list(totp_devices(owner)), "the old mailbox's link removed the app the owner set up after moving"


def test_the_security_page_button_also_evicts_an_intruder_who_already_signed_out(make_user, deliver_outbox):
    """Password thief (account without a second factor yet). The thief signs in, adds their own passkey
    and signs out, so their session is gone. The owner, signed in on the laptop, sees the mail and
    presses "This wasn't me" on the security page: it undoes only what *live* other sessions added,
    so the thief's passkey stays. After the owner's reset, the thief signs straight back in with it
    (a user-verified passkey needs no password)."""
    from tests.mfa.softauthn import SoftAuthenticator
    from tests.mfa.test_passkeys import passkey_signin, register

    owner = make_user("ada@example.com")
    laptop = browser(OWNER_UA, "198.51.100.7")
    assert sign_in(laptop).status_code == 302
    thief, key = browser(ATTACKER_UA, "192.0.2.66"), SoftAuthenticator()
    assert sign_in(thief).status_code == 302
    assert register(thief, key, name="Thief's key").status_code == 200
    assert thief.post("/accounts/logout/").status_code == 302
    deliver_outbox()

    # R2: the button asks for what this session signed in with (here the password).
    assert laptop.post("/accounts/security/not-me/", {"password": PASSWORD})["Location"] == "/accounts/not-me/done/"
    reset_with_mail(deliver_outbox)

    back_in = passkey_signin(browser(ATTACKER_UA, "192.0.2.66"), key)
    assert back_in.status_code != 200, "the thief's passkey survived the owner's 'This wasn't me' and signs in"
    assert not passkeys(owner).exists()


# --- R1: a link undoes only what its mailbox was told of -------------------------------------------


def owner_moves_address(laptop: Client, deliver_outbox, new_email: str = "ada@new.example") -> list:
    """The owner, signed in on the laptop, moves the account to a new mailbox. Returns the mails sent."""
    assert laptop.post("/accounts/email/", {"email": new_email}).status_code == 200
    confirm = mail_with(deliver_outbox(), "Confirm your new email address")
    laptop.get(EMAIL_CONFIRM_LINK.search(confirm.body).group(1))
    assert laptop.post("/accounts/email/confirm/").status_code == 302
    return deliver_outbox()


def test_the_address_an_old_mailbox_link_replaces_is_told(make_user, deliver_outbox):
    """Mailbox thief of the old address follows the email-changed link: the owner's new address, which
    the link takes the account away from, is told at once (and its mail carries no link to fight over)."""
    owner = make_user("ada@example.com")
    laptop = browser(OWNER_UA, "198.51.100.7")
    assert sign_in(laptop).status_code == 302
    told_old = mail_with(owner_moves_address(laptop, deliver_outbox), "Your email address was changed")
    assert told_old.to == ["ada@example.com"]

    follow_not_me(link_in(told_old), browser(ATTACKER_UA, "192.0.2.66"))
    owner.refresh_from_db()
    assert owner.email == "ada@example.com"
    mails = deliver_outbox()
    [notice] = [m for m in mails if m.to == ["ada@new.example"] and m.subject == told_old.subject]
    assert "This wasn't me" in notice.body and "ada@example.com" in notice.body and "kept" in notice.body
    assert "/accounts/not-me/" not in notice.body and "/accounts/not-me/" not in notice.alternatives[0][0]


def test_an_email_changed_link_removes_no_factor_even_one_its_mailbox_was_told_of(make_user, deliver_outbox):
    """The old address's mail says only that the address moved: its link puts the address back and
    evicts, and never removes a factor (the thief of the old mailbox would otherwise remove the owner's
    app, told to that same address before the move, and reset into an account without one)."""
    owner = make_user("ada@example.com")
    laptop = browser(OWNER_UA, "198.51.100.7")
    assert sign_in(laptop).status_code == 302
    enrolled, secret = enrol_through_pages(laptop, name="Owner's phone app")
    assert enrolled.status_code == 302
    deliver_outbox()
    assert reauthenticate(laptop, code_for_secret(secret, steps_ago=-1), next_url="/accounts/email/").status_code == 302
    told_old = mail_with(owner_moves_address(laptop, deliver_outbox), "Your email address was changed")

    follow_not_me(link_in(told_old), browser(ATTACKER_UA, "192.0.2.66"))
    owner.refresh_from_db()
    assert owner.email == "ada@example.com" and not owner.has_usable_password()
    assert [d.name for d in totp_devices(owner)] == ["Owner's phone app"]
    reset_with_mail(deliver_outbox, to="ada@example.com")
    landed = sign_in(browser(ATTACKER_UA, "192.0.2.66"), email="ada@example.com", password=NEW_PASSWORD)
    assert landed["Location"] == "/accounts/mfa/", "the old mailbox still meets the owner's second factor"


def test_a_link_reaches_later_events_its_mailbox_was_told_of_never_earlier_ones(make_user, deliver_outbox):
    """The owner sets up an app on the laptop; later, in the same session (a thief holding its cookie,
    or the owner), recovery codes are regenerated. The regeneration's link undoes the new codes only:
    "from here on it wasn't me" never reaches back to the app set up before it. The app's own link,
    followed afterwards, still works (its mailbox was told of both)."""
    owner = make_user("ada@example.com")
    laptop = browser(OWNER_UA, "198.51.100.7")
    assert sign_in(laptop).status_code == 302
    enrolled, secret = enrol_through_pages(laptop, name="Owner's phone app")
    assert enrolled.status_code == 302
    app_mail = mail_with(deliver_outbox(), "Two-step verification changed")
    assert reauthenticate(laptop, code_for_secret(secret, steps_ago=-1)).status_code == 302
    assert laptop.post("/accounts/security/recovery-codes/regenerate/").status_code == 302
    regenerated_mail = deliver_outbox()[-1]
    assert regenerated_mail.subject == app_mail.subject and regenerated_mail is not app_mail
    [app_event, codes_event] = CredentialEvent.objects.order_by("created_at", "pk").exclude(kind="new_device")
    assert app_event.session_ref == codes_event.session_ref != ""

    follow_not_me(link_in(regenerated_mail))
    assert [d.name for d in totp_devices(owner)] == ["Owner's phone app"], "the earlier app stays"
    app_event.refresh_from_db()
    assert app_event.used_at is None
    follow_not_me(link_in(app_mail))
    assert not totp_devices(owner).exists()
    assert app_event.told == codes_event.told == owner.email, "each event notes the address its mail went to"


# --- R2: the button needs what this session signed in with, proved again --------------------------


def test_a_session_that_signed_in_with_a_passkey_confirms_with_a_passkey_first(make_user, deliver_outbox):
    """No password was proved at this sign-in, so none is asked: the owner confirms with a passkey
    (re-authentication) and then the button works; the copied cookie alone is only sent to confirm."""
    from tests.mfa.softauthn import SoftAuthenticator
    from tests.mfa.test_passkeys import passkey_signin, reauthenticate_with_passkey, register

    owner = make_user("ada@example.com")
    laptop = browser(OWNER_UA, "198.51.100.7")
    assert sign_in(laptop).status_code == 302
    owners_key = SoftAuthenticator()
    assert register(laptop, owners_key, name="Ada's key").status_code == 200
    phone = browser(OWNER_UA, "198.51.100.8")
    assert passkey_signin(phone, owners_key).status_code == 200
    deliver_outbox()

    sent = copy_of(phone).post("/accounts/security/not-me/")
    assert sent.status_code == 302 and sent["Location"].startswith("/accounts/reauthenticate/")
    assert [p.name for p in passkeys(owner)] == ["Ada's key"] and signed_in(laptop)

    assert sent["Location"].endswith("?next=%2Faccounts%2Fsecurity%2Fnot-me%2F"), "back to confirm"
    reauthenticate_with_passkey(phone, owners_key, "/accounts/security/not-me/")
    assert phone.post("/accounts/security/not-me/")["Location"] == "/accounts/not-me/done/"
    assert not signed_in(laptop)
    assert [p.name for p in passkeys(owner)] == ["Ada's key"], "the passkey this session proved stays"
