"""The German translation: pages and mail follow the visitor's language, and the catalogue is complete."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import OutboxMail
from accounts.outbox import render_mail

pytestmark = pytest.mark.django_db

LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES"
PO_FILE = LOCALE_DIR / "django.po"
MO_FILE = LOCALE_DIR / "django.mo"


def parse_po(path: Path) -> list[dict]:
    """A tiny .po reader: one dict per entry with its flags, msgid, msgid_plural and msgstr(s).

    Obsolete entries (`#~`) are skipped, as msgfmt skips them. The header entry (empty msgid) is included.
    """
    entries: list[dict] = []
    entry: dict = {"flags": set(), "msgstr": {}}
    field: tuple | None = None

    def finish():
        nonlocal entry, field
        if "msgid" in entry:
            entries.append(entry)
        entry, field = {"flags": set(), "msgstr": {}}, None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            finish()
        elif line.startswith("#~"):
            continue
        elif line.startswith("#,"):
            if "msgid" in entry:
                finish()
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        else:
            match = re.match(r'^(msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$', line)
            if match:
                keyword, index, literal = match.groups()
                if keyword == "msgid" and "msgid" in entry:
                    finish()
                if keyword.startswith("msgstr"):
                    field = ("msgstr", int(index) if index is not None else 0)
                    entry["msgstr"][field[1]] = ""
                else:
                    field = (keyword, None)
                    entry[keyword] = ""
            else:
                assert line.startswith('"'), f"unexpected line in {path.name}: {raw!r}"
                literal = line
            value = ast.literal_eval(literal)
            assert field is not None, f"a continued string before any keyword in {path.name}"
            if field[0] == "msgstr":
                entry["msgstr"][field[1]] += value
            else:
                entry[field[0]] += value
    finish()
    return entries


def messages() -> list[dict]:
    return [entry for entry in parse_po(PO_FILE) if entry["msgid"]]


# --- Pages -----------------------------------------------------------------------------------


def test_sign_in_page_is_german_for_german_visitors(client):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="de">' in page
    assert "Anmelden" in page
    assert "E-Mail-Adresse" in page
    assert "Passwort vergessen?" in page
    assert "Konto erstellen" in page
    assert "Sign in" not in page
    assert "Forgot your password?" not in page


def test_german_is_chosen_from_a_regional_accept_language(client):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de-AT,de;q=0.9,en;q=0.5")
    page = response.content.decode()
    assert '<html lang="de">' in page
    assert "Anmelden" in page


@pytest.mark.parametrize("headers", [{"HTTP_ACCEPT_LANGUAGE": "en"}, {}], ids=["en", "no-header"])
def test_sign_in_page_is_english_otherwise(client, headers):
    response = client.get("/accounts/login/", **headers)
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="en">' in page
    assert "Sign in" in page
    assert "Email address" in page
    assert "Anmelden" not in page


def test_german_form_errors_and_password_help(client):
    """Form errors and the validators' help text are translated at render time, not import time."""
    response = client.post(
        "/accounts/login/", {"email": "nobody@example.com", "password": "x" * 12}, HTTP_ACCEPT_LANGUAGE="de"
    )
    assert response.status_code == 400
    assert "passen zu keinem Konto" in response.content.decode()

    signup = client.get("/accounts/signup/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Das Passwort darf bis zu" in signup
    assert "can be up to" not in signup


# --- Catalogue -------------------------------------------------------------------------------


def test_every_message_is_translated_and_none_is_fuzzy():
    entries = messages()
    assert len(entries) > 50, "the German catalogue looks truncated"
    untranslated, fuzzy = [], []
    for entry in entries:
        if "fuzzy" in entry["flags"]:
            fuzzy.append(entry["msgid"])
        expected = 2 if "msgid_plural" in entry else 1
        strings = [entry["msgstr"].get(i, "") for i in range(expected)]
        if not all(s.strip() for s in strings):
            untranslated.append(entry["msgid"])
    assert not untranslated, f"untranslated: {untranslated}"
    assert not fuzzy, f"fuzzy: {fuzzy}"
    header = parse_po(PO_FILE)[0]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert "Language: de" in header["msgstr"][0]


def test_translations_keep_their_placeholders():
    placeholder = re.compile(r"%\(\w+\)[sd]|%[sd]")
    for entry in messages():
        sources = [entry["msgid"], entry.get("msgid_plural", entry["msgid"])]
        for index, translated in entry["msgstr"].items():
            source = sources[min(index, 1)]
            assert sorted(placeholder.findall(translated)) == sorted(placeholder.findall(source)), entry["msgid"]


def test_compiled_catalogue_matches_the_po_file():
    """The committed .mo must be compiled from the current .po (run compilemessages after editing)."""
    assert MO_FILE.exists()
    with MO_FILE.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    for entry in messages():
        if "msgid_plural" in entry:
            assert catalogue.ngettext(entry["msgid"], entry["msgid_plural"], 1) == entry["msgstr"][0]
            assert catalogue.ngettext(entry["msgid"], entry["msgid_plural"], 2) == entry["msgstr"][1]
        else:
            assert catalogue.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]


# --- Mail ------------------------------------------------------------------------------------


def test_password_reset_mail_in_german(make_user):
    user = make_user()
    row = OutboxMail.objects.create(kind=OutboxMail.Kind.PASSWORD_RESET, user=user, to=user.email, language="de")
    message = render_mail(row)

    assert message.subject == f"{settings.SITE_NAME}: Passwort zurücksetzen"
    assert message.to == [user.email]

    text = message.body
    assert text.startswith("Hallo,")
    assert "über diesen Link können Sie ein neues Passwort wählen:" in text
    assert "ist eine Stunde lang gültig" in text
    assert "/accounts/password/reset/" in text
    assert "Hello" not in text and "The link works once" not in text

    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "Über die Schaltfläche unten können Sie ein neues Passwort wählen." in html
    assert "Neues Passwort wählen" in html
    assert "ist eine Stunde lang gültig" in html
    assert "Diese Nachricht wurde von" in html
    assert "Choose a new password" not in html and "This message was sent by" not in html


def test_password_reset_mail_in_english(make_user):
    user = make_user()
    row = OutboxMail.objects.create(kind=OutboxMail.Kind.PASSWORD_RESET, user=user, to=user.email, language="en")
    message = render_mail(row)
    assert message.subject == f"{settings.SITE_NAME}: Reset your password"
    assert message.body.startswith("Hello,")
    assert "Hallo" not in message.body


@pytest.mark.parametrize(
    ("kind", "subject", "phrase"),
    [
        (OutboxMail.Kind.VERIFY_EMAIL, "Bestätigen Sie Ihre E-Mail-Adresse", "dass dies Ihre Adresse ist"),
        (OutboxMail.Kind.ACCOUNT_EXISTS, "Sie haben bereits ein Konto", "wahrscheinlich Sie"),
        (OutboxMail.Kind.PASSWORD_CHANGED, "Ihr Passwort wurde geändert", "soeben geändert"),
    ],
)
def test_every_mail_kind_renders_in_german(make_user, kind, subject, phrase):
    user = make_user()
    row = OutboxMail.objects.create(kind=kind, user=user, to=user.email, language="de")
    message = render_mail(row)
    assert message.subject == f"{settings.SITE_NAME}: {subject}"
    assert message.body.startswith("Hallo,")
    assert phrase in message.body
    [(html, _)] = message.alternatives
    assert phrase in html
