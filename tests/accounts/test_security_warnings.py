"""Failed second steps and cloned passkeys are told to the owner: the password is known, or a copy of a
passkey exists. Shown in recent activity, and mailed (at most once per account and kind per
warning-mail period, so an attacker cannot mail-bomb the owner)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import SecurityEvent
from tests.accounts.test_not_me import OWNER_UA, browser, mail_with, owner, sign_in  # noqa: F401  (owner: fixture)
from tests.mfa.softauthn import SoftAuthenticator
from tests.mfa.test_passkeys import add_passkey, passkey_signin
from tests.users import add_totp, totp_code

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind


def wrong_second_step(attacker: Client) -> None:
    """The right password, then a wrong recovery code (django-otp's own back-off leaves those alone)."""
    assert sign_in(attacker)["Location"] == "/accounts/mfa/"
    assert attacker.post("/accounts/mfa/?method=recovery", {"code": "abcd-efgh-jkmn"}).status_code == 400


def test_refused_second_steps_show_in_recent_activity_and_are_mailed_once(make_user, deliver_outbox):
    owner = make_user("ada@example.com")
    phone = add_totp(owner)
    attacker = browser()
    wrong_second_step(attacker)
    wrong_second_step(attacker)
    assert not [m for m in deliver_outbox() if "second factor" in m.subject], "not after two"
    wrong_second_step(attacker)
    warned = mail_with(deliver_outbox(), "Someone entered your password but not your second factor")
    assert warned.to == ["ada@example.com"] and "your password is known" in warned.body
    deliver_outbox().clear()
    for _ in range(3):  # more failures, no more mail this hour: no mail-bombing
        wrong_second_step(attacker)
    assert not [m for m in deliver_outbox() if "second factor" in m.subject]

    laptop = browser(OWNER_UA)
    sign_in(laptop)
    laptop.post("/accounts/mfa/", {"code": totp_code(phone)})
    section = laptop.get("/accounts/security/").content.decode().split('id="history-heading"', 1)[1]
    # Six identical refusals in a row are one line saying how many (issue 19).
    assert section.count("Right password, but the second step failed") == 1 and "6 times" in section
    assert "192.0.2.66" in section


def test_a_cloned_passkey_is_told_to_its_owner_in_those_words(owner, deliver_outbox):
    authenticator = SoftAuthenticator()
    add_passkey(owner, authenticator, name="Ada's key", sign_count=5)
    authenticator.credentials[0].sign_count = 5
    deliver_outbox()
    assert passkey_signin(browser(), authenticator, sign_count=3).status_code == 400
    assert passkey_signin(browser(), authenticator, sign_count=2).status_code == 400
    mail = mail_with(deliver_outbox(), "A copy of your passkey may exist")
    assert "Ada's key" in mail.body and mail.to == ["ada@example.com"]
    laptop = browser(OWNER_UA)
    assert passkey_signin(laptop, authenticator, sign_count=9).status_code == 200
    assert "Refused: a copy of your passkey may exist" in laptop.get("/accounts/security/").content.decode()


def test_a_refused_passkey_as_the_second_step_counts_as_a_refused_second_step(make_user, deliver_outbox):
    owner = make_user("ada@example.com")
    key = SoftAuthenticator()
    add_passkey(owner, key, sign_count=5)
    key.credentials[0].sign_count = 5
    for _ in range(3):
        attacker = browser()
        assert sign_in(attacker)["Location"] == "/accounts/mfa/"
        assert passkey_signin(attacker, key, user_verified=False).status_code == 400  # not the owner's finger
    assert SecurityEvent.objects.filter(kind=Event.MFA_FAILED, user=owner, method="passkey").count() == 3
    assert mail_with(deliver_outbox(), "Someone entered your password but not your second factor").to == [owner.email]


@pytest.mark.parametrize(
    ("kind", "facts", "subject", "phrase"),
    [
        (
            "mfa_failures",
            {"failures": 3},
            "Jemand hat Ihr Passwort eingegeben, aber nicht Ihren zweiten Faktor",
            "3-mal",
        ),
        ("passkey_cloned", {"passkey": "Laptop"}, "Von Ihrem Passkey gibt es möglicherweise eine Kopie", "„Laptop“"),
        ("new_device", {}, "Neue Anmeldung bei Ihrem Konto", "Das war ich nicht"),
    ],
)
def test_the_warnings_and_the_not_me_link_read_in_german(make_user, kind, facts, subject, phrase):
    from accounts.models import CredentialEvent, OutboxMail
    from accounts.outbox import render_mail

    user = make_user()
    if kind == "new_device":
        facts = {"event": CredentialEvent.objects.create(user=user, kind=CredentialEvent.Kind.NEW_DEVICE).pk}
    row = OutboxMail.objects.create(kind=kind, user=user, to=user.email, language="de", context=facts)
    message = render_mail(row)
    assert message.subject == f"Identity: {subject}"
    [(html, _)] = message.alternatives
    assert phrase in message.body or phrase in html
    if kind == "new_device":
        assert "7 Tage lang" in message.body and "/accounts/not-me/" in message.body and "/accounts/not-me/" in html
