"""Every password form speaks plain words, not Django's stock labels (issue 19), in English and German."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.users import PASSWORD, sign_in_admin

pytestmark = pytest.mark.django_db

STOCK = ("Old password", "New password confirmation", "Password confirmation", "Password (again)")
STOCK_DE = ("Altes Passwort", "Neues Passwort bestätigen (Wiederholung)", "Passwort bestätigen (Wiederholung)")


def labels(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>|\s+", " ", label).strip() for label in re.findall(r"<label[^>]*>(.*?)</label>", html, re.S)
    ]


def signed_in(user, language: str) -> Client:
    c = Client(HTTP_ACCEPT_LANGUAGE=language)
    assert c.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    return c


def reset_form_page(user, language: str) -> str:
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user.refresh_from_db()  # the token covers last_login, which signing in just changed
    c = Client(HTTP_ACCEPT_LANGUAGE=language)
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return c.get(
        f"/accounts/password/reset/{uid}/{default_token_generator.make_token(user)}/", follow=True
    ).content.decode()


EXPECTED = {
    "en": {
        "signin": ["Email address", "Password"],
        "signup": ["Email address", "Password"],
        "change": ["Current password", "New password", "Confirm the new password"],
        "reset": ["New password", "Confirm the new password"],
        "reauthenticate": ["Password"],
        "email": ["New email address"],
    },
    "de": {
        "signin": ["E-Mail-Adresse", "Passwort"],
        "signup": ["E-Mail-Adresse", "Passwort"],
        "change": ["Aktuelles Passwort", "Neues Passwort", "Neues Passwort bestätigen"],
        "reset": ["Neues Passwort", "Neues Passwort bestätigen"],
        "reauthenticate": ["Passwort"],
        "email": ["Neue E-Mail-Adresse"],
    },
}


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_labels_of_each_form(user, language):
    anonymous = Client(HTTP_ACCEPT_LANGUAGE=language)
    me = signed_in(user, language)
    pages = {
        "signin": anonymous.get("/accounts/login/").content.decode(),
        "signup": anonymous.get("/accounts/signup/").content.decode(),
        "change": me.get("/accounts/password/change/").content.decode(),
        "reset": reset_form_page(user, language),
        "reauthenticate": me.get("/accounts/reauthenticate/").content.decode(),
        "email": me.get("/accounts/email/").content.decode(),
    }
    for name, html in pages.items():
        found = labels(html)
        for expected in EXPECTED[language][name]:
            assert expected in found, (name, found)
        assert not set(found) & set(STOCK + STOCK_DE), (name, found)


@pytest.mark.parametrize(("language", "confirm"), [("en", "Confirm the password"), ("de", "Passwort bestätigen")])
def test_the_admin_password_forms_say_confirm_the_password(make_admin, user, language, confirm):
    admin = sign_in_admin(make_admin(), Client(HTTP_ACCEPT_LANGUAGE=language))
    for path in ("/admin/accounts/user/add/", f"/admin/accounts/user/{user.pk}/password/"):
        found = labels(admin.get(path).content.decode())
        assert any(label.startswith(confirm) for label in found), (path, found)
        assert not any(label.startswith(stock) for label in found for stock in STOCK), (path, found)
