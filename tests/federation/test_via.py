"""A sign-in through a provider is shown as "via <its name>" (as the name was then) in the security
page's history, the account page's previous sign-in, the new-device mail and the admin's audit list; a
password sign-in says nothing of the kind. accounts stores the name from the sign-in's `via` fact."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import OutboxMail, SecurityEvent, User
from tests.users import PASSWORD, sign_in_admin

from .browsing import sign_in_through

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


def history(browser: Client, **extra) -> str:
    html = browser.get("/accounts/security/", **extra).content.decode()
    return html.split('id="history-heading"', 1)[1].split("</section>", 1)[0]


def phone() -> Client:
    return Client(HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="203.0.113.9")


def new_device_mail(deliver_outbox):
    [mail] = [sent for sent in deliver_outbox() if "New sign-in" in sent.subject or "Neue Anmeldung" in sent.subject]
    return mail.body, mail.alternatives[0][0]


def test_the_history_says_via_the_provider_and_a_password_sign_in_does_not(provider, make_user):
    browser = Client()
    sign_in_through(browser)
    assert "Signed in · via Acme" in history(browser)

    ada = make_user("ada@example.com")
    password = Client()
    password.post("/accounts/login/", {"email": ada.email, "password": PASSWORD})
    shown = history(password)
    assert "Signed in · password" in shown and "via" not in shown


def test_the_history_keeps_the_name_the_provider_had_then(provider):
    sign_in_through(Client())
    provider.name = "Acme Corporation"
    provider.save()
    browser = Client()
    sign_in_through(browser)

    shown = history(browser)
    assert "via Acme Corporation</td>" in shown, "the new name for the new sign-in"
    assert "via Acme</td>" in shown, "the old name for the old one"


def test_a_providers_name_is_text_not_markup(provider):
    provider.name = '<img src=x onerror="alert(1)">'
    provider.save()
    browser = Client()
    sign_in_through(browser)

    shown = history(browser)
    assert "<img" not in shown and "via &lt;img src=x" in shown


def test_a_long_name_is_kept_to_the_audit_column(provider):
    provider.name = "A" * 60
    provider.save()
    browser = Client()
    sign_in_through(browser)

    assert SecurityEvent.objects.get(kind=Event.SIGNIN_SUCCEEDED).reason == "A" * 40
    assert "via " + "A" * 40 in history(browser)


def test_the_previous_sign_in_says_via_the_provider(provider, make_user):
    sign_in_through(Client())
    browser = phone()
    sign_in_through(browser)

    home = browser.get("/accounts/").content.decode()
    assert "Previous sign-in" in home and "· via Acme</dd>" in home
    german = browser.get("/accounts/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "· über Acme</dd>" in german

    ada = make_user("ada@example.com")
    for _ in range(2):
        password = Client()
        password.post("/accounts/login/", {"email": ada.email, "password": PASSWORD})
    assert "via" not in password.get("/accounts/").content.decode().split("Previous sign-in", 1)[1].split("</dd>")[0]


def test_the_new_device_mail_says_via_the_provider(provider, deliver_outbox):
    sign_in_through(Client())  # the first browser is registered silently
    sign_in_through(phone())

    text, html = new_device_mail(deliver_outbox)
    assert "How: via Acme" in text
    assert "via Acme" in html and "Mobile Safari on iOS" in html


def test_the_new_device_mail_in_german_says_ueber(provider, deliver_outbox):
    sign_in_through(Client())
    sign_in_through(Client(HTTP_USER_AGENT=IPHONE, HTTP_ACCEPT_LANGUAGE="de"))

    text, html = new_device_mail(deliver_outbox)
    assert "Wie: über Acme" in text and "über Acme" in html


def test_a_password_sign_ins_new_device_mail_says_no_via(user, deliver_outbox):
    for browser in (Client(), phone()):
        browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD})

    text, html = new_device_mail(deliver_outbox)
    assert "via" not in text and "How" not in text and "via" not in html
    assert "via" not in OutboxMail.objects.get(kind=OutboxMail.Kind.NEW_DEVICE).context


def test_the_admins_audit_list_says_via_the_provider(provider, make_admin):
    sign_in_through(Client())
    grace = User.objects.get(email="grace@example.org")
    admin = sign_in_admin(make_admin())

    listing = admin.get("/admin/accounts/securityevent/").content.decode()
    assert "via Acme" in listing
    person = admin.get(f"/admin/accounts/user/{grace.pk}/change/").content.decode()
    assert "via Acme" in person
